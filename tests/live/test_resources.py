"""Resources at service-manager scale: pools dropped without
``close()``, one in-flight budget per destination across pools, a bound on
the sockets a process holds, every request settled even when descriptors run
out, and connections shared between OS threads."""

import gc
import os
import subprocess
import sys
import textwrap
import threading

import gevent
import pytest

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection
from napix.exceptions import HTTPError
from napix.transports.sockets import socket_pool
from napixd.client import Client, ClientPool

from collector import napix_garbage

AUTH = LoginAuthenticator('root', 'toor')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def test_the_seed_pattern_with_the_collector_off_keeps_two_sockets(napix_server, no_gc):
    # A pool per call, never closed, as the seed's create_resource does.
    before = open_fds()
    for call in range(40):
        pool = ClientPool(AUTH)
        pool.request(napix_server.host, 'GET', '/vm/{0}'.format(call))
        pool.request(napix_server.host, 'GET', '/vm/{0}b'.format(call))
        assert [r.status for r in pool.wait()] == [200, 200]
        del pool
    # The calls reused the sockets of the calls before them (the server is in
    # this process: its two ends count too).
    assert napix_server.connections_opened <= 2
    assert open_fds() <= before + 4
    assert napix_garbage() == []


def test_dropped_objects_form_no_cycle(napix_server, no_gc):
    def one_of_each():
        conn = Connection(napix_server.host, AUTH)
        conn.request('GET', '/vm/1')
        client = Client(napix_server.host, AUTH)
        with pytest.raises(HTTPError):
            client.request('GET', '/vm/missing')
        pool = ClientPool(AUTH)
        pool.request(napix_server.host, 'GET', '/vm/2')
        pool.request(napix_server.host, 'GET', '/vm/missing')
        pool.request('127.0.0.1:1', 'GET', '/')  # refused: an error with a traceback
        results = pool.wait()
        assert [getattr(r, 'status', None) for r in results] == [200, 404, None]
    one_of_each()
    assert napix_garbage() == []


def test_idle_sockets_are_closed_after_their_idle_time_without_new_requests(napix_server,
                                                                            no_gc):
    sockets = socket_pool()
    sockets.close_idle()  # the sockets other tests left idle
    before = sockets.open
    conn = Connection(napix_server.host, AUTH, idle_timeout=0.3)
    gevent.joinall([gevent.spawn(conn.request, 'GET', '/sleep/0.1') for _ in range(2)])
    del conn
    assert sockets.open == before + 2  # kept alive for the next request
    assert napix_server.open_connections == 2
    deadline = 50
    while (sockets.open > before or napix_server.open_connections) and deadline:
        gevent.sleep(0.1)  # no request: only the pool's own timer can close them
        deadline -= 1
    assert sockets.open == before
    assert napix_server.open_connections == 0


def test_a_short_idle_time_expires_behind_sockets_with_longer_ones(make_napix_server):
    # The sweep walks idle sockets oldest first and stops early: a socket
    # kept 60 s, checked in first, must not hide one kept 0.3 s behind it.
    patient, brief = make_napix_server(), make_napix_server()
    sockets = socket_pool()
    sockets.close_idle()
    keeper = Connection(patient.host, AUTH, idle_timeout=60)
    keeper.request('GET', '/vm/1')
    Connection(brief.host, AUTH, idle_timeout=0.3).request('GET', '/vm/1')
    assert (patient.open_connections, brief.open_connections) == (1, 1)
    deadline = 50
    while brief.open_connections and deadline:
        gevent.sleep(0.1)
        deadline -= 1
    assert brief.open_connections == 0
    assert patient.open_connections == 1
    keeper.close()


def parsers_alive():
    from httptools import HttpResponseParser
    gc.collect()  # alive: not garbage an earlier test left for the collector
    return sum(1 for o in gc.get_objects() if type(o) is HttpResponseParser)


