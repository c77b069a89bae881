"""The ``napix`` command in a real terminal: a ``tmux`` pane of a chosen
size, read back with ``capture-pane``, with real servers on 127.0.0.1."""

import re
import shutil
import sys
from time import monotonic

import gevent
import pytest
from gevent import subprocess
from test_cli import AUTH, REPO

pytestmark = pytest.mark.skipif(shutil.which('tmux') is None,
                                reason='tmux is not installed: apt-get install -y tmux')


class Tmux(object):
    """A private tmux server (its own socket) with one pane."""

    def __init__(self, env, socket_path):
        self.socket = socket_path
        self.env = env

    def tmux(self, *args):
        return subprocess.check_output(['tmux', '-S', self.socket] + list(args),
                                       env=self.env).decode()

    def run(self, args, width=120, height=40):
        command = ' '.join([sys.executable, '-m', 'napixd.client'] + args)
        self.tmux('new-session', '-d', '-x', str(width), '-y', str(height), '-c', REPO,
                  'bash --norc --noprofile -c "{0}; echo napix-exit=\\$?; sleep 60"'.format(
                      command))

    def screen(self):
        return self.tmux('capture-pane', '-p')

    def wait_for(self, pattern, timeout=20):
        deadline = monotonic() + timeout
        while True:
            screen = self.screen()
            match = re.search(pattern, screen)
            if match:
                return match, screen
            assert monotonic() < deadline, 'never saw {0!r} on:\n{1}'.format(pattern, screen)
            gevent.sleep(0.05)

    def close(self):
        subprocess.call(['tmux', '-S', self.socket, 'kill-server'], env=self.env,
                        stderr=subprocess.DEVNULL)




def test_terminal_shows_a_moving_progress_bar_then_a_table(make_napix_server, tmux,
                                                           refused_host):
    servers = [make_napix_server(delay=0.3 + 0.15 * n) for n in range(19)]
    hosts = [s.host for s in servers] + [refused_host]
    tmux.run(['GET', '/vm/4'] + hosts + AUTH)
    progress = re.compile(r'GET /vm/4 .*?(\d+)/20 +(\d+) ok +(\d+) failed +(\d+) pending')
    seen = []
    deadline = monotonic() + 20
    while 'napix-exit=' not in tmux.screen():
        assert monotonic() < deadline
        match = progress.search(tmux.screen())
        if match:
            done, ok, failed, pending = map(int, match.groups())
            assert ok + failed + pending == 20 and done == ok + failed
            if not seen or seen[-1] != done:
                seen.append(done)
        gevent.sleep(0.05)
    assert len(seen) >= 3, 'the progress bar should move: {0}'.format(seen)
    assert seen == sorted(seen)

    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '1', screen
    assert not progress.search(screen), 'the progress bar is erased at the end'
    assert re.search(r'host +status +time +answer', screen), screen
    for server in servers:
        assert re.search(re.escape(server.host) + r' +200 OK +[\d.]+ m?s +\{"id": "4", '
                         r'"by": "root"\}', screen), screen
    assert re.search(re.escape(refused_host) + r' +unreachable +\d+ ms +connection refused',
                     screen), screen
    assert '20 hosts: 19 ok, 1 failed in' in screen


def test_terminal_ctrl_c_lists_the_completed_and_the_cancelled(make_napix_server, tmux):
    fast = [make_napix_server() for _ in range(3)]
    slow = [make_napix_server(delay=30) for _ in range(2)]
    tmux.run(['GET', '/vm/8'] + [s.host for s in fast + slow] + AUTH)
    tmux.wait_for(r'3/5 +3 ok +0 failed +2 pending')
    tmux.tmux('send-keys', 'C-c')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=10)
    assert match.group(1) == '130', screen
    assert 'Traceback' not in screen
    for server in fast:
        assert re.search(re.escape(server.host) + r' +200 OK', screen), screen
    for server in slow:
        assert re.search(re.escape(server.host) + r' +cancelled +[\d.]+ m?s +cancelled before '
                         r'it answered', screen), screen
    assert '5 hosts: 3 ok, 0 failed, 2 cancelled' in screen and 'interrupted' in screen


def test_terminal_demo_shows_its_progress_bar(tmux):
    tmux.run(['demo'])
    tmux.wait_for(r'GET /capacity .*\d+/100 +\d+ ok')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=40)
    assert match.group(1) == '0', screen
    assert '100 hosts: 96 ok, 4 failed' in screen


def test_terminal_asks_for_a_missing_key_without_echoing_it(make_napix_server, tmux):
    server = make_napix_server()
    tmux.run(['GET', '/vm/5', server.host, '--login', 'root'])
    tmux.wait_for(r'napix: key for root:')
    tmux.tmux('send-keys', 'toor', 'Enter')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '0', screen
    assert re.search(re.escape(server.host) + r' +200 OK', screen), screen
    assert 'toor' not in screen



def _screen_lines(screen):
    return [line.rstrip() for line in screen.splitlines()]


@pytest.mark.parametrize('key, status, next_line', [
    ('C-c', '130', 'napix: interrupted'),
    ('C-d', '2', 'napix: error: no key typed for the login root'),
], ids=['ctrl-c', 'ctrl-d'])
def test_terminal_ctrl_c_or_d_at_the_key_prompt_ends_its_line(make_napix_server, tmux, key,
                                                              status, next_line):
    server = make_napix_server()
    tmux.run(['GET', '/vm/5', server.host, '--login', 'root'])
    tmux.wait_for(r'napix: key for root:')
    tmux.tmux('send-keys', key)
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=10)
    assert match.group(1) == status, screen
    lines = _screen_lines(screen)
    prompt = lines.index('napix: key for root:')
    assert lines[prompt + 1] == next_line, screen
    assert 'Traceback' not in screen and not server.requests


def test_terminal_at_60_columns_never_cuts_a_host(make_napix_server, tmux, refused_host):
    good = make_napix_server()
    refusing = make_napix_server(users={'root': 'not-the-key'})
    # The longest spellings of a local host: as wide as a real host name.
    hosts = ['http://{0}'.format(good.host), 'http://{0}'.format(refusing.host),
             'http://{0}'.format(refused_host)]
    tmux.run(['GET', '/vm/4'] + hosts + AUTH, width=60)
    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '1', screen
    lines = _screen_lines(screen)
    assert re.search(r'^host +status +time +answer$', screen, re.M), screen
    for host in hosts:
        assert any(line.startswith(host + ' ') for line in lines), (host, screen)
    table = '\n'.join(lines)
    assert re.search(re.escape(hosts[0]) + r' +200 OK +\d+ ms +\{"id"', table), screen
    # The status keeps its code and the answer wraps: the whole refusal is
    # there, with where the credentials came from.
    assert re.search(re.escape(hosts[1]) + r' +403 +\d+ ms +\S', table), screen
    answer = ' '.join(line[line.rindex('  ') + 2:] for line in lines
                      if re.match(r'(' + re.escape(hosts[1]) + r' +403 | {20,}\S)', line)
                      and '  ' in line)
    # Wherever the column's width (which follows the time column's) wraps it.
    assert 'credentialsfrom--login/--key(loginroot)' in answer.replace(' ', ''), screen
    assert re.search(re.escape(hosts[2]) + r' +unreachable +\d+ ms', table), screen
