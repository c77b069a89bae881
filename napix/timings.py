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
  ``Connection.send()``; a retried attempt's ``attempt``: its number and when
  it began (:func:`next_attempt`);
* a fresh socket's *opened* marks (the default transport, on the response):
  ``(began, resolved, connected, secured)``;
* the exchange's marks (the default transport, on the response):
  ``(started, written, answered, ended)``: its first byte sent, its last byte
  sent, the first byte received, the last.

This module imports nothing of :mod:`napix`: the models are above it.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Optional, Tuple

__all__ = ['Timings', 'Timed', 'Stamped', 'Attempt', 'next_attempt', 'restart']

#: A retried attempt: its number (2 for the first retry) and when it began.
Attempt = Tuple[int, float]

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
    def of(cls, request: Any, marks: Optional[Tuple[float, float, float, float]],
           opened: Optional[Tuple[float, float, float, float]], ended: float,
           elapsed: Optional[float] = None) -> 'Timings':
        """The timings of *request*, from the exchange's *marks* and the
        fresh socket's *opened* marks (``None``: not measured, or a reused
        socket), that ended at *ended*. A transport that measured only the
        exchange's *elapsed* seconds has them counted as ``wait``."""
        made = getattr(request, 'started', None)
        attempt: Optional[Attempt] = getattr(request, 'attempt', None)
        timings = cls(attempts=attempt[0] if attempt is not None else 1)
        # The first thing done once the request had its place (None: not known).
        work: Optional[float] = None
        if opened is not None:
            work = opened[0]
        elif marks is not None:
            work = marks[0]
        elif elapsed is not None:
            work = ended - elapsed
        queue_start = attempt[1] if attempt is not None else made
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
        marks = getattr(response, '_marks', None)
        opened = getattr(response, '_opened', None)
        elapsed = getattr(response, '_elapsed', None)
        ended = marks[3] if marks is not None else getattr(response, '_made', perf_counter())
        return cls.of(response.request, marks, opened, ended, elapsed)

    @classmethod
    def of_error(cls, error: Any) -> Optional['Timings']:
        """The timings of an :exc:`~napix.exceptions.HTTPError`: its
        response's, or, without one, those of a request that ended when the
        error was made (``None`` without a request)."""
        if error.response is not None:
            return cls.of_response(error.response)
        if error.request is None:
            return None
        return cls.of(error.request, None, getattr(error, '_opened', None),
                      getattr(error, '_made', perf_counter()))

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
    time it was made or handed to ``Connection.send()``; ``attempt``, unset
    but on a retried attempt (:func:`next_attempt`); ``context``, unset but
    when :mod:`napix.opentelemetry` saved the caller's there."""

    __slots__ = ()
    started: Optional[float]
    attempt: Optional[Attempt]
    context: Any


class Timed(object):
    """What a :class:`~napix.models.Response` has from this module: its
    ``elapsed`` and ``timings`` (the slots they read are the response's)."""

    __slots__ = ()
    _elapsed: Optional[float]  # given to the constructor (another transport)
    _marks: Optional[Tuple[float, float, float, float]]  # the default transport's
    _opened: Optional[Tuple[float, float, float, float]]  # and of a fresh socket

    @property
    def elapsed(self) -> Optional[float]:
        """Seconds from the first byte sent to the last byte received, or
        ``None`` when the transport did not measure them."""
        marks = getattr(self, '_marks', None)
        if marks is None:
            return self._elapsed
        return marks[3] - marks[0]  # type: ignore[no-any-return]

    @property
    def timings(self) -> Timings:
        """Where the time of the request went: its :class:`Timings`."""
        return Timings.of_response(self)


def restart(request: Any) -> None:
    """*request* is handed to be sent now: its ``total`` counts from here,
    its attempts from one (a request sent again is timed anew)."""
    request.started = perf_counter()
    request.attempt = None


def next_attempt(request: Any) -> Any:
    """The next attempt of *request* under a retry policy: an unsigned copy
    (:meth:`~napix.models.Request.copy`) that keeps the request's
    ``started`` (its timings' ``total`` counts every attempt) and
    ``context`` (the caller's, for tracing). *request* counts its attempts
    in its own ``attempt``; a copy after the first has its ``attempt``, its
    number and when it began, from which its ``queued`` time counts."""
    last: Optional[Attempt] = getattr(request, 'attempt', None)
    attempt = (1 if last is None else last[0] + 1, perf_counter())
    request.attempt = attempt
    copy = request.copy()
    copy.started = getattr(request, 'started', None)
    context = getattr(request, 'context', None)
    if context is not None:
        copy.context = context
    if attempt[0] > 1:
        copy.attempt = attempt
    return copy
