"""The circuit breaker (napix.breaker.Breaker): a dead host costs its timeout once.

Against real servers on 127.0.0.1: a port that refuses, a fault server that
closes every connection it accepts (its ``connections`` count the connects
attempted), one that never answers, one that answers 503 and one that
recovers. The breakers' clocks are injected: time passes when a test says so.
"""

import logging
import pickle
import threading
from collections import OrderedDict

import gevent
import pytest
from gevent.event import Event

from handmade import Clock

from napix.authenticators import LoginAuthenticator
from napix.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, Outage, remember
from napix.connection import Connection
from napix.exceptions import (CircuitOpen, ConnectError, HTTPError, RemoteProtocolError,
                              ResponseTooLarge, Timeout)
from napix.retry import Retry
from napixd.client import Client, ClientPool
from napixd.client.gevent import Client as GeventClient

AUTH = LoginAuthenticator('root', 'toor')
TIMEOUT = (1, 1.5)


def failing(client, count, error=HTTPError):
    """Send *count* requests that fail with *error*; return the errors."""
    errors = []
    for _ in range(count):
        with pytest.raises(error) as caught:
            client.request('GET', '/vm/1')
        errors.append(caught.value)
    return errors


# Closed, then open

def test_a_breaker_opens_after_its_failures_and_then_fails_fast_without_a_connect(
        fault_server):
    server = fault_server('close')
    breaker = Breaker(failures=3, reset=30, clock=Clock())
    client = Client(server.host, AUTH, timeout=TIMEOUT, breaker=breaker)
    errors = failing(client, 3, RemoteProtocolError)
    assert not any(isinstance(error, CircuitOpen) for error in errors)
    assert server.connections == 3 and breaker.state(server.host) == OPEN
    refused = failing(client, 20, CircuitOpen)
    assert server.connections == 3  # not one connect more
    assert all(isinstance(error, ConnectError) for error in refused)
    assert breaker.state(server.host) == OPEN


def test_without_a_breaker_every_request_connects(fault_server):
    server = fault_server('close')
    failing(Client(server.host, AUTH, timeout=TIMEOUT), 23, RemoteProtocolError)
    assert server.connections == 23


def test_circuit_open_says_the_host_since_when_and_when_it_is_tried_again(refused_host):
    clock = Clock()
    client = Client(refused_host, AUTH, breaker=Breaker(failures=2, reset=30, clock=clock))
    failing(client, 2, ConnectError)
    clock.advance(10)
    [error] = failing(client, 1, CircuitOpen)
    message = str(error)
    assert message.startswith('GET {0}/vm/1 failed: circuit open: {0} failed 2 times in a '
                              'row (the last: '.format(refused_host)), message
    assert 'connection refused' in message and 'open since ' in message
    assert 'tried again at ' in message and '(in 20 s)' in message
    outage = error.cause
    assert isinstance(outage, Outage) and outage.host == refused_host
    assert outage.state == OPEN and outage.failures == 2
    assert outage.retry_at - outage.since == 30
    assert error.status is None and error.remote_call == 'GET {0}/vm/1'.format(refused_host)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CircuitOpen and str(copy) == message


def test_a_server_that_never_answers_costs_its_timeout_failures_times(fault_server):
    server = fault_server('hang')
    client = Client(server.host, AUTH, timeout=(1, 0.2),
                    breaker=Breaker(failures=2, clock=Clock()))
    failing(client, 2, Timeout)
    failing(client, 5, CircuitOpen)
    assert server.connections == 2 and server.served == 2


def test_503s_open_it_and_4xx_never_do(fault_server, napix_server):
    server = fault_server('503', retry_after=None)
    breaker = Breaker(clock=Clock())  # 5 failures, 502, 503 and 504
    client = Client(server.host, AUTH, timeout=TIMEOUT, breaker=breaker, resend_busy=False)
    failing(client, 5)
    failing(client, 3, CircuitOpen)
    assert server.served == 5

    napix = Client(napix_server.host, {'login': 'root', 'key': 'toor'}, breaker=breaker)
    for _ in range(12):
        with pytest.raises(HTTPError) as caught:
            napix.request('GET', '/vm/missing')
        assert caught.value.status == 404
    with pytest.raises(HTTPError) as caught:
        napix.request('GET', '/boom')  # a 500: the host answered, its service failed
    assert caught.value.status == 500
    assert breaker.state(napix_server.host) == CLOSED
    assert len(napix_server.requests) == 13


