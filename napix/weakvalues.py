"""A dict of weak references that forgets a key once its value is gone.

Unlike :class:`weakref.WeakValueDictionary`, a lookup is the plain
``dict.get`` (no Python call): ``ref = values.get(key)``, then ``ref()``
(``None`` once the value is gone). Nothing refers back to the dict but
weakly, so dropping its owner frees it by reference counting.
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, Hashable

__all__ = ['WeakValues']


class WeakValues(Dict[Hashable, 'weakref.ref[Any]']):
    """``{key: weakref.ref(value)}``; :meth:`put` adds one."""

    __slots__ = ('__weakref__', '_me')

    def __init__(self) -> None:
        dict.__init__(self)
        self._me = weakref.ref(self)

    def put(self, key: Hashable, value: Any) -> None:
        """Keep *value* under *key* while it lives."""
        ref = _Ref(value, _forget)  # made in C: no Python __new__ or __init__
        ref.owner = self._me
        ref.key = key
        self[key] = ref


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows its key and its dict (weakly): one
    object an entry, and no reference from the entry back to the dict."""

    __slots__ = ('owner', 'key')
    owner: 'weakref.ref[WeakValues]'
    key: Hashable


def _forget(ref: _Ref) -> None:
    values = ref.owner()
    if values is not None and values.get(ref.key) is ref:
        del values[ref.key]
