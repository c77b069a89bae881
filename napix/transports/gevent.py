"""The default transport: HTTP/1.1 over gevent sockets, parsed by httptools.

It is cooperative without monkey patching: it uses :mod:`gevent.socket`
directly, so many greenlets can wait for answers at once in a process that
never called ``gevent.monkey.patch_all()``. Its kept-alive sockets live in the
thread's :class:`~napix.transports.sockets.SocketPool`, shared by every
transport to the same destination.
"""

from __future__ import annotations

import _socket
import errno
import socket
import ssl
from sys import intern
from typing import Hashable, Optional, Tuple

import gevent.socket as gsocket

from napix import __version__
from napix.defaults import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT
from napix.exceptions import ConnectError, RemoteProtocolError, ResponseTooLarge, Timeout
from napix.models import IDEMPOTENT_METHODS, Request, Response
from napix.tls import Cert, client_context, context_key
from napix.tls import Verify as Verify  # importable from here, as before
from napix.transports import http11
from napix.transports.sockets import SocketPool, socket_pool

__all__ = ['GeventTransport']

_USER_AGENT = 'napix/{0}'.format(__version__)
_DEFAULT_HEAD = 'Accept: application/json\r\nUser-Agent: {0}\r\n'.format(_USER_AGENT)


class GeventTransport(object):
    """HTTP/1.1 with keep-alive to one server, on gevent sockets.

    :param scheme: ``'http'`` or ``'https'``.
    :param name: the server's name, used for TLS (SNI and certificate checks).
    :param port: the server's port.
    :param address: where to connect, when not *name* (a ``resolve`` override);
        a numeric address (IPv4 or IPv6) skips name resolution.
    :param connect_port: the port to connect to, when not *port*.
    :param timeout: ``(connect, read)`` in seconds; *read* bounds the whole
        exchange once connected, however slowly the server drips its bytes. A
        request's own ``timeout`` overrides it.
    :param verify: ``True``, ``False``, the path to a CA bundle or an
        :class:`ssl.SSLContext` (``https`` only; see :mod:`napix.tls`).
    :param cert: ``None``, the path to a PEM client certificate with its key,
        or a ``(certificate, key)`` pair of paths (``https`` only).
    :param max_response_size: bytes; a longer response raises
        :exc:`~napix.exceptions.ResponseTooLarge` and its socket is closed.
    :param idle_timeout: seconds an idle socket is kept for reuse.

    Idle sockets are reused, the most recently used first, once checked clean;
    an idempotent request (GET, HEAD, PUT, DELETE, ...) that met a kept-alive
    socket the server had just closed is sent once more on a new one; a POST
    is never sent twice. This transport does not limit how many requests are
    in flight: :class:`~napix.connection.Connection` does.
    """

    __slots__ = ('scheme', 'name', 'port', 'address', 'connect_port', 'timeout',
                 'max_response_size', 'idle_timeout', '_ssl_context', '_family', 'key')

    def __init__(self, scheme: str, name: str, port: int, address: Optional[str] = None,
                 connect_port: Optional[int] = None,
                 timeout: Tuple[float, float] = DEFAULT_TIMEOUT,
                 verify: Verify = True, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, cert: Cert = None) -> None:
        self.scheme = scheme
        self.name = name
        self.port = port
        # Interned: the transports of many hosts resolved to one address share it.
        self.address = intern(address or name.strip('[]'))
        self.connect_port = connect_port or port
        self.timeout = timeout
        self.max_response_size = max_response_size
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)) \
                or idle_timeout < 0:
            raise ValueError('idle_timeout must be a number of seconds >= 0, not {0!r}'.format(
                idle_timeout))
        self.idle_timeout = float(idle_timeout)
        tls = context_key(verify, cert)
        self._ssl_context = client_context(verify, cert) if scheme == 'https' else None
        self._family: Optional[int] = _numeric_family(self.address)
        # Transports that would make interchangeable sockets share them.
        self.key: Hashable = (scheme, self.address, self.connect_port, name,
                              tls if scheme == 'https' else None)

    @property
    def _target(self) -> str:
        """Where it connects, ``address:port``, for messages."""
        address = '[{0}]'.format(self.address) if ':' in self.address else self.address
        return '{0}:{1}'.format(address, self.connect_port)

    @property
    def connect_timeout(self) -> float:
        return self.timeout[0]

    @property
    def read_timeout(self) -> float:
        return self.timeout[1]

    def handle(self, request: Request) -> Response:
        """Send the signed *request*; return the raw :class:`~napix.models.Response`."""
        payload = self._serialize(request)
        method = request.method
        timeout = request.timeout or self.timeout
        sockets = socket_pool()
        key = self.key
        conn = sockets.checkout(key)
        reused = conn is not None
        if conn is None:
            conn = self._connect(sockets, request, timeout[0])
        try:
            result = conn.exchange(payload, self.max_response_size, method == 'HEAD',
                                   timeout[1])
        except http11.ServerClosed as error:
            sockets.discard(conn)
            if not (reused and error.received == 0 and method in IDEMPOTENT_METHODS):
                raise RemoteProtocolError(request, str(error)) from None
            conn = self._connect(sockets, request, timeout[0])
            try:
                result = conn.exchange(payload, self.max_response_size, method == 'HEAD',
                                       timeout[1])
            except BaseException as error:
                sockets.discard(conn)
                raise self._translate(request, error, timeout[1])
        except BaseException as error:
            sockets.discard(conn)
            raise self._translate(request, error, timeout[1])
        if conn.keep_alive and self.idle_timeout > 0:
            sockets.checkin(key, conn, self.idle_timeout)
        else:
            sockets.discard(conn)
        status, reason, head, body, elapsed = result
        return Response(status, reason, head, body, request, None, elapsed)

    def _translate(self, request: Request, error: BaseException,
                   read_timeout: float) -> BaseException:
        if isinstance(error, socket.timeout):
            return Timeout(request, 'no complete response within {0:g} s (from {1})'.format(
                read_timeout, self._target))
        if isinstance(error, http11.ServerClosed):
            return RemoteProtocolError(request, str(error))
        if isinstance(error, http11.ResponseTooLarge):
            return ResponseTooLarge(request, 'the response is larger than {0} bytes'.format(
                self.max_response_size))
        if isinstance(error, http11.InvalidResponse):
            return RemoteProtocolError(request, 'invalid HTTP response ({0})'.format(error))
        if isinstance(error, OSError):
            return RemoteProtocolError(request, 'socket error ({0})'.format(
                error.strerror or error))
        return error  # GreenletExit, KeyboardInterrupt, bugs: not ours to wrap

    def _connect(self, sockets: SocketPool, request: Request,
                 timeout: float) -> http11.HTTP11Connection:
        sockets.reserve()
        sock = None
        try:
            if self._family is not None and self._ssl_context is None:
                # The common case, cheapest: no name to resolve, no TLS.
                sock = _RealSocket(self._family, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = http11.HTTP11Connection(sock, sockets.spares)
                try:
                    conn.connect((self.address, self.connect_port), timeout)
                except BaseException:
                    conn.close()
                    sock = None
                    raise
                return conn
            if self._family is not None:
                sock = gsocket.socket(self._family, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect((self.address, self.connect_port))
            else:
                sock = gsocket.create_connection((self.address, self.connect_port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self.name.strip('[]'))
                sock.settimeout(None)  # the exchange's timer bounds it
                return http11.TLSConnection(sock, sockets.spares)
            family = sock.family
            sock = _RealSocket(family, socket.SOCK_STREAM, fileno=sock.detach())
            sock.setblocking(False)
            return http11.HTTP11Connection(sock, sockets.spares)
        except BaseException as error:
            if sock is not None:
                sock.close()
            sockets.release()
            raise self._connect_error(request, error, timeout)

    def _connect_error(self, request: Request, error: BaseException,
                       timeout: float) -> BaseException:
        target = self._target
        if isinstance(error, socket.timeout):
            return Timeout(request, 'could not connect to {0} within {1:g} s'.format(
                target, timeout))
        if isinstance(error, ConnectionRefusedError):
            return ConnectError(request, 'connection refused by {0}'.format(target))
        if isinstance(error, socket.gaierror):
            return ConnectError(request, 'cannot resolve {0} ({1})'.format(
                self.address, error.strerror or error))
        if isinstance(error, (ssl.SSLError, ssl.CertificateError)):
            return ConnectError(request, 'TLS handshake with {0} failed ({1})'.format(
                target, getattr(error, 'verify_message', None) or error.reason or error))
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
            return ConnectError(request, 'cannot connect to {0}: the process has no '
                                'descriptor left (lower napix.transports.sockets.'
                                'set_max_sockets, or raise ulimit -n)'.format(target))
        if isinstance(error, OSError):
            return ConnectError(request, 'cannot connect to {0} ({1})'.format(
                target, error.strerror or error))
        return error

    def _serialize(self, request: Request) -> bytes:
        headers = request.headers
        header_lines = headers.lines()
        body = request.body
        lines = [request.method, ' ', request.url, ' HTTP/1.1\r\nHost: ', request.authority,
                 '\r\n']
        if not header_lines or (len(header_lines) == 1
                                and header_lines[0].startswith('Authorization: ')):
            lines.append(_DEFAULT_HEAD)  # no header, or a signed request's only one
        else:
            if 'accept' not in headers:
                lines.append('Accept: application/json\r\n')
            if 'user-agent' not in headers:
                lines.append('User-Agent: ' + _USER_AGENT + '\r\n')
        for line in header_lines:
            lines.append(line)
            lines.append('\r\n')
        if body is not None:
            lines.append('Content-Length: {0}\r\n\r\n'.format(len(body)))
            return ''.join(lines).encode('utf-8') + body
        if request.method in ('POST', 'PUT', 'PATCH'):
            lines.append('Content-Length: 0\r\n')
        lines.append('\r\n')
        return ''.join(lines).encode('utf-8')

    def close(self) -> None:
        """Close the idle sockets to this transport's destination."""
        socket_pool().close_idle(self.key)

    def __repr__(self) -> str:
        return '<GeventTransport {0}://{1}>'.format(self.scheme, self._target)


# The system's socket, even in a monkey-patched process (the connection waits
# on the hub's watchers itself); the C type, without the Python wrapper that
# socket.socket adds (a Python __init__ and close per connection).
_RealSocket = _socket.socket


def _numeric_family(address: str) -> Optional[int]:
    """The address family of a numeric address, ``None`` for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        return family
    return None

