"""The ``napix`` command, driven as a user drives it.

Each test starts real Napix servers on 127.0.0.1 in this process and runs
``python -m napixd.client ...`` in a subprocess through ``gevent.subprocess``,
so the servers keep serving while the test waits for the command. The terminal
rendering (progress bar, table, Ctrl-C) is checked in a real terminal: a
``tmux`` pane, read back with ``capture-pane``.
"""

import json
import os
import re
import shutil
import signal
import socket
import sys
from time import monotonic

import gevent
import pytest
from gevent import subprocess

from napixd.client import Client
from napixd.testing import NapixServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = 'k3y-Th4t-Must-N0t-Leak'
SECRET_TOKEN = 't0ken-Th4t-Must-N0t-Leak'
AUTH = ['--login', 'root', '--key', 'toor']


class Run(object):
    def __init__(self, status, out, err, seconds):
        self.status = status
        self.out = out
        self.err = err
        self.seconds = seconds

    @property
    def lines(self):
        """stdout as JSON objects, one a line."""
        return [json.loads(line) for line in self.out.splitlines()]

    def __repr__(self):
        return '<Run exit {0}\nstdout: {1}\nstderr: {2}>'.format(self.status, self.out,
                                                               self.err)


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a user with no napix configuration at all."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('NAPIX_') and k != 'XDG_CONFIG_HOME'}
    env['HOME'] = str(tmp_path)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env.pop('COLUMNS', None)
    return env


def start(args, env, stdin=False):
    return subprocess.Popen([sys.executable, '-m', 'napixd.client'] + list(args),
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)


def napix(args, env, input=None, timeout=60):
    started = monotonic()
    proc = start(args, env, stdin=input is not None)
    out, err = proc.communicate(input.encode() if input is not None else None, timeout=timeout)
    return Run(proc.returncode, out.decode(), err.decode(), monotonic() - started)


