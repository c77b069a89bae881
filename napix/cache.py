"""One bounded cache: a dict that computes what it misses, and keeps at most so many.

A service manager sends the same paths, to the same hosts, again and again:
what is worked out from each (a url checked and percent-encoded, a value
quoted for a signature, an address's family) is worked out once and kept.

>>> from napix.cache import BoundedCache
>>> lengths = BoundedCache(len, maxsize=2)
>>> lengths['abc'], lengths.get('abc'), lengths.get('xyz')
(3, 3, None)

A hit is the plain ``dict`` lookup (``cache[key]``, or ``cache.get(key)``):
no Python call. A miss (``cache[key]``) calls *compute* with the key and
keeps the value with :meth:`BoundedCache.store`: when *maxsize* values are
kept already, they are all dropped first (each is computed again once when
next asked for; nothing grows with the number of distinct keys). A key longer
than *longest* (``len``) is computed each time, not kept: such a key is
likely used once, and would hold memory.
"""

from __future__ import annotations

from typing import Callable, Dict, Hashable, Optional, TypeVar

__all__ = ['BoundedCache', 'DEFAULT_MAXSIZE', 'DEFAULT_LONGEST']

#: The most values a cache keeps by default.
DEFAULT_MAXSIZE = 4096
#: The longest key a cache keeps by default.
DEFAULT_LONGEST = 256

_K = TypeVar('_K', bound=Hashable)
_V = TypeVar('_V')


class BoundedCache(Dict[_K, _V]):
    """``{key: compute(key)}`` for the keys asked for, at most *maxsize* of them.

    :param compute: called with a key missing from the cache (``cache[key]``);
        what it returns is kept and returned; what it raises propagates, and
        nothing is kept. ``None``: only :meth:`store` adds values, and a
        missing key raises :exc:`KeyError`.
    :param maxsize: the most values kept (an ``int`` >= 1).
    :param longest: keys longer than this (by ``len``) are not kept; ``None``:
        keys of any length (or with no length) are.

    The arguments are the library's own constants: they are not checked.
    """

    __slots__ = ('compute', 'maxsize', 'longest')

    def __init__(self, compute: Optional[Callable[[_K], _V]] = None,
                 maxsize: int = DEFAULT_MAXSIZE,
                 longest: Optional[int] = DEFAULT_LONGEST) -> None:
        dict.__init__(self)
        self.compute = compute
        self.maxsize = maxsize
        self.longest = longest

    def __missing__(self, key: _K) -> _V:
        if self.compute is None:
            raise KeyError(key)
        return self.store(key, self.compute(key))

    def store(self, key: _K, value: _V) -> _V:
        """Keep *value* under *key* (dropping every value first when the
        cache is full; a key longer than *longest* is not kept); return *value*."""
        if self.longest is not None and len(key) > self.longest:  # type: ignore[arg-type]
            return value
        if len(self) >= self.maxsize and key not in self:
            self.clear()
        self[key] = value
        return value

    def __repr__(self) -> str:
        return '<BoundedCache {0} of {1}>'.format(len(self), self.maxsize)
