"""napix.nodeset: host ranges expanded and folded."""

import random

import pytest

from napix.hosts import parse_host
from napix.nodeset import MAX_HOSTS, NodeSetError, count, expand, fold


@pytest.mark.parametrize('pattern, hosts', [
    ('xen1', ['xen1']),
    ('xen[1-3]', ['xen1', 'xen2', 'xen3']),
    ('xen[01-03,05].example.org', ['xen01.example.org', 'xen02.example.org',
                                   'xen03.example.org', 'xen05.example.org']),
    ('xen[08-10]', ['xen08', 'xen09', 'xen10']),
    ('xen[8-10]', ['xen8', 'xen9', 'xen10']),
    ('n[098-100]', ['n098', 'n099', 'n100']),
    ('n[1-09]', ['n0{0}'.format(n) for n in range(1, 10)]),
    ('rack[1-2]-node[1-3]', ['rack1-node1', 'rack1-node2', 'rack1-node3',
                             'rack2-node1', 'rack2-node2', 'rack2-node3']),
    ('xen1:[8002-8004]', ['xen1:8002', 'xen1:8003', 'xen1:8004']),
    ('https://xen[1-2]:80[01-02]', ['https://xen1:8001', 'https://xen1:8002',
                                    'https://xen2:8001', 'https://xen2:8002']),
    ('xen[1-2],db1', ['xen1', 'xen2', 'db1']),
    ('xen[3,1-3]', ['xen3', 'xen1', 'xen2']),
    ('xen[1-2],xen[2-3],xen1', ['xen1', 'xen2', 'xen3']),
    ('127.0.0.[1-3]:8002', ['127.0.0.1:8002', '127.0.0.2:8002', '127.0.0.3:8002']),
], ids=repr)
def test_expand(pattern, hosts):
    assert expand(pattern) == hosts


@pytest.mark.parametrize('pattern, hosts', [
    ('[::1]:8002', ['[::1]:8002']),
    ('[::1]', ['[::1]']),
    ('http://[::1]:8002', ['http://[::1]:8002']),
    ('https://[fe80::1]:[8002-8003]', ['https://[fe80::1]:8002', 'https://[fe80::1]:8003']),
    ('[::ffff:127.0.0.1]:80,[::1]:80', ['[::ffff:127.0.0.1]:80', '[::1]:80']),
], ids=repr)
def test_brackets_with_a_colon_are_an_ipv6_address_not_a_range(pattern, hosts):
    assert expand(pattern) == hosts
    for host in hosts:
        parse_host(host)  # still a host the library takes
    assert sorted(expand(fold(hosts))) == sorted(hosts)


@pytest.mark.parametrize('pattern, position, part, reason', [
    ('xen[5-1]', 4, '5-1', 'reversed range'),
    ('xen[1-3', 3, '[1-3', "'[' without its ']'"),
    ('xen1-3]', 6, ']', "']' without its '['"),
    ('xen[1-[3]]', 6, '[', "'[' inside brackets"),
    ('xen[a-c]', 4, 'a-c', 'expected a number or LOW-HIGH'),
    ('xen[1-3x]', 4, '1-3x', 'expected a number or LOW-HIGH'),
    ('xen[1,2,b]', 8, 'b', 'expected a number or LOW-HIGH'),
    ('xen[]', 4, '', 'empty range'),
    ('xen[1,,2]', 6, '', 'empty range'),
    ('xen[-2]', 4, '-2', 'expected a number'),
    ('xen1,,xen2', 5, ',', 'a comma with no host'),
    (',xen1', 0, ',', 'a comma with no host'),
    ('xen1,', 4, ',', 'a comma with no host'),
    ('', 0, '', 'no host'),
], ids=repr)
def test_a_malformed_pattern_names_the_bad_part_and_where_it_is(pattern, position, part,
                                                                  reason):
    with pytest.raises(NodeSetError) as caught:
        expand(pattern)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.pattern, error.position, error.part) == (pattern, position, part)
    assert reason in error.reason
    message = str(error)
    assert repr(pattern) in message and repr(part) in message
    assert 'at character {0}'.format(position + 1) in message and '\n' not in message


