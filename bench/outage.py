#!/usr/bin/env python3
"""The service-manager scenario of issue 30: a dead host, with and without a
circuit breaker.

A service manager serves 50 calls one after the other; each call makes a
:class:`~napixd.client.pool.ClientPool` of its own (and drops it), sends
``GET /vm/1`` to 5 hosts and waits for the 5 answers. One of the hosts is
dead: it accepts connections and never answers (a
:class:`napixd.faults.FaultServer` in ``hang`` mode, which counts the
connects it accepts), so each request to it costs the read timeout. The four
others are :class:`napixd.testing.NapixServer` instances. Everything runs on
127.0.0.1, in this process.

    python bench/outage.py                 # 50 calls, read timeout 0.5 s
    python bench/outage.py --calls 20 --timeout 1

It prints, for each run, the total time, the connects attempted to the dead
host and the answers of the live ones. The time is wall-clock: on a loaded
machine it grows, but it is dominated by the timeouts waited for, which the
breaker removes.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from napix.breaker import Breaker  # noqa: E402
from napixd.client import ClientPool  # noqa: E402
from napixd.faults import FaultServer  # noqa: E402
from napixd.testing import NapixServer  # noqa: E402

CREDENTIALS = {'login': 'root', 'key': 'toor'}


def live_server():
    server = NapixServer(users={'root': 'toor'})
    server.route('GET', '/vm/{id}', lambda request, id: {'id': id})
    return server.start()


def run(calls, hosts, timeout, breaker):
    """Serve *calls* calls, a pool each; return (seconds, answers by status)."""
    answers = {}
    started = time.monotonic()
    for _ in range(calls):
        pool = ClientPool(CREDENTIALS, timeout=(1.0, timeout), breaker=breaker)
        for host in hosts:
            pool.request(host, 'GET', '/vm/1')
        for result in pool.wait():
            name = type(result).__name__ if result.status is None else result.status
            answers[name] = answers.get(name, 0) + 1
    return time.monotonic() - started, answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--calls', type=int, default=50)
    parser.add_argument('--timeout', type=float, default=0.5,
                        help='the read timeout, seconds (default 0.5)')
    parser.add_argument('--failures', type=int, default=3,
                        help="the breaker's failures (default 3)")
    args = parser.parse_args()
    live = [live_server() for _ in range(4)]
    print('{0} calls, a pool per call, 5 hosts of which 1 never answers; read timeout '
          '{1:g} s'.format(args.calls, args.timeout))
    print('{0:<36} {1:>8} {2:>10}  {3}'.format('', 'total s', 'connects', 'answers'))
    for label, breaker in [('without a breaker', None),
                           ('Breaker(failures={0}, reset=30)'.format(args.failures),
                            Breaker(failures=args.failures, reset=30))]:
        dead = FaultServer('hang').start()
        hosts = [server.host for server in live[:2]] + [dead.host] + \
            [server.host for server in live[2:]]
        seconds, answers = run(args.calls, hosts, args.timeout, breaker)
        print('{0:<36} {1:>8.2f} {2:>10}  {3}'.format(
            label, seconds, dead.connections,
            ', '.join('{0}: {1}'.format(name, count) for name, count in sorted(
                answers.items(), key=lambda item: str(item[0])))))
        dead.stop()
    for server in live:
        server.stop()


if __name__ == '__main__':
    main()
