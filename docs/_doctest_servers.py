"""The Napix test servers the documentation's examples run against.

``sphinx-build -b doctest`` imports this module from ``doctest_global_setup``
(see ``conf.py``): :func:`start` starts local :class:`napixd.testing.NapixServer`
instances on 127.0.0.1 and routes the host names the documents use to them, so
the examples keep their real host names and really talk HTTP.
"""

import contextlib

from gevent.server import StreamServer

from napixd.testing import NapixServer, Reply, routed

#: The pre-issued token of the examples in ``client.rst``.
TOKEN = 'de72457df438272d8d05a0823289084811813c07'
USERS = {'root': 'toor'}
TOKENS = {TOKEN: 'root'}
#: The hypervisors of the ``wait_unordered`` scenario, and what each answers
#: to ``GET /capacity/capacity``: an error, too little room, enough room (the
#: scenario's ``EXPECTED`` is 16).
XEN_SERVERS = ['xen1.enix.org', 'xen2.enix.org', 'xen3.enix.org']
XEN_CAPACITY = {'xen1.enix.org': None, 'xen2.enix.org': 2, 'xen3.enix.org': 64}


def _napix_server():
    server = NapixServer(users=USERS, tokens=TOKENS)

    @server.route('GET', '/')
    def index(request):
        return ['/abc', '/captain']

    @server.route('GET', '/abc/{id}')
    def get_abc(request, id):
        raise Reply(404, '`{0}` not found'.format(id))

    return server


def _allocator(collection):
    """An ip-allocator or a filer: ``POST /<collection>/`` answers 204, unless
    ``server.failing`` is set (then 503)."""
    server = NapixServer(users=USERS, tokens=TOKENS)
    server.failing = False

    @server.route('POST', '/{0}/'.format(collection))
    def create(request):
        if server.failing:
            raise Reply(503, 'No more room')
        return 204, None

    return server


def _xen(capacity):
    server = NapixServer(users=USERS, tokens=TOKENS)
    server.capacity = capacity

    @server.route('GET', '/capacity/capacity')
    def get_capacity(request):
        if server.capacity is None:
            raise RuntimeError('the hypervisor is in maintenance')
        return {'size': server.capacity}

    return server


class DocServers(object):
    """The started servers, by host name, routed while the object lives."""

    def __init__(self):
        self.by_host = {
            'server.napix.nx': _napix_server(),
            'ip-allocator.enix.org': _allocator('vm-ip'),
            'filer.enix.org': _allocator('storage'),
        }
        for host in XEN_SERVERS:
            self.by_host[host] = _xen(XEN_CAPACITY[host])
        self._stack = contextlib.ExitStack()
        for server in self.by_host.values():
            self._stack.enter_context(server)
        self._stack.enter_context(routed(self.by_host))

    def __getitem__(self, host):
        return self.by_host[host]

    def stop(self):
        self._stack.close()


class Recorder(object):
    """A raw HTTP server on 127.0.0.1 that keeps the bytes of the requests it
    receives (``requests``, the last one in ``last``) and answers each with
    ``200 OK`` and the JSON body ``{}``, keeping the connection alive."""

    def __init__(self):
        self.requests = []
        self._server = StreamServer(('127.0.0.1', 0), self._handle)

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop(timeout=1)

    @property
    def address(self):
        return '127.0.0.1:{0}'.format(self._server.server_port)

    @property
    def last(self):
        """The last request received, as text, lines ending with ``\\n``."""
        return self.requests[-1].decode('utf-8').replace('\r\n', '\n').rstrip('\n')

    @property
    def headers(self):
        """The headers of the last request received, as a ``dict``."""
        head = self.last.partition('\n\n')[0]
        return dict(line.split(': ', 1) for line in head.split('\n')[1:])

    def _handle(self, sock, address):
        data = b''
        while True:
            while b'\r\n\r\n' not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    sock.close()
                    return
                data += chunk
            head, _, rest = data.partition(b'\r\n\r\n')
            length = 0
            for line in head.split(b'\r\n')[1:]:
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            while len(rest) < length:
                rest += sock.recv(65536)
            self.requests.append(head + b'\r\n\r\n' + rest[:length])
            data = rest[length:]
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                         b'Content-Length: 2\r\n\r\n{}')


def start():
    """Start the servers and route the documents' host names to them."""
    return DocServers()
