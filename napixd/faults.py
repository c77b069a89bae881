"""A misbehaving HTTP server on 127.0.0.1, to see what a client does when a
server fails.

:class:`FaultServer` speaks just enough HTTP/1.1 over raw gevent sockets to
answer well (mode ``'ok'``) or to fail in one precise way::

    >>> with FaultServer('drip') as server:                        # doctest: +SKIP
    ...     Client(server.host, AnonAuthenticator(), timeout=(1, 1.5)).request('GET', '/')
    Traceback (most recent call last):
    napix.exceptions.Timeout: GET 127.0.0.1:41234/ failed: no complete response within 1.5 s ...

The modes (:data:`MODES`), per request:

============== ==================================================================
``ok``         ``200`` with a JSON body (``{"ok": true, "method": ..., "path": ...,
               "n": <requests read so far>}``), connection kept alive
``refuse``     nothing listens: the port is bound but refuses connections (only as
               the mode given to the constructor)
``close``      close the connection without answering: right after accepting it
               when this is its first request, else right after reading the request
``reset``      send part of the headers, then reset the connection (``SO_LINGER 0``)
``garbage``    answer bytes that are not HTTP, then close
``truncated``  announce a longer ``Content-Length`` than the body sent, then close
``short``      announce a longer ``Content-Length`` than the body sent and keep the
               connection open
``drip``       send a valid response one byte every ``drip_interval`` seconds
``hang``       read the request, never answer
``429``        ``429 Too many concurrent connections`` with ``Retry-After``
``503``        ``503 Service Unavailable`` with ``Retry-After``
``huge``       a valid response of ``huge_size`` bytes of body
``bad_json``   ``Content-Type: application/json`` and a body that is not JSON
``idle_close`` answer like ``ok``, then close the kept-alive connection at once
               (without ``Connection: close``), so the client finds it closed
``raw``        send ``raw_response`` as is, then close
============== ==================================================================

``mode`` may be changed while the server runs; ``script``, an iterable of
modes, is consumed one mode per request first (per connection accepted for
its first request), then ``mode`` applies again.

What a test asserts on: ``connections`` (accepted), ``requests`` (a list of
``(method, path)`` of every request read, whatever was answered; left empty
with ``history=False``), ``served`` (how many requests were read), ``faults``
(the number of requests or connections that got a misbehaving mode).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Iterable, Mapping, Optional, Set, Tuple, Union

import gevent
from gevent.server import StreamServer

__all__ = ['FaultServer', 'MODES', 'FAULTS']

#: Every mode, ``'ok'`` first.
MODES = ('ok', 'refuse', 'close', 'reset', 'garbage', 'truncated', 'short', 'drip', 'hang',
         '429', '503', 'huge', 'bad_json', 'idle_close', 'raw')

#: The modes that misbehave per request (every mode but ``ok``, ``refuse`` and ``raw``).
FAULTS = ('close', 'reset', 'garbage', 'truncated', 'short', 'drip', 'hang', '429', '503',
          'huge', 'bad_json', 'idle_close')

_MAX_HEAD = 65536


class _Closed(Exception):
    pass


class FaultServer(object):
    """A raw-socket HTTP server on 127.0.0.1 that misbehaves on demand.

    :param mode: one of :data:`MODES` (default ``'ok'``).
    :param script: an iterable of modes used first, one per request.
    :param retry_after: the ``Retry-After`` value of the ``429`` and ``503`` answers
        (a str or a number of seconds; ``None`` to send none).
    :param huge_size: the body size of ``huge`` (default 33 MiB, above the
        client's default limit of 32 MiB).
    :param drip_interval: seconds between two bytes of ``drip``.
    :param raw_response: the bytes that ``raw`` sends.
    :param port: the port to listen on (default: an ephemeral one). A server
        keeps its port when restarted (:meth:`restart`).
    :param history: keep ``requests``; ``False`` for long runs, where the list
        would grow with every request.

    ``host`` is ``'127.0.0.1:<port>'`` once started.
    """

    def __init__(self, mode: str = 'ok', script: Iterable[str] = (),
                 retry_after: Union[str, float, None] = 1, huge_size: int = 33 * 1024 * 1024,
                 drip_interval: float = 1.0, raw_response: bytes = b'', port: int = 0,
                 history: bool = True) -> None:
        self._check_mode(mode)
        self.mode = mode
        self.script = iter(script)
        self.retry_after = retry_after
        self.huge_size = huge_size
        self.drip_interval = drip_interval
        self.raw_response = raw_response
        self.port = port
        self.connections = 0
        self.requests: list[Tuple[str, str]] = []
        self.history = history
        self.served = 0
        self.faults = 0
        self._server: Any = None
        self._refusing: Optional[socket.socket] = None
        self._handlers: Set[Any] = set()

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in MODES:
            raise ValueError('unknown mode {0!r}: expected one of {1}'.format(
                mode, ', '.join(MODES)))

    # Life cycle
    def start(self) -> FaultServer:
        """Listen (or, in ``refuse`` mode, bind without listening) on 127.0.0.1."""
        if self.mode == 'refuse':
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(('127.0.0.1', self.port))
            self.port = sock.getsockname()[1]
            self._refusing = sock
            return self
        self._server = StreamServer(('127.0.0.1', self.port), self._handle)
        self._server.start()
        self.port = self._server.server_port
        return self

    def stop(self) -> None:
        """Stop listening and close every connection still open."""
        if self._refusing is not None:
            self._refusing.close()
            self._refusing = None
        if self._server is not None:
            self._server.close()
            self._server = None
        gevent.killall(list(self._handlers), block=True)

    def restart(self) -> FaultServer:
        """Stop, then listen again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """``'127.0.0.1:<port>'``: what to give a client."""
        return '127.0.0.1:{0}'.format(self.port)

    def methods(self, method: str) -> int:
        """How many requests with *method* the server read."""
        return sum(1 for m, _ in self.requests if m == method)

    def __repr__(self) -> str:
        return '<FaultServer {0} {1}>'.format(self.host, self.mode)

    # Serving
    def _next_mode(self) -> str:
        mode = next(self.script, None) or self.mode
        self._check_mode(mode)
        if mode not in ('ok', 'raw'):
            self.faults += 1
        return mode

    def _handle(self, sock: Any, address: Any) -> None:
        self.connections += 1
        current = gevent.getcurrent()
        self._handlers.add(current)
        try:
            # Answers go out as written (a response is one send, a drip byte is one).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            mode: Optional[str] = self._next_mode()
            if mode in ('close', 'refuse'):
                return
            buffer = b''
            while True:
                method, path, buffer = self._read_request(sock, buffer)
                self.served += 1
                if self.history:
                    self.requests.append((method, path))
                if mode is None:
                    mode = self._next_mode()
                if not self._answer(sock, mode, method, path):
                    return
                mode = None
        except (_Closed, OSError):
            pass
        finally:
            self._handlers.discard(current)
            sock.close()

    def _read_request(self, sock: Any, buffer: bytes) -> Tuple[str, str, bytes]:
        while b'\r\n\r\n' not in buffer:
            data = sock.recv(65536)
            if not data or len(buffer) > _MAX_HEAD:
                raise _Closed()
            buffer += data
        head, _, buffer = buffer.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        method, path = (lines[0].split(' ') + ['', ''])[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(':')
            if name.strip().lower() == 'content-length':
                length = int(value.strip() or 0)
        while len(buffer) < length:
            data = sock.recv(65536)
            if not data:
                raise _Closed()
            buffer += data
        return method, path, buffer[length:]

    def _answer(self, sock: Any, mode: str, method: str, path: str) -> bool:
        """Answer one request in *mode*; return whether to keep the connection."""
        if mode in ('ok', 'idle_close'):
            body = json.dumps({'ok': True, 'method': method, 'path': path,
                               'n': self.served}).encode('utf-8')
            sock.sendall(_response(200, 'OK', body))
            return mode == 'ok'
        if mode == 'close':
            return False
        if mode == 'reset':
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: appl')
            gevent.sleep(0.01)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            return False
        if mode == 'garbage':
            sock.sendall(b'\x00\xffSSH-2.0-OpenSSH_9.6 not http at all\r\n\r\n')
            return False
        if mode in ('truncated', 'short'):
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                         b'Content-Length: 100\r\n\r\n{"ok": tr')
            if mode == 'short':
                gevent.sleep(3600)
            return False
        if mode == 'drip':
            for byte in _response(200, 'OK', b'{"ok": true}'):
                sock.sendall(bytes([byte]))
                gevent.sleep(self.drip_interval)
            return True
        if mode == 'hang':
            gevent.sleep(3600)
            return False
        if mode in ('429', '503'):
            status = int(mode)
            reason, body = ('Too Many Requests', b'Too many concurrent connections') \
                if status == 429 else ('Service Unavailable', b'Service unavailable')
            extra = {} if self.retry_after is None else {'Retry-After': str(self.retry_after)}
            sock.sendall(_response(status, reason, body, 'text/plain', extra))
            return True
        if mode == 'huge':
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
                         b'Content-Length: %d\r\n\r\n' % self.huge_size)
            chunk = b'x' * 65536
            left = self.huge_size
            while left > 0:
                sock.sendall(chunk[:left])
                left -= len(chunk)
            return True
        if mode == 'bad_json':
            sock.sendall(_response(200, 'OK', b'{"ok": tru', 'application/json'))
            return True
        if mode == 'raw':
            sock.sendall(self.raw_response)
            return False
        raise ValueError('mode {0!r} cannot answer a request'.format(mode))


def _response(status: int, reason: str, body: bytes, content_type: str = 'application/json',
              extra: Optional[Mapping[str, str]] = None) -> bytes:
    head = ['HTTP/1.1 {0} {1}'.format(status, reason),
            'Content-Type: ' + content_type,
            'Content-Length: {0}'.format(len(body))]
    head.extend('{0}: {1}'.format(k, v) for k, v in (extra or {}).items())
    return ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + body

