"""One request sent to many hosts through a :class:`~napixd.client.ClientPool`.

:class:`FanOut` starts the requests, hands each :class:`Outcome` to a callback
as it completes, keeps the counters a progress display reads, and can be
interrupted (Ctrl-C) or stopped at the first success. Nothing here touches the
terminal: :mod:`napixd.cli.render` draws, this module only counts and describes.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from time import monotonic
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, cast)

import gevent
from gevent.queue import SimpleQueue

from napix.exceptions import Cancelled, HTTPError, TransportError

if TYPE_CHECKING:
    from napix.checks import Body
    from napix.models import Response
    from napix.timings import Timings
    from napixd.client.pool import ClientPool

__all__ = ['FanOut', 'Outcome', 'describe_error', 'describe_body', 'on_sigint']

_MAX_CHAIN = 16


class Outcome(object):
    """What one host answered.

    ``index`` (position of the host on the command line), ``host``,
    ``seconds`` (from the start of the fan-out to the answer), and either
    ``response`` (a :class:`~napix.connection.Response` below 400) or ``error``
    (the :exc:`~napix.exceptions.HTTPError`, or another exception);
    ``credentials``: where the credentials came from (safe to print), named by
    the answers that refuse them (401, 403).
    """

    __slots__ = ('index', 'host', 'seconds', 'response', 'error', 'credentials')

    def __init__(self, index: int, host: str, seconds: float,
                 response: Optional[Response] = None, error: Optional[BaseException] = None,
                 credentials: Optional[str] = None) -> None:
        self.index = index
        self.host = host
        self.seconds = seconds
        self.response = response
        self.error = error
        self.credentials = credentials

    @property
    def ok(self) -> bool:
        """``True`` when the host answered below 400."""
        return self.error is None

    @property
    def cancelled(self) -> bool:
        """``True`` when the request was cancelled before it completed."""
        return isinstance(self.error, Cancelled)

    @property
    def refused_credentials(self) -> bool:
        """``True`` when the host answered 401 or 403."""
        return self.status in (401, 403)

    @property
    def timings(self) -> Optional[Timings]:
        """Where the request's time went (:class:`~napix.timings.Timings`), or
        ``None`` (a request cancelled before it was made, an error of no request)."""
        timings: Optional[Timings] = getattr(self.response or self.error, 'timings', None)
        return timings

    @property
    def status(self) -> Optional[int]:
        """The HTTP status, or ``None`` when no response came."""
        if self.response is not None:
            return self.response.status
        status: Optional[int] = getattr(self.error, 'status', None)
        return status

    @property
    def status_text(self) -> str:
        """``'200 OK'``, ``'404 Not Found'``, or what went wrong without a status:
        ``'timeout'``, ``'refused'``, ``'cancelled'``, ``'no answer'``."""
        response: Optional[Response] = self.response if self.response is not None else \
            getattr(self.error, 'response', None)
        if response is not None:
            return '{0} {1}'.format(response.status, response.reason or '').strip()
        error = self.error
        if isinstance(error, Cancelled):
            return 'cancelled'
        name = type(error).__name__
        return {'Timeout': 'timeout', 'ConnectError': 'unreachable',
                'RemoteProtocolError': 'bad answer',
                'ResponseTooLarge': 'too large'}.get(name, 'error')

    @property
    def summary(self) -> str:
        """One line: the body of a success, or the error with its bubbled chain
        (and, for a 401 or 403, where the credentials came from)."""
        if self.error is None:
            return describe_body(cast('Response', self.response))
        if self.cancelled:
            return 'cancelled before it answered'
        text = describe_error(self.error)
        if self.refused_credentials and self.credentials:
            text += ' (credentials from {0})'.format(self.credentials)
        return text

    def as_json(self) -> Dict[str, Any]:
        """A ``dict`` ready for :func:`json.dumps`, one per line of ``--json`` output."""
        data: Dict[str, Any] = {'host': self.host, 'status': self.status, 'ok': self.ok,
                'seconds': round(self.seconds, 4)}
        timings = self.timings
        if timings is not None:
            data['timings'] = timings.as_dict()
        if self.error is None:
            response = cast('Response', self.response)
            data['body'] = response.body
            location = response.headers.get('location')
            if location:
                data['location'] = location
            return data
        error = self.error
        data['error'] = describe_error(error)
        data['error_type'] = type(error).__name__
        if isinstance(error, HTTPError):
            data['remote_call'] = error.remote_call
            data['remote_error'] = error.remote_error
        if self.cancelled:
            data['cancelled'] = True
        if self.refused_credentials and self.credentials:
            data['credentials'] = self.credentials
        return data

    def __repr__(self) -> str:
        return '<Outcome {0} {1}>'.format(self.host, self.status_text)


def _one_line(text: object, limit: int = 2000) -> str:
    """*text* on one line; beyond *limit* characters, cut where it says so."""
    text = ' '.join(str(text).split())
    if len(text) <= limit:
        return text
    return '{0} [… {1} more characters: --json shows all]'.format(text[:limit],
                                                                 len(text) - limit)


def describe_body(response: Response) -> str:
    """A one-line summary of a successful response's body (compact JSON, or
    the text); for an empty body, the ``Location`` header if any."""
    body = response.body
    if body is None or body == '':
        location = response.headers.get('location')
        return '→ ' + location if location else ''
    if isinstance(body, str):
        return _one_line(body)
    return _one_line(json.dumps(body, ensure_ascii=False, separators=(', ', ': ')))


def describe_remote_error(error: Any) -> str:
    """The compact form of a ``remote_error``, following the bubbled chain:
    ``GET b.napix.nx/vm/10 → "404 NOT FOUND" `10` not found``."""
    parts: List[str] = []
    for _ in range(_MAX_CHAIN):
        if not isinstance(error, dict):
            if error not in (None, ''):
                parts.append(_one_line(error))
            break
        call = error.get('remote_call')
        if call and 'remote_error' in error:
            parts.append(_one_line(call, 200))
            error = error['remote_error']
            continue
        text: str = error.get('error_class') or 'Error'
        if error.get('error_text'):
            text += ': ' + str(error['error_text'])
        where = error.get('filename')
        if where and error.get('line'):
            text += ' ({0}:{1})'.format(os.path.basename(str(where)), error['line'])
        parts.append(_one_line(text))
        break
    else:
        parts.append('…')
    return ' → '.join(parts)


def describe_error(error: BaseException) -> str:
    """One line saying why a host failed, never with credentials.

    A plain error answer gives its body (the status is shown apart), a JSON
    error from a remote ``ExceptionsCatcher`` gives its bubbled chain, a
    transport failure its cause.
    """
    if isinstance(error, TransportError):
        return _one_line(error.cause)
    if isinstance(error, HTTPError):
        remote = error.remote_error
        if isinstance(remote, dict):
            return describe_remote_error(remote)
        if isinstance(error.body, str) and error.body.strip():
            return _one_line(error.body)
        return _one_line(remote or error.message)
    return _one_line('{0}: {1}'.format(type(error).__name__, error))


class FanOut(object):
    """Send *method* *path* (with *body*) to every host of *hosts* through *pool*.

    :param on_result: called with each :class:`Outcome` as it completes (in
        completion order), in the greenlet that runs :meth:`run`.
    :param first: cancel the rest at the first success.
    :param credentials: where the credentials came from, for the outcomes.

    Requests cancelled by :meth:`interrupt` reach *on_result* too (their
    outcomes are ``cancelled``); the ones *first* made useless do not.

    The counters ``total``, ``done``, ``ok``, ``failed`` and ``pending`` and
    :meth:`elapsed` and :meth:`rate` may be read at any time, from any greenlet.
    """

    def __init__(self, pool: ClientPool, method: str, path: str, hosts: Iterable[str],
                 body: Body = None, first: bool = False,
                 on_result: Optional[Callable[[Outcome], object]] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 credentials: Optional[str] = None) -> None:
        self.pool = pool
        self.credentials = credentials
        self.headers = headers
        self.method = method
        self.path = path
        self.hosts = list(hosts)
        self.body = body
        self.first = first
        self.on_result = on_result
        self.total = len(self.hosts)
        self.ok = self.failed = self.cancelled = 0
        self.interrupted = False
        self.stopped_early = False
        self.outcomes: List[Optional[Outcome]] = [None] * self.total
        self.started: Optional[float] = None
        self.finished: Optional[float] = None

    @property
    def done(self) -> int:
        """Requests answered, successfully or not (cancelled ones excluded)."""
        return self.ok + self.failed

    @property
    def pending(self) -> int:
        return self.total - self.done - self.cancelled

    def elapsed(self) -> float:
        """Seconds since the start (until the end once finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or monotonic()) - self.started

    def rate(self) -> float:
        """Answers per second so far."""
        elapsed = self.elapsed()
        return self.done / elapsed if elapsed > 0 else 0.0

    def run(self) -> List[Outcome]:
        """Send every request, wait for them all (or the first success); return
        the outcomes in the order of the hosts."""
        ready = SimpleQueue()
        self.started = started = monotonic()
        handles = []
        for index, host in enumerate(self.hosts):
            handle = self.pool.request(host, self.method, self.path, self.body,
                                       self.headers)
            handle.rawlink(lambda h, i=index: ready.put((i, h, monotonic())))
            handles.append(handle)
        for _ in range(len(handles)):
            index, handle, when = ready.get()
            error = handle.exception
            outcome = Outcome(index, self.hosts[index], when - started,
                              response=handle.value if error is None else None, error=error,
                              credentials=self.credentials)
            self.outcomes[index] = outcome
            if outcome.cancelled:
                self.cancelled += 1
            elif outcome.ok:
                self.ok += 1
            else:
                self.failed += 1
            if self.on_result is not None and (self.interrupted or not outcome.cancelled):
                self.on_result(outcome)
            if self.first and outcome.ok and not self.stopped_early:
                self.stopped_early = True
                self.pool.cancel()
        self.finished = monotonic()
        return cast(List[Outcome], self.outcomes)  # every one is in now

    def interrupt(self) -> None:
        """Cancel what is pending (Ctrl-C): :meth:`run` returns promptly with
        the cancelled requests marked so."""
        if not self.interrupted:
            self.interrupted = True
            self.pool.cancel()


@contextmanager
def on_sigint(callback: Callable[[], object]) -> Iterator[None]:
    """Within the block, call *callback* in a new greenlet on SIGINT (Ctrl-C)
    instead of raising :exc:`KeyboardInterrupt`."""
    previous = signal.getsignal(signal.SIGINT)
    watcher = gevent.signal_handler(signal.SIGINT, callback)
    try:
        yield
    finally:
        watcher.cancel()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
