"""One HTTP/1.1 connection: a socket, the parser of its responses, a timer.

:class:`SocketConnection` sends one request and reads its response at a
time, in four phases named after what they do (:meth:`~SocketConnection.exchange`:
send; read until the head is complete; read until the response is; build the
response), keeping HTTP/1.1's rules as h11, httpcore and urllib3 do:

* informational responses (``1xx`` other than ``101``) are skipped;
* a status outside 100-599 is a protocol error;
* bytes after the announced response end the exchange and retire the socket;
* an answer that arrives while the body is still being sent is read and
  returned (a ``413`` after the head of a large upload), and the socket retired;
* a ``HEAD`` response has no body, and keeps its socket when its framing
  (``Content-Length``) says where the next response starts;
* a body without ``Content-Length`` or chunked framing (read from the parsed
  header values) ends where the connection does;
* an idle socket is reused only if it is clean: no end of file, no stray bytes.

What a server may send is bounded (:class:`~napix.transports.head.Limits`):
the whole response, the response head, one header line, the number of header
fields. A body is joined as it arrives, so a response costs about its size in
memory, however it is cut.

Two kinds of socket, each with its own send and receive, cooperative under
gevent without monkey patching: :class:`PlainConnection`, a plain
non-blocking socket waited on through the hub's watchers (cheaper than a
gevent socket's ``recv`` that fails with ``EAGAIN`` first), and
:class:`TLSConnection`, over a gevent ``SSLSocket`` (which waits by itself).
"""

from __future__ import annotations

import errno
import os
import select
import socket
from abc import ABC, abstractmethod
from functools import partial
from time import perf_counter
from typing import Any, Callable, Optional, Tuple, Union

from gevent import get_hub, getcurrent
from gevent.monkey import get_original
from httptools import HttpParserError, HttpParserUpgrade

from napix.models import Request, Response, new_response
from napix.timings import Marks
from napix.transports.exchange import (AWAITING_HEAD, COMPLETE, Exchange, InvalidResponse,
                                       Spares, TimedOut, new_exchange)
from napix.transports.head import (LimitExceeded, Limits, bytes_after_head, check_heads,
                                   delimited_by_close, final_head,
                                   response_too_large)

__all__ = ['SocketConnection', 'PlainConnection', 'TLSConnection', 'HTTP11Connection',
           'Limits', 'LimitExceeded', 'ServerClosed', 'InvalidResponse', 'TimedOut']

_RECV_SIZE = 65536
# libev's event masks, for the hub's io watchers (EV_READ, EV_WRITE).
READ = 1
WRITE = 2
# Linux: acknowledge at once (SocketConnection._acknowledge_at_once).
_QUICKACK = getattr(socket, 'TCP_QUICKACK', None)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)
_CLOSED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_read = os.read
_write = os.write
# The system's poll, even in a monkey-patched process: a check that never waits.
_poll = get_original('select', 'poll')


class ServerClosed(Exception):
    """The server closed or reset the socket; *received* is how many response
    bytes came first (0 means the request may not have been read at all)."""

    def __init__(self, received: int, cause: str) -> None:
        Exception.__init__(self, cause)
        self.received = received


