"""The gevent WSGI handler of :class:`napixd.testing.NapixServer`."""

from __future__ import annotations

import socket
from typing import Any, Dict

from gevent.pywsgi import WSGIHandler

__all__ = ['NapixHandler']


class NapixHandler(WSGIHandler):
    """gevent's handler, serving as napixd's own: ``PATH_INFO`` is the path as
    sent, still percent-encoded; each response leaves in one send, on a socket
    without Nagle's delay (else every keep-alive request after the first waits
    for the client's delayed ACK, ~40 ms); connections are counted."""

    def handle(self) -> None:
        server = self.server.napix  # the NapixServer
        server.connections_opened += 1
        server.open_connections += 1
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            WSGIHandler.handle(self)
        finally:
            server.open_connections -= 1

    def get_environ(self) -> Dict[str, Any]:
        environ: Dict[str, Any] = WSGIHandler.get_environ(self)
        environ['PATH_INFO'] = self.path.partition('?')[0]
        return environ

    def _write_with_headers(self, data: bytes) -> None:
        # gevent sends the head, then the body: gather both into one send.
        parts: list[bytes] = []
        self._sendall = parts.append
        try:
            WSGIHandler._write_with_headers(self, data)
        finally:
            del self._sendall
        self._sendall(b''.join(parts))
