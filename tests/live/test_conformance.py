"""HTTP/1.1 conformance of the default transport, one rule at a time.

Each test runs a :class:`rawserver.RawServer` on the loopback that answers
exactly the bytes the rule is about, sends requests through a public
:class:`~napix.connection.Connection`, and asserts what the user sees (the
response, or the exception) and, where the rule is about the wire, the
bytes the server received and how many sockets the client opened.

The server answers ``/r/<id>`` with ``{"id": "<id>"}`` and an
``X-Request-Id: <id>`` header, so every response can be matched to the
request it answers.
"""

import json
import socket
import threading
import time

import pytest
from rawserver import RawServer, ipv6_loopback, response

from napix.connection import Connection
from napix.exceptions import HTTPError, RemoteProtocolError, TransportError

TIMEOUT = (2.0, 3.0)


def answer(request, headers=(), version='HTTP/1.1'):
    """The usual answer to *request*: its id in the body and a header (for a
    HEAD, the same head without the body)."""
    request_id = request.target.rpartition('/')[2]
    body = json.dumps({'id': request_id}).encode('utf-8')
    data = response(200, body, [('X-Request-Id', request_id)] + list(headers), reason='OK',
                    version=version)
    if request.method == 'HEAD':
        data = data[:data.index(b'\r\n\r\n') + 4]
    return data


def echo_handler(conn):
    """Answer every request of the connection with :func:`answer`."""
    for request in conn.each_request():
        conn.send(answer(request))


def assert_own(response_, request_id):
    """*response_* answers the request ``/r/<request_id>``."""
    assert response_.status == 200, response_
    assert response_.body == {'id': request_id}, response_.body
    assert response_.headers['x-request-id'] == request_id


@pytest.fixture
def raw_server():
    """``raw_server(handler, family=AF_INET)``: a started RawServer, stopped after the test."""
    servers = []

    def make(handler, family=socket.AF_INET):
        server = RawServer(handler, family=family).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def connect(server, **options):
    options.setdefault('timeout', TIMEOUT)
    return Connection(server.host, None, **options)


# 1xx informational responses ----------------------------------------------

