"""A raw-socket HTTP server for tests: it sends exactly the bytes a test writes.

>>> def handler(conn):
...     while True:
...         request = conn.read_request()
...         if request is None:           # the client closed the socket
...             return
...         conn.send(response(200, b'{"id": 1}'))
>>> with RawServer(handler) as server:      # doctest: +SKIP
...     Connection(server.host).request('GET', '/')

:class:`RawServer` listens on 127.0.0.1 (or ``::1``) on a port the system
chooses, and runs ``handler(conn)`` in an OS thread of its own for each
accepted connection, with plain blocking sockets: it never shares the gevent
hub of the client under test. It records every connection and every byte and
request it received, so tests can assert on what went on the wire, and how
many sockets the client opened.

Every wait is bounded: sockets time out after ``timeout`` seconds (10 by
default) and :meth:`RawServer.stop` closes everything and joins the threads.
"""

import select
import socket
import threading
import time

__all__ = ['RawServer', 'RawConnection', 'RawRequest', 'response', 'ipv6_loopback',
           'free_port']

_MAX_HEAD = 64 * 1024


def free_port():
    """A port of 127.0.0.1 on which nothing listens (bound, then released)."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def ipv6_loopback():
    """True when this machine can listen on ``::1``."""
    if not socket.has_ipv6:
        return False
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        sock.bind(('::1', 0))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def response(status, body=b'', headers=(), reason=None, version='HTTP/1.1',
             content_type='application/json', length=True):
    """The bytes of a response: status line, *headers* (``(name, value)``
    pairs), ``Content-Type`` (unless None), ``Content-Length`` (unless
    *length* is false), a blank line and *body*."""
    if isinstance(body, str):
        body = body.encode('utf-8')
    lines = ['{0} {1} {2}'.format(version, status, reason if reason is not None else 'Reason')]
    if content_type is not None:
        lines.append('Content-Type: ' + content_type)
    lines.extend('{0}: {1}'.format(name, value) for name, value in headers)
    if length:
        lines.append('Content-Length: {0}'.format(len(body)))
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


class RawRequest(object):
    """A request as received: ``method``, ``target`` (the request target, as
    sent), ``version``, ``headers`` (``(name, value)`` pairs, in order, names
    as sent), ``body`` (``bytes``, de-chunked) and ``head`` (the raw bytes
    up to and including the blank line)."""

    def __init__(self, method, target, version, headers, head):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.head = head
        self.body = b''

    def values(self, name):
        """Every value of the header *name* (any case), in order."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def header(self, name):
        """The single value of *name*; AssertionError when absent or repeated."""
        values = self.values(name)
        assert len(values) == 1, '{0}: {1!r} in {2!r}'.format(name, values, self.head)
        return values[0]

    def __repr__(self):
        return '<RawRequest {0} {1}>'.format(self.method, self.target)


