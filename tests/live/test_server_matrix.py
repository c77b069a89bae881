"""The client against real HTTP servers that no one here wrote.

Each family of server (waitress, gunicorn, uvicorn with httptools and with
h11, hypercorn, cheroot, tornado, aiohttp, the standard library's wsgiref
on http.server, HTTP/1.0) runs in a subprocess of its own on 127.0.0.1,
with a keep-alive timeout of about a second, and serves the same
application (written below: one WSGI app, one ASGI app and small adapters
over one routing function). Through one :class:`~napix.connection.Connection`
per server, a mixed workload (GET, HEAD, POST with JSON, a chunked
response, a 1 MiB response, a 204, a 404) must give the right answers;
then again after sleeping past the servers' keep-alive timeouts, when they
have closed the sockets the client kept (a raw probe socket checks that
they did).

The servers are started once for the module, all at once, and their
process groups are killed at its end. Run as a script
(``python tests/live/test_server_matrix.py FAMILY PORT``), this file is the
server.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qs

import pytest
from rawserver import free_port

KEEP_ALIVE = 1  # the servers' keep-alive (idle) timeout, in seconds
# Past every server's keep-alive: waitress checks its idle sockets every
# second, so it closes them between 1 and 2 s.
IDLE_SLEEP = 2.8
BIG = bytes(range(256)) * 4096  # 1 MiB
CHUNKS = [b'[1,', b' 2,', b' 3]']
FAMILY = os.environ.get('NAPIX_MATRIX_FAMILY', '?')


# The application --------------------------------------------------------------

def route(method, path, query, body):
    """What the application answers: ``(status, reason, headers, chunks)``.
    More than one chunk means: stream them, without a Content-Length."""
    if path == '/echo':
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = body.decode('latin-1')
        payload = json.dumps({'method': method, 'path': path, 'query': parse_qs(query),
                              'body': decoded, 'server': FAMILY}).encode('utf-8')
        return 200, 'OK', [('Content-Type', 'application/json')], [payload]
    if path == '/chunked':
        return 200, 'OK', [('Content-Type', 'application/json')], list(CHUNKS)
    if path == '/big':
        return 200, 'OK', [('Content-Type', 'application/octet-stream')], [BIG]
    if path == '/empty':
        return 204, 'No Content', [], []
    payload = json.dumps({'error': 'not found', 'path': path}).encode('utf-8')
    return 404, 'Not Found', [('Content-Type', 'application/json')], [payload]


def _framed(method, headers, chunks):
    """*headers* with a Content-Length for a single-chunk answer; the chunks
    to send (none for a HEAD, which still says the length of a GET's body)."""
    headers = list(headers)
    if len(chunks) == 1:
        headers.append(('Content-Length', str(len(chunks[0]))))
    return headers, ([] if method == 'HEAD' else chunks)


def wsgi_app(environ, start_response):
    """The application, as WSGI."""
    length = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(length) if length else b''
    method = environ['REQUEST_METHOD']
    status, reason, headers, chunks = route(method, environ.get('PATH_INFO', ''),
                                            environ.get('QUERY_STRING', ''), body)
    headers, chunks = _framed(method, headers, chunks)
    start_response('{0} {1}'.format(status, reason), headers)
    return iter(chunks)  # an iterator: WSGI servers cannot guess its length


async def asgi_app(scope, receive, send):
    """The application, as ASGI (HTTP only)."""
    if scope['type'] != 'http':
        return
    body = b''
    while True:
        message = await receive()
        body += message.get('body', b'')
        if not message.get('more_body'):
            break
    method = scope['method']
    status, _, headers, chunks = route(method, scope['path'],
                                       scope['query_string'].decode('latin-1'), body)
    headers, chunks = _framed(method, headers, chunks)
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(k.lower().encode(), v.encode()) for k, v in headers]})
    for chunk in chunks:
        await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
    await send({'type': 'http.response.body', 'body': b''})


def aiohttp_app():
    """The application, as an aiohttp one."""
    from aiohttp import web

    async def handle(request):
        body = await request.read()
        status, reason, headers, chunks = route(request.method, request.path,
                                                request.query_string, body)
        response = web.StreamResponse(status=status, reason=reason)
        for name, value in headers:
            response.headers[name] = value
        if len(chunks) > 1:
            response.enable_chunked_encoding()
        elif chunks:
            response.content_length = len(chunks[0])
        await response.prepare(request)
        if request.method != 'HEAD':
            for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route('*', '/{tail:.*}', handle)
    return app


# The servers (run as a script) ------------------------------------------------

