"""``python -m napixd.testing``: local Napix test servers, from a shell.

It starts *count* :class:`~napixd.testing.NapixServer` instances on
127.0.0.1 (ports the system picks), prints where they listen and the
credentials they accept, and serves until Ctrl-C (or SIGTERM), which stops
them and exits 0. With ``--tls`` they serve HTTPS with certificates a
throwaway CA issued (*trustme*, written to a temporary directory removed at
the end); with ``--client-cert`` they also require a client certificate of
that CA, written there too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import gevent
from gevent.event import Event

from napixd.cli.helpformat import HelpFormatter

__all__ = ['main', 'USERS']

#: The credentials the servers accept (every protocol a Napix server knows).
USERS = {'root': 'toor'}

DESCRIPTION = """\
Start local Napix test servers on 127.0.0.1 and serve until Ctrl-C.

  python -m napixd.testing 3
  python -m napixd.testing --tls --client-cert

Each server checks the signature of every request as napixd does and
accepts the login root with the key toor. It answers GET / (its routes) and
GET /vm/ID ({"id": ID, "by": LOGIN}); --delay makes every answer wait.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m napixd.testing', description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    parser.add_argument('count', nargs='?', type=int, default=1, metavar='COUNT',
                        help='how many servers (default 1)')
    parser.add_argument('--tls', action='store_true',
                        help='serve HTTPS, with certificates a throwaway CA issued (needs '
                             'trustme: pip install trustme)')
    parser.add_argument('--client-cert', action='store_true',
                        help='with --tls: require a client certificate of that CA')
    parser.add_argument('--delay', type=float, default=0, metavar='S',
                        help='every answer waits S seconds (default 0)')
    return parser


def _pki(directory: str, client: bool) -> Dict[str, str]:
    """A throwaway CA's files in *directory*: ca.pem, server.pem (for
    127.0.0.1 and localhost), and client.pem when *client*."""
    import trustme

    ca = trustme.CA()
    files = {'ca': os.path.join(directory, 'ca.pem'),
             'server': os.path.join(directory, 'server.pem')}
    ca.cert_pem.write_to_path(files['ca'])
    ca.issue_cert('127.0.0.1', 'localhost').private_key_and_cert_chain_pem.write_to_path(
        files['server'])
    if client:
        files['client'] = os.path.join(directory, 'client.pem')
        ca.issue_cert('client@napix.test').private_key_and_cert_chain_pem.write_to_path(
            files['client'])
    return files


def _start(server_class: Any, count: int, delay: float,
           files: Optional[Dict[str, str]]) -> List[Any]:
    tls: Dict[str, Any] = {}
    if files is not None:
        tls = {'certfile': files['server'], 'client_ca': files.get('client') and files['ca']}
    servers = []
    for _ in range(count):
        server = server_class(users=USERS, delay=delay, **tls)
        server.route('GET', '/', _index)
        server.route('GET', '/vm/{id}', _vm)
        servers.append(server.start())
    return servers


def _index(request: Any) -> Any:
    return ['/vm']


def _vm(request: Any, id: str) -> Any:
    return {'id': id, 'by': request.login}


def _describe(servers: List[Any], files: Optional[Dict[str, str]]) -> str:
    hosts = [server.host for server in servers]
    lines = ['{0} Napix test server{1} on 127.0.0.1, until Ctrl-C:'.format(
        len(servers), 's' if len(servers) != 1 else '')]
    lines += ['  ' + host for host in hosts]
    lines.append('credentials: login root, key toor (NAPIX_LOGIN=root NAPIX_KEY=toor)')
    options = ''
    if files is not None:
        lines.append('CA bundle: {0}'.format(files['ca']))
        options = '--cacert {0} '.format(files['ca'])
        if 'client' in files:
            lines.append('client certificate (required): {0}'.format(files['client']))
            options += '--cert {0} '.format(files['client'])
    lines.append('try: napix --login root --key toor {0}GET /vm/1 {1}'.format(
        options, ' '.join(hosts)))
    return '\n'.join(lines)


def main(server_class: Any, argv: Optional[Sequence[str]] = None) -> int:
    """Serve :class:`~napixd.testing.NapixServer` instances (*server_class*,
    handed by :mod:`napixd.testing`, which this module does not import) until
    interrupted; return the exit status (0, or 2 for bad usage)."""
    args = _parser().parse_args(argv)
    if args.count < 1:
        sys.stderr.write('python -m napixd.testing: error: COUNT must be 1 or more\n')
        return 2
    if args.client_cert and not args.tls:
        sys.stderr.write('python -m napixd.testing: error: --client-cert needs --tls\n')
        return 2
    directory = None
    files = None
    try:
        if args.tls:
            try:
                import trustme  # noqa: F401
            except ImportError:
                sys.stderr.write('python -m napixd.testing: error: --tls needs trustme '
                                 '(pip install trustme)\n')
                return 2
            directory = tempfile.mkdtemp(prefix='napix-testing-')
            files = _pki(directory, args.client_cert)
        return _serve(server_class, args.count, args.delay, files)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _serve(server_class: Any, count: int, delay: float,
           files: Optional[Dict[str, str]]) -> int:
    stop = Event()
    watchers = [gevent.signal_handler(number, stop.set)
                for number in (signal.SIGINT, signal.SIGTERM)]
    servers = _start(server_class, count, delay, files)
    try:
        print(_describe(servers, files), flush=True)
        stop.wait()
    finally:
        gevent.joinall([gevent.spawn(server.stop, 0.5) for server in servers])
        for watcher in watchers:
            watcher.cancel()
    print('stopped.', flush=True)
    return 0
