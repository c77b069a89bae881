"""One HTTP/1.1 connection: a socket, the parser of its responses, a timer.

:class:`HTTP11Connection` sends one request and reads its response at a
time, keeping HTTP/1.1's rules as h11, httpcore and urllib3 do:

* informational responses (``1xx`` other than ``101``) are skipped;
* a status outside 100-599 is a protocol error;
* bytes after the announced response end the exchange and retire the socket;
* an answer that arrives while the body is still being sent is read and
  returned (a ``413`` after the head of a large upload), and the socket retired;
* a ``HEAD`` response has no body, and keeps its socket when its framing
  (``Content-Length``) says where the next response starts;
* an idle socket is reused only if it is clean: no end of file, no stray bytes.

It is cooperative under gevent without monkey patching: a plain non-blocking
socket waited on through the hub's watchers (cheaper than a gevent socket's
``recv`` that fails with ``EAGAIN`` first).
"""

from __future__ import annotations

import errno
import os
import select
import socket
from sys import intern
from time import perf_counter
from typing import Any, List, Tuple

from gevent import get_hub, getcurrent
from gevent.monkey import get_original
from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

__all__ = ['HTTP11Connection', 'TLSConnection', 'Spares', 'ServerClosed', 'ResponseTooLarge',
           'InvalidResponse', 'TimedOut']

_RECV_SIZE = 65536
# Linux: acknowledge at once while a response is incomplete, so that a server
# that writes head and body in two sends without TCP_NODELAY (gevent's pywsgi,
# napixd's server) is not held back ~40 ms by our delayed ACK.
_QUICKACK = getattr(socket, 'TCP_QUICKACK', None)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)
# The system's poll, even in a monkey-patched process: a check that never waits.
_poll = get_original('select', 'poll')


class ServerClosed(Exception):
    """The server closed or reset the socket; *received* is how many response
    bytes came first (0 means the request may not have been read at all)."""

    def __init__(self, received: int, cause: str) -> None:
        Exception.__init__(self, cause)
        self.received = received


class ResponseTooLarge(Exception):
    """The response is larger than the exchange's limit."""


class InvalidResponse(Exception):
    """The bytes received are not a valid HTTP/1.1 response."""


class TimedOut(Exception):
    """Thrown into the greenlet by an exchange's timer."""


_NO_CHUNKS: List[bytes] = []  # never appended to: no exchange is in progress


class _TrailingData(Exception):
    """The server sent more than the response it announced."""


class _Exchange(object):
    """The parser's callback protocol: the state of the response being read,
    with the timer that bounds the exchange.

    An exchange is only needed while a request is in flight: idle sockets
    keep none, and the exchanges of a thread's finished requests wait in its
    :class:`Spares` for the next request, whatever its socket. It refers to
    its parser only during an exchange (``parser`` is cleared after it), so
    the two form no reference cycle.
    """

    __slots__ = ('parser', 'status', 'chunks', 'complete', 'keep_alive', 'headers_done',
                 'head_only', 'informational', 'timer', 'timer_after')
    chunks: List[bytes]
    complete: bool
    keep_alive: bool
    headers_done: bool
    head_only: bool
    informational: bool

    def __init__(self) -> None:
        self.parser: Any = None
        self.status = 0
        self.timer: Any = None
        self.timer_after = 0.0

    def close(self) -> None:
        if self.timer is not None:
            self.timer.close()

    # The status line and headers are not taken from callbacks (one Python
    # call per header): the head is read from the bytes once complete.
    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.informational = True
            return
        self.status = status
        self.headers_done = True
        if self.head_only or status == 101:
            self.complete = True
            self.keep_alive = status != 101 and parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.chunks.append(data)

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the response: stop, never reuse the socket
            raise _TrailingData()

    def on_message_complete(self) -> None:
        if self.informational:  # a 1xx: the real response follows
            self.informational = False
            return
        if not self.complete:
            self.complete = True
            # Read it here: once feed_data() returns, the parser has reset.
            self.keep_alive = self.parser.should_keep_alive()


# The most spare exchanges a thread keeps (a pool has at most 1000 requests
# in flight by default).
_MAX_SPARES = 1024


