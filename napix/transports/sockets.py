"""The sockets a thread holds: kept alive per destination, bounded in number.

Every :class:`~napix.transports.gevent.GeventTransport` of a thread (of a
gevent hub) shares one :class:`SocketPool`. A pool of requests made per call
and dropped, as the seed's service managers do, therefore reuses the sockets
of the calls before it instead of reconnecting, and a dropped transport holds
no socket: idle sockets belong to the pool, which retires them

* when they have been idle longer than their transport's ``idle_timeout``
  (a timer sweeps them even when no request comes);
* when the server closed them or sent stray bytes (checked before each reuse);
* least recently used first, when a new socket would exceed
  :func:`max_sockets`, which defaults to a safe share of the process's
  descriptor limit (``RLIMIT_NOFILE``). When every socket is busy, a new
  connection waits for one to be released.

Each thread has its own pool: sockets and their watchers belong to the hub
that made them.
"""

from __future__ import annotations

import weakref
from time import monotonic
from typing import Any, Dict, Hashable, List, Optional

from gevent import get_hub
from gevent.monkey import get_original
from gevent.lock import Semaphore

from napix.transports.http11 import HTTP11Connection, Spares

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
    # pipes, other libraries), and memory: an idle socket with its watcher
    # and poll object costs ~1.4 KB.
    return max(16, soft - max(32, soft // 4))


def max_sockets() -> int:
    """The most sockets a thread's :class:`SocketPool` keeps open at once."""
    return _max_sockets if _max_sockets is not None else _default_max_sockets()


def set_max_sockets(value: Optional[int]) -> None:
    """Set :func:`max_sockets` for the pools made from now on (``None``: the
    default, 3/4 of the descriptor limit). Pools already made keep theirs."""
    global _max_sockets
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise ValueError('max_sockets must be an int >= 1 or None, not {0!r}'.format(value))
    _max_sockets = value


def socket_pool() -> 'SocketPool':
    """The :class:`SocketPool` of the current thread's hub."""
    pool: Optional[SocketPool] = getattr(_local, 'pool', None)
    hub = get_hub()
    if pool is None or pool.hub is not hub:
        pool = _local.pool = SocketPool(max_sockets(), hub)
    return pool


class SocketPool(object):
    """Idle sockets by destination, and a bound on all the open ones.

    :meth:`reserve` a place before connecting, :meth:`checkout` an idle
    socket, :meth:`checkin` one after a clean exchange, :meth:`discard` one
    that cannot be reused (which frees its place).
    """

    def __init__(self, limit: int, hub: Any = None) -> None:
        self.limit = limit
        self.hub = hub if hub is not None else get_hub()
        self._places = Semaphore(limit)
        #: The parsers and timers of the thread's exchanges, between requests.
        self.spares = Spares(self.hub)
        self._idle: Dict[Hashable, List[HTTP11Connection]] = {}
        # Idle sockets, least recently used first (a dict keeps insertion order).
        self._lru: Dict[HTTP11Connection, Hashable] = {}
        self._timer: Any = None
        self._waiting = 0  # greenlets waiting in reserve() for a place
        # The shortest and longest idle timeouts given to checkin(): sweep()
        # stops where no later socket can have expired.
        self._min_idle = float('inf')
        self._max_idle = 0.0

    @property
    def open(self) -> int:
        """How many sockets are open (idle or busy)."""
        free: int = self._places.counter
        return self.limit - free

    @property
    def idle(self) -> int:
        """How many sockets are idle."""
        return len(self._lru)

    def reserve(self) -> None:
        """Take a place for a new socket: close the least recently used idle
        socket if there is no free place, or wait for one to be released."""
        places = self._places
        if places.acquire(blocking=False):
            return
        if self._lru:
            self._evict_oldest()
        self._waiting += 1
        try:
            places.acquire()
        finally:
            self._waiting -= 1

    def release(self) -> None:
        """Give back a place taken by :meth:`reserve` whose socket was never made."""
        self._places.release()

    def checkout(self, key: Hashable) -> Optional[HTTP11Connection]:
        """The most recently used clean idle socket to *key*, or ``None``.

        Sockets found expired, closed by the server, or with stray bytes are
        closed on the way."""
        idle = self._idle.get(key)
        now = None
        while idle:
            conn = idle.pop()
            del self._lru[conn]
            if now is None:
                now = monotonic()
            if conn.expires > now and not conn.readable():
                if not idle:
                    del self._idle[key]
                return conn
            self.discard(conn)
        if idle is not None:
            del self._idle[key]
        return None

    def checkin(self, key: Hashable, conn: HTTP11Connection, idle_timeout: float) -> None:
        """Keep *conn* idle for *idle_timeout* seconds for the next request to *key*."""
        conn.expires = monotonic() + idle_timeout
        if idle_timeout < self._min_idle:
            self._min_idle = idle_timeout
        if idle_timeout > self._max_idle:
            self._max_idle = idle_timeout
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = []
        idle.append(conn)
        self._lru[conn] = key
        if self._waiting:  # someone needs a place more than this idle socket
            self._evict_oldest()
            return
        if self._timer is None:
            self._timer = self.hub.loop.timer(1.0, 1.0)
            self._timer.start(_sweep, weakref.ref(self))

    def discard(self, conn: HTTP11Connection) -> None:
        """Close a socket that is not idle, and free its place."""
        try:
            conn.close()
        finally:
            self._places.release()

    def close_idle(self, key: Optional[Hashable] = None) -> None:
        """Close the idle sockets (to *key* only, when given)."""
        keys = [key] if key is not None else list(self._idle)
        for one in keys:
            for conn in self._idle.pop(one, ()):
                del self._lru[conn]
                self.discard(conn)
        self._stop_timer_if_idle()

    def sweep(self) -> None:
        """Close the sockets idle for longer than their idle timeout."""
        now = monotonic()
        lru = self._lru
        # In least recently used order, a socket checked in at t expires at
        # t + its timeout: once t + the shortest timeout is in the future
        # (t >= expires - the longest timeout), no later socket has expired.
        horizon = now + self._max_idle - self._min_idle
        expired = []
        for conn, key in lru.items():
            if conn.expires <= now:
                expired.append((conn, key))
            elif conn.expires > horizon:
                break
        for conn, key in expired:
            del lru[conn]
            self._remove_idle(conn, key)
            self.discard(conn)
        self._stop_timer_if_idle()

    def _evict_oldest(self) -> None:
        conn = next(iter(self._lru))
        key = self._lru.pop(conn)
        self._remove_idle(conn, key)
        self.discard(conn)
        self._stop_timer_if_idle()

    def _remove_idle(self, conn: HTTP11Connection, key: Hashable) -> None:
        idle = self._idle[key]
        idle.remove(conn)
        if not idle:
            del self._idle[key]

    def _stop_timer_if_idle(self) -> None:
        if not self._lru and self._timer is not None:
            self._timer.close()
            self._timer = None

    def __repr__(self) -> str:
        return '<SocketPool {0} open, {1} idle, limit {2}>'.format(
            self.open, self.idle, self.limit)


def _sweep(pool_ref: 'weakref.ref[SocketPool]') -> None:
    pool = pool_ref()
    if pool is not None:
        pool.sweep()
