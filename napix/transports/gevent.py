"""The default transport: HTTP/1.1 over gevent sockets, parsed by httptools.

It is cooperative without monkey patching: it uses :mod:`gevent.socket`
directly, so many greenlets can wait for answers at once in a process that
never called ``gevent.monkey.patch_all()``. Its kept-alive sockets live in the
thread's :class:`~napix.transports.destination.Destination` of its socket key,
shared by every transport to the same destination.
"""

from __future__ import annotations

import _socket
import errno
import select
import socket
import ssl
from sys import intern
from time import perf_counter
from typing import Any, Dict, Hashable, Optional, Tuple

import gevent
import gevent.socket as gsocket

from napix import __version__
from napix.defaults import (DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_FIELDS,
                            DEFAULT_MAX_HEADER_LINE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT)
from napix.checks import check_positive_int
from napix.exceptions import (ConnectError, HTTPError, RemoteProtocolError, ResponseTooLarge,
                              Timeout)
from napix.models import IDEMPOTENT_METHODS, Request, Response
from napix.tls import Cert, client_context, context_key
from napix.tls import Verify as Verify  # importable from here, as before
from napix.transports import http11
from napix.transports.destination import Destination, Slot
from napix.transports.sockets import socket_pool

__all__ = ['GeventTransport', 'SocketKey']

#: Where a socket connects, and with what: ``(scheme, address, port, server
#: name, TLS settings)`` (:meth:`GeventTransport.key_at`).
SocketKey = Tuple[str, str, int, str, Optional[Hashable]]

_USER_AGENT = 'napix/{0}'.format(__version__)
# Sent unless the request has its own.
_DEFAULT_HEADERS = {'accept': 'Accept: application/json',
                    'user-agent': 'User-Agent: ' + _USER_AGENT}
_DEFAULT_BLOCK = ''.join(line + '\r\n' for line in _DEFAULT_HEADERS.values())
_BODY_METHODS = frozenset(['POST', 'PUT', 'PATCH'])


