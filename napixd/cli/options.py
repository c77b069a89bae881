"""What the ``napix`` command line accepts: the argument parser, its help
text, and the error that bad input raises (printed on one line, exit status 2).
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn, Tuple, Union

from napix import __version__
from napixd.cli.batches import MaxFail
from napixd.cli.credentials import PROTOCOLS
from napixd.cli.hostlist import port_number
from napixd.cli.helpformat import HelpFormatter

__all__ = ['build_parser', 'UsageError', 'METHODS']

METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')

DESCRIPTION = """\
Send one request to many Napix servers at once and show what each answered.

  napix GET /capacity/capacity xen1.example.org xen2:8002
  napix --login root POST /vm/ xen1 --body '{"size": 1}'
  napix GET /version 'xen[01-40,45].enix.org:8002' --gather
  napix POST /upgrade 'xen[01-40]' --batch 5 --max-fail 10%
  napix GET /version 'xen[01-40]' -x xen07 --failed todo.txt
  napix GET /version --hosts-file todo.txt
  napix GET /version --hosts-file hosts --json | jq .status
  napix --cacert ca.pem GET / https://xen1.example.org
  napix demo

napix demo takes a tour on local test servers, with nothing to set up.
"""

EPILOG = """\
hosts:
  A HOST, a line of --hosts-file and --exclude may hold ranges in brackets,
  in the name or the port, as ClusterShell writes them: xen[01-10,12] is
  xen01 to xen10 and xen12 (a leading zero keeps the width),
  rack[1-2]-node[1-3] is six hosts, xen1:[8002-8004] three ports, and
  xen[1-3],db1 four hosts. They expand in order, each host once. Brackets
  holding a colon are an IPv6 address: [::1]:8002. Quote a range for the
  shell: 'xen[01-40]'. -x removes hosts, whatever their order; a malformed
  range, or one past 1,000,000 hosts, is refused before anything is sent.
  A host given without a port gets --port, or else the port of NAPIX_PORT or
  of a port key in the credentials file (in the order of the credentials
  below), or else 80 (443 for https://); a napixd server listens on 8002.

fleets:
  --gather groups the hosts by answer, --diff compares each group with the
  largest. --batch with --max-fail stops a rollout: the hosts of the batches
  not started are reported with the status skipped (the summary says how
  many and why), and --failed FILE lists them with the failed ones, ready for
  --hosts-file FILE on the next run.

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
          # port = 8002
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
  written as soon as the hosts before it are settled (at once with
  --unordered): {"host", "status", "ok", "seconds", "body", "location"} or,
  on failure, {"host", "status", "ok", "seconds", "error", "error_type",
  "remote_call", "remote_error", "credentials", "cancelled", "skipped"},
  both with "timings" when a request was made (--timings: their columns in
  the table; -v: each exchange on stderr, as curl -v shows it); status is
  null when no answer came; docs/cli.rst tells each key. With
  --gather, one object per group: {"hosts", "count", "nodeset", "status",
  "ok", "body" or "error", "diff"}. Every host is reported, the cancelled
  and skipped ones too (after Ctrl-C, --first or --max-fail).

exit status:
  0    every host answered with a status below 400 (with --first: one did)
  1    at least one host failed: status 400 or more, timeout, unreachable,
       cancelled or skipped (with --first: none succeeded)
  2    bad usage: unknown method, malformed host or range, no host left
       after --exclude, invalid JSON body, unreadable file, bad header, bad
       number, missing credentials, unusable CA bundle or client
       certificate; nothing was sent
  130  interrupted (Ctrl-C): pending requests were cancelled; every host
       was printed, the pending ones with the status cancelled
"""


class UsageError(Exception):
    """Bad input: printed on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError('expected a whole number >= {0}, not {1!r}'.format(
            least, text))
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _seconds_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError('expected a number of seconds > 0, or CONNECT,READ, '
                                         'not {0!r}'.format(text))
    return value


def _seconds(text: str) -> Union[float, Tuple[float, float]]:
    """``S``, or ``CONNECT,READ``: the timeout of the pool."""
    parts = text.split(',')
    if len(parts) == 2:
        return _seconds_value(parts[0]), _seconds_value(parts[1])
    if len(parts) != 1:
        raise argparse.ArgumentTypeError('expected S or CONNECT,READ seconds, not {0!r}'.format(
            text))
    return _seconds_value(text)


def _port(text: str) -> int:
    try:
        return port_number(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def _max_fail(text: str) -> MaxFail:
    try:
        return MaxFail(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


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
                        help='name, name:port, http://name[:port] or https://name[:port]; '
                             "ranges too: 'xen[01-40].example.org:8002'")
    _request_options(parser)
    _fleet_options(parser.add_argument_group('fleet options'))
    _auth_options(parser.add_argument_group('auth options'))
    _tls_options(parser.add_argument_group('tls options'))
    return parser


def _request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--hosts-file', metavar='FILE', action='append', default=[],
                        help='read more hosts from FILE (- for stdin), one a line, ranges '
                             'too; blank lines and # comments are skipped; may be repeated')
    parser.add_argument('-x', '--exclude', metavar='HOSTS', action='append', default=[],
                        help="leave out these hosts (ranges too: 'xen[05-07]'); may be "
                             'repeated')
    parser.add_argument('--port', type=_port, metavar='N',
                        help='the port of the hosts given without one (default: NAPIX_PORT, '
                             "or the credentials file's port, else 80, 443 for https://; "
                             'napixd listens on 8002)')
    parser.add_argument('-H', '--header', metavar="'NAME: VALUE'", action='append',
                        default=[], help='send this header too; may be repeated (not '
                                         'Authorization, Host, Content-Length, '
                                         'Transfer-Encoding or Connection)')
    parser.add_argument('--body', metavar='JSON',
                        help='the request body, as JSON; @FILE reads it from FILE, @- from '
                             'stdin')
    parser.add_argument('--simultaneous', type=_positive_int, default=2, metavar='N',
                        help='at most N requests in flight to one host (default 2, what a '
                             'Napix server allows); matters when a host is given twice')
    parser.add_argument('--timeout', type=_seconds, metavar='S',
                        help='give up on a host after S seconds; CONNECT,READ gives each '
                             'its own (default: 5 s to connect, 30 s to answer)')
    parser.add_argument('--retry', type=_non_negative_int, metavar='N',
                        help='send a request again up to N times after a 429 or 503, or a '
                             'failed connection of an idempotent method (default 0)')
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


def _fleet_options(fleet: argparse._ArgumentGroup) -> None:
    fleet.add_argument('-b', '--gather', action='store_true',
                       help='after the run, one block per distinct answer, headed by its '
                            'hosts folded into ranges, the largest group first')
    fleet.add_argument('--diff', action='store_true',
                       help="with --gather (implied): each group's answer as a diff against "
                            "the largest group's")
    fleet.add_argument('--failed', metavar='FILE',
                       help='write the hosts that failed to FILE, one a line, for '
                            '--hosts-file FILE next time (an empty file when none failed)')
    fleet.add_argument('--batch', type=_positive_int, metavar='N',
                       help='send to N hosts at a time, the next batch when one is done')
    fleet.add_argument('--max-fail', type=_max_fail, metavar='N',
                       help='once more than N hosts (or N%% of them) failed, start no more '
                            'batches: the rest are skipped (without --batch: send no more '
                            'requests, cancel those not sent)')


def _auth_options(auth: argparse._ArgumentGroup) -> None:
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


def _tls_options(tls: argparse._ArgumentGroup) -> None:
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