def test_a_success_starts_the_count_again(fault_server):
    server = fault_server('ok', script=['503', '503', 'ok', '503', '503', 'ok'], retry_after=None)
    breaker = Breaker(failures=3, clock=Clock())
    client = Client(server.host, AUTH, timeout=TIMEOUT, breaker=breaker)
    for _ in range(2):
        failing(client, 2)
        assert client.request('GET', '/').status == 200
    assert breaker.state(server.host) == CLOSED and server.served == 6


# Half-open

def test_half_open_lets_one_probe_through_and_its_success_closes_it(fault_server):
    server = fault_server('503', retry_after=None)
    clock = Clock()
    breaker = Breaker(failures=2, reset=30, clock=clock)
    client = Client(server.host, AUTH, timeout=TIMEOUT, breaker=breaker)
    failing(client, 2)
    clock.advance(29.9)
    failing(client, 1, CircuitOpen)
    clock.advance(0.1)
    assert breaker.state(server.host) == HALF_OPEN
    server.mode = 'ok'  # it recovered
    assert client.request('GET', '/').status == 200
    assert breaker.state(server.host) == CLOSED
    assert [client.request('GET', '/').status for _ in range(3)] == [200] * 3
    assert server.served == 6


def test_a_failed_probe_opens_it_for_another_reset(fault_server):
    server = fault_server('503', retry_after=None)
    clock = Clock()
    breaker = Breaker(failures=2, reset=30, clock=clock)
    client = Client(server.host, AUTH, timeout=TIMEOUT, breaker=breaker)
    failing(client, 2)
    clock.advance(30)
    [probe] = failing(client, 1)
    assert probe.status == 503 and not isinstance(probe, CircuitOpen)
    assert breaker.state(server.host) == OPEN
    clock.advance(29)
    [error] = failing(client, 1, CircuitOpen)
    assert '(in 1 s)' in str(error) and 'failed 3 times in a row' in str(error)
    assert server.served == 3


def test_fifty_greenlets_at_once_when_half_open_send_exactly_one_probe(make_napix_server):
    server = make_napix_server(max_concurrent=None)
    hits = []
    down = [True]
    answer = Event()

    @server.route('GET', '/flaky')
    def flaky(request):
        hits.append(1)
        if down[0]:
            return 503, 'down'
        answer.wait()  # the probe waits until every other greenlet has its answer
        return {'up': True}

    clock = Clock()
    breaker = Breaker(failures=2, reset=30, clock=clock)
    client = GeventClient(server.host, {'login': 'root', 'key': 'toor'}, simultaneous=50,
                          breaker=breaker)
    for _ in range(2):
        with pytest.raises(HTTPError):
            client.request('GET', '/flaky')
    clock.advance(30)
    down[0] = False
    greenlets = [gevent.spawn(client.request, 'GET', '/flaky') for _ in range(50)]
    done = gevent.wait(greenlets, count=49, timeout=30)
    assert len(done) == 49
    assert all(isinstance(g.exception, CircuitOpen) for g in done)
    assert 'a probe is in flight' in str(done[0].exception)
    answer.set()
    gevent.joinall(greenlets, timeout=30)
    [probe] = [g for g in greenlets if g.successful()]
    assert probe.value.body == {'up': True}
    assert len(hits) == 3  # two failures, one probe
    assert breaker.state(server.host) == CLOSED


def test_a_probe_cancelled_lets_the_next_request_probe(fault_server):
    server = fault_server('503', retry_after=None)
    clock = Clock()
    breaker = Breaker(failures=1, reset=30, clock=clock)
    with ClientPool(AUTH, timeout=TIMEOUT, breaker=breaker) as pool:
        pool.request(server.host, 'GET', '/')
        [error] = pool.wait()
        assert error.status == 503
        clock.advance(30)
        server.mode = 'hang'
        probe = pool.request(server.host, 'GET', '/')
        gevent.wait([probe], timeout=0.2)  # sent, never answered
        assert server.served == 2
        probe.cancel()
        assert breaker.state(server.host) == HALF_OPEN
        server.mode = 'ok'
        pool.request(server.host, 'GET', '/')
        [cancelled, response] = pool.wait()
    assert cancelled.status is None and response.status == 200
    assert breaker.state(server.host) == CLOSED