class GeventTransport(object):
    """HTTP/1.1 with keep-alive to one server, on gevent sockets.

    :param scheme: ``'http'`` or ``'https'``.
    :param name: the server's name, used for TLS (SNI and certificate checks).
    :param port: the server's port.
    :param address: where to connect, when not *name* (a ``resolve`` override);
        a numeric address (IPv4 or IPv6) skips name resolution.
    :param connect_port: the port to connect to, when not *port*.
    :param timeout: ``(connect, read)`` in seconds. *connect* bounds the TCP
        connect and the TLS handshake together; *read* bounds the whole
        exchange once connected, however slowly the server drips its bytes. A
        request's own ``timeout`` overrides it.
    :param verify: ``True``, ``False``, the path to a CA bundle or an
        :class:`ssl.SSLContext` (``https`` only; see :mod:`napix.tls`).
    :param cert: ``None``, the path to a PEM client certificate with its key,
        or a ``(certificate, key)`` pair of paths (``https`` only).
    :param max_response_size: bytes; a longer response raises
        :exc:`~napix.exceptions.ResponseTooLarge` and its socket is closed.
    :param max_head_size: bytes of a response head (status line to blank line);
    :param max_header_line: bytes of one of its lines;
    :param max_header_fields: its header fields: a response over one of
        these raises :exc:`~napix.exceptions.ResponseTooLarge`, which names it
        (defaults: :mod:`napix.defaults`).
    :param idle_timeout: seconds an idle socket is kept for reuse.

    Idle sockets are reused, the most recently used first, once checked clean;
    an idempotent request (GET, HEAD, PUT, DELETE, ...) that met a kept-alive
    socket the server had just closed is sent once more on a new one; a POST
    is never sent twice. This transport does not limit how many requests are
    in flight: :class:`~napix.connection.Connection` does, with the budget of
    the same :class:`~napix.transports.destination.Destination`.
    """

    __slots__ = ('scheme', 'name', 'port', 'address', 'connect_port', 'timeout',
                 'limits', 'idle_timeout', 'key', '_tls')

    def __init__(self, scheme: str, name: str, port: int, address: Optional[str] = None,
                 connect_port: Optional[int] = None,
                 timeout: Tuple[float, float] = DEFAULT_TIMEOUT,
                 verify: Verify = True, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, cert: Cert = None,
                 max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
                 max_header_line: int = DEFAULT_MAX_HEADER_LINE,
                 max_header_fields: int = DEFAULT_MAX_HEADER_FIELDS) -> None:
        self.timeout = timeout
        self.limits = http11.Limits(
            check_positive_int('max_response_size', max_response_size),
            check_positive_int('max_head_size', max_head_size),
            check_positive_int('max_header_line', max_header_line),
            check_positive_int('max_header_fields', max_header_fields))
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)) \
                or idle_timeout < 0:
            raise ValueError('idle_timeout must be a number of seconds >= 0, not {0!r}'.format(
                idle_timeout))
        self.idle_timeout = float(idle_timeout)
        self._tls = (context_key(verify, cert), client_context(verify, cert))
        self._place(scheme, name, port, address, connect_port)

    def _place(self, scheme: str, name: str, port: int, address: Optional[str],
               connect_port: Optional[int]) -> None:
        """Set what depends on the server: its socket key, and where it connects."""
        self.scheme = scheme
        self.name = name
        self.port = port
        key = self.key = self.key_at(scheme, name, port, address, connect_port)
        self.address, self.connect_port = key[1], key[2]

    def key_at(self, scheme: str, name: str, port: int, address: Optional[str] = None,
               connect_port: Optional[int] = None) -> SocketKey:
        """The socket key of a server (as :meth:`for_server` takes it) with
        this transport's options: transports that would make interchangeable
        sockets share them. It says where a socket connects: ``(scheme,
        address, port, name, TLS settings)``."""
        # Interned: the many hosts of a fan-out resolved to one address share it.
        return (scheme, intern(address or name.strip('[]')), connect_port or port, name,
                self._tls[0] if scheme == 'https' else None)

    def for_server(self, scheme: str, name: str, port: int, address: Optional[str] = None,
                   connect_port: Optional[int] = None) -> 'GeventTransport':
        """A transport to another server with this one's options (checked
        already): what a pool makes for a host's client."""
        transport = GeventTransport.__new__(GeventTransport)
        transport.timeout = self.timeout
        transport.limits = self.limits
        transport.idle_timeout = self.idle_timeout
        transport._tls = self._tls
        transport._place(scheme, name, port, address, connect_port)
        return transport

    @property
    def max_response_size(self) -> int:
        return self.limits.max_response_size

    def handle(self, request: Request, slot: Optional[Slot] = None) -> Response:
        """Send the signed *request*; return the raw :class:`~napix.models.Response`.

        *slot* is the caller's place in the destination (see
        :meth:`napix.connection.Connection.slot`): the socket it keeps from
        its previous request is used first, and this request's is kept there.
        Without one, the socket is checked in at once. A new socket connects
        where the slot's destination says (its key, from :meth:`key_at`):
        one transport may serve the destinations of many servers, with its
        options."""
        if slot is None:
            slot = Slot(socket_pool().destination(self.key), None, self.idle_timeout)
            try:
                return self.handle(request, slot)
            finally:
                slot.release()
        destination = slot.destination
        method = request.method
        body = request.body
        head = (f'{method} {request.url} HTTP/1.1\r\nHost: {request.authority}\r\n'
                f'{request.headers.wire(_DEFAULT_HEADERS, _DEFAULT_BLOCK)}')
        if body is not None:
            payload = f'{head}Content-Length: {len(body)}\r\n\r\n'.encode() + body
        elif method in _BODY_METHODS:
            payload = (head + 'Content-Length: 0\r\n\r\n').encode()
        else:
            payload = (head + '\r\n').encode()
        timeout = request.timeout or self.timeout
        conn = slot.conn
        if conn is not None:
            slot.conn = None
            if conn.poller.poll(0):  # closed by the server, or stray bytes
                destination.discard(conn)
                conn = destination.checkout()
        else:
            conn = destination.checkout()
        if conn is None:
            conn = self._connect(destination, request, timeout[0])
            reused = False
        else:
            reused = True
        try:
            response = conn.exchange(request, payload, self.limits, method == 'HEAD',
                                     timeout[1])
            if not reused:
                response._opened = conn.opened  # timings: how the socket was made
        except http11.ServerClosed as error:
            destination.discard(conn)
            if not (reused and error.received == 0 and method in IDEMPOTENT_METHODS):
                raise RemoteProtocolError(request, str(error)) from None
            conn = self._connect(destination, request, timeout[0])
            try:
                response = conn.exchange(request, payload, self.limits, method == 'HEAD',
                                         timeout[1])
                response._opened = conn.opened
            except BaseException as error:
                destination.discard(conn)
                raise _translate(request, error, timeout[1], destination.key)
        except BaseException as error:
            destination.discard(conn)
            raise _translate(request, error, timeout[1], destination.key)
        if conn.keep_alive and slot.idle_timeout:
            slot.conn = conn  # checked in when the slot is released
        else:
            destination.discard(conn)
        return response

    def _connect(self, destination: Destination, request: Request,
                 timeout: float) -> http11.HTTP11Connection:
        """A new socket to where *destination*'s key says."""
        scheme, address, port, name = destination.key[:4]  # type: ignore[index]
        family = _numeric_family(address)
        pool = destination.pool
        pool.reserve()
        sock = None
        began = resolved = perf_counter()  # timings: (began, resolved, connected, secured)
        try:
            if family is not None and scheme == 'http':
                # The common case, cheapest: no name to resolve, no TLS.
                sock = _RealSocket(family, _NONBLOCKING_STREAM)
                if not _SOCK_NONBLOCK:
                    sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = http11.HTTP11Connection(sock, pool.spares, _CONNECTING)
                try:
                    conn.connect((address, port), timeout)
                except BaseException:
                    conn.close()
                    sock = None
                    raise
                connected = perf_counter()
                conn.opened = (began, began, connected, connected)
                return conn
            # A name to resolve, or a TLS handshake: the connect timeout
            # bounds the whole of it, however the server trickles its bytes.
            with gevent.Timeout(timeout, socket.timeout):
                if family is not None:
                    sock = gsocket.socket(family, socket.SOCK_STREAM)
                    sock.connect((address, port))
                else:
                    addresses = gsocket.getaddrinfo(address, port, 0, socket.SOCK_STREAM)
                    resolved = perf_counter()
                    sock = _connect_first(addresses)
                connected = perf_counter()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == 'https':
                    # The key holds this transport's TLS settings: its context fits.
                    sock = self._tls[1].wrap_socket(sock, server_hostname=name.strip('[]'))
                    tls_conn = http11.TLSConnection(sock, pool.spares)
                    tls_conn.opened = (began, resolved, connected, perf_counter())
                    return tls_conn
            family = sock.family
            sock = _RealSocket(family, socket.SOCK_STREAM, fileno=sock.detach())
            sock.setblocking(False)
            conn = http11.HTTP11Connection(sock, pool.spares)
            conn.opened = (began, resolved, connected, connected)
            return conn
        except BaseException as error:
            if sock is not None:
                sock.close()
            pool.release()
            failure = _connect_error(request, error, timeout, address, port)
            if isinstance(failure, HTTPError):  # timings: how far the connect went
                failure._opened = (began, resolved, failure._made, failure._made)
            raise failure
    def close(self) -> None:
        """Close the idle sockets to this transport's destination."""
        socket_pool().close_idle(self.key)

    def __repr__(self) -> str:
        return '<GeventTransport {0}://{1}>'.format(self.scheme,
                                                 _target(self.address, self.connect_port))


