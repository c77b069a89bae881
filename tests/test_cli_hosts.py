"""Where the ``napix`` command takes its hosts: ranges in the arguments and
the hosts files, ``-x/--exclude``, repeated ``--hosts-file``, the default port;
and the bad input it refuses before anything is sent. Driven as a person
does, against real servers on 127.0.0.1."""

import pytest
from test_cli import ALL_LOOPBACK, AUTH, napix, user_env


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


def hosts_of(run):
    return [line['host'] for line in run.lines]


@ALL_LOOPBACK
def test_ranges_in_names_and_ports_with_exclusion(make_napix_server, cli_env):
    servers = [make_napix_server() for _ in range(3)]
    first, second, third = (s.port for s in servers)
    run = napix(['GET', '/vm/2',
                 # a range in the name: 127.0.0.2 and .3 listen to nothing
                 '127.0.0.[1-3]:{0}'.format(first),
                 # a list in the port
                 '127.0.0.1:[{0},{1}]'.format(second, third),
                 '-x', '127.0.0.[2-3]:{0}'.format(first),
                 '--exclude', '127.0.0.1:{0}'.format(third)] + AUTH, cli_env)
    assert run.status == 0, run
    assert hosts_of(run) == ['127.0.0.1:{0}'.format(first), '127.0.0.1:{0}'.format(second)]
    assert [len(s.requests) for s in servers] == [1, 1, 0]


@ALL_LOOPBACK
def test_a_range_expands_in_order_each_host_once(make_napix_server, cli_env):
    server = make_napix_server()
    run = napix(['GET', '/vm/2', '127.0.0.[3,1-2,3]:{0}'.format(server.port)] + AUTH, cli_env)
    assert run.status == 1, run
    assert hosts_of(run) == ['127.0.0.{0}:{1}'.format(n, server.port) for n in (3, 1, 2)]
    assert [line['ok'] for line in run.lines] == [False, True, False]


@ALL_LOOPBACK
def test_ranges_in_a_hosts_file(make_napix_server, cli_env, tmp_path):
    server = make_napix_server()
    hosts = tmp_path / 'hosts'
    hosts.write_text('# the rack\n127.0.0.[1-2]:{0}  # two of them\n'.format(server.port))
    run = napix(['GET', '/vm/2', '--hosts-file', str(hosts)] + AUTH, cli_env)
    assert hosts_of(run) == ['127.0.0.1:{0}'.format(server.port),
                             '127.0.0.2:{0}'.format(server.port)]


def test_hosts_file_may_be_repeated(make_napix_server, cli_env, tmp_path):
    servers = [make_napix_server() for _ in range(3)]
    one, two = tmp_path / 'one', tmp_path / 'two'
    one.write_text(servers[0].host + '\n')
    two.write_text('{0}\n{1}\n'.format(servers[1].host, servers[2].host))
    run = napix(['GET', '/vm/2', '--hosts-file', str(one), '--hosts-file', str(two)] + AUTH,
                cli_env)
    assert run.status == 0, run
    assert hosts_of(run) == [s.host for s in servers]
    assert all(len(s.requests) == 1 for s in servers)


def test_an_ipv6_address_is_not_taken_for_a_range(make_napix_server, cli_env):
    server = make_napix_server()
    # Nothing is sent to ::1: the IPv6 hosts are parsed, expanded and excluded.
    run = napix(['GET', '/vm/2', server.host, '[::1]:8002', 'http://[::1]:[8003-8004]',
                 '-x', '[::1]:8002', '-x', 'http://[::1]:[8003-8004]'] + AUTH, cli_env)
    assert run.status == 0, run
    assert hosts_of(run) == [server.host]


def test_a_default_port_for_the_hosts_given_without_one(make_napix_server, cli_env,
                                                        tmp_path):
    server, other = make_napix_server(), make_napix_server()
    config = tmp_path / 'napix.ini'
    config.write_text('[napix]\nlogin = root\nkey = toor\nport = {0}\n'.format(other.port))
    # --port beats the file, which beats the environment; a host's own port beats all.
    env = dict(cli_env, NAPIX_PORT=str(other.port))
    run = napix(['GET', '/vm/2', '127.0.0.[1-2]', other.host, '--port', str(server.port),
                 '-x', '127.0.0.2', '--config', str(config)], env)
    assert run.status == 0, run
    assert hosts_of(run) == [server.host, other.host]
    assert (len(server.requests), len(other.requests)) == (1, 1)
    run = napix(['GET', '/vm/2', '127.0.0.1'] + AUTH, env)
    assert hosts_of(run) == [other.host] and run.status == 0, run
    config.write_text('[napix]\nport = {0}\n'.format(server.port))
    run = napix(['GET', '/vm/2', '127.0.0.1', '--config', str(config)] + AUTH, env)
    assert hosts_of(run) == [server.host] and run.status == 0, run


