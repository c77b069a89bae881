"""What the ``napix`` command prints once the fan-out has run, and what it
writes as it runs: JSON lines as the hosts are settled, the table or the
gathered groups at the end, the summary, the ``--failed`` file.

*rich* is imported only when something is drawn for a person.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, Sequence

if TYPE_CHECKING:
    from napixd.cli.fanout import FanOut
    from napixd.cli.outcome import Outcome

__all__ = ['JSONLines', 'check_writable', 'write_failed', 'print_report']


class JSONLines(object):
    """Writes outcomes as JSON lines on stdout, each flushed: at once
    (*unordered*), or in the order of the hosts, each as soon as every host
    before it is settled."""

    def __init__(self, unordered: bool) -> None:
        self.unordered = unordered
        self.waiting: Dict[int, Outcome] = {}
        self.next = 0

    def __call__(self, outcome: Outcome) -> None:
        if self.unordered:
            self._write(outcome)
            return
        self.waiting[outcome.index] = outcome
        while self.next in self.waiting:
            self._write(self.waiting.pop(self.next))
            self.next += 1

    def _write(self, outcome: Outcome) -> None:
        write_json(outcome.as_json())


def write_json(data: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + '\n')
    sys.stdout.flush()


def check_writable(path: str) -> None:
    """Raise :exc:`OSError` now when *path* could not be written at the end
    (a directory, no permission), without touching it."""
    if os.path.isdir(path):
        raise IsADirectoryError(21, 'Is a directory')
    target = path if os.path.exists(path) else (os.path.dirname(path) or '.')
    if not os.access(target, os.W_OK):
        raise PermissionError(13, 'Permission denied' if os.path.exists(target)
                              else 'No such file or directory')


def write_failed(path: str, outcomes: Sequence[Outcome]) -> int:
    """Write the hosts of the failed *outcomes* (400 or more, no answer,
    cancelled, skipped) to *path*, one a line, in their order; return how many."""
    failed = [outcome.host for outcome in outcomes if not outcome.ok]
    with open(path, 'w', encoding='utf-8') as stream:
        stream.write(''.join(host + '\n' for host in failed))
    return len(failed)


def print_report(fanout: FanOut, outcomes: Sequence[Outcome], as_json: bool, gather: bool,
                 diff: bool, unordered: bool, timings: bool = False) -> None:
    """Print what the JSON lines did not: the table (with the columns of
    the *timings*) or the groups, and the summary."""
    if gather:
        from napixd.cli.gather import gather as group
        groups = group(outcomes, diff=diff)
        if as_json:
            for one in groups:
                write_json(one.as_json())
    if as_json:
        if fanout.interrupted or fanout.stopped_by is not None or sys.stderr.isatty():
            from napixd.cli.render import make_console, summary_text
            # One line whatever the width: stderr may be a log file.
            make_console(stderr=True).print(summary_text(fanout), soft_wrap=True)
        return
    from napixd.cli.render import make_console, outcome_table, print_groups, summary_text
    console = make_console()
    if gather:
        print_groups(console, groups)
    else:
        shown = sorted(outcomes, key=lambda o: o.seconds) if unordered else outcomes
        console.print(outcome_table(shown, width=console.width, timings=timings))
        console.print()
    console.print(summary_text(fanout))
