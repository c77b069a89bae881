"""ConnectionOptions (napix/options.py): every option checked once, at
construction, with a TypeError for a wrong type and a ValueError for a wrong
value, each naming the option; where a host's connection goes (Place)."""

import pytest

from napix.authenticators import LoginAuthenticator
from napix.breaker import Breaker
from napix.connection import Connection
from napix.options import ConnectionOptions, Place
from napix.transports.wsgi import WSGITransport

AUTH = LoginAuthenticator('root', 'toor')


@pytest.mark.parametrize('options, error, named', [
    ({'timeout': 'soon'}, TypeError, 'timeout'),
    ({'timeout': -1}, ValueError, 'timeout'),
    ({'simultaneous': 1.5}, TypeError, 'simultaneous'),
    ({'simultaneous': 0}, ValueError, 'simultaneous'),
    ({'simultaneous': True}, TypeError, 'simultaneous'),
    ({'maxsize': 0}, ValueError, 'maxsize'),
    ({'simultaneous': 2, 'maxsize': 3}, ValueError, 'maxsize'),
    ({'idle_timeout': 'x'}, TypeError, 'idle_timeout'),
    ({'idle_timeout': -1}, ValueError, 'idle_timeout'),
    ({'max_response_size': 0}, ValueError, 'max_response_size'),
    ({'max_head_size': '1'}, TypeError, 'max_head_size'),
    ({'resolve': ['a']}, TypeError, 'resolve'),
    ({'transport': object()}, TypeError, 'transport'),
    ({'retry': 3}, TypeError, 'retry'),
    ({'breaker': 5}, TypeError, 'breaker'),
    ({'resend_busy': 'yes'}, TypeError, 'resend_busy'),
    ({'cert': '/nonexistent/client.pem'}, ValueError, 'client.pem'),
    ({'verify': '/nonexistent/ca.pem'}, ValueError, 'ca.pem'),
])
def test_a_bad_option_raises_at_construction_naming_it(options, error, named):
    with pytest.raises(error) as caught:
        ConnectionOptions(AUTH, **options)
    assert named in str(caught.value)


def test_an_authenticator_must_be_callable():
    with pytest.raises(TypeError) as caught:
        ConnectionOptions('root:toor')
    assert 'authenticator' in str(caught.value)


def test_maxsize_is_another_name_of_simultaneous():
    assert ConnectionOptions(AUTH, maxsize=3).simultaneous == 3
    assert ConnectionOptions(AUTH, simultaneous=3, maxsize=3).simultaneous == 3
    assert ConnectionOptions(AUTH).simultaneous == 10
    assert Connection('server.napix.nx', AUTH, maxsize=4).simultaneous == 4


def test_the_place_of_a_host_is_parsed_then_resolved():
    options = ConnectionOptions(AUTH, resolve={'xen1.example.org': '127.0.0.1:8002'})
    place = options.place('https://xen1.example.org')
    assert place == Place('https', 'xen1.example.org', 443, 'xen1.example.org',
                          '127.0.0.1', 8002)
    assert place.authority == 'xen1.example.org' and place.connect_port == 8002
    assert options.place('[::1]:8002').address == '::1'


def test_a_transport_of_ones_own_resolves_names_itself():
    transport = WSGITransport(lambda environ, start_response: [])
    place = ConnectionOptions(AUTH, transport=transport).place('xen1.example.org:8002')
    assert (place.address, place.connect_port) == (None, None)


def test_one_options_object_makes_the_connections_of_many_hosts():
    breaker = Breaker(failures=2, reset=5.0)
    options = ConnectionOptions(AUTH, timeout=(1, 4), simultaneous=3, breaker=breaker)
    first = Connection.with_options('xen1.example.org', options)
    second = Connection.with_options('https://xen2.example.org:8443', options)
    for connection in (first, second):
        assert connection.options is options and connection.authenticator is AUTH
        assert connection.timeout == (1.0, 4.0) and connection.simultaneous == 3
        assert connection.breaker is breaker
    assert (second.scheme, second.name, second.port) == ('https', 'xen2.example.org', 8443)
    assert first.transport is not second.transport
