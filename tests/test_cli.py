"""The ``napix`` command, driven as a user drives it.

Each test starts real Napix servers on 127.0.0.1 in this process and runs
``python -m napixd.client ...`` in a subprocess through ``gevent.subprocess``,
so the servers keep serving while the test waits for the command. The
credentials are tested in ``test_cli_credentials.py``, the terminal rendering
(progress bar, table, Ctrl-C, the key prompt) in ``test_cli_terminal.py``; both
use the helpers of this module.
"""

import json
import os
import re
import signal
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
# Tests that send to 127.0.0.2 and beyond, where nothing listens: on Linux
# all of 127.0.0.0/8 is the loopback, so they are refused at once.
ALL_LOOPBACK = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                  reason='127.0.0.0/8 is all loopback on Linux only')


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


def user_env(home):
    """The environment of a user with no napix configuration at all, whose
    home is *home*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('NAPIX_') and k != 'XDG_CONFIG_HOME'}
    env['HOME'] = str(home)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env.pop('COLUMNS', None)
    return env


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a user with no napix configuration at all."""
    return user_env(tmp_path)


def start(args, env, stdin=False):
    return subprocess.Popen([sys.executable, '-m', 'napixd.client'] + list(args),
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)


def napix(args, env, input=None, timeout=60):
    started = monotonic()
    proc = start(args, env, stdin=input is not None)
    out, err = proc.communicate(input.encode() if input is not None else None, timeout=timeout)
    return Run(proc.returncode, out.decode(), err.decode(), monotonic() - started)


_ESCAPES = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r')


def napix_tty(args, env, columns=120, timeout=60):
    """Run the command with its stdout on a pseudo-terminal of *columns*
    (stderr on a pipe): what a person sees, escape sequences removed."""
    import fcntl
    import pty
    import struct
    import termios

    from gevent.os import make_nonblocking, nb_read

    started = monotonic()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 50, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, '-m', 'napixd.client'] + list(args),
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                            cwd=REPO, env=env)
    os.close(slave)
    errors = gevent.spawn(proc.stderr.read)
    make_nonblocking(master)
    chunks = []
    with gevent.Timeout(timeout):
        while True:
            try:
                chunk = nb_read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait()
    os.close(master)
    out = _ESCAPES.sub('', b''.join(chunks).decode('utf-8', 'replace'))
    return Run(proc.returncode, out, errors.get().decode(), monotonic() - started)




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
    # Every host is printed, in order: the slow ones as cancelled.
    assert [line['host'] for line in run.lines] == hosts
    assert [line.get('cancelled', False) for line in run.lines] == [True] * 3 + [False] * 2


def test_first_exits_1_when_no_host_succeeds(cli_env, refused_host, bare_server):
    run = napix(['GET', '/nothing', '--first', bare_server.host, refused_host] + AUTH,
                cli_env)
    assert run.status == 1, run
    assert sorted(line['status'] or 0 for line in run.lines) == [0, 404]


def test_first_reports_the_same_hosts_in_the_table_and_the_json(make_napix_server,
                                                                  cli_env):
    slow = [make_napix_server(delay=20) for _ in range(3)]
    fast = make_napix_server(delay=0.2)
    hosts = [s.host for s in slow[:2]] + [fast.host, slow[2].host]
    run = napix(['GET', '/vm/3', '--first', '--json'] + hosts + AUTH, cli_env)
    assert run.status == 0, run
    assert [line['host'] for line in run.lines] == hosts
    assert [line['status'] for line in run.lines] == [None, None, 200, None]
    assert [line.get('cancelled') for line in run.lines] == [True, True, None, True]
    table = napix_tty(['GET', '/vm/3', '--first'] + hosts + AUTH, cli_env)
    assert table.status == 0, table
    rows = [line.split()[:2] for line in table.out.splitlines()
            if line.startswith('127.0.0.1:')]
    assert rows == [[slow[0].host, 'cancelled'], [slow[1].host, 'cancelled'],
                    [fast.host, '200'], [slow[2].host, 'cancelled']], table.out
    assert '4 hosts: 1 ok, 0 failed, 3 cancelled' in table.out


