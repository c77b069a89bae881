"""``--gather``: the outcomes grouped by answer, as ``dshbak -c`` and
``clush -b`` print them.

Two hosts are in one :class:`Group` when they answered the same status and
the same body (compared as JSON, whatever the order of its keys), or failed
with the same error. The groups come largest first; each knows its hosts
folded into ranges (:func:`napix.nodeset.fold`). A failure without an
answer is told without the host's own name or address (``connection refused
by <host>``), so that the hosts that failed alike are one group. Grouping is one pass over
the outcomes: a fan-out to 10,000 hosts is gathered in about the time it
takes to print them. Nothing here draws: :mod:`napixd.cli.render` does.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from napix.hosts import parse_host
from napix.nodeset import fold
from napixd.cli.outcome import Outcome

__all__ = ['Group', 'gather', 'answer_text']


# Where a failure without an answer says it went: 10.0.0.1:8002, [::1]:8002.
_ADDRESS = re.compile(r'\[[0-9A-Fa-f:.]+\](?::[0-9]+)?|(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}'
                      r'(?::[0-9]+)?(?![\w.])')
# A word that may be a host's name, with its port.
_NAME = re.compile(r'(?<![\w.-])([\w][\w.-]*?)(?::[0-9]+)?(?![\w.-])')


def _without_the_host(outcome: Outcome, text: str) -> str:
    """*text* (a failure without an answer: refused, timeout...) with the
    host's own name and address as ``<host>``: hosts that failed alike share
    a group."""
    text = _ADDRESS.sub('<host>', text)
    try:
        name = parse_host(outcome.host)[1]
    except ValueError:  # pragma: no cover - the command checked every host
        return text
    if name not in text.lower():  # most often: the message names the address
        return text
    return _NAME.sub(lambda match: '<host>' if match.group(1).lower() == name
                     else match.group(0), text)


def answer_text(outcome: Outcome) -> str:
    """What *outcome* answered, as shown and compared: the body of a success
    (indented JSON, keys sorted, or the text), else the error on one line (a
    failure without an answer names its host ``<host>``)."""
    if outcome.response is None:
        if outcome.status is None:
            return _without_the_host(outcome, outcome.summary)
        return outcome.summary
    body = outcome.response.body
    if body is None or body == '':
        location = outcome.response.headers.get('location')
        return '→ ' + location if location else ''
    if isinstance(body, str):
        return body
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False, default=str)


class Group(object):
    """The outcomes that answered alike: ``outcomes`` (in the order of the
    hosts), ``status`` (as the table shows it: ``200 OK``, ``unreachable``)
    and ``text`` (:func:`answer_text`); ``diff`` is filled by :func:`gather`
    when asked, against the largest group (``None`` for that one)."""

    __slots__ = ('outcomes', 'status', 'text', 'diff', '_nodeset')

    def __init__(self, status: str, text: str) -> None:
        self.outcomes: List[Outcome] = []
        self.status = status
        self.text = text
        self.diff: Optional[List[str]] = None
        self._nodeset: Optional[str] = None

    @property
    def count(self) -> int:
        return len(self.outcomes)

    @property
    def hosts(self) -> List[str]:
        return [outcome.host for outcome in self.outcomes]

    @property
    def nodeset(self) -> str:
        """The hosts folded into ranges: ``xen[01-03,05]``."""
        if self._nodeset is None:
            self._nodeset = fold(self.hosts)
        return self._nodeset

    @property
    def ok(self) -> bool:
        return self.outcomes[0].ok

    def as_json(self) -> Dict[str, Any]:
        """A ``dict`` ready for :func:`json.dumps`, one per line of ``--gather --json``."""
        first = self.outcomes[0]
        data: Dict[str, Any] = {'hosts': self.hosts, 'count': self.count,
                                'nodeset': self.nodeset, 'status': first.status,
                                'ok': first.ok}
        if first.response is not None:
            data['body'] = first.response.body
        else:
            data['error'] = self.text
            data['error_type'] = type(first.error).__name__
        if self.diff is not None:
            data['diff'] = self.diff
        return data

    def __repr__(self) -> str:
        return '<Group {0} hosts {1}>'.format(self.count, self.status)


def _diff(base: Group, other: Group) -> List[str]:
    return list(difflib.unified_diff(base.text.splitlines(), other.text.splitlines(),
                                     fromfile=base.nodeset, tofile=other.nodeset,
                                     lineterm=''))


def gather(outcomes: Sequence[Outcome], diff: bool = False) -> List[Group]:
    """The groups of *outcomes*, the largest first (of two as large, the one
    whose first host comes first). With *diff*, each group but the first
    gets its ``diff`` against the first (unified diff lines)."""
    groups: Dict[Tuple[str, str], Group] = {}
    for outcome in outcomes:
        status, text = outcome.status_text, answer_text(outcome)
        group = groups.get((status, text))
        if group is None:
            group = groups[status, text] = Group(status, text)
        group.outcomes.append(outcome)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.outcomes[0].index))
    if diff and ordered:
        for group in ordered[1:]:
            group.diff = _diff(ordered[0], group)
    return ordered
