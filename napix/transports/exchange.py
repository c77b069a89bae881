"""The state of one HTTP/1.1 exchange while a socket is busy, and the
thread's spares of it.

An :class:`Exchange` is the callback protocol of an ``httptools`` response
parser with the timer that bounds the exchange. Everything the parser tells
about the response being read lives here: how far it is (:class:`Progress`),
its status, its body as it comes, whether the socket may be kept. Idle
sockets keep none: the exchanges of finished requests wait in the thread's
:class:`Spares` for the next request, whatever its socket
(:mod:`napix.transports.http11` takes and gives them back).
"""

from __future__ import annotations

from typing import Any, List

from gevent import getcurrent
from httptools import HttpResponseParser

__all__ = ['Progress', 'AWAITING_HEAD', 'HEAD_COMPLETE', 'COMPLETE', 'STATUSES',
           'FINAL_STATUSES', 'Exchange', 'Spares', 'InvalidResponse', 'TrailingData', 'TimedOut',
           'new_exchange']


class Progress(object):
    """How far the response of an exchange has come, in order (plain ints:
    compared on every read)."""

    #: No final head yet (nothing, part of one, or only 1xx heads).
    AWAITING_HEAD = 0
    #: The final head is complete; its body is not.
    HEAD_COMPLETE = 1
    #: The response is complete: ``keep_alive`` says whether the socket may
    #: carry another one.
    COMPLETE = 2


AWAITING_HEAD = Progress.AWAITING_HEAD
HEAD_COMPLETE = Progress.HEAD_COMPLETE
COMPLETE = Progress.COMPLETE


#: The statuses a response may have, and those of a final response (not 1xx).
STATUSES = frozenset(range(100, 600))
FINAL_STATUSES = frozenset(range(200, 600))


class InvalidResponse(Exception):
    """The bytes received are not a valid HTTP/1.1 response."""


class TrailingData(Exception):
    """The server sent more than the response it announced."""


class TimedOut(Exception):
    """Thrown into the greenlet of an exchange by its timer."""


class Exchange(object):
    """The parser's callback protocol: the state of the response being read,
    with the timer that bounds the exchange.

    An exchange is only needed while its socket is busy: idle sockets keep
    none, and the exchanges of the thread's idle sockets wait in its
    :class:`Spares` for the next request, whatever its socket. The state and
    its parser refer to each other until the exchange is dropped
    (:meth:`~napix.transports.http11.SocketConnection.drop_exchange`
    breaks the cycle).

    ``progress`` is a :class:`Progress`; ``status`` the status of the last
    head read (the final one once the head is complete); ``informational``
    how many 1xx heads came before it; ``size`` the bytes received;
    ``keep_alive``, once complete, whether the socket may carry another
    response.

    Its timer throws :exc:`TimedOut` into the greenlet that began the
    exchange (bound for each exchange, so that a socket may go from one
    greenlet to another between two); a stopped timer holds no greenlet.
    """

    __slots__ = ('parser', 'body', 'progress', 'status', 'keep_alive', 'head_only',
                 'informational', 'size', 'loop', 'timer', 'timeout', 'answered')
    # Set for each exchange by begin() (annotations only: no code on this path).
    progress: int
    head_only: bool
    informational: int
    size: int
    # The perf_counter() time of its first byte received (napix.timings), set
    # by SocketConnection._read_head as it takes it.
    answered: float

    def __init__(self, loop: Any, timeout: float) -> None:
        self.parser: Any = None
        self.body: Any = None
        self.status = 0  # then set by the parser's callbacks before they are read
        self.keep_alive = False
        self.loop = loop  # the hub's, whose greenlets this exchange serves
        # Repeating, and started with again(): a libev timer stopped early
        # keeps only the time it had left, and start() would go on from
        # there; again() counts the whole timeout anew each time.
        self.timer = loop.timer(timeout, timeout)
        self.timeout = timeout

    def begin(self, head_only: bool, timeout: float) -> None:
        """Start reading a new response (of a ``HEAD`` request: *head_only*)
        in the current greenlet, its timer started for *timeout* seconds.

        Only what a response changes is reset: ``body`` was taken with the
        last response (or the exchange dropped), and ``status`` and
        ``keep_alive`` are set before they are read."""
        self.progress = AWAITING_HEAD
        self.informational = self.size = 0
        self.head_only = head_only
        timer = self.timer
        if self.timeout != timeout:
            timer.close()
            timer = self.timer = self.loop.timer(timeout, timeout)
            self.timeout = timeout
        timer.again(getcurrent().throw, TimedOut, update=True)

    # The status line and headers are not taken from callbacks (one Python
    # call per header): the head is read from the bytes once complete.
    def on_headers_complete(self) -> None:
        self.status = status = self.parser.get_status_code()
        if status not in FINAL_STATUSES:
            if status not in STATUSES:
                raise InvalidResponse('status {0} is outside 100-599'.format(status))
            if status != 101:
                return  # a 1xx head: still awaiting the final one
        if self.head_only:  # no body follows the head of a HEAD response
            self.keep_alive = self.parser.should_keep_alive()
            self.progress = COMPLETE
        else:
            self.progress = HEAD_COMPLETE

    def on_body(self, data: bytes) -> None:
        body = self.body
        if body is None:
            self.body = data  # most bodies come in one piece
        elif type(body) is bytes:
            self.body = bytearray(body) + data  # then joined as they come
        else:
            body += data

    def on_message_begin(self) -> None:
        if self.progress == COMPLETE:  # bytes after the response: never reuse the socket
            raise TrailingData()

    def on_message_complete(self) -> None:
        progress = self.progress
        if progress == HEAD_COMPLETE:
            # Read it here: once feed_data() returns, the parser has reset.
            self.keep_alive = self.parser.should_keep_alive()
            self.progress = COMPLETE
        elif progress == AWAITING_HEAD:  # the end of a 1xx: the final head follows
            self.informational += 1


class Spares(object):
    """The exchanges (a parser, its callback state and a timer) that a
    thread's finished requests left, for the next ones: made again for each
    request, they would cost a parser and a timer; kept by each socket, they
    would make every idle socket hold them (a fan-out to many hosts keeps
    thousands of idle sockets). A parser is kept only when it ended a response
    cleanly, ready for the next one; there are at most as many as the thread
    ever had exchanges at once. They belong to one hub (their timers are on
    its loop): the thread's :class:`~napix.transports.sockets.SocketPool`
    keeps them."""

    __slots__ = ('free',)

    def __init__(self) -> None:
        self.free: List[Exchange] = []  # each with its parser


def new_exchange(loop: Any, timeout: float) -> Exchange:
    """A new exchange state with its parser (``parser``), its timer on *loop*
    set to *timeout*."""
    state = Exchange(loop, timeout)
    # The two refer to each other until the exchange is dropped (a spare is
    # never garbage: the thread's spares hold it).
    state.parser = HttpResponseParser(state)
    return state
