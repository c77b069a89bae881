"""Servers that fail: every failure is one clear HTTPError, quickly.

Each test talks to a :class:`napixd.faults.FaultServer` on 127.0.0.1 that
misbehaves in one precise way.
"""

import time

import gevent
import pytest

from napix.authenticators import LoginAuthenticator
from napix.connection import DEFAULT_MAX_RESPONSE_SIZE, Connection, Response
from napix.exceptions import (ConnectError, HTTPError, RemoteProtocolError, ResponseTooLarge,
                              Timeout, TransportError)
from napixd.client import Client, ClientPool
from napixd.faults import FAULTS, FaultServer

TIMEOUT = (1, 1.5)
HOST = 'faulty.napix.nx'
AUTH = LoginAuthenticator('root', 'toor')

# mode -> (exception class, words of the message that say the cause)
EXPECTED = {
    'refuse': (ConnectError, ['connection refused']),
    'close': (RemoteProtocolError, ['closed', 'reset']),
    'reset': (RemoteProtocolError, ['reset', 'closed']),
    'garbage': (RemoteProtocolError, ['invalid HTTP response']),
    'truncated': (RemoteProtocolError, ['closed the connection in the middle']),
    'short': (Timeout, ['no complete response within 1.5 s']),
    'drip': (Timeout, ['no complete response within 1.5 s']),
    'hang': (Timeout, ['no complete response within 1.5 s']),
    '429': (HTTPError, ['429 TOO MANY REQUESTS', 'Too many concurrent connections']),
    '503': (HTTPError, ['503 SERVICE UNAVAILABLE']),
    'huge': (ResponseTooLarge, ['larger than 1048576 bytes']),
    'bad_json': (RemoteProtocolError, ['invalid application/json body']),
}


def client_for(server, **options):
    options.setdefault('timeout', TIMEOUT)
    return Client(HOST, AUTH, resolve={HOST: server.host}, **options)


