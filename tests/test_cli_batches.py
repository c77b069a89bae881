"""``napix --failed FILE``, ``--batch N`` and ``--max-fail N|N%``: a rollout
that stops when too many hosts fail, and the hosts to try again next time.
Driven as a person does, against real servers on 127.0.0.1."""

import pytest
import signal

from test_cli import ALL_LOOPBACK, AUTH, _wait_until, napix, napix_tty, start, user_env


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


def failing(make_napix_server):
    """A server whose /vm/ID answers 503."""
    from napixd.testing import Reply

    server = make_napix_server()

    def broken(request, id):
        raise Reply(503, 'in maintenance')
    server.route('GET', '/vm/{id}', broken)
    return server


# --failed

def test_the_failed_file_feeds_the_next_run(make_napix_server, cli_env, tmp_path,
                                            refused_host):
    good = [make_napix_server() for _ in range(2)]
    bad = failing(make_napix_server)
    failed = tmp_path / 'failed.txt'
    hosts = [good[0].host, bad.host, refused_host, good[1].host]
    run = napix(['GET', '/vm/1', '--failed', str(failed)] + hosts + AUTH, cli_env)
    assert run.status == 1, run
    assert failed.read_text() == '{0}\n{1}\n'.format(bad.host, refused_host)
    # The next run asks only those, and writes the file anew.
    bad.route('GET', '/vm/{id}', lambda request, id: {'id': id, 'fixed': True})
    run = napix(['GET', '/vm/1', '--hosts-file', str(failed), '--failed', str(failed)] +
                AUTH, cli_env)
    assert run.status == 1, run
    assert [line['host'] for line in run.lines] == [bad.host, refused_host]
    assert [len(s.requests) for s in good + [bad]] == [1, 1, 2]
    assert failed.read_text() == refused_host + '\n'


def test_the_failed_file_is_empty_when_none_failed(napix_server, cli_env, tmp_path):
    failed = tmp_path / 'failed.txt'
    failed.write_text('old content\n')
    run = napix(['GET', '/vm/1', napix_server.host, '--failed', str(failed)] + AUTH, cli_env)
    assert run.status == 0, run
    assert failed.read_text() == ''


def test_an_unwritable_failed_file_is_a_usage_error(napix_server, cli_env, tmp_path):
    run = napix(['GET', '/vm/1', napix_server.host, '--failed', str(tmp_path)] + AUTH, cli_env)
    assert run.status == 2, run
    assert run.err == 'napix: error: --failed: cannot write {0}: Is a directory\n'.format(
        tmp_path)
    run = napix(['GET', '/vm/1', napix_server.host, '--failed',
                 str(tmp_path / 'missing' / 'failed.txt')] + AUTH, cli_env)
    assert run.status == 2 and 'napix: error: --failed: cannot write' in run.err, run
    assert napix_server.requests == []


def test_the_failed_file_is_written_after_ctrl_c_too(make_napix_server, cli_env, tmp_path):
    fast, slow = make_napix_server(), make_napix_server(delay=30)
    failed = tmp_path / 'failed.txt'
    proc = start(['GET', '/vm/1', slow.host, fast.host, '--failed', str(failed)] + AUTH,
                 cli_env)
    _wait_until(lambda: fast.requests and slow.in_flight)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert failed.read_text() == slow.host + '\n'


# --batch and --max-fail

def test_batches_go_one_after_the_other(make_napix_server, cli_env):
    server = make_napix_server(max_concurrent=None)
    hosts = [server.host] * 6
    run = napix(['GET', '/sleep/0.2', '--simultaneous', '6', '--batch', '2'] + hosts + AUTH,
                cli_env)
    assert run.status == 0, run
    assert len(run.lines) == 6 and server.max_in_flight == 2
    server.reset_counters()
    run = napix(['GET', '/sleep/0.2', '--simultaneous', '6'] + hosts + AUTH, cli_env)
    assert server.max_in_flight == 6


@pytest.mark.parametrize('threshold', ['1', '20%'])
def test_batches_stopped_by_a_threshold_list_the_skipped_hosts(make_napix_server, cli_env,
                                                               tmp_path, threshold):
    good = [make_napix_server() for _ in range(4)]
    bad = [failing(make_napix_server) for _ in range(2)]
    # Batches of 2: [good, bad] (1 failed: fine), [bad, good] (2 failed: too many),
    # then [good, good] is never started.
    servers = [good[0], bad[0], bad[1], good[1], good[2], good[3]]
    failed = tmp_path / 'failed.txt'
    run = napix(['GET', '/vm/1', '--batch', '2', '--max-fail', threshold, '--failed',
                 str(failed)] + [s.host for s in servers] + AUTH, cli_env)
    assert run.status == 1, run
    assert [line['host'] for line in run.lines] == [s.host for s in servers]
    assert [line['status'] for line in run.lines] == [200, 503, 503, 200, None, None]
    for line in run.lines[4:]:
        assert (line['skipped'], line['error_type']) == (True, 'Skipped')
        assert line['error'].startswith('skipped: 2 hosts failed, more than --max-fail ' +
                                        threshold)
    assert [len(s.requests) for s in servers] == [1, 1, 1, 1, 0, 0]
    # The message says how many were skipped and why, even without a terminal.
    assert 'stopped after batch 2 of 3: 2 hosts failed, more than --max-fail ' + threshold \
        in run.err
    assert '2 hosts skipped' in run.err and '6 hosts: 2 ok, 2 failed, 2 skipped' in run.err
    assert failed.read_text().split() == [s.host for s in servers[1:3] + servers[4:]]


