"""The default transport: HTTP/1.1 over gevent sockets, parsed by httptools.

It is cooperative without monkey patching: it uses :mod:`gevent.socket`
directly, so many greenlets can wait for answers at once in a process that
never called ``gevent.monkey.patch_all()``. Its kept-alive sockets live in the
thread's :class:`~napix.transports.destination.Destination` of its socket key,
shared by every transport to the same destination.
"""

from __future__ import annotations

import _socket
import select
import socket
from sys import intern
from time import perf_counter
from typing import Any, Hashable, NamedTuple, Optional, Tuple

import gevent
import gevent.socket as gsocket

from napix.defaults import (DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_FIELDS,
                            DEFAULT_MAX_HEADER_LINE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT)
from napix.cache import BoundedCache
from napix.checks import check_positive_int, check_seconds
from napix.exceptions import HTTPError
from napix.models import IDEMPOTENT_METHODS, Request, Response
from napix.tls import Cert, client_context, context_key, has_client_cert
from napix.tls import Verify as Verify  # importable from here, as before
from napix.transports.destination import NO_LIMIT, Destination, Slot
from napix.transports.errors import connect_failure, exchange_failure, target
from napix.transports.head import Limits
from napix.transports.http11 import PlainConnection, ServerClosed, SocketConnection, TLSConnection
from napix.transports.sockets import socket_pool
from napix.transports.wire import BODY_METHODS, DEFAULT_BLOCK, DEFAULT_LINES

__all__ = ['GeventTransport', 'SocketKey']


