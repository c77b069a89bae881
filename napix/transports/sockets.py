"""The sockets a thread holds: bounded in number, kept alive per destination.

Every connection and transport of a thread (of a gevent hub) to one
destination shares one :class:`~napix.transports.destination.Destination`:
its in-flight budget and its idle sockets. This module is the part above
them that a thread has once, its :class:`SocketPool`:

* the number of open sockets, bounded by :func:`max_sockets` (by default a
  safe share of the process's descriptor limit, ``RLIMIT_NOFILE``): when a new
  socket would exceed it, the least recently used destination's oldest idle
  socket is closed, or, when every socket is busy, the connect waits;
* the destinations that have idle sockets, least recently used first, and a
  timer that closes the sockets idle for longer than their ``idle_timeout``
  even when no request comes;
* the registry of the thread's destinations (held weakly: a destination lives
  while a connection uses it or it keeps an idle socket), so that a pool made
  per call and dropped, as the seed's service managers do, reuses the sockets
  and shares the budget of the calls before it.

Each thread has its own pool: sockets and their watchers belong to the hub
that made them.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from functools import partial
from time import monotonic
from typing import Any, Callable, Hashable, List, Optional

from gevent import get_hub
from gevent.lock import Semaphore
from gevent.monkey import get_original

from napix.checks import check_positive_int
from napix.transports.destination import Destination
from napix.transports.exchange import Spares
from napix.weakvalues import WeakValues

__all__ = ['SocketPool', 'socket_pool', 'max_sockets', 'set_max_sockets']

# Per OS thread, even in a monkey-patched process (where threading.local is
# per greenlet): a hub, and so its sockets and semaphores, belong to an OS thread.
_local = get_original('threading', 'local')()
_max_sockets: Optional[int] = None


def _default_max_sockets() -> int:
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 512
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    # Leave room for the rest of the process (files, listening sockets,
    # pipes, other libraries), and memory: an idle socket costs ~1 KB.
    return max(16, soft - max(32, soft // 4))


def max_sockets() -> int:
    """The most sockets a thread's :class:`SocketPool` keeps open at once."""
    return _max_sockets if _max_sockets is not None else _default_max_sockets()


def set_max_sockets(value: Optional[int]) -> None:
    """Set :func:`max_sockets` for the pools made from now on (``None``: the
    default, 3/4 of the descriptor limit). Pools already made keep theirs."""
    global _max_sockets
    _max_sockets = None if value is None else check_positive_int('max_sockets', value)


def socket_pool() -> 'SocketPool':
    """The :class:`SocketPool` of the current thread's hub."""
    pool: Optional[SocketPool] = getattr(_local, 'pool', None)
    hub = get_hub()
    if pool is None or pool.hub is not hub:
        pool = _local.pool = SocketPool(max_sockets(), hub)
    return pool


class SocketPool(object):
    """A thread's destinations, and the bound on all their open sockets.

    :meth:`destination` gives the thread's
    :class:`~napix.transports.destination.Destination` of a key;
    destinations take a place here before connecting (:meth:`reserve`) and
    give it back when a socket closes (:meth:`release`).
    """

    def __init__(self, limit: int, hub: Any = None,
                 clock: Callable[[], float] = monotonic) -> None:
        self.limit = limit
        self.hub = hub if hub is not None else get_hub()
        #: Seconds, for the idle sockets' expiry.
        self.clock = clock
        self._places = Semaphore(limit)
        #: The parsers and timers of the thread's exchanges, between requests.
        self.spares = Spares()
        self._registry = WeakValues()
        # The destinations with idle sockets, least recently listed first;
        # each says itself whether it was used since it was listed (a second
        # chance before its sockets are evicted). An OrderedDict: a dict
        # emptied from its front scans its deleted entries on every next().
        self.lru: 'OrderedDict[Destination, None]' = OrderedDict()
        self._timer: Any = None
        self.connects_waiting = 0  # greenlets waiting in reserve() for a place

    @property
    def open(self) -> int:
        """How many sockets are open (idle or busy)."""
        free: int = self._places.counter
        return self.limit - free

    @property
    def idle(self) -> int:
        """How many sockets are idle."""
        return sum(len(destination.idle) for destination in self.lru)

    def destination(self, key: Hashable) -> Destination:
        """The thread's destination of *key* (a transport's socket key)."""
        ref = self._registry.get(key)
        destination = ref() if ref is not None else None
        if destination is None:
            destination = Destination(key, self)
            self._registry.put(key, destination)
        return destination

    def reserve(self) -> None:
        """Take a place for a new socket: close the least recently used idle
        socket if there is no free place, or wait for one to be released."""
        places = self._places
        if places.acquire(blocking=False):
            return
        if self.lru:
            self._evict_oldest()
        self.connects_waiting += 1
        try:
            places.acquire()
        finally:
            self.connects_waiting -= 1

    def release(self) -> None:
        """Give back a place: its socket was closed, or never made."""
        self._places.release()

    def note_idle(self, destination: Destination) -> None:
        """*destination* has an idle socket now: list it, and sweep from now on
        (or, when a connect waits for a place, close the oldest idle socket)."""
        if not destination.in_lru:
            destination.in_lru = True
            self.lru[destination] = None
        if self.connects_waiting:  # someone needs a place more than this idle socket
            self._evict_oldest()
        elif self._timer is None:
            timer = self._timer = self.hub.loop.timer(1.0, 1.0)
            # A dropped pool closes its timer (not the loop's to keep awake).
            timer.start(_sweep, weakref.ref(self, partial(_close, timer)))

    def close_idle(self, key: Optional[Hashable] = None) -> None:
        """Close the idle sockets (to the destination of *key* only, when given)."""
        if key is None:
            destinations = list(self.lru)
        else:
            ref = self._registry.get(key)
            destination = ref() if ref is not None else None
            destinations = [destination] if destination is not None else []
        for destination in destinations:
            self.lru.pop(destination, None)
            destination.close_idle()
        self._stop_timer_if_idle()

    def sweep(self) -> None:
        """Close the sockets idle for longer than their idle timeout."""
        now = self.clock()
        emptied: List[Destination] = []
        for destination in self.lru:
            # Most have nothing expired: passed by without a call (15,000
            # idle destinations after a fan-out, every second).
            if destination.soonest > now and destination.idle:
                destination.used = False
            elif not destination.close_expired(now):
                emptied.append(destination)
        for destination in emptied:
            del self.lru[destination]
        self._stop_timer_if_idle()

    def _evict_oldest(self) -> None:
        lru = self.lru
        while lru:
            destination, _ = lru.popitem(last=False)
            if destination.idle and destination.used:
                destination.used = False  # a second chance, at the back
                lru[destination] = None
                continue
            destination.in_lru = False
            if destination.idle:
                destination.close_oldest()
                if destination.idle:
                    destination.in_lru = True
                    lru[destination] = None
                break
        self._stop_timer_if_idle()

    def _stop_timer_if_idle(self) -> None:
        if not self.lru and self._timer is not None:
            self._timer.close()
            self._timer = None

    def __repr__(self) -> str:
        return '<SocketPool {0} open, {1} idle, limit {2}>'.format(
            self.open, self.idle, self.limit)


def _sweep(pool_ref: 'weakref.ref[SocketPool]') -> None:
    pool = pool_ref()
    if pool is not None:
        pool.sweep()


def _close(timer: Any, pool_ref: 'weakref.ref[SocketPool]') -> None:
    timer.close()
