"""HTTP headers as the library keeps them: :class:`Headers`, a
case-insensitive mapping whose ``repr`` hides the credentials, made from a
raw response head in time linear in its size. Below the models (which
re-export it): it imports nothing of :mod:`napix`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from sys import intern
from typing import Any, Dict, Iterable, Iterator, List, MutableMapping, Tuple, Union

__all__ = ['Headers', 'HeadersInput']

_CREDENTIAL_HEADERS = frozenset(['authorization', 'proxy-authorization', 'cookie'])

# A header line of a response head: its name, and its value (leading blanks
# removed, trailing ones kept, as httptools gives them).
_HEADER_LINES = re.compile(r'\r\n([^:\r\n]*):[ \t]*([^\r]*)')

HeadersInput = Union['Headers', Mapping[str, str], Iterable[Tuple[str, str]], None]


class Headers(MutableMapping[str, str]):
    """A case-insensitive mapping of HTTP header names to values.

    Lookups, ``in``, assignment, deletion, ``update`` and ``setdefault``
    ignore the case of names; iteration yields each name as it was first
    given (that is what goes on the wire). Repeated response headers are
    joined with ``', '``. Its ``repr`` hides the credentials
    (``Authorization``, ``Proxy-Authorization``, ``Cookie``), so printing or
    logging headers leaks no signature or token.

    :meth:`from_head` makes one from a raw response head, in time linear in
    its size whatever repeats.
    """

    __slots__ = ('_store',)

    # Each header is kept as its wire line, ``'Name: value'``, under its
    # lower-cased name: a dict of strings is not tracked by the garbage
    # collector, as one of (name, value) tuples is, and a transport writes
    # the lines as they are. A name holds no ':', so the first one ends it.

    def __init__(self, headers: HeadersInput = None, **kwargs: str) -> None:
        self._store: Dict[str, str] = {}
        if headers is not None:
            self.update(headers)
        if kwargs:
            self.update(kwargs)

    @classmethod
    def from_head(cls, head: str) -> 'Headers':
        """The headers of a response head: its status line, then header lines
        separated by CRLF, as an HTTP parser accepted them."""
        store: Dict[str, str] = {}
        repeated: Dict[str, List[str]] = {}  # joined once at the end: linear time
        for match in _HEADER_LINES.finditer(head):  # one line at a time: no list of them
            name = match[1]
            key = name.lower()
            if key not in store:
                store[intern(key)] = name + ': ' + match[2]
            elif key in repeated:
                repeated[key].append(match[2])
            else:
                repeated[key] = [store[key], match[2]]
        for key, values in repeated.items():
            store[key] = ', '.join(values)
        headers = cls.__new__(cls)
        headers._store = store
        return headers

    def get(self, key: str, default: Any = None) -> Any:
        line = self._store.get(key.lower())
        return default if line is None else line[line.index(':') + 2:]

    def __getitem__(self, key: str) -> str:
        line = self._store[key.lower()]
        return line[line.index(':') + 2:]

    def __setitem__(self, key: str, value: str) -> None:
        store = self._store
        lower = intern(key.lower())  # stored: one 'authorization' for all requests
        line = store.get(lower)
        store[lower] = (key if line is None else line[:line.index(':')]) + ': ' + value

    def put(self, lower: str, line: str) -> None:
        """Set a header from its lower-cased name and its whole line,
        ``'Name: value'``, replacing any: what an authenticator that signs
        every request does (the caller vouches for both)."""
        self._store[lower] = line

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._store

    def __iter__(self) -> Iterator[str]:
        return (line[:line.index(':')] for line in list(self._store.values()))

    def __len__(self) -> int:
        return len(self._store)

    def update(self, other: Any = (), **kwargs: str) -> None:  # type: ignore[override]
        """Set every header of *other* (a mapping or pairs), ignoring case."""
        items = other.items() if hasattr(other, 'items') else other
        for name, value in items:
            self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def raw_items(self) -> List[Tuple[str, str]]:
        """``(name, value)`` pairs, names as given: what a transport writes."""
        return [(line[:line.index(':')], line[line.index(':') + 2:])
                for line in self._store.values()]

    def wire(self, defaults: Dict[str, str], default_block: str) -> str:
        """The header lines as a transport writes them, each ended by CRLF:
        first the lines of *defaults* (``{lower-cased name: line}``, all of
        them *default_block*) whose names are absent here, then these."""
        store = self._store
        if not store:
            return default_block
        if defaults.keys().isdisjoint(store):
            return default_block + '\r\n'.join(store.values()) + '\r\n'
        lines = [line for name, line in defaults.items() if name not in store]
        lines.extend(store.values())
        lines.append('')
        return '\r\n'.join(lines)

    def copy(self) -> 'Headers':
        return Headers(self.raw_items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            mine = {key: line[line.index(':') + 2:] for key, line in self._store.items()}
            return mine == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr({name: '<hidden>' if name.lower() in _CREDENTIAL_HEADERS else value
                     for name, value in self.raw_items()})

    __str__ = __repr__
