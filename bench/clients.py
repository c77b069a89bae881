"""One benchmark workload in one process: ``python bench/clients.py LIBRARY ...``.

Run by ``bench/run.py``, once per library and round, so that the libraries
that need gevent's monkey patching (grequests, requests on gevent) never
share a process with the ones that must not have it (ours, aiohttp, httpx).

Every workload does the same thing: *warmup* requests, then *requests* timed
``GET`` requests to ``http://127.0.0.1:PORT/data.json`` with *concurrency*
requests in flight on keep-alive connections, each body decoded as JSON and
compared with the expected value. It prints one JSON line: ``{"seconds": ...,
"cpu": ..., "requests": ...}``.
"""

import json
import sys
import time

EXPECTED = None


def _check(decoded, count):
    if count != EXPECTED_COUNT[0]:
        raise SystemExit('{0} responses instead of {1}'.format(count, EXPECTED_COUNT[0]))
    if decoded != EXPECTED:
        raise SystemExit('unexpected body: {0!r}'.format(decoded))


EXPECTED_COUNT = [0]


# --- ours -------------------------------------------------------------------------

def napix(url, path, concurrency):
    from napix.authenticators import LoginAuthenticator
    from napix.connection import Response
    from napixd.client.pool import ClientPool

    host = url.split('//', 1)[1]
    pool = ClientPool(LoginAuthenticator('bench', 'bench-secret-key'),
                      simultaneous=concurrency)

    def run(count):
        for _ in range(count):
            pool.request(host, 'GET', path)
        results = pool.wait()
        last = None
        for result in results:
            if type(result) is not Response:
                raise SystemExit('error: {0}'.format(result))
            last = result.body
        return last, len(results)

    return run, pool.close


# --- the raw floor ----------------------------------------------------------------

def floor(url, path, concurrency):
    """A minimal keep-alive loop on gevent sockets: what any client must pay."""
    import gevent
    import gevent.socket as gsocket

    address, port = url.split('//', 1)[1].split(':')
    payload = ('GET {0} HTTP/1.1\r\nHost: {1}:{2}\r\nAccept: application/json\r\n\r\n'
               .format(path, address, port)).encode('ascii')
    socks = []
    for _ in range(concurrency):
        sock = gsocket.create_connection((address, int(port)))
        sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        socks.append(sock)
    loads = json.loads

    def worker(sock, count, out):
        buf = b''
        for _ in range(count):
            sock.sendall(payload)
            while True:
                end = buf.find(b'\r\n\r\n')
                if end >= 0:
                    start = buf.find(b'\r\nContent-Length: ', 0, end)
                    length = int(buf[start + 18:buf.find(b'\r\n', start + 18)])
                    total = end + 4 + length
                    if len(buf) >= total:
                        break
                buf += sock.recv(65536)
            out.append(loads(buf[end + 4:total]))
            buf = buf[total:]

    def run(count):
        out = []
        share, extra = divmod(count, concurrency)
        gevent.joinall([gevent.spawn(worker, sock, share + (i < extra), out)
                        for i, sock in enumerate(socks)], raise_error=True)
        return out[-1], len(out)

    def close():
        for sock in socks:
            sock.close()

    return run, close


# --- peers on gevent --------------------------------------------------------------

def _greenlet_runner(worker, concurrency):
    """``run(count)``: *concurrency* greenlets share *count* calls of
    ``worker(n, out)``; returns the last decoded body and how many came."""
    import gevent

    def run(count):
        out = []
        share, extra = divmod(count, concurrency)
        gevent.joinall([gevent.spawn(worker, share + (i < extra), out)
                        for i in range(concurrency)], raise_error=True)
        return out[-1], len(out)

    return run


def geventhttpclient(url, path, concurrency):
    from geventhttpclient import HTTPClient
    from geventhttpclient.url import URL

    client = HTTPClient.from_url(URL(url), concurrency=concurrency,
                                 headers={'Accept': 'application/json'})

    def worker(count, out):
        for _ in range(count):
            response = client.get(path)
            out.append(json.loads(response.read()))
            response.release()

    return _greenlet_runner(worker, concurrency), client.close


def grequests(url, path, concurrency):
    import grequests as _grequests  # monkey-patches gevent on import
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount('http://', HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    session.headers['Accept'] = 'application/json'
    full = url + path

    def run(count):
        pending = [_grequests.get(full, session=session) for _ in range(count)]
        responses = _grequests.map(pending, size=concurrency)
        out = [response.json() for response in responses]
        return out[-1], len(out)

    return run, session.close


def requests_gevent(url, path, concurrency):
    from gevent import monkey
    monkey.patch_all()
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount('http://', HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    session.headers['Accept'] = 'application/json'
    full = url + path

    def worker(count, out):
        for _ in range(count):
            out.append(session.get(full).json())

    return _greenlet_runner(worker, concurrency), session.close


# --- asyncio peers ----------------------------------------------------------------

def _asyncio_runner(open_client, fetch, close_client, concurrency):
    import asyncio

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(open_client())

    async def worker(count, out):
        for _ in range(count):
            out.append(await fetch(client))

    async def batch(count):
        out = []
        share, extra = divmod(count, concurrency)
        await asyncio.gather(*[worker(share + (i < extra), out) for i in range(concurrency)])
        return out

    def run(count):
        out = loop.run_until_complete(batch(count))
        return out[-1], len(out)

    def close():
        loop.run_until_complete(close_client(client))
        loop.close()

    return run, close


def aiohttp(url, path, concurrency):
    import aiohttp as _aiohttp

    full = url + path

    async def open_client():
        return _aiohttp.ClientSession(
            connector=_aiohttp.TCPConnector(limit=concurrency),
            headers={'Accept': 'application/json'})

    async def fetch(session):
        async with session.get(full) as response:
            return await response.json()

    async def close_client(session):
        await session.close()

    return _asyncio_runner(open_client, fetch, close_client, concurrency)


def httpx(url, path, concurrency):
    import httpx as _httpx

    full = url + path

    async def open_client():
        return _httpx.AsyncClient(
            limits=_httpx.Limits(max_connections=concurrency,
                                 max_keepalive_connections=concurrency),
            headers={'Accept': 'application/json'})

    async def fetch(client):
        response = await client.get(full)
        return response.json()

    async def close_client(client):
        await client.aclose()

    return _asyncio_runner(open_client, fetch, close_client, concurrency)


LIBRARIES = {
    'napix': napix,
    'floor': floor,
    'geventhttpclient': geventhttpclient,
    'aiohttp': aiohttp,
    'httpx': httpx,
    'grequests': grequests,
    'requests-gevent': requests_gevent,
}


def main(argv):
    global EXPECTED
    library, url, path, requests, concurrency, warmup, expected = argv
    requests, concurrency, warmup = int(requests), int(concurrency), int(warmup)
    EXPECTED = json.loads(expected)
    run, close = LIBRARIES[library](url, path, concurrency)
    EXPECTED_COUNT[0] = warmup
    _check(*run(warmup))
    EXPECTED_COUNT[0] = requests
    cpu = time.process_time()
    start = time.perf_counter()
    decoded, count = run(requests)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    _check(decoded, count)
    close()
    print(json.dumps({'library': library, 'seconds': seconds, 'cpu': cpu,
                      'requests': requests}))


if __name__ == '__main__':
    main(sys.argv[1:])
