"""Timings of each request (issue 28): napix.timings, as Response.timings and
HTTPError.timings show them.

Each phase is made large by its scenario (a slow server for ``wait``, a
server that trickles for ``receive``, a limit of 1 with two requests for
``queued``, a fresh socket for ``connect``): the tests assert lower bounds
set by the server's own sleeps, never an upper bound on the machine's speed.
"""

import time

import pytest
import trustme

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection
from napix.defaults import DEFAULT_BUSY_WAIT
from napix.exceptions import ConnectError, HTTPError, Timeout
from napix.retry import Retry
from napix.timings import Timings
from napixd.client import Client, ClientPool
from rawserver import RawServer, response
from test_tls import TLSServer

AUTH = LoginAuthenticator('root', 'toor')
PHASES = ('queued', 'resolve', 'connect', 'tls', 'send', 'wait', 'receive')


def phases(timings):
    return {name: getattr(timings, name) for name in PHASES}


def assert_adds_up(timings):
    assert all(value >= 0 for value in phases(timings).values()), timings
    assert timings.total >= sum(phases(timings).values()), timings


def test_a_slow_server_makes_wait_the_largest_phase(napix_server):
    client = Client(napix_server.host, AUTH)
    client.request('GET', '/vm/1')  # the socket is open: no connect below
    timings = client.request('GET', '/sleep/0.3').timings
    assert timings.wait >= 0.3
    assert max(phases(timings).values()) == timings.wait
    assert timings.reused and timings.attempts == 1
    assert_adds_up(timings)


def test_a_server_that_trickles_makes_receive_large():
    body = b'{"trickled": "' + b'x' * 20 + b'"}'

    def handler(conn):
        for _ in conn.each_request():
            whole = response(200, body)
            head_end = whole.index(b'\r\n\r\n') + 4
            conn.send(whole[:head_end + 1])  # the head and a first byte of the body
            for number in range(3):
                time.sleep(0.1)
                conn.send(whole[head_end + 1 + number:head_end + 2 + number])
            conn.send(whole[head_end + 4:])

    with RawServer(handler) as server:
        answer = Connection(server.host).request('GET', '/')
    assert answer.body == {'trickled': 'x' * 20}
    timings = answer.timings
    assert timings.receive >= 0.3
    assert max(phases(timings).values()) == timings.receive
    assert answer.elapsed >= timings.wait + timings.receive
    assert_adds_up(timings)


def test_a_limit_of_one_makes_the_second_request_queue(napix_server):
    pool = ClientPool(AUTH, simultaneous=1)
    first = pool.request(napix_server.host, 'GET', '/sleep/0.3')
    second = pool.request(napix_server.host, 'GET', '/vm/2')
    pool.wait()
    assert first.value.timings.wait >= 0.3
    queued = second.value.timings.queued
    assert queued >= 0.3
    assert max(phases(second.value.timings).values()) == queued
    assert second.value.timings.total >= queued
    assert_adds_up(second.value.timings)


def test_a_client_with_one_place_queues_its_second_caller(napix_server):
    import gevent
    client = Client(napix_server.host, AUTH, simultaneous=1)
    slow = gevent.spawn(client.request, 'GET', '/sleep/0.3')
    gevent.sleep(0)  # the slow one has the place
    fast = client.request('GET', '/vm/3')
    slow.join()
    assert fast.timings.queued >= slow.value.timings.wait >= 0.3


def test_a_fresh_socket_connects_a_reused_one_does_not(napix_server):
    client = Client(napix_server.host, AUTH)
    fresh = client.request('GET', '/vm/1').timings
    reused = client.request('GET', '/vm/2').timings
    assert not fresh.reused and fresh.connect > 0
    assert fresh.resolve == 0.0 and fresh.tls == 0.0  # a numeric address, plain HTTP
    assert reused.reused
    assert (reused.resolve, reused.connect, reused.tls) == (0.0, 0.0, 0.0)
    for timings in (fresh, reused):
        assert timings.send > 0 and timings.wait > 0
        assert_adds_up(timings)


def test_a_name_is_resolved_then_connected(napix_server):
    client = Client('localhost:{0}'.format(napix_server.port), AUTH)
    timings = client.request('GET', '/vm/1').timings
    assert timings.resolve > 0 and timings.connect > 0 and timings.tls == 0.0
    assert_adds_up(timings)


