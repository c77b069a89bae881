"""HTTPS against a local gevent server whose certificate a trustme CA issued.

The server runs NapixServer's application (signature checks included) on
127.0.0.1 behind TLS, in a thread of its own so that the blocking
``requests`` transport can reach it without monkey patching. Clients connect
as ``https://server.napix.nx`` routed to 127.0.0.1: the certificate is
checked for that name, as it would be in production.
"""

import json
import socket
import ssl
import threading
import time

import gevent
import gevent.ssl as gssl
import pytest
import requests
import trustme

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection
from napix.exceptions import ConnectError
from napix.transports.requests import RequestsTransport
from napixd._pywsgi import NapixWSGIServer
from napixd.testing import NapixServer

AUTH = LoginAuthenticator('root', 'toor')


class TLSServer(threading.Thread):
    """NapixServer's application over HTTPS on 127.0.0.1, served by another thread."""

    def __init__(self, cert):
        threading.Thread.__init__(self, daemon=True)
        self.napix = NapixServer(users={'root': 'toor'}, max_concurrent=None)
        self.napix.route('GET', '/vm/{id}', lambda request, id: {'id': id, 'by': request.login})
        self.napix.route('GET', '/sleep/{seconds}',
                         lambda request, seconds: gevent.sleep(float(seconds)) or 'slept')
        # gevent's SSLContext: its sockets wait cooperatively in the server's hub
        # (gevent.ssl.create_default_context() is the standard library's).
        self.context = gssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.context)
        self.ready = threading.Event()
        self.stopping = False
        self.requests = 0

    def run(self):
        # Its failed handshakes (the refused certificates) print no traceback.
        server = NapixWSGIServer(('127.0.0.1', 0), self._app, ssl_context=self.context,
                                 log=None, error_log=None)
        server.start()
        self.port = server.server_port
        self.ready.set()
        while not self.stopping:
            gevent.sleep(0.02)
        server.stop(timeout=1)

    def _app(self, environ, start_response):
        self.requests += 1
        return self.napix.application(environ, start_response)

    def stop(self):
        self.stopping = True
        self.join(5)


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


@pytest.fixture(scope='module')
def ca_bundle(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp('tls') / 'ca.pem'
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _serve(cert):
    server = TLSServer(cert)
    server.start()
    assert server.ready.wait(5)
    return server


@pytest.fixture(scope='module')
def tls_server(ca):
    server = _serve(ca.issue_cert('server.napix.nx'))
    yield server
    server.stop()


@pytest.fixture(scope='module')
def wrong_name_server(ca):
    server = _serve(ca.issue_cert('other.napix.nx'))
    yield server
    server.stop()


def _session():
    session = requests.Session()
    session.trust_env = False  # never through an environment proxy
    return session


def connect(kind, server, verify=True):
    host = 'https://server.napix.nx'
    if kind == 'gevent':
        return Connection(host, AUTH, verify=verify, timeout=5,
                          resolve={'server.napix.nx': '127.0.0.1:{0}'.format(server.port)})
    transport = RequestsTransport('https', 'server.napix.nx', 443, address='127.0.0.1',
                                  connect_port=server.port, timeout=(5, 5), verify=verify,
                                  session=_session())
    return Connection(host, AUTH, transport=transport)


@pytest.fixture(params=['gevent', 'requests'])
def kind(request):
    return request.param


def test_verified_with_the_ca_bundle(kind, tls_server, ca_bundle):
    conn = connect(kind, tls_server, verify=ca_bundle)
    response = conn.request('GET', '/vm/7')
    assert response.body == {'id': '7', 'by': 'root'}  # signed for host server.napix.nx
    assert str(response.request) == 'GET server.napix.nx/vm/7'
    assert conn.request('GET', '/vm/8').status == 200


def test_default_verification_refuses_an_unknown_ca(kind, tls_server):
    before = tls_server.requests
    with pytest.raises(ConnectError) as info:
        connect(kind, tls_server).request('GET', '/vm/7')
    error = info.value
    assert error.status is None
    assert 'TLS' in str(error)
    assert '127.0.0.1:{0}'.format(tls_server.port) in str(error)
    assert 'certificate' in str(error).lower()
    assert tls_server.requests == before  # nothing was sent in clear


def test_verification_off_must_be_explicit(kind, tls_server):
    response = connect(kind, tls_server, verify=False).request('GET', '/vm/7')
    assert response.body == {'id': '7', 'by': 'root'}


def test_certificate_for_another_name_is_refused(kind, wrong_name_server, ca_bundle):
    with pytest.raises(ConnectError) as info:
        connect(kind, wrong_name_server, verify=ca_bundle).request('GET', '/vm/7')
    assert info.value.status is None
    assert 'TLS' in str(info.value)
    assert wrong_name_server.requests == 0


def test_https_is_cooperative_without_monkey_patching(tls_server, ca_bundle):
    conn = connect('gevent', tls_server, verify=ca_bundle)
    conn.transport.close()
    tls_server.napix.reset_counters()
    jobs = [gevent.spawn(conn.request, 'GET', '/sleep/0.5') for _ in range(8)]
    gevent.joinall(jobs, timeout=10)
    assert [job.value.body for job in jobs] == ['slept'] * 8
    # All at once (one after the other, it would be 1), whatever the machine's speed.
    assert tls_server.napix.max_in_flight == 8


def test_bad_verify_value_is_refused():
    with pytest.raises(TypeError, match='CA bundle'):
        Connection('https://server.napix.nx', AUTH, verify=1)
    with pytest.raises(ValueError, match='CA bundle'):
        RequestsTransport('https', 'server.napix.nx', 443, verify=1)


def test_an_idle_tls_socket_with_stray_bytes_is_not_reused(ca, ca_bundle):
    # The server answers, then sends bytes nobody asked for on the idle
    # socket: the next request must go out on a new connection, its answer its own.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert('server.napix.nx').configure_cert(context)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    accepted = []
    stray_sent = threading.Event()

    def serve():
        while len(accepted) < 2:
            raw, _ = listener.accept()
            conn = context.wrap_socket(raw, server_side=True)
            accepted.append(conn)
            head = b''
            while b'\r\n\r\n' not in head:
                head += conn.recv(4096)
            body = json.dumps({'n': len(accepted)}).encode()
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                         b'Content-Length: %d\r\n\r\n%s' % (len(body), body))
            if len(accepted) == 1:
                time.sleep(0.05)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"n": "no"}')
                stray_sent.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        connection = Connection('https://server.napix.nx', AUTH, verify=ca_bundle, timeout=5,
                                resolve={'server.napix.nx': '127.0.0.1:{0}'.format(
                                    listener.getsockname()[1])})
        assert connection.request('GET', '/one').body == {'n': 1}
        assert stray_sent.wait(5)
        time.sleep(0.05)  # the stray bytes reach the client's idle socket
        assert connection.request('GET', '/two').body == {'n': 2}
        assert len(accepted) == 2
    finally:
        server.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
