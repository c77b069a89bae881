"""The transport conformance suite: one set of behaviours, every transport.

Each test runs with the default gevent transport, the ``requests`` transport
and the in-process WSGI transport, against real NapixServers on 127.0.0.1
(the WSGI transport calls the same server's application without a socket).
Behaviours that need a socket (keep-alive, timeouts, refused connections...)
run on the two socket transports.

The last test runs this whole module again in a subprocess that called
``gevent.monkey.patch_all()`` first, as napixd servers do.
"""

import os
import socket
import subprocess
import sys
import threading
import time

import gevent
import pytest
from rawserver import free_port
import requests
from gevent import monkey

from napix.authenticators import (AnonAuthenticator, JWTAuthenticator, LoginAuthenticator,
                                  NonSecureAuthenticator, TokenIdentifier)
from napix.connection import DEFAULT_MAX_RESPONSE_SIZE, Connection, parse_host
from napix.exceptions import (ConnectError, HTTPError, RemoteProtocolError, ResponseTooLarge,
                              Timeout)
from napix.transports.gevent import GeventTransport
from napix.transports.requests import RequestsTransport
from napix.transports.wsgi import WSGITransport

PATCHED = monkey.is_module_patched('socket')
INNER_ENV = 'NAPIX_CONFORMANCE_PATCHED'
HOST = 'server.napix.nx'
AUTH = LoginAuthenticator('root', 'toor')
KINDS = ['gevent', 'requests', 'wsgi']
SOCKET_KINDS = ['gevent', 'requests']


def _session():
    # Never through a proxy of the environment: tests talk to 127.0.0.1 only.
    session = requests.Session()
    session.trust_env = False
    return session


def connect(kind, target, host=HOST, auth=AUTH, timeout=(5.0, 10.0), maxsize=10,
            max_response_size=DEFAULT_MAX_RESPONSE_SIZE):
    """A Connection to *host* through a transport of *kind*, reaching *target*
    (a NapixServer, or an ``(address, port)`` pair)."""
    if kind == 'wsgi':
        transport = WSGITransport(target.application, max_response_size=max_response_size)
        return Connection(host, auth, transport=transport)
    address, port = (('127.0.0.1', target.port) if not isinstance(target, tuple) else target)
    scheme, name, default_port, _ = parse_host(host)
    timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    options = dict(address=address, connect_port=port, timeout=timeout,
                   max_response_size=max_response_size)
    if kind == 'gevent':
        transport = GeventTransport(scheme, name, default_port, **options)
    else:
        transport = RequestsTransport(scheme, name, default_port, session=_session(),
                                      maxsize=maxsize, **options)
    # The connection bounds the requests in flight (the requests transport's
    # sockets too, for its OS threads).
    return Connection(host, auth, transport=transport, maxsize=maxsize)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture(params=SOCKET_KINDS)
def socket_kind(request):
    return request.param


def _server(make_napix_server, kind, **options):
    # requests blocks its thread unless monkey-patched: serve from another one.
    return make_napix_server(threaded=(kind == 'requests'), **options)


@pytest.fixture
def server(kind, make_napix_server):
    return _server(make_napix_server, kind)


def in_parallel(kind, count, function):
    """Run *function* *count* times at once: greenlets, or OS threads for
    requests (whose sockets block their thread when not monkey-patched).
    Returns the results and the elapsed seconds."""
    results = [None] * count

    def run(index):
        try:
            results[index] = function()
        except Exception as error:  # collected, asserted on by the caller
            results[index] = error

    start = time.monotonic()
    if kind == 'requests':
        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    else:
        gevent.joinall([gevent.spawn(run, i) for i in range(count)], timeout=30)
    return results, time.monotonic() - start




# Requests and responses

def test_get_json(kind, server):
    response = connect(kind, server).request('GET', '/vm/7')
    assert response.status == 200
    assert response.reason == 'OK'
    assert response.body == {'id': '7', 'by': 'root'}
    assert response.headers['content-type'] == 'application/json'
    assert response.headers['Content-Type'] == 'application/json'
    assert response.content == b'{"id": "7", "by": "root"}'
    assert repr(response) == '<Response 200 OK>'
    assert response.request.method == 'GET'
    assert str(response.request) == 'GET server.napix.nx/vm/7'


def test_text_response(kind, server):
    response = connect(kind, server).request('GET', '/text')
    assert response.body == 'hello'
    assert response.headers['Content-Type'].startswith('text/plain')


