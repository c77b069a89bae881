"""Nothing lost under faults and load: every request comes back exactly once,
and the pool leaves no greenlet, socket or memory behind.

By default the soak sends 5,000 requests, restarting a server after every
250 that the servers read; ``--soak`` (or ``NAPIX_SOAK=1`` in the
environment) sends 100,000, restarting one after every 1,000 (100 restarts,
8 to 30 s on two cores)::

    python -m pytest tests/live/test_soak.py --soak -s
"""

import gc
import itertools
import logging
import os
import random
import time

import gevent
import gevent.queue

from napix.authenticators import LoginAuthenticator
from napix.connection import Request, Response
from napix.exceptions import HTTPError
from napixd.client import ClientPool
from napixd.client.pool import PendingRequest
from napixd.faults import FAULTS, FaultServer

AUTH = LoginAuthenticator('root', 'toor')


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def rss_mib():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return 0.0


def alive_greenlets():
    return {id(g) for g in gc.get_objects() if isinstance(g, gevent.Greenlet) and not g.dead}


def live(cls):
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def random_faults(rng, share, faults=FAULTS):
    """Modes for a FaultServer's script: ``ok``, or a random fault *share* of the time."""
    while True:
        yield rng.choice(faults) if rng.random() < share else 'ok'


def warm_up():
    """Let gevent create what it creates once per process (hub, watchers), and
    what earlier tests left be closed: return once the descriptors are stable."""
    with FaultServer() as server, ClientPool(AUTH) as pool:
        pool.request(server.host, 'GET', '/')
        pool.wait()
    fds = None
    for _ in range(40):
        gc.collect()
        gevent.sleep(0.05)
        if open_fds() == fds:
            break
        fds = open_fds()


def check_in_order(results, paths):
    assert len(results) == len(paths)
    for result, path in zip(results, paths, strict=True):
        if isinstance(result, Response):
            assert result.body['path'] == path
        else:
            assert isinstance(result, HTTPError), repr(result)
            assert result.request.url == path


