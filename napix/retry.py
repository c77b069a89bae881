"""When to send a request again: after a failure (a :class:`Retry` policy),
and after napixd's busy ``429``.

Retrying is **off by default**: a :class:`~napix.connection.Connection` (and
so a Client or a ClientPool) made without ``retry=`` sends each request once.
It sends a request again on its own in two cases only, neither a retry of a
failure:

* an idempotent request that met a kept-alive socket the server had closed
  while it was idle is sent once more on a new socket (a POST never is);
* a request that napixd answered ``429 Too many concurrent connections``
  (:func:`napixd_busy`) is sent once more, signed anew, after
  :data:`~napix.defaults.DEFAULT_BUSY_WAIT` seconds, whatever its method:
  napixd answers so before it runs anything. ``resend_busy=False`` (on the
  connection, client or pool) turns it off.

Give a :class:`Retry` to turn retries on::

    >>> pool = ClientPool(auth, retry=Retry(total=3))           # doctest: +SKIP
    >>> client = Client(host, auth, retry=Retry(statuses=(429,)))  # doctest: +SKIP

Each attempt is signed anew (a fresh nonce and timestamp), so a server that
refuses replayed nonces accepts the retry. What bounds the retries of a
request: *total*; a *deadline* for all its attempts together; a *budget*,
shared by the requests to its destination, so that a failure of a whole
fleet does not multiply the load on it; and a circuit breaker
(:mod:`napix.breaker`), which no retry goes through while it is open.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections import OrderedDict
from typing import (Callable, FrozenSet, Hashable, Iterable, Optional, Tuple, Type, TypeVar,
                    Union)

import gevent
from gevent.monkey import get_original

from napix.breaker import remember
from napix.checks import check_count, check_seconds
from napix.defaults import DEFAULT_TIMEOUT
from napix.exceptions import (Cancelled, CircuitOpen, ConnectError, HTTPError,
                              RemoteProtocolError, ResponseTooLarge, TransportError)
from napix.models import IDEMPOTENT_METHODS, Request, Response

__all__ = ['Retry', 'retry_after', 'napixd_busy', 'unsigned_copy', 'BUDGET_WINDOW',
           'MAX_BUDGETS']

logger = logging.getLogger('Napix.Retry')

_R = TypeVar('_R')

#: Seconds of the recent window over which a retry budget counts the
#: requests and retries of a destination.
BUDGET_WINDOW = 10.0

#: The most destinations whose retry budget a thread keeps (the least
#: recently used forgotten first: they start afresh).
MAX_BUDGETS = 10000

#: What napixd says when a client has more requests in flight than it allows.
_BUSY = 'too many concurrent connections'

# Per OS thread, as the circuits of napix.breaker.
_local = get_original('threading', 'local')()


class Retry(object):
    """A retry policy: which failures are retried, how often, after how long.

    :param total: the most retries of one request, so it is sent at most
        ``total + 1`` times. ``0`` never retries.
    :param statuses: the HTTP statuses retried, **whatever the method**:
        napixd answers ``429`` (too many concurrent requests, quota exceeded)
        and a ``503`` before running the service, so nothing was done yet.
        Default ``(429, 503)``.
    :param methods: the methods retried after a transport failure (no usable
        response: refused, closed, reset, not HTTP...), when the server may
        have acted on the request already. Default the idempotent methods
        (:data:`napix.models.IDEMPOTENT_METHODS`): a POST is never retried after a
        transport failure.
    :param errors: the :exc:`~napix.exceptions.TransportError` subclasses
        retried for *methods*. Default :exc:`~napix.exceptions.ConnectError` and
        :exc:`~napix.exceptions.RemoteProtocolError`. A
        :exc:`~napix.exceptions.Timeout` is not retried unless listed, as
        every retry could wait the whole timeout again;
        :exc:`~napix.exceptions.ResponseTooLarge`,
        :exc:`~napix.exceptions.Cancelled` and
        :exc:`~napix.exceptions.CircuitOpen` never are.
    :param backoff: seconds before the first retry; doubled for each further
        retry (``backoff * 2 ** n``), up to *max_backoff*.
    :param max_backoff: the longest wait between two attempts, in seconds.
        It bounds ``Retry-After`` as well: a server that asks to wait longer
        than this gets its error raised at once rather than waited for.
    :param respect_retry_after: wait what the ``Retry-After`` header (seconds
        or an HTTP date) of a retried status asks, when it is longer than the
        backoff.
    :param deadline: seconds for all the attempts of one request together,
        waits included, or ``None``. Each attempt's connect and read timeouts
        are cut to what is left of it, no attempt starts past it, and a retry
        whose wait would end past it is not made: the last error is raised.
    :param jitter: ``True`` spreads the waits (*full jitter*: a random wait
        between 0 and the backoff), so that clients that failed together do
        not come back together; a ``random.Random`` does so with its
        numbers (to repeat them in a test). Default ``False``.
    :param budget: the retries allowed to a destination, as a share (0 to 1)
        of the requests sent there over the last :data:`BUDGET_WINDOW`
        seconds, beyond *min_retry_rate*; ``None`` (default): no budget. It
        is shared by every policy of the thread with the same budget, for
        the same destination. A retry it refuses is not made: the last error
        is raised.
    :param min_retry_rate: with a *budget*, the retries per second a
        destination is always allowed (default 1), so that a few requests
        sent alone can be retried.
    :param sleep: how to wait, ``sleep(seconds)``; default :func:`gevent.sleep`,
        which lets other greenlets run meanwhile.
    :param clock: seconds, ``clock()``, for the deadline and the budget;
        default :func:`time.monotonic`.

    Every retry, and every retry not made, is logged at ``DEBUG`` on the
    ``Napix.Retry`` logger, without credentials. The error finally raised is
    the one of the last attempt, or a
    :exc:`~napix.exceptions.CircuitOpen` when the connection's breaker opened
    meanwhile. Bad arguments raise :exc:`TypeError` or :exc:`ValueError`
    naming them, here.
    """

    def __init__(self, total: int = 3, statuses: Iterable[int] = (429, 503),
                 methods: Iterable[str] = IDEMPOTENT_METHODS,
                 errors: Iterable[Type[TransportError]] = (ConnectError, RemoteProtocolError),
                 backoff: float = 0.5, max_backoff: float = 10.0,
                 respect_retry_after: bool = True,
                 sleep: Optional[Callable[[float], object]] = None,
                 deadline: Optional[float] = None, jitter: Union[bool, random.Random] = False,
                 budget: Optional[float] = None, min_retry_rate: float = 1.0,
                 clock: Optional[Callable[[], float]] = None) -> None:
        self.total = check_count('total', total)
        try:
            self.statuses: FrozenSet[int] = frozenset(int(s) for s in statuses)
        except (TypeError, ValueError):
            raise TypeError('statuses must be an iterable of int HTTP statuses, '
                            'not {0!r}'.format(statuses)) from None
        if isinstance(methods, str):
            raise TypeError('methods must be an iterable of method names, not a str')
        self.methods = frozenset(str(m).upper() for m in methods)
        self.errors = _retried_errors(errors)
        self.backoff = check_seconds('backoff', backoff, zero_ok=True)
        self.max_backoff = check_seconds('max_backoff', max_backoff, zero_ok=True)
        self.respect_retry_after = bool(respect_retry_after)
        self.sleep: Callable[[float], object] = sleep if sleep is not None else gevent.sleep
        self.deadline = None if deadline is None else check_seconds('deadline', deadline)
        self.jitter = _random_source(jitter)
        self.budget = None if budget is None else _share('budget', budget)
        self.min_retry_rate = check_seconds('min_retry_rate', min_retry_rate, zero_ok=True)
        if clock is not None and not callable(clock):
            raise TypeError('clock must be a callable returning seconds, not {0}'.format(
                type(clock).__name__))
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic

    def delay(self, error: BaseException, retries: int) -> Optional[float]:
        """Seconds to wait before sending the request of *error* again, or
        ``None`` to give up and raise *error*.

        *retries* is how many retries were already made for this request.
        """
        if retries >= self.total or not isinstance(error, HTTPError) \
                or isinstance(error, CircuitOpen):
            return None
        if error.status is not None:
            if error.status not in self.statuses:
                return None
        elif not (isinstance(error, self.errors) and error.request is not None
                  and error.request.method in self.methods):
            return None
        wait: float = min(self.backoff * 2 ** retries, self.max_backoff)
        if self.jitter is not None:
            wait *= self.jitter()
        if self.respect_retry_after and error.response is not None:
            asked = retry_after(error.response.headers.get('retry-after'))
            if asked is not None:
                if asked > self.max_backoff:
                    return None
                wait = max(wait, asked)
        return wait

    def call(self, attempt: Callable[[Request], _R], request: Request,
             key: Hashable = None, timeout: Optional[Tuple[float, float]] = None,
             check: Optional[Callable[[Request], None]] = None) -> _R:
        """Return ``attempt(request)``, retried as the policy says.

        *attempt* sends the request once and raises an
        :exc:`~napix.exceptions.HTTPError` when it fails. *key* names the
        destination whose *budget* the retries draw from. *timeout* is the
        ``(connect, read)`` the request is sent with when it has none of its
        own (a connection's), cut to what is left of a *deadline*. *check*,
        called with the request before each retry's wait, raises to give up
        at once (a :class:`napix.breaker.Breaker`'s ``check``: no retry goes
        into an open circuit).
        """
        clock = self.clock
        ends = None if self.deadline is None else clock() + self.deadline
        spending = None if self.budget is None else self._spending(key)
        retries = 0
        sent = request
        while True:
            if ends is not None:
                sent = _within(request, timeout, ends - clock())
            try:
                return attempt(sent)
            except HTTPError as error:
                wait = self._retry_wait(error, retries, ends, spending, check)
                if wait is None:
                    raise
                retries += 1
                logger.debug('retry %d of %d of %s in %.3g s after: %s', retries, self.total,
                             request, wait, error)
                last = error
            self.sleep(wait)
            if ends is not None and clock() >= ends:
                logger.debug('no retry of %s: its deadline passed', request)
                raise last

    def _retry_wait(self, error: HTTPError, retries: int, ends: Optional[float],
                    spending: Optional[_Spending], check: Optional[Callable[[Request], None]]
                    ) -> Optional[float]:
        """:meth:`delay`, unless the deadline, the breaker or the budget say no."""
        wait = self.delay(error, retries)
        if wait is None:
            return None
        request = error.request
        if ends is not None and self.clock() + wait >= ends:
            logger.debug('no retry of %s: its deadline would pass', request)
            return None
        if check is not None and request is not None:
            check(request)
        if spending is not None and not spending.withdraw(self.clock(), self._allowance()):
            logger.debug('no retry of %s: the retry budget of its destination is spent',
                         request)
            return None
        return wait

    def _spending(self, key: Hashable) -> _Spending:
        """The spending of *key*'s budget, this request counted in."""
        try:
            table: OrderedDict[Hashable, _Spending] = _local.budgets
        except AttributeError:
            table = _local.budgets = OrderedDict()
        place = (key, self.budget, self.min_retry_rate, self.clock)
        now = self.clock()
        spending = table.get(place)
        if spending is None:
            spending = _Spending(now)
        remember(table, place, spending, MAX_BUDGETS)
        spending.deposit(now)
        return spending

    def _allowance(self) -> Tuple[float, float]:
        return (self.budget or 0.0, self.min_retry_rate * BUDGET_WINDOW)

    def __repr__(self) -> str:
        extra = ''.join(' {0}={1:g}'.format(name, value) for name, value in (
            ('deadline', self.deadline), ('budget', self.budget)) if value is not None)
        return '<Retry total={0} statuses={1} backoff={2:g} max_backoff={3:g}{4}{5}>'.format(
            self.total, sorted(self.statuses), self.backoff, self.max_backoff,
            ' jitter' if self.jitter is not None else '', extra)


class _Spending(object):
    """The requests sent to one destination and the retries made, under one
    budget: those of the current window of :data:`BUDGET_WINDOW` seconds,
    and of the one before, counted in as much as it still overlaps the last
    :data:`BUDGET_WINDOW` seconds."""

    __slots__ = ('started', 'requests', 'retries', 'requests_before', 'retries_before')

    def __init__(self, now: float) -> None:
        self.started = now  # the current window's start
        self.requests = self.retries = 0
        self.requests_before = self.retries_before = 0

    def deposit(self, now: float) -> None:
        """Count a request sent."""
        self._roll(now)
        self.requests += 1

    def withdraw(self, now: float, allowance: Tuple[float, float]) -> bool:
        """Count a retry and return ``True`` if *allowance* (``(share,
        floor)``: *share* of the recent requests, plus *floor*) allows it."""
        self._roll(now)
        before = 1.0 - (now - self.started) / BUDGET_WINDOW
        share, floor = allowance
        requests = self.requests + self.requests_before * before
        retries = self.retries + self.retries_before * before
        if retries + 1 > share * requests + floor:
            return False
        self.retries += 1
        return True

    def _roll(self, now: float) -> None:
        windows = math.floor((now - self.started) / BUDGET_WINDOW)
        if windows >= 1:
            if windows == 1:
                self.requests_before, self.retries_before = self.requests, self.retries
            else:
                self.requests_before = self.retries_before = 0
            self.requests = self.retries = 0
            self.started += windows * BUDGET_WINDOW


def _within(request: Request, timeout: Optional[Tuple[float, float]],
            left: float) -> Request:
    """A copy of *request* whose connect and read timeouts are cut to *left* seconds."""
    connect, read = request.timeout or timeout or DEFAULT_TIMEOUT
    copy = request.copy()
    left = max(left, 0.001)
    copy.timeout = (min(connect, left), min(read, left))
    return copy


def napixd_busy(response: Response) -> bool:
    """Whether *response* is napixd's ``429 Too many concurrent connections``:
    napixd answers so before it runs anything, so any request may be sent
    again (:class:`~napix.connection.Connection`'s ``resend_busy``)."""
    return response.status == 429 and response.text.strip().lower() == _BUSY


def unsigned_copy(request: Request) -> Request:
    """A copy of the signed *request* to sign again: without the secret
    query parameters an authenticator added (its headers are set anew)."""
    copy = request.copy()
    copy.url = request.public_url()
    return copy


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds asked by a ``Retry-After`` header value (a number of seconds or an
    HTTP date), or ``None`` when absent or unreadable. Never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if date is None:
        return None
    return max(0.0, date.timestamp() - time.time())


def _share(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError('{0} must be a number from 0 to 1, not {1}'.format(
            name, type(value).__name__))
    if not 0 <= value <= 1:
        raise ValueError('{0} must be a number from 0 to 1, not {1!r}'.format(name, value))
    return float(value)


def _random_source(jitter: Union[bool, random.Random]) -> Optional[Callable[[], float]]:
    if isinstance(jitter, bool):
        return random.random if jitter else None
    if isinstance(jitter, random.Random):
        return jitter.random
    raise TypeError('jitter must be True, False or a random.Random, not {0}'.format(
        type(jitter).__name__))


def _retried_errors(errors: Iterable[Type[TransportError]]) -> Tuple[Type[TransportError], ...]:
    error_types: Tuple[Type[TransportError], ...] = tuple(errors)
    for error in error_types:
        if not (isinstance(error, type) and issubclass(error, TransportError)):
            raise TypeError('errors must be TransportError subclasses, not {0!r}'.format(
                error))
        if issubclass(error, (ResponseTooLarge, Cancelled, CircuitOpen)):
            raise ValueError('errors: {0} cannot be retried'.format(error.__name__))
    return error_types
