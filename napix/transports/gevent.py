"""The default transport: HTTP/1.1 over gevent sockets, parsed by httptools.

It is cooperative without monkey patching: it uses :mod:`gevent.socket`
directly, so many greenlets can wait for answers at once in a process that
never called ``gevent.monkey.patch_all()``.
"""

import ipaddress
import select
import socket
import ssl
from collections import deque

import gevent.socket as gsocket
import gevent.ssl as gssl
from gevent import get_hub, getcurrent
from gevent.lock import BoundedSemaphore
from httptools import HttpParserError, HttpResponseParser

from napix import __version__
from napix.connection import IDEMPOTENT_METHODS, Headers, Response, parse_head
from napix.exceptions import ConnectError, RemoteProtocolError, ResponseTooLarge, Timeout

__all__ = ['GeventTransport']


_USER_AGENT = 'napix/{0}'.format(__version__)
_RECV_SIZE = 65536


class _ServerClosed(Exception):
    """The server closed or reset the socket; *received* is how many response
    bytes came first (0 means the request may not have been read at all)."""

    def __init__(self, received, cause):
        Exception.__init__(self, cause)
        self.received = received


class _TooLarge(Exception):
    pass


class _TrailingData(Exception):
    """The server sent more than the response it announced."""


class _TimedOut(Exception):
    """Thrown into the greenlet by an exchange's timer."""


