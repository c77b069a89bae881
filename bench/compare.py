#!/usr/bin/env python3
"""Two versions of the library, side by side: ClientPool's CPU per request.

    python bench/compare.py REV [REV2]      # e.g. 80ba9e9 (against the work tree)

Each version (a git revision, checked out in a temporary worktree, or the
work tree itself when REV2 is omitted) sends ``--requests`` signed GETs with
``--concurrency`` in flight to one nginx on 127.0.0.1, in a process of its own
pinned to one CPU, with the garbage collector off; the runs alternate,
``--runs`` of each, and the medians of CPU microseconds per request are
compared. The machine's speed drifts: only versions measured in one such
alternation compare.
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
run(1000)
start = time.process_time()
run(count)
print((time.process_time() - start) / count * 1e6)
'''


def measure(pinning, source, server, args):
    argv = pinning.client([sys.executable, '-c', CLIENT, source,
                           '127.0.0.1:{0}'.format(server.ports[0]), '/data.json',
                           str(args.requests), str(args.concurrency)])
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit('{0} failed: {1}'.format(source, done.stderr[-2000:] or done.stdout))
    return float(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('revisions', nargs='+', help='one or two git revisions')
    parser.add_argument('--requests', type=int, default=20000)
    parser.add_argument('--concurrency', type=int, default=10)
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args(argv)
    if len(args.revisions) > 2:
        parser.error('give one or two revisions')
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
    (first, a), (second, b) = [(label, statistics.median(v)) for label, v in results.items()]
    for label, values in results.items():
        print('{0:>12}: median {1:6.1f} us CPU/request  (runs: {2})'.format(
            label, statistics.median(values), ', '.join('{0:.1f}'.format(v) for v in values)))
    print('{0} / {1}: {2:.2f}x the CPU per request'.format(second, first, b / a))


if __name__ == '__main__':
    main()