def test_idle_sockets_keep_no_parser(make_napix_server):
    # A fan-out keeps thousands of idle sockets: a parser (and its timer)
    # is held only while a request is in flight, then waits for the next
    # request of the thread, whatever its socket.
    servers = [make_napix_server(max_concurrent=None, require_auth=False) for _ in range(4)]
    hosts = ['h{0}.test'.format(i) for i in range(60)]
    resolve = {h: servers[i % 4].host for i, h in enumerate(hosts)}
    sockets = socket_pool()
    sockets.close_idle()  # none of an earlier test's may expire meanwhile
    parsers = parsers_alive()
    pool = ClientPool(AUTH, max_in_flight=4, resolve=resolve, idle_timeout=60)
    for host in hosts:
        pool.request(host, 'GET', '/vm/' + host)
    assert [r.body['id'] for r in pool.wait()] == hosts
    assert sockets.idle == 60
    assert parsers_alive() <= parsers + 4
    pool.close()


def test_a_finished_greenlet_is_not_kept_by_the_exchange_it_sent(napix_server, no_gc):
    # The exchanges of idle sockets wait for the thread's next request: they
    # do not keep the greenlet that sent the last one, nor what it returned.
    import weakref

    client = Client(napix_server.host, AUTH)

    def call():
        return [client.request('GET', '/vm/1').body] * 1000

    sender = gevent.spawn(call)
    sender.join()
    assert sender.value[0] == {'id': '1', 'by': 'root'}
    gone = weakref.ref(sender)
    del sender
    gevent.sleep(0)  # gevent's own notice of its end
    assert gone() is None


def test_concurrent_pools_share_the_destination_budget(make_napix_server):
    server = make_napix_server()  # napixd's default: 2 requests in flight per client
    results = []

    def call(index):
        pool = ClientPool(AUTH)
        for _ in range(3):
            pool.request(server.host, 'GET', '/sleep/0.05')
        results.extend(pool.wait())

    gevent.joinall([gevent.spawn(call, i) for i in range(6)], raise_error=True)
    assert len(results) == 18
    assert [getattr(r, 'status', r) for r in results] == [200] * 18
    assert server.max_in_flight == 2


def test_spellings_of_one_destination_share_its_budget(make_napix_server):
    server = make_napix_server()
    pool = ClientPool(AUTH)
    spellings = [server.host, 'http://' + server.host, 'HTTP://' + server.host + '/']
    for host in spellings * 3:
        pool.request(host, 'GET', '/sleep/0.05')
    assert [r.status for r in pool.wait()] == [200] * 9
    assert server.max_in_flight == 2


def test_a_pool_can_opt_out_of_the_shared_budget(make_napix_server):
    server = make_napix_server(max_concurrent=None)
    pools = [ClientPool(AUTH, share_limit=False) for _ in range(3)]
    for pool in pools:
        for _ in range(2):
            pool.request(server.host, 'GET', '/sleep/0.2')
    for pool in pools:
        assert [r.status for r in pool.wait()] == [200, 200]
    assert server.max_in_flight == 6


def test_a_connection_serves_several_os_threads(make_napix_server):
    server = make_napix_server(threaded=True, max_concurrent=None)
    conn = Connection(server.host, AUTH)
    outcomes = []

    def worker():
        for n in range(30):
            try:
                outcomes.append(conn.request('GET', '/vm/{0}'.format(n)).status)
            except Exception as error:  # collected and asserted on
                outcomes.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    worker()  # and this thread too
    for thread in threads:
        thread.join(60)
    assert outcomes == [200] * 120


