"""The retry policy (napix.retry.Retry): off by default, bounded, safe for POSTs.

The tests of a 429 policy turn off the connection's resend of napixd's busy
429 (``resend_busy=False``): the fault server's 429 says what napixd says.
"""

import email.utils
import logging
import time

import pytest

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection, Response
from napix.exceptions import (ConnectError, HTTPError, RemoteProtocolError, ResponseTooLarge,
                              Timeout)
from napix.retry import Retry, retry_after
from napixd.client import Client, ClientPool

AUTH = LoginAuthenticator('root', 'toor')
TIMEOUT = (1, 1.5)


def no_wait(**options):
    """A policy that records its waits instead of sleeping."""
    waits = []
    options.setdefault('backoff', 0.1)
    return Retry(sleep=waits.append, **options), waits


def test_retrying_is_off_by_default(fault_server):
    server = fault_server('503', retry_after=0)
    with pytest.raises(HTTPError) as caught:
        Client(server.host, AUTH, timeout=TIMEOUT).request('GET', '/')
    assert caught.value.status == 503
    assert len(server.requests) == 1


def test_429_and_503_are_retried_until_an_answer(fault_server):
    server = fault_server('ok', script=['503', '429', '503'], retry_after=None)
    retry, waits = no_wait(total=3)
    response = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry,
                      resend_busy=False).request('GET', '/vm')
    assert response.status == 200
    assert len(server.requests) == 4
    assert waits == [0.1, 0.2, 0.4]


def test_retries_stop_after_total(fault_server):
    server = fault_server('503', retry_after=None)
    retry, waits = no_wait(total=2)
    with pytest.raises(HTTPError) as caught:
        Client(server.host, AUTH, timeout=TIMEOUT, retry=retry).request('GET', '/')
    assert caught.value.status == 503
    assert len(server.requests) == 3 and len(waits) == 2


def test_backoff_is_bounded_by_max_backoff(fault_server):
    server = fault_server('refuse')
    retry, waits = no_wait(total=5, backoff=0.1, max_backoff=0.3)
    with pytest.raises(ConnectError):
        Client(server.host, AUTH, timeout=TIMEOUT, retry=retry).request('GET', '/')
    assert waits == [0.1, 0.2, 0.3, 0.3, 0.3]


def test_retry_after_is_waited_for(fault_server):
    server = fault_server('ok', script=['429'], retry_after=1)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=Retry(backoff=0.01),
                    resend_busy=False)
    started = time.monotonic()
    assert client.request('GET', '/').status == 200
    # Waited for (not before 1 s), and not for much longer (room for a loaded machine).
    assert 0.9 < time.monotonic() - started < 1 + 4
    assert len(server.requests) == 2


def test_a_retry_after_longer_than_max_backoff_fails_at_once(fault_server):
    server = fault_server('ok', script=['503'], retry_after=3600)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=Retry(max_backoff=5))
    started = time.monotonic()
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/')
    assert time.monotonic() - started < 1
    assert caught.value.status == 503 and len(server.requests) == 1


def test_retry_after_can_be_ignored(fault_server):
    server = fault_server('ok', script=['429'], retry_after=3600)
    retry, waits = no_wait(respect_retry_after=False)
    client = Client(server.host, AUTH, retry=retry, resend_busy=False)
    assert client.request('GET', '/').status == 200
    assert waits == [0.1]


def test_retry_after_as_seconds_and_as_a_date():
    assert retry_after('3') == 3.0
    assert retry_after(None) is None and retry_after('soon') is None
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 < retry_after(in_ten) <= 10
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert retry_after(past) == 0.0


def test_a_refused_status_is_retried_even_for_a_post(fault_server):
    server = fault_server('ok', script=['429'], retry_after=0)
    retry, _ = no_wait()
    client = Client(server.host, AUTH, retry=retry, resend_busy=False)
    response = client.request('POST', '/vm', {'a': 1})
    assert response.status == 200 and server.methods('POST') == 2


def test_other_statuses_are_not_retried(fault_server, napix_server):
    retry, waits = no_wait()
    client = Client(napix_server.host, {'login': 'root', 'key': 'toor'}, retry=retry)
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/missing')
    assert caught.value.status == 404 and waits == []


def test_a_transport_failure_is_retried_for_a_get(fault_server):
    server = fault_server('ok', script=['garbage', 'reset'])
    retry, waits = no_wait()
    response = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry).request('GET', '/vm')
    assert response.status == 200
    assert server.methods('GET') == 3 and len(waits) == 2


