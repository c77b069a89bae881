"""``napix --gather`` (``-b``) and ``--diff``: one block per distinct answer,
headed by its hosts folded into ranges; driven as a person does (a
pseudo-terminal for the blocks, a pipe for the JSON), against real servers on
127.0.0.1."""

import json

import pytest
from test_cli import ALL_LOOPBACK, AUTH, napix, napix_tty, user_env

from napix.nodeset import expand, fold


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


@pytest.fixture
def fleet(make_napix_server):
    """Three servers on version 1.0, two on 1.1, one that knows no version:
    three groups of answers."""
    def version(number):
        return lambda request: {'version': number, 'name': 'napixd'}

    old = [make_napix_server() for _ in range(3)]
    new = [make_napix_server() for _ in range(2)]
    bare = make_napix_server()
    for server in old:
        server.route('GET', '/version', version('1.0'))
    for server in new:
        server.route('GET', '/version', version('1.1'))
    # In a mixed order: a group's hosts keep the order they were given in.
    return [old[0], new[0], bare, old[1], new[1], old[2]], old, new, bare


def test_gather_json_is_one_object_per_group_largest_first(fleet, cli_env):
    servers, old, new, bare = fleet
    run = napix(['GET', '/version', '-b', '--json'] + [s.host for s in servers] + AUTH,
                cli_env)
    assert run.status == 1, run
    first, second, third = run.lines
    assert first == {'hosts': [s.host for s in old], 'count': 3,
                     'nodeset': fold(s.host for s in old), 'status': 200, 'ok': True,
                     'body': {'version': '1.0', 'name': 'napixd'}}
    assert (second['hosts'], second['count'], second['status']) == ([s.host for s in new],
                                                                     2, 200)
    assert second['body'] == {'version': '1.1', 'name': 'napixd'}
    assert third == {'hosts': [bare.host], 'count': 1, 'nodeset': bare.host, 'status': 404,
                     'ok': False, 'error': '`/version` not found', 'error_type': 'HTTPError'}
    assert sorted(expand(first['nodeset'])) == sorted(first['hosts'])


def test_diff_against_the_largest_group(fleet, cli_env):
    servers, old, new, bare = fleet
    run = napix(['GET', '/version', '--diff'] + [s.host for s in servers] + AUTH, cli_env)
    first, second, third = run.lines
    assert 'diff' not in first
    assert second['diff'] == [
        '--- ' + first['nodeset'], '+++ ' + second['nodeset'], '@@ -1,4 +1,4 @@', ' {',
        '   "name": "napixd",', '-  "version": "1.0"', '+  "version": "1.1"', ' }']
    assert '+`/version` not found' in third['diff']


def test_gathered_blocks_on_a_terminal(fleet, cli_env):
    servers, old, new, bare = fleet
    run = napix_tty(['GET', '/version', '--gather', '--diff'] + [s.host for s in servers] +
                    AUTH, cli_env)
    assert run.status == 1, run
    lines = [line.rstrip() for line in run.out.splitlines()]
    heads = [n for n, line in enumerate(lines) if line.startswith(('─ ', ' 127.0.0.1'))]
    assert [lines[n].strip(' ─') for n in heads] == [
        '{0} (3 hosts)'.format(fold(s.host for s in old)),
        '{0} (2 hosts)'.format(fold(s.host for s in new)),
        '{0} (1 host)'.format(bare.host)], run.out
    first = lines[heads[0] + 1:heads[1]]
    assert first[:5] == ['200 OK', '{', '  "name": "napixd",', '  "version": "1.0"', '}']
    second = lines[heads[1] + 1:heads[2]]
    assert second[0] == '200 OK'
    assert '-  "version": "1.0"' in second and '+  "version": "1.1"' in second
    third = lines[heads[2] + 1:]
    assert third[0] == '404 Not Found' and '+`/version` not found' in third
    assert '6 hosts: 5 ok, 1 failed in' in run.out
    assert 'host ' not in run.out, 'no table with --gather'


def test_a_group_head_wider_than_the_terminal_is_never_cut(fleet, cli_env):
    servers, old, new, bare = fleet
    run = napix_tty(['GET', '/version', '--gather'] + [s.host for s in servers] + AUTH,
                    cli_env, columns=30)
    assert run.status == 1, run
    lines = run.out.splitlines()
    assert max(len(line) for line in lines) <= 30, run.out
    assert '…' not in run.out
    text = ''.join(line.strip() for line in lines).replace(' ', '')
    for group in (old, new):
        assert '{0}({1}hosts)'.format(fold(s.host for s in group), len(group)) in text, \
            run.out


@ALL_LOOPBACK
def test_hosts_that_failed_alike_are_one_group(make_napix_server, cli_env):
    server = make_napix_server()
    run = napix(['GET', '/vm/1', '-b', '127.0.0.[1-5]:{0}'.format(server.port)] + AUTH,
                cli_env)
    refused, answered = run.lines
    assert refused['nodeset'] == '127.0.0.[2-5]:{0}'.format(server.port)
    assert refused['count'] == 4 and refused['error'] == 'connection refused by <host>'
    assert answered['hosts'] == [server.host]


@ALL_LOOPBACK
def test_ten_thousand_hosts_in_one_range_gathered(make_napix_server, cli_env):
    """One range of 10,000 hosts: 127.0.0.1 answers, the 9,999 other
    addresses of 127.0.0.0/8 refuse the connection."""
    server = make_napix_server()
    pattern = '127.0.[0-39].[1-250]:{0}'.format(server.port)
    run = napix(['GET', '/vm/7', '--gather', pattern] + AUTH, cli_env, timeout=300)
    assert run.status == 1, run
    refused, answered = run.lines
    assert refused['count'] == 9999 and refused['error'] == 'connection refused by <host>'
    assert refused['nodeset'] == '127.0.0.[2-250]:{0},127.0.[1-39].[1-250]:{0}'.format(
        server.port)
    assert answered == {'hosts': [server.host], 'count': 1, 'nodeset': server.host,
                        'status': 200, 'ok': True, 'body': {'id': '7', 'by': 'root'}}
    assert len(server.requests) == 1


def test_gather_of_every_host_once_whatever_the_groups():
    """gather() puts each outcome in exactly one group, in one pass: grouping
    10,000 outcomes computes 10,000 answers, not one per pair."""
    from napixd.cli import gather as module
    from napixd.cli.outcome import Outcome

    class Answer(object):
        status, reason, headers = 200, 'OK', {}

        def __init__(self, body):
            self.body = body

    outcomes = [Outcome(n, 'xen{0}'.format(n), 0.1, response=Answer({'v': n % 3}))
                for n in range(10000)]
    calls = []
    original = module.answer_text

    def counted(outcome):
        calls.append(outcome)
        return original(outcome)
    module.answer_text = counted
    try:
        groups = module.gather(outcomes)
    finally:
        module.answer_text = original
    assert len(calls) == 10000
    assert [g.count for g in groups] == [3334, 3333, 3333]
    assert sorted(o.index for g in groups for o in g.outcomes) == list(range(10000))
    assert groups[0].nodeset.startswith('xen[0,3,6,9,12,')
    assert json.loads(json.dumps(groups[1].as_json()))['body'] == {'v': 1}
