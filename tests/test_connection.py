"""Connection with its default transport, against real local servers, as a
user builds it: Connection(host, authenticator, timeout=..., maxsize=...)."""

import socket
import time

import gevent
import pytest
from gevent import monkey
from gevent.event import Event

from napix.authenticators import JWTAuthenticator, LoginAuthenticator, TokenIdentifier
from napix.connection import Connection, Headers, Request, Response, parse_host
from napix.exceptions import ConnectError, HTTPError, Timeout, TransportError
from napixd.testing import routed

AUTH = LoginAuthenticator('root', 'toor')


def conn(server, **options):
    return Connection('server.napix.nx', AUTH, resolve={'server.napix.nx': server.host},
                      **options)


# Hosts

@pytest.mark.parametrize('host, expected', [
    ('server.napix.nx', ('http', 'server.napix.nx', 80, 'server.napix.nx')),
    ('server.napix.nx:8002', ('http', 'server.napix.nx', 8002, 'server.napix.nx:8002')),
    ('http://server.napix.nx', ('http', 'server.napix.nx', 80, 'server.napix.nx')),
    ('https://server.napix.nx', ('https', 'server.napix.nx', 443, 'server.napix.nx')),
    ('https://server.napix.nx:8443', ('https', 'server.napix.nx', 8443,
                                      'server.napix.nx:8443')),
    ('HTTP://s1:80', ('http', 's1', 80, 's1')),
    ('127.0.0.1:8002', ('http', '127.0.0.1', 8002, '127.0.0.1:8002')),
    ('[::1]:8002', ('http', '[::1]', 8002, '[::1]:8002')),
])
def test_valid_hosts(host, expected):
    assert parse_host(host) == expected
    Connection(host, AUTH)


@pytest.mark.parametrize('host', [
    '', ' ', 'server napix', ' server.napix.nx', 'server.napix.nx\r\n', 'server.napix.nx\n',
    'ftp://server.napix.nx', 'http://', 'server.napix.nx:0', 'server.napix.nx:99999',
    'server.napix.nx:abc', 'server.napix.nx/path', 'user@server.napix.nx', 'se\x00rver',
])
def test_invalid_hosts_name_the_accepted_forms(host):
    with pytest.raises(ValueError) as info:
        Connection(host, AUTH)
    message = str(info.value)
    assert repr(host) in message
    if 'scheme' not in message and 'port must' not in message:
        assert "'name:port'" in message and "'https://name[:port]'" in message


def test_non_str_host_is_a_type_error():
    with pytest.raises(TypeError, match='host must be a str'):
        Connection(8002, AUTH)


@pytest.mark.parametrize('options, error, name', [
    ({'timeout': 0}, ValueError, 'timeout'), ({'timeout': -1}, ValueError, 'timeout'),
    ({'timeout': 'x'}, TypeError, 'timeout'), ({'timeout': (1, None)}, TypeError, 'timeout'),
    ({'simultaneous': 0}, ValueError, 'simultaneous'),
    ({'simultaneous': True}, TypeError, 'simultaneous'),
    ({'maxsize': 0}, ValueError, 'maxsize'), ({'maxsize': 1.5}, TypeError, 'maxsize'),
    ({'max_response_size': 0}, ValueError, 'max_response_size'),
    ({'idle_timeout': -1}, ValueError, 'idle_timeout'),
    ({'idle_timeout': '1'}, TypeError, 'idle_timeout'),
    ({'simultaneous': 3, 'maxsize': 4}, ValueError, 'maxsize is another name'),
])
def test_invalid_options(options, error, name):
    # A wrong type is a TypeError, a wrong value a ValueError: both name the option.
    with pytest.raises(error, match=name):
        Connection('server.napix.nx', AUTH, **options)


def test_maxsize_is_another_name_of_simultaneous():
    for options in ({'maxsize': 3}, {'simultaneous': 3}, {'simultaneous': 3, 'maxsize': 3}):
        connection = Connection('server.napix.nx', AUTH, **options)
        assert connection.simultaneous == connection.maxsize == 3
    assert Connection('server.napix.nx', AUTH).simultaneous == 10
    assert Connection('server.napix.nx', AUTH, (1, 2), 4).simultaneous == 4  # positional


def test_authenticator_must_be_callable():
    with pytest.raises(TypeError, match='callable'):
        Connection('server.napix.nx', {'login': 'root'})


# What is sent

def test_default_headers_and_host(napix_server):
    seen = {}

    @napix_server.route('GET', '/headers')
    def headers(request):
        seen.update(request.headers)
        return 'ok'
    conn(napix_server).request('GET', '/headers')
    assert seen['accept'] == 'application/json'
    assert seen['host'] == 'server.napix.nx'
    conn(napix_server).request('GET', '/headers', headers={'Accept': 'text/plain',
                                                          'X-Trace': 42})
    assert seen['accept'] == 'text/plain'
    assert seen['x-trace'] == '42'


