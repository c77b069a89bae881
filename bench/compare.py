#!/usr/bin/env python3
"""Versions of the library, side by side: ClientPool's CPU per request.

    python bench/compare.py REV [REV ...]   # e.g. 80ba9e9 (against the work tree)

Each version (a git revision, checked out in a temporary worktree, and the
work tree itself when one revision is given) sends ``--requests`` signed GETs
with ``--concurrency`` in flight to one nginx on 127.0.0.1, in a process of
its own pinned to one CPU, with the garbage collector off; the runs
alternate, ``--runs`` of each. Each run is cut in ``--blocks`` blocks and
gives two figures: the CPU microseconds per request of the whole run, and of
its best block (another process's bursts on a shared machine only ever add
time: the best block of a run is the least disturbed). The medians of both
are compared with the first version's. The machine's speed drifts: only
versions measured in one such alternation compare.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from common import Pinning, Server, free_ports  # noqa: E402

CLIENT = '''
import gc, sys, time
sys.path.insert(0, sys.argv[1])
gc.disable()
from napix.authenticators import LoginAuthenticator
from napixd.client.pool import ClientPool
host, path, count, concurrency = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
pool = ClientPool(LoginAuthenticator('bench', 'bench-secret-key'), simultaneous=concurrency)
def run(n):
    for _ in range(n):
        pool.request(host, 'GET', path)
    for result in pool.wait():
        if getattr(result, 'status', None) != 200:
            raise SystemExit('error: {0}'.format(result))
blocks = int(sys.argv[6])
run(1000)
size = count // blocks
times = []
for _ in range(blocks):
    start = time.process_time()
    run(size)
    times.append(time.process_time() - start)
print(sum(times) / (size * blocks) * 1e6, min(times) / size * 1e6)
'''


def measure(pinning, source, server, args):
    argv = pinning.client([sys.executable, '-c', CLIENT, source,
                           '127.0.0.1:{0}'.format(server.ports[0]), '/data.json',
                           str(args.requests), str(args.concurrency), str(args.blocks)])
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit('{0} failed: {1}'.format(source, done.stderr[-2000:] or done.stdout))
    whole, best = done.stdout.split()
    return float(whole), float(best)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('revisions', nargs='+',
                        help='git revisions (one: compared with the work tree)')
    parser.add_argument('--requests', type=int, default=20000)
    parser.add_argument('--concurrency', type=int, default=10)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--blocks', type=int, default=10,
                        help='blocks a run is cut in (its best block is the second figure)')
    args = parser.parse_args(argv)
    if args.blocks < 1 or args.requests < args.blocks:
        parser.error('--blocks must be between 1 and --requests')
    pinning = Pinning()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # nginx's worker runs as another user
        sources = []
        for index, revision in enumerate(args.revisions):
            tree = os.path.join(tmp, 'tree{0}'.format(index))
            subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', '-q', tree,
                            revision], check=True)
            sources.append((revision, tree))
        if len(sources) == 1:
            sources.append(('work tree', ROOT))
        server = Server(os.path.join(tmp, 'server'), pinning, free_ports(1))
        try:
            results = {label: [] for label, _ in sources}
            for _ in range(args.runs):
                for label, tree in sources:
                    results[label].append(measure(pinning, tree, server, args))
        finally:
            server.stop()
            for _, tree in sources:
                if tree != ROOT:
                    subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', tree])
    report(results)


def report(results):
    """The medians of each version, and their ratios to the first version's."""
    first = None
    for label, values in results.items():
        whole = statistics.median(v[0] for v in values)
        best = statistics.median(v[1] for v in values)
        if first is None:
            first = (label, whole, best)
        print('{0:>12}: median {1:6.1f} us CPU/request, best blocks {2:6.1f}{3}'.format(
            label, whole, best, '' if first[0] == label else
            '  = {0:.2f}x and {1:.2f}x {2}'.format(whole / first[1], best / first[2], first[0])))
        print('{0:>12}  runs: {1}'.format('', ', '.join(
            '{0:.1f} ({1:.1f})'.format(*v) for v in values)))


if __name__ == '__main__':
    main()