def _connect_first(addresses: Any) -> Any:
    """A gevent socket connected to the first of *addresses* (from
    ``getaddrinfo``) that accepts, as :func:`gevent.socket.create_connection`
    does, but after a resolution of its own: timings tell it apart."""
    error: Optional[OSError] = None
    for family, kind, proto, _, where in addresses:
        sock = gsocket.socket(family, kind, proto)
        try:
            sock.connect(where)
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error if error is not None else OSError('getaddrinfo returned no address')


def _target(address: str, port: int) -> str:
    """``address:port``, for messages."""
    return '{0}:{1}'.format('[{0}]'.format(address) if ':' in address else address, port)


def _translate(request: Request, error: BaseException, read_timeout: float,
               key: Any) -> BaseException:
    """The :exc:`~napix.exceptions.HTTPError` of an exchange that failed
    with *error*, on a socket of the destination of *key*."""
    if isinstance(error, socket.timeout):
        return Timeout(request, 'no complete response within {0:g} s (from {1})'.format(
            read_timeout, _target(key[1], key[2])))
    if isinstance(error, http11.ServerClosed):
        return RemoteProtocolError(request, str(error))
    if isinstance(error, http11.ResponseTooLarge):
        return ResponseTooLarge(request, str(error))
    if isinstance(error, http11.InvalidResponse):
        return RemoteProtocolError(request, 'invalid HTTP response ({0})'.format(error))
    if isinstance(error, OSError):
        return RemoteProtocolError(request, 'socket error ({0})'.format(
            error.strerror or error))
    return error  # GreenletExit, KeyboardInterrupt, bugs: not ours to wrap


def _connect_error(request: Request, error: BaseException, timeout: float, address: str,
                   port: int) -> BaseException:
    """The :exc:`~napix.exceptions.HTTPError` of a connect to *address*
    and *port* that failed with *error*."""
    target = _target(address, port)
    if isinstance(error, socket.timeout):
        return Timeout(request, 'could not connect to {0} within {1:g} s'.format(
            target, timeout))
    if isinstance(error, ConnectionRefusedError):
        return ConnectError(request, 'connection refused by {0}'.format(target))
    if isinstance(error, socket.gaierror):
        return ConnectError(request, 'cannot resolve {0} ({1})'.format(
            address, error.strerror or error))
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


# The system's socket, even in a monkey-patched process (the connection waits
# on the hub's watchers itself); the C type, without the Python wrapper that
# socket.socket adds (a Python __init__ and close per connection).
_RealSocket = _socket.socket
# Made non-blocking by socket() itself where the system can (Linux): no ioctl.
_SOCK_NONBLOCK: int = getattr(socket, 'SOCK_NONBLOCK', 0)
_NONBLOCKING_STREAM = socket.SOCK_STREAM | _SOCK_NONBLOCK
# What a connecting socket's poll asks: writable (connected), or readable.
_CONNECTING = select.POLLOUT | select.POLLIN


_families: Dict[str, Optional[int]] = {}  # a fan-out's hosts share a few addresses


def _numeric_family(address: str) -> Optional[int]:
    """The address family of a numeric address, ``None`` for a name."""
    if address in _families:
        return _families[address]
    found = None
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        found = family
        break
    if len(_families) >= 4096:
        _families.clear()
    _families[address] = found
    return found

