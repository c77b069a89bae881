"""HTTP11Connection on its own: no server process, the test writes the
server's bytes on the other end of a connected pair of sockets.

The pair is TCP over loopback rather than ``socket.socketpair()`` (a Unix
socket): the connection sets ``TCP_QUICKACK`` while a response is incomplete,
which a Unix socket refuses, and the transport only ever gives it TCP sockets.
The client end is made as the transport makes it (non-blocking, TCP_NODELAY);
the server end is a gevent socket, so the test's greenlets can write it while
the exchange waits.
"""

import socket
import time

import gevent
import gevent.socket as gsocket
import pytest

from napix.models import Request
from napix.transports.head import LimitExceeded as ResponseTooLarge, Limits
from napix.transports.exchange import Spares
from napix.transports.http11 import HTTP11Connection, InvalidResponse, ServerClosed

pytestmark = pytest.mark.timeout(20)

LIMITS = Limits(1 << 20, 8192, 8192, 100)
OK = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'


def tcp_pair(small_buffers=False):
    """(client end, server end), connected over 127.0.0.1."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if small_buffers:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
    finally:
        listener.close()
    if small_buffers:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setblocking(False)  # as GeventTransport._connect makes it
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, gsocket.socket(fileno=server.detach())


class Ends(object):
    """A connection, the server end of its socket, and the thread's spares."""

    def __init__(self, small_buffers=False):
        client, self.server = tcp_pair(small_buffers)
        self.spares = Spares()
        self.conn = HTTP11Connection(client, self.spares)
        self.greenlets = []

    def new_conn(self):
        """Another connection (and server end) sharing the same spares."""
        other = Ends()
        other.conn.spares = other.spares = self.spares
        return other

    def answer(self, *pieces, pause=0.0, close=False, read=True):
        """Read the request, then send *pieces* (pausing between them), then
        close when *close*: in a greenlet of its own."""
        def serve():
            if read:
                read_request(self.server)
            for piece in pieces:
                if pause:
                    gevent.sleep(pause)
                self.server.sendall(piece)
            if close:
                self.server.close()
        greenlet = gevent.spawn(serve)
        self.greenlets.append(greenlet)
        return greenlet

    def exchange(self, head_only=False, limits=LIMITS, timeout=5.0, payload=None):
        method = 'HEAD' if head_only else 'GET'
        request = Request(method, 'h', 'h', '/x')
        if payload is None:
            payload = '{0} /x HTTP/1.1\r\nHost: h\r\n\r\n'.format(method).encode()
        return self.conn.exchange(request, payload, limits, head_only, timeout)

    def finish(self):
        for greenlet in self.greenlets:
            greenlet.join(timeout=2)
            assert greenlet.ready(), 'the server greenlet did not end'
            greenlet.get()  # its exception, if any
        self.close()

    def close(self):
        gevent.killall(self.greenlets, timeout=2)
        self.conn.close()
        self.server.close()


def read_request(server):
    data = b''
    while b'\r\n\r\n' not in data:
        piece = server.recv(65536)
        if not piece:
            break
        data += piece
    return data


@pytest.fixture
def ends():
    made = Ends()
    yield made
    made.close()


def test_a_content_length_response(ends):
    ends.answer(OK)
    response = ends.exchange()
    assert (response.status, response.reason, response.content) == (200, 'OK', b'hello')
    assert response.content_type() == 'text/plain'
    assert response.headers['content-length'] == '5'
    assert response.request.url == '/x'
    assert response.elapsed > 0
    assert ends.conn.keep_alive is True
    ends.finish()


def test_the_content_type_is_found_with_its_spaces_stripped(ends):
    ends.answer(b'HTTP/1.1 404 Not Found\r\ncontent-type:  application/json; charset=utf-8 '
                b'\r\nContent-Length: 2\r\n\r\n{}')
    response = ends.exchange()
    assert (response.status, response.reason) == (404, 'Not Found')
    assert response.content_type() == 'application/json; charset=utf-8'
    assert response.content == b'{}'
    ends.finish()


