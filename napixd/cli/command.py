"""The ``napix METHOD PATH HOST...`` command: check the arguments, find the
credentials, fan the request out, print the answers, choose the exit status.

Every argument is checked before anything is sent: bad input is one line on
stderr and the exit status 2. The terminal library (*rich*) is imported only
when something is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

from napixd.cli.batches import Plan
from napixd.cli.credentials import CredentialsError, load_credentials, load_port
from napixd.cli.hostlist import HostsError, gather_hosts
from napixd.cli.options import METHODS, UsageError, build_parser
from napixd.cli.output import check_writable

if TYPE_CHECKING:
    from napixd.client import ClientPool

__all__ = ['main', 'run_command', 'Command', 'EXIT_OK', 'EXIT_FAILED', 'EXIT_USAGE',
           'EXIT_INTERRUPTED']

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _ask_key(login: str) -> str:
    """Ask the terminal for the key of *login*, without echoing it. Ctrl-C
    raises :exc:`KeyboardInterrupt`; Ctrl-D or an empty key is a usage error.
    Either way the prompt's line is ended first."""
    import getpass

    try:
        key = getpass.getpass('napix: key for {0}: '.format(login), stream=sys.stderr)
    except (EOFError, KeyboardInterrupt) as error:
        # getpass ends the line only when a key was typed.
        sys.stderr.write('\n')
        sys.stderr.flush()
        if isinstance(error, KeyboardInterrupt):
            raise
        key = ''
    if not key:
        raise CredentialsError('no key typed for the login {0}'.format(login))
    return key


#: The most requests in flight at once, all hosts together: the pool's limit,
#: and the window of --max-fail without --batch.
IN_FLIGHT = 1000

# Headers the command writes itself, with what to do instead.
_REFUSED_HEADERS = {
    'authorization': 'napix signs each request: use --login and --key, --token or --config',
    'host': 'napix sends the HOST of each request',
    'content-length': 'napix computes it from --body',
    'transfer-encoding': 'napix sends --body with a Content-Length',
    'connection': 'napix keeps the connections alive itself',
}


def _headers(values: Sequence[str]) -> Dict[str, str]:
    """The ``-H 'Name: value'`` options, checked as the library checks headers."""
    from napix.checks import check_headers

    headers: Dict[str, str] = {}
    for value in values:
        name, colon, text = value.partition(':')
        name = name.strip()
        if not colon or not name:
            raise UsageError('-H/--header {0!r}: expected NAME: VALUE'.format(value))
        why = _REFUSED_HEADERS.get(name.lower())
        if why is not None:
            raise UsageError('-H/--header {0}: not allowed, {1}'.format(name, why))
        headers[name] = text.strip()
        try:
            check_headers(headers)
        except ValueError as error:
            raise UsageError('-H/--header {0!r}: {1}'.format(value, error))
    return headers


def _read_body(option: str) -> str:
    """The text of ``--body``: as given, or read from ``@FILE`` / ``@-``."""
    if not option.startswith('@'):
        return option
    name = option[1:]
    try:
        if name == '-':
            return sys.stdin.read()
        with open(name, encoding='utf-8') as stream:
            return stream.read()
    except OSError as error:
        raise UsageError('--body @{0}: cannot read {0}: {1}'.format(
            name, error.strerror or type(error).__name__))
    except UnicodeDecodeError:
        raise UsageError('--body @{0}: cannot read {0}: not UTF-8 text'.format(name))


def _body(option: Optional[str]) -> tuple[Any, Dict[str, str]]:
    """The body to send, and the headers it needs."""
    if option is None:
        return None, {}
    text = _read_body(option)
    try:
        body = json.loads(text)
    except ValueError as error:
        raise UsageError('--body{0} is not valid JSON: {1}'.format(
            ' ' + option if option.startswith('@') else '', error))
    if isinstance(body, (dict, list)):
        return body, {}
    return json.dumps(body), {'Content-Type': 'application/json'}


def _stdin_once(args: argparse.Namespace) -> None:
    readers = [name for name, used in (('--hosts-file -', '-' in args.hosts_file),
                                       ('--body @-', args.body == '@-')) if used]
    if len(readers) > 1 or args.hosts_file.count('-') > 1:
        raise UsageError('stdin can be read once: give it to one of {0}'.format(
            ', '.join(readers)))