@pytest.fixture
def fault_server():
    servers = []

    def make(mode='ok', **options):
        options.setdefault('drip_interval', 0.3)
        server = FaultServer(mode, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.mark.parametrize('mode', sorted(EXPECTED))
def test_each_fault_is_one_clear_http_error_within_the_timeout(fault_server, mode):
    server = fault_server(mode, huge_size=2 * 1024 * 1024)
    client = client_for(server, max_response_size=1024 * 1024)
    expected_class, causes = EXPECTED[mode]
    # Twice (but wait for a timeout only once): what the first left behind is no excuse.
    for _ in range(1 if expected_class is Timeout else 2):
        started = time.monotonic()
        with pytest.raises(HTTPError) as caught:
            client.request('GET', '/vm/1')
        elapsed = time.monotonic() - started
        error = caught.value
        assert type(error) is expected_class, repr(error)
        assert str(error).startswith('GET {0}/vm/1 failed: '.format(HOST)), str(error)
        assert any(cause in str(error) for cause in causes), str(error)
        assert error.remote_call == 'GET {0}/vm/1'.format(HOST)
        assert elapsed < TIMEOUT[0] + TIMEOUT[1] + 1.0
        if expected_class is not HTTPError:
            assert isinstance(error, TransportError) and error.status is None
    client.close()


@pytest.mark.parametrize('mode', ['drip', 'hang', 'short'])
def test_a_slow_server_is_cut_at_the_read_timeout(fault_server, mode):
    server = fault_server(mode, drip_interval=0.2)
    client = client_for(server, timeout=(1, 0.6))
    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        client.request('GET', '/')
    assert 0.5 < time.monotonic() - started < 1.6
    assert 'no complete response within 0.6 s' in str(caught.value)


def test_the_default_size_limit_stops_a_huge_response(fault_server):
    server = fault_server('huge', huge_size=DEFAULT_MAX_RESPONSE_SIZE + 1024)
    with pytest.raises(ResponseTooLarge) as caught:
        client_for(server, timeout=(1, 10)).request('GET', '/')
    assert 'larger than {0} bytes'.format(DEFAULT_MAX_RESPONSE_SIZE) in str(caught.value)


def test_a_response_under_the_limit_is_received_whole(fault_server):
    server = fault_server('huge', huge_size=100000)
    response = client_for(server, max_response_size=101000).request('GET', '/')
    assert response.status == 200 and len(response.content) == 100000


def test_faults_through_a_pool_come_back_as_errors_in_order(fault_server):
    servers = {mode: fault_server(mode, huge_size=2 * 1024 * 1024) for mode in EXPECTED}
    ok = fault_server('ok')
    with ClientPool(AUTH, timeout=TIMEOUT, max_response_size=1024 * 1024) as pool:
        for mode, server in servers.items():
            pool.request(server.host, 'GET', '/' + mode)
            pool.request(ok.host, 'GET', '/ok-' + mode)
        results = pool.wait()
    assert len(results) == 2 * len(servers)
    for mode, error, response in zip(servers, results[::2], results[1::2], strict=True):
        assert type(error) is EXPECTED[mode][0], (mode, error)
        assert isinstance(response, Response) and response.body['path'] == '/ok-' + mode


# Keep-alive sockets the server closed while they were idle

def test_idle_close_is_invisible_to_a_get(fault_server):
    server = fault_server('idle_close')
    client = client_for(server)
    for n in range(3):
        assert client.request('GET', '/vm/{0}'.format(n)).status == 200
        gevent.sleep(0.05)
    assert server.methods('GET') == 3 and server.connections == 3


def test_a_post_is_not_sent_on_a_socket_known_to_be_closed(fault_server):
    server = fault_server('idle_close')
    client = client_for(server)
    for _ in range(3):
        assert client.request('POST', '/vm', {'name': 'a'}).status == 200
        gevent.sleep(0.05)
    assert server.methods('POST') == 3 and server.connections == 3


def test_a_get_lost_on_a_kept_alive_socket_is_resent_once(fault_server):
    # The server reads the second GET, then closes without answering.
    server = fault_server('ok', script=['ok', 'close'])
    client = client_for(server)
    assert client.request('GET', '/first').status == 200
    response = client.request('GET', '/second')
    assert response.status == 200 and response.body['path'] == '/second'
    assert server.requests == [('GET', '/first'), ('GET', '/second'), ('GET', '/second')]
    assert server.connections == 2


def test_a_get_is_resent_only_once(fault_server):
    server = fault_server('ok', script=['ok', 'close', 'close'])
    client = client_for(server)
    client.request('GET', '/first')
    with pytest.raises(RemoteProtocolError):
        client.request('GET', '/second')
    assert server.connections == 2


def test_a_post_is_never_sent_twice(fault_server):
    server = fault_server('ok', script=['ok', 'close'])
    client = client_for(server)
    client.request('GET', '/first')
    with pytest.raises(RemoteProtocolError) as caught:
        client.request('POST', '/vm', {'name': 'a'})
    assert 'before answering' in str(caught.value) or 'reset' in str(caught.value)
    assert server.methods('POST') == 1
    assert server.connections == 1


def test_a_patch_is_never_sent_twice_either(fault_server):
    server = fault_server('ok', script=['ok', 'close'])
    client = client_for(server)
    client.request('GET', '/first')
    with pytest.raises(RemoteProtocolError):
        client.request('PATCH', '/vm/1', {'name': 'a'})
    assert server.methods('PATCH') == 1


# The fault server itself

def test_fault_server_refuses_unknown_modes():
    with pytest.raises(ValueError, match='unknown mode'):
        FaultServer('explode')


def test_fault_server_restarts_on_its_port(fault_server):
    server = fault_server('ok')
    port = server.port
    client = client_for(server)
    assert client.request('GET', '/').status == 200
    server.restart()
    assert server.port == port
    assert client.request('GET', '/').status == 200


def test_a_fault_can_follow_a_good_answer_on_the_same_connection(fault_server):
    server = fault_server('ok', script=['ok', 'garbage'])
    connection = Connection(server.host, AUTH, timeout=TIMEOUT)
    connection.request('GET', '/')
    with pytest.raises(RemoteProtocolError):
        connection.request('GET', '/')
    assert server.connections == 1 and server.faults == 1


def test_every_fault_mode_is_covered():
    assert set(FAULTS) - {'idle_close'} <= set(EXPECTED)
