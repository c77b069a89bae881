"""The retry policy (napix.retry.Retry): off by default, bounded, safe for POSTs.

The tests of a 429 policy turn off the connection's resend of napixd's busy
429 (``resend_busy=False``): the fault server's 429 says what napixd says.
"""

import email.utils
import logging
import random
import time

import gevent
import pytest
from gevent.event import Event

from napix.authenticators import LoginAuthenticator, NonSecureAuthenticator
from napix.connection import Connection, Response
from napix.exceptions import (CircuitOpen, ConnectError, HTTPError, RemoteProtocolError,
                              ResponseTooLarge, Timeout)
from napix.retry import BUDGET_WINDOW, Retry, napixd_busy, retry_after
from napixd.client import Client, ClientPool
from napixd.testing import NapixServer

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
    retry, waits = no_wait(backoff=0.01)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry, resend_busy=False)
    assert client.request('GET', '/').status == 200
    assert waits == [1.0]  # the server's Retry-After, not the shorter backoff
    assert len(server.requests) == 2


def test_a_retry_after_longer_than_max_backoff_fails_at_once(fault_server):
    server = fault_server('ok', script=['503'], retry_after=3600)
    retry, waits = no_wait(max_backoff=5)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry)
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/')
    assert waits == []  # not waited for: raised at once
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


class Clock(object):
    """A clock that moves only when told, or when the policy sleeps on it."""

    def __init__(self):
        self.now = 1000.0
        self.waits = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


# A deadline for all the attempts of a request

def test_a_deadline_bounds_all_the_attempts_together(fault_server):
    server = fault_server('503', retry_after=None)
    clock = Clock()
    retry = Retry(total=100, backoff=1, max_backoff=1, deadline=3.5, clock=clock,
                  sleep=clock.sleep)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry)
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/')
    # Sent at 0, 1, 2 and 3 s: a fifth attempt would start at 4 s, past the deadline.
    assert caught.value.status == 503 and server.served == 4
    assert clock.waits == [1, 1, 1]


def test_each_attempt_gets_what_is_left_of_the_deadline():
    clock = Clock()
    retry = Retry(total=100, backoff=1, max_backoff=1, deadline=3.5, clock=clock,
                  sleep=clock.sleep)
    request = Connection('127.0.0.1:1', AUTH).build_request('GET', '/')
    timeouts = []

    def attempt(sent):
        timeouts.append(sent.timeout)
        raise HTTPError(sent, Response(503, 'Service Unavailable', {}, b''))

    with pytest.raises(HTTPError):
        retry.call(attempt, request, timeout=(2, 30))
    assert timeouts == [(2, 3.5), (2, 2.5), (1.5, 1.5), (0.5, 0.5)]
    assert request.timeout is None  # the caller's request is left as it was


def test_a_deadline_cuts_the_timeout_of_a_server_that_never_answers(fault_server):
    server = fault_server('hang')
    retry = Retry(total=100, errors=(Timeout,), backoff=0, deadline=0.3)
    client = Client(server.host, AUTH, timeout=(1, 30), retry=retry)
    with pytest.raises(Timeout) as caught:
        client.request('GET', '/')
    # Its read timeout was what was left of 0.3 s, not 30 s.
    within = float(str(caught.value).split('within ')[1].split(' s')[0])
    assert 0 < within <= 0.3


def test_no_wait_past_the_deadline_even_when_the_server_asks(fault_server):
    server = fault_server('503', retry_after=5)
    clock = Clock()
    retry = Retry(total=3, deadline=4, clock=clock, sleep=clock.sleep)
    with pytest.raises(HTTPError):
        Client(server.host, AUTH, retry=retry).request('GET', '/')
    assert server.served == 1 and clock.waits == []


# Jitter

