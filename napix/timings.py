"""Where the time of a request went: :class:`Timings`.

Every :class:`~napix.models.Response` and every
:exc:`~napix.exceptions.HTTPError` that has a request has ``timings``::

    >>> response = client.request('GET', '/vm/7')            # doctest: +SKIP
    >>> response.timings                                     # doctest: +SKIP
    <Timings total=1.3 ms queued=0.0 ms ... wait=0.9 ms receive=0.0 ms reused>

Nothing is computed while the request runs: the transport and the
connection note a few :func:`time.perf_counter` readings (the raw *marks*),
and a :class:`Timings` is made from them the first time ``timings`` is read.

The marks, by who writes them:

* the request's ``started``: when it was made (``pool.request()``,
  ``Connection.request()``, ``build_request()``), or handed to
  ``Connection.send()``; its ``attempt``, ``None`` but for a retried attempt
  (:func:`next_attempt`) or a request whose caller's tracing context was
  saved (:mod:`napix.opentelemetry`): an :class:`Attempt`;
* a fresh socket's *opened* marks (the default transport, on the socket):
  ``(began, resolved, connected, secured)``;
* the exchange's marks (the default transport, on the response):
  ``(started, written, answered, ended)``: its first byte sent, its last byte
  sent, the first byte received, the last; on a fresh socket, its four opened
  marks follow (one tuple: one slot to set on every response). Another
  transport's response (made by ``Response(...)``) has a :class:`Measured`.

This module imports nothing of :mod:`napix`: the models are above it.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, NamedTuple, Optional, Tuple, TypeVar, Union

__all__ = ['Timings', 'Timed', 'Stamped', 'Attempt', 'Measured', 'Marks', 'next_attempt',
           'restart', 'resent', 'stamped_as']

#: :func:`time.perf_counter` readings: a fresh socket's four ``(began,
#: resolved, connected, secured)``; an exchange's four ``(started, written,
#: answered, ended)``, the socket's four after them on its first exchange.
Marks = Tuple[float, ...]


class Attempt(NamedTuple):
    """Which attempt of its request a :class:`~napix.models.Request` is
    (``request.attempt``; ``None`` for the first, when nothing is traced)."""

    #: 1 for the first attempt, 2 for the first retry...
    number: int
    #: When it began (:func:`time.perf_counter`): its ``queued`` time counts from there.
    began: float
    #: The caller's tracing context, saved when the request was made
    #: (:mod:`napix.opentelemetry`), or ``None``.
    context: Any = None


class Measured(NamedTuple):
    """What a response made by ``Response(...)`` (another transport than
    the default) has in place of the exchange's marks."""

    #: The exchange's seconds, as the transport measured them, or ``None``.
    elapsed: Optional[float]
    #: When the response was made (:func:`time.perf_counter`).
    ended: float

_PHASES = ('queued', 'resolve', 'connect', 'tls', 'send', 'wait', 'receive')


