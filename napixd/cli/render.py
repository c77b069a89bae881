"""Terminal rendering of a fan-out with *rich*: the live progress bar and the
table of answers.

This is the only module of the package that imports *rich*, and only the
``napix`` command imports it: the library itself never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, List, Optional, Tuple

import gevent
from rich import box
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, Task,
                           TextColumn)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from napixd.cli.fanout import FanOut, Outcome

__all__ = ['ProgressDisplay', 'outcome_table', 'summary_text', 'format_seconds',
           'make_console']

REFRESH = 0.1

_Row = Tuple[Text, Text, Text, Text]


def make_console(stderr: bool = False, force_plain: bool = False) -> Console:
    """A :class:`rich.console.Console` on stdout (or stderr); *force_plain*
    disables colours and cursor moves whatever the output is."""
    if force_plain:
        return Console(stderr=stderr, no_color=True, force_terminal=False, highlight=False)
    return Console(stderr=stderr, highlight=False)


def format_seconds(seconds: float) -> str:
    """``'12 ms'`` below a second, ``'1.23 s'`` above."""
    if seconds < 1:
        return '{0:.0f} ms'.format(seconds * 1000)
    return '{0:.2f} s'.format(seconds)


class _Counts(TextColumn):
    def __init__(self, fanout: FanOut) -> None:
        TextColumn.__init__(self, '')
        self.fanout = fanout

    def render(self, task: Task) -> Text:
        f = self.fanout
        text = Text()
        text.append('{0} ok'.format(f.ok), style='green')
        text.append('  ')
        text.append('{0} failed'.format(f.failed), style='red' if f.failed else 'dim')
        text.append('  {0} pending'.format(f.pending))
        text.append('  {0:.0f} req/s  {1}'.format(f.rate(), format_seconds(f.elapsed())),
                    style='dim')
        return text


class ProgressDisplay(object):
    """A live progress bar of *fanout* on *console* (meant for stderr), redrawn
    every 0.1 s by a greenlet while the ``with`` block runs, and erased at its end."""

    def __init__(self, fanout: FanOut, console: Console, label: str) -> None:
        self.fanout = fanout
        self.progress = Progress(
            SpinnerColumn(), TextColumn('{task.description}'), BarColumn(),
            MofNCompleteColumn(), _Counts(fanout),
            console=console, auto_refresh=False, transient=True,
            redirect_stdout=False, redirect_stderr=False)
        self.task = self.progress.add_task(label, total=fanout.total)
        self._greenlet: Any = None

    def _refresh(self) -> None:
        while True:
            self.update()
            gevent.sleep(REFRESH)

    def update(self) -> None:
        self.progress.update(self.task, completed=self.fanout.done + self.fanout.cancelled)
        self.progress.refresh()

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        self._greenlet = gevent.spawn(self._refresh)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._greenlet.kill()
        self.update()
        self.progress.stop()


def _status_style(outcome: Outcome) -> str:
    if outcome.ok:
        return 'green'
    if outcome.cancelled:
        return 'dim'
    return 'red'


_TABLE_EXTRA = 9  # the padding between the 4 columns of the table
_MIN_ANSWER = 24


def _widths(rows: List[_Row], total: int) -> List[int]:
    """Column widths: host, status and time as wide as their content, the
    answer takes the rest. The host is never shortened: when the terminal is
    narrow, the status keeps its code alone (by the caller) then shrinks, and
    the answer wraps on more lines; a host wider than the whole terminal folds."""
    widths = [max([len(name)] + [row[number].cell_len for row in rows])
              for number, name in enumerate(('host', 'status', 'time', 'answer'))]
    widths[1] = min(widths[1], 25)
    # A status wraps between its words, never inside one ('unreachable').
    status_floor = max(len(word) for row in rows for word in ['status'] + row[1].plain.split())
    room = total - _TABLE_EXTRA - sum(widths[:3])
    if room < _MIN_ANSWER and widths[1] > status_floor:
        give = min(widths[1] - status_floor, _MIN_ANSWER - room)
        widths[1] -= give
        room += give
    widths[3] = max(min(widths[3], room), 6)
    overflow = sum(widths) + _TABLE_EXTRA - total
    if overflow > 0:
        widths[0] = max(widths[0] - overflow, 6)
    return widths


def _answer(outcome: Outcome) -> Text:
    # A body is cut to one line; an error wraps, since the end of a bubbled
    # chain ("404 NOT FOUND" `10` not found) is what matters most.
    if outcome.ok:
        return Text(outcome.summary, no_wrap=True, overflow='ellipsis')
    return Text(outcome.summary, style='red' if not outcome.cancelled else 'dim')


def outcome_table(outcomes: Iterable[Outcome], width: int = 80, limit: Optional[int] = None,
                  title: Optional[str] = None) -> Table:
    """A table of *outcomes*: host, status, time, one-line answer, at most
    *width* columns wide: a successful answer is cut to one line with an
    ellipsis, an error wraps to show its whole chain, a host is never cut.

    With *limit*, a longer list is shortened for reading: every failure is
    kept, and the successes beyond what fits become one line saying how many
    there were and how long the slowest took.
    """
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify='left', pad_edge=False,
                  show_edge=False)
    shown = list(outcomes)
    hidden: List[Outcome] = []
    if limit is not None and len(shown) > limit:
        failures = sum(1 for o in shown if not o.ok)
        keep = max(limit - failures - 1, 3)
        kept, shown = 0, []
        for outcome in outcomes:
            if not outcome.ok or kept < keep:
                shown.append(outcome)
                kept += outcome.ok
            else:
                hidden.append(outcome)
    rows: List[_Row] = [(Text(o.host), Text(o.status_text, _status_style(o)),
                         Text(format_seconds(o.seconds)), _answer(o)) for o in shown]
    if hidden:
        slowest = max(o.seconds for o in hidden)
        statuses = sorted(set(o.status_text for o in hidden))
        rows.append((Text('… {0} more'.format(len(hidden)), 'dim'),
                     Text(', '.join(statuses), 'green'),
                     Text('≤ ' + format_seconds(slowest), 'dim'),
                     Text('(successes not shown)', 'dim')))
    widths = _widths(rows, width)
    if any(row[1].cell_len > widths[1] for row in rows):
        # Too narrow for '503 Service Unavailable': keep the code alone.
        rows = [(host, Text(status.plain.split(' ')[0], status.style)
                 if status.cell_len > widths[1] else status, time, answer)
                for host, status, time, answer in rows]
        widths = _widths(rows, width)
    for number, name in enumerate(('host', 'status', 'time', 'answer')):
        table.add_column(name, no_wrap=name == 'time', width=widths[number],
                         overflow='fold' if name == 'host' else 'ellipsis',
                         justify='right' if name == 'time' else 'left')
    for row in rows:
        table.add_row(*row)
    return table


def summary_text(fanout: FanOut) -> Text:
    """One line under the table: ``100 hosts: 97 ok, 3 failed in 1.24 s (81 req/s)``."""
    text = Text('{0} host{1}: '.format(fanout.total, 's' if fanout.total != 1 else ''))
    text.append('{0} ok'.format(fanout.ok), 'green')
    text.append(', ')
    text.append('{0} failed'.format(fanout.failed), 'red' if fanout.failed else '')
    if fanout.cancelled:
        text.append(', {0} cancelled'.format(fanout.cancelled), 'yellow')
    text.append(' in {0} ({1:.0f} req/s)'.format(format_seconds(fanout.elapsed()),
                                                 fanout.rate()))
    if fanout.interrupted:
        text.append(' — interrupted', 'yellow')
    elif fanout.stopped_early:
        text.append(' — stopped at the first success', 'dim')
    return text
