"""Servers that fail: every failure is one clear HTTPError, quickly.

Each test talks to a :class:`napixd.faults.FaultServer` on 127.0.0.1 that
misbehaves in one precise way.
"""

import re
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
        if mode == 'bad_json':  # a response came, undecodable: its status is kept
            assert isinstance(error, TransportError) and error.status == 200
        elif expected_class is not HTTPError:
            assert isinstance(error, TransportError) and error.status is None
    client.close()


@pytest.mark.parametrize('mode', ['drip', 'hang', 'short'])
def test_a_slow_server_is_cut_at_the_read_timeout(fault_server, mode):
    server = fault_server(mode, drip_interval=0.2)
    client = client_for(server, timeout=(1, 0.6))
    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        client.request('GET', '/')
    # Not before the timeout; after it, bounded (a drip that reset the timer
    # would never end), with room for a loaded machine.
    assert 0.55 < time.monotonic() - started < 0.6 + 3
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

def wait_closed(server, timeout=10.0):
    """Wait (in this hub, where the FaultServer runs) until the server has
    closed every connection it accepted."""
    deadline = time.monotonic() + timeout
    while server._handlers:
        assert time.monotonic() < deadline, 'the server did not close its connections'
        gevent.sleep(0.01)


def test_idle_close_is_invisible_to_a_get(fault_server):
    server = fault_server('idle_close')
    client = client_for(server)
    for n in range(3):
        assert client.request('GET', '/vm/{0}'.format(n)).status == 200
        wait_closed(server)
    assert server.methods('GET') == 3 and server.connections == 3


def test_a_post_is_not_sent_on_a_socket_known_to_be_closed(fault_server):
    server = fault_server('idle_close')
    client = client_for(server)
    for _ in range(3):
        assert client.request('POST', '/vm', {'name': 'a'}).status == 200
        wait_closed(server)
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


# Inputs that lie: refused at once, with a message, before any traffic

BAD_HOSTS = ['', 'http://', 'a b', 'ftp://x', 'host:99999', 'host:0', 'host:', 'host/path',
             'user@host', 'host:80:80', '-host', 'host\n', 'host\r\n', None, 123, b'host', ['host']]
BAD_METHODS = ['', 'GE T', 'GET\r\n', 'GET\n', 'G(E)T', None, 1, b'GET']
BAD_URLS = ['', 'vm/1', 'http://other/vm', '/a\r\nX-Injected: 1', '/a\nb', '/a\x00', '/a\x7f',
            None, b'/a', 1]
BAD_HEADERS = [{'X-A': 'a\r\nX-B: b'}, {'X-A': 'a\nb'}, {'X-A': 'a\x00'}, {'Bad Name': 'v'},
               {'X:Y': 'v'}, {'': 'v'}, {'X-A\n': 'v'}, {'X-A\nX-B': 'v'}, {1: 'v'},
               {'X-A': None}, {'X-A': b'bytes'}, {'X-A': ['a']}, ['X-A: a'], 'X-A: a']
BAD_BODIES = [{'a': {1, 2}}, object(), {'a': object()}, [float('nan')], {'a': float('inf')},
              {(1, 2): 'a'}, 5, True, 1.5, {1, 2}]


def circular():
    body = {}
    body['self'] = body
    return body


@pytest.fixture
def quiet_server(fault_server):
    server = fault_server('ok')
    yield server
    assert server.connections == 0, 'a bad input reached the network'


@pytest.mark.parametrize('host', BAD_HOSTS, ids=repr)
def test_a_bad_host_is_refused(quiet_server, host):
    with pytest.raises((ValueError, TypeError), match='host'):
        Client(host, AUTH)
    with ClientPool(AUTH) as pool:
        with pytest.raises((ValueError, TypeError), match='host'):
            pool.request(host, 'GET', '/')
        assert len(pool) == 0


def test_a_bad_resolve_entry_is_refused_when_the_request_is_made(quiet_server):
    # The pool makes a host's client when a worker takes its first request,
    # but checks where it will connect at once.
    with ClientPool(AUTH, resolve={'h1.example': '127.0.0.1:http'}) as pool:
        with pytest.raises(ValueError, match="invalid resolve target '127.0.0.1:http'"):
            pool.request('h1.example', 'GET', '/')
        assert len(pool) == 0
        assert repr(pool) == '<ClientPool 0 hosts, 0 pending>'


@pytest.mark.parametrize('method', BAD_METHODS, ids=repr)
def test_a_bad_method_is_refused(quiet_server, method):
    with pytest.raises((ValueError, TypeError), match='method'):
        Client(quiet_server.host, AUTH).request(method, '/')
    with ClientPool(AUTH) as pool:
        with pytest.raises((ValueError, TypeError), match='method'):
            pool.request(quiet_server.host, method, '/')
        assert len(pool) == 0


