"""Host sets written as ranges, the way ClusterShell's ``nodeset`` writes them.

:func:`expand` turns a pattern into its hosts, :func:`fold` turns hosts back
into the shortest pattern it finds::

    >>> expand('xen[01-03,05].example.org')
    ['xen01.example.org', 'xen02.example.org', 'xen03.example.org', 'xen05.example.org']
    >>> expand('rack[1-2]-node[1-2]')
    ['rack1-node1', 'rack1-node2', 'rack2-node1', 'rack2-node2']
    >>> fold(['xen03', 'xen01', 'xen02', 'xen05', 'db1'])
    'db1,xen[01-03,05]'

The rules:

* A pattern is a list of items separated by commas outside brackets
  (``xen[1-2],db1``). An item is text with bracketed range sets in it, in the
  name or the port (``xen1:[8002-8004]``).
* A range set is ``N``, ``LOW-HIGH`` or a comma-separated list of them. A bound
  written with a leading zero keeps its width: ``[08-10]`` gives ``08 09 10``,
  ``[8-10]`` gives ``8 9 10``.
* Brackets holding a colon are an IPv6 address, not a range: ``[::1]:8002``
  and ``https://[::1]:[8002-8003]`` work as written.
* Several brackets expand in order, the first one slowest; a host that comes
  again is dropped, the first one kept in its place.

Bad input raises :exc:`NodeSetError` (a :exc:`ValueError`) naming the bad part
and its position, before anything is expanded: a pattern that would give more
than *limit* hosts (by default :data:`MAX_HOSTS`) is refused without being
expanded.
"""

from __future__ import annotations

import re
from itertools import product
from typing import Dict, FrozenSet, Iterable, List, Sequence, Tuple, Union

__all__ = ['expand', 'fold', 'count', 'NodeSetError', 'MAX_HOSTS']

#: The most hosts :func:`expand` gives by default.
MAX_HOSTS = 1_000_000

_RANGE = re.compile(r'([0-9]+)(?:-([0-9]+))?\Z')
# fold(): a host is text and runs of digits; an IPv6 literal in brackets is text.
_TOKENS = re.compile(r'(\[[^\]]*:[^\]]*\])|([0-9]+)')
_IPV6 = re.compile(r'\[[^\]]*:[^\]]*\]')
_DIGITS = re.compile(r'([0-9]+)')


class NodeSetError(ValueError):
    """A malformed host pattern. ``pattern`` is the whole pattern, ``part`` the
    bad piece of it, ``position`` where that piece starts (0 for the first
    character), ``reason`` what is wrong with it; the message says all four.
    """

    def __init__(self, pattern: str, position: int, part: str, reason: str) -> None:
        self.pattern = pattern
        self.position = position
        self.part = part
        self.reason = reason
        ValueError.__init__(self, 'bad host range {0!r} at character {1}: {2}: {3!r}'.format(
            pattern, position + 1, reason, part))


# A parsed item: the pieces of its text, each a str (as written) or a range
# set (its ranges as (low, high, width) triples; width 0 means no padding).
_Ranges = Tuple[Tuple[int, int, int], ...]
_Piece = Union[str, _Ranges]


def _split_items(pattern: str) -> List[Tuple[int, str]]:
    """The items of *pattern* with where each starts: commas outside brackets
    separate them. Brackets are checked for balance here."""
    items: List[Tuple[int, str]] = []
    start, opened = 0, -1
    for position, char in enumerate(pattern):
        if char == '[':
            if opened >= 0:
                raise NodeSetError(pattern, position, '[', "'[' inside brackets")
            opened = position
        elif char == ']':
            if opened < 0:
                raise NodeSetError(pattern, position, ']', "']' without its '['")
            opened = -1
        elif char == ',' and opened < 0:
            items.append((start, pattern[start:position]))
            start = position + 1
    if opened >= 0:
        raise NodeSetError(pattern, opened, pattern[opened:], "'[' without its ']'")
    items.append((start, pattern[start:]))
    if not pattern:
        raise NodeSetError(pattern, 0, '', 'no host')
    for start, item in items:
        if not item:
            comma = start if pattern[start:start + 1] == ',' else start - 1
            raise NodeSetError(pattern, comma, ',', 'a comma with no host on one side')
    return items