@pytest.mark.parametrize('lines, expected', [
    ([b'CONTENT-TYPE:text/plain'], 'text/plain'),
    ([b'Content-Type-Options: nosniff', b'Content-Type: text/plain'], 'text/plain'),
    ([b'Content-Type: text/plain', b'X-Content-Type: image/png'], 'text/plain'),
    ([b'Content-Type: text/plain', b'content-type: charset=latin-1'],
     'text/plain, charset=latin-1'),
    ([b'Content-Typo: text/plain'], ''),
    ([b'Content-Type:'], ''),
])
def test_the_content_type_is_the_headers_own(ends, lines, expected):
    ends.answer(b'HTTP/1.1 200 OK\r\n' + b'\r\n'.join(lines)
                + b'\r\nContent-Length: 2\r\n\r\nab')
    response = ends.exchange()
    assert response.content_type() == expected
    assert response.headers.get('content-type', '') == expected
    ends.finish()


def test_a_chunked_response(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                b'5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
    response = ends.exchange()
    assert response.content == b'hello world'
    assert ends.conn.keep_alive is True
    ends.finish()


def test_informational_responses_are_skipped(ends):
    ends.answer(b'HTTP/1.1 100 Continue\r\n\r\n',
                b'HTTP/1.1 102 Processing\r\nX-Step: 1\r\n\r\n',
                b'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', pause=0.01)
    response = ends.exchange()
    assert (response.status, response.reason, response.content) == (201, 'Created', b'ok')
    assert 'x-step' not in response.headers  # the final head's headers only
    assert ends.conn.keep_alive is True
    ends.finish()


def test_a_101_ends_the_exchange_and_retires_the_socket(ends):
    ends.answer(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
                b'Connection: Upgrade\r\n\r\n')
    response = ends.exchange()
    assert response.status == 101
    assert ends.conn.keep_alive is False
    ends.finish()


def test_a_body_delimited_by_the_close(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n', b'hel', b'lo',
                pause=0.01, close=True)
    response = ends.exchange()
    assert (response.status, response.content) == (200, b'hello')
    assert response.content_type() == 'text/plain'
    assert ends.conn.keep_alive is False
    assert ends.conn.busy is None  # the socket is done: its parser is not kept
    ends.finish()


def test_a_body_delimited_by_the_close_after_a_100(ends):
    ends.answer(b'HTTP/1.1 100 Continue\r\n\r\n', b'HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nhello',
                pause=0.01, close=True)
    response = ends.exchange()
    assert (response.status, response.content) == (200, b'hello')
    assert response.headers['x-a'] == 'b'
    assert ends.conn.keep_alive is False
    ends.finish()


@pytest.mark.parametrize('framing', ['length', 'chunked'])
def test_a_response_sent_one_byte_at_a_time_is_joined_right(ends, framing):
    body = b'0123456789abcdef' * 3
    if framing == 'length':
        data = b'HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n' + body
    else:
        data = (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                b'10\r\n' + body[:16] + b'\r\n20\r\n' + body[16:] + b'\r\n0\r\n\r\n')
    ends.answer(*[data[i:i + 1] for i in range(len(data))], pause=0.001)
    response = ends.exchange()
    assert (response.status, response.content) == (200, body)
    assert ends.conn.keep_alive is True
    ends.finish()


def test_a_head_response_has_no_body_and_keeps_a_socket_framed_by_its_length(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n')
    response = ends.exchange(head_only=True)
    assert (response.status, response.content) == (200, b'')
    assert response.headers['content-length'] == '1234'
    assert ends.conn.keep_alive is True
    assert ends.conn.busy is None  # its parser still expects 1234 bytes: not kept
    assert not ends.conn.readable()
    ends.finish()


def test_a_get_after_a_head_on_the_same_socket():
    ends = Ends()
    try:
        ends.answer(b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n')
        assert ends.exchange(head_only=True).content == b''
        assert ends.conn.keep_alive is True
        ends.answer(OK)
        response = ends.exchange()
        assert (response.status, response.content) == (200, b'hello')
        ends.finish()
    finally:
        ends.close()


def test_a_head_response_without_framing_retires_the_socket(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n')
    response = ends.exchange(head_only=True)
    assert (response.status, response.content) == (200, b'')
    assert ends.conn.keep_alive is False
    ends.finish()


def test_a_head_response_with_bytes_after_its_head_retires_the_socket(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')
    response = ends.exchange(head_only=True)
    assert (response.status, response.content) == (200, b'')
    assert ends.conn.keep_alive is False
    ends.finish()


def test_bytes_after_the_response_retire_the_socket(ends):
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXYZ')
    response = ends.exchange()
    assert (response.status, response.content) == (200, b'ok')
    assert ends.conn.keep_alive is False
    ends.finish()


@pytest.mark.parametrize('head', [b'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2',
                                  b'HTTP/1.0 200 OK\r\nContent-Length: 2'])
def test_a_response_that_says_it_closes_retires_the_socket(ends, head):
    ends.answer(head + b'\r\n\r\nok')
    response = ends.exchange()
    assert (response.status, response.content) == (200, b'ok')
    assert ends.conn.keep_alive is False
    ends.finish()


def test_two_responses_in_a_row_on_one_socket_with_one_parser(ends):
    ends.answer(OK)
    assert ends.exchange().content == b'hello'
    kept = ends.conn.busy
    assert kept is not None
    ends.answer(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbye\r\n0\r\n\r\n')
    response = ends.exchange()
    assert (response.status, response.content) == (200, b'bye')
    assert ends.conn.busy is kept
    ends.finish()


def test_an_answer_before_the_whole_request_is_sent_is_read_and_retires_the_socket():
    ends = Ends(small_buffers=True)
    try:
        # The server does not read the 8 MiB body: it answers at once.
        ends.answer(b'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig',
                    read=False)
        payload = b'POST /x HTTP/1.1\r\nContent-Length: 8388608\r\n\r\n' + b'x' * (8 << 20)
        started = time.monotonic()
        response = ends.exchange(payload=payload, timeout=5.0)
        assert time.monotonic() - started < 2
        assert (response.status, response.content) == (413, b'big')
        assert ends.conn.keep_alive is False  # the rest of the body was never sent
        ends.finish()
    finally:
        ends.close()


@pytest.mark.parametrize('status', [b'600', b'099', b'000'])
def test_a_status_outside_100_599_is_invalid(ends, status):
    ends.answer(b'HTTP/1.1 ' + status + b' Odd\r\nContent-Length: 0\r\n\r\n')
    with pytest.raises(InvalidResponse) as raised:
        ends.exchange()
    assert 'outside 100-599' in str(raised.value)
    ends.finish()


@pytest.mark.parametrize('garbage', [b'garbage\r\n\r\n', b'HTTP/1.1 200 OK\r\nno colon\r\n\r\n',
                                     b'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'])
def test_garbage_is_invalid_and_drops_the_exchange(ends, garbage):
    ends.answer(garbage)
    with pytest.raises(InvalidResponse):
        ends.exchange()
    assert ends.conn.busy is None
    assert ends.spares.free == []
    ends.finish()


def test_the_server_closing_before_answering(ends):
    ends.answer(close=True)
    with pytest.raises(ServerClosed) as raised:
        ends.exchange()
    assert raised.value.received == 0
    assert 'before answering' in str(raised.value)
    assert ends.conn.busy is None
    ends.finish()


def test_the_server_closed_before_the_request_is_sent(ends):
    ends.server.close()
    gevent.sleep(0.01)
    with pytest.raises(ServerClosed) as raised:
        ends.exchange()
    assert raised.value.received == 0  # the request may be sent again on a new socket


def test_the_server_resetting_before_answering(ends):
    def reset():
        read_request(ends.server)
        ends.server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00' * 2)
        ends.server.close()
    ends.greenlets.append(gevent.spawn(reset))
    with pytest.raises(ServerClosed) as raised:
        ends.exchange()
    assert raised.value.received == 0
    ends.finish()


@pytest.mark.parametrize('framing', [b'Content-Length: 10\r\n\r\nabc',
                                     b'Transfer-Encoding: chunked\r\n\r\n5\r\nab',
                                     b'Content-Type: text'])
def test_the_server_closing_in_the_middle_of_the_response(ends, framing):
    sent = b'HTTP/1.1 200 OK\r\n' + framing
    ends.answer(sent, close=True)
    with pytest.raises(ServerClosed) as raised:
        ends.exchange()
    assert raised.value.received == len(sent)
    assert 'in the middle' in str(raised.value)
    assert ends.conn.busy is None
    assert ends.spares.free == []
    ends.finish()


HEADER_300 = b'X-Long: ' + b'v' * 300 + b'\r\n'
TWENTY_FIELDS = b''.join(b'X-F%d: v\r\n' % i for i in range(20))


@pytest.mark.parametrize('data, limits, name', [
    (b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'b' * 1000,
     Limits(500, 8192, 8192, 100), 'max_response_size'),
    (b'HTTP/1.1 200 OK\r\n\r\n' + b'b' * 1000,  # delimited by the close
     Limits(500, 8192, 8192, 100), 'max_response_size'),
    (b'HTTP/1.1 200 OK\r\n' + HEADER_300 + b'Content-Length: 0\r\n\r\n',
     Limits(1 << 20, 200, 8192, 100), 'max_head_size'),
    (b'HTTP/1.1 100 Continue\r\n' + HEADER_300
     + b'\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
     Limits(1 << 20, 200, 8192, 100), 'max_head_size'),
    (b'HTTP/1.1 100 Continue\r\n' + HEADER_300 + b'\r\nHTTP/1.1 200 OK\r\nContent-',
     Limits(1 << 20, 200, 8192, 100), 'max_head_size'),
    (b'HTTP/1.1 200 OK\r\n' + HEADER_300 + b'Content-Length: 0\r\n\r\n',
     Limits(1 << 20, 8192, 100, 100), 'max_header_line'),
    (b'HTTP/1.1 200 OK\r\n' + TWENTY_FIELDS + b'Content-Length: 0\r\n\r\n',
     Limits(1 << 20, 8192, 8192, 10), 'max_header_fields'),
], ids=['response', 'response-by-close', 'head', 'head-of-a-100',
        'head-of-a-100-then-part-of-one', 'line', 'fields'])
def test_a_response_over_a_limit(ends, data, limits, name):
    ends.answer(data)
    with pytest.raises(ResponseTooLarge) as raised:
        ends.exchange(limits=limits)
    assert name in str(raised.value)
    if name == 'max_response_size':  # found in the middle of a response
        assert ends.conn.busy is None
    assert ends.spares.free == []


def test_a_response_at_its_limits_is_accepted(ends):
    head = b'HTTP/1.1 200 OK\r\n' + b''.join(b'X-F%d: v\r\n' % i for i in range(9)) \
        + b'Content-Length: 10\r\n\r\n'
    data = head + b'0123456789'
    # exactly: the response's size, its longest line, its number of fields
    limits = Limits(len(data), 8192, len('Content-Length: 10'), 10)
    ends.answer(data)
    response = ends.exchange(limits=limits)
    assert (response.status, response.content) == (200, b'0123456789')
    ends.finish()


@pytest.mark.parametrize('slack', [0, 1, 2])
def test_a_head_within_max_head_size_is_accepted_however_it_is_cut(slack):
    """The verdict on a head may not depend on how TCP cut its bytes: the
    head accepted when it arrives whole is accepted when it drips."""
    data = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
    head_size = data.index(b'\r\n\r\n')  # as final_head counts it
    limits = Limits(1 << 20, head_size + slack, 8192, 100)
    whole = Ends()
    try:
        whole.answer(data)
        assert whole.exchange(limits=limits).content == b'ok'
        whole.finish()
    finally:
        whole.close()
    dripped = Ends()
    try:
        dripped.answer(*[data[i:i + 1] for i in range(len(data))], pause=0.001)
        assert dripped.exchange(limits=limits).content == b'ok'
        dripped.finish()
    finally:
        dripped.close()


def test_the_timeout_when_nothing_comes(ends):
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        ends.exchange(timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 2
    assert ends.conn.busy is None
    assert ends.spares.free == []


def test_the_timeout_bounds_the_whole_exchange_however_the_bytes_drip(ends):
    ends.answer(*[b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'] + [b'x'] * 100, pause=0.05)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        ends.exchange(timeout=0.4)
    assert 0.35 <= time.monotonic() - started < 2


def test_each_exchange_gets_its_whole_timeout(ends):
    # 21 answers of 0.1 s in a row under a timeout of 2 s: a timer that went
    # on from where the last exchange stopped it would fire by the twentieth.
    # Each answer has 1.9 s to spare: a stalled machine does not make it late
    # (with 0.2 s answers under 0.35 s, it did).
    for _ in range(21):
        ends.answer(OK, pause=0.1)
        assert ends.exchange(timeout=2.0).content == b'hello'
    ends.conn.rest()
    other = ends.new_conn()
    try:
        for _ in range(21):  # on another socket, with the same spare
            other.answer(OK, pause=0.1)
            assert other.exchange(timeout=2.0).content == b'hello'
        # and a spare made for another timeout (10 s) takes this one's (0.2 s):
        # nothing comes, and the exchange does not wait 10 s for it.
        third = ends.new_conn()
        try:
            third.answer(OK)
            assert third.exchange(timeout=10.0).content == b'hello'  # a new spare
            third.conn.rest()
            started = time.monotonic()
            with pytest.raises(socket.timeout):
                ends.exchange(timeout=0.2)
            assert time.monotonic() - started < 5
            third.finish()
        finally:
            third.close()
        ends.finish()
        other.finish()
    finally:
        other.close()


def test_a_clean_exchange_keeps_its_parser_until_rest_gives_it_to_the_spares(ends):
    ends.answer(OK)
    ends.exchange()
    assert ends.conn.busy is not None
    assert ends.spares.free == []
    kept = ends.conn.busy
    ends.conn.rest()
    assert ends.conn.busy is None
    assert ends.spares.free == [kept]
    ends.conn.rest()  # twice: nothing more
    assert len(ends.spares.free) == 1
    ends.finish()


def test_the_next_exchange_on_any_socket_takes_the_spare(ends):
    ends.answer(OK)
    ends.exchange()
    ends.conn.rest()
    spare = ends.spares.free[0]
    other = ends.new_conn()
    try:
        other.answer(b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye')
        response = other.exchange()
        assert (response.status, response.content) == (200, b'bye')
        assert other.conn.busy is spare
        assert ends.spares.free == []
        other.finish()
    finally:
        other.close()
    ends.finish()


def test_a_failed_exchange_does_not_give_its_parser_back(ends):
    ends.answer(OK)
    ends.exchange()
    ends.conn.rest()
    assert len(ends.spares.free) == 1
    ends.answer(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', close=True)
    with pytest.raises(ServerClosed):
        ends.exchange()  # took the spare, in the middle of a response when it failed
    assert ends.conn.busy is None
    ends.conn.rest()
    assert ends.spares.free == []
    ends.finish()


def test_readable_on_an_idle_socket(ends):
    ends.answer(OK)
    ends.exchange()
    assert not ends.conn.readable()
    ends.server.sendall(b'x')
    gevent.sleep(0.01)
    assert ends.conn.readable()


def test_readable_once_the_server_closed(ends):
    assert not ends.conn.readable()
    ends.server.close()
    gevent.sleep(0.01)
    assert ends.conn.readable()