@pytest.mark.parametrize('body, expected, content_type', [
    ({'a': [1, 'é']}, {'a': [1, 'é']}, 'application/json'),
    ([1, 2], [1, 2], 'application/json'),
    ('plain text é', 'plain text é', None),
    (b'raw bytes', 'raw bytes', None),
    (None, None, None),
    ('', None, None),
])
def test_body_encoding(kind, server, body, expected, content_type):
    echo = connect(kind, server).request('POST', '/echo', body).body
    assert echo['method'] == 'POST'
    assert echo['body'] == expected
    assert echo['content_type'] == content_type


def test_explicit_content_type_is_kept(kind, server):
    echo = connect(kind, server).request('PUT', '/echo', {'a': 1},
                                         {'Content-Type': 'application/json; charset=utf-8'})
    assert echo.body['content_type'] == 'application/json; charset=utf-8'
    assert echo.body['body'] == {'a': 1}


@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE', 'PATCH'])
def test_methods(kind, server, method):
    assert connect(kind, server).request(method, '/echo').body['method'] == method


def test_head_has_no_body(kind, server):
    server.route('HEAD', '/vm/{id}', lambda request, id: {'id': id})
    conn = connect(kind, server)
    response = conn.request('HEAD', '/vm/1')
    assert response.status == 200
    assert response.body is None
    assert response.content == b''
    assert conn.request('GET', '/vm/2').body['id'] == '2'


def test_http_error_text(kind, server):
    with pytest.raises(HTTPError) as info:
        connect(kind, server).request('GET', '/vm/missing')
    error = info.value
    assert error.status == 404
    assert error.response.status == 404
    assert error.remote_error == '"404 NOT FOUND" `missing` not found'
    assert error.remote_call == 'GET server.napix.nx/vm/missing'
    assert 'GET server.napix.nx/vm/missing' in str(error)
    assert '`missing` not found' in str(error)


def test_http_error_json_from_exceptions_catcher(kind, server):
    with pytest.raises(HTTPError) as info:
        connect(kind, server).request('GET', '/boom')
    error = info.value
    assert error.status == 500
    assert error.remote_error['error_class'] == 'RuntimeError'
    assert error.remote_error['error_text'] == 'boom'
    assert 'RuntimeError' in str(error)


# Signed paths: napixd checks the path and the query exactly as sent

@pytest.mark.parametrize('url, expected_id, expected_query', [
    ('/vm/café', 'café', {}),
    ('/vm/caf%C3%A9', 'café', {}),
    ('/vm/a b', 'a b', {}),
    ('/vm/a%20b', 'a b', {}),
    ('/vm/%7Eme+you', '~me+you', {}),
    ('/vm/caf%C3%A9?q=%C3%A9&r=a+b', 'café', {'q': ['é'], 'r': ['a b']}),
    ('/vm/café?q=thé', 'café', {'q': ['thé']}),
    ('/vm/x?q=a%2Fb', 'x', {'q': ['a/b']}),
])
def test_signed_paths_accepted(kind, server, url, expected_id, expected_query):
    seen = {}

    def handler(request, id):
        seen['query'] = request.query
        return {'id': id}
    server.route('GET', '/vm/{id}', handler)
    response = connect(kind, server).request('GET', url)
    assert response.body == {'id': expected_id}
    assert seen['query'] == expected_query


def test_escaped_slash_is_signed_as_sent_and_stays_in_its_segment(kind, server):
    # napixd routes on decoded segments: an id may hold an encoded '/'.
    server.route('GET', '/files/{id}', lambda request, id: [id, request.raw_path])
    conn = connect(kind, server)
    assert conn.request('GET', '/files/a%2Fb').body == ['a/b', '/files/a%2Fb']
    assert conn.request('GET', '/files/a%2Fb?x=%2F').body == ['a/b', '/files/a%2Fb']


# Authenticators

@pytest.mark.parametrize('auth', [
    LoginAuthenticator('root', 'toor'),
    NonSecureAuthenticator('root', 'toor'),
    TokenIdentifier('s3cr3t-token'),
    JWTAuthenticator('root', 'toor'),
], ids=['login', 'nonsecure', 'token', 'jwt'])
def test_every_authenticator_accepted(kind, server, auth):
    conn = connect(kind, server, auth=auth)
    assert conn.request('GET', '/vm/7').body == {'id': '7', 'by': 'root'}
    echo = conn.request('GET', '/echo?a=1').body
    assert echo['login'] == 'root'
    assert echo['query']['a'] == ['1']