@pytest.mark.parametrize('body, error', [
    ({1, 2}, 'body must be a dict or list'),
    ({'a': object()}, 'cannot be encoded as JSON'),
    (12, 'body must be'),
])
def test_bad_bodies_are_type_errors(napix_server, body, error):
    with pytest.raises(TypeError, match=error):
        conn(napix_server).request('POST', '/echo', body)
    assert napix_server.connections_opened == 0


@pytest.mark.parametrize('method, url, headers', [
    ('GET\r\n', '/vm/7', None),
    ('GET', '/vm/7\r\nHost: evil', None),
    ('GET', '/vm/7', {'X-A\n': 'b'}),
    ('GET', '/vm/7', {'X-A': 'b\r\nX-Evil: 1'}),
    ('GET', 'vm/7', None),
    ('GET', 'http://evil/vm/7', None),
])
def test_injection_refused_before_anything_is_sent(napix_server, method, url, headers):
    with pytest.raises(ValueError):
        conn(napix_server).request(method, url, headers=headers)
    gevent.sleep(0.05)
    assert napix_server.connections_opened == 0
    assert napix_server.requests == []


# What comes back

def test_response_attributes(napix_server):
    response = conn(napix_server).request('GET', '/vm/7')
    assert isinstance(response, Response)
    assert (response.status, response.reason) == (200, 'OK')
    assert isinstance(response.headers, Headers)
    assert response.headers['CONTENT-LENGTH'] == str(len(response.content))
    assert 'Content-Type' in response.headers
    assert response.body == {'id': '7', 'by': 'root'}
    assert isinstance(response.request, Request)
    assert response.request.method == 'GET'
    assert response.request.host == 'server.napix.nx'
    assert response.request.url == '/vm/7'
    assert repr(response) == '<Response 200 OK>'


def test_created_with_location(napix_server):
    napix_server.route('POST', '/vm/', lambda request: (201, {'Location': '/vm/9'}, ''))
    response = conn(napix_server).request('POST', '/vm/', {'name': 'x'})
    assert (response.status, response.body, response.headers['location']) == (201, None, '/vm/9')


def test_http_error(napix_server):
    with pytest.raises(HTTPError) as info:
        conn(napix_server).request('GET', '/vm/missing')
    error = info.value
    assert not isinstance(error, TransportError)
    assert (error.status, error.body) == (404, '`missing` not found')
    assert error.remote_error == '"404 NOT FOUND" `missing` not found'
    assert error.remote_call == 'GET server.napix.nx/vm/missing'
    assert str(error) == ('GET server.napix.nx/vm/missing failed: '
                          '"404 NOT FOUND" `missing` not found')
    assert repr(error) == '<HTTPError GET server.napix.nx/vm/missing 404>'


def test_routed_keeps_the_real_host_name(napix_server):
    with routed({'server.napix.nx': napix_server}):
        response = Connection('server.napix.nx', AUTH).request('GET', '/vm/1')
    assert str(response.request) == 'GET server.napix.nx/vm/1'
    assert response.body['by'] == 'root'


# gevent: cooperative, keep-alive, bounded

def test_cooperative_without_monkey_patching(make_napix_server):
    assert not monkey.is_module_patched('socket')
    server = make_napix_server(max_concurrent=None)
    connection = conn(server, maxsize=8)
    jobs = [gevent.spawn(connection.request, 'GET', '/sleep/0.5') for _ in range(8)]
    gevent.joinall(jobs, timeout=10)
    assert [job.value.body for job in jobs] == [{'slept': 0.5}] * 8
    assert server.max_in_flight == 8  # all at once: one after the other, it would be 1


def test_keep_alive_20_sequential_requests_one_connection(napix_server):
    connection = conn(napix_server)
    for index in range(20):
        connection.request('GET', '/vm/{0}'.format(index))
    assert napix_server.connections_opened == 1
    assert len(napix_server.requests) == 20


def test_maxsize_bounds_sockets_and_requests_in_flight(make_napix_server):
    server = make_napix_server(max_concurrent=None)
    connection = conn(server, maxsize=3)
    jobs = [gevent.spawn(connection.request, 'GET', '/sleep/0.1') for _ in range(12)]
    gevent.joinall(jobs, timeout=10)
    assert all(job.value.status == 200 for job in jobs)
    assert server.max_in_flight == 3
    assert server.connections_opened == 3


def test_over_the_server_limit_is_429(make_napix_server):
    server = make_napix_server(max_concurrent=2)
    # Two requests held in their handler until the other two have come back:
    # however slow the machine, the last two find the server full.
    held = Event()
    server.route('GET', '/held', lambda request: held.wait(10) and {'held': True})
    connection = conn(server, maxsize=4, resend_busy=False)  # its 429s as they come
    jobs = [gevent.spawn(connection.request, 'GET', '/held') for _ in range(4)]
    assert len(gevent.wait(jobs, count=2, timeout=10)) == 2
    held.set()
    gevent.joinall(jobs, timeout=10)
    statuses = sorted(job.value.status if job.successful() else job.exception.status
                      for job in jobs)
    assert statuses == [200, 200, 429, 429]


