"""One destination of one thread: its in-flight budget and its idle sockets.

A Napix server answers ``429 Too many concurrent connections`` to a client
address with more requests in flight than it allows (2 by default). Every
connection of a thread that names the same destination (the same socket key:
scheme, address, port, server name, TLS settings) shares one
:class:`Destination`, and with it the budget of its limit, so a service
manager that makes a pool per call and serves many calls at once never sends
a server more than it allows, and reuses the sockets of the calls before it.

A destination belongs to the thread's *pool*, a
:class:`~napix.transports.sockets.SocketPool`, which bounds the sockets of all
destinations together and registers each one weakly: it lives while a
connection uses it or while it keeps an idle socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Hashable, List, Optional

import weakref

import gevent
from gevent.lock import Semaphore

if TYPE_CHECKING:
    from napix.transports.http11 import HTTP11Connection

__all__ = ['Budget', 'Destination', 'Slot']

_NEVER = float('inf')


class Budget(object):
    """Places for requests in flight: *limit* of them. :meth:`acquire`
    takes one, or waits in line for one (first come, first served);
    :meth:`release` gives it back, or passes it to the first in line.

    It is counted here (``taken``); the line, a :class:`gevent.lock.Semaphore`
    of no place that :meth:`release` lends one to each time it passes a
    place on, is made for the first caller that has to wait: a budget
    nobody waits for is two numbers.
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

    def waiting(self) -> int:
        """How many wait in line for a place not passed to them yet."""
        line = self.line
        if line is None:
            return 0
        waiting: int = line.linkcount() - line.counter
        return waiting

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
        if self.line is not None and self.waiting() > 0:
            self.line.release()
        else:
            self.taken -= 1


class Destination(Budget):
    """The requests in flight to one destination and its idle sockets.

    :meth:`budget` is the :class:`Budget` of the requests in flight under
    a limit, the same for every caller that gives the same limit: a caller
    holds a place of it for each request (through a :class:`Slot`). The
    destination is itself the budget of the first limit asked of it (the
    only one, but for a caller with another *maxsize*): a destination
    costs no object more. Idle sockets are kept last in, first out (the
    most recently used is the most likely still open), each until its
    ``expires`` time on the pool's ``clock`` (:func:`time.monotonic`: the
    loop's clock stands still while the thread blocks outside the hub).
    """

    __slots__ = ('key', 'others', 'idle', 'soonest', 'pool', 'listed', 'used', '__weakref__')

    def __init__(self, key: Hashable, pool: Any) -> None:
        Budget.__init__(self, 0)  # its limit: the first asked for
        self.key = key
        self.others: Optional[Dict[int, Budget]] = None  # the budgets of other limits
        self.idle: List[HTTP11Connection] = []
        # No idle socket expires before this (it may be earlier than the
        # soonest that is left): the pool's sweep passes by until then.
        self.soonest = _NEVER
        # A proxy: the pool holds the destinations with idle sockets, and a
        # dropped pool is freed (its sockets closed) by reference counting.
        self.pool = weakref.proxy(pool)
        self.listed = False  # in the pool's list of destinations with idle sockets
        self.used = False  # checked in since the pool last looked

    def budget(self, limit: int) -> Budget:
        """The places of the requests in flight here under a limit of *limit*."""
        if limit == self.limit:
            return self
        if self.limit == 0:
            self.limit = limit
            return self
        others = self.others
        if others is None:
            others = self.others = {}
        budget = others.get(limit)
        if budget is None:
            budget = others[limit] = Budget(limit)
        return budget

    @property
    def budgets(self) -> Dict[int, Budget]:
        """The budgets given here, by limit."""
        budgets: Dict[int, Budget] = {} if self.limit == 0 else {self.limit: self}
        budgets.update(self.others or {})
        return budgets

    def checkout(self) -> Optional[HTTP11Connection]:
        """The most recently used idle socket that is still good, or ``None``.

        Sockets found expired, closed by the server, or with stray bytes
        are closed on the way."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.expires > self.pool.clock() and not conn.readable():
                return conn
            self.discard(conn)
        return None

    def checkin(self, conn: HTTP11Connection, idle_timeout: float) -> None:
        """Keep *conn* idle for *idle_timeout* seconds, for the next request."""
        conn.rest()
        expires = conn.expires = self.pool.clock() + idle_timeout
        if expires < self.soonest:
            self.soonest = expires
        self.idle.append(conn)
        self.used = True
        if not self.listed or self.pool.waiting:
            self.pool.listed(self)

    def discard(self, conn: HTTP11Connection) -> None:
        """Close a socket that is not idle, and give its place back to the pool."""
        try:
            conn.close()
        finally:
            self.pool.release()

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
        self.listed = bool(kept)
        return self.listed

    def close_idle(self) -> None:
        """Close every idle socket."""
        idle = self.idle
        while idle:
            self.discard(idle.pop())
        self.soonest = _NEVER
        self.listed = False

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
    place back; a *budget* of ``None`` is a slot outside any budget. Its
    socket stays idle *idle_timeout* seconds (its transport's); 0: not kept.
    """

    __slots__ = ('destination', 'budget', 'conn', 'idle_timeout', 'held')

    def __init__(self, destination: Destination, budget: Optional[Budget],
                 idle_timeout: float) -> None:
        self.destination = destination
        self.budget = budget
        self.conn: Optional[HTTP11Connection] = None  # the socket kept between requests
        self.idle_timeout = idle_timeout  # how long it stays idle once checked in
        self.held = False

    def acquire(self) -> None:
        """Wait for a place in the budget."""
        if self.budget is not None:
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
            if self.budget is not None:
                self.budget.release()

    def let_others_go_first(self) -> None:
        """When others wait for a place, release this one and wait again
        behind them (in the hub's order: those waiting go first)."""
        budget = self.budget
        if budget is not None and budget.waiting():
            self.release()
            gevent.sleep(0)
            self.acquire()

    def __repr__(self) -> str:
        return '<Slot {0}{1}>'.format('held' if self.held else 'free',
                                      ', with a socket' if self.conn is not None else '')
