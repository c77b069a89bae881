"""Napix hosts: how a host is written, and where a connection to it goes.

>>> from napix.hosts import parse_address, parse_host
>>> parse_host('https://server.napix.nx:8002')
('https', 'server.napix.nx', 8002, 'server.napix.nx:8002')
>>> parse_host('[::1]:8002')
('http', '[::1]', 8002, '[::1]:8002')
>>> parse_address('::1', 8002), parse_address('[::1]:9000', 8002)
(('::1', 8002), ('::1', 9000))
"""

from __future__ import annotations

import re
from typing import Dict, Mapping, Optional, Tuple

__all__ = ['parse_host', 'parse_address', 'resolve', 'resolve_overrides', 'HOST_FORMS']

#: Process-wide host overrides, in the spirit of curl's ``--resolve``:
#: ``{'server.napix.nx': '127.0.0.1:8123'}`` makes every connection to
#: ``server.napix.nx`` (any port) connect to 127.0.0.1:8123 while still sending
#: ``Host: server.napix.nx`` and signing that host. A key ``'name:port'`` only
#: applies to that port. A connection's own ``resolve=`` mapping is looked up first.
resolve_overrides: Dict[str, str] = {}

HOST_FORMS = "'name', 'name:port', 'http://name[:port]' or 'https://name[:port]'"

_HOST_RE = re.compile(
    r'^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?'
    r'(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])'
    r'(?::(?P<port>[0-9]{1,5}))?/?\Z')
_DEFAULT_PORTS = {'http': 80, 'https': 443}


def parse_host(host: str) -> Tuple[str, str, int, str]:
    """Split a Napix host into ``(scheme, name, port, authority)``.

    *host* is ``name``, ``name:port``, ``http://name[:port]`` or
    ``https://name[:port]`` (an IPv6 address in brackets: ``[::1]:8002``);
    *name* is lower-cased; *authority* is the ``Host`` header to send
    (``name``, or ``name:port`` when the port is not the scheme's default).
    Anything else raises :exc:`ValueError`.
    """
    if not isinstance(host, str):
        raise TypeError('host must be a str ({0}), not {1}'.format(
            HOST_FORMS, type(host).__name__))
    match = _HOST_RE.match(host)
    if match is None:
        raise ValueError('invalid host {0!r}: expected {1}'.format(host, HOST_FORMS))
    scheme = (match.group('scheme') or 'http').lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError('invalid host {0!r}: scheme must be http or https'.format(host))
    name = match.group('name').lower()
    port_text = match.group('port')
    if port_text is None:
        return scheme, name, _DEFAULT_PORTS[scheme], name
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError('invalid host {0!r}: port must be 1 to 65535'.format(host))
    authority = name if port == _DEFAULT_PORTS[scheme] else '{0}:{1}'.format(name, port)
    return scheme, name, port, authority


def parse_address(target: str, default_port: int) -> Tuple[str, int]:
    """Split a ``resolve`` target into ``(address, port)``.

    *target* is ``address``, ``address:port``, a bare IPv6 address
    (``::1``) or one in brackets, with or without a port (``[::1]:8002``).
    """
    if target.startswith('['):
        address, _, rest = target[1:].partition(']')
        port = rest[1:] if rest.startswith(':') else ''
    elif target.count(':') == 1:
        address, _, port = target.partition(':')
    else:  # a name, an IPv4 address, or a bare IPv6 address
        address, port = target, ''
    if not address or (port and not port.isdigit()):
        raise ValueError('invalid resolve target {0!r}: expected address, address:port '
                         'or [ipv6]:port'.format(target))
    return address, int(port) if port else default_port


def resolve(name: str, port: int,
            table: Optional[Mapping[str, str]] = None) -> Tuple[str, int]:
    """Where to connect for *name* and *port*: ``(address, port)``.

    *table* (a connection's ``resolve=``) is looked up first, then
    :data:`resolve_overrides`, each by ``'name:port'`` then ``'name'``;
    without an override, the name itself (brackets of an IPv6 literal removed).
    """
    for overrides in (table, resolve_overrides):
        if overrides:
            target = overrides.get('{0}:{1}'.format(name, port)) or overrides.get(name)
            if target:
                return parse_address(target, port)
    return name.strip('[]'), port
