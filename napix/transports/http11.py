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
* a body without ``Content-Length`` or chunked framing (read from the parsed
  header values) ends where the connection does;
* an idle socket is reused only if it is clean: no end of file, no stray bytes.

What a server may send is bounded (:class:`~napix.transports.head.Limits`):
the whole response, the response head, one header line, the number of header
fields. A body is joined as it arrives, so a response costs about its size in
memory, however it is cut.

It is cooperative under gevent without monkey patching: a plain non-blocking
socket waited on through the hub's watchers (cheaper than a gevent socket's
``recv`` that fails with ``EAGAIN`` first).
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
from sys import intern
from time import perf_counter
from typing import Any, Optional, Tuple

from gevent import get_hub, getcurrent
from gevent.monkey import get_original
from httptools import HttpParserError, HttpParserUpgrade

from napix.models import Request, Response, new_response
from napix.transports.exchange import Exchange, Spares, TimedOut, new_exchange
from napix.transports.head import (Limits, ResponseTooLarge, bytes_after_head, check_heads,
                                   delimited_by_close, final_head)

__all__ = ['HTTP11Connection', 'TLSConnection', 'Limits', 'ServerClosed',
           'ResponseTooLarge', 'InvalidResponse', 'TimedOut']

_RECV_SIZE = 65536
# Linux: acknowledge at once while a response is incomplete, so that a server
# that writes head and body in two sends without TCP_NODELAY (gevent's pywsgi,
# napixd's server) is not held back ~40 ms by our delayed ACK.
_QUICKACK = getattr(socket, 'TCP_QUICKACK', None)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)
_CLOSED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_read = os.read
_write = os.write
# The system's poll, even in a monkey-patched process: a check that never waits.
_poll = get_original('select', 'poll')
# Spelled out rather than re.I: the search then starts from its literal CRLF.
_CONTENT_TYPE = re.compile(
    r'\r\n[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee][ \t]*:[ \t]*([^\r]*)')


class ServerClosed(Exception):
    """The server closed or reset the socket; *received* is how many response
    bytes came first (0 means the request may not have been read at all)."""

    def __init__(self, received: int, cause: str) -> None:
        Exception.__init__(self, cause)
        self.received = received


class InvalidResponse(Exception):
    """The bytes received are not a valid HTTP/1.1 response."""


