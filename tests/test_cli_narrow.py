"""The ``napix`` command in a tmux pane of 60 columns, read back as a person
sees it: help texts wrapped between words, table cells wrapped and never
cut, a progress line that fits, and nothing left of it after Ctrl-C."""

import re
import shutil
import sys

import pytest
from test_cli import AUTH, REPO

from napix import __version__

pytestmark = pytest.mark.skipif(shutil.which('tmux') is None,
                                reason='tmux is not installed: apt-get install -y tmux')

WIDTH = 60


def lines_of(screen):
    return [line.rstrip() for line in screen.splitlines()]


def words_of(text):
    return text.split()


def wide_help(args, env):
    """The help as argparse writes it to a 200-column pipe: the words to find."""
    from gevent import subprocess
    out = subprocess.check_output([sys.executable, '-m', 'napixd.client'] + args,
                                  env=dict(env, COLUMNS='200'), cwd=REPO, timeout=30)
    return out.decode()


@pytest.mark.parametrize('args', [['--help'], ['demo', '--help']], ids=['napix', 'demo'])
def test_help_is_wrapped_between_words_at_60_columns(tmux, args):
    tmux.run(args, width=WIDTH, height=300)
    _, screen = tmux.wait_for(r'napix-exit=0')
    lines = lines_of(screen)
    shown = lines[:lines.index('napix-exit=0')]
    assert max(len(line) for line in shown) <= WIDTH
    # Words cut by the terminal would differ from the words of the wide help.
    assert words_of('\n'.join(shown)) == words_of(wide_help(args, tmux.env)), screen
    if args == ['--help']:
        # Wrapped to the terminal, not to 80 columns: most lines use the width.
        assert sum(1 for line in shown if len(line) > 52) > 20, screen
        for example in ["  napix --login root POST /vm/ xen1 --body '{\"size\": 1}'",
                        '  napix demo']:
            assert example in lines, screen
        assert '  --cacert FILE         verify the servers\' certificates' in lines


def test_table_cells_wrap_and_are_never_cut(make_napix_server, tmux):
    server = make_napix_server()
    disk = {'size': 69, 'owner': 'a-rather-long-owner-name', 'tags': ['fast', 'ssd', 'eu-west']}
    server.route('GET', '/disk', lambda request: disk)
    detail = 'the disk pool ' + ' '.join('volume{0}'.format(n) for n in range(12)) + ' is full'
    refusing = make_napix_server()

    def full(request):
        from napixd.testing import Reply
        raise Reply(507, detail)
    refusing.route('GET', '/disk', full)
    tmux.run(['GET', '/disk', server.host, refusing.host] + AUTH, width=WIDTH)
    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '1', screen
    lines = lines_of(screen)
    assert max(len(line) for line in lines) <= WIDTH, screen
    assert '…' not in screen
    header = next(line for line in lines if re.match(r'host +status +time +answer$', line))
    column = header.index('answer')
    start = next(n for n, line in enumerate(lines) if line.startswith(server.host))
    answers = []
    for line in lines[start:]:
        if line.startswith(('127.0.0.1', ' ')) and len(line) > column:
            answers.append(line[column:])
    # The whole answer and the whole error, in order (a word longer than the
    # column folds inside it, so spaces are not compared).
    text = ''.join(answers).replace(' ', '')
    body = '{"size": 69, "owner": "a-rather-long-owner-name", "tags": ["fast", "ssd", "eu-west"]}'
    assert body.replace(' ', '') in text, screen
    assert detail.replace(' ', '') in text, screen


def test_progress_line_fits_60_columns_with_its_counts(make_napix_server, tmux):
    servers = [make_napix_server(delay=1 + 0.4 * n) for n in range(6)]
    tmux.run(['GET', '/vm/4'] + [s.host for s in servers] + AUTH, width=WIDTH)
    progress = re.compile(r'^\S ((GET /vm/4 )?━+ )?(\d)/6 (\d) ok (\d) failed (\d) pending '
                          r'(\d+ ms|\d+\.\d\d s)$', re.M)
    match, screen = tmux.wait_for(progress, timeout=20)
    line = match.group(0)
    assert len(line) <= WIDTH
    assert match.group(1) and match.group(2), 'the label and the bar fit: {0!r}'.format(line)
    done, ok, failed, pending = map(int, match.group(3, 4, 5, 6))
    assert ok + failed + pending == 6 and done == ok + failed
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=20)
    assert match.group(1) == '0', screen
    assert 'pending' not in screen


def test_ctrl_c_erases_the_progress_line_before_the_table(make_napix_server, tmux):
    fast = [make_napix_server() for _ in range(3)]
    slow = [make_napix_server(delay=30) for _ in range(3)]
    tmux.run(['GET', '/vm/8'] + [s.host for s in fast + slow] + AUTH, width=WIDTH)
    tmux.wait_for(r'3/6 +3 ok +0 failed +3 pending')
    tmux.tmux('send-keys', 'C-c')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=10)
    assert match.group(1) == '130', screen
    lines = [line for line in lines_of(screen) if line]
    assert re.match(r'host +status +time +answer$', lines[0]), screen
    assert 'pending' not in screen and '━' not in screen and '^C' not in screen
    assert '6 hosts: 3 ok, 0 failed, 3 cancelled' in screen


def test_version(tmux):
    tmux.run(['--version'], width=WIDTH)
    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '0', screen
    assert lines_of(screen)[0] == 'napix {0}'.format(__version__)
