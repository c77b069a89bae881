"""napixd.client.client.Client and the gevent napixd.client.Client, against real
NapixServers on 127.0.0.1."""

import logging

import gevent
import pytest
from rawserver import free_port

import napixd.client
from napix.authenticators import LoginAuthenticator, TokenIdentifier
from napix.connection import Response
from napix.exceptions import ConnectError, HTTPError
from napixd.client import Client as GeventClient
from napixd.client.client import Client as PlainClient
from napixd.testing import NapixServer, Reply

SECRET_KEY = 'k3y-0f-r00t-5ecret'




class Conf(object):
    """A configuration object like napixd's: ``get`` and ``[]``, not a dict."""

    def __init__(self, values):
        self._values = dict(values)

    def get(self, key, default=None):
        return self._values.get(key, default)

    def __getitem__(self, key):
        return self._values[key]


@pytest.fixture
def secret_server():
    """A server whose only user has a recognisable key; it keeps the
    Authorization headers it received, to look for signatures later."""
    server = NapixServer(users={'root': SECRET_KEY})
    server.seen_authorizations = []

    @server.route('GET', '/vm/{id}')
    def get_vm(request, id):
        server.seen_authorizations.append(request.headers.get('authorization'))
        if id == 'missing':
            raise Reply(404, '`{0}` not found'.format(id))
        return {'id': id, 'by': request.login}

    with server:
        yield server


def test_package_exposes_gevent_client_pool_and_httperror():
    from napixd.client.gevent import Client as G
    from napixd.client.pool import ClientPool as P
    assert napixd.client.Client is G
    assert napixd.client.ClientPool is P
    assert napixd.client.HTTPError is HTTPError


# The authenticator argument

@pytest.mark.parametrize('client_class', [PlainClient, GeventClient])
@pytest.mark.parametrize('credentials', [
    LoginAuthenticator('root', 'toor'),
    {'login': 'root', 'key': 'toor'},
    Conf({'login': 'root', 'key': 'toor'}),
], ids=['callable', 'dict', 'config-object'])
def test_accepted_authenticators_sign_as_root(napix_server, client_class, credentials):
    client = client_class(napix_server.host, credentials)
    response = client.request('GET', '/vm/7')
    assert response.status == 200
    assert response.body == {'id': '7', 'by': 'root'}
    assert napix_server.requests == [('root', 'GET', '/vm/7')]


def test_a_user_function_is_an_authenticator(napix_server):
    calls = []

    def my_auth(request):
        calls.append(str(request))
        request.headers['Authorization'] = 'Token s3cr3t-token'
        return request

    client = PlainClient(napix_server.host, my_auth)
    assert client.request('GET', '/vm/1').body == {'id': '1', 'by': 'root'}
    assert calls == ['GET {0}/vm/1'.format(napix_server.host)]


def test_seed_token_identifier_example(napix_server):
    client = GeventClient(napix_server.host, authenticator=TokenIdentifier('s3cr3t-token'))
    assert client.request('GET', '/').body == ['/vm']


def test_dict_with_a_wrong_key_is_refused_by_the_server(napix_server):
    client = PlainClient(napix_server.host, {'login': 'root', 'key': 'wrong'})
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/1')
    assert caught.value.status == 403


@pytest.mark.parametrize('client_class', [PlainClient, GeventClient])
@pytest.mark.parametrize('credentials, missing', [
    ('login:key', 'of type str'),
    (b'login:key', 'of type bytes'),
    ({}, "no 'login' or 'key'"),
    ({'login': 'x'}, "no 'key'"),
    ({'key': 'x'}, "no 'login'"),
    (Conf({'login': 'x'}), "no 'key'"),
    (None, 'of type NoneType'),
    (42, 'of type int'),
    (('root', 'toor'), 'of type tuple'),
], ids=['str', 'bytes', 'empty-dict', 'no-key', 'no-login', 'conf-no-key', 'None', 'int',
        'tuple'])
