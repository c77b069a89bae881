"""The examples and scenarios of the seed document (client.rst), run as written
against local Napix servers that stand in for the real host names."""

import socket

import pytest

from napix.authenticators import TokenIdentifier
from napix.exceptions import HTTPError
from napixd.client import Client, ClientPool
from napixd.testing import NapixServer, Reply, routed

TOKEN = 'de72457df438272d8d05a0823289084811813c07'
EXPECTED = 4096
authenticator = {'login': 'manager', 'key': 'manager-key'}
USERS = {'manager': 'manager-key', 'root': 'toor'}


def closed_address():
    """'127.0.0.1:<port>' where nothing listens."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return '127.0.0.1:{0}'.format(port)


# The service manager of the seed, its code copied as the document writes it.

class Manager(object):

    def __init__(self, xen_servers=()):
        self.xen_servers = list(xen_servers)

    def create_resource_with_wait(self, resource_dict):
        cp = ClientPool(authenticator)
        cp.request('ip-allocator.enix.org', 'POST', '/vm-ip/', {
            'size': 1
        })
        cp.request('filer.enix.org', 'POST', '/storage/', {
            'size': 10**9,
        })
        # wait until the filer and ip are ready
        ip, filer = cp.wait()

        if ip.status != 204:
            raise ValueError('Cannot get IP')
        elif filer.status != 204:
            raise ValueError('Cannot get storage')

        # ...
        return ip, filer

    def create_resource_unordered(self, resource_dict):
        cp = ClientPool(authenticator)
        for x in self.xen_servers:
            cp.request(x, 'GET', '/capacity/capacity')

        server = None
        for response in cp.wait_unordered(timeout=10):
            # wait up to 10 seconds for the server
            if response.status != 200:
                # disregard failures
                continue
            if response.body['size'] < EXPECTED:
                # disregard non suitable responses
                continue

            # take the first one.
            server = response.request.host
            break
        else:
            raise ValueError('No server available')

        # ...
        cp.close()  # not in the document: do not leave the slower requests running
        return server


# The first examples

@pytest.fixture
def server_napix_nx():
    server = NapixServer(users={'root': 'toor'}, tokens={TOKEN: 'root'})

    @server.route('GET', '/')
    def index(request):
        return ['/abc', '/captain']

    with server, routed({'server.napix.nx': server}):
        yield server


def test_client_with_token_identifier(server_napix_nx):
    c = Client('server.napix.nx',
               authenticator=TokenIdentifier('de72457df438272d8d05a0823289084811813c07'))
    resp = c.request('GET', '/')
    assert resp.body == ['/abc', '/captain']
    assert server_napix_nx.requests == [('root', 'GET', '/')]


def test_client_with_login_and_key(server_napix_nx):
    c = Client('server.napix.nx', {'login': 'root', 'key': 'toor'})
    assert c.request('GET', '/').status == 200
    assert server_napix_nx.requests == [('root', 'GET', '/')]


def test_pool_example(server_napix_nx):
    c = ClientPool(TokenIdentifier('de72457df438272d8d05a0823289084811813c07'))
    c.request('server.napix.nx', 'GET', '/')
    assert [repr(r) for r in c.wait()] == ['<Response 200 OK>']


# Scenario 1: an IP and storage with wait()

def allocator(status=204, delay=0):
    server = NapixServer(users=USERS, delay=delay)
    server.created = []

    @server.route('POST', '/vm-ip/')
    def allocate_ip(request):
        server.created.append(request.body)
        if status >= 400:
            raise Reply(status, 'No IP left')
        return status, {'Location': '/vm-ip/10.0.0.7'}, ''

    @server.route('POST', '/storage/')
    def allocate_storage(request):
        server.created.append(request.body)
        if status >= 400:
            raise Reply(status, 'Filer full')
        return status, {'Location': '/storage/vol-1'}, ''

    return server


def test_create_resource_with_wait():
    # The filer is slower: wait() still returns the IP first.
    with allocator(delay=0) as ips, allocator(delay=0.2) as filer, \
            routed({'ip-allocator.enix.org': ips, 'filer.enix.org': filer}):
        ip, storage = Manager().create_resource_with_wait({})
    assert ip.status == 204 and storage.status == 204
    assert ip.request.host == 'ip-allocator.enix.org'
    assert storage.request.host == 'filer.enix.org'
    assert ip.headers['Location'] == '/vm-ip/10.0.0.7'
    assert ips.created == [{'size': 1}]
    assert filer.created == [{'size': 10**9}]
    assert ips.requests == [('manager', 'POST', '/vm-ip/')]


def test_create_resource_without_ip():
    with allocator(status=503) as ips, allocator() as filer, \
            routed({'ip-allocator.enix.org': ips, 'filer.enix.org': filer}):
        with pytest.raises(ValueError, match='Cannot get IP'):
            Manager().create_resource_with_wait({})
    # Both requests were made simultaneously: the storage was asked for too.
    assert filer.created == [{'size': 10**9}]


def test_create_resource_without_storage():
    with allocator() as ips, allocator(status=507) as filer, \
            routed({'ip-allocator.enix.org': ips, 'filer.enix.org': filer}):
        with pytest.raises(ValueError, match='Cannot get storage'):
            Manager().create_resource_with_wait({})


def test_create_resource_with_the_filer_down():
    # An unreachable filer is an HTTPError with status None: the check still works.
    with allocator() as ips, routed({'ip-allocator.enix.org': ips,
                                     'filer.enix.org': closed_address()}):
        with pytest.raises(ValueError, match='Cannot get storage'):
            Manager().create_resource_with_wait({})


def test_wait_results_are_responses_or_httperrors():
    with allocator() as ips, allocator(status=507) as filer, \
            routed({'ip-allocator.enix.org': ips, 'filer.enix.org': filer}):
        cp = ClientPool(authenticator)
        cp.request('ip-allocator.enix.org', 'POST', '/vm-ip/', {'size': 1})
        cp.request('filer.enix.org', 'POST', '/storage/', {'size': 10**9})
        ip, filer_error = cp.wait()
    assert ip.status == 204
    assert isinstance(filer_error, HTTPError)
    assert filer_error.status == 507
    assert filer_error.remote_error == '"507 INSUFFICIENT STORAGE" Filer full'
    assert filer_error.remote_call == 'POST filer.enix.org/storage/'


# Scenario 2: the first hypervisor with enough capacity, with wait_unordered()

def hypervisor(size=None, status=200, delay=0):
    server = NapixServer(users=USERS, delay=delay)

    @server.route('GET', '/capacity/capacity')
    def capacity(request):
        if status != 200:
            raise Reply(status, 'capacity unknown')
        return {'size': size}

    return server


@pytest.fixture
def xen_servers():
    """Host names and servers: xen1 fails, xen2 is too small, xen3 is suitable
    but slow, xen4 is suitable and fast, xen5 does not answer."""
    servers = {
        'xen1.enix.org': hypervisor(status=500),
        'xen2.enix.org': hypervisor(size=1024),
        'xen3.enix.org': hypervisor(size=8192, delay=0.5),
        'xen4.enix.org': hypervisor(size=EXPECTED, delay=0.1),
    }
    for server in servers.values():
        server.start()
    routes = dict(servers)
    routes['xen5.enix.org'] = closed_address()
    with routed(routes):
        yield servers
    for server in servers.values():
        server.stop()


def test_choose_the_first_hypervisor_with_enough_capacity(xen_servers):
    manager = Manager(['xen1.enix.org', 'xen2.enix.org', 'xen3.enix.org', 'xen4.enix.org',
                       'xen5.enix.org'])
    assert manager.create_resource_unordered({}) == 'xen4.enix.org'
    # All were asked at once; xen3, still busy when xen4 answered, was cancelled.
    for server in xen_servers.values():
        assert server.connections_opened == 1
    assert xen_servers['xen4.enix.org'].requests == [('manager', 'GET', '/capacity/capacity')]
    assert xen_servers['xen3.enix.org'].requests == []


def test_a_slow_suitable_hypervisor_is_taken_when_alone(xen_servers):
    manager = Manager(['xen1.enix.org', 'xen2.enix.org', 'xen3.enix.org', 'xen5.enix.org'])
    assert manager.create_resource_unordered({}) == 'xen3.enix.org'


def test_no_hypervisor_available(xen_servers):
    manager = Manager(['xen1.enix.org', 'xen2.enix.org', 'xen5.enix.org'])
    with pytest.raises(ValueError, match='No server available'):
        manager.create_resource_unordered({})