@pytest.mark.parametrize('url', BAD_URLS, ids=repr)
def test_a_bad_url_is_refused(quiet_server, url):
    with pytest.raises((ValueError, TypeError), match='url'):
        Client(quiet_server.host, AUTH).request('GET', url)
    with ClientPool(AUTH) as pool:
        with pytest.raises((ValueError, TypeError), match='url'):
            pool.request(quiet_server.host, 'GET', url)


@pytest.mark.parametrize('headers', BAD_HEADERS, ids=repr)
def test_bad_headers_are_refused(quiet_server, headers):
    with pytest.raises((ValueError, TypeError), match='header'):
        Client(quiet_server.host, AUTH).request('GET', '/', headers=headers)
    with ClientPool(AUTH) as pool:
        with pytest.raises((ValueError, TypeError), match='header'):
            pool.request(quiet_server.host, 'GET', '/', headers=headers)


@pytest.mark.parametrize('body', BAD_BODIES + [circular()],
                         ids=lambda body: re.sub(' at 0x[0-9a-f]+', '', repr(body)))
def test_a_body_that_cannot_be_encoded_is_refused(quiet_server, body):
    with pytest.raises(TypeError, match='body'):
        Client(quiet_server.host, AUTH).request('POST', '/', body)
    with ClientPool(AUTH) as pool:
        with pytest.raises(TypeError, match='body'):
            pool.request(quiet_server.host, 'POST', '/', body)
        assert len(pool) == 0


@pytest.mark.parametrize('simultaneous, error', [
    (0, ValueError), (-1, ValueError), (-100, ValueError),
    ('2', TypeError), (2.0, TypeError), (True, TypeError)])  # None: the default
def test_bad_simultaneous_is_refused(simultaneous, error):
    with pytest.raises(error, match='simultaneous must be an int >= 1'):
        ClientPool(AUTH, simultaneous=simultaneous)
    with pytest.raises(error, match='simultaneous must be an int >= 1'):
        Client('127.0.0.1:1', AUTH, simultaneous=simultaneous)


@pytest.mark.parametrize('options, error', [
    ({'count': '3'}, TypeError), ({'count': 1.5}, TypeError), ({'count': True}, TypeError),
    ({'count': -2}, ValueError),
    ({'timeout': '1'}, TypeError), ({'timeout': [1]}, TypeError), ({'timeout': -1}, ValueError),
])
def test_bad_wait_unordered_arguments_are_refused_at_the_call(quiet_server, options, error):
    with ClientPool(AUTH) as pool:
        with pytest.raises(error, match=next(iter(options))):
            pool.wait_unordered(**options)  # not even iterated


@pytest.mark.parametrize('options', [
    {'timeout': 0}, {'timeout': -1}, {'timeout': '5'}, {'timeout': (1, 2, 3)},
    {'timeout': (1, None)}, {'max_response_size': 0}, {'max_response_size': '1M'},
    {'maxsize': 0}, {'retry': 3}], ids=repr)
def test_bad_client_options_are_refused(quiet_server, options):
    name = next(iter(options))
    with pytest.raises((ValueError, TypeError), match=name):
        Client(quiet_server.host, AUTH, **options)
    with pytest.raises((ValueError, TypeError), match=name):
        Connection(quiet_server.host, AUTH, **options)


@pytest.mark.parametrize('authenticator', [None, 'root:toor', {'login': 'root'}, 42, b'key'],
                         ids=repr)
def test_bad_credentials_are_refused(authenticator):
    with pytest.raises(ValueError, match='authenticator'):
        ClientPool(authenticator)
    with pytest.raises(ValueError, match='authenticator'):
        Client('127.0.0.1:1', authenticator)


@pytest.mark.parametrize('login, key', [('', 'k'), ('root', ''), (None, 'k'), ('root', None),
                                        ('root', 5)])
def test_bad_login_or_key_is_refused(login, key):
    with pytest.raises((ValueError, TypeError), match='login|key'):
        LoginAuthenticator(login, key)


@pytest.mark.parametrize('extra', [
    b'garbage after the body',
    b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray',
], ids=['garbage', 'a second response'])
def test_bytes_after_the_announced_body_are_not_read_as_the_next_response(extra):
    """A server that sends more than its Content-Length: the client keeps the
    announced body, and does not reuse that socket (the next request gets its
    own answer, on a new connection)."""
    from gevent.server import StreamServer

    connections = []
    answered = []

    def handle(sock, address):
        connections.append(address)
        buffer = b''
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            while b'\r\n\r\n' in buffer:
                _, _, buffer = buffer.partition(b'\r\n\r\n')
                first = not answered
                body = b'ok' if first else b'fresh'
                sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
                             b'Content-Length: %d\r\n\r\n%s' % (len(body), body)
                             + (extra if first else b''))
                answered.append(address)

    server = StreamServer(('127.0.0.1', 0), handle)
    server.start()
    try:
        connection = Connection('127.0.0.1:%d' % server.server_port, timeout=TIMEOUT)
        assert connection.request('GET', '/a').body == 'ok'
        assert connection.request('GET', '/b').body == 'fresh'
        assert len(connections) == 2
        connection.close()
    finally:
        server.stop()
