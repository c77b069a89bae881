"""The gevent WSGI handler and TLS context of :class:`napixd.testing.NapixServer`."""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Dict, Optional, Union

import gevent.ssl as gssl
from gevent.pywsgi import WSGIHandler, WSGIServer

__all__ = ['NapixHandler', 'NapixWSGIServer', 'server_context']

PathArg = Union[str, 'os.PathLike[str]']


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


class NapixWSGIServer(WSGIServer):
    """gevent's WSGI server, for which a failed TLS handshake is the client's
    business: counted in ``failed_handshakes``, never printed as a traceback
    (gevent's hub prints one for each by default)."""

    failed_handshakes = 0

    def wrap_socket_and_handle(self, client_socket: Any, address: Any) -> Any:
        try:
            tls_socket = self.wrap_socket(client_socket, **self.ssl_args)
        except (ssl.SSLError, OSError):
            # The client refused the certificate, had none to give, or left.
            client_socket.close()
            self.failed_handshakes += 1
            return None
        try:
            return self.handle(tls_socket, address)
        finally:
            tls_socket.close()


def server_context(certfile: PathArg, keyfile: Optional[PathArg] = None,
                   client_ca: Optional[PathArg] = None) -> Any:
    """A gevent server context presenting *certfile* (PEM, with its key unless
    *keyfile*); with *client_ca*, clients must present a certificate it issued.

    A file that cannot be used raises :exc:`ValueError` naming it.
    """
    # gevent's SSLContext: its sockets wait cooperatively in the server's hub.
    context = gssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as error:
        raise ValueError('certfile {0!r}{1}: cannot be used as a PEM server certificate '
                         'with its key ({2})'.format(
                             os.fspath(certfile), '' if keyfile is None else
                             ' (key {0!r})'.format(os.fspath(keyfile)),
                             getattr(error, 'strerror', None) or error)) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as error:
            raise ValueError('client_ca {0!r}: cannot be used as a PEM CA bundle ({1})'
                             .format(os.fspath(client_ca),
                                     getattr(error, 'strerror', None) or error)) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