class _Socket(object):
    """One socket to the server and the parser reading its responses.

    The object is the parser's callback protocol; its state is reset for
    each exchange. *sock* is a plain non-blocking socket, waited on through
    this socket's own read and write watchers: waiting for readiness before
    ``recv`` costs less than a ``recv`` that fails with ``EAGAIN`` first. One
    timer per socket, restarted for each exchange, bounds it to *timeout*
    seconds.
    """

    __slots__ = ('sock', 'parser', 'reason', 'headers', 'chunks', 'complete', 'keep_alive',
                 'headers_done', 'head_only', 'hub', 'reader', 'writer',
                 'timer')

    def __init__(self, sock, timeout):
        self.sock = sock
        self.parser = HttpResponseParser(self)
        self.hub = hub = get_hub()
        fileno = sock.fileno()
        self.reader = hub.loop.io(fileno, 1)
        self.writer = hub.loop.io(fileno, 2)
        self.timer = hub.loop.timer(timeout)

    def _send(self, payload):
        sock = self.sock
        try:
            sent = sock.send(payload)
        except BlockingIOError:
            sent = 0
        if sent < len(payload):
            view = memoryview(payload)
            while sent < len(payload):
                self.hub.wait(self.writer)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    pass

    def _recv(self):
        while True:
            self.hub.wait(self.reader)
            try:
                return self.sock.recv(_RECV_SIZE)
            except BlockingIOError:
                pass

    # httptools callbacks. The status line and headers are not taken from
    # callbacks (one Python call per header): once httptools has validated
    # them, _parse_head() reads them from the bytes at once.
    def on_headers_complete(self):
        self.headers_done = True
        if self.head_only:
            self.complete = True
            self.keep_alive = False

    def on_body(self, data):
        self.chunks.append(data)

    def on_message_begin(self):
        if self.complete:  # bytes after the response: stop, never reuse the socket
            raise _TrailingData()

    def on_message_complete(self):
        self.complete = True
        # Read it here: once feed_data() returns, the parser has reset.
        self.keep_alive = self.parser.should_keep_alive()

    def exchange(self, payload, limit, head_only):
        """Send *payload*, read one response; return ``(status, reason,
        headers, body)`` and leave ``keep_alive`` set."""
        self.reason = ''
        self.headers = None  # set by _parse_head()
        self.chunks = []
        head = []  # what was received until the end of the headers
        self.complete = self.keep_alive = self.headers_done = False
        self.head_only = head_only
        recv = self._recv
        feed = self.parser.feed_data
        received = 0
        timer = self.timer
        timer.start(getcurrent().throw, _TimedOut, update=True)
        try:
            self._send(payload)
            while not self.complete:
                data = recv()
                if not data:
                    if self.headers_done and not head_only:
                        self._parse_head(head)
                        headers = parse_head(self.headers)
                        if not ('content-length' in headers
                                or 'chunked' in headers.get('transfer-encoding', '')):
                            break  # a body delimited by the end of the connection
                    raise _ServerClosed(received, 'the server closed the connection '
                                        + ('before answering' if not received
                                           else 'in the middle of the response'))
                received += len(data)
                if received > limit:
                    raise _TooLarge()
                if not self.headers_done:
                    head.append(data)
                try:
                    feed(data)
                except HttpParserError:
                    if not self.complete:
                        raise
                    self.keep_alive = False
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as error:
            raise _ServerClosed(received, 'the connection was reset ({0})'.format(
                error.strerror or type(error).__name__)) from None
        except _TimedOut:
            raise socket.timeout() from None
        finally:
            timer.stop()
        if self.headers_done:
            status = self.parser.get_status_code()
            self._parse_head(head)
        else:
            status, self.headers = None, Headers()
        # A HEAD response has no body, even if the server sent one anyway.
        body = b'' if head_only else b''.join(self.chunks)
        return status, self.reason, self.headers, body

    def _parse_head(self, chunks):
        """Set ``reason``, and ``headers`` to the response head as text: the
        :class:`~napix.connection.Response` parses it if its headers are read."""
        data = chunks[0] if len(chunks) == 1 else b''.join(chunks)
        # httptools insists on CRLF line ends, so the head ends at the first blank line
        text = data[:data.find(b'\r\n\r\n')].decode('latin-1')
        status_line = text[:text.find('\r\n')].split(' ', 2)
        self.reason = status_line[2] if len(status_line) > 2 else ''
        self.headers = text

    def dropped(self):
        """True when an idle socket was closed by the server (or has stray data)."""
        try:
            readable, _, _ = select.select([self.sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self):
        self.reader.close()
        self.writer.close()
        self.timer.close()
        self.sock.close()


class _TLSSocket(_Socket):
    """A :class:`_Socket` over a gevent ``SSLSocket`` (which waits by itself)."""

    __slots__ = ()

    def _send(self, payload):
        self.sock.sendall(payload)

    def _recv(self):
        return self.sock.recv(_RECV_SIZE)


class GeventTransport(object):
    """HTTP/1.1 with keep-alive to one server, on gevent sockets.

    :param scheme: ``'http'`` or ``'https'``.
    :param name: the server's name, used for TLS (SNI and certificate checks).
    :param port: the server's port.
    :param address: where to connect, when not *name* (a ``resolve`` override);
        a numeric address skips name resolution.
    :param connect_port: the port to connect to, when not *port*.
    :param timeout: ``(connect, read)`` in seconds; *read* bounds the whole
        exchange once connected, however slowly the server drips its bytes.
    :param maxsize: the most sockets open at once; more concurrent requests
        wait for one to be free.
    :param verify: ``True``, ``False`` or the path to a CA bundle (``https`` only).
    :param max_response_size: bytes; a longer response raises
        :exc:`~napix.exceptions.ResponseTooLarge` and its socket is closed.

    Idle sockets are reused, the most recently used first. A kept-alive socket
    that the server closed in the meantime is replaced transparently, and an
    idempotent request (GET, HEAD, PUT, DELETE, ...) that met such a socket is
    sent once more on a new one; a POST is never sent twice.
    """

    def __init__(self, scheme, name, port, address=None, connect_port=None,
                 timeout=(5.0, 30.0), maxsize=10, verify=True,
                 max_response_size=32 * 1024 * 1024):
        self.scheme = scheme
        self.name = name
        self.port = port
        self.address = address or name
        self.connect_port = connect_port or port
        self.connect_timeout, self.read_timeout = timeout
        self.max_response_size = max_response_size
        self._slots = BoundedSemaphore(maxsize)
        self._idle = deque()
        self._ssl_context = _ssl_context(verify) if scheme == 'https' else None
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            self._family = None
        else:
            self._family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        self._target = '{0}:{1}'.format(self.address, self.connect_port)
        self._default_head = 'Accept: application/json\r\nUser-Agent: {0}\r\n'.format(
            _USER_AGENT)

    def handle(self, request):
        """Send the signed *request*; return the raw :class:`~napix.connection.Response`."""
        payload = self._serialize(request)
        method = request.method
        with self._slots:
            conn, reused = self._checkout(request, method not in IDEMPOTENT_METHODS)
            try:
                result = self._exchange(conn, payload, method)
            except _ServerClosed as error:
                conn.close()
                if not (reused and error.received == 0 and method in IDEMPOTENT_METHODS):
                    raise RemoteProtocolError(request, str(error)) from None
                conn = self._connect(request)
                try:
                    result = self._exchange(conn, payload, method)
                except _ServerClosed as error:
                    conn.close()
                    raise RemoteProtocolError(request, str(error)) from None
                except BaseException as error:
                    conn.close()
                    raise self._translate(request, error)
            except BaseException as error:
                conn.close()
                raise self._translate(request, error)
            if conn.keep_alive:
                self._idle.append(conn)
            else:
                conn.close()
        status, reason, headers, body = result
        return Response(status, reason, headers, body, request)

    def _exchange(self, conn, payload, method):
        return conn.exchange(payload, self.max_response_size, method == 'HEAD')

    def _translate(self, request, error):
        if isinstance(error, socket.timeout):
            return Timeout(request, 'no complete response within {0:g} s (from {1})'.format(
                self.read_timeout, self._target))
        if isinstance(error, _TooLarge):
            return ResponseTooLarge(request, 'the response is larger than {0} bytes'.format(
                self.max_response_size))
        if isinstance(error, HttpParserError):
            return RemoteProtocolError(request, 'invalid HTTP response ({0})'.format(error))
        if isinstance(error, OSError):
            return RemoteProtocolError(request, 'socket error ({0})'.format(
                error.strerror or error))
        return error  # GreenletExit, KeyboardInterrupt, bugs: not ours to wrap

    def _checkout(self, request, check_dropped):
        idle = self._idle
        while idle:
            conn = idle.pop()
            if check_dropped and conn.dropped():
                conn.close()
                continue
            return conn, True
        return self._connect(request), False

    def _connect(self, request):
        timeout = self.connect_timeout
        sock = None
        try:
            if self._family is not None:
                sock = gsocket.socket(self._family, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect((self.address, self.connect_port))
            else:
                sock = gsocket.create_connection((self.address, self.connect_port), timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self.name)
                sock.settimeout(None)  # the exchange's timer bounds it
                return _TLSSocket(sock, self.read_timeout)
            family = sock.family
            sock = socket.socket(family, socket.SOCK_STREAM, fileno=sock.detach())
            sock.setblocking(False)
        except BaseException as error:
            if sock is not None:
                sock.close()
            raise self._connect_error(request, error)
        return _Socket(sock, self.read_timeout)

    def _connect_error(self, request, error):
        target = self._target
        if isinstance(error, socket.timeout):
            return Timeout(request, 'could not connect to {0} within {1:g} s'.format(
                target, self.connect_timeout))
        if isinstance(error, ConnectionRefusedError):
            return ConnectError(request, 'connection refused by {0}'.format(target))
        if isinstance(error, socket.gaierror):
            return ConnectError(request, 'cannot resolve {0} ({1})'.format(
                self.address, error.strerror or error))
        if isinstance(error, ssl.SSLError) or isinstance(error, ssl.CertificateError):
            return ConnectError(request, 'TLS handshake with {0} failed ({1})'.format(
                target, getattr(error, 'verify_message', None) or error.reason or error))
        if isinstance(error, OSError):
            return ConnectError(request, 'cannot connect to {0} ({1})'.format(
                target, error.strerror or error))
        return error

    def _serialize(self, request):
        headers = request.headers
        body = request.body
        lines = [request.method, ' ', request.url, ' HTTP/1.1\r\nHost: ', request.authority,
                 '\r\n']
        if len(headers) == 1 and 'Authorization' in headers:  # a signed request
            lines.append(self._default_head)
            lines.append('Authorization: ' + headers['Authorization'] + '\r\n')
        elif headers:
            names = {name.lower() for name in headers}
            if 'accept' not in names:
                lines.append('Accept: application/json\r\n')
            if 'user-agent' not in names:
                lines.append('User-Agent: ' + _USER_AGENT + '\r\n')
            for name, value in headers.items():
                lines.append(name + ': ' + value + '\r\n')
        else:
            lines.append(self._default_head)
        if body is not None:
            lines.append('Content-Length: {0}\r\n\r\n'.format(len(body)))
            return ''.join(lines).encode('utf-8') + body
        if request.method in ('POST', 'PUT', 'PATCH'):
            lines.append('Content-Length: 0\r\n')
        lines.append('\r\n')
        return ''.join(lines).encode('utf-8')

    def close(self):
        """Close the idle sockets."""
        idle = self._idle
        while idle:
            idle.pop().close()

    def __repr__(self):
        return '<GeventTransport {0}://{1}>'.format(self.scheme, self._target)


def _ssl_context(verify):
    if not (verify is True or verify is False or isinstance(verify, str)):
        raise ValueError('verify must be True, False or the path to a CA bundle, not {0!r}'
                         .format(verify))
    # gevent.ssl.create_default_context() is the standard library's: its
    # sockets would block the hub. gevent's own SSLContext makes gevent sockets.
    context = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies name and chain
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile=verify)
    return context

