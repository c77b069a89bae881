"""What the ``napix`` command line accepts: the argument parser, its help
text, and the error that bad input raises (printed on one line, exit status 2).
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from napix import __version__
from napixd.cli.credentials import PROTOCOLS
from napixd.cli.helpformat import HelpFormatter

__all__ = ['build_parser', 'UsageError', 'METHODS']

METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')

DESCRIPTION = """\
Send one request to many Napix servers at once and show what each answered.

  napix GET /capacity/capacity xen1.example.org xen2:8002
  napix --login root POST /vm/ xen1 --body '{"size": 1}'
  napix GET /version --hosts-file hosts --json | jq .status
  napix --cacert ca.pem GET / https://xen1.example.org
  napix demo

napix demo takes a tour on local test servers, with nothing to set up.
"""

EPILOG = """\
credentials, from the first place that holds any:
  1. --token, or --login and --key (a key on the command line is visible to
     other users in the process list: prefer the next places);
  2. the file given by --config FILE;
  3. the environment: NAPIX_TOKEN, or NAPIX_LOGIN and NAPIX_KEY;
  4. without --config: $XDG_CONFIG_HOME/napix/credentials
     (~/.config/napix/credentials).
  A file is in ini form:
          [napix]
          login = root
          key = toor
          # or: token = <token>
  A login and its key always come from the same place: NAPIX_LOGIN never
  takes the key of a file. A login whose place has no key: on a terminal,
  napix asks for the key (without echoing it). A 401 or 403 answer says
  where the credentials came from; a key or token is never printed, not even
  in errors.

tls (https:// hosts):
  By default a server's certificate is verified against the system's CAs,
  which OpenSSL reads from SSL_CERT_FILE (a PEM bundle) or SSL_CERT_DIR (a
  hashed directory) when they are set. --cacert verifies against FILE
  instead (a PEM bundle, or a directory prepared by openssl rehash);
  -k/--insecure verifies nothing. --cert presents a client certificate (PEM,
  its key in the same file or in --cert-key FILE; an encrypted key is
  refused).

output:
  On a terminal: a live progress bar on stderr, then a table (host, status,
  time, the answer, wrapped on as many lines as it needs; an error that
  bubbled through other Napix servers shows its chain: GET b/vm/10 ->
  "404 NOT FOUND" `10` not found).
  With --json, or when stdout is not a terminal: one JSON object per line,
  {"host", "status", "ok", "seconds", "body", "location"} or, on failure,
  {"host", "status", "ok", "seconds", "error", "error_type", "remote_call",
  "remote_error", "credentials", "cancelled"}, both with "timings" when a
  request was made; status is null when no answer came; docs/cli.rst tells
  each key. After Ctrl-C the hosts that had not
  answered are listed too, with the status cancelled.

exit status:
  0    every host answered with a status below 400 (with --first: one did)
  1    at least one host failed: status 400 or more, timeout, unreachable
       (with --first: none succeeded)
  2    bad usage: unknown method, malformed host, invalid JSON body,
       unreadable hosts file, bad number, missing credentials, unusable
       CA bundle or client certificate
  130  interrupted (Ctrl-C): pending requests were cancelled; every host
       was printed, the pending ones with the status cancelled
"""


class UsageError(Exception):
    """Bad input: printed on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a whole number >= 1, not {0!r}'.format(text))
    if value < 1:
        raise argparse.ArgumentTypeError('expected a whole number >= 1, not {0!r}'.format(text))
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a number of seconds > 0, not {0!r}'.format(
            text))
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError('expected a number of seconds > 0, not {0!r}'.format(
            text))
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napix METHOD PATH HOST...``."""

    parser = _Parser(prog='napix', description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=HelpFormatter,
                     usage='napix [auth options] METHOD PATH HOST... [options]\n'
                           '       napix demo')
    parser.add_argument('--version', action='version',
                        version='napix {0}'.format(__version__),
                        help="print napix's version and exit")
    parser.add_argument('method', metavar='METHOD',
                        help='the HTTP method: {0}'.format(', '.join(METHODS)))
    parser.add_argument('path', metavar='PATH', help='the path, with its query: /vm/10?full=1')
    parser.add_argument('hosts', metavar='HOST', nargs='*',
                        help='name, name:port, http://name[:port] or https://name[:port]')
    parser.add_argument('--hosts-file', metavar='FILE',
                        help='read more hosts from FILE (- for stdin), one a line; blank '
                             'lines and # comments are skipped')
    parser.add_argument('--body', metavar='JSON', help='the request body, as JSON')
    parser.add_argument('--simultaneous', type=_positive_int, default=2, metavar='N',
                        help='at most N requests in flight to one host (default 2, what a '
                             'Napix server allows); matters when a host is given twice')
    parser.add_argument('--timeout', type=_seconds, metavar='S',
                        help='give up on a host after S seconds (default: 5 s to connect, '
                             '30 s to answer)')
    parser.add_argument('--unordered', action='store_true',
                        help='list the answers as they come, not in the order of the hosts')
    parser.add_argument('--first', action='store_true',
                        help='stop at the first host that answers below 400, cancel the rest')
    parser.add_argument('--json', action='store_true',
                        help='one JSON object per line, even on a terminal')
    parser.add_argument('--timings', action='store_true',
                        help="add each host's timings to the table: queued, connect (with "
                             'resolve and tls), wait (the server), receive, total')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='print each request head (credentials hidden), its response '
                             'head and its timings on stderr, as curl -v does')
    auth = parser.add_argument_group('auth options')
    auth.add_argument('--login', help='the login (with --key, or the key prompt)')
    auth.add_argument('--key', help='the key of the login')
    auth.add_argument('--token', help='a pre-issued token (Authorization: Token ...)')
    auth.add_argument('--auth', choices=sorted(PROTOCOLS), default=None,
                      help='how a login and key sign requests (default secure: the standard '
                           'HMAC protocol)')
    auth.add_argument('--config', metavar='FILE',
                      help='the credentials file to read, instead of the default one (it '
                           'beats the environment)')
    auth.add_argument('--anonymous', action='store_true', help='send no credentials')
    tls = parser.add_argument_group('tls options')
    tls.add_argument('--cacert', metavar='FILE',
                     help="verify the servers' certificates against FILE (a PEM CA bundle, "
                          'or a hashed directory) instead of the system CAs')
    tls.add_argument('-k', '--insecure', action='store_true',
                     help="do not verify the servers' certificates at all")
    tls.add_argument('--cert', metavar='FILE',
                     help='present the client certificate of FILE (PEM; its key in the '
                          'same file, or in --cert-key)')
    tls.add_argument('--cert-key', metavar='FILE',
                     help="the private key of --cert's certificate (PEM, unencrypted)")
    return parser

