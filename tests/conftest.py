"""Shared fixtures: real Napix test servers on 127.0.0.1.

* ``napix_server``: a started :class:`napixd.testing.NapixServer` (users
  ``{'root': 'toor'}``, token ``'s3cr3t-token'`` for ``root``, napixd's
  default limit of 2 concurrent requests per client) with these routes:

  - ``GET /`` -> ``['/vm']``
  - ``GET /vm/{id}`` -> ``{'id': id, 'by': login}``; ``404 `<id>` not found`` when id is ``missing``
  - ``GET|POST|PUT|DELETE|PATCH /echo`` -> what the server received: ``method``,
    ``path`` (decoded), ``raw_path`` (as sent), ``query`` (dict of lists), ``body``
    (decoded), ``content_type``, ``login``
  - ``GET /text`` -> ``'hello'`` as ``text/plain``
  - ``GET /sleep/{seconds}`` -> sleeps, then ``{'slept': seconds}``
  - ``GET /boom`` -> raises ``RuntimeError('boom')`` (a 500 from ExceptionsCatcher)

* ``make_napix_server(threaded=False, **options)``: a factory of more started
  servers with the same routes and any :class:`NapixServer` option
  (``max_concurrent=None``, ``delay=0.5``...); all are stopped at the end of
  the test. ``threaded=True`` serves from another OS thread with its own
  gevent hub: needed by clients that block the calling thread (the
  ``requests`` transport in a process that is not monkey-patched).

* ``no_gc``: the cyclic garbage collector off for the test.
* ``tmux``: a tmux server of the test's own (``tests/test_cli_terminal.py``'s ``Tmux``).
* ``--soak`` (or ``NAPIX_SOAK=1``): the long soak of ``tests/live/test_soak.py``.
"""

import gc
import os
import socket
import sys
import threading
import time

import gevent
import pytest

from handmade import Clock, Peers
from napixd.faults import FaultServer
from napixd.testing import NapixServer, Reply

USERS = {'root': 'toor'}

# The command-line tests start a Python per test: let them (and pytest's
# rewritten test modules) reuse compiled bytecode even where the environment
# asks not to write it, or each start compiles napix again.
os.environ.pop('PYTHONDONTWRITEBYTECODE', None)
sys.dont_write_bytecode = False


def pytest_addoption(parser):
    parser.addoption('--soak', action='store_true', default=False,
                     help='run the long soak of tests/live/test_soak.py (100,000 requests, ~30 s); '
                          'NAPIX_SOAK=1 in the environment does the same')
TOKENS = {'s3cr3t-token': 'root'}


def add_routes(server):
    """Register the standard routes (see the module docstring) on *server*."""

    @server.route('GET', '/')
    def index(request):
        return ['/vm']

    @server.route('GET', '/vm/{id}')
    def get_vm(request, id):
        if id == 'missing':
            raise Reply(404, '`{0}` not found'.format(id))
        return {'id': id, 'by': request.login}

    def echo(request):
        return {
            'method': request.method,
            'path': request.path,
            'raw_path': request.raw_path,
            'query': request.query,
            'body': request.body,
            'content_type': request.environ.get('CONTENT_TYPE') or None,
            'login': request.login,
        }

    for method in ('GET', 'POST', 'PUT', 'DELETE', 'PATCH'):
        server.route(method, '/echo', echo)

    @server.route('GET', '/text')
    def text(request):
        return 'hello'

    @server.route('GET', '/sleep/{seconds}')
    def sleep(request, seconds):
        # At least that long by the clock the client reads: the hub's timers
        # count from its cached time, which may lag, and fire early by as much.
        until = time.perf_counter() + float(seconds)
        while time.perf_counter() < until:
            gevent.sleep(until - time.perf_counter())
        return {'slept': float(seconds)}

    @server.route('GET', '/boom')
    def boom(request):
        raise RuntimeError('boom')

    return server


class _ServerThread(threading.Thread):
    """Runs *server* in a thread of its own (its own gevent hub) until stop()."""

    def __init__(self, server):
        threading.Thread.__init__(self, daemon=True)
        self.server = server
        self.ready = threading.Event()
        self.stopping = False

    def run(self):
        self.server.start()
        self.ready.set()
        while not self.stopping:
            gevent.sleep(0.02)
        self.server.stop()

    def stop(self):
        self.stopping = True
        self.join(5)


@pytest.fixture
def make_napix_server():
    stoppers = []

    def make(threaded=False, **options):
        options.setdefault('users', USERS)
        options.setdefault('tokens', TOKENS)
        server = add_routes(NapixServer(**options))
        if threaded:
            thread = _ServerThread(server)
            thread.start()
            assert thread.ready.wait(5), 'the threaded test server did not start'
            stoppers.append(thread.stop)
        else:
            stoppers.append(server.start().stop)
        return server

    yield make
    for stop in stoppers:
        stop()


@pytest.fixture
def napix_server(make_napix_server):
    return make_napix_server()


@pytest.fixture
def fault_server():
    """``fault_server(mode='ok', **options)`` starts a :class:`napixd.faults.FaultServer`
    (dripping a byte every 0.3 s unless told otherwise), stopped after the test."""
    servers = []

    def make(mode='ok', **options):
        options.setdefault('drip_interval', 0.3)
        server = FaultServer(mode, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def refused_host():
    """``'127.0.0.1:<port>'`` that refuses connections (bound, not listening)."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    yield '127.0.0.1:{0}'.format(sock.getsockname()[1])
    sock.close()


@pytest.fixture
def no_gc():
    """The cyclic garbage collector off for the test: what is freed is freed
    by reference counting."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def tmux(tmp_path):
    """A tmux server of the test's own, to run the command as a terminal shows it."""
    from test_cli import user_env
    from test_cli_terminal import Tmux
    env = dict(user_env(tmp_path), TERM='xterm-256color')
    env.pop('TMUX', None)
    session = Tmux(env, str(tmp_path / 'tmux.sock'))
    yield session
    session.close()


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    """Files of a throwaway trustme CA: ca.pem; server.pem (certificate and
    key, for ``server.napix.nx`` and ``127.0.0.1``); client.pem (a client
    certificate and its key), client.crt and client.key (apart); other.pem
    (a client certificate of another CA)."""
    import trustme
    root = tmp_path_factory.mktemp('pki')
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / 'ca.pem'))
    ca.issue_cert('server.napix.nx', '127.0.0.1').private_key_and_cert_chain_pem \
        .write_to_path(str(root / 'server.pem'))
    client = ca.issue_cert('client@napix.nx')
    client.private_key_and_cert_chain_pem.write_to_path(str(root / 'client.pem'))
    client.cert_chain_pems[0].write_to_path(str(root / 'client.crt'))
    client.private_key_pem.write_to_path(str(root / 'client.key'))
    trustme.CA().issue_cert('intruder@napix.nx').private_key_and_cert_chain_pem \
        .write_to_path(str(root / 'other.pem'))
    return root


@pytest.fixture
def clock():
    """A clock that moves only when the test says (``clock.advance(seconds)``)."""
    return Clock()


@pytest.fixture
def peers():
    """Connections made as the transport makes them, the other end of each kept."""
    made = Peers()
    yield made
    made.close()
