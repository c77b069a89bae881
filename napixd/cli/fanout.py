"""One request sent to many hosts through a :class:`~napixd.client.ClientPool`.

:class:`FanOut` starts the requests when its :class:`~napixd.cli.batches.Plan`
lets it (all at once, or in batches), hands each
:class:`~napixd.cli.outcome.Outcome` to a callback as it is settled, keeps the
counters a progress display reads, and stops early when told: Ctrl-C, the
first success (``--first``), too many failures (``--max-fail``). Every host
gets exactly one outcome, the ones never sent included. Nothing here touches
the terminal: :mod:`napixd.cli.render` draws, this module only counts.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from time import monotonic
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Mapping, Optional,
                    cast)

import gevent
from gevent.queue import SimpleQueue

from napix.exceptions import Cancelled
from napixd.cli.batches import Plan
from napixd.cli.outcome import Outcome, Skipped

if TYPE_CHECKING:
    from napix.checks import Body
    from napixd.client.pool import ClientPool

__all__ = ['FanOut', 'on_sigint']


class FanOut(object):
    """Send *method* *path* (with *body*) to every host of *hosts* through *pool*.

    :param on_result: called with each :class:`~napixd.cli.outcome.Outcome` as
        it is settled (answered, failed, cancelled or skipped), in the
        greenlet that runs :meth:`run`; the hosts never sent come last, in
        their order.
    :param first: cancel the rest at the first success.
    :param credentials: where the credentials came from, for the outcomes.
    :param plan: when to send each request and when to stop
        (:class:`~napixd.cli.batches.Plan`); default all at once.

    The counters ``total``, ``done``, ``ok``, ``failed``, ``cancelled``,
    ``skipped`` and ``pending`` and :meth:`elapsed` and :meth:`rate` may be
    read at any time, from any greenlet. Once :meth:`run` returned,
    ``stopped_by`` says why sending stopped before the end (a
    :class:`~napixd.cli.batches.MaxFail` reason), or is ``None``.
    """

    def __init__(self, pool: ClientPool, method: str, path: str, hosts: Iterable[str],
                 body: Body = None, first: bool = False,
                 on_result: Optional[Callable[[Outcome], object]] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 credentials: Optional[str] = None, plan: Optional[Plan] = None) -> None:
        self.pool = pool
        self.credentials = credentials
        self.headers = headers
        self.method = method
        self.path = path
        self.hosts = list(hosts)
        self.body = body
        self.first = first
        self.on_result = on_result
        self.plan = plan if plan is not None else Plan()
        self.total = len(self.hosts)
        self.ok = self.failed = self.cancelled = self.skipped = 0
        self.sent = 0
        self.batches_started = 0
        self.interrupted = False
        self.stopped_early = False
        self.stopped_by: Optional[str] = None
        self.outcomes: List[Optional[Outcome]] = [None] * self.total
        self.started: Optional[float] = None
        self.finished: Optional[float] = None

    @property
    def done(self) -> int:
        """Requests answered, successfully or not (cancelled ones excluded)."""
        return self.ok + self.failed

    @property
    def pending(self) -> int:
        return self.total - self.done - self.cancelled - self.skipped

    @property
    def stopping(self) -> bool:
        """``True`` once no more requests are to be started."""
        return self.interrupted or self.stopped_early or self.stopped_by is not None

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
        """Send the requests as the plan lets, wait for what was sent; return
        the outcomes of every host in the order of the hosts."""
        ready: SimpleQueue[Any] = SimpleQueue()
        self.started = monotonic()
        unsettled = 0
        while True:
            room = 0 if self.stopping else self.plan.room(unsettled, self.total - self.sent)
            if room:
                self._send(room, ready)
                unsettled += room
            if not unsettled:
                break
            index, handle, when = ready.get()
            unsettled -= 1
            error = handle.exception
            self._settle(Outcome(index, self.hosts[index], when - self.started,
                                 response=handle.value if error is None else None,
                                 error=error, credentials=self.credentials))
        self._settle_unsent()
        self.finished = monotonic()
        return cast(List[Outcome], self.outcomes)  # every one is in now

    def _send(self, count: int, ready: SimpleQueue[Any]) -> None:
        """Start the requests of the next *count* hosts."""
        self.batches_started += 1
        for index in range(self.sent, self.sent + count):
            handle = self.pool.request(self.hosts[index], self.method, self.path, self.body,
                                       self.headers)
            handle.rawlink(lambda h, i=index: ready.put((i, h, monotonic())))
        self.sent += count

    def _settle(self, outcome: Outcome) -> None:
        """Count *outcome*, hand it on, and stop sending when it says so."""
        self.outcomes[outcome.index] = outcome
        if outcome.cancelled:
            self.cancelled += 1
        elif outcome.skipped:
            self.skipped += 1
        elif outcome.ok:
            self.ok += 1
        else:
            self.failed += 1
        if self.on_result is not None:
            self.on_result(outcome)
        if self.first and outcome.ok and not self.stopped_early:
            self.stopped_early = True
            self.pool.cancel()
        max_fail = self.plan.max_fail
        if max_fail is not None and self.stopped_by is None and \
                max_fail.exceeded(self.failed, self.total):
            self.stopped_by = max_fail.reason(self.failed, self.total)

    def _settle_unsent(self) -> None:
        """Give the hosts never sent their outcome: skipped when ``--max-fail``
        stopped the batches, else cancelled."""
        seconds = monotonic() - cast(float, self.started)
        why = self.stopped_by or ('interrupted' if self.interrupted else
                                  'a host answered first (--first)')
        batches_stopped = self.stopped_by is not None and self.plan.batch is not None
        for index in range(self.sent, self.total):
            error: Exception = Skipped(why) if batches_stopped else \
                Cancelled(None, 'not sent: ' + why, 'not sent: ' + why)
            self._settle(Outcome(index, self.hosts[index], seconds, error=error,
                                 credentials=self.credentials))

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
