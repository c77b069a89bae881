"""One destination of one thread: its in-flight budget and its idle sockets.

A Napix server answers ``429 Too many concurrent connections`` to a client
address with more requests in flight than it allows (2 by default). Every
connection of a thread that names the same destination (the same socket key:
scheme, address, port, server name, TLS settings) shares one
:class:`Destination`, and with it the budget of its limit, so a service
manager that makes a pool per call and serves many calls at once never sends
a server more than it allows, and reuses the sockets of the calls before it.

A destination belongs to the thread's
:class:`~napix.transports.sockets.SocketPool` (its ``sockets``), which bounds
the sockets of all destinations together and registers each one weakly: it
lives while a connection uses it or while it keeps an idle socket.

A :class:`Slot` is a caller's place in one of its budgets, with the socket
it keeps between requests; a slot outside any limit has :data:`NO_LIMIT`, a
budget that never waits.
"""

from __future__ import annotations

import sys
import weakref
from typing import TYPE_CHECKING, Any, Dict, Hashable, List, Optional

import gevent
from gevent.lock import Semaphore

if TYPE_CHECKING:
    from napix.transports.http11 import SocketConnection

__all__ = ['Budget', 'Unlimited', 'NO_LIMIT', 'Destination', 'Slot']

_NEVER = float('inf')


class Budget(object):
    """Places for requests in flight: *limit* of them. :meth:`acquire`
    takes one, or waits in line for one (first come, first served);
    :meth:`release` gives it back, or passes it to the first in line.

    It is counted here (``taken``); the line, a :class:`gevent.lock.Semaphore`
    of no place that :meth:`release` lends one to each time it passes a
    place on, is made for the first caller that has to wait (``line`` is
    ``None`` until then, :attr:`contended` once made): a budget nobody
    waits for is two numbers.
    """

    __slots__ = ('limit', 'taken', 'line')

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: The places taken, counting those passed to the line and not yet taken up.
        self.taken = 0
        self.line: Optional[Semaphore] = None

    @property
    def counter(self) -> int:
        """The places free (as for a :class:`gevent.lock.Semaphore`)."""
        return self.limit - self.taken

    @property
    def contended(self) -> bool:
        """True once someone had to wait for a place: others may be in line
        (:meth:`in_line` says how many)."""
        return self.line is not None

    def in_line(self) -> int:
        """How many wait in line for a place not passed to them yet."""
        line = self.line
        if line is None:
            return 0
        count: int = line.linkcount() - line.counter
        return count

    def acquire(self) -> None:
        """Take a place, waiting for one if need be."""
        if self.taken < self.limit:
            self.taken += 1
            return
        line = self.line
        if line is None:
            line = self.line = Semaphore(0)
        line.acquire()  # a place passed on by release(): still counted in taken

    def release(self) -> None:
        """Give a place back: to the first in line, if someone waits."""
        if self.line is not None and self.in_line() > 0:
            self.line.release()
        else:
            self.taken -= 1

    def __repr__(self) -> str:
        return '<Budget {0} of {1} taken, {2} in line>'.format(self.taken, self.limit,
                                                               self.in_line())


class Unlimited(Budget):
    """A budget that never waits (gevent's ``DummySemaphore``): the budget of
    a :class:`Slot` outside any limit. It counts nothing; :data:`NO_LIMIT` is
    the one there is."""

    __slots__ = ()

    def __init__(self) -> None:
        Budget.__init__(self, sys.maxsize)

    def acquire(self) -> None:
        """Take a place: there is always one."""

    def release(self) -> None:
        """Give a place back: nothing to do."""

    def __repr__(self) -> str:
        return '<Unlimited budget>'


#: The budget of a slot outside any limit.
NO_LIMIT = Unlimited()