def test_unsigned_is_401_and_wrong_key_403(kind, server):
    with pytest.raises(HTTPError) as info:
        connect(kind, server, auth=None).request('GET', '/vm/7')
    assert info.value.status == 401
    with pytest.raises(HTTPError) as info:
        connect(kind, server, auth=AnonAuthenticator()).request('GET', '/vm/7')
    assert info.value.status == 401
    with pytest.raises(HTTPError) as info:
        connect(kind, server, auth=LoginAuthenticator('root', 'wrong')).request('GET', '/vm/7')
    assert info.value.status == 403


# Header injection: refused before anything is sent

@pytest.mark.parametrize('method, url, headers', [
    ('GET\r\nX-Evil: 1', '/vm/7', None),
    ('GET', '/vm/7\r\nX-Evil: 1', None),
    ('GET', '/vm/7 HTTP/1.1\nX-Evil: 1', None),
    ('GET', '/vm/7', {'X-Evil\r\nX-More': '1'}),
    ('GET', '/vm/7', {'X-Ok': 'a\r\nX-Evil: 1'}),
    ('GET', '/vm/7', {'X-Ok': 'a\nX-Evil: 1'}),
])
def test_header_injection_refused(kind, server, method, url, headers):
    conn = connect(kind, server)
    with pytest.raises(ValueError):
        conn.request(method, url, headers=headers)
    conn.request('GET', '/vm/1')  # a request that does reach the server
    assert server.requests == [('root', 'GET', '/vm/1')]
    if kind != 'wsgi':
        assert server.connections_opened == 1


# Concurrency

def test_cooperative(kind, make_napix_server):
    if kind == 'requests' and not PATCHED:
        pytest.skip('requests is cooperative under gevent only when monkey-patched')
    server = make_napix_server(max_concurrent=None)  # served by this thread's hub
    conn = connect(kind, server, maxsize=8)
    results, _ = in_parallel('gevent', 8, lambda: conn.request('GET', '/sleep/0.5'))
    assert [r.body for r in results] == [{'slept': 0.5}] * 8
    assert server.max_in_flight == 8  # all at once: one after the other, it would be 1


# Socket behaviours

def test_keep_alive_reuses_one_connection(socket_kind, make_napix_server):
    server = _server(make_napix_server, socket_kind)
    conn = connect(socket_kind, server)
    for index in range(20):
        assert conn.request('GET', '/vm/{0}'.format(index)).body['id'] == str(index)
    assert server.connections_opened == 1
    conn.request('POST', '/echo', {'a': 1})
    assert server.connections_opened == 1


def test_keep_alive_survives_http_errors(socket_kind, make_napix_server):
    server = _server(make_napix_server, socket_kind)
    conn = connect(socket_kind, server)
    for _ in range(3):
        with pytest.raises(HTTPError):
            conn.request('GET', '/vm/missing')
    assert conn.request('GET', '/vm/1').status == 200
    assert server.connections_opened == 1


def test_maxsize_bounds_open_sockets(socket_kind, make_napix_server):
    server = _server(make_napix_server, socket_kind, max_concurrent=None)
    conn = connect(socket_kind, server, maxsize=2)
    results, _ = in_parallel(socket_kind, 6, lambda: conn.request('GET', '/sleep/0.2'))
    assert all(r.status == 200 for r in results), results
    assert server.max_in_flight == 2
    assert server.connections_opened == 2


def test_timeout(socket_kind, make_napix_server):
    server = _server(make_napix_server, socket_kind)
    conn = connect(socket_kind, server, timeout=0.5)
    with pytest.raises(Timeout) as info:
        conn.request('GET', '/sleep/3')
    assert server.in_flight == 1  # given up while the server was still at it
    assert info.value.status is None
    assert info.value.response is None
    assert '127.0.0.1:{0}'.format(server.port) in str(info.value)
    assert info.value.remote_call == 'GET server.napix.nx/sleep/3'


def test_connection_refused(socket_kind):
    port = free_port()
    conn = connect(socket_kind, ('127.0.0.1', port))
    with pytest.raises(ConnectError) as info:
        conn.request('GET', '/vm/1')
    assert info.value.status is None
    assert '127.0.0.1:{0}'.format(port) in str(info.value)
    assert 'refused' in str(info.value)


def test_unresolvable_host(socket_kind):
    conn = connect(socket_kind, ('nonexistent.invalid', 8002), host='nonexistent.invalid:8002')
    with pytest.raises(ConnectError) as info:
        conn.request('GET', '/')
    assert info.value.status is None
    assert 'nonexistent.invalid' in str(info.value)