def test_invalid_authenticators_say_what_is_accepted(client_class, credentials, missing):
    with pytest.raises(ValueError) as caught:
        client_class('127.0.0.1:{0}'.format(free_port()), credentials)
    message = str(caught.value)
    assert missing in message
    assert 'callable' in message
    assert "mapping with 'login' and 'key'" in message


def test_invalid_authenticator_message_does_not_echo_the_value():
    with pytest.raises(ValueError) as caught:
        PlainClient('server.napix.nx', 'root:' + SECRET_KEY)
    assert SECRET_KEY not in str(caught.value)


# request()

def test_request_returns_a_response_with_the_host_given(napix_server):
    client = PlainClient(napix_server.host, {'login': 'root', 'key': 'toor'})
    response = client.request('POST', '/echo', {'a': [1, 2]}, headers={'X-Trace': '1'})
    assert isinstance(response, Response)
    assert response.body['method'] == 'POST'
    assert response.body['body'] == {'a': [1, 2]}
    assert response.body['content_type'] == 'application/json'
    assert response.request.host == napix_server.host


def test_request_raises_httperror_with_the_text_remote_error(napix_server):
    client = PlainClient(napix_server.host, {'login': 'root', 'key': 'toor'})
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/missing')
    error = caught.value
    assert error.status == 404
    assert error.remote_error == '"404 NOT FOUND" `missing` not found'
    assert error.remote_call == 'GET {0}/vm/missing'.format(napix_server.host)


def test_request_to_a_closed_port_raises_connecterror():
    host = '127.0.0.1:{0}'.format(free_port())
    client = PlainClient(host, {'login': 'root', 'key': 'toor'})
    with pytest.raises(ConnectError) as caught:
        client.request('GET', '/')
    assert caught.value.status is None
    assert host in str(caught.value)


def test_bad_arguments_raise_before_sending(napix_server):
    client = PlainClient(napix_server.host, {'login': 'root', 'key': 'toor'})
    with pytest.raises(ValueError, match='starting with /'):
        client.request('GET', 'vm/1')
    with pytest.raises(ValueError, match='CR or LF'):
        client.request('GET', '/vm/1\r\nX: y')
    with pytest.raises(TypeError, match='JSON'):
        client.request('POST', '/echo', {'a': object()})
    assert napix_server.requests == []


# Logging

@pytest.mark.parametrize('client_class', [PlainClient, GeventClient])
def test_failures_are_logged_without_secrets(secret_server, caplog, client_class):
    caplog.set_level(logging.DEBUG, logger='Napix.Client')
    client = client_class(secret_server.host, {'login': 'root', 'key': SECRET_KEY})
    with pytest.raises(HTTPError):
        client.request('GET', '/vm/missing')
    records = [r for r in caplog.records if r.name == 'Napix.Client']
    assert len(records) == 1
    text = records[0].getMessage()
    assert 'GET {0}/vm/missing'.format(secret_server.host) in text
    assert '`missing` not found' in text
    [authorization] = secret_server.seen_authorizations
    signature = authorization.rpartition(':')[2]
    assert len(signature) == 64
    for secret in (SECRET_KEY, signature, authorization, 'Authorization'):
        assert secret not in caplog.text


def test_wrong_key_failure_is_logged_without_the_key(secret_server, caplog):
    caplog.set_level(logging.DEBUG, logger='Napix.Client')
    client = PlainClient(secret_server.host, {'login': 'root', 'key': 'not-' + SECRET_KEY})
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/1')
    assert caught.value.status == 403
    assert '403' in caplog.text
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in str(caught.value) and SECRET_KEY not in repr(caught.value)


def test_successes_are_not_logged_as_failures(napix_server, caplog):
    caplog.set_level(logging.DEBUG, logger='Napix.Client')
    PlainClient(napix_server.host, {'login': 'root', 'key': 'toor'}).request('GET', '/vm/1')
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# The gevent client: a bounded number in flight

