"""The test server itself (napixd.testing.NapixServer), seen from a plain
blocking socket: no part of the napix library is involved, so these tests hold
whatever the client does.

* Keep-alive requests are answered at once: no ~40 ms stall on the client's
  delayed ACK (head and body in one send, TCP_NODELAY).
* Signatures are checked against the path as sent, still percent-encoded, as
  napixd does; routing decodes each path segment.
"""

import base64
import hashlib
import hmac
import itertools
import json
import socket
import statistics
import time
from urllib.parse import urlencode

import pytest

KEY = b'toor'
_nonces = itertools.count()


class RawClient(object):
    """A minimal HTTP/1.1 client on one blocking socket: requests are sent as
    given, responses read by Content-Length."""

    def __init__(self, host):
        address, _, port = host.partition(':')
        assert address.startswith('127.')
        self.sock = socket.create_connection((address, int(port)), timeout=5)
        self.buffer = b''

    def close(self):
        self.sock.close()

    def exchange(self, method, target, host, headers=()):
        lines = ['{0} {1} HTTP/1.1'.format(method, target), 'Host: ' + host]
        lines.extend('{0}: {1}'.format(name, value) for name, value in headers)
        self.sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1'))
        return self.read_response()

    def _fill(self):
        data = self.sock.recv(65536)
        assert data, 'the server closed the connection'
        self.buffer += data

    def read_response(self):
        for _ in range(1000):
            if b'\r\n\r\n' in self.buffer:
                break
            self._fill()
        head, _, self.buffer = self.buffer.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        status = int(lines[0].split(' ')[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            headers[name.strip().lower()] = value.strip()
        length = int(headers['content-length'])
        for _ in range(1000):
            if len(self.buffer) >= length:
                break
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get('content-type', '').startswith('application/json'):
            body = json.loads(body)
        return status, body


@pytest.fixture
def server(make_napix_server):
    # Served from another OS thread: the raw client blocks this one.
    return make_napix_server(threaded=True)


@pytest.fixture
def client(server):
    client = RawClient(server.host)
    yield client
    client.close()


def signed(host, method, target, login='root', key=KEY):
    """The standard protocol's Authorization header, signing *target* as given."""
    msg = urlencode({'host': host, 'method': method, 'path': target, 'login': login,
                     'nonce': 'n{0}'.format(next(_nonces)), 'timestamp': int(time.time())})
    return ('Authorization', msg + ':' + hmac.new(key, msg.encode(), hashlib.sha256).hexdigest())


def jwt(host, method, target, login='root', key=KEY):
    """A JSON Web Token whose ``sub`` signs *target* as given."""
    def segment(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
    head = segment({'alg': 'HS256', 'typ': 'JWT'})
    payload = segment({'sub': '{0} {1}'.format(method, target), 'iss': login, 'aud': host,
                       'jti': 'j{0}'.format(next(_nonces)), 'exp': int(time.time()) + 60})
    message = head + '.' + payload
    return ('Authorization',
            message + '.' + hmac.new(key, message.encode(), hashlib.sha256).hexdigest())


# Keep-alive speed

def test_keep_alive_requests_are_answered_without_a_delayed_ack_stall(server, client):
    timings = []
    for n in range(12):
        started = time.perf_counter()
        status, body = client.exchange('GET', '/vm/{0}'.format(n), server.host,
                                       [signed(server.host, 'GET', '/vm/{0}'.format(n))])
        timings.append(time.perf_counter() - started)
        assert (status, body) == (200, {'id': str(n), 'by': 'root'})
    assert server.connections_opened == 1
    later = timings[1:]
    print('\nkeep-alive requests 2..12 (ms): median {0:.2f}, max {1:.2f}'.format(
        statistics.median(later) * 1000, max(later) * 1000))
    # A delayed-ACK stall costs ~40 ms per request; a served one takes well under 2 ms.
    # A stalled request waits for the delayed-ACK timer: 40 ms at the least,
    # every one of them. A loaded machine delays some requests by a few ms.
    assert statistics.median(later) < 0.030, later


# Signed paths, as napixd checks them

@pytest.mark.parametrize('auth', [signed, jwt])
def test_a_request_signed_with_the_path_as_sent_is_accepted_and_routed_decoded(
        server, client, auth):
    target = '/vm/caf%C3%A9%20x?q=%C3%A9'
    status, body = client.exchange('GET', target, server.host, [auth(server.host, 'GET', target)])
    assert (status, body) == (200, {'id': 'café x', 'by': 'root'})
    assert server.requests == [('root', 'GET', '/vm/café x')]


@pytest.mark.parametrize('auth', [signed, jwt])
def test_a_request_signed_with_the_decoded_path_is_refused(server, client, auth):
    target = '/vm/caf%C3%A9%20x?q=%C3%A9'
    status, body = client.exchange('GET', target, server.host,
                                   [auth(server.host, 'GET', '/vm/café x?q=%C3%A9')])
    assert status == 403
    assert server.requests == []


def send_signed_as(server, client, target, signed_path, auth=None):
    """Send GET *target*, signed (by *auth*, default the standard protocol)
    for *signed_path*; return ``(status, body)``."""
    auth = auth or signed
    return client.exchange('GET', target, server.host,
                           [auth(server.host, 'GET', signed_path)])


@pytest.mark.parametrize('auth', [signed, jwt])
def test_an_escaped_slash_is_one_segment(server, client, auth):
    assert send_signed_as(server, client, '/vm/a%2Fb', '/vm/a%2Fb', auth) == (
        200, {'id': 'a/b', 'by': 'root'})
    # Signed as decoded, it is another path: refused.
    assert send_signed_as(server, client, '/vm/a%2Fb', '/vm/a/b', auth)[0] == 403


def test_a_handler_sees_the_decoded_and_the_raw_path(server, client):
    target = '/echo?x=%2F'
    status, body = client.exchange('GET', target, server.host,
                                   [signed(server.host, 'GET', target)])
    assert status == 200 and body['path'] == '/echo' and body['raw_path'] == '/echo'
    server.route('GET', '/raw/{name}', lambda request, name: [request.path, request.raw_path])
    target = '/raw/caf%C3%A9%20x%2F1'
    status, body = client.exchange('GET', target, server.host,
                                   [signed(server.host, 'GET', target)])
    assert (status, body) == (200, ['/raw/café x/1', '/raw/caf%C3%A9%20x%2F1'])


def test_an_empty_query_is_not_part_of_the_signed_path(server, client):
    assert send_signed_as(server, client, '/vm/1?', '/vm/1') == (
        200, {'id': '1', 'by': 'root'})
    assert send_signed_as(server, client, '/vm/1?', '/vm/1?')[0] == 403


def test_a_wrong_key_is_still_refused(server, client):
    status, _ = client.exchange('GET', '/vm/1', server.host,
                                [signed(server.host, 'GET', '/vm/1', key=b'wrong')])
    assert status == 403
    status, _ = client.exchange('GET', '/vm/1', server.host)
    assert status == 401


def test_a_route_registered_later_overrides_an_earlier_one(server, client):
    server.route('GET', '/vm/{id}', lambda request, id: {'override': id})
    status, body = client.exchange('GET', '/vm/a%2Fb', server.host,
                                   [signed(server.host, 'GET', '/vm/a%2Fb')])
    assert (status, body) == (200, {'override': 'a/b'})
    status, body = client.exchange('GET', '/text', server.host,
                                   [signed(server.host, 'GET', '/text')])
    assert (status, body) == (200, b'hello')


def test_a_placeholder_is_a_name_in_braces_anything_else_is_literal(server, client):
    """The route syntax docs/testing.rst tells: ``{name}`` matches a segment or
    a part of one; ``<name>`` (another framework's syntax) is literal."""
    server.route('GET', '/disk/{id}.json', lambda request, id: {'disk': id})
    server.route('GET', '/host/<name>', lambda request: {'literal': True})

    def get(path):
        return client.exchange('GET', path, server.host, [signed(server.host, 'GET', path)])

    assert get('/disk/sda.json') == (200, {'disk': 'sda'})
    assert get('/disk/sda')[0] == 404
    assert get('/host/xen1')[0] == 404
    assert get('/host/<name>') == (200, {'literal': True})
