"""The seed pattern scenario: code written for the seed's client makes a new
``ClientPool`` for every call, sends it a couple of requests, and drops it
without ``close()``. What does that cost, and what does it leave open?

``python bench/seed.py VARIANT SCHEME GC CALLS PORT [CAFILE]`` (one variant
per process, run by :func:`seed`): *CALLS* calls, each sending 2 ``GET`` to
``SCHEME://127.0.0.1:PORT`` and waiting for both answers, either through a
NEW pool per call that is never closed (``new-pool``) or through one pool
kept for the whole run (``one-pool``), with the garbage collector ``on`` or
``off`` (``gc.disable()``). Prints one JSON line: the time per call, the
failures, the client's open descriptors and the server's established
sockets on PORT before, right after the run, and after ``gc.collect()``.
"""

import gc
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import (PATH, Server, error_line, established, free_ports, log,  # noqa: E402
                    run_measured)

VARIANTS = [(pool, scheme, gc_) for scheme in ('http', 'https') for gc_ in ('on', 'off')
            for pool in ('new-pool', 'one-pool')]
REQUESTS_PER_CALL = 2


def _open_fds():
    return len(os.listdir('/proc/self/fd'))


def worker(variant, scheme, gc_mode, calls, port, cafile):
    import gevent

    from napix.authenticators import LoginAuthenticator
    from napix.connection import Response
    from napixd.client.pool import ClientPool

    host = '{0}://127.0.0.1:{1}'.format(scheme, port)
    options = {'verify': cafile} if scheme == 'https' else {}
    auth = LoginAuthenticator('bench', 'bench-secret-key')
    gevent.sleep(0)  # the hub's own descriptors are not the pools'
    fds_before, server_before = _open_fds(), established([port])
    failures, first_failure = 0, None
    shared = ClientPool(auth, **options) if variant == 'one-pool' else None
    if gc_mode == 'off':
        gc.disable()
    start = time.perf_counter()
    cpu = time.process_time()
    for _ in range(calls):
        pool = shared if shared is not None else ClientPool(auth, **options)
        for _ in range(REQUESTS_PER_CALL):
            pool.request(host, 'GET', PATH)
        for result in pool.wait():
            if type(result) is not Response or result.body is None:
                failures += 1
                first_failure = first_failure or str(result)
        del pool  # dropped, never closed: what the seed's users do
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    gevent.sleep(0.3)  # the server notices what the client closed
    fds_run, server_run = _open_fds(), established([port])
    gc.collect()
    gevent.sleep(0.3)
    fds_gc, server_gc = _open_fds(), established([port])
    print(json.dumps({
        'calls': calls, 'seconds': seconds, 'cpu': cpu, 'per_call_ms': seconds / calls * 1000,
        'failures': failures, 'first_failure': first_failure,
        'fds_before': fds_before, 'fds_run': fds_run, 'fds_gc': fds_gc,
        'server_before': server_before, 'server_run': server_run, 'server_gc': server_gc,
    }))


def _certificate(tmp):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert('127.0.0.1')
    certfile, cafile = os.path.join(tmp, 'server.pem'), os.path.join(tmp, 'ca.pem')
    cert.private_key_and_cert_chain_pem.write_to_path(certfile)
    ca.cert_pem.write_to_path(cafile)
    return certfile, cafile


def seed(args, pinning, tmp):
    """``{(variant, scheme, gc): result}``, each variant in its own process, in
    rounds (the median time per call; descriptors and sockets of the last round)."""
    os.makedirs(tmp, exist_ok=True)
    os.chmod(tmp, 0o755)
    plain, tls = free_ports(2)
    variants = VARIANTS
    try:
        certfile, cafile = _certificate(tmp)
    except ImportError:
        log('trustme is not installed (pip install trustme): plain HTTP only')
        certfile = cafile = None
        variants = [v for v in VARIANTS if v[1] == 'http']
    server = Server(os.path.join(tmp, 'server'), pinning, [plain],
                    tls_ports=[tls] if certfile else [], certfile=certfile,
                    prefer_nginx=not args.no_nginx)
    log('seed pattern: {0} calls of {1} requests; server: {2}'.format(
        args.seed_calls, REQUESTS_PER_CALL, server.name))
    rows = {}
    try:
        for round_ in range(args.seed_rounds):
            for variant in variants:
                pool, scheme, gc_ = variant
                port = plain if scheme == 'http' else tls
                argv = pinning.client([sys.executable, os.path.abspath(__file__), pool,
                                       scheme, gc_, str(args.seed_calls), str(port)] +
                                      ([cafile] if cafile else []))
                row = run_measured(argv, args.time_limit)
                time.sleep(0.3)  # the server closes what the exited client left
                rows.setdefault(variant, []).append(row)
                log('seed round {0}  {1:<8} {2:<5} gc {3:<3}  {4}'.format(
                    round_ + 1, pool, scheme, gc_, describe(row)))
    finally:
        server.stop()
    summary = {}
    for variant, runs in rows.items():
        last = dict(runs[-1])
        good = [r['per_call_ms'] for r in runs if 'per_call_ms' in r]
        if good:
            last['per_call_ms'] = statistics.median(good)
        summary[variant] = last
    for (_, scheme, gc_), row in summary.items():
        base = summary.get(('one-pool', scheme, gc_), {})
        if 'per_call_ms' in row and 'per_call_ms' in base:
            row['ratio'] = row['per_call_ms'] / base['per_call_ms']
    return summary


def describe(row):
    if row.get('timed_out'):
        return 'timed out after {0:.0f} s'.format(row['wall'])
    if 'error' in row:
        return 'failed: ' + error_line(row['error'])
    return ('{0:6.2f} ms/call  failures {1}  client fds {2}/{3}/{4}  server sockets '
            '{5}/{6}/{7}  (before / after the run / after gc.collect())'.format(
                row['per_call_ms'], row['failures'], row['fds_before'], row['fds_run'],
                row['fds_gc'], row['server_before'], row['server_run'], row['server_gc']))


def print_table(summary):
    log('')
    log('seed pattern: a new ClientPool per call, never closed, vs one pool')
    log('{0:<9} {1:<6} {2:<3} {3:>9} {4:>9} {5:>14} {6:>14} {7:>5}'.format(
        'pool', 'scheme', 'gc', 'ms/call', 'vs one', 'client fds', 'server socks', 'fail'))
    for (pool, scheme, gc_), row in summary.items():
        if 'per_call_ms' not in row:
            log('{0:<9} {1:<6} {2:<3} {3}'.format(pool, scheme, gc_, describe(row)))
            continue
        log('{0:<9} {1:<6} {2:<3} {3:>9.2f} {4:>8.2f}x {5:>14} {6:>14} {7:>5}'.format(
            pool, scheme, gc_, row['per_call_ms'], row.get('ratio', 0),
            '{0} / {1}'.format(row['fds_run'], row['fds_gc']),
            '{0} / {1}'.format(row['server_run'], row['server_gc']), row['failures']))
    log('(client fds and server sockets: right after the run / after gc.collect())')
    log('')


if __name__ == '__main__':
    worker(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
           sys.argv[6] if len(sys.argv) > 6 else None)
