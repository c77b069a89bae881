#!/usr/bin/env python3
"""Benchmark ClientPool side by side with the peer libraries, in one run.

    pip install '.[bench]'        # the peers, matplotlib
    apt-get install -y nginx      # the server (optional: a gevent fallback is used without)
    python bench/run.py           # about 20 minutes; --quick for a short smoke run

See bench/README.rst for what is measured and how. The scenarios live in
bench/throughput.py, bench/stall.py, bench/seed.py and bench/fanout.py; this
script runs them in turn, prints every measurement and a summary of all the
ratios, and writes docs/performance.rst with plots in docs/_static/ (unless
--no-docs) through bench/report.py.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import fanout  # noqa: E402
import report  # noqa: E402
import seed  # noqa: E402
import stall  # noqa: E402
import throughput  # noqa: E402
from common import DOCS, Pinning, log, nginx_path  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--requests', type=int, default=20000,
                        help='throughput: timed requests per library and round')
    parser.add_argument('--concurrency', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=5, help='throughput rounds')
    parser.add_argument('--warmup', type=int, default=1000)
    parser.add_argument('--libraries', default=','.join(throughput.LIBRARIES),
                        help='comma-separated, among: ' + ', '.join(throughput.LIBRARIES))
    parser.add_argument('--stall-requests', type=int, default=12)
    parser.add_argument('--stall-rounds', type=int, default=5)
    parser.add_argument('--stall-libraries', default=','.join(stall.LIBRARIES))
    parser.add_argument('--seed-calls', type=int, default=1000)
    parser.add_argument('--seed-rounds', type=int, default=3)
    parser.add_argument('--scale-hosts', default='1000,10000,30000,100000',
                        help='fan-out: comma-separated numbers of hosts')
    parser.add_argument('--per-host', type=int, default=1,
                        help='requests per host in the fan-out runs')
    parser.add_argument('--fanout-rounds', type=int, default=1)
    parser.add_argument('--fanout-libraries', default=','.join(fanout.LIBRARIES))
    parser.add_argument('--fanout-answers', default=','.join(fanout.ANSWERS),
                        help='fan-out: keep (every answer kept until the end, the '
                        'seed\'s pool.wait()), drop (each checked and dropped), or both')
    parser.add_argument('--latency-hosts', type=int, default=500)
    parser.add_argument('--time-limit', type=float, default=180.0,
                        help='seconds before a fan-out, seed or latency run is killed')
    for name in ('throughput', 'stall', 'seed', 'fanout', 'latency'):
        parser.add_argument('--skip-' + name, action='store_true')
    parser.add_argument('--skip-scale', action='store_true', dest='skip_fanout',
                        help=argparse.SUPPRESS)  # the fan-out's former name
    parser.add_argument('--no-nginx', action='store_true',
                        help='use the gevent fallback server even if nginx is installed')
    parser.add_argument('--no-docs', action='store_true',
                        help='do not write docs/performance.rst and the plots')
    parser.add_argument('--quick', action='store_true',
                        help='a short smoke run: fewer requests, rounds, calls and hosts')
    args = parser.parse_args(argv)
    args.libraries = _names(parser, args.libraries, throughput.LIBRARIES)
    args.stall_libraries = _names(parser, args.stall_libraries, stall.LIBRARIES)
    args.fanout_libraries = _names(parser, args.fanout_libraries, fanout.LIBRARIES)
    args.fanout_answers = _names(parser, args.fanout_answers, fanout.ANSWERS)
    args.scale_hosts = [int(h) for h in args.scale_hosts.split(',') if h]
    if args.quick:
        args.requests, args.rounds = min(args.requests, 2000), min(args.rounds, 2)
        args.warmup, args.stall_rounds = min(args.warmup, 200), 1
        args.seed_calls, args.seed_rounds = min(args.seed_calls, 200), 1
        args.scale_hosts = [h for h in args.scale_hosts if h <= 10000]
        args.latency_hosts = min(args.latency_hosts, 100)
        args.time_limit = min(args.time_limit, 90.0)
    return args


def _names(parser, text, known):
    names = [name for name in text.split(',') if name]
    for name in names:
        if name not in known:
            parser.error('unknown {0!r}, expected among {1}'.format(
                name, ', '.join(known)))
    return names


def main(argv=None):
    args = parse_args(argv)
    # Stopped with SIGTERM, still stop the servers (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pinning = Pinning()
    if not nginx_path() and not args.no_nginx:
        log('nginx is not installed (apt-get install -y nginx): falling back to the gevent '
            'server of bench/servers.py, which may itself be the bottleneck')
    tmp = tempfile.mkdtemp(prefix='napix-bench-')
    os.chmod(tmp, 0o755)  # nginx's worker runs as another user
    results = {}
    try:
        if not args.skip_throughput:
            results['server'], results['throughput'] = throughput.throughput(
                args, pinning, os.path.join(tmp, 'throughput'))
            throughput.print_table(results['throughput'])
            ours = results['throughput'].get('napix')
            if ours and ours['connections'] > args.concurrency:
                raise SystemExit('ClientPool opened {0} connections for {1} in flight: '
                                 'keep-alive is broken'.format(ours['connections'],
                                                               args.concurrency))
            results['costs'] = throughput.layer_costs(pinning)
        if not args.skip_stall and args.stall_libraries:
            results['stall'] = stall.stall(args, pinning)
            stall.print_table(results['stall'], args.stall_requests)
        if not args.skip_seed:
            results['seed'] = seed.seed(args, pinning, os.path.join(tmp, 'seed'))
            seed.print_table(results['seed'])
        if not args.skip_fanout and args.scale_hosts and args.fanout_libraries:
            name, results['fanout'] = fanout.fanout(args, pinning, os.path.join(tmp, 'fanout'))
            results.setdefault('server', name)
            fanout.print_table(results['fanout'])
        if not args.skip_latency:
            _, results['latency'] = fanout.latency_run(args, pinning,
                                                       os.path.join(tmp, 'latency'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.print_summary(results)
    if not args.no_docs:
        images = report.plot(results, os.path.join(DOCS, '_static'))
        report.write_docs(args, pinning, results, images)


if __name__ == '__main__':
    main()
