"""The throughput scenario: the same workload through each client, rounds
interleaved, each library in its own process (``bench/clients.py``); and the
cost of each pure-Python step of a request (``bench/layers.py``).

Run by ``bench/run.py``.
"""

import importlib.util
import json
import os
import statistics
import subprocess
import sys

from common import BODY, HERE, PATH, Server, env, free_ports, log

LIBRARIES = ['napix', 'floor', 'aiohttp', 'httpx', 'geventhttpclient', 'grequests',
             'requests-gevent']
LABELS = {
    'napix': 'napixd ClientPool (signed)',
    'floor': 'floor: raw gevent sockets',
    'aiohttp': 'aiohttp',
    'httpx': 'httpx (async)',
    'geventhttpclient': 'geventhttpclient (direct)',
    'grequests': 'grequests (shared Session)',
    'requests-gevent': 'requests, monkey-patched gevent',
}
PEER_MODULES = {'aiohttp': 'aiohttp', 'httpx': 'httpx', 'geventhttpclient': 'geventhttpclient',
                'grequests': 'grequests', 'requests-gevent': 'requests'}


def available(library):
    module = PEER_MODULES.get(library)
    # Not imported here: grequests would monkey-patch this process.
    return module is None or importlib.util.find_spec(module) is not None


def run_client(pinning, server, library, args):
    before = server.accepts()
    argv = pinning.client([sys.executable, os.path.join(HERE, 'clients.py'), library,
                           server.url, PATH, str(args.requests), str(args.concurrency),
                           str(args.warmup), json.dumps(BODY)])
    out = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=900)
    if out.returncode != 0:
        raise SystemExit('{0} failed:\n{1}'.format(library, out.stderr[-3000:]))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result['connections'] = server.accepts() - before - 1
    return result


def throughput(args, pinning, tmp):
    """Returns the server's name and ``{library: {rps, cpu_us, connections, ratio}}``."""
    server = Server(tmp, pinning, free_ports(1), prefer_nginx=not args.no_nginx)
    log('server: {0} on {1}; {2}'.format(server.name, server.url, pinning.describe()))
    libraries = [lib for lib in args.libraries if available(lib)]
    missing = [lib for lib in args.libraries if lib not in libraries]
    if missing:
        log('not installed, skipped: {0} (pip install \'.[bench]\')'.format(', '.join(missing)))
    results = {lib: [] for lib in libraries}
    try:
        for round_ in range(args.rounds):
            order = libraries[round_ % len(libraries):] + libraries[:round_ % len(libraries)]
            for lib in order:
                result = run_client(pinning, server, lib, args)
                results[lib].append(result)
                log('round {0}  {1:<18} {2:>9.0f} req/s  {3:6.1f} us CPU/req  '
                    '{4} connections'.format(
                        round_ + 1, lib, result['requests'] / result['seconds'],
                        result['cpu'] / result['requests'] * 1e6, result['connections']))
    finally:
        server.stop()
    summary = {}
    for lib, runs in results.items():
        summary[lib] = {
            'rps': statistics.median(r['requests'] / r['seconds'] for r in runs),
            'cpu_us': statistics.median(r['cpu'] / r['requests'] * 1e6 for r in runs),
            'connections': max(r['connections'] for r in runs),
        }
    # The ratio is the median of the ratios within each round: the runs of one
    # round are close in time, so a busy moment of the machine cancels out.
    ours = results.get('napix')
    for lib, row in summary.items():
        row['ratio'] = statistics.median(
            (o['requests'] / o['seconds']) / (r['requests'] / r['seconds'])
            for o, r in zip(ours, results[lib])) if ours else None  # noqa: B905
    return server.name, summary


def print_table(summary):
    log('')
    log('{0:<34} {1:>10} {2:>12} {3:>12} {4:>8}'.format(
        'library', 'req/s', 'ours / it', 'CPU us/req', 'conns'))
    for lib, row in sorted(summary.items(), key=lambda kv: -kv[1]['rps']):
        log('{0:<34} {1:>10.0f} {2:>11.2f}x {3:>12.1f} {4:>8}'.format(
            LABELS[lib], row['rps'], row['ratio'] or 0, row['cpu_us'], row['connections']))
    log('')


def layer_costs(pinning):
    """``{step: microseconds}`` from ``bench/layers.py``."""
    argv = pinning.client([sys.executable, os.path.join(HERE, 'layers.py'), json.dumps(BODY)])
    out = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=600)
    if out.returncode != 0:
        raise SystemExit('bench/layers.py failed:\n' + out.stderr[-3000:])
    costs = json.loads(out.stdout.strip().splitlines()[-1])
    for name, micros in costs.items():
        log('{0:<52} {1:6.2f} us'.format(name, micros))
    return costs