class Destination(object):
    """The requests in flight to one destination and its idle sockets.

    :meth:`budget` is the :class:`Budget` of the requests in flight under
    a limit, the same for every caller that gives the same limit: a caller
    holds a place of it for each request (through a :class:`Slot`). Idle
    sockets are kept last in, first out (the most recently used is the most
    likely still open), each until its ``expires`` time on the socket
    pool's ``clock`` (:func:`time.monotonic`: the loop's clock stands still
    while the thread blocks outside the hub).
    """

    __slots__ = ('key', 'budgets', 'idle', 'soonest', 'sockets', 'in_lru', 'used',
                 '__weakref__')

    def __init__(self, key: Hashable, sockets: Any) -> None:
        self.key = key
        #: The budgets given here (:meth:`budget`), by limit.
        self.budgets: Dict[int, Budget] = {}
        self.idle: List[SocketConnection] = []
        # No idle socket expires before this (it may be earlier than the
        # soonest that is left): the sweep passes by until then.
        self.soonest = _NEVER
        # The thread's SocketPool, by proxy: it holds the destinations with
        # idle sockets, and a dropped one is freed (its sockets closed) by
        # reference counting.
        self.sockets = weakref.proxy(sockets)
        self.in_lru = False  # in the socket pool's list of destinations with idle sockets
        self.used = False  # checked in since the socket pool last looked

    def budget(self, limit: int) -> Budget:
        """The places of the requests in flight here under a limit of *limit*."""
        budget = self.budgets.get(limit)
        if budget is None:
            budget = self.budgets[limit] = Budget(limit)
        return budget

    def checkout(self) -> Optional[SocketConnection]:
        """The most recently used idle socket that is still good, or ``None``.

        Sockets found expired, closed by the server, or with stray bytes
        are closed on the way."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.expires > self.sockets.clock() and not conn.readable():
                return conn
            self.discard(conn)
        return None

    def checkin(self, conn: SocketConnection, idle_timeout: float) -> None:
        """Keep *conn* idle for *idle_timeout* seconds, for the next request."""
        conn.rest()
        expires = conn.expires = self.sockets.clock() + idle_timeout
        if expires < self.soonest:
            self.soonest = expires
        self.idle.append(conn)
        self.used = True
        if not self.in_lru or self.sockets.connects_waiting:
            self.sockets.note_idle(self)

    def discard(self, conn: SocketConnection) -> None:
        """Close a socket that is not idle, then give its place back to the
        socket pool."""
        try:
            conn.close()
        finally:
            self.sockets.release()

    def close_oldest(self) -> None:
        """Close the least recently used idle socket (to make room)."""
        self.discard(self.idle.pop(0))

    def close_expired(self, now: float) -> bool:
        """Close the idle sockets that expired at *now*; True when some remain."""
        self.used = False
        idle = self.idle
        kept = [conn for conn in idle if conn.expires > now]
        if len(kept) < len(idle):
            for conn in idle:
                if conn.expires <= now:
                    self.discard(conn)
            idle[:] = kept
        self.soonest = min([conn.expires for conn in kept], default=_NEVER)
        self.in_lru = bool(kept)
        return self.in_lru

    def close_idle(self) -> None:
        """Close every idle socket."""
        idle = self.idle
        while idle:
            self.discard(idle.pop())
        self.soonest = _NEVER
        self.in_lru = False

    def __repr__(self) -> str:
        flights = ', '.join('{0} of {1} in flight'.format(limit - budget.counter, limit)
                            for limit, budget in self.budgets.items())
        return '<Destination {0} idle{1}>'.format(len(self.idle), flights and ', ' + flights)


class Slot(object):
    """A place in a destination's budget, and the socket its holder keeps
    from one request to the next: a pool's worker takes one for all the
    requests it sends in a row, so that its socket (with its parser) goes
    from one request to the next without being checked in and out.

    :meth:`release` checks the socket in (idle, for anyone) and gives the
    place back; a slot outside any limit has the budget :data:`NO_LIMIT`
    (``None`` says the same). Its socket stays idle *idle_timeout* seconds
    (its transport's); 0: not kept.
    """

    __slots__ = ('destination', 'budget', 'conn', 'idle_timeout', 'held')

    def __init__(self, destination: Destination, budget: Optional[Budget],
                 idle_timeout: float) -> None:
        self.destination = destination
        self.budget: Budget = NO_LIMIT if budget is None else budget
        self.conn: Optional[SocketConnection] = None  # the socket kept between requests
        self.idle_timeout = idle_timeout  # how long it stays idle once checked in
        self.held = False

    def acquire(self) -> None:
        """Wait for a place in the budget."""
        self.budget.acquire()
        self.held = True

    def release(self) -> None:
        """Check the kept socket in, and give the place back."""
        conn = self.conn
        if conn is not None:
            self.conn = None
            self.destination.checkin(conn, self.idle_timeout)
        if self.held:
            self.held = False
            self.budget.release()

    def let_others_go_first(self) -> None:
        """When others wait for a place, release this one and wait again
        behind them (in the hub's order: those waiting go first)."""
        if self.budget.in_line():
            self.release()
            gevent.sleep(0)
            self.acquire()

    def __repr__(self) -> str:
        return '<Slot {0}{1}>'.format('held' if self.held else 'free',
                                      ', with a socket' if self.conn is not None else '')
