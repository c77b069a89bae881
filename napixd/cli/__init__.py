"""The ``napix`` command: one request fanned out to many Napix servers.

``napix [auth options] METHOD PATH HOST... [options]`` sends the request to
every host at once through a :class:`~napixd.client.ClientPool`; ``napix demo``
shows the library at work on local test servers. :func:`main` is the entry
point; the terminal library (*rich*) is imported only when something is drawn.
"""

import argparse
import json
import math
import os
import sys

__all__ = ['main', 'build_parser', 'EXIT_OK', 'EXIT_FAILED', 'EXIT_USAGE', 'EXIT_INTERRUPTED']

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')

DESCRIPTION = """\
Send one request to many Napix servers at once and show what each answered.

  napix GET /capacity/capacity xen1.example.org xen2.example.org:8002
  napix --login root POST /vm/ xen1.example.org --body '{"size": 1}'
  napix GET /version --hosts-file hosts.txt --json | jq .status
  napix demo                  (a tour on local test servers, no setup needed)
"""

EPILOG = """\
credentials (the first place that holds any wins):
  1. --token, or --login and --key (a key on the command line is visible to
     other users in the process list: prefer the next two);
  2. the environment: NAPIX_TOKEN, or NAPIX_LOGIN and NAPIX_KEY;
  3. the file given by --config, or else $XDG_CONFIG_HOME/napix/credentials
     (~/.config/napix/credentials), in ini form:
         [napix]
         login = root
         key = toor
         # or: token = <token>
  A login with no key anywhere: on a terminal, napix asks for the key
  (without echoing it). Credentials are never printed, not even in errors.

output:
  On a terminal: a live progress bar on stderr, then a table (host, status,
  time, one line of the answer; an error that bubbled through other Napix
  servers shows its chain: GET b/vm/10 -> "404 NOT FOUND" `10` not found).
  With --json, or when stdout is not a terminal: one JSON object per line,
  {"host", "status", "ok", "seconds", "body"} or, on failure,
  {"host", "status", "ok", "seconds", "error", "error_type", "remote_call",
  "remote_error"}; status is null when no answer came.

exit status:
  0    every host answered with a status below 400 (with --first: one did)
  1    at least one host failed: status 400 or more, timeout, unreachable
       (with --first: none succeeded)
  2    bad usage: unknown method, malformed host, invalid JSON body,
       unreadable hosts file, bad number, missing credentials
  130  interrupted (Ctrl-C): pending requests were cancelled and what had
       completed was printed
"""


class UsageError(Exception):
    """Bad input: printed on one line, exit status 2."""


def _ask_key(login):
    """Ask the terminal for the key of *login*, without echoing it."""
    import getpass

    from napixd.cli.credentials import CredentialsError
    try:
        key = getpass.getpass('napix: key for {0}: '.format(login), stream=sys.stderr)
    except EOFError:
        key = ''
    if not key:
        raise CredentialsError('a key is needed with the login: give --key or NAPIX_KEY')
    return key


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        raise UsageError(message)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a whole number >= 1, not {0!r}'.format(text))
    if value < 1:
        raise argparse.ArgumentTypeError('expected a whole number >= 1, not {0!r}'.format(text))
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a number of seconds > 0, not {0!r}'.format(
            text))
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError('expected a number of seconds > 0, not {0!r}'.format(
            text))
    return value


def build_parser():
    """The argument parser of ``napix METHOD PATH HOST...``."""
    from napixd.cli.credentials import PROTOCOLS

    parser = _Parser(prog='napix', description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     usage='napix [auth options] METHOD PATH HOST... [options]\n'
                           '       napix demo')
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
    auth = parser.add_argument_group('auth options')
    auth.add_argument('--login', help='the login (with --key, NAPIX_KEY or the config file)')
    auth.add_argument('--key', help='the key of the login')
    auth.add_argument('--token', help='a pre-issued token (Authorization: Token ...)')
    auth.add_argument('--auth', choices=sorted(PROTOCOLS), default=None,
                      help='how a login and key sign requests (default secure: the standard '
                           'HMAC protocol)')
    auth.add_argument('--config', metavar='FILE', help='the credentials file to read')
    auth.add_argument('--anonymous', action='store_true', help='send no credentials')
    return parser