# Shared like the budget

def test_two_pools_of_a_thread_share_the_circuit_the_first_opened(fault_server):
    server = fault_server('close')
    clock = Clock()
    pool = ClientPool(AUTH, timeout=TIMEOUT, breaker=Breaker(failures=3, clock=clock))
    for _ in range(3):
        pool.request(server.host, 'GET', '/')
    assert all(isinstance(r, RemoteProtocolError) for r in pool.wait())
    del pool  # a pool per call: the dead host left no socket behind
    # The next call's pool, with an equal breaker of its own.
    pool = ClientPool(AUTH, timeout=TIMEOUT, breaker=Breaker(failures=3, clock=clock))
    for _ in range(20):
        pool.request(server.host, 'GET', '/')
    results = pool.wait()
    assert len(results) == 20 and all(isinstance(r, CircuitOpen) for r in results)
    assert server.connections == 3
    # A breaker of other settings has a circuit of its own.
    other = Client(server.host, AUTH, timeout=TIMEOUT,
                   breaker=Breaker(failures=4, clock=clock))
    failing(other, 1, RemoteProtocolError)
    assert server.connections == 4


def test_another_thread_has_circuits_of_its_own(refused_host):
    clock = Clock()
    failing(Client(refused_host, AUTH, breaker=Breaker(failures=1, clock=clock)), 1,
            ConnectError)
    failing(Client(refused_host, AUTH, breaker=Breaker(failures=1, clock=clock)), 1,
            CircuitOpen)
    seen = []

    def other_thread():
        client = Client(refused_host, AUTH, breaker=Breaker(failures=1, clock=clock))
        for _ in range(2):
            try:
                client.request('GET', '/')
            except HTTPError as error:
                seen.append(type(error))
            seen.append(Breaker(failures=1, clock=clock).state(refused_host))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert seen == [ConnectError, OPEN, CircuitOpen, OPEN]


def test_equal_breakers_are_those_of_equal_settings():
    clock = Clock()
    assert Breaker(clock=clock) == Breaker(failures=5, reset=30.0, clock=clock)
    assert hash(Breaker(clock=clock)) == hash(Breaker(clock=clock))
    assert Breaker(clock=clock) != Breaker(failures=4, clock=clock)
    assert Breaker(clock=clock) != Breaker(reset=10, clock=clock)
    assert Breaker(clock=clock) != Breaker(statuses=(503,), clock=clock)
    assert Breaker() != Breaker(clock=clock)
    assert repr(Breaker()) == '<Breaker failures=5 reset=30 statuses=[502, 503, 504]>'


def test_state_names_the_host_in_any_of_its_forms(refused_host):
    breaker = Breaker(failures=1, clock=Clock())
    assert breaker.state(refused_host) == CLOSED
    failing(Client(refused_host, AUTH, breaker=breaker), 1, ConnectError)
    assert breaker.state(refused_host) == OPEN
    assert breaker.state('http://' + refused_host) == OPEN
    assert breaker.state('https://' + refused_host) == CLOSED


# With a retry policy

def test_a_retry_never_goes_into_an_open_circuit(fault_server):
    server = fault_server('close')
    waits = []
    retry = Retry(total=5, backoff=0.01, sleep=waits.append)
    client = Client(server.host, AUTH, timeout=TIMEOUT, retry=retry,
                    breaker=Breaker(failures=2, clock=Clock()))
    with pytest.raises(CircuitOpen) as caught:
        client.request('GET', '/')
    # The second attempt opened it: no wait for a third.
    assert server.connections == 2 and waits == [0.01]
    assert isinstance(caught.value.__context__, RemoteProtocolError)
    failing(client, 3, CircuitOpen)
    assert server.connections == 2 and waits == [0.01]


# Every request comes back once

