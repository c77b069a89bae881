"""``napix demo``: the library at work on local Napix test servers.

It starts :class:`~napixd.testing.NapixServer` instances on 127.0.0.1, names
them as a real deployment would (``ip-allocator.enix.org``, ``xen2.enix.org``)
with :func:`~napixd.testing.routed`, and runs:

1. the seed's first scenario: an IP and a disk requested at once, ``wait()``;
2. the seed's second: the first hypervisor with enough capacity,
   ``wait_unordered(timeout=10)``;
3. a fan-out to a hundred hosts with the progress bar and the table of the
   ``napix`` command;
4. an error that bubbled through two servers.

Every request is signed with the standard protocol and checked by the servers.
"""

from __future__ import annotations

import argparse
import json
import socket
from time import monotonic
from typing import Any, Dict, List, Optional, Sequence, Union, cast

import gevent
from rich.console import Console

from napix.authenticators import LoginAuthenticator
from napix.exceptions import HTTPError
from napix.models import Request
from napixd.cli.fanout import FanOut, on_sigint
from napixd.cli.outcome import describe_error
from napixd.cli.helpformat import HelpFormatter
from napixd.cli.render import (ProgressDisplay, format_seconds, make_console, outcome_table,
                               summary_text)
from napixd.client import Client, ClientPool
from napixd.testing import NapixServer, Reply, ServerRequest, routed

__all__ = ['main', 'Demo']

USERS = {'root': 'toor', 'api': 'api-secret'}
EXPECTED = 32  # GB a new VM needs, scenario 2
FLEET = 100
FLEET_TIMEOUT = 2.0
#: The servers started: 8 named ones, and the fleet but for the host that refuses.
SERVERS = 8 + FLEET - 1
SECONDS = 5  # about how long the demo takes, as its help says

DESCRIPTION = """\
Show the napixd client library at work, with nothing to set up.

It starts {servers} Napix test servers on 127.0.0.1 (ports the system picks; no
network is used and no credentials are needed), names them as a real
deployment would, and runs four scenarios on them: a resource created on two
servers at once, the first hypervisor that fits, one request to {fleet} hosts
with the progress bar and the table of napix, and an error that bubbled
through two servers. It takes about {seconds} seconds; the servers stop with it.
Ctrl-C stops it early.
"""


def _code(console: Console, text: str) -> None:
    for line in text.strip('\n').splitlines():
        console.print('    ' + line, style='cyan', markup=False, highlight=False, soft_wrap=True)
    console.print()