def test_jitter_spreads_the_waits_between_zero_and_the_backoff(fault_server):
    server = fault_server('503', retry_after=None)
    retry, waits = no_wait(total=4, backoff=1, max_backoff=100, jitter=random.Random(7))
    with pytest.raises(HTTPError):
        Client(server.host, AUTH, retry=retry).request('GET', '/')
    numbers = random.Random(7)
    assert waits == [numbers.random() * 2 ** n for n in range(4)]
    assert all(0 <= wait < 2 ** n for n, wait in enumerate(waits))
    assert waits != [1, 2, 4, 8]


def test_jitter_true_spreads_the_waits_of_clients_that_failed_together():
    request = Connection('127.0.0.1:1', AUTH).build_request('GET', '/')
    error = ConnectError(request, 'connection refused')
    waits = {Retry(backoff=1, jitter=True).delay(error, 0) for _ in range(20)}
    assert len(waits) > 1 and all(0 <= wait < 1 for wait in waits)
    assert Retry(backoff=1).delay(error, 0) == 1


# A budget per destination

def fan_out_to_a_dead_host(server, retry, count=100):
    with ClientPool(AUTH, timeout=TIMEOUT, retry=retry) as pool:
        for n in range(count):
            pool.request(server.host, 'GET', '/vm/{0}'.format(n))
        return pool.wait()


def test_without_a_budget_a_fan_out_to_a_dead_host_is_sent_total_plus_one_times(fault_server):
    server = fault_server('close')
    results = fan_out_to_a_dead_host(server, Retry(total=3, backoff=0))
    assert len(results) == 100 and server.connections == 400


def test_a_budget_caps_the_retries_of_a_fan_out_to_a_dead_host(fault_server):
    server = fault_server('close')
    retry = Retry(total=3, backoff=0, budget=0.1, min_retry_rate=0.5, clock=Clock())
    results = fan_out_to_a_dead_host(server, retry)
    # A retry refused raises the last error.
    assert len(results) == 100 and all(type(r) is RemoteProtocolError for r in results)
    # 10% of the 100 requests, and 0.5 a second over the 10 s window: 15 retries.
    assert server.connections == 100 + 15


def test_the_budget_is_shared_by_equal_policies_and_forgets_old_windows(fault_server):
    server = fault_server('close')
    clock = Clock()

    def retry():
        return Retry(total=3, backoff=0, budget=0.1, min_retry_rate=0.2, clock=clock)

    fan_out_to_a_dead_host(server, retry(), 20)  # 20 requests, 2 + 2 retries
    assert server.connections == 24
    fan_out_to_a_dead_host(server, retry(), 20)  # another pool, another policy: 2 more
    assert server.connections == 24 + 22
    clock.now += 2 * BUDGET_WINDOW
    fan_out_to_a_dead_host(server, retry(), 20)
    assert server.connections == 46 + 24


# napixd's busy 429, sent again once by default