class RawConnection(object):
    """One accepted socket: read requests from it, send bytes to it.

    ``index`` is its rank among the server's connections (0 for the first);
    ``requests`` are the requests read from it; ``received`` every byte read.
    """

    def __init__(self, server, sock, index, timeout):
        self.server = server
        self.sock = sock
        self.index = index
        self.timeout = timeout
        self.requests = []
        self.received = bytearray()
        self._buffer = bytearray()
        self.closed = False
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _fill(self):
        """Read more bytes into the buffer; False at EOF (or reset)."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            return False
        if not data:
            return False
        self.received += data
        self._buffer += data
        return True

    def recv_some(self, timeout):
        """The bytes that arrive within *timeout* seconds (``b''`` at EOF or none)."""
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout)
        except (OSError, ValueError):
            return b''
        if not readable or not self._fill():
            return b''
        data, self._buffer = bytes(self._buffer), bytearray()
        return data

    def read_head(self):
        """Read a request's head (not its body); None when the client closed first."""
        while True:
            end = self._buffer.find(b'\r\n\r\n')
            if end >= 0:
                break
            if len(self._buffer) > _MAX_HEAD or not self._fill():
                return None
        head = bytes(self._buffer[:end + 4])
        del self._buffer[:end + 4]
        lines = head[:-4].decode('latin-1').split('\r\n')
        parts = lines[0].split(' ')
        method, target, version = (parts + ['', '', ''])[:3]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(':')
            headers.append((name, value.strip(' \t')))
        request = RawRequest(method, target, version, headers, head)
        self.requests.append(request)
        self.server._record(request)
        return request

    def read_body(self, request):
        """Read *request*'s body (Content-Length or chunked) into ``request.body``;
        False when the client closed before its end."""
        if any('chunked' in value.lower() for value in request.values('transfer-encoding')):
            return self._read_chunked(request)
        lengths = request.values('content-length')
        length = int(lengths[0]) if lengths else 0
        while len(self._buffer) < length:
            if not self._fill():
                return False
        request.body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return True

    def _read_line(self):
        while True:
            end = self._buffer.find(b'\r\n')
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 2]
                return line
            if len(self._buffer) > _MAX_HEAD or not self._fill():
                return None

    def _read_chunked(self, request):
        body = bytearray()
        while True:
            line = self._read_line()
            if line is None:
                return False
            size = int(line.split(b';')[0].strip() or b'0', 16)
            if size == 0:
                while True:  # trailers, up to the blank line
                    line = self._read_line()
                    if line is None:
                        return False
                    if not line:
                        request.body = bytes(body)
                        return True
            while len(self._buffer) < size + 2:
                if not self._fill():
                    return False
            body += self._buffer[:size]
            del self._buffer[:size + 2]

    def each_request(self):
        """Yield each request until the client closes the socket."""
        while True:
            request = self.read_request()
            if request is None:
                return
            yield request

    def read_request(self):
        """Read a whole request (head and body); None when the client closed first."""
        request = self.read_head()
        if request is None or not self.read_body(request):
            return None
        return request

    def send(self, data):
        """Send *data*; False when the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def send_parts(self, parts, pause=0.005):
        """Send each of *parts* separately, *pause* seconds apart (so that
        they arrive as separate packets); False when the client has gone."""
        for number, part in enumerate(parts):
            if number:
                time.sleep(pause)
            if part and not self.send(part):
                return False
        return True

    def trickle(self, data, interval):
        """Send *data* one byte every *interval* seconds, until its end, the
        client goes or the server stops; False when it did not all go out."""
        for number in range(len(data)):
            if number:
                deadline = time.monotonic() + interval
                while time.monotonic() < deadline:
                    if self.server.stopping:
                        return False
                    time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
            if not self.send(data[number:number + 1]):
                return False
        return True

    def send_repeated(self, block, total):
        """Send *block* again and again, *total* bytes in all (the last block
        cut short), until the client goes or the server stops; False when it
        did not all go out. A stream of any size, without building it."""
        left = total
        view = memoryview(block)
        while left > 0:
            if self.server.stopping or not self.send(view[:min(left, len(block))]):
                return False
            left -= len(block)
        return True

    def wait_closed(self, timeout):
        """Wait up to *timeout* seconds for the client to close (reading and
        keeping what it sends); True when it did."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                readable, _, _ = select.select([self.sock], [], [], min(left, 0.1))
            except (OSError, ValueError):
                return True
            if self.server.stopping:
                return False
            if readable and not self._fill():
                return True

    def hold(self, timeout):
        """Keep the socket open, reading nothing, for up to *timeout* seconds
        (or until the server stops)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.server.stopping:
            time.sleep(0.02)

    def close(self):
        """Close the socket (a FIN, or a RST when unread bytes remain)."""
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class RawServer(object):
    """A listening socket on the loopback that hands each connection to
    ``handler(conn)`` (a :class:`RawConnection`) in a thread of its own.

    ``host`` is ``'127.0.0.1:port'`` (or ``'[::1]:port'``), ready for a
    :class:`~napix.connection.Connection`. ``connections`` lists the accepted
    connections, ``requests`` every request read, in order. An exception in
    a handler is kept in ``errors``; :meth:`stop` raises the first one.
    """

    def __init__(self, handler, family=socket.AF_INET, timeout=10.0):
        self.handler = handler
        self.family = family
        self.address = '::1' if family == socket.AF_INET6 else '127.0.0.1'
        self.timeout = timeout
        self.connections = []
        self.requests = []
        self.errors = []
        self.stopping = False
        self._lock = threading.Lock()
        self._threads = []
        self._listener = None
        self.port = None

    @property
    def host(self):
        address = '[::1]' if self.family == socket.AF_INET6 else self.address
        return '{0}:{1}'.format(address, self.port)

    def received(self):
        """Every byte received, on all connections, in order of connection."""
        return b''.join(bytes(conn.received) for conn in list(self.connections))

    def _record(self, request):
        with self._lock:
            self.requests.append(request)

    def start(self):
        listener = socket.socket(self.family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.address, 0))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, daemon=True, name='rawserver')
        thread.start()
        self._threads.append(thread)
        return self

    def _accept_loop(self):
        while not self.stopping:
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                if self.stopping:
                    sock.close()
                    return
                conn = RawConnection(self, sock, len(self.connections), self.timeout)
                self.connections.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                          name='rawserver-conn')
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except (socket.timeout, ConnectionError):
            pass  # the client went away or stayed silent: the test asserts what it saw
        except Exception as error:  # kept for stop() to raise in the test's thread
            self.errors.append(error)
        finally:
            conn.close()

    def stop(self):
        """Close every socket, join the threads (bounded), and raise the first
        error a handler raised."""
        self.stopping = True
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            connections = list(self.connections)
            threads = list(self._threads)
        for conn in connections:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)
        if self.errors:
            raise self.errors[0]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return '<RawServer {0}>'.format(self.host)
