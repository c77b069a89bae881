"""A circuit breaker per destination: a dead host costs its timeout once.

Without a breaker (the default), every request to a host that does not
answer waits for its connect or read timeout, and a service manager that
asks five hosts in each call, one of them dead, pays that timeout in every
call. Given ``breaker=Breaker()``, a :class:`~napix.connection.Connection`
(and so a Client or a ClientPool) keeps, for each destination, the state of
its *circuit*:

=========== ===============================================================
closed      requests go. *failures* failures in a row that say the host is
            unwell (no connection, a timeout, a reset, a ``502``, ``503`` or
            ``504``; never a ``4xx``) open it.
open        requests fail at once, without a socket, with
            :exc:`~napix.exceptions.CircuitOpen` (a
            :exc:`~napix.exceptions.ConnectError`: whatever handles a refused
            connection handles it), for *reset* seconds.
half-open   the *reset* seconds have passed: the next request goes, as a
            probe, while the others still fail at once. Its success closes
            the circuit; its failure opens it for another *reset* seconds.
=========== ===============================================================

The rules of its state live here, in :meth:`Breaker.call`, the one place a
request goes through it.

**Shared like the budget.** A circuit is kept per OS thread, in a table keyed
by the destination (the socket key of the connection's transport: scheme,
address, port, name, TLS settings) and the breaker's settings: every client,
pool and connection of the thread that names the same destination with an
equal breaker (:class:`Breaker` objects compare by their settings) sees one
state, and the next pool of a service manager that makes a pool per call
sees the circuit its predecessor opened. Only the circuits of hosts that
failed are kept, in a table bounded by :data:`MAX_CIRCUITS` (the least
recently changed forgotten first), each until it closes: a breaker holds no
socket, no greenlet and no timer; its clock is only read when a request comes.

Every change of state is logged on the ``Napix.Breaker`` logger (opened at
``WARNING``, half-open and closed at ``INFO``), with the host and the last
failure, never credentials.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import (Any, Callable, FrozenSet, Hashable, Iterable, NamedTuple, Optional,
                    Tuple, Type, TypeVar)

from gevent.monkey import get_original

from napix.checks import check_positive_int, check_seconds
from napix.exceptions import (Cancelled, CircuitOpen, ConnectError, HTTPError,
                              RemoteProtocolError, ResponseTooLarge, Timeout, TransportError)
from napix.hosts import parse_host
from napix.models import Request

__all__ = ['Breaker', 'Outage', 'CLOSED', 'OPEN', 'HALF_OPEN', 'MAX_CIRCUITS']

logger = logging.getLogger('Napix.Breaker')
# A library does not print: without a handler configured, its warnings go nowhere.
logger.addHandler(logging.NullHandler())

_R = TypeVar('_R')
_K = TypeVar('_K', bound=Hashable)
_V = TypeVar('_V')

#: Where a circuit is kept: ``(destination key, breaker settings)``.
_Place = Tuple[Hashable, Tuple[Any, ...]]

#: A circuit's state: requests go.
CLOSED = 'closed'
#: A circuit's state: requests fail at once.
OPEN = 'open'
#: A circuit's state: its *reset* passed, one request goes as a probe.
HALF_OPEN = 'half-open'
_WORSE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

#: The most circuits a thread keeps (of hosts that failed: a host that
#: answers has none).
MAX_CIRCUITS = 10000

# Per OS thread, even in a monkey-patched process (where threading.local is
# per greenlet): the greenlets of a thread share its circuits.
_local = get_original('threading', 'local')()


class Outage(NamedTuple):
    """Why a request was refused: the ``cause`` of a
    :exc:`~napix.exceptions.CircuitOpen`. Times are wall-clock
    (:func:`time.time`) seconds."""

    #: The host, as the request that opened the circuit named it.
    host: str
    #: :data:`OPEN`, or :data:`HALF_OPEN` while a probe is in flight.
    state: str
    #: When the circuit opened.
    since: float
    #: When a request will be let through again as a probe (already
    #: passed while a probe is in flight).
    retry_at: float
    #: The failures in a row that opened it.
    failures: int
    #: The message of the last of them.
    last_error: str


class Circuit(object):
    """The state of one destination under one breaker (only while it is
    not closed, or has failures counted)."""

    __slots__ = ('host', 'place', 'state', 'failures', 'last_error', 'opened_at',
                 'opened_wall', 'retry_at')

    def __init__(self, host: str) -> None:
        self.host = host
        #: ``(scheme, name, port)`` of *host*, what :meth:`Breaker.state` matches.
        self.place = parse_host(host)[:3]
        self.state = CLOSED
        self.failures = 0  # in a row
        self.last_error = ''
        self.opened_at = 0.0  # on the breaker's clock
        self.opened_wall = 0.0  # on time.time(), for the messages
        self.retry_at = 0.0  # on the breaker's clock: the probe may go from then on


def remember(table: 'OrderedDict[_K, _V]', key: _K, value: _V, limit: int) -> None:
    """Put *value* in *table* as its most recent entry, and forget the
    least recent ones beyond *limit*."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