INFORMATIONAL = {
    # name: the parts of the answer, each sent as its own packet ({final} is the real answer)
    '100-then-final-later': [b'HTTP/1.1 100 Continue\r\n\r\n', '{final}'],
    '103-and-final-in-one-packet': [
        b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n{final}'],
    '100-103-final-in-three-packets': [
        b'HTTP/1.1 100 Continue\r\n\r\n',
        b'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n', '{final}'],
    '102-split-in-its-middle': [b'HTTP/1.1 102 Proce', b'ssing\r\n\r\n', '{final}'],
}


@pytest.mark.parametrize('name', sorted(INFORMATIONAL))
def test_informational_responses_are_skipped_and_the_socket_stays_in_step(raw_server, name):
    parts = INFORMATIONAL[name]

    def handler(conn):
        for request in conn.each_request():
            final = answer(request)
            conn.send_parts([final if part == '{final}'
                             else part.replace(b'{final}', final) for part in parts],
                            pause=0.05)

    server = raw_server(handler)
    connection = connect(server)
    for request_id in ('first', 'second', 'third'):
        assert_own(connection.request('GET', '/r/' + request_id), request_id)
    assert len(server.connections) == 1, 'the socket was not kept after a 1xx'


def test_a_100_continue_before_the_answer_to_a_post(raw_server):
    def handler(conn):
        for request in conn.each_request():
            conn.send_parts([b'HTTP/1.1 100 Continue\r\n\r\n', answer(request)], pause=0.05)

    server = raw_server(handler)
    connection = connect(server)
    assert_own(connection.request('POST', '/r/p1', {'a': 1}), 'p1')
    assert_own(connection.request('POST', '/r/p2', {'a': 2}), 'p2')
    assert [r.body for r in server.requests] == [b'{"a":1}', b'{"a":2}']


# Idle sockets are checked before every reuse ----------------------------------

def wait_until(condition, timeout=10.0, what='the condition'):
    """Poll *condition* until it is true; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, '{0} did not happen within {1:g} s'.format(
            what, timeout)
        time.sleep(0.01)


def stray_handler(stray, delay):
    """Answer normally; after the first answer of the first connection, send
    *stray* bytes *delay* seconds later (0: in the same packet). The
    handler's ``stray_sent`` is set once they are sent."""
    stray_sent = threading.Event()

    def handler(conn):
        first = True
        for request in conn.each_request():
            data = answer(request)
            if first and conn.index == 0 and not delay:
                conn.send(data + stray)
                stray_sent.set()
            else:
                conn.send(data)
                if first and conn.index == 0:
                    time.sleep(delay)
                    conn.send(stray)
                    stray_sent.set()
            first = False

    handler.stray_sent = stray_sent
    return handler


def wait_for_stray(handler):
    """Wait until the stray bytes are sent (then they are on the client's
    idle socket: on the loopback, a send is delivered as it returns)."""
    assert handler.stray_sent.wait(10), 'the server did not send its stray bytes'


@pytest.mark.parametrize('method', ['GET', 'POST', 'HEAD', 'PUT', 'DELETE'])
def test_an_idle_socket_with_extra_bytes_is_retired_before_any_reuse(raw_server, method):
    # A few bytes more than its Content-Length, a moment after the response.
    handler = stray_handler(b'oops\r\n', delay=0.05)
    server = raw_server(handler)
    connection = connect(server)
    assert_own(connection.request('GET', '/r/one'), 'one')
    wait_for_stray(handler)
    body = {'x': 1} if method in ('POST', 'PUT') else None
    second = connection.request(method, '/r/two', body)
    assert second.status == 200
    if method != 'HEAD':
        assert_own(second, 'two')
    assert second.headers['x-request-id'] == 'two'
    assert len(server.connections) == 2, 'the dirty socket was reused'
    assert len(server.connections[1].requests) == 1


@pytest.mark.parametrize('delay', [0, 0.05], ids=['same-packet', 'a-moment-later'])
@pytest.mark.parametrize('method', ['GET', 'POST'])
def test_stray_bytes_after_a_response_never_leak_into_the_next_answer(raw_server, delay,
                                                                     method):
    # The stray bytes look like a whole response: reading them as the next
    # request's answer would return another request's data.
    stale = response(200, b'{"id": "stale"}', [('X-Request-Id', 'stale')], reason='OK')
    handler = stray_handler(stale, delay)
    server = raw_server(handler)
    connection = connect(server)
    assert_own(connection.request('GET', '/r/one'), 'one')
    wait_for_stray(handler)
    body = {'x': 1} if method == 'POST' else None
    assert_own(connection.request(method, '/r/two', body), 'two')
    assert_own(connection.request('GET', '/r/three'), 'three')


def test_a_socket_the_server_closed_while_idle_is_replaced(raw_server):
    def handler(conn):
        request = conn.read_request()
        if request is not None:
            conn.send(answer(request, [('Connection', 'keep-alive')]))
            time.sleep(0.05)
            conn.close()  # as a keep-alive timeout would, without a word

    def closed(count):
        return lambda: len(server.connections) >= count and server.connections[-1].closed

    server = raw_server(handler)
    connection = connect(server)
    assert_own(connection.request('GET', '/r/one'), 'one')
    wait_until(closed(1), what='the server closing the first socket')
    assert_own(connection.request('POST', '/r/two', {'a': 1}), 'two')
    wait_until(closed(2), what='the server closing the second socket')
    assert_own(connection.request('GET', '/r/three'), 'three')
    assert len(server.connections) == 3


# Idle sockets are retired after an idle time ----------------------------------

def silent_after(idle):
    """Answer requests, but ignore (never answer, never close) a socket
    once it stayed idle for *idle* seconds: a server or middlebox that
    forgot the connection without a FIN."""

    def handler(conn):
        last = None
        for request in conn.each_request():
            if last is not None and time.monotonic() - last >= idle:
                conn.wait_closed(15)
                return
            conn.send(answer(request))
            last = time.monotonic()

    return handler


def test_idle_sockets_are_retired_after_the_configured_idle_time(raw_server):
    server = raw_server(silent_after(1.0))
    connection = connect(server, idle_timeout=0.5)
    assert_own(connection.request('GET', '/r/one'), 'one')
    assert_own(connection.request('GET', '/r/two'), 'two')  # reused while fresh
    assert len(server.connections) == 1
    time.sleep(1.3)
    # A POST is never sent twice: it must go straight to a fresh socket.
    assert_own(connection.request('POST', '/r/three', {'a': 1}), 'three')
    assert len(server.connections) == 2


def test_by_default_idle_sockets_are_retired_before_common_keep_alive_timeouts(raw_server):
    # 5 s is the keep-alive timeout of Apache, uvicorn, hypercorn and Node:
    # by default a socket idle that long is not reused.
    server = raw_server(silent_after(5.0))
    connection = connect(server)
    assert_own(connection.request('GET', '/r/one'), 'one')
    time.sleep(5.2)
    assert_own(connection.request('GET', '/r/two'), 'two')
    assert len(server.connections) == 2


# Framing headers are the transport's --------------------------------------------

FRAMING = {
    'host': {'Host': 'evil.example'},
    'content-length': {'Content-Length': '3'},
    'content-length-lower': {'content-length': '99'},
    'transfer-encoding': {'Transfer-Encoding': 'chunked'},
    'connection': {'Connection': 'keep-alive, X-Smuggled'},
    'connection-upper': {'CONNECTION': 'close'},
    'all-at-once': {'Content-Length': '3', 'Host': 'evil', 'Transfer-Encoding': 'chunked'},
}


def head_only_handler(conn):
    """Record each request's head, answer 200 and close (the body, if any, unread)."""
    request = conn.read_head()
    if request is not None:
        conn.send(response(200, b'{}', [('Connection', 'close')], reason='OK'))
        conn.wait_closed(2)


@pytest.mark.parametrize('name', sorted(FRAMING))
def test_framing_headers_from_the_user_are_refused_or_replaced_never_doubled(raw_server, name):
    headers = FRAMING[name]
    server = raw_server(head_only_handler)
    connection = connect(server)
    body = b'hello'
    try:
        connection.request('POST', '/framing', body, headers=headers)
    except ValueError as error:
        assert any(header.lower() in str(error).lower() for header in headers), str(error)
        time.sleep(0.2)
        assert server.received() == b'', 'refused, but after sending'
        return
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.values('host') == [server.host], request.head
    assert request.values('content-length') == [str(len(body))], request.head
    assert request.values('transfer-encoding') == [], request.head
    sent_connection = request.values('connection')
    assert len(sent_connection) <= 1, request.head
    user_connection = [v for k, v in headers.items() if k.lower() == 'connection']
    if user_connection:
        assert sent_connection != user_connection, 'the user\'s Connection header went out'


@pytest.mark.parametrize('name', ['content-type', 'CONTENT-TYPE', 'Content-type'])
def test_a_user_content_type_replaces_the_json_default_whatever_its_case(raw_server, name):
    server = raw_server(echo_handler)
    connection = connect(server)
    assert_own(connection.request('POST', '/r/ct', {'a': 1},
                                  headers={name: 'application/vnd.napix+json'}), 'ct')
    request = server.requests[0]
    assert request.values('content-type') == ['application/vnd.napix+json'], request.head
    assert request.body == b'{"a":1}'


@pytest.mark.parametrize('name, value', [('accept', 'text/plain'), ('USER-AGENT', 'probe/1')])
def test_a_user_header_replaces_a_default_one_whatever_its_case(raw_server, name, value):
    server = raw_server(echo_handler)
    assert_own(connect(server).request('GET', '/r/h', headers={name: value}), 'h')
    assert server.requests[0].values(name) == [value], server.requests[0].head


# Statuses and error bodies ----------------------------------------------------

@pytest.mark.parametrize('status_line', [b'HTTP/1.1 000 OK', b'HTTP/1.1 600 X',
                                         b'HTTP/1.1 099 Low', b'HTTP/1.1 999 High'])
def test_a_status_outside_100_to_599_is_a_protocol_error(raw_server, status_line):
    def handler(conn):
        while conn.read_request() is not None:
            conn.send(status_line + b'\r\nContent-Type: application/json\r\n'
                      b'Content-Length: 2\r\n\r\n{}')

    server = raw_server(handler)
    connection = connect(server)
    with pytest.raises(RemoteProtocolError) as caught:
        connection.request('GET', '/r/x')
    assert caught.value.status is None
    assert str(caught.value).startswith('GET {0}/r/x failed: '.format(server.host))


HTML = b'<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>'


@pytest.mark.parametrize('ctype', ['application/json', 'application/json; charset=utf-8'])
def test_an_error_status_survives_a_body_that_is_not_what_it_says(raw_server, ctype):
    def handler(conn):
        while conn.read_request() is not None:
            conn.send(response(502, HTML, content_type=ctype, reason='Bad Gateway'))

    server = raw_server(handler)
    connection = connect(server)
    with pytest.raises(HTTPError) as caught:
        connection.request('GET', '/r/x')
    error = caught.value
    assert not isinstance(error, TransportError), repr(error)
    assert error.status == 502
    assert error.body == HTML.decode('ascii')
    assert '502' in str(error)


def test_a_success_with_an_undecodable_json_body_is_still_a_protocol_error(raw_server):
    # The counterpart: a 200 whose JSON is broken is no usable answer.
    def handler(conn):
        while conn.read_request() is not None:
            conn.send(response(200, HTML, reason='OK'))

    server = raw_server(handler)
    with pytest.raises(RemoteProtocolError):
        connect(server).request('GET', '/r/x')


# An answer that comes while the body is still being sent ------------------------

BIG = 20 * 1024 * 1024


@pytest.mark.parametrize('then', ['close', 'stop-reading'])
def test_an_early_answer_to_a_large_upload_is_returned(raw_server, then):
    def handler(conn):
        request = conn.read_head()
        if request is None:
            return
        conn.send(response(413, b'{"error": "too large"}', [('Connection', 'close')],
                           reason='Payload Too Large'))
        if then == 'close':
            conn.close()  # unread bytes: the client's socket gets a reset
        else:
            conn.hold(6)  # never reads the body, closes late

    server = raw_server(handler)
    connection = connect(server)
    started = time.monotonic()
    with pytest.raises(HTTPError) as caught:
        connection.request('POST', '/upload', b'x' * BIG)
    assert not isinstance(caught.value, TransportError), repr(caught.value)
    assert caught.value.status == 413
    assert caught.value.body == {'error': 'too large'}
    assert time.monotonic() - started < TIMEOUT[1]


# HEAD keeps its socket ------------------------------------------------------------

def test_a_head_with_a_content_length_keeps_its_socket(raw_server):
    def handler(conn):
        for request in conn.each_request():
            conn.send(answer(request))  # for a HEAD: Content-Length, no body

    server = raw_server(handler)
    connection = connect(server)
    head = connection.request('HEAD', '/r/h1')
    assert head.status == 200 and head.content == b''
    assert head.headers['x-request-id'] == 'h1'
    assert_own(connection.request('GET', '/r/g1'), 'g1')
    assert connection.request('HEAD', '/r/h2').headers['x-request-id'] == 'h2'
    assert_own(connection.request('POST', '/r/p1', {'a': 1}), 'p1')
    assert len(server.connections) == 1, 'HEAD closed its socket'


# Parsers are shared by the sockets of a thread ---------------------------------------

UNCLEAN_ENDS = {
    # name: (what the first server sends, the method, the error expected or None)
    'timeout-in-the-body': (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id"', 'GET',
                            TransportError),
    'closed-in-the-body': (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id"', 'GET',
                           RemoteProtocolError),
    'head-announcing-a-body': (b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n'
                               b'Content-Type: application/json\r\n\r\n', 'HEAD', None),
    'garbage': (b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nBad Header\r\n\r\n', 'GET',
                RemoteProtocolError),
}


@pytest.mark.parametrize('name', sorted(UNCLEAN_ENDS))
def test_a_parser_left_in_the_middle_of_a_response_is_never_used_again(raw_server, name):
    # An exchange takes its parser from the thread's spares: one that did
    # not end a response cleanly would read the next server's answer as
    # the rest of this one.
    sent, method, error = UNCLEAN_ENDS[name]

    def unclean(conn):
        if conn.read_request() is not None:
            conn.send(sent)
            if name.startswith('timeout'):
                conn.hold(2)

    first, second = raw_server(unclean), raw_server(echo_handler)
    bad = connect(first, timeout=(2.0, 0.3))
    if error is None:
        assert bad.request(method, '/r/bad').status == 200
    else:
        with pytest.raises(error):
            bad.request(method, '/r/bad')
    good = connect(second)
    assert_own(good.request('GET', '/r/one'), 'one')
    assert_own(good.request('GET', '/r/two'), 'two')


# IPv6 literals ----------------------------------------------------------------------

needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason='no IPv6 loopback (::1) here')


