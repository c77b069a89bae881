"""The hosts of one ``napix`` run: from the arguments and the hosts files,
ranges expanded, ``--exclude`` removed, the default port given to the hosts
written without one, each checked before anything is sent.

The ranges are :mod:`napix.nodeset`'s. Hosts keep the order they are given
in; a range gives each of its hosts once, but a host given twice (two
arguments, two files) is asked twice, as ``--simultaneous`` expects.
"""

from __future__ import annotations

import re
import sys
from typing import List, Optional, Sequence, Set, Tuple

from napix.hosts import parse_host
from napix.nodeset import MAX_HOSTS, NodeSetError, count, expand

__all__ = ['HostsError', 'port_number', 'with_port', 'read_hosts_file', 'gather_hosts']

# A host written with its port: name:8002, [::1]:8002, https://name:8002/
_HAS_PORT = re.compile(r':[0-9]+/?\Z')


class HostsError(ValueError):
    """The hosts cannot be used as given; the message is one line, safe to print."""


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535, from *text*; :exc:`ValueError` otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value < 65536:
        raise ValueError('expected a port from 1 to 65535, not {0!r}'.format(text))
    return value


def with_port(host: str, port: Optional[int]) -> str:
    """*host* with *port* when it was written without one (``xen1`` ->
    ``xen1:8002``, ``https://[::1]`` -> ``https://[::1]:8002``)."""
    if port is None or _HAS_PORT.search(host):
        return host
    return host.rstrip('/') + ':{0}'.format(port)


def read_hosts_file(name: str) -> List[Tuple[str, str]]:
    """The lines of the hosts file *name* (``-``: stdin) that hold a host,
    each with where it is (``hosts.txt line 3``); blank lines and ``#``
    comments skipped."""
    try:
        if name == '-':
            text = sys.stdin.read()
        else:
            with open(name, encoding='utf-8') as stream:
                text = stream.read()
    except OSError as error:
        raise HostsError('cannot read hosts file {0}: {1}'.format(
            name, error.strerror or type(error).__name__))
    except UnicodeDecodeError:
        raise HostsError('cannot read hosts file {0}: not UTF-8 text'.format(name))
    lines: List[Tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if line:
            lines.append((line, '{0} line {1}'.format('stdin' if name == '-' else name,
                                                      number)))
    return lines


def _expand(patterns: Sequence[Tuple[str, str]], limit: int) -> List[str]:
    """The hosts of each ``(pattern, where)`` in turn, counted before they
    are expanded: more than *limit* in all are refused."""
    total = 0
    for pattern, where in patterns:
        try:
            total += count(pattern)
        except NodeSetError as error:
            raise HostsError(str(error) + (' ({0})'.format(where) if where else ''))
    if total > limit:
        raise HostsError('the ranges give {0:,} hosts, more than {1:,}: nothing was '
                         'sent'.format(total, limit))
    hosts: List[str] = []
    for pattern, _ in patterns:
        hosts.extend(expand(pattern, limit=limit))
    return hosts


def _identity(host: str) -> Tuple[str, str, int]:
    scheme, name, port, _ = parse_host(host)
    return scheme, name, port


def gather_hosts(arguments: Sequence[str], files: Sequence[str], exclude: Sequence[str],
                 port: Optional[int] = None, limit: int = MAX_HOSTS) -> List[str]:
    """The hosts to send to: those of *arguments*, then of each of *files*,
    ranges expanded, without those of *exclude* (the same scheme, name and
    port), *port* given to those written without one, each checked.

    :raises HostsError: a malformed host or range, an unreadable file, more
        than *limit* hosts, or no host at all (left).
    """
    patterns = [(argument, '') for argument in arguments]
    for name in files:
        patterns.extend(read_hosts_file(name))
    if not patterns:
        raise HostsError('no host: give HOST arguments or --hosts-file')
    hosts = [with_port(host, port) for host in _expand(patterns, limit)]
    identities = []
    for host in hosts:
        try:
            identities.append(_identity(host))
        except ValueError as error:
            raise HostsError(str(error))
    if exclude:
        excluded: Set[Tuple[str, str, int]] = set()
        for host in _expand([(pattern, '--exclude') for pattern in exclude], limit):
            try:
                excluded.add(_identity(with_port(host, port)))
            except ValueError as error:
                raise HostsError('--exclude: {0}'.format(error))
        hosts = [host for host, identity in zip(hosts, identities, strict=True)
                 if identity not in excluded]
        if not hosts:
            raise HostsError('no host left after --exclude')
    return hosts
