"""When to send a failed request again.

Retrying is **off by default**: a :class:`~napix.connection.Connection` (and
so a Client or a ClientPool) made without ``retry=`` sends each request once.
The only resending it does on its own is not a retry of a failure: an
idempotent request that met a kept-alive socket the server had closed while
it was idle is sent once more on a new socket (a POST never is).

Give a :class:`Retry` to turn retries on::

    >>> pool = ClientPool(auth, retry=Retry(total=3))           # doctest: +SKIP
    >>> client = Client(host, auth, retry=Retry(statuses=(429,)))  # doctest: +SKIP

Each attempt is signed anew (a fresh nonce and timestamp), so a server that
refuses replayed nonces accepts the retry.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Callable, FrozenSet, Iterable, Optional, Tuple, Type, TypeVar

import gevent

from napix.models import IDEMPOTENT_METHODS
from napix.exceptions import (Cancelled, ConnectError, HTTPError, RemoteProtocolError,
                              ResponseTooLarge, TransportError)
from napix.models import Request

__all__ = ['Retry', 'retry_after']

logger = logging.getLogger('Napix.Retry')

_R = TypeVar('_R')


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
        :exc:`~napix.exceptions.ResponseTooLarge` and
        :exc:`~napix.exceptions.Cancelled` never are.
    :param backoff: seconds before the first retry; doubled for each further
        retry (``backoff * 2 ** n``), up to *max_backoff*.
    :param max_backoff: the longest wait between two attempts, in seconds.
        It bounds ``Retry-After`` as well: a server that asks to wait longer
        than this gets its error raised at once rather than waited for.
    :param respect_retry_after: wait what the ``Retry-After`` header (seconds
        or an HTTP date) of a retried status asks, when it is longer than the
        backoff.
    :param sleep: how to wait, ``sleep(seconds)``; default :func:`gevent.sleep`,
        which lets other greenlets run meanwhile.

    Every retry is logged at ``DEBUG`` on the ``Napix.Retry`` logger, without
    credentials. The error finally raised is the one of the last attempt.
    """

    def __init__(self, total: int = 3, statuses: Iterable[int] = (429, 503),
                 methods: Iterable[str] = IDEMPOTENT_METHODS,
                 errors: Iterable[Type[TransportError]] = (ConnectError, RemoteProtocolError),
                 backoff: float = 0.5, max_backoff: float = 10.0,
                 respect_retry_after: bool = True,
                 sleep: Optional[Callable[[float], object]] = None) -> None:
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError('total must be an int >= 0, not {0}'.format(type(total).__name__))
        if total < 0:
            raise ValueError('total must be an int >= 0, not {0!r}'.format(total))
        self.total = total
        try:
            self.statuses: FrozenSet[int] = frozenset(int(s) for s in statuses)
        except (TypeError, ValueError):
            raise TypeError('statuses must be an iterable of int HTTP statuses, '
                            'not {0!r}'.format(statuses)) from None
        if isinstance(methods, str):
            raise TypeError('methods must be an iterable of method names, not a str')
        self.methods = frozenset(str(m).upper() for m in methods)
        error_types: Tuple[Type[TransportError], ...] = tuple(errors)
        for error in error_types:
            if not (isinstance(error, type) and issubclass(error, TransportError)):
                raise TypeError('errors must be TransportError subclasses, not {0!r}'.format(
                    error))
            if issubclass(error, (ResponseTooLarge, Cancelled)):
                raise ValueError('errors: {0} cannot be retried'.format(error.__name__))
        self.errors = error_types
        for name, value in (('backoff', backoff), ('max_backoff', max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError('{0} must be a number of seconds >= 0, not {1}'.format(
                    name, type(value).__name__))
            if not value >= 0:
                raise ValueError('{0} must be a number of seconds >= 0, not {1!r}'.format(
                    name, value))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.respect_retry_after = bool(respect_retry_after)
        self.sleep: Callable[[float], object] = sleep if sleep is not None else gevent.sleep

    def delay(self, error: BaseException, retries: int) -> Optional[float]:
        """Seconds to wait before sending the request of *error* again, or
        ``None`` to give up and raise *error*.

        *retries* is how many retries were already made for this request.
        """
        if retries >= self.total or not isinstance(error, HTTPError):
            return None
        if error.status is not None:
            if error.status not in self.statuses:
                return None
        elif not (isinstance(error, self.errors) and error.request is not None
                  and error.request.method in self.methods):
            return None
        wait: float = min(self.backoff * 2 ** retries, self.max_backoff)
        if self.respect_retry_after and error.response is not None:
            asked = retry_after(error.response.headers.get('retry-after'))
            if asked is not None:
                if asked > self.max_backoff:
                    return None
                wait = max(wait, asked)
        return wait

    def call(self, attempt: Callable[[Request], _R], request: Request) -> _R:
        """Return ``attempt(request)``, retried as the policy says.

        *attempt* sends the request once and raises an
        :exc:`~napix.exceptions.HTTPError` when it fails.
        """
        retries = 0
        while True:
            try:
                return attempt(request)
            except HTTPError as error:
                wait = self.delay(error, retries)
                if wait is None:
                    raise
                retries += 1
                logger.debug('retry %d of %d of %s in %.3g s after: %s', retries, self.total,
                             request, wait, error)
            self.sleep(wait)

    def __repr__(self) -> str:
        return '<Retry total={0} statuses={1} backoff={2:g} max_backoff={3:g}>'.format(
            self.total, sorted(self.statuses), self.backoff, self.max_backoff)


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