@needs_ipv6
@pytest.mark.parametrize('form', ['[::1]:{port}', 'http://[::1]:{port}'])
def test_an_ipv6_literal_host(raw_server, form):
    server = raw_server(echo_handler, family=socket.AF_INET6)
    connection = Connection(form.format(port=server.port), None, timeout=TIMEOUT)
    assert_own(connection.request('GET', '/r/v6'), 'v6')
    assert server.requests[0].values('host') == ['[::1]:{0}'.format(server.port)]


@needs_ipv6
@pytest.mark.parametrize('key, target, host', [
    ('api.example.test', '::1', 'api.example.test:{port}'),
    ('api.example.test:{port}', '::1', 'api.example.test:{port}'),
    ('api.example.test', '[::1]', 'api.example.test:{port}'),
    ('api.example.test', '[::1]:{port}', 'api.example.test'),
    ('api.example.test', '[::1]:{port}', 'api.example.test:8080'),
])
def test_an_ipv6_address_in_resolve(raw_server, key, target, host):
    server = raw_server(echo_handler, family=socket.AF_INET6)
    port = server.port
    connection = Connection(host.format(port=port), None, timeout=TIMEOUT,
                            resolve={key.format(port=port): target.format(port=port)})
    assert_own(connection.request('GET', '/r/v6'), 'v6')
    assert server.requests[0].values('host') == [host.format(port=port)]


# Percent signs and fragments in urls ------------------------------------------------

@pytest.mark.parametrize('url, sent', [
    ('/a%zz', '/a%25zz'),
    ('/50%', '/50%25'),
    ('/%', '/%25'),
    ('/a%4', '/a%254'),
    ('/a#b', '/a%23b'),
    ('/vm/x?q=50%&r=%41#frag', '/vm/x?q=50%25&r=%41%23frag'),
    ('/ok%2Fx%41%e9', '/ok%2Fx%41%e9'),
    ('/caf%C3%A9?a=%20', '/caf%C3%A9?a=%20'),
])
def test_a_percent_that_is_no_escape_and_a_hash_are_encoded(raw_server, url, sent):
    server = raw_server(echo_handler)
    connection = connect(server)
    assert connection.request('GET', url).status == 200
    assert server.requests[0].target == sent