def test_close_then_reuse(napix_server):
    connection = conn(napix_server)
    connection.request('GET', '/vm/1')
    connection.close()
    connection.request('GET', '/vm/2')
    assert napix_server.connections_opened == 2
    with conn(napix_server) as other:
        other.request('GET', '/vm/3')


# No response

def test_timeout(napix_server):
    with pytest.raises(Timeout) as info:
        conn(napix_server, timeout=0.3).request('GET', '/sleep/5')
    assert napix_server.in_flight == 1  # given up while the server was still at it
    assert 'no complete response within 0.3 s' in str(info.value)
    assert info.value.status is None
    assert napix_server.host in str(info.value)


def test_each_request_on_a_kept_alive_socket_gets_its_whole_timeout(napix_server):
    # A libev timer stopped early keeps only the time it had left: reused
    # as it was, 21 answers of 0.1 s in a row would time out by the twentieth
    # (2.0 s, then 1.9, 1.8... left). Each has 1.9 s to spare, so a stalled
    # machine does not make one late (0.3 s answers under 1 s did).
    connection = conn(napix_server, timeout=2.0)
    for _ in range(21):
        assert connection.request('GET', '/sleep/0.1').status == 200
    assert napix_server.connections_opened == 1


def test_server_that_accepts_but_never_answers_times_out():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(Timeout) as info:
            Connection('127.0.0.1:{0}'.format(port), AUTH, timeout=0.3).request('GET', '/')
        assert 'no complete response within 0.3 s' in str(info.value)  # not the default 30 s
    finally:
        listener.close()


def test_a_handshake_that_does_not_end_times_out_at_the_connect_timeout():
    # A listener whose accept queue is full drops new SYNs: the connect stays
    # in progress, the case a local server that answers at once never shows.
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(('127.0.0.1', port))
            fillers.append(filler)
        time.sleep(0.1)
        start = time.monotonic()
        with pytest.raises(Timeout) as info:
            Connection('127.0.0.1:{0}'.format(port), AUTH, timeout=(0.3, 5)).request('GET', '/')
        assert time.monotonic() - start > 0.25  # not before the connect timeout
        assert 'could not connect to 127.0.0.1:{0} within 0.3 s'.format(port) in str(info.value)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_connection_refused():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectError) as info:
        Connection('127.0.0.1:{0}'.format(port), AUTH).request('GET', '/vm/1')
    error = info.value
    assert error.status is None and error.response is None
    assert str(error) == 'GET 127.0.0.1:{0}/vm/1 failed: connection refused by 127.0.0.1:{0}' \
        .format(port)


def test_unresolvable_host():
    with pytest.raises(ConnectError) as info:
        Connection('nonexistent.invalid', AUTH, timeout=5).request('GET', '/')
    assert info.value.status is None
    assert 'nonexistent.invalid' in str(info.value)
    assert 'resolve' in str(info.value)


@pytest.mark.parametrize('authenticator, secret', [
    (LoginAuthenticator('root', 'toor'), None),
    (TokenIdentifier('de72457df438272d8d05a0823289084811813c07'),
     'de72457df438272d8d05a0823289084811813c07'),
    (JWTAuthenticator('root', 'toor'), None),
], ids=['login', 'token', 'jwt'])
def test_printing_the_headers_of_a_sent_request_shows_no_credentials(
        napix_server, authenticator, secret):
    napix_server.tokens['de72457df438272d8d05a0823289084811813c07'] = 'root'
    response = Connection(napix_server.host, authenticator).request(
        'GET', '/', headers={'X-Trace': 'abc'})
    headers = response.request.headers
    credentials = headers['Authorization']  # still there for whoever asks for it
    for text in (repr(headers), str(headers), repr(response.request), str(response.request)):
        assert credentials not in text
        assert credentials.rpartition(':')[2] not in text
        assert credentials.rpartition('.')[2] not in text
        if secret:
            assert secret not in text
    assert "'X-Trace': 'abc'" in repr(headers)
    assert "'Authorization': '<hidden>'" in repr(headers)


def test_close_at_closes_the_idle_sockets_of_another_server_it_would_send_to(
        make_napix_server):
    first, other = make_napix_server(), make_napix_server()
    conn = Connection(first.host, LoginAuthenticator('root', 'toor'))
    other_conn = Connection(other.host, LoginAuthenticator('root', 'toor'))
    assert other_conn.request('GET', '/vm/1').status == 200
    assert other.open_connections == 1
    conn.close_at(conn.place(other.host))  # the same options: the same sockets
    deadline = time.monotonic() + 5
    while other.open_connections and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert other.open_connections == 0


def test_close_at_with_a_transport_of_its_own_closes_the_transport(make_napix_server):
    from napix.transports.wsgi import WSGITransport

    class Closable(object):
        def __init__(self, inner):
            self.inner, self.closed = inner, 0

        def handle(self, request):
            return self.inner.handle(request)

        def close(self):
            self.closed += 1

    transport = Closable(WSGITransport(make_napix_server().application))
    conn = Connection('a.test', LoginAuthenticator('root', 'toor'), transport=transport)
    assert conn.request('GET', '/vm/1').status == 200
    conn.close_at(conn.place('b.test'))
    assert transport.closed == 1