class SocketConnection(ABC):
    """One socket to a server, one exchange at a time; each exchange takes a
    parser and a timer, bounding it to its read timeout, from the thread's
    :class:`~napix.transports.exchange.Spares`. Its kinds of socket say how
    bytes are sent and received (:class:`PlainConnection`,
    :class:`TLSConnection`)."""

    __slots__ = ('sock', 'fd', 'hub', 'expires', 'spares', 'poller', 'keep_alive', 'busy',
                 'opened', '__weakref__')

    def __init__(self, sock: Any, spares: Spares, events: int = select.POLLIN) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.hub = get_hub()
        self.expires = 0.0  # when idle: the monotonic time after which it is retired
        self.spares = spares  # the thread's: its hub is this one
        # The system's poll of this socket alone (readable() asks it). It
        # asks for *events*: connect() asks for POLLOUT too, then only POLLIN.
        self.poller: Any = _poll()
        self.poller.register(self.fd, events)
        #: Whether the socket may carry another request (after an exchange).
        self.keep_alive = False
        #: How it was made: ``(began, resolved, connected, secured)``, the
        #: :func:`~time.perf_counter` marks of whoever connected it (:mod:`napix.timings`).
        self.opened: Optional[Marks] = None  # (set before its first exchange)
        # While busy, the state of its exchanges (with their parser), from the spares.
        self.busy: Optional[Exchange] = None

    #: Called with no argument: true (a true value) when the server closed the
    #: socket or sent something; an idle socket is reused only when it is
    #: false. Each kind of socket gives its own.
    readable: Callable[[], Any]

    @abstractmethod
    def send(self, payload: bytes) -> bool:
        """Send *payload*; False when the server answered (or closed) before
        all was sent."""

    @abstractmethod
    def receive(self) -> Optional[bytes]:
        """What came next (``b''``: the end of the stream; ``None``: nothing
        after all, wait again), once there is something."""

    def exchange(self, request: Request, payload: bytes, limits: Limits, head_only: bool,
                 timeout: float) -> Response:
        """Send *payload* (*request* serialized) and read one response
        within *timeout* seconds: its :class:`~napix.models.Response`, its
        headers the final head as text (status line and headers), its
        Content-Type found, its marks those of its timings (:mod:`napix.timings`:
        its first byte sent, its last, the first byte received, the last).
        ``keep_alive`` then says whether the socket may carry another request.
        """
        state = self.busy
        if state is None:  # kept from its last exchange, or a spare
            free = self.spares.free
            state = self.busy = free.pop() if free else new_exchange(self.hub.loop, timeout)
        state.begin(head_only, timeout)
        started = perf_counter()
        try:
            try:
                sent_all = self.send(payload)
            except _CLOSED:
                sent_all = False  # the server may still have answered: read it
            written = perf_counter()  # timings: the last byte sent
            try:
                received = self._read_head(state, limits)
                if state.progress != COMPLETE:
                    self._read_body(state, received, limits)
            except _CLOSED as error:
                raise ServerClosed(state.size, 'the connection was reset ({0})'.format(
                    error.strerror or type(error).__name__)) from None
        except TimedOut:
            self.drop_exchange()  # the parser is in the middle of a response
            raise socket.timeout() from None
        except BaseException:
            self.drop_exchange()
            raise
        finally:
            state.timer.stop()
        return self._build_response(request, state, received, limits, sent_all, started,
                                    written)

    def _read_head(self, state: Exchange, limits: Limits) -> Union[bytes, bytearray]:
        """Read until the final head is complete (often the whole response):
        what came until then, its 1xx heads checked and dropped when over
        ``max_head_size``."""
        received: Union[bytes, bytearray] = b''
        while True:
            data = self.receive()
            if data is None:
                continue
            if not data:
                raise ServerClosed(state.size, 'the server closed the connection ' + (
                    'before answering' if not state.size else 'in the middle of the response'))
            if not received:
                received = data  # most heads come in one piece
                state.answered = perf_counter()  # timings: the first byte received
            elif type(received) is bytes:
                received = bytearray(received) + data
            else:
                received += data
            self._feed(state, data, limits)
            if state.progress != AWAITING_HEAD:
                return received
            if len(received) > limits.max_head_size:
                received = check_heads(received, state.informational, limits)
                state.informational = 0
            self._acknowledge_at_once()

    def _read_body(self, state: Exchange, received: Union[bytes, bytearray],
                   limits: Limits) -> None:
        """Read until the response is complete (*received* holds its head:
        whether a body may end with the connection is read there)."""
        while state.progress != COMPLETE:
            self._acknowledge_at_once()
            data = self.receive()
            if data is None:
                continue
            if not data:
                if not delimited_by_close(final_head(received, state.informational, limits)):
                    raise ServerClosed(state.size, 'the server closed the connection '
                                       'in the middle of the response')
                state.keep_alive = False
                state.progress = COMPLETE
                return
            self._feed(state, data, limits)

    def _feed(self, state: Exchange, data: bytes, limits: Limits) -> None:
        """Parse *data*, within ``max_response_size``."""
        state.size += len(data)
        if state.size > limits.max_response_size:
            raise response_too_large(limits)
        try:
            state.parser.feed_data(data)
        except HttpParserUpgrade:
            state.keep_alive = False  # a 101: complete, never reused
            state.progress = COMPLETE
        except HttpParserError as error:
            if state.progress != COMPLETE:
                # The parser's, or a callback's (its context): a status out of range.
                found = error.__context__
                raise (found if isinstance(found, InvalidResponse)
                       else InvalidResponse(str(error))) from None
            state.keep_alive = False  # TrailingData: bytes after the response

    def _acknowledge_at_once(self) -> None:
        """Before waiting for more of a response (Linux): acknowledge what
        came at once, so that a server that writes head and body in two sends
        without TCP_NODELAY (gevent's pywsgi, napixd's server) is not held
        back ~40 ms by our delayed ACK."""
        if _QUICKACK is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def _build_response(self, request: Request, state: Exchange,
                        received: Union[bytes, bytearray], limits: Limits, sent_all: bool,
                        started: float, written: float) -> Response:
        """The :class:`~napix.models.Response` of a complete exchange (sent
        from *started* to *written*); whether the socket may be kept
        (``keep_alive``) and its parser with it."""
        body = state.body
        state.body = None  # the response's, not the spare's
        keep_alive = self.keep_alive = state.keep_alive and sent_all
        head = final_head(received, state.informational, limits)
        if state.head_only:  # bytes after the head: its framing is unknown
            self.keep_alive = keep_alive and not bytes_after_head(received)
            body = b''
            # Its parser still expects the body the head announced.
            self.drop_exchange()
        elif not keep_alive:  # only a parser that ended a response cleanly is kept
            self.drop_exchange()
        if type(body) is not bytes:
            body = b'' if body is None else bytes(body)
        # Its marks (napix.timings) end with the head read.
        return new_response(state.status, head, body, request,
                            (started, written, state.answered, perf_counter()))

    def drop_exchange(self) -> None:
        """Forget the parser and timer (in the middle of a response, or
        expecting a body that will never come)."""
        state = self.busy
        if state is not None:
            self.busy = None
            state.parser = None  # no cycle left for the collector
            state.timer.close()

    def rest(self) -> None:
        """The connection goes idle: its parser and timer go back to the
        thread's spares, for any socket's next exchange."""
        state = self.busy
        if state is not None:
            self.busy = None
            self.spares.free.append(state)

    def close(self) -> None:
        self.drop_exchange()
        self.sock.close()