def test_a_fan_out_to_a_dead_host_comes_back_whole(refused_host, napix_server):
    breaker = Breaker(failures=2, clock=Clock())
    with ClientPool({'login': 'root', 'key': 'toor'}, breaker=breaker) as pool:
        # A client asked for sends through the same circuit as the pool's own connection.
        assert pool.get_client(refused_host).connection.breaker is breaker
        for n in range(30):
            pool.request(refused_host if n % 2 else napix_server.host, 'GET', '/vm/1')
        results = pool.wait()
    assert len(results) == 30
    assert all(r.status == 200 for r in results[0::2])
    dead = results[1::2]
    assert [type(r) for r in dead[:2]] == [ConnectError] * 2
    assert all(type(r) is CircuitOpen for r in dead[2:])


# Logged, without credentials

def test_changes_of_state_are_logged_without_credentials(fault_server, caplog):
    server = fault_server('503', retry_after=None)
    clock = Clock()
    auth = LoginAuthenticator('root', 'sup3r-s3cret-key')
    client = Client(server.host, auth, timeout=TIMEOUT,
                    breaker=Breaker(failures=2, reset=30, clock=clock))
    with caplog.at_level(logging.INFO, logger='Napix.Breaker'):
        failing(client, 3)
        clock.advance(30)
        server.mode = 'ok'
        client.request('GET', '/vm')
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == 'Napix.Breaker']
    assert records == [
        ('WARNING', 'circuit of {0} open after 2 failures in a row (the last: GET {0}/vm/1 '
                    'failed: "503 SERVICE UNAVAILABLE" Service unavailable): its requests fail '
                    'at once for 30 s'.format(server.host)),
        ('INFO', 'circuit of {0} half-open: GET {0}/vm goes as a probe'.format(server.host)),
        ('INFO', 'circuit of {0} closed: the probe succeeded'.format(server.host)),
    ]
    assert 'sup3r' not in caplog.text and 'Authorization' not in caplog.text


def test_the_table_of_circuits_is_bounded_least_recent_first():
    table = OrderedDict()
    for key in 'abcd':
        remember(table, key, key.upper(), 3)
    assert list(table.items()) == [('b', 'B'), ('c', 'C'), ('d', 'D')]
    remember(table, 'b', 'B2', 3)
    remember(table, 'e', 'E', 3)
    assert list(table) == ['d', 'b', 'e']


# Bad settings, at construction

@pytest.mark.parametrize('options, error', [
    ({'failures': 0}, ValueError),
    ({'failures': 2.5}, TypeError),
    ({'failures': True}, TypeError),
    ({'reset': 0}, ValueError),
    ({'reset': -1}, ValueError),
    ({'reset': float('inf')}, ValueError),
    ({'reset': '30'}, TypeError),
    ({'statuses': (404,)}, ValueError),
    ({'statuses': ('503',)}, TypeError),
    ({'statuses': 503}, TypeError),
    ({'errors': (ValueError,)}, TypeError),
    ({'errors': (CircuitOpen,)}, ValueError),
    ({'errors': (ResponseTooLarge,)}, ValueError),
    ({'clock': 3}, TypeError),
])
def test_bad_settings_are_refused_naming_the_argument(options, error):
    with pytest.raises(error, match=next(iter(options))):
        Breaker(**options)


@pytest.mark.parametrize('options, message', [
    ({'breaker': 5}, 'breaker must be a napix.breaker.Breaker or None, not int'),
    ({'resend_busy': 'yes'}, 'resend_busy must be True or False, not str'),
])
def test_a_connection_refuses_what_is_not_a_breaker(options, message):
    with pytest.raises(TypeError, match=message):
        Connection('127.0.0.1:1', AUTH, **options)
    with pytest.raises(TypeError, match=message):
        ClientPool(AUTH, **options)


def test_another_transport_has_a_circuit_per_destination_too():
    from napix.transports.wsgi import WSGITransport
    calls = []

    def down(environ, start_response):
        calls.append(environ['PATH_INFO'])
        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')])
        return [b'down']

    breaker = Breaker(failures=2, clock=Clock())
    connection = Connection('server.napix.nx', AUTH, transport=WSGITransport(down),
                            breaker=breaker)
    for _ in range(2):
        with pytest.raises(HTTPError):
            connection.request('GET', '/vm/1')
    with pytest.raises(CircuitOpen):
        connection.request('GET', '/vm/1')
    assert len(calls) == 2 and breaker.state('server.napix.nx') == OPEN