def _parse_ranges(pattern: str, start: int, text: str) -> _Ranges:
    """The range set *text* (what is inside the brackets), starting at *start*."""
    ranges = []
    position = start
    for part in text.split(','):
        match = _RANGE.match(part)
        if match is None:
            reason = 'expected a number or LOW-HIGH in a range' if part else 'empty range'
            raise NodeSetError(pattern, position, part, reason)
        low_text, high_text = match.group(1), match.group(2) or match.group(1)
        low, high = int(low_text), int(high_text)
        if low > high:
            raise NodeSetError(pattern, position, part, 'reversed range (expected LOW-HIGH)')
        padded = [len(bound) for bound in (low_text, high_text)
                  if len(bound) > 1 and bound.startswith('0')]
        ranges.append((low, high, padded[0] if padded else 0))
        position += len(part) + 1
    return tuple(ranges)


def _parse_item(pattern: str, start: int, item: str) -> List[_Piece]:
    pieces: List[_Piece] = []
    position = 0
    while position < len(item):
        opened = item.find('[', position)
        if opened < 0:
            pieces.append(item[position:])
            break
        closed = item.index(']', opened)  # balanced: _split_items checked
        if opened > position:
            pieces.append(item[position:opened])
        inside = item[opened + 1:closed]
        if ':' in inside:  # an IPv6 address, kept as written
            pieces.append(item[opened:closed + 1])
        else:
            pieces.append(_parse_ranges(pattern, start + opened + 1, inside))
        position = closed + 1
    return pieces


def _count(pieces: Sequence[_Piece]) -> int:
    total = 1
    for piece in pieces:
        if not isinstance(piece, str):
            total *= sum(high - low + 1 for low, high, _ in piece)
    return total


def _numbers(ranges: _Ranges) -> List[str]:
    return [str(number).zfill(width) for low, high, width in ranges
            for number in range(low, high + 1)]


def _parse(pattern: str) -> List[Tuple[int, str, List[_Piece]]]:
    if not isinstance(pattern, str):
        raise TypeError('pattern must be a str, not {0}'.format(type(pattern).__name__))
    return [(start, item, _parse_item(pattern, start, item))
            for start, item in _split_items(pattern)]


def count(pattern: str) -> int:
    """How many hosts *pattern* gives, duplicates included, without
    expanding it (``count('n[1-1000000000]')`` is immediate).

    :raises NodeSetError: *pattern* is malformed.
    """
    return sum(_count(pieces) for _, _, pieces in _parse(pattern))


def expand(pattern: str, limit: int = MAX_HOSTS) -> List[str]:
    """The hosts of *pattern*, in order, each once.

    :raises NodeSetError: *pattern* is malformed, or gives more than *limit*
        hosts (counted before expanding, duplicates included).
    :raises TypeError: *pattern* is not a ``str``.
    """
    items = _parse(pattern)
    total = 0
    for start, item, pieces in items:
        total += _count(pieces)
        if total > limit:
            raise NodeSetError(pattern, start, item, 'gives more than {0:,} hosts'.format(limit))
    hosts: Dict[str, None] = {}
    for _, _, pieces in items:
        choices = [[piece] if isinstance(piece, str) else _numbers(piece) for piece in pieces]
        for parts in product(*choices):
            hosts[''.join(parts)] = None
    return list(hosts)


# Folding: a host is a template (its texts) and its numbers. Hosts of one
# template are merged into boxes: one set of numbers per field, the box
# standing for every combination. Merging the boxes that differ in one field
# only, one field after the other, keeps each host in exactly one box.

_Box = Tuple[FrozenSet[str], ...]


