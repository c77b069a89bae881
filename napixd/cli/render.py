"""Terminal rendering of a fan-out with *rich*: the live progress bar and the
table of answers.

This is the only module of the package that imports *rich*, and only the
``napix`` command imports it: the library itself never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Tuple

import gevent
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from napixd.cli.fanout import FanOut
    from napixd.cli.gather import Group
    from napixd.cli.outcome import Outcome

__all__ = ['ProgressDisplay', 'progress_line', 'outcome_table', 'timing_cells', 'summary_text',
           'format_seconds', 'make_console', 'print_groups']

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


_SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'
_BAR_MIN, _BAR_MAX = 10, 40


def progress_line(fanout: FanOut, label: str, width: int, frame: int = 0) -> Text:
    """One line of at most *width* columns: spinner, label, bar, ``done/total``,
    ``ok``, ``failed``, ``pending``, rate and elapsed time. When it is too
    long the rate goes first, then the spaces between the counts narrow, the
    label is shortened, the bar shrinks, the label goes, the bar goes: the
    counts and the elapsed time always stay."""
    done = fanout.done + fanout.cancelled + fanout.skipped
    spinner = _SPINNER[frame % len(_SPINNER)] + ' '
    for wide, rate, bar, short_label in _LAYOUTS:
        gap = '  ' if wide else ' '
        tail = _counts(fanout, done, gap)
        if rate:
            tail.append('{0}{1:.0f} req/s'.format(gap, fanout.rate()), style='dim')
        tail.append(gap + format_seconds(fanout.elapsed()), style='dim')
        room = width - len(spinner) - tail.cell_len - (_BAR_MIN + 1 if bar else 0)
        text = label if not short_label or len(label) < room else \
            (label[:room - 2] + '…' if room - 1 >= 8 else '')
        if len(text) + 1 > room and text:
            continue
        line = Text(spinner, style='cyan')
        if text:
            line.append(text + ' ')
        if bar:
            bar_width = min(_BAR_MAX, width - line.cell_len - tail.cell_len - 1)
            if bar_width < _BAR_MIN:
                continue
            line.append_text(_bar(done, fanout.total, bar_width))
            line.append(' ')
        line.append_text(tail)
        if line.cell_len <= width:
            break
    line.no_wrap = True
    line.overflow = 'ellipsis'
    return line


# (wide spaces, rate, bar, shortened label), the first that fits is drawn.
_LAYOUTS = [(True, True, True, False), (True, False, True, False),
            (False, False, True, False), (False, False, True, True),
            (False, False, False, True)]


def _counts(fanout: FanOut, done: int, gap: str) -> Text:
    counts = Text('{0}/{1}{2}'.format(done, fanout.total, gap))
    counts.append('{0} ok'.format(fanout.ok), style='green')
    counts.append(gap)
    counts.append('{0} failed'.format(fanout.failed), style='red' if fanout.failed else 'dim')
    counts.append('{0}{1} pending'.format(gap, fanout.pending))
    return counts


def _bar(done: int, total: int, width: int) -> Text:
    filled = width if total == 0 else width * done // total
    bar = Text('━' * filled, style='magenta' if done < total else 'green')
    bar.append('━' * (width - filled), style='grey23')
    return bar


class ProgressDisplay(object):
    """A live progress line of *fanout* on *console* (meant for stderr),
    fitted to the terminal's width and redrawn every 0.1 s by a greenlet
    while the ``with`` block runs; erased at its end, also after Ctrl-C."""

    def __init__(self, fanout: FanOut, console: Console, label: str) -> None:
        self.fanout = fanout
        self.console = console
        self.label = label
        self.frame = 0
        self.live = Live(console=console, auto_refresh=False, transient=True,
                         redirect_stdout=False, redirect_stderr=False)
        self._greenlet: Any = None
        self._echo: Any = None

    def _refresh(self) -> None:
        while True:
            self.update()
            gevent.sleep(REFRESH)

    def update(self) -> None:
        self.frame += 1
        self.live.update(progress_line(self.fanout, self.label, self.console.width,
                                       self.frame), refresh=True)

    def __enter__(self) -> ProgressDisplay:
        self._echo = _quiet_control_echo(self.console.file)
        self.live.start()
        self._greenlet = gevent.spawn(self._refresh)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._greenlet.kill()
        try:
            self.live.stop()
        finally:
            if self._echo is not None:
                self._echo()


def _quiet_control_echo(stream: Any) -> Optional[Callable[[], None]]:
    """Stop the terminal of *stream* echoing ``^C`` while a live frame is
    drawn; return what restores it, or ``None`` when there is nothing to do.

    The echo moves the cursor under the frame (to the next line when the
    frame fills the width), so erasing the frame would erase the echo instead.
    """
    try:
        import termios
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except Exception:  # not a terminal, no termios (Windows), a closed stream
        return None

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except Exception:
            pass
    return restore


def _status_style(outcome: Outcome) -> str:
    if outcome.ok:
        return 'green'
    if outcome.cancelled or outcome.skipped:
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
    # Answers and errors wrap on as many lines as they need: a cut value
    # ({"size": 6…) reads as another value.
    if outcome.ok:
        return Text(outcome.summary, overflow='fold')
    return Text(outcome.summary, style=_status_style(outcome), overflow='fold')


def outcome_table(outcomes: Iterable[Outcome], width: int = 80, limit: Optional[int] = None,
                  title: Optional[str] = None, timings: bool = False) -> Table:
    """A table of *outcomes*: host, status, time, answer, at most *width*
    columns wide. No cell is cut: an answer or an error wraps on as many lines
    as it needs (between words, or inside a word longer than its column), a
    host folds; when the terminal is narrow a status keeps its code alone
    (``503``) rather than wrap its reason phrase. With *timings*, the columns
    of :func:`timing_cells` follow (the answer gets the rest of the width).

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
    if timings:  # issue 28: the timings' columns take their room from the answer's
        width -= sum(len(name) + 2 for name in _TIMING_COLUMNS)
    widths = _widths(rows, width)
    if any(row[1].cell_len > widths[1] for row in rows):
        # Too narrow for '503 Service Unavailable': keep the code alone.
        rows = [(host, Text(status.plain.split(' ')[0], status.style)
                 if status.cell_len > widths[1] else status, time, answer)
                for host, status, time, answer in rows]
        widths = _widths(rows, width)
    for number, name in enumerate(('host', 'status', 'time', 'answer')):
        table.add_column(name, no_wrap=name == 'time', width=widths[number], overflow='fold',
                         justify='right' if name == 'time' else 'left')
    if timings:
        for name in _TIMING_COLUMNS:
            table.add_column(name, no_wrap=True, justify='right')
    for number, row in enumerate(rows):
        extra = timing_cells(shown[number] if number < len(shown) else None) if timings else ()
        table.add_row(*row, *extra)
    return table