def test_help_tells_the_ranges_and_the_default_port(cli_env):
    run = napix(['--help'], dict(cli_env, COLUMNS='100'))
    text = ' '.join(run.out.split())
    for landmark in ("'xen[01-40,45].enix.org:8002' --gather", 'xen[01-10,12]',
                     'rack[1-2]-node[1-3]', '-x HOSTS, --exclude HOSTS', '[::1]:8002',
                     'NAPIX_PORT', 'else 80', '8002', '1,000,000 hosts'):
        assert landmark in text, landmark


# Bad input: one line, exit 2, nothing sent

@pytest.mark.parametrize('args, message', [
    (['xen[1-3'], "bad host range 'xen[1-3' at character 4: '[' without its ']'"),
    (['xen1-3]'], "bad host range 'xen1-3]' at character 7: ']' without its '['"),
    (['xen[5-1]'], "bad host range 'xen[5-1]' at character 5: reversed range"),
    (['xen[a-c]'], "bad host range 'xen[a-c]' at character 5: expected a number"),
    (['127.0.0.1:[1-x]'], "at character 12: expected a number"),
    (['127.0.0.1:1', '-x', 'xen[2-'], "bad host range 'xen[2-' at character 4"),
    (['n[1-1000][1-1001]'], 'the ranges give 1,001,001 hosts, more than 1,000,000'),
    (['n[0-999999]', 'm[1-2]'], 'the ranges give 1,000,003 hosts, more than 1,000,000'),
    (['n[1-99999999999999999999]'], 'give 100,000,000,000,000,000,000 hosts, more than'),
    (['127.0.0.1:1', '--max-fail', '101%'], 'argument --max-fail: expected a percentage'),
    (['127.0.0.1:1', '--max-fail', '-1'], 'argument --max-fail: expected a number'),
    (['127.0.0.1:1', '--max-fail', 'many'], 'argument --max-fail: expected a number'),
    (['127.0.0.1:1', '--batch', '0'], 'argument --batch: expected a whole number >= 1'),
    (['127.0.0.1:1', '--port', '0'], 'argument --port: expected a port from 1 to 65535'),
    (['127.0.0.1', '--port', '65536'], 'argument --port: expected a port from 1 to 65535'),
], ids=repr)
def test_bad_hosts_and_fleet_options_are_one_line_and_exit_2(napix_server, cli_env, args,
                                                             message):
    run = napix(['GET', '/vm/1'] + args + ['--hosts-file', '-'] + AUTH, cli_env,
                input=napix_server.host)
    assert run.status == 2, run
    assert run.out == '' and run.err.count('\n') == 1, run
    assert run.err.startswith('napix: error: ') and message in run.err, run
    assert napix_server.requests == []


def test_an_empty_set_after_exclusion_is_a_usage_error(napix_server, cli_env):
    port = napix_server.port
    run = napix(['GET', '/vm/1', '127.0.0.[1-2]:{0}'.format(port), '-x',
                 '127.0.0.[1-3]:{0}'.format(port)] + AUTH, cli_env)
    assert run.status == 2, run
    assert run.err == 'napix: error: no host left after --exclude\n'
    assert napix_server.requests == []


def test_a_bad_range_in_a_hosts_file_names_the_file_and_line(napix_server, cli_env,
                                                             tmp_path):
    hosts = tmp_path / 'hosts'
    hosts.write_text('{0}\n\nxen[3-1]\n'.format(napix_server.host))
    run = napix(['GET', '/vm/1', '--hosts-file', str(hosts)] + AUTH, cli_env)
    assert run.status == 2, run
    assert run.err == ("napix: error: bad host range 'xen[3-1]' at character 5: reversed "
                       "range (expected LOW-HIGH): '3-1' ({0} line 3)\n".format(hosts))
    assert napix_server.requests == []


@pytest.mark.parametrize('variable, value, message', [
    ('NAPIX_PORT', '0', 'NAPIX_PORT in the environment: expected a port from 1 to 65535'),
    ('NAPIX_PORT', 'http', "NAPIX_PORT in the environment: expected a port from 1 to 65535, "
                           "not 'http'"),
])
def test_a_bad_default_port_is_a_usage_error(napix_server, cli_env, variable, value, message):
    run = napix(['GET', '/vm/1', '127.0.0.1'] + AUTH, dict(cli_env, **{variable: value}))
    assert run.status == 2, run
    assert run.err == 'napix: error: {0}\n'.format(message) or message in run.err, run