def test_response_too_large(kind, server):
    server.route('GET', '/big', lambda request: 'x' * 5000)
    conn = connect(kind, server, max_response_size=1000)
    with pytest.raises(ResponseTooLarge) as info:
        conn.request('GET', '/big')
    assert info.value.status is None
    assert '1000' in str(info.value)
    assert conn.request('GET', '/vm/1').status == 200


class RawServer(object):
    """A socket server on 127.0.0.1 answering every connection with
    *answer(data)* bytes (``None``: close without answering)."""

    def __init__(self, answer, threaded):
        self.answer = answer
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        target = threading.Thread if threaded else _GreenletThread
        self.thread = target(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        from gevent import socket as gsocket
        listener = gsocket.socket(fileno=self.listener.detach())
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            sock.recv(65536)
            data = self.answer()
            if data:
                sock.sendall(data)
            sock.close()


class _GreenletThread(object):
    def __init__(self, target, daemon):
        self.target = target

    def start(self):
        gevent.spawn(self.target)


@pytest.mark.parametrize('answer, cause', [
    (lambda: None, 'closed'),
    (lambda: b'this is not HTTP\r\n\r\n', 'invalid'),
    (lambda: b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort', 'closed'),
])
def test_bad_answers_are_remote_protocol_errors(socket_kind, answer, cause):
    raw = RawServer(answer, threaded=(socket_kind == 'requests'))
    conn = connect(socket_kind, ('127.0.0.1', raw.port))
    with pytest.raises(RemoteProtocolError) as info:
        conn.request('POST', '/vm', {'a': 1})
    assert info.value.status is None
    assert 'POST server.napix.nx/vm' in str(info.value)
    assert raw.connections == 1  # a POST is never sent twice


# The same suite in a monkey-patched process

@pytest.mark.skipif(bool(os.environ.get(INNER_ENV)), reason='already the patched run')
def test_suite_passes_monkey_patched():
    code = ('from gevent import monkey; monkey.patch_all(); import pytest, sys; '
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'pytest_timeout', "
            "'-p', 'xdist.plugin', '-n', '0', '-x', 'tests/test_transports.py']))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Only the plugins this module needs: others installed on the machine
    # (anyio's trio backend...) may not import in a patched process.
    env = dict(os.environ, **{INNER_ENV: '1', 'PYTEST_DISABLE_PLUGIN_AUTOLOAD': '1'})
    result = subprocess.run([sys.executable, '-c', code], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ' passed' in result.stdout
    assert 'failed' not in result.stdout
    # In the patched process requests is cooperative: nothing is skipped.
    assert 'skipped' in result.stdout.splitlines()[-1]  # only this very test
    assert '1 skipped' in result.stdout.splitlines()[-1]


# An abandoned request closes its socket before it gives its place back --------------------

def _order_of_close_and_release(abandon):
    """The calls, in order, of a socket's close() and of a budget's
    release() while *abandon* ends a request to a server that never answers
    (observed with a profile hook: nothing of the library is replaced)."""
    from rawserver import RawServer

    from napix.transports.destination import Budget
    from napix.transports.http11 import PlainConnection, SocketConnection

    watched = {SocketConnection.close.__code__: 'close', PlainConnection.close.__code__: 'close',
               Budget.release.__code__: 'release'}
    calls = []

    def profile(frame, event, arg):
        if event == 'call' and frame.f_code in watched:
            calls.append(watched[frame.f_code])

    def handler(conn):
        conn.read_request()
        conn.hold(5)

    with RawServer(handler) as server:
        conn = Connection(server.host, maxsize=1, timeout=(5, 5))
        sys.setprofile(profile)
        try:
            abandon(conn, server)
        finally:
            sys.setprofile(None)
        conn.close()
    return calls


def test_a_timed_out_request_closes_its_socket_before_giving_its_place_back():
    def abandon(conn, server):
        with pytest.raises(Timeout):
            conn.request('GET', '/slow', timeout=(5, 0.2))

    calls = _order_of_close_and_release(abandon)
    assert 'release' in calls and 'close' in calls
    assert calls.index('close') < calls.index('release'), calls


def test_a_killed_request_closes_its_socket_before_giving_its_place_back():
    def abandon(conn, server):
        sender = gevent.spawn(conn.request, 'GET', '/slow')
        while not server.received():  # the request is on the wire, its answer awaited
            gevent.sleep(0.01)
        sender.kill()  # a cancel: GreenletExit in the middle of the exchange
        assert sender.dead

    calls = _order_of_close_and_release(abandon)
    assert 'release' in calls and 'close' in calls
    assert calls.index('close') < calls.index('release'), calls
