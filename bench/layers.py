"""What each layer of a ClientPool request costs, without the network.

``python bench/layers.py`` times, in this process, the pure-Python steps one
request goes through, each alone (best of 7 runs), and prints one JSON line
``{"step": microseconds, ...}``. The rest of a request's cost is the system
calls (send, recv, epoll), the greenlet switches and the garbage collector,
which only the whole benchmark measures.
"""

import json
import timeit

import gevent
import httptools

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection, Headers, Response
from napix.transports.destination import Budget
from napix.transports.head import Limits, final_head
from napix.transports.wire import DEFAULT_BLOCK, DEFAULT_LINES
from napixd.client.pool import PendingRequest

HEAD = (b'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 28 Nov 2026 23:28:11 GMT\r\n'
        b'Content-Type: application/json\r\nContent-Length: 213\r\n'
        b'Last-Modified: Sat, 28 Nov 2026 23:28:11 GMT\r\nConnection: keep-alive\r\n'
        b'ETag: "6789-be"\r\nAccept-Ranges: bytes\r\n\r\n')


class _Callbacks(object):
    def on_headers_complete(self):
        pass

    def on_body(self, data):
        pass

    def on_message_complete(self):
        pass


def measure(body, number=20000, repeat=7):
    auth = LoginAuthenticator('bench', 'bench-secret-key')
    conn = Connection('127.0.0.1:8080', auth)
    request = conn.build_request('GET', '/data.json')
    auth(request)
    parser = httptools.HttpResponseParser(_Callbacks())
    headers = Headers({'content-type': 'application/json'})
    places = Budget(10)
    timer = gevent.get_hub().loop.timer(30.0, 30.0)  # as http11: repeating, started with again()
    current = gevent.getcurrent()
    limits = Limits(32 << 20, 64 << 10, 16 << 10, 100)

    def sign():
        auth(request)

    def pending():  # as ClientPool.request() makes it
        handle = PendingRequest()
        handle.request = request
        handle._queue = None
        handle._worker = None

    def decode():
        Response(200, 'OK', headers, body, request).decode()

    def budget():
        places.acquire()
        places.release()

    def timer_restart():
        timer.again(current.throw, update=True)
        timer.stop()

    steps = [
        ('check and encode the request (build_request)',
         lambda: conn.build_request('GET', '/data.json')),
        ('its PendingRequest', pending),
        ('sign it (LoginAuthenticator: HMAC-SHA256, nonce)', sign),
        ('serialize its header lines', lambda: request.headers.wire(DEFAULT_LINES,
                                                                    DEFAULT_BLOCK)),
        ('parse the response (httptools)', lambda: parser.feed_data(HEAD + body)),
        ('read the status line and headers', lambda: final_head(HEAD, 0, limits)),
        ('Response and JSON decoding', decode),
        ('a place in the destination budget (once a host queue)', budget),
        ('restart the timeout timer', timer_restart),
    ]
    results = {}
    for name, step in steps:
        results[name] = min(timeit.repeat(step, number=number, repeat=repeat)) / number * 1e6
    return results


if __name__ == '__main__':
    import sys
    print(json.dumps(measure(sys.argv[1].encode('utf-8') if len(sys.argv) > 1 else b'{}')))