def serve(family, port):
    """Serve the application with *family* on 127.0.0.1:*port*, forever."""
    host = '127.0.0.1'
    if family == 'waitress':
        import waitress
        waitress.serve(wsgi_app, host=host, port=port, threads=4, channel_timeout=KEEP_ALIVE,
                       cleanup_interval=1, _quiet=True)
    elif family == 'gunicorn':
        from gunicorn.app.base import BaseApplication

        class Gunicorn(BaseApplication):
            def load_config(self):
                settings = {'bind': '{0}:{1}'.format(host, port), 'workers': 1,
                            'worker_class': 'gthread', 'threads': 4,
                            'keepalive': KEEP_ALIVE, 'loglevel': 'warning'}
                for key, value in settings.items():
                    self.cfg.set(key, value)

            def load(self):
                return wsgi_app

        Gunicorn().run()
    elif family in ('uvicorn-httptools', 'uvicorn-h11'):
        import uvicorn
        uvicorn.run(asgi_app, host=host, port=port, http=family.split('-')[1],
                    timeout_keep_alive=KEEP_ALIVE, lifespan='off', log_level='warning')
    elif family == 'hypercorn':
        import asyncio

        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config
        config = Config()
        config.bind = ['{0}:{1}'.format(host, port)]
        config.keep_alive_timeout = KEEP_ALIVE
        config.loglevel = 'WARNING'
        asyncio.run(hypercorn_serve(asgi_app, config))
    elif family == 'cheroot':
        from cheroot.wsgi import Server
        Server((host, port), wsgi_app, numthreads=4, timeout=KEEP_ALIVE).safe_start()
    elif family == 'tornado':
        import asyncio

        import tornado.httpserver
        import tornado.wsgi

        async def main():
            server = tornado.httpserver.HTTPServer(tornado.wsgi.WSGIContainer(wsgi_app),
                                                   idle_connection_timeout=KEEP_ALIVE)
            server.listen(port, host)
            await asyncio.Event().wait()

        asyncio.run(main())
    elif family == 'aiohttp':
        from aiohttp import web
        web.run_app(aiohttp_app(), host=host, port=port, keepalive_timeout=KEEP_ALIVE,
                    print=None, access_log=None)
    elif family == 'wsgiref-http1.0':
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        class Threading(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        make_server(host, port, wsgi_app, server_class=Threading,
                    handler_class=Quiet).serve_forever()
    else:
        raise SystemExit('unknown family {0!r}'.format(family))


FAMILIES = ['waitress', 'gunicorn', 'uvicorn-httptools', 'uvicorn-h11', 'hypercorn', 'cheroot',
            'tornado', 'aiohttp', 'wsgiref-http1.0']


# One worker runs this module: its servers are started once (a module fixture).
pytestmark = pytest.mark.xdist_group('server-matrix')


# The fixtures -------------------------------------------------------------------



_HANDED_OUT = set()  # two families on one port (some bind with SO_REUSEPORT) would share it


def _port_below_ephemeral_range():
    for _ in range(100):
        port = random.randrange(20000, 32000)
        if port in _HANDED_OUT:
            continue
        _HANDED_OUT.add(port)
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
        return port
    return free_port()


class ServerProcess(object):
    """One server family in a subprocess (a process group of its own)."""

    def __init__(self, family, logdir):
        self.family = family
        self.error = None
        self.log_path = os.path.join(logdir, family + '.log')
        self.tries = 0
        self.spawn()

    def spawn(self):
        """Start the server on a free port below the ephemeral range, where no
        other test's socket can be given the port in the meantime."""
        self.tries += 1
        self.port = _port_below_ephemeral_range()
        # The script imports tests/rawserver.py, and the library of this tree.
        tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.pathsep.join([tests, os.path.dirname(tests), os.environ.get('PYTHONPATH', '')])
        env = dict(os.environ, NAPIX_MATRIX_FAMILY=self.family, PYTHONPATH=path,
                   NAPIX_MATRIX_PARENT=str(os.getpid()), PYTHONUNBUFFERED='1')
        with open(self.log_path, 'wb') as log:
            self.process = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), self.family, str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)

    @property
    def host(self):
        return '127.0.0.1:{0}'.format(self.port)

    def log(self):
        with open(self.log_path, 'rb') as log:
            return log.read()[-2000:].decode('utf-8', 'replace')

    def wait_ready(self, deadline):
        """Wait until the port accepts connections; AssertionError with the
        server's log when it died or *deadline* (monotonic) passed."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if 'already in use' in self.log() and self.tries < 3:
                    self.spawn()  # another process took the port first
                    continue
                break
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError('{0} did not start on port {1}:\n{2}'.format(
            self.family, self.port, self.log()))

    def kill(self):
        """End the process group: SIGTERM, then SIGKILL if it lingers."""
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # the group may still hold workers of the leader (gunicorn's)
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break


@pytest.fixture(scope='module')
def servers():
    """Every family started at once; ``{family: ServerProcess}``. A server
    that did not start has its reason in ``error`` (its tests fail with it)."""
    started = {}
    with tempfile.TemporaryDirectory(prefix='napix-matrix-') as logdir:
        try:
            for family in FAMILIES:
                started[family] = ServerProcess(family, logdir)
            deadline = time.monotonic() + 30
            for server in started.values():
                try:
                    server.wait_ready(deadline)
                except AssertionError as error:
                    server.error = str(error)
            yield started
        finally:
            for server in started.values():
                server.kill()


def _ready(servers, family):
    if servers[family].error:
        pytest.fail(servers[family].error)


@pytest.fixture(scope='module')
def connections(servers):
    """One Connection per family, kept for the whole module (its idle sockets too)."""
    from napix.connection import Connection
    opened = {family: Connection(server.host, None, timeout=(3.0, 10.0))
              for family, server in servers.items()}
    yield opened
    for connection in opened.values():
        connection.close()


def _probe(server):
    """A raw socket that made one keep-alive request and read its answer's
    head; None when that failed."""
    try:
        sock = socket.create_connection(('127.0.0.1', server.port), timeout=3)
    except OSError:
        return None
    try:
        sock.sendall(b'GET /echo HTTP/1.1\r\nHost: probe\r\n\r\n')
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        sock.close()
        return None
    return sock


def _closed_by_server(sock):
    """True when the server closed *sock* (EOF or reset, after any leftover bytes)."""
    if sock is None:
        return False
    sock.settimeout(0.5)
    try:
        for _ in range(100):
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()
    return False


@pytest.fixture(scope='module')
def after_keep_alive(servers, connections):
    """Sleep, once for all families, past the servers' keep-alive timeout,
    every connection having an idle socket; ``{family: server closed the probe}``."""
    from napix.exceptions import HTTPError
    probes = {family: _probe(server) for family, server in servers.items()
              if not server.error}
    for family, connection in connections.items():
        if servers[family].error:
            continue
        try:
            connection.request('GET', '/echo')  # at least one idle socket
        except HTTPError:
            pass  # the workload tests report it
    time.sleep(IDLE_SLEEP)
    return {family: _closed_by_server(sock) for family, sock in probes.items()}


# The workload -----------------------------------------------------------------

def workload(connection, family):
    """GET, HEAD, POST with JSON, a chunked answer, 1 MiB, a 204 and a 404."""
    from napix.exceptions import HTTPError, TransportError

    got = connection.request('GET', '/echo?x=1&y=%C3%A9')
    assert got.status == 200
    assert got.body == {'method': 'GET', 'path': '/echo', 'query': {'x': ['1'], 'y': ['é']},
                        'body': None, 'server': family}

    head = connection.request('HEAD', '/echo')
    assert head.status == 200 and head.content == b'' and head.body is None
    assert 'json' in head.headers['content-type']

    document = {'name': 'vm1', 'tags': ['a', 'é'], 'size': 3}
    posted = connection.request('POST', '/echo', document)
    assert posted.status == 200
    assert posted.body['method'] == 'POST' and posted.body['body'] == document

    chunked = connection.request('GET', '/chunked')
    assert chunked.status == 200 and chunked.body == [1, 2, 3]

    big = connection.request('GET', '/big')
    assert big.status == 200 and len(big.content) == len(BIG) and big.content == BIG

    empty = connection.request('GET', '/empty')
    assert empty.status == 204 and empty.content == b'' and empty.body is None

    with pytest.raises(HTTPError) as caught:
        connection.request('GET', '/missing')
    assert not isinstance(caught.value, TransportError), repr(caught.value)
    assert caught.value.status == 404
    assert caught.value.body == {'error': 'not found', 'path': '/missing'}

    again = connection.request('GET', '/echo')  # the socket is still in step after a 404
    assert again.status == 200 and again.body['server'] == family


@pytest.mark.parametrize('family', FAMILIES)
def test_a_mixed_workload(servers, connections, family):
    _ready(servers, family)
    workload(connections[family], family)


@pytest.mark.parametrize('family', FAMILIES)
def test_the_workload_again_after_the_server_closed_its_idle_sockets(servers, connections,
                                                                      after_keep_alive, family):
    _ready(servers, family)
    assert after_keep_alive[family], (
        '{0} did not close an idle socket within {1} s: this test proves nothing'.format(
            family, IDLE_SLEEP))
    workload(connections[family], family)


def _exit_with_parent(parent):
    """End this server when the test process that started it is gone, even
    killed without a chance to stop it."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == '__main__':
    _exit_with_parent(int(os.environ.get('NAPIX_MATRIX_PARENT', os.getppid())))
    serve(sys.argv[1], int(sys.argv[2]))
