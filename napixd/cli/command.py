"""The ``napix METHOD PATH HOST...`` command: check the arguments, find the
credentials, fan the request out, print the answers, choose the exit status.

The terminal library (*rich*) is imported only when something is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from napixd.cli.credentials import CredentialsError, load_credentials
from napixd.cli.options import METHODS, UsageError, build_parser

if TYPE_CHECKING:
    from napixd.cli.fanout import Outcome
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


def _read_hosts_file(name: str) -> List[str]:
    try:
        if name == '-':
            text = sys.stdin.read()
        else:
            with open(name, encoding='utf-8') as stream:
                text = stream.read()
    except OSError as error:
        raise UsageError('cannot read hosts file {0}: {1}'.format(
            name, error.strerror or type(error).__name__))
    except UnicodeDecodeError:
        raise UsageError('cannot read hosts file {0}: not UTF-8 text'.format(name))
    hosts: List[str] = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            hosts.append(line)
    return hosts


class Command(object):
    """The checked arguments of one ``napix METHOD PATH HOST...`` run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from napix.checks import check_url
        from napix.connection import parse_host

        method = args.method.upper()
        if method not in METHODS:
            raise UsageError('unknown method {0!r}: expected one of {1}'.format(
                args.method, ', '.join(METHODS)))
        self.method: str = method
        try:
            self.path = check_url(args.path)
        except ValueError as error:
            raise UsageError(str(error).replace('invalid url', 'invalid path', 1))
        hosts: List[str] = list(args.hosts)
        if args.hosts_file:
            hosts.extend(_read_hosts_file(args.hosts_file))
        if not hosts:
            raise UsageError('no host: give HOST arguments or --hosts-file')
        for host in hosts:
            try:
                parse_host(host)
            except ValueError as error:
                raise UsageError(str(error))
        self.hosts = hosts
        self.body: Any = None
        self.headers: Optional[Dict[str, str]] = None
        if args.body is not None:
            try:
                self.body = json.loads(args.body)
            except ValueError as error:
                raise UsageError('--body is not valid JSON: {0}'.format(error))
            if not isinstance(self.body, (dict, list)):
                self.body = json.dumps(self.body)
                self.headers = {'Content-Type': 'application/json'}
        try:
            self.credentials = load_credentials(
                login=args.login, key=args.key, token=args.token, protocol=args.auth,
                config=args.config, anonymous=args.anonymous,
                ask_key=_ask_key if sys.stdin.isatty() and sys.stderr.isatty() else None)
        except CredentialsError as error:
            raise UsageError(str(error))
        self.simultaneous: int = args.simultaneous
        self.timeout: Optional[float] = args.timeout
        self.unordered: bool = args.unordered
        self.first: bool = args.first
        self.json: bool = args.json or not sys.stdout.isatty()
        self.tls = _tls_options(args)
        self.insecure: bool = args.insecure
        self.timings: bool = args.timings  # issue 28: columns of timings,
        self.verbose: bool = args.verbose  # and each exchange on stderr

    def make_pool(self) -> ClientPool:
        from napixd.client import ClientPool

        options: Dict[str, Any] = dict(self.tls)
        if self.timeout is not None:
            options['timeout'] = self.timeout
        if self.verbose:
            from napixd.cli.verbose import Verbose
            options['event_hooks'] = Verbose().hooks()
        return ClientPool(self.credentials.authenticator, simultaneous=self.simultaneous, **options)


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


class _JSONLines(object):
    """Writes outcomes as JSON lines on stdout: at once (*unordered*), or in
    the order of the hosts as soon as the ones before have answered."""

    def __init__(self, total: int, unordered: bool) -> None:
        self.unordered = unordered
        self.waiting: Dict[int, Outcome] = {}
        self.next = 0
        self.total = total

    def __call__(self, outcome: Outcome) -> None:
        if self.unordered:
            self._write(outcome)
            return
        self.waiting[outcome.index] = outcome
        while self.next in self.waiting:
            self._write(self.waiting.pop(self.next))
            self.next += 1

    def flush_rest(self, outcomes: Sequence[Optional[Outcome]]) -> None:
        """Write what completed but waited behind a host that never answered."""
        for outcome in outcomes:
            if outcome is not None and outcome.index in self.waiting:
                self._write(self.waiting.pop(outcome.index))

    def _write(self, outcome: Outcome) -> None:
        sys.stdout.write(json.dumps(outcome.as_json(), ensure_ascii=False, default=str) + '\n')
        sys.stdout.flush()


def run_command(command: Command) -> int:
    """Run the fan-out and print it; return the exit status."""
    from napixd.cli.fanout import FanOut, on_sigint

    _raise_file_limit(len(command.hosts))
    if command.insecure:
        sys.stderr.write("napix: warning: --insecure: the servers' certificates are not "
                         'verified\n')
    pool = command.make_pool()
    writer = _JSONLines(len(command.hosts), command.unordered) if command.json else None
    fanout = FanOut(pool, command.method, command.path, command.hosts, command.body,
                    first=command.first, on_result=writer, headers=command.headers,
                    credentials=command.credentials.source)
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
    # After Ctrl-C the cancelled hosts are listed too; after --first they are not needed.
    shown = [o for o in outcomes
             if o is not None and (not o.cancelled or fanout.interrupted)]
    if command.unordered:
        shown.sort(key=lambda o: o.seconds)
    if writer is not None:
        writer.flush_rest(shown)
        if fanout.interrupted or sys.stderr.isatty():
            from napixd.cli.render import make_console, summary_text
            make_console(stderr=True).print(summary_text(fanout))
    else:
        from napixd.cli.render import make_console, outcome_table, summary_text
        console = make_console()
        if shown:
            console.print(outcome_table(shown, width=console.width, timings=command.timings))
            console.print()
        else:
            console.print('No host answered.')
        console.print(summary_text(fanout))
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