@pytest.mark.parametrize('method', ['POST', 'PATCH'])
def test_a_transport_failure_is_never_retried_for_a_post(fault_server, method):
    server = fault_server('ok', script=['garbage'])
    retry, waits = no_wait()
    with pytest.raises(RemoteProtocolError):
        Client(server.host, AUTH, timeout=TIMEOUT, retry=retry).request(method, '/vm', {'a': 1})
    assert server.methods(method) == 1 and waits == []


def test_a_refused_connection_is_not_retried_for_a_post(fault_server):
    server = fault_server('refuse')
    retry, waits = no_wait()
    with pytest.raises(ConnectError):
        Client(server.host, AUTH, retry=retry).request('POST', '/vm', {'a': 1})
    assert waits == []


def test_timeouts_are_not_retried_unless_asked(fault_server):
    server = fault_server('ok', script=['hang'])
    retry, waits = no_wait()
    with pytest.raises(Timeout):
        Client(server.host, AUTH, timeout=(1, 0.3), retry=retry).request('GET', '/')
    assert waits == [] and len(server.requests) == 1

    server = fault_server('ok', script=['hang'])
    retry, waits = no_wait(errors=(Timeout,))
    assert Client(server.host, AUTH, timeout=(1, 0.3), retry=retry).request('GET', '/').status \
        == 200
    assert len(waits) == 1 and len(server.requests) == 2


def test_too_large_is_never_retried(fault_server):
    server = fault_server('huge', huge_size=20000)
    retry, waits = no_wait(errors=(ConnectError, RemoteProtocolError, Timeout))
    with pytest.raises(ResponseTooLarge):
        Client(server.host, AUTH, max_response_size=10000, retry=retry).request('GET', '/')
    assert waits == [] and len(server.requests) == 1


def test_each_attempt_is_signed_anew(make_napix_server):
    # The NapixServer refuses a replayed nonce with 403: a resent signature would fail.
    server = make_napix_server()
    calls = []

    @server.route('GET', '/busy')
    def busy(request):
        calls.append(request.headers['authorization'])
        if len(calls) < 3:
            return 503, {'Retry-After': '0'}, 'busy'
        return {'calls': len(calls)}

    client = Client(server.host, {'login': 'root', 'key': 'toor'},
                    retry=Retry(backoff=0.01))
    request = client.connection.build_request('GET', '/busy')
    assert client.send(request).body == {'calls': 3}
    assert len(set(calls)) == 3
    assert 'Authorization' not in request.headers  # the caller's request stays unsigned


def test_a_pool_takes_the_policy_as_an_option(fault_server):
    servers = [fault_server('ok', script=['503', '429'], retry_after=0) for _ in range(5)]
    retry, waits = no_wait(backoff=0)
    with ClientPool(AUTH, retry=retry, timeout=TIMEOUT, resend_busy=False) as pool:
        for server in servers:
            for n in range(4):
                pool.request(server.host, 'GET', '/vm/{0}'.format(n))
        results = pool.wait()
    assert len(results) == 20 and all(isinstance(r, Response) for r in results)
    assert [r.body['path'] for r in results] == ['/vm/{0}'.format(n % 4) for n in range(20)]
    assert len(waits) == 10


def test_retries_are_logged_at_debug_without_credentials(fault_server, caplog):
    server = fault_server('ok', script=['503'], retry_after=0)
    retry, _ = no_wait()
    with caplog.at_level(logging.DEBUG, logger='Napix'):
        Client(server.host, AUTH, retry=retry).request('GET', '/vm?x=1')
    messages = [r.getMessage() for r in caplog.records if r.name == 'Napix.Retry']
    assert messages == ['retry 1 of 3 of GET {0}/vm?x=1 in 0.1 s after: GET {0}/vm?x=1 failed: '
                        '"503 SERVICE UNAVAILABLE" Service unavailable'.format(server.host)]


@pytest.mark.parametrize('options, error', [
    ({'total': -1}, ValueError),
    ({'total': '3'}, TypeError),
    ({'backoff': -1}, ValueError),
    ({'max_backoff': 'long'}, TypeError),
    ({'max_backoff': float('nan')}, ValueError),
    ({'statuses': 'abc'}, TypeError),
    ({'methods': 'GET'}, TypeError),
    ({'errors': (ValueError,)}, TypeError),
    ({'errors': (ResponseTooLarge,)}, ValueError),
])
def test_bad_policies_are_refused(options, error):
    with pytest.raises(error, match=next(iter(options))):
        Retry(**options)


def test_a_connection_refuses_what_is_not_a_policy():
    with pytest.raises(TypeError, match='retry must be a napix.retry.Retry'):
        Connection('127.0.0.1:1', AUTH, retry=3)