class Demo(object):
    """The servers of the demo and the four scenarios that use them."""

    def __init__(self, console: Console, progress_console: Optional[Console] = None) -> None:
        self.console = console
        self.progress_console = progress_console
        self.servers: List[NapixServer] = []
        self.routes: Dict[str, Union[NapixServer, str]] = {}
        self.auth = LoginAuthenticator('root', 'toor')
        self._closed_socket: Optional[socket.socket] = None
        self.fanout: Optional[FanOut] = None
        self._main: Any = None

    # The servers
    def _server(self, name: str, delay: float = 0) -> NapixServer:
        server = NapixServer(users=USERS, delay=delay).start()
        self.servers.append(server)
        self.routes[name] = server
        return server

    def start_servers(self) -> None:
        capacities = [('xen1.enix.org', 8, 0.1), ('xen2.enix.org', 64, 0.4),
                      ('xen3.enix.org', 128, 3.0)]
        for name, size, delay in capacities:
            server = self._server(name, delay=delay)
            server.route('GET', '/capacity/capacity', lambda request, size=size: {'size': size})
        failing = self._server('xen4.enix.org')

        @failing.route('GET', '/capacity/capacity')
        def broken(request: ServerRequest) -> Any:
            raise RuntimeError('disk array offline')

        ip = self._server('ip-allocator.enix.org', delay=0.3)
        ip.route('POST', '/vm-ip/', lambda request: (204, {'Location': '/vm-ip/10.0.0.42'}, ''))
        filer = self._server('filer.enix.org', delay=0.5)
        filer.route('POST', '/storage/', lambda request: (
            204, {'Location': '/storage/vol-7'}, ''))

        inventory = self._server('inventory.enix.org')

        @inventory.route('GET', '/vm/{id}')
        def inventory_vm(request: ServerRequest, id: str) -> Any:
            raise Reply(404, '`{0}` not found'.format(id))

        api = self._server('api.enix.org')

        @api.route('GET', '/vm/{id}')
        def api_vm(request: ServerRequest, id: str) -> Any:
            # A service of api.enix.org asks inventory.enix.org and lets the
            # HTTPError go: its ExceptionsCatcher answers 500 with the chain.
            with Client('inventory.enix.org', {'login': 'api', 'key': 'api-secret'}) as client:
                return client.request('GET', '/vm/' + id).body

        for number in range(1, FLEET + 1):
            self._fleet_server(number)

    def _fleet_server(self, number: int) -> None:
        name = self.fleet_name(number)
        if number == 57:
            # Bound but not listening: connecting is refused.
            self._closed_socket = closed = socket.socket()
            closed.bind(('127.0.0.1', 0))
            self.routes[name] = '127.0.0.1:{0}'.format(closed.getsockname()[1])
            return
        delay = 0.1 + 1.0 * ((number * 37) % 100) / 100.0  # 0.9 s within the timeout
        if number == 83:
            delay = 5  # longer than the fan-out's timeout
        server = self._server(name, delay=delay)
        free = 16 + (number * 53) % 240

        @server.route('GET', '/capacity/capacity')
        def capacity(request: ServerRequest) -> Any:
            if number in (12, 64):
                raise Reply(503, 'maintenance until 14:00')
            return {'size': free}

    @staticmethod
    def fleet_name(number: int) -> str:
        return 'node{0:03d}.demo.enix.org'.format(number)

    def stop_servers(self) -> None:
        gevent.joinall([gevent.spawn(server.stop, 0.5) for server in self.servers])
        if self._closed_socket is not None:
            self._closed_socket.close()

    # The scenarios
    def run(self) -> int:
        c = self.console
        started = monotonic()
        c.print('[bold]napix demo[/]: the napixd client library at work.')
        c.print('{0} Napix test servers now run on 127.0.0.1 under production-like names; '
                'each checks the signature of every request (login root, standard HMAC '
                'protocol).'.format(len(self.servers)))
        self._main = gevent.getcurrent()
        with routed(self.routes), on_sigint(self._interrupt):
            self.create_resource()
            self.pick_hypervisor()
            status = self.fan_out()
            self.bubbled_error()
        c.print()
        c.print('[bold]Done[/] in {0}. Now ask your own servers ([cyan]napix --help[/] tells '
                'all):'.format(format_seconds(monotonic() - started)))
        c.print('    napix --login root GET /capacity/capacity xen1.example.org xen2.example.org',
                style='cyan', markup=False, soft_wrap=True)
        return status

    def _interrupt(self) -> None:
        # Ctrl-C: a fan-out stops and prints what it has; elsewhere the demo ends.
        if self.fanout is not None:
            self.fanout.interrupt()
        else:
            self._main.throw(KeyboardInterrupt)

    def _heading(self, text: str) -> None:
        self.console.print()
        self.console.rule('[bold]{0}'.format(text), align='left')

    def create_resource(self) -> None:
        c = self.console
        self._heading('1. Create a resource: an IP and a disk at once, with wait()')
        _code(c, """
cp = ClientPool(authenticator)
cp.request('ip-allocator.enix.org', 'POST', '/vm-ip/', {'size': 1})
cp.request('filer.enix.org', 'POST', '/storage/', {'size': 10**9})
ip, filer = cp.wait()     # both answers, in the order of the requests
""")
        started = monotonic()
        with ClientPool(self.auth) as cp:
            cp.request('ip-allocator.enix.org', 'POST', '/vm-ip/', {'size': 1})
            cp.request('filer.enix.org', 'POST', '/storage/', {'size': 10 ** 9})
            ip, filer = cp.wait()
        elapsed = monotonic() - started
        for response in (ip, filer):
            if isinstance(response, Exception):
                c.print('  {0:<22} failed: {1}'.format(_host(response),
                                                        describe_error(response)), markup=False)
                continue
            c.print('  {0:<22} {1} {2:<11} Location: {3}'.format(
                _host(response), response.status, response.reason,
                response.headers.get('location')), markup=False)
        c.print('  Both ready in {0}: the servers took 0.3 s and 0.5 s, at the same '
                'time.'.format(format_seconds(elapsed)))

    def pick_hypervisor(self) -> None:
        c = self.console
        self._heading('2. Pick the first hypervisor with {0} GB free, with '
                      'wait_unordered()'.format(EXPECTED))
        _code(c, """
for x in self.xen_servers:     # xen1 … xen4.enix.org
    cp.request(x, 'GET', '/capacity/capacity')
for response in cp.wait_unordered(timeout=10):   # as they come
    if response.status != 200 or response.body['size'] < {0}: continue
    server = response.request.host; break
""".replace('{0}', str(EXPECTED)))
        started = monotonic()
        chosen = None
        with ClientPool(self.auth) as cp:
            for name in ('xen1.enix.org', 'xen2.enix.org', 'xen3.enix.org', 'xen4.enix.org'):
                cp.request(name, 'GET', '/capacity/capacity')
            for response in cp.wait_unordered(timeout=10):
                when = format_seconds(monotonic() - started)
                host = _host(response)
                if response.status != 200:
                    c.print('  {0:>6}  {1}  {2}  disregarded: {3}'.format(
                        when, host, response.status,
                        describe_error(cast(HTTPError, response)).split(' (')[0]),
                        markup=False)
                    continue
                size = response.body['size']
                if size < EXPECTED:
                    c.print('  {0:>6}  {1}  200  {2} GB free: too small, disregarded'.format(
                        when, host, size), markup=False)
                    continue
                c.print('  {0:>6}  {1}  200  {2} GB free: [green]chosen[/]'.format(
                    when, host, size))
                chosen = host
                break
            else:
                c.print('  No server available')
        if chosen:
            c.print('  xen3.enix.org (128 GB, but 3 s to answer) was not waited for: leaving '
                    'the `with ClientPool` block cancelled its request.', markup=False)

    def fan_out(self) -> int:
        c = self.console
        hosts = [self.fleet_name(n) for n in range(1, FLEET + 1)]
        self._heading('3. Ask {0} hosts at once: what `napix` shows'.format(FLEET))
        _code(c, 'napix --timeout {0:g} GET /capacity/capacity '
                 'node{{001..{1}}}.demo.enix.org'.format(FLEET_TIMEOUT, FLEET))
        with ClientPool(self.auth, timeout=FLEET_TIMEOUT) as pool:
            fanout = self.fanout = FanOut(pool, 'GET', '/capacity/capacity', hosts)
            try:
                if self.progress_console is not None:
                    with ProgressDisplay(fanout, self.progress_console, 'GET /capacity'):
                        outcomes = fanout.run()
                else:
                    outcomes = fanout.run()
            finally:
                self.fanout = None
        done = [o for o in outcomes if o is not None and not o.cancelled]
        c.print(outcome_table(done, width=c.width, limit=12))
        c.print()
        c.print(summary_text(fanout))
        if fanout.interrupted:
            raise KeyboardInterrupt
        slowest_ok = max((o.seconds for o in done if o.ok), default=0)
        c.print('The slowest success took {0}; one after the other, these {1} requests would '
                'have taken {2:.0f} s.'.format(format_seconds(slowest_ok), FLEET,
                                               sum(o.seconds for o in done)))
        return 0

    def bubbled_error(self) -> None:
        c = self.console
        self._heading('4. An error that bubbled through two servers')
        c.print('api.enix.org asks inventory.enix.org for VM 10, which answers 404; '
                'api.enix.org does not catch the HTTPError, so its ExceptionsCatcher '
                'answers 500 with the whole chain:')
        with Client('api.enix.org', self.auth) as client:
            try:
                client.request('GET', '/vm/10')
            except Exception as error:
                failure: Any = error  # the HTTPError of api.enix.org
            else:  # pragma: no cover - the route always fails
                raise AssertionError('api.enix.org/vm/10 should fail')
        c.print()
        c.print('  [bold]{0}[/] → {1} {2}'.format(failure.remote_call, failure.status,
                                                 failure.response.reason))
        c.print('  as the table of `napix` shows it:')
        c.print('    ' + describe_error(failure), style='red', markup=False, soft_wrap=True)
        body = {k: v for k, v in failure.remote_error.items()
                if k in ('error_class', 'error_text', 'remote_call', 'remote_error')}
        c.print('  the JSON body, without its traceback:')
        for line in json.dumps(body, indent=2, ensure_ascii=False).splitlines():
            c.print('    ' + line, markup=False, highlight=False, soft_wrap=True)


def _host(result: Any) -> str:
    """The host a pool's result (a Response or an HTTPError) answers for."""
    return cast(Request, result.request).host


def main(argv: Sequence[str] = ()) -> int:
    """Run the demo; return the exit status (0 when it went as planned)."""
    parser = argparse.ArgumentParser(prog='napix demo', description=DESCRIPTION.format(
        servers=SERVERS, fleet=FLEET, seconds=SECONDS),
        formatter_class=HelpFormatter)
    parser.parse_args(list(argv))
    import sys
    console = make_console()
    progress_console = make_console(stderr=True) if sys.stderr.isatty() else None
    demo = Demo(console, progress_console)
    try:
        demo.start_servers()
        return demo.run()
    finally:
        demo.stop_servers()