class Spares(object):
    """The exchanges (a parser, its callback state and a timer) that a
    thread's finished requests left, for the next ones: made again for each
    request, they would cost a parser and a timer; kept by each socket, they
    would make every idle socket hold them (a fan-out to many hosts keeps
    thousands of idle sockets). A parser is kept only when it ended a response
    cleanly, ready for the next one.

    They belong to one hub (their timers are on its loop): the thread's
    :class:`~napix.transports.sockets.SocketPool` keeps them.
    """

    __slots__ = ('hub', 'free')

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.free: List[Tuple[Any, _Exchange]] = []  # (parser, state) pairs

    @staticmethod
    def make() -> Tuple[Any, _Exchange]:
        """A new exchange, ``(parser, state)``, for when ``free`` has none."""
        state = _Exchange()
        return HttpResponseParser(state), state


class HTTP11Connection(object):
    """One socket to a server, read through the hub's watchers; each
    exchange takes a parser and a timer, bounding it to its read timeout,
    from the thread's :class:`Spares`."""

    __slots__ = ('sock', 'hub', 'reader', 'either', 'expires', 'spares', 'poller',
                 'keep_alive', '__weakref__')

    def __init__(self, sock: Any, spares: Spares) -> None:
        self.sock = sock
        self.hub = hub = get_hub()
        self.reader = hub.loop.io(sock.fileno(), 1)
        self.either = None  # made on the first partial send
        self.expires = 0.0  # when idle: the monotonic time after which it is retired
        self.spares = spares  # the thread's: its hub is this one
        self.poller = None  # made on the first reuse
        self.keep_alive = False

    # Socket I/O
    def _send(self, payload: bytes) -> bool:
        """Send *payload*; False when the server answered before all was sent."""
        sock = self.sock
        try:
            sent = sock.send(payload)
        except BlockingIOError:
            sent = 0
        if sent == len(payload):
            return True
        view = memoryview(payload)
        if self.either is None:
            self.either = self.hub.loop.io(sock.fileno(), 3)
        while sent < len(payload):
            self.hub.wait(self.either)
            if self.readable():
                return False
            try:
                sent += sock.send(view[sent:])
            except BlockingIOError:
                pass
        return True

    def readable(self) -> bool:
        """True when the server closed the socket or sent something (one
        ``poll``, which takes descriptors of any number): an idle socket is
        reused only when this is False."""
        poller = self.poller
        if poller is None:
            poller = self.poller = _poll()
            poller.register(self.sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def _recv(self) -> bytes:
        while True:
            self.hub.wait(self.reader)
            try:
                data: bytes = self.sock.recv(_RECV_SIZE)
                return data
            except BlockingIOError:
                pass

    def connect(self, address: Tuple[Any, ...], timeout: float) -> None:
        """Connect the (non-blocking, unconnected) socket to *address* within
        *timeout* seconds; :exc:`socket.timeout` or :exc:`OSError` when it cannot."""
        sock = self.sock
        error = sock.connect_ex(address)
        if error in _IN_PROGRESS and self._connected_already():
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        elif error in _IN_PROGRESS:
            loop = self.hub.loop
            timer = loop.timer(timeout)
            writer = loop.io(sock.fileno(), 2)
            timer.start(getcurrent().throw, TimedOut, update=True)
            try:
                self.hub.wait(writer)
            except TimedOut:
                raise socket.timeout() from None
            finally:
                timer.close()
                writer.close()
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))  # ConnectionRefusedError...

    def _connected_already(self) -> bool:
        """True when a connect in progress has already ended, in success or
        failure (a local server's handshake ends within ``connect()``): then
        no timer and no round through the hub are needed. The ``poll``
        object stays, watching for input, for :meth:`readable`."""
        poller = self.poller = _poll()
        fileno = self.sock.fileno()
        poller.register(fileno, select.POLLOUT)
        ended = bool(poller.poll(0))
        poller.modify(fileno, select.POLLIN)
        return ended

    def exchange(self, payload: bytes, limit: int, head_only: bool,
                 timeout: float) -> Tuple[int, str, str, bytes, float]:
        """Send *payload* and read one response within *timeout* seconds.

        Return ``(status, reason, head, body, elapsed)``: *head* the final
        response head as text (status line and headers), *elapsed* the
        seconds from the first byte sent to the last byte received.
        ``keep_alive`` then says whether the socket may carry another request.
        """
        chunks: List[bytes]  # an annotation only: no code on this path
        free = self.spares.free
        if free:
            parser, state = free.pop()
        else:
            parser, state = self.spares.make()
        state.status = 0
        state.chunks = chunks = []
        state.complete = state.keep_alive = state.headers_done = state.informational = False
        state.head_only = head_only
        state.parser = parser
        received: List[bytes] = []  # until the end of the final head
        size = 0
        timer = state.timer
        if timer is None or state.timer_after != timeout:
            if timer is not None:
                timer.close()
            # Repeating, and started with again(): a libev timer stopped
            # early keeps only the time it had left, and start() would go on
            # from there; again() counts the whole timeout anew each time.
            timer = state.timer = self.hub.loop.timer(timeout, timeout)
            state.timer_after = timeout
        timer.again(getcurrent().throw, TimedOut, update=True)
        started = perf_counter()
        ended = False
        try:
            try:
                sent_all = self._send(payload)
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                sent_all = False  # the server may still have answered: read it
            while not state.complete:
                try:
                    data = self._recv()
                except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as error:
                    raise ServerClosed(size, 'the connection was reset ({0})'.format(
                        error.strerror or type(error).__name__)) from None
                if not data:
                    if state.headers_done and _delimited_by_close(received):
                        state.complete = True
                        break
                    raise ServerClosed(size, 'the server closed the connection '
                                       + ('before answering' if not size
                                          else 'in the middle of the response'))
                size += len(data)
                if size > limit:
                    raise ResponseTooLarge()
                if not state.headers_done:
                    received.append(data)
                try:
                    parser.feed_data(data)
                except HttpParserUpgrade:
                    pass  # a 101: complete, never reused
                except HttpParserError as error:
                    if not state.complete:
                        raise InvalidResponse(str(error)) from None
                    state.keep_alive = False  # _TrailingData: bytes after the response
                if not state.complete and _QUICKACK is not None:
                    self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            ended = True
        except TimedOut:
            raise socket.timeout() from None
        finally:
            timer.stop()
            state.parser = None
            state.chunks = _NO_CHUNKS  # the body is the response's, not the spare's
            if not ended:
                state.close()  # the parser is in the middle of a response
        elapsed = perf_counter() - started
        status = state.status
        keep_alive = state.keep_alive and sent_all
        if keep_alive and not head_only and len(free) < _MAX_SPARES:
            # A parser that ended a response cleanly is ready for the next one
            # (a HEAD response's still expects the body it announced).
            free.append((parser, state))
        else:
            state.close()
        if not 100 <= status <= 599:
            raise InvalidResponse('status {0} is outside 100-599'.format(status))
        head, reason, extra = _final_head(received)
        if head_only:
            keep_alive = keep_alive and not extra  # bytes after the head: framing unknown
            body = b''
        else:
            body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
        self.keep_alive = keep_alive
        return status, reason, head, body, elapsed

    def close(self) -> None:
        self.reader.close()
        if self.either is not None:
            self.either.close()
        self.sock.close()