class SocketKey(NamedTuple):
    """Where a socket connects, and with what (:meth:`GeventTransport.key_at`):
    transports whose keys are equal make interchangeable sockets."""

    scheme: str
    #: Where to connect: a numeric address or a name to resolve.
    address: str
    #: The port to connect to.
    port: int
    #: The server's name (TLS: SNI and the certificate's checks).
    name: str
    #: The TLS settings (:func:`napix.tls.context_key`); ``None`` for http.
    tls: Optional[Hashable]


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
        self.limits = Limits(
            check_positive_int('max_response_size', max_response_size),
            check_positive_int('max_head_size', max_head_size),
            check_positive_int('max_header_line', max_header_line),
            check_positive_int('max_header_fields', max_header_fields))
        self.idle_timeout = check_seconds('idle_timeout', idle_timeout, zero_ok=True)
        self._tls = (context_key(verify, cert), client_context(verify, cert))
        self._place(scheme, name, port, address, connect_port)

    def _place(self, scheme: str, name: str, port: int, address: Optional[str],
               connect_port: Optional[int]) -> None:
        """Set what depends on the server: its socket key, and where it connects."""
        self.scheme = scheme
        self.name = name
        self.port = port
        key = self.key = self.key_at(scheme, name, port, address, connect_port)
        self.address, self.connect_port = key.address, key.port

    def key_at(self, scheme: str, name: str, port: int, address: Optional[str] = None,
               connect_port: Optional[int] = None) -> SocketKey:
        """The socket key of a server (as :meth:`for_server` takes it) with
        this transport's options: transports that would make interchangeable
        sockets share them. It says where a socket connects: ``(scheme,
        address, port, name, TLS settings)``."""
        # Interned: the many hosts of a fan-out resolved to one address share it.
        return SocketKey(scheme, intern(address or name.strip('[]')), connect_port or port, name,
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
            slot = Slot(socket_pool().destination(self.key), NO_LIMIT, self.idle_timeout)
            try:
                return self.handle(request, slot)
            finally:
                slot.release()
        destination = slot.destination
        payload = serialize(request)
        timeout = request.timeout or self.timeout
        # The socket kept from the slot's last request while it is clean,
        # else the destination's most recently used clean idle one, or none.
        conn = slot.conn
        if conn is None:
            conn = destination.checkout()
        else:
            slot.conn = None
            if conn.readable():  # closed by the server, or stray bytes
                destination.discard(conn)
                conn = destination.checkout()
        while True:  # a second attempt only when a kept-alive socket was stale
            reused = conn is not None
            if conn is None:
                conn = self._connect(destination, request, timeout[0])
            try:
                response = conn.exchange(request, payload, self.limits, request.method == 'HEAD',
                                         timeout[1])
                break
            except BaseException as error:
                destination.discard(conn)  # closed first, then its place given back
                if reused and _stale(error, request.method):
                    conn = None  # sent once more, on a new socket
                    continue
                raise self._exchange_failure(request, error, timeout[1],
                                             destination.key,  # type: ignore[arg-type]
                                             fresh=not reused)
        if not reused:  # timings: how the socket was made, after the exchange's marks
            response._marks += conn.opened  # type: ignore[operator,assignment]
        if conn.keep_alive and slot.idle_timeout:
            slot.conn = conn  # checked in when the slot is released
        else:
            destination.discard(conn)
        return response

    def _exchange_failure(self, request: Request, error: BaseException, read_timeout: float,
                          key: SocketKey, fresh: bool) -> BaseException:
        """:func:`~napix.transports.errors.exchange_failure` on a socket of *key*
        (*fresh*: its first exchange)."""
        return exchange_failure(request, error, key.address, key.port, read_timeout,
                                fresh_tls=fresh and key.scheme == 'https',
                                has_cert=has_client_cert(key.tls))

    def _connect(self, destination: Destination, request: Request,
                 timeout: float) -> SocketConnection:
        """A new socket to where *destination*'s key says, within *timeout*
        seconds; the place it takes in the thread's socket pool is given back
        if it cannot be made."""
        key: SocketKey = destination.key  # type: ignore[assignment]
        sockets = destination.sockets
        sockets.reserve()
        began = perf_counter()  # timings: the first of the socket's opened marks
        try:
            family = _numeric_family(key.address)
            if family is not None and key.scheme == 'http':
                return _connect_plain(key, family, sockets.spares, timeout, began)
            # A name to resolve, or a TLS handshake: the connect timeout
            # bounds the whole of it, however the server trickles its bytes.
            with gevent.Timeout(timeout, socket.timeout):
                return self._connect_cooperative(key, family, sockets.spares, began)
        except BaseException as error:
            sockets.release()
            failure = connect_failure(request, error, key.address, key.port, timeout,
                                      has_client_cert(key.tls))
            if isinstance(failure, HTTPError):  # timings: a failed connect is all connect
                failure._opened = (began, began, failure._made, failure._made)
            raise failure

    def _connect_cooperative(self, key: SocketKey, family: Optional[int],
                             spares: Any, began: float) -> SocketConnection:
        """A socket connected by gevent (the name resolved, the TLS handshake
        made, if need be): a :class:`~napix.transports.http11.TLSConnection`
        for https, else its descriptor as a plain one's; its ``opened``
        marks (:mod:`napix.timings`) from *began*."""
        sock = None
        resolved = began
        try:
            if family is not None:
                sock = gsocket.socket(family, socket.SOCK_STREAM)
                sock.connect((key.address, key.port))
            else:
                addresses = gsocket.getaddrinfo(key.address, key.port, 0, socket.SOCK_STREAM)
                resolved = perf_counter()
                sock = _connect_first(addresses)
            connected = perf_counter()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if key.scheme == 'https':
                # The key holds this transport's TLS settings: its context fits.
                sock = self._tls[1].wrap_socket(sock, server_hostname=key.name.strip('[]'))
                conn: SocketConnection = TLSConnection(sock, spares)
                conn.opened = (began, resolved, connected, perf_counter())
                return conn
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        plain = _RealSocket(sock.family, socket.SOCK_STREAM, fileno=sock.detach())
        plain.setblocking(False)
        conn = PlainConnection(plain, spares)
        conn.opened = (began, resolved, connected, connected)
        return conn

    def close(self) -> None:
        """Close the idle sockets to this transport's destination."""
        socket_pool().close_idle(self.key)

    def __repr__(self) -> str:
        return '<GeventTransport {0}://{1}>'.format(self.scheme,
                                                 target(self.address, self.connect_port))


def serialize(request: Request) -> bytes:
    """*request* as HTTP/1.1 bytes: its line, ``Host``, the default headers
    it does not override, its own, and its body's framing."""
    method = request.method
    body = request.body
    head = (f'{method} {request.url} HTTP/1.1\r\nHost: {request.authority}\r\n'
            f'{request.headers.wire(DEFAULT_LINES, DEFAULT_BLOCK)}')
    if body is not None:
        return f'{head}Content-Length: {len(body)}\r\n\r\n'.encode() + body
    if method in BODY_METHODS:
        return (head + 'Content-Length: 0\r\n\r\n').encode()
    return (head + '\r\n').encode()


def _stale(error: BaseException, method: str) -> bool:
    """*error* says a kept-alive socket had been closed by the server while
    idle (before a byte of the answer), and the request may be sent again."""
    return (isinstance(error, ServerClosed) and error.received == 0
            and method in IDEMPOTENT_METHODS)


def _connect_plain(key: SocketKey, family: int, spares: Any, timeout: float,
                   began: float) -> PlainConnection:
    """The common case, cheapest: no name to resolve, no TLS (its
    ``opened`` marks from *began*: nothing resolved, no handshake)."""
    sock = _RealSocket(family, _NONBLOCKING_STREAM)
    try:
        if not _SOCK_NONBLOCK:
            sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    conn = PlainConnection(sock, spares, _CONNECTING)
    try:
        conn.connect((key.address, key.port), timeout)
    except BaseException:
        conn.close()
        raise
    connected = perf_counter()
    conn.opened = (began, began, connected, connected)
    return conn


def _connect_first(addresses: Any) -> Any:
    """A gevent socket connected to the first of *addresses* (from
    ``getaddrinfo``) that accepts, as :func:`gevent.socket.create_connection`
    does once it resolved the name: resolved apart, the timings tell
    resolving from connecting."""
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


# The system's socket, even in a monkey-patched process (the connection waits
# on the hub's watchers itself); the C type, without the Python wrapper that
# socket.socket adds (a Python __init__ and close per connection).
_RealSocket = _socket.socket
# Made non-blocking by socket() itself where the system can (Linux): no ioctl.
_SOCK_NONBLOCK: int = getattr(socket, 'SOCK_NONBLOCK', 0)
_NONBLOCKING_STREAM = socket.SOCK_STREAM | _SOCK_NONBLOCK
# What a connecting socket's poll asks: writable (connected), or readable.
_CONNECTING = select.POLLOUT | select.POLLIN


def _find_family(address: str) -> Optional[int]:
    """The address family of a numeric address, ``None`` for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        return family
    return None


# A fan-out's hosts share a few addresses: each one's family found once.
_families: BoundedCache[str, Optional[int]] = BoundedCache(_find_family, longest=None)
_numeric_family = _families.__getitem__