def test_nothing_lost_among_1000_requests_to_50_hosts_a_fifth_misbehaving():
    warm_up()
    fds_before, greenlets_before = open_fds(), alive_greenlets()
    rng = random.Random(20240607)
    bad = set(rng.sample(range(50), 10))
    servers = []
    for n in range(50):
        if n not in bad:
            servers.append(FaultServer('ok'))
        elif rng.random() < 0.2:
            servers.append(FaultServer('refuse'))
        else:  # a random fault for most of its requests, each its own
            servers.append(FaultServer('ok', script=random_faults(random.Random(n), 0.8),
                                       drip_interval=0.3, huge_size=2 * 1024 * 1024))
    for server in servers:
        server.start()
    started = time.monotonic()
    # Timeouts that a healthy host meets even with four test workers on two cores.
    pool = ClientPool(AUTH, simultaneous=5, timeout=(1.0, 2.5), max_response_size=1024 * 1024)
    sent = []
    for i in range(1000):
        n = rng.randrange(50)
        method = rng.choice(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'])
        path = '/r/{0}'.format(i)
        pool.request(servers[n].host, method, path, {'i': i} if method in ('POST', 'PUT') else None)
        sent.append((n, path))
    results = pool.wait()
    elapsed = time.monotonic() - started

    check_in_order(results, [path for _, path in sent])
    for (n, _), result in zip(sent, results, strict=True):
        if n not in bad:  # the healthy hosts do not suffer from the others
            assert isinstance(result, Response), (n, result)
    errors = sum(isinstance(r, HTTPError) for r in results)
    refused = sum(1 for n, _ in sent if servers[n].mode == 'refuse')
    faults = sum(s.faults for s in servers) + refused
    assert faults > 100 and errors > 100
    assert len(pool) == 0 and elapsed < 25

    pool.close()
    for server in servers:
        server.stop()
    del results, pool
    gc.collect()
    assert alive_greenlets() <= greenlets_before
    assert open_fds() <= fds_before
    print('\n1000 requests, 50 hosts ({0} misbehaving): {1} faults injected, 1000 results '
          '({2} errors) in {3:.1f} s; fds {4} -> {5}'.format(
              len(bad), faults, errors, elapsed, fds_before, open_fds()))


class Ticker(object):
    """Counts the modes that the soak's servers take from their scripts (one
    per request read) and puts one tick in ``ticks`` after every *every*."""

    def __init__(self, every):
        self.every = every
        self.read = 0
        self.ticks = gevent.queue.Queue()

    def counted(self, script):
        for mode in script:
            self.read += 1
            if self.read % self.every == 0:
                self.ticks.put(self.read)
            yield mode


def soak(total, hosts=20, batch=5000, share=0.01, restart_every=250, seed=1):
    """Send *total* requests through one pool to *hosts* fault servers that
    misbehave *share* of the time, one of them restarted after every
    *restart_every* requests the servers read; check each batch; return the
    figures.

    The restarts follow the requests, not the clock: however fast the machine,
    a batch larger than *restart_every* sees a server restarted while the rest
    of it is in flight."""
    warm_up()
    fds_before, greenlets_before = open_fds(), alive_greenlets()
    objects_before = {cls: live(cls) for cls in (Request, Response, PendingRequest)}
    rng = random.Random(seed)
    # Faults that end quickly, plus a rare hang cut by the read timeout.
    quick = tuple(f for f in FAULTS if f not in ('drip', 'short', 'hang'))
    ticker = Ticker(restart_every)
    servers = [FaultServer('ok', script=ticker.counted(
                   random_faults(random.Random(seed + n), share, quick * 20 + ('hang',))),
                   huge_size=200000, history=False).start()
               for n in range(hosts)]
    restarts = itertools.count()

    def restarter(servers):
        for _ in ticker.ticks:
            rng.choice(servers).restart()
            next(restarts)

    restarting = gevent.spawn(restarter, servers)
    # Each failure is logged on Napix.Client; a captured log record would keep
    # its error (and the error its request) alive until the end of the test.
    client_logger = logging.getLogger('Napix.Client')
    level = client_logger.level
    client_logger.setLevel(logging.ERROR)
    pool = ClientPool(AUTH, timeout=(1, 0.5), max_response_size=100000)
    figures = {'requests': 0, 'responses': 0, 'errors': 0, 'rss_mib': []}
    started = time.monotonic()
    try:
        for first in range(0, total, batch):
            paths = []
            for i in range(first, min(first + batch, total)):
                path = '/s/{0}'.format(i)
                pool.request(servers[i % hosts].host, 'GET' if i % 4 else 'POST', path)
                paths.append(path)
            results = pool.wait()
            check_in_order(results, paths)
            responses = sum(isinstance(r, Response) for r in results)
            figures['requests'] += len(paths)
            figures['responses'] += responses
            figures['errors'] += len(results) - responses
            del results
            figures['rss_mib'].append(round(rss_mib(), 1))
    finally:
        restarting.kill()
        client_logger.setLevel(level)
        pool.close()
        for server in servers:
            server.stop()
    figures['seconds'] = round(time.monotonic() - started, 1)
    figures['faults'] = sum(s.faults for s in servers)
    figures['restarts'] = next(restarts)
    del pool, servers
    gc.collect()
    figures['fds'] = (fds_before, open_fds())
    figures['greenlets_left'] = len(alive_greenlets() - greenlets_before)
    figures['objects_left'] = {cls.__name__: live(cls) - before
                               for cls, before in objects_before.items()}
    return figures


def check_soak(figures, total):
    print('\nsoak: {0}'.format(figures))
    assert figures['requests'] == total
    assert figures['responses'] + figures['errors'] == total
    assert figures['faults'] > 0 and figures['restarts'] > 0
    assert figures['errors'] >= figures['faults'] // 4
    assert figures['fds'][1] <= figures['fds'][0]
    assert figures['greenlets_left'] == 0
    assert figures['objects_left'] == {'Request': 0, 'Response': 0, 'PendingRequest': 0}
    rss = figures['rss_mib']
    # Memory is flat: after the first batch, it does not grow with the requests
    # (in the long soak, 100 bytes kept per request would add 9 MiB; the short
    # one is too short for that, the object counts above are its leak check).
    assert max(rss[1:]) - rss[1] < 8, rss


def long_soak(config):
    """Whether the long soak was asked for: ``--soak`` or ``NAPIX_SOAK=1``."""
    return config.getoption('--soak') or os.environ.get('NAPIX_SOAK', '') not in ('', '0')


def test_soak_servers_restarted_memory_flat_nothing_lost(request):
    if long_soak(request.config):
        total, batch, restart_every = 100000, 10000, 1000
    else:
        total, batch, restart_every = 5000, 1000, 250
    figures = soak(total, batch=batch, restart_every=restart_every)
    check_soak(figures, total)