class TLSConnection(HTTP11Connection):
    """An :class:`HTTP11Connection` over a gevent ``SSLSocket`` (which waits by itself)."""

    __slots__ = ()

    def _send(self, payload: bytes) -> bool:
        self.sock.sendall(payload)
        return True

    def _recv(self) -> bytes:
        data: bytes = self.sock.recv(_RECV_SIZE)
        return data

    def readable(self) -> bool:
        return bool(self.sock.pending()) or HTTP11Connection.readable(self)


def _final_head(received: List[bytes]) -> Tuple[str, str, bool]:
    """The last response head in *received* (the 1xx heads before it
    skipped) as text, its reason phrase, and whether bytes follow it."""
    data = received[0] if len(received) == 1 else b''.join(received)
    start = 0
    end = data.find(b'\r\n\r\n')
    while data[start + 9:start + 10] == b'1' and data[start + 9:start + 12] != b'101' \
            and end + 4 < len(data):
        start = end + 4
        end = data.find(b'\r\n\r\n', start)
    if end < 0:
        end = len(data)
    head = data[start:end].decode('latin-1')
    line_end = head.find('\r\n')
    parts = (head[:line_end] if line_end >= 0 else head).split(' ', 2)
    # Interned: a pool's 100,000 responses share one 'OK'.
    return head, intern(parts[2]) if len(parts) > 2 else '', end + 4 < len(data)


def _delimited_by_close(received: List[bytes]) -> bool:
    """True when the response has neither Content-Length nor chunked
    framing: its body ends where the connection does."""
    head = _final_head(received)[0].lower()
    return '\r\ncontent-length:' not in head and 'chunked' not in head
