"""One scale run of ``ClientPool`` in one process: ``python bench/scale.py HOSTS
PER_HOST SIMULTANEOUS PATH PORT [PORT ...]``.

*HOSTS* distinct hosts (``h0.bench`` ... each a distinct :class:`Client`
with its own sockets), routed with ``resolve=`` to 127.0.0.1 on the given
ports in turn, each sent *PER_HOST* ``GET PATH`` requests through one pool.
Prints one JSON line: wall and CPU seconds, peak resident memory, and the
open file descriptors before, once every response is in (kept-alive
sockets), and after ``pool.close()``.
"""

import json
import os
import resource
import sys
import time

import gevent

from napix.authenticators import LoginAuthenticator
from napix.connection import Response
from napixd.client.pool import ClientPool


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def fd_targets():
    targets = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            targets.append(os.readlink('/proc/self/fd/' + fd))
        except OSError:
            pass
    return sorted(targets)


def main(hosts, per_host, simultaneous, path, ports):
    names = ['h{0}.bench'.format(i) for i in range(hosts)]
    resolve = {name: '127.0.0.1:{0}'.format(ports[i % len(ports)])
               for i, name in enumerate(names)}
    gevent.sleep(0)  # the hub's own descriptors (its event loop) are not the pool's
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fds_before = open_fds()
    targets_before = fd_targets()
    pool = ClientPool(LoginAuthenticator('bench', 'bench-secret-key'),
                      simultaneous=simultaneous, resolve=resolve)
    cpu = time.process_time()
    start = time.perf_counter()
    for name in names:
        for _ in range(per_host):
            pool.request(name, 'GET', path)
    results = pool.wait()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    failures = [r for r in results if type(r) is not Response or r.body is None]
    fds_open = open_fds()
    pool.close()
    fds_after = open_fds()
    left = sorted(set(fd_targets()) - set(targets_before))
    print(json.dumps({
        'hosts': hosts, 'requests': len(results), 'failures': len(failures),
        'first_failure': str(failures[0]) if failures else None,
        'seconds': seconds, 'cpu': cpu,
        'rss_before_mb': rss_before,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'fds_before': fds_before, 'fds_open': fds_open, 'fds_after': fds_after,
        'fds_left': left[:10],
    }))


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
         [int(p) for p in sys.argv[5:]])