def test_a_tls_handshake_is_its_own_phase(tmp_path):
    ca = trustme.CA()
    server = TLSServer(ca.issue_cert('server.napix.nx', '127.0.0.1'))
    server.start()
    server.ready.wait(5)
    bundle = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(bundle))
    try:
        conn = Connection('https://server.napix.nx:{0}'.format(server.port), AUTH,
                          verify=str(bundle), resolve={'server.napix.nx': '127.0.0.1'})
        fresh = conn.request('GET', '/vm/7').timings
        reused = conn.request('GET', '/vm/8').timings
    finally:
        server.stop()
    assert fresh.tls > 0 and fresh.connect > 0 and not fresh.reused
    assert reused.tls == 0.0 and reused.reused
    assert_adds_up(fresh)


def test_an_error_has_the_timings_of_its_response(napix_server):
    with pytest.raises(HTTPError) as caught:
        Client(napix_server.host, AUTH).request('GET', '/vm/missing')
    timings = caught.value.timings
    assert caught.value.status == 404
    assert timings is caught.value.response.timings or isinstance(timings, Timings)
    assert timings.wait > 0 and timings.total >= timings.wait
    assert_adds_up(timings)


def test_an_error_without_response_counts_its_total(fault_server):
    server = fault_server('hang')
    with pytest.raises(Timeout) as caught:
        Client(server.host, AUTH, timeout=(1, 0.3)).request('GET', '/')
    timings = caught.value.timings
    assert timings.total >= 0.3
    assert_adds_up(timings)


def test_under_retries_the_last_attempt_is_timed_and_attempts_counted(fault_server):
    server = fault_server('ok', script=['503', '503'], retry_after=None)
    client = Client(server.host, AUTH, retry=Retry(total=3, backoff=0.1))
    timings = client.request('GET', '/').timings
    assert timings.attempts == 3
    # The total counts the two backoffs (0.1 + 0.2 s), the last attempt did not wait them.
    assert timings.total >= 0.3
    assert timings.queued < timings.total - 0.29
    assert_adds_up(timings)


def test_elapsed_stays_the_exchange(napix_server):
    answer = Client(napix_server.host, AUTH).request('GET', '/sleep/0.2')
    assert answer.elapsed >= 0.2
    timings = answer.timings
    assert answer.elapsed == pytest.approx(timings.send + timings.wait + timings.receive)


def test_timings_read_as_a_dict_and_a_repr(napix_server):
    timings = Client(napix_server.host, AUTH).request('GET', '/vm/1').timings
    data = timings.as_dict()
    assert set(data) == set(PHASES) | {'total', 'reused', 'attempts'}
    assert data['reused'] is False and data['attempts'] == 1
    assert repr(timings).startswith('<Timings total=')


def test_another_transport_has_its_elapsed_as_wait(make_napix_server):
    from napix.transports.requests import RequestsTransport
    napix_server = make_napix_server(threaded=True)  # requests blocks this thread
    conn = Connection(napix_server.host, AUTH,
                      transport=RequestsTransport('http', '127.0.0.1', napix_server.port))
    answer = conn.request('GET', '/vm/1')
    timings = answer.timings
    assert timings.wait == (answer.elapsed or 0.0)
    assert timings.total > 0
    assert_adds_up(timings)


def test_a_refused_connect_is_timed_as_a_connect(refused_host):
    with pytest.raises(ConnectError) as caught:
        Client(refused_host, AUTH).request('GET', '/')
    timings = caught.value.timings
    assert timings.connect > 0 and not timings.reused
    assert (timings.send, timings.wait, timings.receive) == (0.0, 0.0, 0.0)
    assert_adds_up(timings)


def test_a_request_sent_again_is_timed_anew(fault_server):
    server = fault_server('ok', script=['503'], retry_after=None)
    conn = Connection(server.host, AUTH, retry=Retry(total=3, backoff=0.0))
    request = conn.build_request('GET', '/')
    assert conn.send(request).timings.attempts == 2
    assert conn.send(request).timings.attempts == 1


def test_attempts_are_numbered_under_a_deadline_too(fault_server):
    # Each attempt within a deadline is a copy with its own timeout: still counted.
    server = fault_server('ok', script=['503', '503'], retry_after=None)
    client = Client(server.host, AUTH, retry=Retry(total=3, backoff=0.0, deadline=60))
    timings = client.request('GET', '/').timings
    assert timings.attempts == 3
    assert_adds_up(timings)


def test_napixd_busy_resend_counts_in_the_total_not_in_queued(fault_server):
    server = fault_server('ok', script=['429'])
    timings = Client(server.host, AUTH).request('GET', '/vm').timings
    assert len(server.requests) == 2 and timings.attempts == 1
    # The resend waited DEFAULT_BUSY_WAIT: in the total, not in its queued time.
    assert timings.total >= DEFAULT_BUSY_WAIT
    assert timings.queued < timings.total - DEFAULT_BUSY_WAIT * 0.95
    assert_adds_up(timings)
