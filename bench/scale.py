"""One fan-out run in one process: ``python bench/scale.py [--answers
keep|drop] LIBRARY HOSTS PER_HOST SIMULTANEOUS PATH PORT [PORT ...]``,
LIBRARY ``napix`` or ``aiohttp``.

*HOSTS* distinct host names (``h0.bench``, ``h1.bench``...), mapped to
127.0.0.1 on the given ports in turn, each sent *PER_HOST* ``GET PATH``
requests, every body decoded as JSON:

* ``napix``: one :class:`ClientPool` (each host a distinct client with its
  own sockets, *SIMULTANEOUS* in flight per host), names routed with
  ``resolve=``; all requests queued, then ``pool.wait()``, which returns
  every answer (``--answers keep``, the default: the seed's pattern), or
  ``pool.wait_unordered()``, each answer checked and dropped as it comes
  (``--answers drop``);
* ``aiohttp``: one ``ClientSession`` on a ``TCPConnector(limit=100)``, names
  routed by a resolver that answers from the same table, 100 tasks taking
  the requests in turn; each answer (its status, headers and decoded body)
  appended to a list (``keep``), or checked and dropped (``drop``).

Both libraries do the same work in each mode: ``keep`` measures the memory
of the answers a caller is handed at the end, ``drop`` what the client
itself holds on the way.

While it runs, writes ``progress N`` (the answers in so far) to stderr every
second, so that a run killed at the time limit still says how far it got.
Prints one JSON line: wall and CPU seconds, failures (and the first one),
peak resident memory, and the open file descriptors before, once every
response is in (kept-alive sockets), and after closing the pool or session.
"""

import json
import os
import resource
import sys
import time


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def progress(count):
    sys.stderr.write('progress {0}\n'.format(count))
    sys.stderr.flush()


def fd_targets():
    targets = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            targets.append(os.readlink('/proc/self/fd/' + fd))
        except OSError:
            pass
    return sorted(targets)


def aiohttp_main(hosts, per_host, path, ports, keep):
    import asyncio
    import socket

    import aiohttp
    from aiohttp.abc import AbstractResolver

    names = ['h{0}.bench'.format(i) for i in range(hosts)]
    table = {name: ports[i % len(ports)] for i, name in enumerate(names)}

    class Resolver(AbstractResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            return [{'hostname': host, 'host': '127.0.0.1', 'port': table[host],
                     'family': socket.AF_INET, 'proto': 0,
                     'flags': socket.AI_NUMERICHOST}]

        async def close(self):
            pass

    async def run():
        fds_before = open_fds()
        failures = []
        answers = []
        count = [0]
        work = iter([name for name in names for _ in range(per_host)])
        connector = aiohttp.TCPConnector(limit=100, resolver=Resolver())
        session = aiohttp.ClientSession(connector=connector)

        async def task():
            for name in work:
                try:
                    async with session.get('http://{0}{1}'.format(name, path)) as response:
                        response.raise_for_status()
                        body = await response.json(content_type=None)
                    if keep:  # what a caller reads of an answer (less than our Response)
                        answers.append((response.status, response.headers, body))
                except Exception as error:
                    failures.append('{0}: {1!r}'.format(name, error))
                count[0] += 1

        async def report():
            while True:
                await asyncio.sleep(1)
                progress(count[0])

        reporter = asyncio.ensure_future(report())
        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*[task() for _ in range(100)])
        reporter.cancel()
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        fds_open = open_fds()
        await session.close()
        await asyncio.sleep(0.1)
        return {'hosts': hosts, 'requests': count[0], 'failures': len(failures),
                'answers_kept': len(answers),
                'first_failure': failures[0] if failures else None,
                'seconds': seconds, 'cpu': cpu, 'fds_before': fds_before,
                'fds_open': fds_open, 'fds_after': open_fds()}

    result = asyncio.run(run())
    result['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(result))


def main(hosts, per_host, simultaneous, path, ports, keep):
    # Imported here: the aiohttp runs' memory does not count gevent and ours.
    import gevent

    from napix.authenticators import LoginAuthenticator
    from napix.connection import Response
    from napixd.client.pool import ClientPool

    names = ['h{0}.bench'.format(i) for i in range(hosts)]
    resolve = {name: '127.0.0.1:{0}'.format(ports[i % len(ports)])
               for i, name in enumerate(names)}
    gevent.sleep(0)  # the hub's own descriptors (its event loop) are not the pool's
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    fds_before = open_fds()
    targets_before = fd_targets()
    pool = ClientPool(LoginAuthenticator('bench', 'bench-secret-key'),
                      simultaneous=simultaneous, resolve=resolve)
    handles = []
    done = [0]
    cpu = time.process_time()
    start = time.perf_counter()
    for name in names:
        for _ in range(per_host):
            handle = pool.request(name, 'GET', path)
            if keep:
                handles.append(handle)
    del handle

    def report():
        while True:
            gevent.sleep(1)
            progress(sum(1 for handle in handles if handle.ready()) if keep else done[0])

    reporter = gevent.spawn(report)
    failures = []
    if keep:
        results = pool.wait()
        count = len(results)
        failures = [r for r in results if type(r) is not Response or r.body is None]
    else:
        for result in pool.wait_unordered():
            done[0] += 1
            if type(result) is not Response or result.body is None:
                failures.append(result)
        count = done[0]
    reporter.kill()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    fds_open = open_fds()
    pool.close()
    fds_after = open_fds()
    left = sorted(set(fd_targets()) - set(targets_before))
    print(json.dumps({
        'hosts': hosts, 'requests': count, 'failures': len(failures),
        'answers_kept': len(results) if keep else 0,
        'first_failure': str(failures[0]) if failures else None,
        'seconds': seconds, 'cpu': cpu,
        'rss_before_mb': rss_before,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'fds_before': fds_before, 'fds_open': fds_open, 'fds_after': fds_after,
        'fds_left': left[:10],
    }))


if __name__ == '__main__':
    argv = sys.argv[1:]
    keep = True
    if argv[:1] == ['--answers']:
        if argv[1] not in ('keep', 'drop'):
            sys.exit('--answers: keep or drop, not {0!r}'.format(argv[1]))
        keep, argv = argv[1] == 'keep', argv[2:]
    library = argv[0]
    hosts, per_host, simultaneous = int(argv[1]), int(argv[2]), int(argv[3])
    path, ports = argv[4], [int(p) for p in argv[5:]]
    if library == 'aiohttp':
        aiohttp_main(hosts, per_host, path, ports, keep)
    else:
        main(hosts, per_host, simultaneous, path, ports, keep)