def _circuits() -> 'OrderedDict[_Place, Circuit]':
    try:
        table: OrderedDict[_Place, Circuit] = _local.circuits
    except AttributeError:
        table = _local.circuits = OrderedDict()
    return table


class Breaker(object):
    """A circuit breaker: which failures open a destination's circuit, and
    for how long.

    :param failures: the failures in a row that open the circuit (an ``int``
        >= 1).
    :param reset: seconds the circuit stays open before a probe is let
        through (a number > 0).
    :param statuses: the HTTP statuses that count as failures: 5xx only
        (a ``4xx`` says the host is well). Default ``(502, 503, 504)``.
    :param errors: the :exc:`~napix.exceptions.TransportError` subclasses
        that count as failures. Default :exc:`~napix.exceptions.ConnectError`
        (refused, unknown host, TLS failure), :exc:`~napix.exceptions.Timeout`
        and :exc:`~napix.exceptions.RemoteProtocolError` (closed, reset, not
        HTTP). Any other answer is a success; a request cancelled, or failed
        for another reason, counts for nothing.
    :param clock: seconds, ``clock()``; default :func:`time.monotonic`.

    Two breakers with the same settings are equal, and share the circuits
    of a thread. Bad settings raise :exc:`TypeError` or :exc:`ValueError`
    naming the argument, here.
    """

    __slots__ = ('failures', 'reset', 'statuses', 'errors', 'clock', '_settings')

    def __init__(self, failures: int = 5, reset: float = 30.0,
                 statuses: Iterable[int] = (502, 503, 504),
                 errors: Iterable[Type[TransportError]] = (ConnectError, Timeout,
                                                           RemoteProtocolError),
                 clock: Optional[Callable[[], float]] = None) -> None:
        self.failures = check_positive_int('failures', failures)
        self.reset = check_seconds('reset', reset)
        self.statuses = _server_statuses(statuses)
        self.errors = _failure_errors(errors)
        if clock is not None and not callable(clock):
            raise TypeError('clock must be a callable returning seconds, not {0}'.format(
                type(clock).__name__))
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._settings: Tuple[Any, ...] = (self.failures, self.reset, self.statuses,
                                           frozenset(self.errors), self.clock)

    def call(self, key: Hashable, attempt: Callable[[Request], _R], request: Request) -> _R:
        """Return ``attempt(request)`` if the circuit of the destination of
        *key* lets *request* through, and count its outcome; else raise
        :exc:`~napix.exceptions.CircuitOpen` at once.

        *attempt* sends the request once, and raises an
        :exc:`~napix.exceptions.HTTPError` when it fails.
        """
        circuits = _circuits()
        place: _Place = (key, self._settings)
        probe = False
        if circuits:  # no circuit kept at all: every destination closed
            circuit = circuits.get(place)
            if circuit is not None:
                probe = self._admit(circuit, request)
        try:
            result = attempt(request)
        except HTTPError as error:
            unwell = self.unwell(error)
            if unwell:
                self._failed(circuits, place, probe, request, error)
            elif unwell is None:
                self._undecided(circuits, place, probe)
            elif circuits:
                self._succeeded(circuits, place, probe)
            raise
        except BaseException:
            self._undecided(circuits, place, probe)
            raise
        if circuits:
            self._succeeded(circuits, place, probe)
        return result

    def check(self, key: Hashable, request: Request) -> None:
        """Raise :exc:`~napix.exceptions.CircuitOpen` when the circuit of the
        destination of *key* would refuse *request* now (what a retry asks
        before it waits to send it again)."""
        circuit = _circuits().get((key, self._settings))
        if circuit is not None and circuit.state != CLOSED and not (
                circuit.state == OPEN and self.clock() >= circuit.retry_at):
            raise self._refusal(circuit, request)

    def unwell(self, error: HTTPError) -> Optional[bool]:
        """Whether *error* says its host is unwell (``True``), that it
        answered (``False``), or nothing (``None``: cancelled, too large...)."""
        if isinstance(error, CircuitOpen):  # refused here, not by the host
            return None
        if isinstance(error, self.errors):
            return True
        if error.status is not None:
            return error.status in self.statuses
        return None

    def state(self, host: str) -> str:
        """:data:`CLOSED`, :data:`OPEN` or :data:`HALF_OPEN` (its *reset* has
        passed: the next request goes as a probe, or one is in flight): the
        state of *host* (``name[:port]``, ``https://name[:port]``...) under
        this breaker in this thread; the worst of its destinations when it
        has many (other TLS settings, ``resolve`` entries)."""
        place = parse_host(host)[:3]
        now = self.clock()
        worst = CLOSED
        for (_, settings), circuit in list(_circuits().items()):
            if settings == self._settings and circuit.place == place:
                state = circuit.state
                if state == OPEN and now >= circuit.retry_at:
                    state = HALF_OPEN
                if _WORSE[state] > _WORSE[worst]:
                    worst = state
        return worst

    # The transitions
    def _admit(self, circuit: Circuit, request: Request) -> bool:
        """Let *request* through (``True``: as the probe) or raise CircuitOpen."""
        if circuit.state == CLOSED:
            return False
        if circuit.state == OPEN and self.clock() >= circuit.retry_at:
            circuit.state = HALF_OPEN
            logger.info('circuit of %s half-open: %s goes as a probe', circuit.host, request)
            return True
        raise self._refusal(circuit, request)

    def _failed(self, circuits: 'OrderedDict[_Place, Circuit]', place: _Place,
                probe: bool, request: Request, error: HTTPError) -> None:
        circuit = circuits.get(place)
        if circuit is None:
            circuit = Circuit(request.host)
        elif circuit.state != CLOSED and not probe:
            return  # sent before the circuit opened: it is open already
        circuit.failures += 1
        circuit.last_error = str(error)
        if probe or circuit.failures >= self.failures:
            self._open(circuit)
        remember(circuits, place, circuit, MAX_CIRCUITS)

    def _open(self, circuit: Circuit) -> None:
        circuit.state = OPEN
        circuit.opened_at = now = self.clock()
        circuit.opened_wall = time.time()
        circuit.retry_at = now + self.reset
        logger.warning('circuit of %s open after %d failures in a row (the last: %s): its '
                       'requests fail at once for %g s', circuit.host, circuit.failures,
                       circuit.last_error, self.reset)

    def _succeeded(self, circuits: 'OrderedDict[_Place, Circuit]', place: _Place,
                   probe: bool) -> None:
        circuit = circuits.get(place)
        if circuit is not None and (probe or circuit.state == CLOSED):
            del circuits[place]
            if probe:
                logger.info('circuit of %s closed: the probe succeeded', circuit.host)

    def _undecided(self, circuits: 'OrderedDict[_Place, Circuit]', place: _Place,
                   probe: bool) -> None:
        """The probe ended saying nothing (cancelled...): the next request probes."""
        circuit = circuits.get(place) if probe else None
        if circuit is not None and circuit.state == HALF_OPEN:
            circuit.state = OPEN
            circuit.retry_at = self.clock()

    def _refusal(self, circuit: Circuit, request: Request) -> CircuitOpen:
        now = self.clock()
        retry_wall = circuit.opened_wall + (circuit.retry_at - circuit.opened_at)
        outage = Outage(circuit.host, circuit.state, circuit.opened_wall, retry_wall,
                        circuit.failures, circuit.last_error)
        if circuit.state == HALF_OPEN:
            then = 'a probe is in flight'
        else:
            then = 'tried again at {0} (in {1:.3g} s)'.format(
                _clock_time(retry_wall), max(0.0, circuit.retry_at - now))
        return CircuitOpen(request, outage, '{0} failed: circuit open: {1} failed {2} times '
                           'in a row (the last: {3}), open since {4}; {5}'.format(
                               request, circuit.host, circuit.failures, circuit.last_error,
                               _clock_time(circuit.opened_wall), then))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Breaker):
            return NotImplemented
        return self._settings == other._settings

    def __hash__(self) -> int:
        return hash(self._settings)

    def __repr__(self) -> str:
        return '<Breaker failures={0} reset={1:g} statuses={2}>'.format(
            self.failures, self.reset, sorted(self.statuses))