class Timings(object):
    """Where the time of one request (its last attempt) went, in seconds.

    ``queued``: waiting for a place under the host's limit or the pool's
    ``max_in_flight`` (with the client's own work to sign and frame it);
    ``resolve``, ``connect``, ``tls``: making the socket (each ``0.0`` on a
    reused socket, or when there was nothing to do: a numeric address has
    nothing to resolve, plain HTTP no handshake); ``send``: writing the
    request; ``wait``: from its last byte sent to the first byte received
    (the server's time); ``receive``: from the first byte received to the
    last; ``total``: from the request's making to its response or error,
    at least the sum of the phases (with retries, it counts them all).

    ``reused``: whether the socket had carried a request before;
    ``attempts``: how many attempts were made (1 without a retry).

    A phase the transport did not measure (another transport, or an error
    before the exchange ended) is ``0.0``; ``total`` is always measured.
    """

    __slots__ = _PHASES + ('total', 'reused', 'attempts')

    def __init__(self, queued: float = 0.0, resolve: float = 0.0, connect: float = 0.0,
                 tls: float = 0.0, send: float = 0.0, wait: float = 0.0,
                 receive: float = 0.0, total: float = 0.0, reused: bool = False,
                 attempts: int = 1) -> None:
        self.queued = queued
        self.resolve = resolve
        self.connect = connect
        self.tls = tls
        self.send = send
        self.wait = wait
        self.receive = receive
        self.total = total
        self.reused = reused
        self.attempts = attempts

    @classmethod
    def of(cls, request: Any, marks: Optional[Marks], opened: Optional[Marks], ended: float,
           elapsed: Optional[float] = None) -> 'Timings':
        """The timings of *request*, from the exchange's *marks* and the
        fresh socket's *opened* marks (``None``: not measured, or a reused
        socket), that ended at *ended* (*request* ``None``: a response made
        by hand). A transport that measured only the exchange's *elapsed*
        seconds has them counted as ``wait``."""
        made: Optional[float] = None if request is None else request.started
        attempt: Optional[Attempt] = None if request is None else request.attempt
        timings = cls(attempts=attempt.number if attempt is not None else 1)
        # The first thing done once the request had its place (None: not known).
        work: Optional[float] = None
        if opened is not None:
            work = opened[0]
        elif marks is not None:
            work = marks[0]
        elif elapsed is not None:
            work = ended - elapsed
        queue_start = attempt.began if attempt is not None else made
        if queue_start is not None and work is not None:
            timings.queued = max(0.0, work - queue_start)
        if opened is not None:
            began, resolved, connected, secured = opened
            timings.resolve = resolved - began
            timings.connect = connected - resolved
            timings.tls = secured - connected
        if marks is not None:
            started, written, answered, ended = marks
            timings.send = written - started
            timings.wait = answered - written
            timings.receive = ended - answered
            timings.reused = opened is None
        elif elapsed is not None:
            timings.wait = elapsed
        first = made if made is not None else queue_start if queue_start is not None else work
        total = ended - first if first is not None else 0.0
        # The phases are differences of the same marks: only rounding could
        # make their sum pass the total, by a few units in the last place.
        timings.total = max(total, sum([getattr(timings, phase) for phase in _PHASES]))
        return timings

    @classmethod
    def of_response(cls, response: Any) -> 'Timings':
        """The timings of a :class:`~napix.models.Response`."""
        marks = response._marks
        if type(marks) is Measured:
            return cls.of(response.request, None, None, marks.ended, marks.elapsed)
        return cls.of(response.request, marks[:4], marks[4:] or None, marks[3])

    @classmethod
    def of_error(cls, error: Any) -> Optional['Timings']:
        """The timings of an :exc:`~napix.exceptions.HTTPError`: its
        response's, or, without one, those of a request that ended when the
        error was made (``None`` without a request)."""
        if error.response is not None:
            return cls.of_response(error.response)
        if error.request is None:
            return None
        return cls.of(error.request, None, error._opened, error._made)

    def as_dict(self) -> dict[str, Any]:
        """The timings as a ``dict`` (seconds rounded to the microsecond),
        for JSON."""
        data: dict[str, Any] = {name: round(getattr(self, name), 6)
                                for name in _PHASES + ('total',)}
        data['reused'] = self.reused
        data['attempts'] = self.attempts
        return data

    def __repr__(self) -> str:
        phases = ' '.join('{0}={1:.1f} ms'.format(name, getattr(self, name) * 1000)
                          for name in ('total',) + _PHASES)
        return '<Timings {0}{1}{2}>'.format(
            phases, ' reused' if self.reused else '',
            ' attempts={0}'.format(self.attempts) if self.attempts > 1 else '')


class Stamped(object):
    """What a :class:`~napix.models.Request` carries for its timings (the
    slots are the request's): ``started``, the :func:`time.perf_counter`
    time it was made or handed to ``Connection.send()``; ``attempt``, ``None``
    but on a retried attempt (:func:`next_attempt`) or when
    :mod:`napix.opentelemetry` saved the caller's context: an :class:`Attempt`."""

    __slots__ = ()
    started: float
    attempt: Optional[Attempt]


class Timed(object):
    """What a :class:`~napix.models.Response` has from this module: its
    ``elapsed`` and ``timings`` (the slots they read are the response's)."""

    __slots__ = ()
    _marks: Union[Marks, Measured]  # the default transport's, or another's Measured

    @property
    def elapsed(self) -> Optional[float]:
        """Seconds from the first byte sent to the last byte received, or
        ``None`` when the transport did not measure them."""
        marks = self._marks
        if isinstance(marks, Measured):
            return marks.elapsed
        return marks[3] - marks[0]

    @property
    def timings(self) -> Timings:
        """Where the time of the request went: its :class:`Timings`."""
        return Timings.of_response(self)


def restart(request: Any) -> None:
    """*request* is handed to be sent now: its ``total`` counts from here,
    its attempts from one (a request sent again is timed anew; a saved
    tracing context is kept)."""
    now = request.started = perf_counter()
    attempt: Optional[Attempt] = request.attempt
    if attempt is not None:
        request.attempt = Attempt(1, now, attempt.context)


_S = TypeVar('_S', bound='Stamped')


def stamped_as(request: Stamped, copy: _S) -> _S:
    """*copy* of *request*, given its ``started`` and ``attempt``: a copy
    (:meth:`~napix.models.Request.copy`) is timed as its request."""
    copy.started, copy.attempt = request.started, request.attempt
    return copy


def resent(request: Any) -> Any:
    """*request*, a copy sent again within its attempt (napixd's busy
    resend), its ``queued`` time counting from now: its timings are those of
    the exchange that answered, its ``total`` counts both."""
    attempt: Optional[Attempt] = request.attempt
    request.attempt = Attempt(1 if attempt is None else attempt.number, perf_counter(),
                              None if attempt is None else attempt.context)
    return request


def next_attempt(request: Any, number: int) -> Any:
    """Attempt *number* (1 for the first) of *request* under a retry
    policy: an unsigned copy (:meth:`~napix.models.Request.copy`, which
    keeps its ``started``: its timings' ``total`` counts every attempt, and
    its ``attempt``'s tracing context); from the second on, its ``attempt``
    says its number and that it begins now (its ``queued`` time counts from there)."""
    copy = request.copy()
    if number > 1:
        last: Optional[Attempt] = request.attempt
        copy.attempt = Attempt(number, perf_counter(), last.context if last else None)
    return copy
