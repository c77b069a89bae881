"""napix.hosts: how a host is written, and where a connection to it goes."""

import pytest

from napix import hosts
from napix.hosts import parse_address, parse_host, resolve


@pytest.mark.parametrize('host, parsed', [
    ('server.napix.nx', ('http', 'server.napix.nx', 80, 'server.napix.nx')),
    ('Server.Napix.NX:8002', ('http', 'server.napix.nx', 8002, 'server.napix.nx:8002')),
    ('https://server.napix.nx', ('https', 'server.napix.nx', 443, 'server.napix.nx')),
    ('https://h:443', ('https', 'h', 443, 'h')),
    ('http://h:443/', ('http', 'h', 443, 'h:443')),
    ('[::1]:8002', ('http', '[::1]', 8002, '[::1]:8002')),
    ('127.0.0.1', ('http', '127.0.0.1', 80, '127.0.0.1')),
])
def test_parse_host(host, parsed):
    assert parse_host(host) == parsed


@pytest.mark.parametrize('host, text', [
    ('ftp://h', 'scheme must be http or https'),
    ('h:0', 'port must be 1 to 65535'),
    ('h:70000', 'port must be 1 to 65535'),
    ('h/path', "expected 'name'"),
    ('', "expected 'name'"),
    ('a b', "expected 'name'"),
])
def test_bad_hosts_are_value_errors_saying_what_a_host_is(host, text):
    with pytest.raises(ValueError, match=text):
        parse_host(host)


def test_a_host_that_is_not_a_str_is_a_type_error():
    for host in (8002, b'h', None, ['h']):
        with pytest.raises(TypeError, match='host must be a str'):
            parse_host(host)


@pytest.mark.parametrize('target, address', [
    ('10.0.0.1', ('10.0.0.1', 80)),
    ('10.0.0.1:9', ('10.0.0.1', 9)),
    ('::1', ('::1', 80)),
    ('[::1]', ('::1', 80)),
    ('[::1]:9', ('::1', 9)),
    ('name:9', ('name', 9)),
])
def test_parse_address(target, address):
    assert parse_address(target, 80) == address


@pytest.mark.parametrize('target', ['', ':9', '10.0.0.1:x', '[::1]:x'])
def test_bad_resolve_targets(target):
    with pytest.raises(ValueError, match='invalid resolve target'):
        parse_address(target, 80)


def test_resolve_looks_in_the_table_then_the_overrides_by_port_then_name(monkeypatch):
    monkeypatch.setattr(hosts, 'resolve_overrides', {'h': '127.0.0.2', 'h:81': '127.0.0.3:9'})
    assert resolve('h', 80) == ('127.0.0.2', 80)
    assert resolve('h', 81) == ('127.0.0.3', 9)
    assert resolve('h', 81, {'h': '127.0.0.4'}) == ('127.0.0.4', 81)
    assert resolve('other', 80, {'h': '127.0.0.4'}) == ('other', 80)
    assert resolve('[::1]', 80) == ('::1', 80)