@pytest.mark.parametrize('simultaneous', [1, 2, 3, 5])
def test_gevent_client_never_exceeds_simultaneous_and_reaches_it(make_napix_server,
                                                                 simultaneous):
    server = make_napix_server(max_concurrent=None, delay=0.05)
    client = GeventClient(server.host, {'login': 'root', 'key': 'toor'},
                          simultaneous=simultaneous)
    greenlets = [gevent.spawn(client.request, 'GET', '/vm/{0}'.format(i)) for i in range(12)]
    gevent.joinall(greenlets, raise_error=True, timeout=30)
    assert [g.value.body['id'] for g in greenlets] == [str(i) for i in range(12)]
    assert server.max_in_flight == simultaneous
    # It shares its keep-alive sockets: no more than simultaneous were opened.
    assert server.connections_opened <= simultaneous


def test_gevent_client_default_two_is_what_a_napix_server_allows(make_napix_server):
    server = make_napix_server(delay=0.02)  # napixd's default: 2 per client, then 429
    assert server.max_concurrent == 2
    client = GeventClient(server.host, {'login': 'root', 'key': 'toor'})
    assert client.simultaneous == 2
    greenlets = [gevent.spawn(client.request, 'GET', '/vm/{0}'.format(i)) for i in range(10)]
    gevent.joinall(greenlets, timeout=30)
    assert all(g.successful() for g in greenlets), [g.exception for g in greenlets]
    assert [g.value.status for g in greenlets] == [200] * 10
    assert server.max_in_flight == 2


def test_without_the_bound_the_server_does_answer_429(make_napix_server):
    # The counterpart of the test above: the server really limits to 2.
    server = make_napix_server(delay=0.3)
    client = GeventClient(server.host, {'login': 'root', 'key': 'toor'}, simultaneous=4,
                          resend_busy=False)  # its 429s as they come
    greenlets = [gevent.spawn(client.request, 'GET', '/vm/{0}'.format(i)) for i in range(4)]
    gevent.joinall(greenlets, timeout=30)
    statuses = sorted(g.exception.status if g.exception else g.value.status for g in greenlets)
    assert statuses == [200, 200, 429, 429]


@pytest.mark.parametrize('value, error, text', [
    (0, ValueError, 'not 0'),
    (-1, ValueError, 'not -1'),
    ('2', TypeError, 'not str'),
    (True, TypeError, 'not bool'),
    (2.0, TypeError, 'not float'),
])
def test_gevent_client_bad_simultaneous(value, error, text):
    with pytest.raises(error) as caught:
        GeventClient('server.napix.nx', {'login': 'root', 'key': 'toor'}, simultaneous=value)
    assert 'simultaneous must be an int >= 1' in str(caught.value)
    assert text in str(caught.value)


def test_gevent_client_simultaneous_default_and_its_other_name_maxsize():
    auth = {'login': 'root', 'key': 'toor'}
    assert GeventClient('server.napix.nx', auth).simultaneous == 2
    assert GeventClient('server.napix.nx', auth, None).simultaneous == 2
    for options in ({'maxsize': 3}, {'simultaneous': 3}, {'simultaneous': 3, 'maxsize': 3}):
        client = GeventClient('server.napix.nx', auth, **options)
        assert client.simultaneous == client.connection.simultaneous == 3
    with pytest.raises(ValueError, match='maxsize is another name of simultaneous'):
        GeventClient('server.napix.nx', auth, simultaneous=2, maxsize=3)


def test_the_plain_client_has_a_name_of_its_own_and_its_old_one():
    from napixd.client import client
    assert client.Client is client.PlainClient is PlainClient
    assert PlainClient.__name__ == 'PlainClient'


def test_repr_names_the_host_only():
    client = GeventClient('server.napix.nx', {'login': 'root', 'key': SECRET_KEY})
    assert repr(client) == '<Client server.napix.nx>'
    assert SECRET_KEY not in repr(client.authenticator)