class PlainConnection(SocketConnection):
    """A plain non-blocking socket, read and written with :func:`os.read` and
    :func:`os.write` (the same system calls as the socket's ``recv`` and
    ``send``, for less argument parsing), waited on through the hub's watchers."""

    __slots__ = ('reader', 'readable')

    def __init__(self, sock: Any, spares: Spares, events: int = select.POLLIN) -> None:
        SocketConnection.__init__(self, sock, spares, events)
        self.reader: Any = self.hub.loop.io(self.fd, READ)
        # The socket's poll (which takes descriptors of any number), called
        # as is: the events waiting, a list, empty when none.
        self.readable = partial(self.poller.poll, 0)

    def send(self, payload: bytes) -> bool:
        # One attempt first: a request fits the socket's buffer.
        try:
            sent = _write(self.fd, payload)
        except BlockingIOError:
            sent = 0
        return sent == len(payload) or self._send_rest(payload, sent)

    def _send_rest(self, payload: bytes, sent: int) -> bool:
        """Send what the first attempt left; False when the server answered
        (or closed) before all was sent."""
        fd = self.fd
        view = memoryview(payload)
        writer = self.hub.loop.io(fd, READ | WRITE)
        try:
            while sent < len(payload):
                self.hub.wait(writer)
                if self.readable():
                    return False
                try:
                    sent += _write(fd, view[sent:])
                except BlockingIOError:
                    pass
        finally:
            writer.close()
        return True

    def receive(self) -> Optional[bytes]:
        self.hub.wait(self.reader)
        try:
            return _read(self.fd, _RECV_SIZE)
        except BlockingIOError:
            return None

    def connect(self, address: Tuple[Any, ...], timeout: float) -> None:
        """Connect the (non-blocking, unconnected) socket to *address* within
        *timeout* seconds; :exc:`socket.timeout` or :exc:`OSError` when it cannot."""
        error = self.sock.connect_ex(address)
        if error in _IN_PROGRESS:
            # A local server's handshake ends within connect(): one poll says
            # so, without a timer or a round through the hub.
            ready = self.poller.poll(0)
            if not ready:
                self._wait_writable(timeout)
            self.poller.modify(self.fd, select.POLLIN)  # kept for the reuse check
            # Writable and nothing else: connected (no getsockopt to ask).
            if not ready or ready[0][1] != select.POLLOUT:
                error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            else:
                error = 0
        if error:
            raise OSError(error, os.strerror(error))  # ConnectionRefusedError...

    def _wait_writable(self, timeout: float) -> None:
        """Wait for the connecting socket to be writable; :exc:`socket.timeout`
        after *timeout* seconds."""
        loop = self.hub.loop
        timer = loop.timer(timeout)
        writer = loop.io(self.fd, WRITE)
        timer.start(getcurrent().throw, TimedOut, update=True)
        try:
            self.hub.wait(writer)
        except TimedOut:
            raise socket.timeout() from None
        finally:
            timer.close()
            writer.close()

    def close(self) -> None:
        self.reader.close()
        SocketConnection.close(self)


#: The name of :class:`PlainConnection` before TLS had a class of its own.
HTTP11Connection = PlainConnection


class TLSConnection(SocketConnection):
    """A gevent ``SSLSocket``, which waits by itself; decrypted bytes left
    in its buffer count as readable."""

    __slots__ = ()

    def send(self, payload: bytes) -> bool:
        self.sock.sendall(payload)
        return True

    def receive(self) -> Optional[bytes]:
        data: bytes = self.sock.recv(_RECV_SIZE)
        return data

    def readable(self) -> bool:
        return bool(self.sock.pending() or self.poller.poll(0))
