"""When the fan-out sends each host's request, and when it stops sending.

A :class:`Plan` says how many requests may be started at a given moment:

* by default, every host at once (the pool bounds what is in flight);
* ``--batch N``: N hosts at a time, the next batch once the whole batch
  before it has answered (ansible's ``serial``);
* ``--max-fail`` without ``--batch``: at most a window of requests (the pool's
  limit in flight), so that stopping leaves the rest unsent rather than
  half-sent.

:class:`MaxFail` says when too many hosts failed (ansible's
``max_fail_percentage``): then no more requests are started; the hosts of
the batches never started are *skipped*, the unsent hosts of a window are
*cancelled*.
"""

from __future__ import annotations

import math
import re
from typing import Optional

__all__ = ['MaxFail', 'Plan']

_MAX_FAIL = re.compile(r'([0-9]+(?:\.[0-9]*)?)(%?)\Z')


class MaxFail(object):
    """``--max-fail N`` or ``--max-fail N%``: the most hosts that may fail
    before no more requests are started. ``N%`` is a share of all the hosts
    (0% to 100%); either way, sending stops once *more* than that failed."""

    __slots__ = ('text', 'count', 'percent')

    def __init__(self, text: str) -> None:
        match = _MAX_FAIL.match(text.strip())
        if match is None:
            raise ValueError('expected a number of hosts (3) or a percentage of them (10%), '
                             'not {0!r}'.format(text))
        number, percent = float(match.group(1)), bool(match.group(2))
        if percent and number > 100:
            raise ValueError('expected a percentage from 0% to 100%, not {0!r}'.format(text))
        if not percent and number != int(number):
            raise ValueError('expected a whole number of hosts, not {0!r}'.format(text))
        self.text = text.strip()
        self.count: Optional[int] = None if percent else int(number)
        self.percent: Optional[float] = number if percent else None

    def limit(self, total: int) -> int:
        """The most failed hosts of *total* that are still fine."""
        if self.count is not None:
            return self.count
        return math.floor(total * (self.percent or 0) / 100 + 1e-9)

    def exceeded(self, failed: int, total: int) -> bool:
        return failed > self.limit(total)

    def reason(self, failed: int, total: int) -> str:
        """``4 hosts failed, more than --max-fail 3`` (or ``10% of 20 hosts: 2``)."""
        limit = '--max-fail {0}'.format(self.text)
        if self.percent is not None:
            limit += ' ({0} of {1} host{2})'.format(self.limit(total), total,
                                                   's' if total != 1 else '')
        return '{0} host{1} failed, more than {2}'.format(failed, 's' if failed != 1 else '',
                                                         limit)

    def __repr__(self) -> str:
        return '<MaxFail {0}>'.format(self.text)


class Plan(object):
    """How many requests the fan-out may start now, given how many are
    started and not answered yet (*unsettled*).

    :param batch: ``--batch N``, or ``None``.
    :param max_fail: a :class:`MaxFail`, or ``None``.
    :param window: without *batch*, the most requests started and not
        answered when *max_fail* is given (the pool's limit in flight).
    """

    __slots__ = ('batch', 'max_fail', 'window')

    def __init__(self, batch: Optional[int] = None, max_fail: Optional[MaxFail] = None,
                 window: int = 1000) -> None:
        if batch is not None and batch < 1:
            raise ValueError('batch must be at least 1, not {0!r}'.format(batch))
        self.batch = batch
        self.max_fail = max_fail
        self.window = window

    def room(self, unsettled: int, left: int) -> int:
        """How many of the *left* hosts not sent yet may be started now."""
        if self.batch is not None:
            return min(self.batch, left) if unsettled == 0 else 0
        if self.max_fail is not None:
            return max(0, min(self.window - unsettled, left))
        return left

    def batches(self, total: int) -> int:
        """How many batches *total* hosts make (1 without ``--batch``)."""
        if self.batch is None:
            return 1
        return -(-total // self.batch)

    def __repr__(self) -> str:
        return '<Plan batch={0} max_fail={1!r} window={2}>'.format(self.batch, self.max_fail,
                                                                  self.window)