def _template(host: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """The texts of *host* and its runs of digits between them; an IPv6
    address in brackets is text. A host that could not be written back in a
    pattern (an empty one, one with ``[``, ``]`` or ``,`` elsewhere) raises."""
    if not isinstance(host, str):
        raise TypeError('hosts must be str, not {0}'.format(type(host).__name__))
    if not host:
        raise NodeSetError(host, 0, '', 'empty host')
    if '[' in host or ']' in host or ',' in host:
        return _template_with_brackets(host)
    parts = _DIGITS.split(host)
    return tuple(parts[0::2]), tuple(parts[1::2])


def _template_with_brackets(host: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    texts: List[str] = []
    numbers: List[str] = []
    position = 0
    for match in _TOKENS.finditer(host):
        if match.group(2) is None:  # an IPv6 literal: text
            continue
        texts.append(host[position:match.start()])
        numbers.append(match.group(2))
        position = match.end()
    texts.append(host[position:])
    for text in texts:
        outside = _IPV6.sub('', text)
        for char in '[],':
            if char in outside:
                raise NodeSetError(host, host.index(char), char,
                                   'a host cannot hold {0!r} outside an IPv6 address'.format(
                                       char))
    return tuple(texts), tuple(numbers)


def _merge(boxes: Iterable[_Box], field: int) -> List[_Box]:
    merged: Dict[_Box, set[str]] = {}
    for box in boxes:
        merged.setdefault(box[:field] + box[field + 1:], set()).update(box[field])
    return [rest[:field] + (frozenset(numbers),) + rest[field:]
            for rest, numbers in merged.items()]


def _width(number: str, padded: FrozenSet[int]) -> int:
    """The width *number* is written with in a range: its own when it has a
    leading zero, or when a padded number of its length is in the same set."""
    if len(number) > 1 and number.startswith('0') or len(number) in padded:
        return len(number)
    return 0


def _fold_numbers(numbers: FrozenSet[str]) -> str:
    """``'7'``, or ``'[01-03,05]'``: a range set giving exactly *numbers*."""
    if len(numbers) == 1:
        return next(iter(numbers))
    padded = frozenset(len(n) for n in numbers if len(n) > 1 and n.startswith('0'))
    values = sorted((int(n), _width(n, padded)) for n in numbers)
    runs: List[List[int]] = []  # [low, high, width]
    last: Dict[int, List[int]] = {}  # the last run of each width
    for value, width in values:
        run = last.get(width)
        if run is not None and run[1] == value - 1:
            run[1] = value
        else:
            last[width] = run = [value, value, width]
            runs.append(run)
    runs.sort()
    parts = [str(low).zfill(width) if low == high else
             '{0}-{1}'.format(str(low).zfill(width), str(high).zfill(width))
             for low, high, width in runs]
    return '[{0}]'.format(','.join(parts))


def _natural(text: str) -> Tuple[Tuple[int, Union[int, str]], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r'([0-9]+)', text) if part)


def fold(hosts: Iterable[str]) -> str:
    """The pattern of *hosts*, folded into ranges: :func:`expand` gives the
    same hosts back (each once, in natural order). Duplicates and order do
    not matter; zero padding is kept (``xen[08-10]``, ``node[9-10]``).

    :raises NodeSetError: a host holds ``[``, ``]`` or ``,`` outside an IPv6
        address, or is empty.
    """
    templates: Dict[Tuple[str, ...], List[_Box]] = {}
    for host in hosts:
        texts, numbers = _template(host)
        templates.setdefault(texts, []).append(tuple(frozenset((n,)) for n in numbers))
    patterns: List[str] = []
    for texts, boxes in templates.items():
        for field in reversed(range(len(texts) - 1)):
            boxes = _merge(boxes, field)
        for box in boxes:
            parts = [texts[0]]
            for values, text in zip(box, texts[1:], strict=True):
                parts.append(_fold_numbers(values))
                parts.append(text)
            patterns.append(''.join(parts))
    return ','.join(sorted(set(patterns), key=_natural))