@pytest.fixture
def refused_host():
    """A port of 127.0.0.1 that refuses connections (bound, not listening)."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    yield '127.0.0.1:{0}'.format(sock.getsockname()[1])
    sock.close()


@pytest.fixture
def bare_server():
    """A started server with no route: every path answers 404 `<path>` not found."""
    server = NapixServer(users={'root': 'toor'}).start()
    yield server
    server.stop()


# Success, failures, exit status

def test_success_prints_one_json_line_per_host_in_order(make_napix_server, cli_env):
    servers = [make_napix_server() for _ in range(3)]
    run = napix(['GET', '/vm/7'] + [s.host for s in servers] + AUTH, cli_env)
    assert run.status == 0, run
    assert [line['host'] for line in run.lines] == [s.host for s in servers]
    for line in run.lines:
        assert line['status'] == 200 and line['ok'] is True
        assert line['body'] == {'id': '7', 'by': 'root'}
        assert 0 <= line['seconds'] < 10
    assert run.err == ''


def test_mixed_failures_exit_1_with_each_reason(make_napix_server, cli_env, refused_host,
                                                bare_server):
    good = make_napix_server()
    empty = bare_server
    run = napix(['GET', '/vm/7', good.host, empty.host, refused_host] + AUTH, cli_env)
    assert run.status == 1, run
    ok, missing, refused = run.lines
    assert (ok['status'], ok['ok']) == (200, True)
    assert (missing['status'], missing['ok']) == (404, False)
    assert missing['error'] == '`/vm/7` not found'
    assert missing['remote_error'] == '"404 NOT FOUND" `/vm/7` not found'
    assert missing['remote_call'] == 'GET {0}/vm/7'.format(empty.host)
    assert (refused['status'], refused['ok'], refused['error_type']) == (None, False,
                                                                         'ConnectError')
    assert 'refused' in refused['error']


def test_post_sends_the_json_body(make_napix_server, cli_env):
    server = make_napix_server()
    run = napix(['post', '/echo', server.host, '--body', '{"size": 1}'] + AUTH, cli_env)
    assert run.status == 0, run
    (line,) = run.lines
    assert line['body']['method'] == 'POST'
    assert line['body']['body'] == {'size': 1}
    assert line['body']['content_type'] == 'application/json'


def test_an_error_bubbled_through_two_servers_shows_its_chain(make_napix_server, cli_env):
    back = make_napix_server()
    front = make_napix_server()

    @front.route('GET', '/relay/{id}')
    def relay(request, id):
        with Client(back.host, {'login': 'root', 'key': 'toor'}) as client:
            return client.request('GET', '/vm/' + id).body

    run = napix(['GET', '/relay/missing', front.host] + AUTH, cli_env)
    assert run.status == 1, run
    (line,) = run.lines
    assert line['status'] == 500
    assert line['error'] == 'GET {0}/vm/missing → "404 NOT FOUND" `missing` not found'.format(
        back.host)
    assert line['remote_error']['remote_error'] == '"404 NOT FOUND" `missing` not found'


def test_hosts_from_a_file_and_from_stdin(make_napix_server, cli_env, tmp_path):
    servers = [make_napix_server() for _ in range(3)]
    hosts_file = tmp_path / 'hosts.txt'
    hosts_file.write_text('# hypervisors\n{0}\n\n  {1}  # the second\n'.format(
        servers[0].host, servers[1].host))
    run = napix(['GET', '/', servers[2].host, '--hosts-file', str(hosts_file)] + AUTH,
                cli_env)
    assert run.status == 0, run
    assert [line['host'] for line in run.lines] == [servers[2].host, servers[0].host,
                                                    servers[1].host]
    run = napix(['GET', '/', '--hosts-file', '-'] + AUTH, cli_env,
                input='\n'.join(s.host for s in servers))
    assert run.status == 0, run
    assert len(run.lines) == 3


def test_unordered_lists_answers_as_they_come(make_napix_server, cli_env):
    slow = make_napix_server(delay=1.0)
    fast = make_napix_server()
    run = napix(['GET', '/vm/1', slow.host, fast.host, '--unordered'] + AUTH, cli_env)
    assert run.status == 0, run
    assert [line['host'] for line in run.lines] == [fast.host, slow.host]


def test_simultaneous_bounds_the_requests_in_flight_to_one_host(make_napix_server, cli_env):
    server = make_napix_server(max_concurrent=None)
    args = ['GET', '/sleep/0.2'] + [server.host] * 4 + AUTH
    run = napix(args + ['--simultaneous', '1'], cli_env)
    assert run.status == 0, run
    assert len(run.lines) == 4 and server.max_in_flight == 1
    server.reset_counters()
    run = napix(args + ['--simultaneous', '3'], cli_env)
    assert run.status == 0, run
    assert server.max_in_flight == 3


def test_timeout_gives_up_on_a_slow_host(make_napix_server, cli_env):
    slow = make_napix_server(delay=10)
    fast = make_napix_server()
    run = napix(['GET', '/vm/1', fast.host, slow.host, '--timeout', '0.5'] + AUTH, cli_env)
    assert run.status == 1, run
    assert run.seconds < 8
    assert [line['error_type'] if not line['ok'] else 'ok' for line in run.lines] == [
        'ok', 'Timeout']


# --first

def test_first_stops_at_the_first_success(make_napix_server, cli_env, refused_host):
    slow = [make_napix_server(delay=20) for _ in range(3)]
    fast = make_napix_server(delay=0.2)
    hosts = [s.host for s in slow] + [refused_host, fast.host]
    run = napix(['GET', '/vm/3', '--first'] + hosts + AUTH, cli_env)
    assert run.status == 0, run
    assert run.seconds < 10
    ok = [line for line in run.lines if line['ok']]
    assert [line['host'] for line in ok] == [fast.host]
    # Only what completed is printed: the slow hosts were cancelled.
    assert {line['host'] for line in run.lines} <= {fast.host, refused_host}


def test_first_exits_1_when_no_host_succeeds(cli_env, refused_host, bare_server):
    run = napix(['GET', '/nothing', '--first', bare_server.host, refused_host] + AUTH,
                cli_env)
    assert run.status == 1, run
    assert sorted(line['status'] or 0 for line in run.lines) == [0, 404]


# Ctrl-C

def _wait_until(condition, timeout=10):
    deadline = monotonic() + timeout
    while not condition():
        assert monotonic() < deadline, 'timed out'
        gevent.sleep(0.05)


def test_sigint_cancels_the_pending_and_prints_what_completed(make_napix_server, cli_env):
    slow = [make_napix_server(delay=30) for _ in range(3)]
    fast = [make_napix_server() for _ in range(2)]
    # The slow host first: in the default order nothing can be printed before it.
    hosts = [slow[0].host] + [s.host for s in fast] + [s.host for s in slow[1:]]
    started = monotonic()
    proc = start(['GET', '/vm/5'] + hosts + AUTH, cli_env)
    _wait_until(lambda: all(s.requests for s in fast) and all(s.in_flight for s in slow))
    gevent.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 130, (out, err)
    assert monotonic() - started < 20
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line['host'] for line in lines] == [s.host for s in fast]
    assert all(line['ok'] for line in lines)
    assert 'Traceback' not in err
    assert '3 cancelled' in err and 'interrupted' in err


def test_sigint_with_unordered_json_streams_then_exits_130(make_napix_server, cli_env):
    slow = make_napix_server(delay=30)
    fast = [make_napix_server() for _ in range(2)]
    proc = start(['GET', '/vm/5', '--unordered', '--json', slow.host] +
                 [s.host for s in fast] + AUTH, cli_env)
    first_lines = [json.loads(proc.stdout.readline()) for _ in fast]
    assert {line['host'] for line in first_lines} == {s.host for s in fast}
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert out == b''
    assert b'Traceback' not in err


# Bad input: one line, exit 2

@pytest.mark.parametrize('args, message', [
    (['FETCH', '/vm', '127.0.0.1:1'], "unknown method 'FETCH'"),
    (['GET', 'vm/1', '127.0.0.1:1'], 'invalid path'),
    (['GET', '/vm', 'ftp://host'], 'invalid host'),
    (['GET', '/vm', 'bad host name'], 'invalid host'),
    (['GET', '/vm', '127.0.0.1:99999'], 'port must be'),
    (['GET', '/vm', '127.0.0.1:1', '--body', '{size: 1}'], '--body is not valid JSON'),
    (['GET', '/vm', '--hosts-file', '/nonexistent/hosts'], 'cannot read hosts file'),
    (['GET', '/vm'], 'no host'),
    (['GET', '/vm', '127.0.0.1:1', '--simultaneous', '0'], 'argument --simultaneous'),
    (['GET', '/vm', '127.0.0.1:1', '--simultaneous', 'two'], 'argument --simultaneous'),
    (['GET', '/vm', '127.0.0.1:1', '--timeout', '-1'], 'argument --timeout'),
    (['GET', '/vm', '127.0.0.1:1', '--timeout', 'nan'], 'argument --timeout'),
    (['GET', '/vm', '127.0.0.1:1', '--frobnicate'], 'unrecognized arguments'),
])
def test_bad_input_is_one_line_and_exit_2(cli_env, args, message):
    run = napix(args + AUTH, cli_env)
    assert run.status == 2, run
    assert run.out == ''
    assert run.err.count('\n') == 1, run
    assert run.err.startswith('napix: error: ')
    assert message in run.err
    assert 'Traceback' not in run.err


def test_missing_credentials_is_a_usage_error(cli_env):
    run = napix(['GET', '/', '127.0.0.1:1'], cli_env)
    assert run.status == 2, run
    assert run.err.count('\n') == 1 and 'no credentials' in run.err
    assert 'NAPIX_LOGIN' in run.err and '--anonymous' in run.err


def test_help_documents_credentials_and_exit_status(cli_env):
    run = napix(['--help'], cli_env)
    assert run.status == 0
    for landmark in ('NAPIX_TOKEN', 'NAPIX_KEY', 'credentials', 'exit status', '130',
                     '--first', '--json', 'napix demo'):
        assert landmark in run.out


# Credentials

def test_credentials_from_environment_and_config_file(make_napix_server, cli_env, tmp_path):
    server = make_napix_server(users={'admin': SECRET_KEY}, tokens={SECRET_TOKEN: 'tok'})
    env = dict(cli_env, NAPIX_LOGIN='admin', NAPIX_KEY=SECRET_KEY)
    run = napix(['GET', '/vm/1', server.host], env)
    assert run.status == 0 and run.lines[0]['body']['by'] == 'admin', run

    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    run = napix(['GET', '/vm/1', server.host], env)
    assert run.status == 0 and run.lines[0]['body']['by'] == 'tok', run

    config = tmp_path / '.config' / 'napix' / 'credentials'
    config.parent.mkdir(parents=True)
    config.write_text('[napix]\nlogin = admin\nkey = {0}\n'.format(SECRET_KEY))
    run = napix(['GET', '/vm/1', server.host], cli_env)
    assert run.status == 0 and run.lines[0]['body']['by'] == 'admin', run

    # The options win over the environment, which wins over the file.
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    run = napix(['GET', '/vm/1', server.host, '--login', 'admin'], env)
    assert run.status == 0 and run.lines[0]['body']['by'] == 'admin', run


@pytest.mark.parametrize('auth', ['secure', 'nonsecure', 'jwt'])
def test_secrets_never_appear_in_output(make_napix_server, cli_env, auth):
    server = make_napix_server(users={'root': 'another-key'})
    run = napix(['GET', '/vm/1', server.host, '--auth', auth, '--login', 'root',
                 '--key', SECRET_KEY], cli_env)
    assert run.status == 1, run
    assert run.lines[0]['status'] == 403
    assert SECRET_KEY not in run.out + run.err
    assert 'token=' not in run.out + run.err


def test_secrets_never_appear_in_errors(make_napix_server, cli_env, tmp_path):
    server = make_napix_server()
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    run = napix(['GET', '/vm/1', server.host], env)
    assert run.status == 1 and run.lines[0]['status'] == 403, run
    assert SECRET_TOKEN not in run.out + run.err

    config = tmp_path / 'credentials'
    config.write_text('[napix]\nlogin = root\n{0}\n'.format(SECRET_KEY))
    run = napix(['GET', '/vm/1', server.host, '--config', str(config)], cli_env)
    assert run.status == 2 and 'not in ini form' in run.err, run
    assert SECRET_KEY not in run.out + run.err

    run = napix(['GET', '/vm/1', server.host, '--key', SECRET_KEY], cli_env)
    assert run.status == 2 and 'a login is needed' in run.err, run
    assert SECRET_KEY not in run.out + run.err


# The library does not import the terminal library

def test_importing_the_library_does_not_import_rich(cli_env):
    code = ('import sys, napix.connection, napixd.client, napixd.client.__main__, '
            'napixd.testing, napixd.plugins.exceptions; '
            'print(sorted(m for m in sys.modules if m == "rich" or m.startswith("rich.")))')
    out = subprocess.check_output([sys.executable, '-c', code], cwd=REPO, env=cli_env)
    assert out.decode().strip() == '[]'


# napix demo

def test_demo_runs_and_reads_well_without_a_terminal(cli_env):
    run = napix(['demo'], cli_env, timeout=60)
    assert run.status == 0, run
    assert run.seconds < 30
    assert 'Traceback' not in run.err
    assert '\x1b[' not in run.out, 'no terminal: no escape sequences'
    for landmark in [
        '1. Create a resource', 'ip, filer = cp.wait()', 'ip-allocator.enix.org  204',
        '2. Pick the first hypervisor', 'wait_unordered(timeout=10)',
        'xen2.enix.org  200  64 GB free: chosen', 'xen1.enix.org  200  8 GB free: too small',
        '3. Ask 100 hosts at once', '100 hosts: 96 ok, 4 failed', '… 89 more',
        'maintenance until 14:00', 'unreachable', 'timeout',
        '4. An error that bubbled through two servers',
        'GET inventory.enix.org/vm/10 → "404 NOT FOUND" `10` not found',
        'napix --help',
    ]:
        assert landmark in run.out, landmark


# In a real terminal: tmux

needs_tmux = pytest.mark.skipif(shutil.which('tmux') is None,
                                reason='tmux is not installed: apt-get install -y tmux')


class Tmux(object):
    """A private tmux server (its own socket) with one pane of 120x40."""

    def __init__(self, env, socket_path):
        self.socket = socket_path
        self.env = env

    def tmux(self, *args):
        return subprocess.check_output(['tmux', '-S', self.socket] + list(args),
                                       env=self.env).decode()

    def run(self, args):
        command = ' '.join([sys.executable, '-m', 'napixd.client'] + args)
        self.tmux('new-session', '-d', '-x', '120', '-y', '40', '-c', REPO,
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


@pytest.fixture
def tmux(cli_env, tmp_path):
    cli_env = dict(cli_env, TERM='xterm-256color')
    cli_env.pop('TMUX', None)
    session = Tmux(cli_env, str(tmp_path / 'tmux.sock'))
    yield session
    session.close()


@needs_tmux
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


@needs_tmux
def test_terminal_ctrl_c_prints_the_completed_and_exits_130(make_napix_server, tmux):
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
        assert server.host not in screen
    assert '5 hosts: 3 ok, 0 failed, 2 cancelled' in screen and 'interrupted' in screen


@needs_tmux
def test_terminal_demo_shows_its_progress_bar(tmux):
    tmux.run(['demo'])
    tmux.wait_for(r'GET /capacity .*\d+/100 +\d+ ok')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)', timeout=40)
    assert match.group(1) == '0', screen
    assert '100 hosts: 96 ok, 4 failed' in screen


@needs_tmux
def test_terminal_asks_for_a_missing_key_without_echoing_it(make_napix_server, tmux):
    server = make_napix_server()
    tmux.run(['GET', '/vm/5', server.host, '--login', 'root'])
    tmux.wait_for(r'napix: key for root:')
    tmux.tmux('send-keys', 'toor', 'Enter')
    match, screen = tmux.wait_for(r'napix-exit=(\d+)')
    assert match.group(1) == '0', screen
    assert re.search(re.escape(server.host) + r' +200 OK', screen), screen
    assert 'toor' not in screen


def test_a_missing_key_without_a_terminal_is_a_usage_error(make_napix_server, cli_env):
    server = make_napix_server()
    run = napix(['GET', '/vm/5', server.host, '--login', 'root'], cli_env, input='toor\n')
    assert run.status == 2, run
    assert run.err.strip() == 'napix: error: a key is needed with the login: give --key or ' \
                              'NAPIX_KEY', run