# The timings' columns: connect counts the name's resolution and the TLS handshake.
_TIMING_COLUMNS = ('queued', 'connect', 'wait', 'receive', 'total')


def timing_cells(outcome: Optional[Outcome]) -> Tuple[Text, ...]:
    """The cells of *outcome*'s timings in milliseconds (blank when none)."""
    timings = outcome.timings if outcome is not None else None
    if timings is None:
        return tuple(Text('') for _ in _TIMING_COLUMNS)
    values = (timings.queued, timings.resolve + timings.connect + timings.tls, timings.wait,
              timings.receive, timings.total)
    return tuple(Text('{0:.1f}'.format(value * 1000), 'dim') for value in values)


def summary_text(fanout: FanOut) -> Text:
    """One line under the table: ``100 hosts: 97 ok, 3 failed in 1.24 s (81 req/s)``;
    when sending stopped early, why and what it left: ``— stopped: 4 hosts
    failed, more than --max-fail 3; 26 hosts skipped``."""
    text = Text('{0} host{1}: '.format(fanout.total, 's' if fanout.total != 1 else ''))
    text.append('{0} ok'.format(fanout.ok), 'green')
    text.append(', ')
    text.append('{0} failed'.format(fanout.failed), 'red' if fanout.failed else '')
    if fanout.cancelled:
        text.append(', {0} cancelled'.format(fanout.cancelled), 'yellow')
    if fanout.skipped:
        text.append(', {0} skipped'.format(fanout.skipped), 'yellow')
    text.append(' in {0} ({1:.0f} req/s)'.format(format_seconds(fanout.elapsed()),
                                                 fanout.rate()))
    if fanout.interrupted:
        text.append(' — interrupted', 'yellow')
    elif fanout.stopped_by is not None:
        text.append(' — ' + stop_text(fanout), 'yellow')
    elif fanout.stopped_early:
        text.append(' — stopped at the first success', 'dim')
    return text


def stop_text(fanout: FanOut) -> str:
    """Why ``--max-fail`` stopped the sending, and what it left unsent:
    ``stopped after batch 2 of 5: 4 hosts failed, more than --max-fail 3;
    26 hosts skipped``."""
    unsent = fanout.total - fanout.sent
    if not unsent:
        return '{0}: every host was sent to already'.format(fanout.stopped_by)
    where = 'stopped'
    plan = fanout.plan
    if plan.batch is not None:
        where += ' after batch {0} of {1}'.format(fanout.batches_started,
                                                  plan.batches(fanout.total))
    return '{0}: {1}; {2} host{3} {4}'.format(
        where, fanout.stopped_by, unsent, 's' if unsent != 1 else '',
        'skipped' if plan.batch is not None else 'not sent (cancelled)')


def print_groups(console: Console, groups: Iterable[Group]) -> None:
    """The ``--gather`` blocks: a rule naming the hosts and their count, the
    status, then the answer (or its diff against the first group's)."""
    for group in groups:
        # A rule of its own: rich's would cut a title wider than the terminal.
        title = Text(' {0} '.format(group.nodeset), 'bold', overflow='fold')
        title.append('({0} host{1}) '.format(group.count, 's' if group.count != 1 else ''),
                     'dim')
        if console.width - title.cell_len >= 3:
            title.append('─' * (console.width - title.cell_len), 'bright_green')
        console.print(title)
        style = 'green' if group.ok else 'red'
        console.print(Text(group.status, style))
        if group.diff is None:
            if group.text:
                console.print(Text(group.text, overflow='fold'))
        elif not group.diff:
            console.print(Text('(the same body as the first group)', 'dim'))
        for line in group.diff or ():
            console.print(Text(line, _DIFF_STYLES.get(line[:1], ''), overflow='fold'))
        console.print()


_DIFF_STYLES = {'+': 'green', '-': 'red', '@': 'cyan'}