def busy_server(max_concurrent=1):
    """A NapixServer made busy by a request it holds until it answers a 429;
    the 429 leaves once the held request is done, so that a resend finds room."""
    server = NapixServer(users={'root': 'toor'}, max_concurrent=max_concurrent)
    server.busy = 0
    release = Event()

    @server.route('GET', '/hold')
    def hold(request):
        release.wait()
        return {'held': True}

    @server.route('POST', '/vm')
    def create(request):
        return 201, {'created': request.body}

    @server.route('GET', '/vm/{id}')
    def get_vm(request, id):
        return {'id': id}

    app = server.application

    def busy_then_free(environ, start_response):
        statuses = []

        def start(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = app(environ, start)
        if statuses[0].startswith('429'):
            server.busy += 1
            release.set()
            while server.in_flight:
                gevent.sleep(0.005)
        return body

    server.application = busy_then_free
    return server.start()


def make_busy(server, **options):
    """Send GET /hold through a client of its own; return its greenlet once held."""
    holder = gevent.spawn(Client(server.host, {'login': 'root', 'key': 'toor'},
                                 **options).request, 'GET', '/hold')
    while not server.in_flight:
        gevent.sleep(0.005)
    return holder


@pytest.mark.parametrize('method', ['GET', 'POST'])
def test_napixds_busy_429_is_sent_again_once_whatever_the_method(method):
    server = busy_server()
    try:
        holder = make_busy(server)
        client = Client(server.host, {'login': 'root', 'key': 'toor'}, share_limit=False)
        if method == 'GET':
            assert client.request('GET', '/vm/1').body == {'id': '1'}
        else:
            assert client.request('POST', '/vm', {'a': 1}).body == {'created': {'a': 1}}
        assert server.busy == 1 and holder.get(timeout=10).status == 200
    finally:
        server.stop()


def test_resend_busy_false_raises_the_429():
    server = busy_server()
    try:
        holder = make_busy(server)
        client = Client(server.host, {'login': 'root', 'key': 'toor'}, resend_busy=False)
        with pytest.raises(HTTPError) as caught:
            client.request('POST', '/vm', {'a': 1})
        assert caught.value.status == 429 and server.busy == 1
        holder.get(timeout=10)
        assert [r[1:] for r in server.requests] == [('GET', '/hold')]
    finally:
        server.stop()


def test_a_busy_429_is_sent_again_only_once(fault_server):
    server = fault_server('429', retry_after=None)
    with pytest.raises(HTTPError) as caught:
        Client(server.host, AUTH).request('POST', '/vm', {'a': 1})
    assert caught.value.status == 429 and server.methods('POST') == 2


def test_another_429_is_not_sent_again(make_napix_server):
    server = make_napix_server()
    calls = []

    @server.route('GET', '/quota')
    def quota(request):
        calls.append(1)
        return 429, 'You exceeded your quota'

    with pytest.raises(HTTPError) as caught:
        Client(server.host, {'login': 'root', 'key': 'toor'}).request('GET', '/quota')
    assert caught.value.status == 429 and len(calls) == 1


@pytest.mark.parametrize('authenticator', [
    LoginAuthenticator('root', 'toor'), NonSecureAuthenticator('root', 'toor')])
def test_the_busy_resend_is_signed_anew(make_napix_server, authenticator):
    # Answered busy after the authentication (its nonce recorded: a replay gets 403).
    server = make_napix_server()
    seen = []

    @server.route('GET', '/once')
    def once(request):
        seen.append(request.query)
        if len(seen) == 1:
            return 429, 'Too many concurrent connections'
        return {'query': request.query}

    response = Client(server.host, authenticator).request('GET', '/once?x=1')
    assert response.status == 200 and len(seen) == 2
    assert seen[0] == seen[1]  # the same query: no secret parameter added twice


def test_napixd_busy_reads_the_status_and_the_text():
    request = Connection('127.0.0.1:1', AUTH).build_request('GET', '/')

    def answer(status, body, ctype='text/plain'):
        response = Response(status, 'X', {'Content-Type': ctype}, body)
        response.request = request
        return response

    assert napixd_busy(answer(429, b'Too many concurrent connections'))
    assert napixd_busy(answer(429, b'too many concurrent connections\n'))
    assert not napixd_busy(answer(429, b'You exceeded your quota'))
    assert not napixd_busy(answer(503, b'Too many concurrent connections'))


@pytest.mark.parametrize('options, error', [
    ({'deadline': 0}, ValueError),
    ({'deadline': -2}, ValueError),
    ({'deadline': '5'}, TypeError),
    ({'jitter': 1}, TypeError),
    ({'jitter': 'full'}, TypeError),
    ({'budget': 1.5}, ValueError),
    ({'budget': -0.1}, ValueError),
    ({'budget': '10%'}, TypeError),
    ({'min_retry_rate': -1}, ValueError),
    ({'clock': 'now'}, TypeError),
    ({'errors': (CircuitOpen,)}, ValueError),
])
def test_bad_bounds_are_refused_at_construction(options, error):
    with pytest.raises(error, match=next(iter(options))):
        Retry(**options)