def test_ordered_json_lines_come_as_soon_as_the_hosts_before_are_settled(
        make_napix_server, cli_env):
    fast = [make_napix_server() for _ in range(2)]
    slow = make_napix_server(delay=30)
    proc = start(['GET', '/vm/5', fast[0].host, slow.host, fast[1].host] + AUTH, cli_env)
    # The first line comes while the second host has not answered, and
    # nothing comes after it until it has.
    first = json.loads(proc.stdout.readline())
    assert first['host'] == fast[0].host and first['ok']
    _wait_until(lambda: fast[1].requests)
    assert slow.in_flight
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    rest = [json.loads(line) for line in out.splitlines()]
    assert [(line['host'], line['ok']) for line in rest] == [(slow.host, False),
                                                             (fast[1].host, True)]


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
    # Every host, in their order: the answered ones, and the cancelled ones so.
    assert [line['host'] for line in lines] == hosts
    for line in lines:
        if line['host'] in [s.host for s in fast]:
            assert line['ok'] and line['status'] == 200 and 'cancelled' not in line
        else:
            assert (line['ok'], line['status'], line['cancelled']) == (False, None, True)
            assert (line['error'], line['error_type']) == ('cancelled', 'Cancelled')
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
    (line,) = [json.loads(line) for line in out.splitlines()]
    assert (line['host'], line['status'], line['cancelled']) == (slow.host, None, True)
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


def test_demo_help_tells_what_it_starts_and_how_long_it_takes(cli_env):
    run = napix(['demo', '--help'], cli_env)
    assert run.status == 0, run
    text = ' '.join(run.out.split())
    servers = re.search(r'starts (\d+) Napix test servers on 127\.0\.0\.1', text)
    assert servers, text
    duration = re.search(r'takes about (\d+) seconds', text)
    assert duration, text
    assert 'no network' in text and 'Ctrl-C' in text
    # What the help promises is what the demo does.
    run = napix(['demo'], cli_env, timeout=60)
    assert run.status == 0, run
    assert '{0} Napix test servers now run on 127.0.0.1'.format(servers.group(1)) in run.out
    assert run.seconds < 3 * int(duration.group(1))


# The JSON lines, as documented

DOCS = os.path.join(REPO, 'docs', 'cli.rst')


def test_every_json_key_is_documented(make_napix_server, cli_env, bare_server):
    ok = make_napix_server()
    moved = make_napix_server()
    moved.route('GET', '/thing', lambda request: (201, {'Location': '/thing/9'}, ''))
    ok.route('GET', '/thing', lambda request: {'id': 9})
    refused = make_napix_server(users={'root': 'not-the-key'})
    slow = make_napix_server(delay=30)
    hosts = [ok.host, moved.host, bare_server.host, refused.host, slow.host]
    proc = start(['GET', '/thing'] + hosts + AUTH, cli_env)
    lines = [json.loads(proc.stdout.readline()) for _ in hosts[:-1]]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    lines += [json.loads(line) for line in out.splitlines()]
    assert [line['host'] for line in lines] == hosts
    assert lines[1]['location'] == '/thing/9' and lines[3]['status'] == 403
    assert lines[4]['cancelled'] is True
    keys = set().union(*lines)
    with open(DOCS, encoding='utf-8') as stream:
        docs = stream.read()
    # Each key is an entry of the list that documents the JSON lines.
    documented = set(re.findall(r'^``(\w+)``$', docs, re.M))
    assert keys <= documented, sorted(keys - documented)


def test_the_keys_of_skipped_hosts_and_of_groups_are_documented(make_napix_server, cli_env,
                                                                bare_server):
    ok = make_napix_server()
    run = napix(['GET', '/vm/1', '--batch', '1', '--max-fail', '0', bare_server.host,
                 ok.host] + AUTH, cli_env)
    lines = run.lines
    assert lines[1]['skipped'] is True, run
    groups = napix(['GET', '/vm/1', '--diff', bare_server.host, ok.host, ok.host] + AUTH,
                   cli_env).lines
    with open(DOCS, encoding='utf-8') as stream:
        docs = stream.read()
    documented = set(re.findall(r'^``(\w+)``$', docs, re.M))
    assert set().union(*lines) <= documented, sorted(set().union(*lines) - documented)
    for key in set().union(*groups):
        assert '``{0}``'.format(key) in docs, key
