"""A dict of weak references that forgets a key once its value is gone.

Unlike :class:`weakref.WeakValueDictionary`, a lookup is the plain
``dict.get`` (no Python call): ``ref = values.get(key)``, then ``ref()``
(``None`` once the value is gone). Nothing refers back to the dict but
weakly, so dropping its owner frees it by reference counting.
"""

from __future__ import annotations

import weakref
from functools import partial
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
        self[key] = weakref.ref(value, partial(_forget, self._me, key))


def _forget(values_ref: 'weakref.ref[WeakValues]', key: Hashable,
            ref: 'weakref.ref[Any]') -> None:
    values = values_ref()
    if values is not None and values.get(key) is ref:
        del values[key]