def run_limited(code, nofile, timeout=240):
    """Run *code* in a fresh interpreter whose descriptor limit is *nofile*."""
    prelude = textwrap.dedent('''\
        import resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, ({0}, {0}))
        ''').format(nofile)
    return subprocess.run([sys.executable, '-c', prelude + textwrap.dedent(code)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def answering_servers(make_napix_server):
    """Four servers in this process (its limit is not lowered) that answer
    anyone, without limit."""
    return [make_napix_server(threaded=True, max_concurrent=None, require_auth=False)
            for _ in range(4)]


def test_more_hosts_than_descriptors_all_answered(answering_servers):
    ports = [s.port for s in answering_servers]
    result = run_limited('''
        import os
        from napix.authenticators import AnonAuthenticator
        from napix.transports.sockets import socket_pool
        from napixd.client import ClientPool
        ports = {0}
        hosts = ['h{{0}}.test'.format(i) for i in range(1500)]
        resolve = {{h: '127.0.0.1:{{0}}'.format(ports[i % 4]) for i, h in enumerate(hosts)}}
        pool = ClientPool(AnonAuthenticator(), resolve=resolve)
        for host in hosts:
            pool.request(host, 'GET', '/vm/' + host)
        results = pool.wait()
        ok = sum(1 for h, r in zip(hosts, results)
                 if getattr(r, 'status', None) == 200 and r.body['id'] == h)
        print('answered', ok, 'of', len(hosts), 'limit', socket_pool().limit,
              'open', socket_pool().open, 'fds', len(os.listdir('/proc/self/fd')))
        '''.format(ports), nofile=256)
    assert result.returncode == 0, result.stderr[-2000:]
    words = result.stdout.split()
    assert words[:4] == ['answered', '1500', 'of', '1500'], result.stdout
    limit, still_open = int(words[5]), int(words[7])
    assert limit < 256 and still_open <= limit


def test_when_descriptors_run_out_every_request_still_comes_back(answering_servers):
    # The bound is set above the real limit on purpose: connects fail with
    # EMFILE, and so would gevent's lazy import of pickle on the error path.
    ports = [s.port for s in answering_servers]
    result = run_limited('''
        from napix.authenticators import AnonAuthenticator
        from napix.transports.sockets import set_max_sockets
        set_max_sockets(10000)
        from napixd.client import ClientPool
        ports = {0}
        hosts = ['h{{0}}.test'.format(i) for i in range(400)]
        resolve = {{h: '127.0.0.1:{{0}}'.format(ports[i % 4]) for i, h in enumerate(hosts)}}
        pool = ClientPool(AnonAuthenticator(), resolve=resolve, idle_timeout=60)
        handles = [pool.request(host, 'GET', '/vm/' + host) for host in hosts]
        results = pool.wait()
        statuses = [getattr(r, 'status', None) for r in results]
        errors = [str(r) for r in results if getattr(r, 'status', None) is None]
        print('results', len(results), 'ok', statuses.count(200), 'failed', len(errors))
        print(errors[0] if errors else '')
        '''.format(ports), nofile=64)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = result.stdout.splitlines()[:2]
    words = first.split()
    assert words[1] == '400'
    assert int(words[3]) + int(words[5]) == 400
    assert int(words[5]) > 0  # the limit was really reached
    assert 'descriptor' in second


def test_the_socket_pool_bound_closes_the_least_recently_used_idle_sockets(
        answering_servers):
    ports = [s.port for s in answering_servers]
    result = run_limited('''
        from napix.authenticators import AnonAuthenticator
        from napix.transports.sockets import set_max_sockets, socket_pool
        set_max_sockets(3)
        from napix.connection import Connection
        ports = {0}
        conns = [Connection('127.0.0.1:{{0}}'.format(p), idle_timeout=60) for p in ports]
        for conn in conns:
            conn.request('GET', '/vm/1')
        pool = socket_pool()
        # Four destinations, three places: the first one's socket made room.
        kept = sorted(d.key[2] for d in pool.lru if d.idle)
        print(pool.open, pool.idle, kept == sorted(ports[1:]))
        '''.format(ports), nofile=1024)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['3', '3', 'True']


def test_the_default_bound_is_below_the_descriptor_limit():
    result = run_limited('''
        from napix.transports.sockets import max_sockets
        print(max_sockets())
        ''', nofile=1000)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 500 <= int(result.stdout) < 1000


def test_socket_pool_counts_back_to_zero_after_close(make_napix_server):
    napix_server = make_napix_server(max_concurrent=None)
    pool = socket_pool()
    pool.close_idle()  # the sockets other tests left idle
    before = pool.open
    conn = Connection(napix_server.host, AUTH)
    gevent.joinall([gevent.spawn(conn.request, 'GET', '/sleep/0.05') for _ in range(3)])
    assert pool.open == before + 3
    conn.close()
    assert pool.open == before
