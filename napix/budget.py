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
from functools import partial
from typing import Dict, Hashable, Optional, Tuple

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
    registry: Optional[Dict[Tuple[Hashable, int], 'weakref.ref[Budget]']] = getattr(
        _local, 'budgets', None)
    if registry is None:
        registry = _local.budgets = {}
    key = (destination, limit)
    ref = registry.get(key)
    budget = ref() if ref is not None else None
    if budget is None:
        budget = Budget(limit)
        # A plain weak reference (a WeakValueDictionary's costs a few Python
        # calls per destination: a fan-out to 100,000 hosts makes 100,000).
        registry[key] = weakref.ref(budget, partial(_forget, key))
    return budget


def _forget(key: Tuple[Hashable, int], ref: 'weakref.ref[Budget]') -> None:
    registry = getattr(_local, 'budgets', None)
    if registry is not None and registry.get(key) is ref:
        del registry[key]
