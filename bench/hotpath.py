#!/usr/bin/env python3
"""Profile ClientPool's hot path against the benchmark's nginx.

    python bench/hotpath.py                 # cProfile, top functions by own time
    python bench/hotpath.py --py-spy        # py-spy (native frames too) -> flamegraph SVG
    python bench/hotpath.py --requests 50000 --sort cumulative

cProfile charges greenlet switches and time in the kernel to whatever Python
function was running; ``--py-spy`` samples instead (``pip install py-spy``),
and ``perf record -g`` on the same command line works too (Debian's linux-perf).
"""

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402  (bench/common.py: the server and the pinning)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--requests', type=int, default=30000)
    parser.add_argument('--concurrency', type=int, default=10)
    parser.add_argument('--sort', default='tottime')
    parser.add_argument('--lines', type=int, default=30)
    parser.add_argument('--py-spy', action='store_true')
    parser.add_argument('--library', default='napix')
    args = parser.parse_args()
    pinning = common.Pinning()
    tmp = tempfile.mkdtemp(prefix='napix-profile-')
    os.chmod(tmp, 0o755)
    server = common.Server(os.path.join(tmp, 'www-root'), pinning, common.free_ports(1))
    try:
        client = [sys.executable, os.path.join(HERE, 'clients.py'), args.library, server.url,
                  common.PATH, str(args.requests), str(args.concurrency), '1000',
                  json.dumps(common.BODY)]
        if args.py_spy:
            svg = os.path.abspath('profile-{0}.svg'.format(args.library))
            argv = ['py-spy', 'record', '--native', '-r', '2000', '-o', svg, '--'] + client
            subprocess.run(pinning.client(argv), env=common.env(), check=True)
            print('wrote', svg)
        else:
            stats = os.path.join(tmp, 'stats')
            argv = [sys.executable, '-m', 'cProfile', '-o', stats] + client[1:]
            subprocess.run(pinning.client(argv), env=common.env(), check=True)
            pstats.Stats(stats).strip_dirs().sort_stats(args.sort).print_stats(args.lines)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