def _read_hosts_file(name):
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
    hosts = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            hosts.append(line)
    return hosts


class Command(object):
    """The checked arguments of one ``napix METHOD PATH HOST...`` run."""

    def __init__(self, args):
        from napix.connection import check_url, parse_host
        from napixd.cli.credentials import CredentialsError, load_authenticator

        method = args.method.upper()
        if method not in METHODS:
            raise UsageError('unknown method {0!r}: expected one of {1}'.format(
                args.method, ', '.join(METHODS)))
        self.method = method
        try:
            self.path = check_url(args.path)
        except ValueError as error:
            raise UsageError(str(error).replace('invalid url', 'invalid path', 1))
        hosts = list(args.hosts)
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
        self.body = self.headers = None
        if args.body is not None:
            try:
                self.body = json.loads(args.body)
            except ValueError as error:
                raise UsageError('--body is not valid JSON: {0}'.format(error))
            if not isinstance(self.body, (dict, list)):
                self.body = json.dumps(self.body)
                self.headers = {'Content-Type': 'application/json'}
        try:
            self.authenticator = load_authenticator(
                login=args.login, key=args.key, token=args.token, protocol=args.auth,
                config=args.config, anonymous=args.anonymous,
                ask_key=_ask_key if sys.stdin.isatty() and sys.stderr.isatty() else None)
        except CredentialsError as error:
            raise UsageError(str(error))
        self.simultaneous = args.simultaneous
        self.timeout = args.timeout
        self.unordered = args.unordered
        self.first = args.first
        self.json = args.json or not sys.stdout.isatty()

    def make_pool(self):
        from napixd.client import ClientPool

        options = {}
        if self.timeout is not None:
            options['timeout'] = self.timeout
        return ClientPool(self.authenticator, simultaneous=self.simultaneous, **options)


def _raise_file_limit(needed):
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

    def __init__(self, total, unordered):
        self.unordered = unordered
        self.waiting = {}
        self.next = 0
        self.total = total

    def __call__(self, outcome):
        if self.unordered:
            self._write(outcome)
            return
        self.waiting[outcome.index] = outcome
        while self.next in self.waiting:
            self._write(self.waiting.pop(self.next))
            self.next += 1

    def flush_rest(self, outcomes):
        """Write what completed but waited behind a host that never answered."""
        for outcome in outcomes:
            if outcome is not None and outcome.index in self.waiting:
                self._write(self.waiting.pop(outcome.index))

    def _write(self, outcome):
        sys.stdout.write(json.dumps(outcome.as_json(), ensure_ascii=False, default=str) + '\n')
        sys.stdout.flush()


def run_command(command):
    """Run the fan-out and print it; return the exit status."""
    from napixd.cli.fanout import FanOut, on_sigint

    _raise_file_limit(len(command.hosts))
    pool = command.make_pool()
    writer = _JSONLines(len(command.hosts), command.unordered) if command.json else None
    fanout = FanOut(pool, command.method, command.path, command.hosts, command.body,
                    first=command.first, on_result=writer, headers=command.headers)
    progress = None
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
    completed = [o for o in outcomes if o is not None and not o.cancelled]
    if command.unordered:
        completed.sort(key=lambda o: o.seconds)
    if writer is not None:
        writer.flush_rest(completed)
        if fanout.interrupted or sys.stderr.isatty():
            from napixd.cli.render import make_console, summary_text
            make_console(stderr=True).print(summary_text(fanout))
    else:
        from napixd.cli.render import make_console, outcome_table, summary_text
        console = make_console()
        if completed:
            console.print(outcome_table(completed, width=console.width))
            console.print()
        else:
            console.print('No host answered.')
        console.print(summary_text(fanout))
    if fanout.interrupted:
        return EXIT_INTERRUPTED
    if command.first:
        return EXIT_OK if fanout.ok else EXIT_FAILED
    return EXIT_OK if fanout.ok == fanout.total else EXIT_FAILED


def _fail(message):
    sys.stderr.write('napix: error: {0}\n'.format(message))
    return EXIT_USAGE


def main(argv=None):
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
