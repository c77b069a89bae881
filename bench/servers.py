"""A minimal keep-alive HTTP server on gevent, for what nginx cannot do.

``python bench/servers.py BODY_FILE DELAY PORT [PORT ...] [--tls PEM PORT ...]``
listens on 127.0.0.1 on each port and answers every request with the JSON in
*BODY_FILE*, after *DELAY* seconds (``gevent.sleep``; 0 for none). The ports
after ``--tls`` serve TLS with the key and certificate chain in *PEM*. ``GET
/server-status`` answers ``{"accepts": N}``, the connections accepted so far.
It prints ``ready`` once listening. ``bench/run.py`` uses it for the
latency-bound run (hosts that answer after 50 ms), and as the server of the
other scenarios when nginx is not installed.
"""

import json
import sys

import gevent
from gevent.server import StreamServer

HEAD = ('HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\n'
        'Content-Length: {0}\r\n\r\n')


def serve(body_file, delay, ports, certfile=None, tls_ports=()):
    with open(body_file, 'rb') as f:
        body = f.read()
    response = HEAD.format(len(body)).encode('ascii') + body
    accepts = [0]

    def status():
        data = json.dumps({'accepts': accepts[0]}).encode('ascii')
        return HEAD.format(len(data)).encode('ascii') + data

    def handle(sock, _address):
        accepts[0] += 1
        buf = b''
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    end = buf.find(b'\r\n\r\n')
                    if end < 0:
                        break
                    head, buf = buf[:end], buf[end + 4:]
                    if delay:
                        gevent.sleep(delay)
                    if head.startswith(b'GET /server-status '):
                        sock.sendall(status())
                    else:
                        sock.sendall(response)
        except OSError:
            pass
        finally:
            sock.close()

    servers = [StreamServer(('127.0.0.1', port), handle, backlog=4096) for port in ports]
    servers += [StreamServer(('127.0.0.1', port), handle, backlog=4096, certfile=certfile,
                             keyfile=certfile) for port in tls_ports]
    for server in servers:
        server.start()
    print('ready', flush=True)
    gevent.wait()


if __name__ == '__main__':
    args = sys.argv[1:]
    tls = args.index('--tls') if '--tls' in args else len(args)
    serve(args[0], float(args[1]), [int(p) for p in args[2:tls]],
          args[tls + 1] if tls < len(args) else None, [int(p) for p in args[tls + 2:]])