class HTTP11Connection(object):
    """One socket to a server, read through the hub's watchers; each
    exchange takes a parser and a timer, bounding it to its read timeout,
    from the thread's :class:`~napix.transports.exchange.Spares`."""

    __slots__ = ('sock', 'fd', 'hub', 'reader', 'expires', 'spares', 'poller',
                 'keep_alive', 'busy', 'opened', '__weakref__')
    waits_itself = False  # a gevent socket (TLS) that waits by itself: no watcher

    def __init__(self, sock: Any, spares: Spares, events: int = select.POLLIN) -> None:
        self.sock = sock
        # Read and written with os.read and os.write: the same system calls
        # for less argument parsing than the socket's recv and send.
        self.fd = fd = sock.fileno()
        self.hub = hub = get_hub()
        # Waited on while the response comes (TLS: the socket waits by itself).
        self.reader: Any = None if self.waits_itself else hub.loop.io(fd, 1)
        self.expires = 0.0  # when idle: the monotonic time after which it is retired
        self.spares = spares  # the thread's: its hub is this one
        #: The system's poll of this socket alone: ``poller.poll(0)`` is a
        #: non-empty list when the server closed the socket or sent something
        #: (an idle socket is reused only when it is empty). It asks for
        #: *events*: connect() asks for POLLOUT too, then only for POLLIN.
        self.poller: Any = _poll()
        self.poller.register(fd, events)
        self.keep_alive = False
        # How it was made: (began, resolved, connected, secured), perf_counter() marks
        # set by whoever connects it (napix.timings); None when not measured.
        self.opened: Optional[Tuple[float, float, float, float]] = None
        # While busy, the (parser, state) of its exchanges, from the spares.
        self.busy: Optional[Tuple[Any, Exchange]] = None

    def drop_exchange(self) -> None:
        """Forget the parser and timer (in the middle of a response, or
        expecting a body that will never come)."""
        busy = self.busy
        if busy is not None:
            self.busy = None
            state = busy[1]
            state.parser = state.expire = None  # no cycle left for the collector
            state.greenlet = state.wake = None
            state.timer.close()

    def rest(self) -> None:
        """The connection goes idle: its parser and timer go back to the
        thread's spares, for any socket's next exchange."""
        busy = self.busy
        if busy is not None:
            self.busy = None
            state = busy[1]
            # Nor the greenlet of its last exchange (a finished one keeps
            # its result): the next exchange binds its own.
            state.greenlet = state.wake = None
            self.spares.free.append(busy)

    def _send_rest(self, payload: bytes, sent: int) -> bool:
        """Send what the first ``send`` left; False when the server answered
        (or closed) before all was sent."""
        fd = self.fd
        view = memoryview(payload)
        writer = self.hub.loop.io(fd, 3)
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

    def readable(self) -> bool:
        """True when the server closed the socket or sent something (one
        ``poll``, which takes descriptors of any number): an idle socket is
        reused only when this is False."""
        return bool(self.poller.poll(0))

    def connect(self, address: Tuple[Any, ...], timeout: float) -> None:
        """Connect the (non-blocking, unconnected) socket to *address* within
        *timeout* seconds; :exc:`socket.timeout` or :exc:`OSError` when it cannot."""
        sock = self.sock
        error = sock.connect_ex(address)
        if error in _IN_PROGRESS:
            # A local server's handshake ends within connect(): one poll says
            # so, without a timer or a round through the hub.
            poller = self.poller
            ready = poller.poll(0)
            if not ready:
                loop = self.hub.loop
                timer = loop.timer(timeout)
                writer = loop.io(self.fd, 2)
                timer.start(getcurrent().throw, TimedOut, update=True)
                try:
                    self.hub.wait(writer)
                except TimedOut:
                    raise socket.timeout() from None
                finally:
                    timer.close()
                    writer.close()
            poller.modify(self.fd, select.POLLIN)  # kept for the reuse check
            # Writable and nothing else: connected (no getsockopt to ask).
            if not ready or ready[0][1] != select.POLLOUT:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            else:
                error = 0
        if error:
            raise OSError(error, os.strerror(error))  # ConnectionRefusedError...

    def exchange(self, request: Request, payload: bytes, limits: Limits, head_only: bool,
                 timeout: float) -> Response:
        """Send *payload* (*request* serialized) and read one response
        within *timeout* seconds: its :class:`~napix.models.Response`, its
        headers the final head as text (status line and headers), its
        Content-Type found, its ``elapsed`` the seconds from the first byte
        sent to the last byte received (and its head read), its marks those of its timings
        (:mod:`napix.timings`). ``keep_alive`` then says whether the
        socket may carry another request.
        """
        busy = self.busy
        if busy is None:
            free = self.spares.free
            busy = self.busy = free.pop() if free else new_exchange(self.hub.loop, timeout)
        parser, state = busy
        state.body = None
        state.status = state.informational = 0
        state.keep_alive = None
        state.head_only = head_only
        timer = state.timer
        if state.timeout != timeout:
            timer.close()
            timer = state.timer = self.hub.loop.timer(timeout, timeout)
            state.timeout = timeout
        me = getcurrent()
        if state.greenlet is not me:
            state.greenlet = me
            state.wake = me.switch
        timer.again(state.expire, update=True)
        received: Any = b''  # until the end of the final head, joined as it comes
        head = None
        size = 0
        reader = self.reader
        fd = self.fd
        started = perf_counter()
        try:
            try:
                if reader is None:
                    sent_all = self._send(payload)
                else:
                    try:
                        sent = _write(fd, payload)
                    except BlockingIOError:
                        sent = 0
                    sent_all = sent == len(payload) or self._send_rest(payload, sent)
            except _CLOSED:
                sent_all = False  # the server may still have answered: read it
            written = perf_counter()  # timings: the last byte sent
            wake = state.wake
            while state.keep_alive is None:
                try:
                    if reader is None:
                        data = self._recv()
                    else:
                        # The hub's wait() without its Waiter: the watcher
                        # switches back here itself (a switch from elsewhere
                        # only means one more read).
                        reader.start(wake)
                        try:
                            self.hub.switch()
                        finally:
                            reader.stop()
                        try:
                            data = _read(fd, _RECV_SIZE)
                        except BlockingIOError:
                            continue
                except _CLOSED as error:
                    raise ServerClosed(size, 'the connection was reset ({0})'.format(
                        error.strerror or type(error).__name__)) from None
                if not data:
                    if state.status:
                        head = final_head(received, state.informational, limits)
                        if delimited_by_close(head):
                            state.keep_alive = False
                            break
                    raise ServerClosed(size, 'the server closed the connection '
                                       + ('before answering' if not size
                                          else 'in the middle of the response'))
                size += len(data)
                if size > limits.max_response_size:
                    raise ResponseTooLarge('the response is larger than {0} bytes '
                                           '(max_response_size)'.format(
                                               limits.max_response_size))
                if not state.status:
                    if not received:
                        received = data  # most heads come in one piece
                        answered = perf_counter()  # timings: the first byte received
                    elif type(received) is bytes:
                        received = bytearray(received) + data
                    else:
                        received += data
                    if len(received) > limits.max_head_size:
                        received = check_heads(received, state.informational, limits)
                        state.informational = 0
                try:
                    parser.feed_data(data)
                except HttpParserUpgrade:
                    state.keep_alive = False  # a 101: complete, never reused
                except HttpParserError as error:
                    if state.keep_alive is None:
                        raise InvalidResponse(str(error)) from None
                    state.keep_alive = False  # TrailingData: bytes after the response
                if state.keep_alive is None and _QUICKACK is not None:
                    self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except TimedOut:
            self.drop_exchange()  # the parser is in the middle of a response
            raise socket.timeout() from None
        except BaseException:
            self.drop_exchange()
            raise
        finally:
            timer.stop()
            body = state.body
            state.body = None  # the body is the response's, not the spare's
        keep_alive = self.keep_alive = state.keep_alive and sent_all
        if not keep_alive or head_only:
            # Only a parser that ended a response cleanly is ready for the
            # next one (a HEAD response's still expects the body it announced).
            self.drop_exchange()
        status = state.status
        if not 100 <= status <= 599:
            raise InvalidResponse('status {0} is outside 100-599'.format(status))
        if head is None:
            end = received.find(b'\r\n\r\n')  # final_head()'s common case, inlined
            if 0 <= end <= limits.unchecked and not state.informational:
                head = received[:end + 2].decode('latin-1')
            else:
                head = final_head(received, state.informational, limits)
        # Interned: a pool's 100,000 responses share one 'OK'.
        reason = intern(head[13:head.find('\r\n')])
        # Found once, here, for the decoding (joined when repeated).
        content_type = intern(', '.join(_CONTENT_TYPE.findall(head)).rstrip(' \t'))
        if head_only:  # bytes after the head: its framing is unknown
            self.keep_alive = keep_alive and not bytes_after_head(received)
            body = b''
        elif type(body) is not bytes:
            body = b'' if body is None else bytes(body)
        # The last mark taken here, with the head read: a local less on every request.
        return new_response(status, reason, head, body, request,
                            (started, written, answered, perf_counter()), content_type)

    def _send(self, payload: bytes) -> bool:
        """Send *payload* (TLS; a plain socket's is written by exchange() itself)."""
        raise NotImplementedError

    def _recv(self) -> bytes:
        """Read what came (TLS; a plain socket's is read by exchange() itself)."""
        raise NotImplementedError

    def close(self) -> None:
        self.drop_exchange()
        if self.reader is not None:
            self.reader.close()
        self.sock.close()


class TLSConnection(HTTP11Connection):
    """An :class:`HTTP11Connection` over a gevent ``SSLSocket`` (which waits by itself)."""

    __slots__ = ()
    waits_itself = True

    def __init__(self, sock: Any, spares: Spares) -> None:
        HTTP11Connection.__init__(self, sock, spares)
        self.poller = _TLSPoller(sock, self.poller)

    def _send(self, payload: bytes) -> bool:
        self.sock.sendall(payload)
        return True

    def _recv(self) -> bytes:
        data: bytes = self.sock.recv(_RECV_SIZE)
        return data


class _TLSPoller(object):
    """The poller of a TLS socket: decrypted bytes left in its buffer count."""

    __slots__ = ('sock', 'poller')

    def __init__(self, sock: Any, poller: Any) -> None:
        self.sock = sock
        self.poller = poller

    def poll(self, timeout: int) -> Any:
        return self.sock.pending() or self.poller.poll(timeout)

