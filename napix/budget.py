"""In-flight budgets: how many requests may be in flight to one destination.

A Napix server answers ``429 Too many concurrent connections`` to a client
address with more requests in flight than it allows (2 by default). Every
:class:`~napix.connection.Connection` of a thread that names the same
destination (scheme, host and port, after normalisation) with the same limit
draws from one budget, so a service manager that makes a pool per call and
serves many calls at once still never sends a server more than it allows.

A budget lives as long as a connection uses it (the registry holds it weakly),
and each thread has its own (a gevent semaphore belongs to its hub).
"""

from __future__ import annotations

import weakref
from typing import Hashable, Tuple

from gevent.monkey import get_original
from gevent.lock import BoundedSemaphore

__all__ = ['Budget', 'budget_for']

# Per OS thread, even in a monkey-patched process (where threading.local is
# per greenlet): a hub, and so its sockets and semaphores, belong to an OS thread.
_local = get_original('threading', 'local')()


class Budget(BoundedSemaphore):
    """A :class:`gevent.lock.BoundedSemaphore` of *limit* requests in flight
    to one destination; use it as a context manager around a request."""

    __slots__ = ()


def budget_for(destination: Hashable, limit: int) -> Budget:
    """The current thread's budget of *limit* requests in flight to *destination*."""
    registry = getattr(_local, 'budgets', None)
    if registry is None:
        registry = _new_registry()
    key = (destination, limit)
    budget = registry.get(key)
    if budget is None:
        budget = registry[key] = Budget(limit)
    return budget


def _new_registry() -> 'weakref.WeakValueDictionary[Tuple[Hashable, int], Budget]':
    registry: 'weakref.WeakValueDictionary[Tuple[Hashable, int], Budget]' = \
        weakref.WeakValueDictionary()
    _local.budgets = registry
    return registry