def test_a_pattern_past_the_limit_is_refused_before_it_is_expanded():
    with pytest.raises(NodeSetError) as caught:
        expand('n[1-1000000000000]')  # expanding it would never end
    assert 'more than 1,000,000 hosts' in str(caught.value)
    assert MAX_HOSTS == 1_000_000
    with pytest.raises(NodeSetError, match='more than 1,000,000 hosts'):
        expand('rack[1-1001]-node[1-1000]')
    with pytest.raises(NodeSetError) as caught:
        expand('a[1-6],b[1-5]', limit=10)
    assert caught.value.part == 'b[1-5]' and caught.value.position == 7
    assert len(expand('a[1-5],b[1-5]', limit=10)) == 10


def test_count_tells_how_many_hosts_without_expanding():
    assert count('xen[01-03,05],db1') == 5
    assert count('n[1-2],n[1-2]') == 4  # duplicates included
    assert count('n[1-1000000000000]-[1-10]') == 10 ** 13
    with pytest.raises(NodeSetError, match='reversed range'):
        count('n[2-1]')


def test_expand_refuses_what_is_not_a_str():
    with pytest.raises(TypeError, match='pattern must be a str'):
        expand(['xen1'])


@pytest.mark.parametrize('pattern', [
    'xen1',
    'xen[1-3]',
    'xen[01-03,05].example.org',
    'xen[08-10]',
    'xen[8-10]',
    'n[098-100]',
    'n[0-2]',
    'rack[1-2]-node[1-3]',
    'xen1:[8002-8004]',
    '127.0.[0-39].[1-250]:8002',
    'db[1-2],xen[01-03,05]',
    'https://xen[1-2]:8002',
    '[::1]:[8002-8003]',
    'n[1,3,5,7-9]',
], ids=repr)
def test_fold_of_expand_gives_the_pattern_back(pattern):
    assert fold(expand(pattern)) == pattern


def test_fold_is_exact_whatever_the_hosts():
    chooser = random.Random(29)
    for _ in range(300):
        hosts = ['{0}{1}-n{2}:{3}'.format(
            chooser.choice(['xen', 'db', 'rack']),
            str(chooser.randint(0, 12)).zfill(chooser.choice([1, 2])),
            chooser.randint(0, 5), chooser.choice([8002, 8003, 80]))
            for _ in range(chooser.randint(1, 40))]
        folded = fold(hosts)
        assert sorted(expand(folded)) == sorted(set(hosts)), (hosts, folded)
        assert len(expand(folded)) == len(set(hosts)), 'a host folded twice: ' + folded


def test_fold_keeps_zero_padding_apart():
    assert fold(['n09', 'n10', 'n9']) == 'n[9,09-10]'
    assert sorted(expand('n[9,09-10]')) == ['n09', 'n10', 'n9']
    assert fold(['n1', 'n01']) == 'n[1,01]'
    assert fold(['x007', 'x008', 'x009', 'x010']) == 'x[007-010]'


def test_fold_ignores_order_and_duplicates():
    assert fold(['xen3', 'xen1', 'xen2', 'xen1']) == 'xen[1-3]'
    assert fold(['xen1', 'db2', 'db1']) == 'db[1-2],xen1'
    assert fold(['xen2', 'xen10', 'xen1']) == 'xen[1-2,10]'


def test_fold_of_many_hosts_is_one_range():
    hosts = expand('127.0.[0-39].[1-250]:8002')
    assert len(hosts) == 10000
    random.Random(1).shuffle(hosts)
    assert fold(hosts) == '127.0.[0-39].[1-250]:8002'


@pytest.mark.parametrize('host', ['xen[1]x', 'a,b', 'x]', ''])
def test_fold_refuses_a_host_it_could_not_write_back(host):
    with pytest.raises(NodeSetError):
        fold(['xen1', host])


def test_fold_refuses_what_is_not_a_str():
    with pytest.raises(TypeError, match='hosts must be str'):
        fold(['xen1', 2])
