"""The keep-alive stall scenario: sequential requests on one keep-alive
connection to a plain gevent ``pywsgi.WSGIServer``.

That server (napixd's own) writes a response's head and body in two
``send`` calls on a socket without ``TCP_NODELAY``: Nagle's algorithm holds
the body until the client acknowledges the head, and a client whose kernel
delays that acknowledgement waits about 40 ms per request. This measures
what each client sees.

``python bench/stall.py serve PORT``: the server (prints ``ready``).
``python bench/stall.py client LIBRARY URL COUNT``: *COUNT* sequential ``GET``
on one keep-alive connection, each body decoded as JSON; prints one JSON line
``{"times": [seconds, ...]}``. ``bench/run.py`` runs both through
:func:`stall`.
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import BODY, PATH, env, free_ports, log, stop_process, wait_listening  # noqa: E402

LIBRARIES = ['napix', 'requests', 'aiohttp', 'geventhttpclient']
LABELS = {
    'napix': 'napixd Client (ours)',
    'requests': 'requests.Session',
    'aiohttp': 'aiohttp',
    'geventhttpclient': 'geventhttpclient',
}


def serve(port):
    from gevent.pywsgi import WSGIServer

    body = json.dumps(BODY).encode()

    def app(environ, start_response):
        start_response('200 OK', [('Content-Type', 'application/json'),
                                  ('Content-Length', str(len(body)))])
        return [body]

    server = WSGIServer(('127.0.0.1', port), app, log=None)
    server.start()
    print('ready', flush=True)
    server.serve_forever()


# --- the clients: each returns a callable sending one request, decoding it ---------

def _napix(url):
    from napix.authenticators import AnonAuthenticator
    from napixd.client import Client

    client = Client(url.split('//', 1)[1], AnonAuthenticator())
    return lambda: client.request('GET', PATH).body


def _requests(url):
    import requests

    session = requests.Session()
    return lambda: session.get(url + PATH, timeout=10).json()


def _geventhttpclient(url):
    from geventhttpclient import HTTPClient
    from geventhttpclient.url import URL

    client = HTTPClient.from_url(URL(url), concurrency=1)

    def one():
        response = client.get(PATH)
        try:
            return json.loads(response.read())
        finally:
            response.release()
    return one


def _run_aiohttp(url, count):
    import asyncio

    import aiohttp

    async def main():
        times = []
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                start = time.perf_counter()
                async with session.get(url + PATH) as response:
                    decoded = await response.json()
                times.append(time.perf_counter() - start)
                _check(decoded)
        return times
    return asyncio.run(main())


def _check(decoded):
    if decoded != BODY:
        raise SystemExit('unexpected body: {0!r}'.format(decoded))


def client(library, url, count):
    if library == 'aiohttp':
        times = _run_aiohttp(url, count)
    else:
        one = {'napix': _napix, 'requests': _requests,
               'geventhttpclient': _geventhttpclient}[library](url)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            decoded = one()
            times.append(time.perf_counter() - start)
            _check(decoded)
    print(json.dumps({'times': times}))


# --- the orchestration, for bench/run.py -------------------------------------------

def stall(args, pinning):
    """``{library: {'median_ms', 'ratio'}}``: the median time of requests 2..N
    (the first opens the connection), and how many times slower it is than
    ours (the median of the per-round ratios)."""
    port = free_ports(1)[0]
    server = subprocess.Popen(
        pinning.server([sys.executable, os.path.abspath(__file__), 'serve', str(port)]),
        stdout=subprocess.DEVNULL, env=env(), start_new_session=True)
    per_round = {lib: [] for lib in args.stall_libraries}
    try:
        wait_listening(port, server)
        url = 'http://127.0.0.1:{0}'.format(port)
        for round_ in range(args.stall_rounds):
            for lib in args.stall_libraries:
                argv = pinning.client([sys.executable, os.path.abspath(__file__), 'client',
                                       lib, url, str(args.stall_requests)])
                out = subprocess.run(argv, capture_output=True, text=True, env=env(),
                                     timeout=300)
                if out.returncode != 0:
                    raise SystemExit('stall client {0} failed:\n{1}'.format(
                        lib, out.stderr[-3000:]))
                times = json.loads(out.stdout.strip().splitlines()[-1])['times']
                median = statistics.median(times[1:])
                per_round[lib].append(median)
                log('stall round {0}  {1:<18} median {2:7.2f} ms  (first {3:6.2f} ms, '
                    'max {4:6.2f} ms)'.format(round_ + 1, lib, median * 1000,
                                              times[0] * 1000, max(times[1:]) * 1000))
    finally:
        stop_process(server)
    ours = per_round.get('napix')
    summary = {}
    for lib, medians in per_round.items():
        summary[lib] = {
            'median_ms': statistics.median(medians) * 1000,
            'ratio': statistics.median(t / o for t, o in zip(medians, ours))  # noqa: B905
            if ours else None,
        }
    return summary


def print_table(summary, requests):
    log('')
    log('keep-alive stall: {0} sequential requests to a gevent pywsgi WSGIServer, median '
        'of requests 2..{0}'.format(requests))
    log('{0:<24} {1:>10} {2:>12}'.format('client', 'median ms', 'it / ours'))
    for lib, row in summary.items():
        log('{0:<24} {1:>10.2f} {2:>11.2f}x'.format(LABELS[lib], row['median_ms'],
                                                    row['ratio'] or 0))
    log('')


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(int(sys.argv[2]))
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
