"""No delayed-ACK stall against Napix servers.

napixd serves through gevent's pywsgi, which writes a response's head and
body in two sends without ``TCP_NODELAY``: the second send waits (Nagle) for
the ACK of the first, which a client delays ~40 ms. The client acknowledges
at once while a response is incomplete (``TCP_QUICKACK`` on Linux), so
sequential keep-alive requests to such a server take well under a
millisecond, not 40 ms.
"""

import socket
import statistics
import time

import pytest
from gevent.pywsgi import WSGIServer

from napix.connection import Connection


def app(environ, start_response):
    # No Content-Length: pywsgi sends the head, then the body in a second send.
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [b'{"ok": true}']


@pytest.fixture
def plain_pywsgi():
    server = WSGIServer(('127.0.0.1', 0), app, log=None, error_log=None)
    server.start()
    yield server
    server.stop()


@pytest.mark.skipif(not hasattr(socket, 'TCP_QUICKACK'), reason='TCP_QUICKACK is Linux only')
def test_sequential_keep_alive_requests_do_not_stall(plain_pywsgi):
    conn = Connection('127.0.0.1:{0}'.format(plain_pywsgi.server_port))
    times = []
    for _ in range(12):
        start = time.perf_counter()
        assert conn.request('GET', '/').body == {'ok': True}
        times.append(time.perf_counter() - start)
    # A stalled request waits for the delayed-ACK timer: 40 ms at the least,
    # every one of them; ~0.5 ms here when not. The bound leaves room for a
    # loaded machine (four test workers on two cores) and still fails on the stall.
    assert statistics.median(times[1:]) < 0.030, ['{0:.1f} ms'.format(t * 1e3) for t in times]