class Command(object):
    """The checked arguments of one ``napix METHOD PATH HOST...`` run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from napix.checks import check_url

        method = args.method.upper()
        if method not in METHODS:
            raise UsageError('unknown method {0!r}: expected one of {1}'.format(
                args.method, ', '.join(METHODS)))
        self.method: str = method
        try:
            self.path = check_url(args.path)
        except ValueError as error:
            raise UsageError(str(error).replace('invalid url', 'invalid path', 1))
        _stdin_once(args)
        try:
            port = args.port if args.port is not None else load_port(args.config)
            self.hosts = gather_hosts(args.hosts, args.hosts_file, args.exclude, port)
        except (HostsError, CredentialsError) as error:
            raise UsageError(str(error))
        self.body, headers = _body(args.body)
        given = _headers(args.header)
        if any(name.lower() == 'content-type' for name in given):
            headers.pop('Content-Type', None)  # the user's own wins
        headers.update(given)
        self.headers: Optional[Dict[str, str]] = headers or None
        self.failed: Optional[str] = args.failed
        if self.failed is not None:
            try:
                check_writable(self.failed)
            except OSError as error:
                raise UsageError('--failed: cannot write {0}: {1}'.format(
                    self.failed, error.strerror))
        try:
            self.credentials = load_credentials(
                login=args.login, key=args.key, token=args.token, protocol=args.auth,
                config=args.config, anonymous=args.anonymous,
                ask_key=_ask_key if sys.stdin.isatty() and sys.stderr.isatty() else None)
        except CredentialsError as error:
            raise UsageError(str(error))
        self.simultaneous: int = args.simultaneous
        self.timeout: Any = args.timeout
        self.retry: int = args.retry or 0
        self.unordered: bool = args.unordered
        self.first: bool = args.first
        self.json: bool = args.json or not sys.stdout.isatty()
        self.gather: bool = args.gather or args.diff
        self.diff: bool = args.diff
        self.plan = Plan(batch=args.batch, max_fail=args.max_fail, window=IN_FLIGHT)
        self.tls = _tls_options(args)
        self.insecure: bool = args.insecure
        self.timings: bool = args.timings  # issue 28: columns of timings,
        self.verbose: bool = args.verbose  # and each exchange on stderr

    def make_pool(self) -> ClientPool:
        from napixd.client import ClientPool

        options: Dict[str, Any] = dict(self.tls)
        if self.timeout is not None:
            options['timeout'] = self.timeout
        if self.retry:
            from napix.retry import Retry
            options['retry'] = Retry(total=self.retry)
        if self.verbose:
            from napixd.cli.verbose import Verbose
            options['event_hooks'] = Verbose().hooks()
        return ClientPool(self.credentials.authenticator, simultaneous=self.simultaneous,
                          max_in_flight=IN_FLIGHT, **options)


_TLS_OPTIONS = {'CA bundle': '--cacert', 'client certificate': '--cert',
                'client key': '--cert-key'}


def _tls_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The pool's ``verify`` and ``cert`` from ``--cacert``, ``-k``, ``--cert``
    and ``--cert-key``; their files are read now, so a bad one is a usage error."""
    from napix.tls import TLSConfigError, client_context

    if args.cert_key is not None and args.cert is None:
        raise UsageError('--cert-key needs --cert, the certificate of that key')
    if args.insecure and args.cacert is not None:
        raise UsageError('--insecure verifies nothing: give it or --cacert, not both')
    options: Dict[str, Any] = {}
    if args.insecure:
        options['verify'] = False
    elif args.cacert is not None:
        options['verify'] = args.cacert
    if args.cert is not None:
        options['cert'] = args.cert if args.cert_key is None else (args.cert, args.cert_key)
    try:
        client_context(**options)
    except TLSConfigError as error:
        raise UsageError('{0}: {1}'.format(_TLS_OPTIONS.get(error.role or '', '--cert'),
                                           error.reason))
    return options


def _raise_file_limit(needed: int) -> None:
    """Let one process hold a socket per host: raise the soft limit of open
    files towards the hard one when the hosts need more."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = needed + 64
        if soft != resource.RLIM_INFINITY and soft < wanted:
            if hard != resource.RLIM_INFINITY:
                wanted = min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass


def run_command(command: Command) -> int:
    """Run the fan-out and print it; return the exit status."""
    from napixd.cli.fanout import FanOut, on_sigint
    from napixd.cli.output import JSONLines, print_report, write_failed

    _raise_file_limit(len(command.hosts))
    if command.insecure:
        sys.stderr.write("napix: warning: --insecure: the servers' certificates are not "
                         'verified\n')
    pool = command.make_pool()
    writer = JSONLines(command.unordered) if command.json and not command.gather else None
    fanout = FanOut(pool, command.method, command.path, command.hosts, command.body,
                    first=command.first, on_result=writer, headers=command.headers,
                    credentials=command.credentials.source, plan=command.plan)
    progress: Optional[ProgressDisplay] = None
    # JSON lines streaming to the same terminal would tear a live bar apart.
    if sys.stderr.isatty() and not (writer is not None and sys.stdout.isatty()):
        from napixd.cli.render import ProgressDisplay, make_console
        label = '{0} {1}'.format(command.method, command.path)
        progress = ProgressDisplay(fanout, make_console(stderr=True), label)
    try:
        with on_sigint(lambda: fanout.interrupt()):
            if progress is not None:
                with progress:
                    outcomes = fanout.run()
            else:
                outcomes = fanout.run()
    finally:
        pool.close()
    if command.failed is not None:
        write_failed(command.failed, outcomes)
    print_report(fanout, outcomes, as_json=command.json, gather=command.gather,
                 diff=command.diff, unordered=command.unordered, timings=command.timings)
    if fanout.interrupted:
        return EXIT_INTERRUPTED
    if command.first:
        return EXIT_OK if fanout.ok else EXIT_FAILED
    return EXIT_OK if fanout.ok == fanout.total else EXIT_FAILED


def _fail(message: object) -> int:
    sys.stderr.write('napix: error: {0}\n'.format(message))
    return EXIT_USAGE


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``napix`` command with *argv* (default ``sys.argv[1:]``);
    return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ['demo']:
            from napixd.cli.demo import main as demo_main
            return demo_main(argv[1:])
        if not argv:
            build_parser().print_usage(sys.stderr)
            return _fail('give a METHOD, a PATH and at least one HOST (napix --help), or try '
                         'napix demo')
        try:
            args = build_parser().parse_intermixed_args(argv)
            command = Command(args)
        except UsageError as error:
            return _fail(error)
        return run_command(command)
    except KeyboardInterrupt:
        sys.stderr.write('napix: interrupted\n')
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (napix ... | head): say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