def test_skipped_hosts_on_a_terminal(make_napix_server, cli_env):
    good, bad = make_napix_server(), failing(make_napix_server)
    later = make_napix_server()
    run = napix_tty(['GET', '/vm/1', '--batch', '1', '--max-fail', '0', good.host, bad.host,
                     later.host] + AUTH, cli_env)
    assert run.status == 1, run
    lines = run.out.splitlines()
    assert any(line.startswith(later.host) and ' skipped ' in line for line in lines), run
    assert '3 hosts: 1 ok, 1 failed, 1 skipped' in run.out
    assert 'stopped after batch 2 of 3: 1 host failed, more than --max-fail 0; 1 host ' \
        'skipped' in ' '.join(run.out.split())
    assert later.requests == []


@ALL_LOOPBACK
def test_max_fail_without_batches_cancels_what_was_not_sent(make_napix_server, cli_env):
    """Without --batch, requests are sent a window at a time (1,000, the
    pool's limit in flight): once too many failed, the rest is not sent."""
    server = make_napix_server()
    pattern = '127.0.[0-4].[1-250]:{0}'.format(server.port)  # 1,250 hosts, 1 listening
    run = napix(['GET', '/vm/1', '--max-fail', '10', pattern] + AUTH, cli_env, timeout=120)
    assert run.status == 1, run
    lines = run.lines
    assert len(lines) == 1250 and lines[0]['ok']
    cancelled = [n for n, line in enumerate(lines) if line.get('cancelled')]
    assert cancelled, 'some hosts were never sent to'
    # The unsent hosts are the last ones; every host sent to has its answer.
    assert cancelled == list(range(cancelled[0], 1250)) and cancelled[0] >= 1000
    assert all(line['error_type'] == 'ConnectError' for line in lines[1:cancelled[0]])
    assert lines[-1]['error'] == 'not sent: 11 hosts failed, more than --max-fail 10'
    assert '{0} hosts not sent (cancelled)'.format(len(cancelled)) in run.err


def test_help_tells_the_fleet_options(cli_env):
    run = napix(['--help'], dict(cli_env, COLUMNS='100'))
    text = ' '.join(run.out.split())
    for landmark in ('-b, --gather', '--diff', '--failed FILE', '--batch N', '--max-fail N',
                     "napix POST /upgrade 'xen[01-40]' --batch 5 --max-fail 10%",
                     '--failed todo.txt', 'napix GET /version --hosts-file todo.txt',
                     'status skipped', 'cancelled or skipped'):
        assert landmark in text, landmark


def test_max_fail_past_the_last_batch_says_every_host_was_sent_to(make_napix_server, cli_env):
    good, bad = make_napix_server(), failing(make_napix_server)
    run = napix(['GET', '/vm/1', '--max-fail', '0', good.host, bad.host] + AUTH, cli_env)
    assert run.status == 1, run
    assert [line['status'] for line in run.lines] == [200, 503]
    assert '1 host failed, more than --max-fail 0: every host was sent to already' in run.err


# The plan itself

@pytest.mark.parametrize('text, total, limit', [
    ('0', 10, 0), ('3', 10, 3), ('10%', 20, 2), ('10%', 19, 1), ('0%', 5, 0),
    ('100%', 7, 7), ('12.5%', 8, 1), (' 2 ', 4, 2),
])
def test_max_fail_limits(text, total, limit):
    from napixd.cli.batches import MaxFail
    max_fail = MaxFail(text)
    assert max_fail.limit(total) == limit
    assert not max_fail.exceeded(limit, total) and max_fail.exceeded(limit + 1, total)


@pytest.mark.parametrize('text', ['-1', '101%', '1.5', 'ten', '', '%', '5%%'])
def test_max_fail_refuses(text):
    from napixd.cli.batches import MaxFail
    with pytest.raises(ValueError, match='expected'):
        MaxFail(text)


def test_plan_rooms():
    from napixd.cli.batches import MaxFail, Plan
    assert Plan().room(0, 5000) == 5000  # everything at once
    batches = Plan(batch=3)
    assert [batches.room(0, 7), batches.room(1, 4), batches.room(0, 1)] == [3, 0, 1]
    assert batches.batches(7) == 3 and Plan().batches(7) == 1
    window = Plan(max_fail=MaxFail('1'), window=10)
    assert [window.room(0, 50), window.room(9, 40), window.room(10, 40)] == [10, 1, 0]
    with pytest.raises(ValueError, match='batch must be at least 1'):
        Plan(batch=0)