def _clock_time(wall: float) -> str:
    return time.strftime('%H:%M:%S', time.localtime(wall))


def _server_statuses(statuses: Iterable[int]) -> FrozenSet[int]:
    try:
        found = [s for s in statuses]
    except TypeError:
        raise TypeError('statuses must be an iterable of int HTTP statuses, not {0}'.format(
            type(statuses).__name__)) from None
    for status in found:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError('statuses must be int HTTP statuses, not {0!r}'.format(status))
        if not 500 <= status <= 599:
            raise ValueError('statuses must be 5xx statuses (a 4xx says the host is well), '
                             'not {0!r}'.format(status))
    return frozenset(found)


def _failure_errors(errors: Iterable[Type[TransportError]]) -> Tuple[Type[TransportError], ...]:
    try:
        found = tuple(errors)
    except TypeError:
        raise TypeError('errors must be an iterable of TransportError subclasses, not '
                        '{0}'.format(type(errors).__name__)) from None
    for error in found:
        if not (isinstance(error, type) and issubclass(error, TransportError)):
            raise TypeError('errors must be TransportError subclasses, not {0!r}'.format(error))
        if issubclass(error, (CircuitOpen, Cancelled, ResponseTooLarge)):
            raise ValueError('errors: {0} says nothing of the host'.format(error.__name__))
    return found
