"""napixd.client.pool.ClientPool against real NapixServers on 127.0.0.1."""

import time
import weakref

import gevent
import gevent.event
import pytest
from rawserver import free_port

from napix.authenticators import LoginAuthenticator, NonSecureAuthenticator
from napix.connection import Response
from napix.exceptions import TransportError, Cancelled, ConnectError, HTTPError
from napixd.client import ClientPool
from napixd.client.gevent import Client as GeventClient
from napixd.client.pool import PendingRequest

ROOT = {'login': 'root', 'key': 'toor'}



def closed_port_host():
    return '127.0.0.1:{0}'.format(free_port())


def until(predicate, timeout=5.0):
    """Wait (cooperatively) until predicate() is true; return whether it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.01)
    return True


def ids(results):
    return [r.body['id'] for r in results]


# The simultaneous bound, seen by the server

@pytest.mark.parametrize('simultaneous', [1, 2, 3, 4])
def test_pool_never_exceeds_simultaneous_per_host_and_reaches_it(make_napix_server,
                                                                  simultaneous):
    one = make_napix_server(max_concurrent=None, delay=0.05)
    two = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=simultaneous)
    for i in range(12):
        pool.request(one.host, 'GET', '/vm/{0}'.format(i))
        pool.request(two.host, 'GET', '/vm/{0}'.format(i))
    results = pool.wait()
    assert [r.status for r in results] == [200] * 24
    assert one.max_in_flight == simultaneous
    assert two.max_in_flight == simultaneous
    assert one.connections_opened <= simultaneous


def test_pool_default_two_never_meets_a_429(make_napix_server):
    server = make_napix_server(delay=0.02)  # napixd's default limit: 2 per client
    pool = ClientPool(ROOT)
    assert pool.simultaneous == 2
    for i in range(20):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    results = pool.wait()
    assert [r.status for r in results] == [200] * 20, results
    assert server.max_in_flight == 2


def test_pool_bound_holds_with_requests_added_while_running(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.03)
    pool = ClientPool(ROOT, simultaneous=3)
    for i in range(4):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    gevent.sleep(0.05)
    for i in range(4, 10):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    assert ids(pool.wait()) == [str(i) for i in range(10)]
    assert server.max_in_flight == 3


# One client per host

def test_one_client_per_host_shared_while_needed_then_released(make_napix_server):
    one, two = make_napix_server(), make_napix_server()
    pool = ClientPool(ROOT)
    assert pool.clients == {}
    first = pool.get_client(one.host)
    assert isinstance(first, GeventClient)
    assert pool.get_client(one.host) is first
    pool.request(one.host, 'GET', '/vm/1')
    for i in range(5):
        pool.request(one.host, 'GET', '/vm/{0}'.format(i))
        pool.request(two.host, 'GET', '/vm/{0}'.format(i))
    gevent.sleep(0)  # the workers start, each host's client made once
    assert set(pool.clients) == {one.host, two.host}
    assert pool.clients[one.host] is first  # the client the caller holds is the pool's
    assert len(pool.wait()) == 11
    # A finished host's client is released, unless the caller holds it.
    assert set(pool.clients) == {one.host}
    pool.request(one.host, 'GET', '/vm/9')
    assert pool.wait()[0].status == 200
    assert pool.clients[one.host] is first
    del first
    assert pool.clients == {}
    # Its keep-alive sockets are shared by every request to the host.
    assert one.connections_opened <= 2
    assert len(one.requests) == 7


def test_a_host_nobody_asked_the_client_of_costs_no_client(make_napix_server):
    import gc
    from napix.connection import Connection
    from napix.transports.gevent import GeventTransport

    def made():
        return sum(1 for o in gc.get_objects()
                   if type(o) in (GeventClient, Connection, GeventTransport))

    servers = [held_server(make_napix_server) for _ in range(3)]
    made_before = made()
    pool = ClientPool(ROOT)  # its options only: no client, connection or transport
    assert made() == made_before and pool.options.simultaneous == 2
    for server in servers:
        for _ in range(3):
            pool.request(server.host, 'GET', '/vm/1')
    # The hosts' first requests are in flight, held by the servers.
    assert until(lambda: all(server.in_flight == 2 for server in servers))
    # One connection (and its transport) sends every host's requests.
    assert made() == made_before + 2 and pool._clients.shared is not None
    before = made()
    for server in servers:
        server.gate.set()
    assert [r.status for r in pool.wait()] == [200] * 9
    assert made() == before
    # Asked for, a host's client is made, and shares the host's sockets.
    client = pool.get_client(servers[0].host)
    assert made() == before + 3
    assert client.request('GET', '/vm/9').body['id'] == '9'
    assert servers[0].connections_opened <= 2


# wait()

def test_wait_keeps_the_order_of_requests_with_errors_returned(make_napix_server):
    slow = make_napix_server(delay=0.3)
    fast = make_napix_server()
    dead = closed_port_host()
    pool = ClientPool(ROOT)
    pool.request(slow.host, 'GET', '/vm/1')
    pool.request(fast.host, 'GET', '/vm/missing')
    pool.request(dead, 'GET', '/vm/3')
    pool.request(fast.host, 'GET', '/vm/4')
    pool.request(slow.host, 'POST', '/echo', {'n': 5})
    first, missing, unreachable, fourth, fifth = pool.wait()

    assert isinstance(first, Response) and first.body == {'id': '1', 'by': 'root'}
    assert first.request.host == slow.host
    assert type(missing) is HTTPError
    assert missing.status == 404
    assert missing.remote_error == '"404 NOT FOUND" `missing` not found'
    assert missing.remote_call == 'GET {0}/vm/missing'.format(fast.host)
    assert missing.request.host == fast.host
    assert isinstance(unreachable, ConnectError)
    assert unreachable.status is None
    assert unreachable.request.host == dead
    assert dead in str(unreachable)
    assert fourth.body['id'] == '4' and fourth.request.host == fast.host
    assert fifth.body['body'] == {'n': 5}
    assert len(pool) == 0
    assert pool.wait() == []


def test_seed_example_wait_returns_a_list_of_responses(napix_server):
    c = ClientPool({'login': 'root', 'key': 'toor'})
    c.request(napix_server.host, 'GET', '/')
    [response] = c.wait()
    assert repr(response) == '<Response 200 OK>'
    assert response.body == ['/vm']


def test_wait_returns_a_bug_as_an_httperror_with_its_cause_and_the_rest(napix_server):
    def buggy(request):
        if request.url == '/vm/bug':
            raise RuntimeError('bug in the authenticator')
        return LoginAuthenticator('root', 'toor')(request)

    pool = ClientPool(buggy)
    pool.request(napix_server.host, 'GET', '/vm/1')
    pool.request(napix_server.host, 'GET', '/vm/bug')
    pool.request(napix_server.host, 'GET', '/vm/missing')
    first, bug, missing = pool.wait()
    assert first.body['id'] == '1'
    assert isinstance(bug, TransportError) and bug.status is None
    assert 'RuntimeError: bug in the authenticator' in str(bug)
    assert str(bug).startswith('GET {0}/vm/bug failed: '.format(napix_server.host))
    assert isinstance(bug.__cause__, RuntimeError)
    assert missing.status == 404
    assert pool.wait() == []


def test_unencodable_body_raises_at_request_before_any_traffic(napix_server):
    pool = ClientPool(ROOT)
    with pytest.raises(TypeError, match='JSON'):
        pool.request(napix_server.host, 'POST', '/echo', {'when': object()})
    with pytest.raises(ValueError, match='host'):
        pool.request('not a host!', 'GET', '/')
    with pytest.raises(ValueError, match='starting with /'):
        pool.request(napix_server.host, 'GET', 'vm')
    assert len(pool) == 0
    gevent.sleep(0.05)
    assert napix_server.connections_opened == 0


# wait_unordered()

def held_server(make_napix_server):
    """A server whose ``GET /vm/{id}`` answers only once the test lets it:
    ``server.gate.set()``."""
    server = make_napix_server()
    server.gate = gevent.event.Event()
    server.route('GET', '/vm/{id}',
                 lambda request, id, gate=server.gate: gate.wait(10) and {'id': id})
    return server


@pytest.fixture
def three_speeds(make_napix_server):
    """Three held servers, named by the order the tests let them answer in:
    ``(slow, fast, middle)``. The order is the test's, not a race of delays
    (0.9, 0.05 and 0.5 s were, and a stalled machine lost it)."""
    return [held_server(make_napix_server) for _ in range(3)]


def in_turn(results, servers):
    """The hosts of *results* (an iterator of a wait_unordered), letting
    *servers* answer one after the other: the first at once, each next one
    when the answer before it has come back."""
    servers[0].gate.set()
    hosts = []
    for result in results:
        hosts.append(result.request.host)
        if len(hosts) < len(servers):
            servers[len(hosts)].gate.set()
    return hosts


def test_wait_unordered_yields_in_completion_order(three_speeds):
    slow, fast, middle = three_speeds
    pool = ClientPool(ROOT)
    for server in three_speeds:
        pool.request(server.host, 'GET', '/vm/1')
    hosts = in_turn(pool.wait_unordered(), [fast, middle, slow])
    assert hosts == [fast.host, middle.host, slow.host]
    assert pool.wait() == []


@pytest.mark.parametrize('count', [None, -1, 5])
def test_wait_unordered_all(three_speeds, count):
    pool = ClientPool(ROOT)
    for server in three_speeds:
        pool.request(server.host, 'GET', '/vm/1')
        server.gate.set()
    assert len(list(pool.wait_unordered(count=count))) == 3
    assert len(pool) == 0


def test_wait_unordered_count_leaves_the_rest_for_wait(three_speeds):
    slow, fast, middle = three_speeds
    pool = ClientPool(ROOT)
    for server in three_speeds:
        pool.request(server.host, 'GET', '/vm/1')
    assert in_turn(pool.wait_unordered(count=2), [fast, middle]) == [fast.host, middle.host]
    assert len(pool) == 1
    assert list(pool.wait_unordered(count=0)) == []
    slow.gate.set()
    [last] = pool.wait()
    assert last.request.host == slow.host


def test_wait_unordered_timeout_ends_the_loop_for_else(make_napix_server):
    slow = held_server(make_napix_server)
    pool = ClientPool(ROOT)
    pool.request(slow.host, 'GET', '/vm/1')
    pool.request(slow.host, 'GET', '/vm/2')
    with pytest.raises(ValueError, match='No server available'):
        for _response in pool.wait_unordered(timeout=0.2):
            break
        else:
            raise ValueError('No server available')
    assert len(pool) == 2  # the loop ended before the server answered anything
    # Nothing is lost: the leftovers come back later.
    slow.gate.set()
    assert ids(pool.wait()) == ['1', '2']


def test_wait_unordered_timeout_yields_what_completed_in_time(three_speeds):
    slow, fast, middle = three_speeds
    pool = ClientPool(ROOT)
    handles = [pool.request(server.host, 'GET', '/vm/1') for server in three_speeds]
    fast.gate.set()
    assert handles[1].wait(10) is not None  # the fast one has answered, the others not
    in_time = list(pool.wait_unordered(timeout=0.25))
    assert [r.request.host for r in in_time] == [fast.host]
    rest = in_turn(pool.wait_unordered(timeout=10), [middle, slow])
    assert rest == [middle.host, slow.host]


def test_nothing_lost_nothing_twice_after_break(make_napix_server):
    server = make_napix_server(max_concurrent=None)
    pool = ClientPool(ROOT, simultaneous=4)
    for i in range(20):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    seen = []
    for response in pool.wait_unordered():
        seen.append(response.body['id'])
        if len(seen) == 3:
            break
    seen.extend(r.body['id'] for r in pool.wait_unordered(count=5))
    assert len(seen) == 8
    seen.extend(ids(pool.wait()))
    assert sorted(seen, key=int) == [str(i) for i in range(20)]
    assert list(pool.wait_unordered()) == []
    assert pool.wait() == []


def test_wait_inside_a_wait_unordered_loop_takes_the_rest_once(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=1)
    for i in range(4):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    from_loop, from_wait = [], []
    for response in pool.wait_unordered():
        from_loop.append(response.body['id'])
        from_wait.extend(ids(pool.wait()))
    assert from_loop == ['0']
    assert from_wait == ['1', '2', '3']


def test_wait_returns_its_own_requests_when_others_take_and_add_meanwhile(make_napix_server):
    # While wait() waits, another greenlet takes one request (wait_unordered)
    # and adds one: as many pending as wait() started with, not the same ones.
    server = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=1)
    for i in range(4):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    taken = []

    def meddle():
        taken.extend(r.body['id'] for r in pool.wait_unordered(count=1))
        pool.request(server.host, 'GET', '/vm/late')

    meddler = gevent.spawn(meddle)
    waited = ids(pool.wait())
    meddler.join()
    assert taken == ['0']
    assert waited == ['1', '2', '3']
    assert ids(pool.wait()) == ['late']


def test_wait_leaves_a_request_added_meanwhile_for_the_next_wait(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=1)
    for i in range(3):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    adder = gevent.spawn_later(0.01, pool.request, server.host, 'GET', '/vm/late')
    assert ids(pool.wait()) == ['0', '1', '2']
    adder.join()
    assert ids(pool.wait()) == ['late']


def test_wait_unordered_returns_every_failure_as_an_httperror(napix_server):
    def buggy(request):
        if request.url == '/vm/bug':
            raise RuntimeError('bug in the authenticator')
        return LoginAuthenticator('root', 'toor')(request)

    pool = ClientPool(buggy)
    pool.request(napix_server.host, 'GET', '/vm/missing')
    pool.request(napix_server.host, 'GET', '/vm/bug')
    pool.request(napix_server.host, 'GET', '/vm/2')
    results = list(pool.wait_unordered())
    assert sorted(str(r.status) for r in results) == ['200', '404', 'None']
    assert all(isinstance(r, (Response, HTTPError)) for r in results)
    [bug] = [r for r in results if r.status is None]
    assert isinstance(bug.__cause__, RuntimeError) and 'bug in the authenticator' in str(bug)
    assert len(pool) == 0

def test_wait_unordered_lets_go_of_each_answer_once_handed_over(make_napix_server):
    # A fan-out consumed as it comes holds only the answers not yet handed
    # over (and the last one, until the loop asks for the next): one the
    # caller dropped is freed while the iteration goes on.
    server = make_napix_server(max_concurrent=None)
    pool = ClientPool(ROOT, simultaneous=1)
    handles = [weakref.ref(pool.request(server.host, 'GET', '/vm/{0}'.format(i)))
               for i in range(6)]
    freed = []
    for response in pool.wait_unordered():
        assert response.status == 200
        del response
        freed.append(sum(handle() is None for handle in handles))
    assert freed == [0, 1, 2, 3, 4, 5]


def test_wait_unordered_stopped_early_keeps_no_answer_alive(make_napix_server):
    # An iteration stopped early stops listening: the answers that complete
    # afterwards, once collected by wait() and dropped, are freed.
    server = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=1)
    handles = [weakref.ref(pool.request(server.host, 'GET', '/vm/{0}'.format(i)))
               for i in range(4)]
    assert len(list(pool.wait_unordered(count=1))) == 1
    assert ids(pool.wait()) == ['1', '2', '3']
    gevent.sleep(0.01)  # the worker ends
    assert [handle() for handle in handles] == [None] * 4


def test_a_request_made_during_wait_unordered_is_not_its_own(make_napix_server):
    fast, slow = make_napix_server(), held_server(make_napix_server)
    pool = ClientPool(ROOT)
    pool.request(fast.host, 'GET', '/vm/fast')
    pool.request(slow.host, 'GET', '/vm/slow')
    from_loop = []
    for response in pool.wait_unordered():
        from_loop.append(response.body['id'])
        if len(from_loop) == 1:
            later = pool.request(fast.host, 'GET', '/vm/later')
            # it completes while the loop waits for the slow one
            assert later.wait(10) is not None
            slow.gate.set()
    assert from_loop == ['fast', 'slow']
    assert ids(pool.wait()) == ['later']


def test_two_wait_unordered_loops_share_the_answers_once(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.02)
    pool = ClientPool(ROOT, simultaneous=2)
    for i in range(10):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    loops = [gevent.spawn(lambda: [r.body['id'] for r in pool.wait_unordered()])
             for _ in range(2)]
    gevent.joinall(loops, timeout=10, raise_error=True)
    assert all(loop.ready() for loop in loops)
    taken = loops[0].value + loops[1].value
    assert sorted(taken, key=int) == [str(i) for i in range(10)]
    assert pool.wait() == []


# Handles

def test_handles_work_with_gevent_waiting_functions(make_napix_server):
    server = make_napix_server(delay=0.05)
    pool = ClientPool(ROOT)
    ok = pool.request(server.host, 'GET', '/vm/1')
    missing = pool.request(server.host, 'GET', '/vm/missing')
    assert isinstance(ok, PendingRequest)
    assert repr(ok) == '<PendingRequest GET {0}/vm/1 pending>'.format(server.host)
    assert not ok.ready() and ok.value is None

    done = list(gevent.iwait([ok, missing], timeout=10))
    assert set(done) == {ok, missing}
    assert set(gevent.joinall([ok, missing], timeout=10)) == {ok, missing}
    assert ok.ready() and ok.successful()
    assert ok.get().body == {'id': '1', 'by': 'root'}
    assert ok.value is ok.get()
    assert ok.exception is None
    assert repr(ok) == '<PendingRequest GET {0}/vm/1 <Response 200 OK>>'.format(server.host)

    assert missing.ready() and not missing.successful()
    assert missing.value is None
    assert isinstance(missing.exception, HTTPError) and missing.exception.status == 404
    with pytest.raises(HTTPError) as caught:
        missing.get()
    assert caught.value is missing.exception
    assert 'GET {0}/vm/missing'.format(server.host) in repr(missing)
    assert 'HTTPError' in repr(missing)
    assert ok.request.host == server.host

    # Waiting on the handles does not collect them: the pool still returns them once.
    assert pool.wait() == [ok.value, missing.exception]
    assert pool.wait() == []


def test_handle_repr_hides_a_token_sent_in_the_url(napix_server):
    pool = ClientPool(NonSecureAuthenticator('root', 'toor'))
    handle = pool.request(napix_server.host, 'GET', '/vm/1?x=1')
    response = handle.get(timeout=5)
    assert response.body['by'] == 'root'
    token_signature = response.request.url.rpartition('%3A')[2]
    assert len(token_signature) == 64
    assert token_signature not in repr(handle) and 'token' not in repr(handle)
    assert repr(handle) == '<PendingRequest GET {0}/vm/1?x=1 <Response 200 OK>>'.format(
        napix_server.host)
    pool.wait()


def test_handles_with_gevent_wait_and_timeout(make_napix_server):
    server = make_napix_server(delay=1.0)
    pool = ClientPool(ROOT)
    handle = pool.request(server.host, 'GET', '/vm/1')
    assert gevent.wait([handle], timeout=0.05) == []
    with pytest.raises(gevent.Timeout):
        handle.get(timeout=0.05)
    pool.close()
    assert isinstance(handle.exception, Cancelled)


# Cancellation

def test_cancel_closes_in_flight_sockets(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.5)
    pool = ClientPool(ROOT, simultaneous=2)
    for i in range(4):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    assert until(lambda: server.in_flight == 2)
    assert server.open_connections == 2
    pool.cancel()
    assert server.requests == []  # cancel() did not wait for the server's answers
    results = pool.wait()
    assert len(results) == 4
    assert all(isinstance(r, Cancelled) and r.status is None for r in results)
    assert [r.request.url for r in results] == ['/vm/0', '/vm/1', '/vm/2', '/vm/3']
    # The server sees the connections go once its handlers return.
    assert until(lambda: server.open_connections == 0)
    assert server.connections_opened == 2
    assert len(server.requests) == 2  # the queued ones were never sent


def test_completed_requests_keep_their_sockets_open(make_napix_server):
    # The counterpart of the test above: without cancellation the keep-alive
    # sockets stay open, so the drop to 0 there comes from the cancellation.
    server = make_napix_server(max_concurrent=None, delay=0.05)
    pool = ClientPool(ROOT, simultaneous=2)
    for i in range(4):
        pool.request(server.host, 'GET', '/vm/{0}'.format(i))
    assert len(pool.wait()) == 4
    gevent.sleep(0.3)
    assert server.open_connections == 2
    pool.close()
    assert until(lambda: server.open_connections == 0)


def test_close_closes_the_idle_sockets_of_every_host(make_napix_server):
    # Hosts sent through the shared connection, one whose client the caller
    # holds, one named by a resolve= entry: closing the pool closes them all.
    plain, held, named = (make_napix_server(max_concurrent=None) for _ in range(3))
    pool = ClientPool(ROOT, resolve={'named.test': named.host})
    client = pool.get_client(held.host)
    for host in (plain.host, held.host, 'named.test:{0}'.format(named.port)):
        pool.request(host, 'GET', '/vm/1')
    assert [r.status for r in pool.wait()] == [200, 200, 200]
    servers = (plain, held, named)
    assert all(server.open_connections == 1 for server in servers)
    pool.close()
    assert until(lambda: all(server.open_connections == 0 for server in servers))
    assert client.request('GET', '/vm/2').status == 200  # the held client goes on


def test_context_manager_cancels_in_flight_and_closes_sockets(make_napix_server):
    slow = held_server(make_napix_server)  # holds its answers until the block is left
    fast = make_napix_server()
    with ClientPool(ROOT) as pool:
        done = pool.request(fast.host, 'GET', '/vm/1')
        pending = [pool.request(slow.host, 'GET', '/vm/{0}'.format(i)) for i in range(3)]
        done.get(timeout=5)
        assert until(lambda: slow.in_flight == 2)
    # Leaving the block did not wait for the slow answers, held by the server.
    assert all(isinstance(h.exception, Cancelled) for h in pending)
    first, *cancelled = pool.wait()
    assert first.body['id'] == '1'
    assert [type(c) for c in cancelled] == [Cancelled] * 3
    # The idle socket to the fast server was closed on exit, at once.
    assert until(lambda: fast.open_connections == 0, timeout=1)
    slow.gate.set()  # its handlers end, and find their sockets closed
    assert until(lambda: slow.open_connections == 0)


def test_context_manager_cancels_on_exception(make_napix_server):
    slow = make_napix_server(delay=0.5)
    with pytest.raises(KeyError):
        with ClientPool(ROOT) as pool:
            handle = pool.request(slow.host, 'GET', '/vm/1')
            assert until(lambda: slow.in_flight == 1)
            raise KeyError('caller bug')
    assert isinstance(handle.exception, Cancelled)
    assert until(lambda: slow.open_connections == 0)


def test_cancel_a_queued_request(make_napix_server):
    server = make_napix_server(max_concurrent=None, delay=0.2)
    pool = ClientPool(ROOT, simultaneous=1)
    pool.request(server.host, 'GET', '/vm/1')
    queued = pool.request(server.host, 'GET', '/vm/2')
    pool.request(server.host, 'GET', '/vm/3')
    queued.cancel()
    assert queued.ready() and isinstance(queued.exception, Cancelled)
    one, cancelled, three = pool.wait()
    assert one.body['id'] == '1' and three.body['id'] == '3'
    assert cancelled is queued.exception
    assert [path for _, _, path in server.requests] == ['/vm/1', '/vm/3']


def test_cancel_an_in_flight_request(make_napix_server):
    server = held_server(make_napix_server)
    pool = ClientPool(ROOT, simultaneous=1)
    first = pool.request(server.host, 'GET', '/vm/1')
    pool.request(server.host, 'GET', '/vm/2')
    assert until(lambda: server.in_flight == 1)
    first.cancel()  # it does not wait for the server's answer, held
    assert isinstance(first.exception, Cancelled)
    assert first.exception.remote_call == 'GET {0}/vm/1'.format(server.host)
    # The queued request still runs, on a new socket.
    server.gate.set()
    cancelled, two = pool.wait()
    assert cancelled is first.exception
    assert two.body['id'] == '2'
    assert server.connections_opened == 2
    assert until(lambda: server.open_connections == 1)  # only the idle keep-alive one
    first.cancel()  # cancelling a finished request changes nothing
    assert isinstance(first.exception, Cancelled)


def test_a_host_is_forgotten_once_its_requests_end_however_they_end(make_napix_server):
    slow, other = make_napix_server(delay=0.5), make_napix_server()
    pool = ClientPool(ROOT, simultaneous=1, max_in_flight=1)
    in_flight = pool.request(slow.host, 'GET', '/vm/1')
    behind = pool.request(slow.host, 'GET', '/vm/2')
    no_worker_yet = pool.request(other.host, 'GET', '/vm/3')  # max_in_flight=1
    gevent.sleep(0.05)
    behind.cancel()
    no_worker_yet.cancel()
    assert set(pool.clients) == {slow.host}
    in_flight.cancel()
    assert pool.clients == {}
    # Cancelled all at once, by the pool: the same.
    pool.request(slow.host, 'GET', '/vm/4')
    pool.request(other.host, 'GET', '/vm/5')
    gevent.sleep(0.05)
    pool.cancel()
    assert pool.clients == {}
    assert [type(r).__name__ for r in pool.wait()] == ['Cancelled'] * 5


def test_a_worker_cancelled_before_it_started_gives_its_place_back(napix_server):
    # Cancelled at once, the worker is killed before it ever ran: the pool's
    # in-flight count and the host's still go down, and the next requests run.
    pool = ClientPool(ROOT, simultaneous=1, max_in_flight=1)
    pool.request(napix_server.host, 'GET', '/vm/1')
    pool.cancel()
    assert [type(r).__name__ for r in pool.wait()] == ['Cancelled']
    pool.request(napix_server.host, 'GET', '/vm/2')
    with gevent.Timeout(5):
        assert ids(pool.wait()) == ['2']
    assert pool.clients == {}


def test_cancel_of_a_done_request_keeps_its_result(napix_server):
    pool = ClientPool(ROOT)
    handle = pool.request(napix_server.host, 'GET', '/vm/1')
    response = handle.get(timeout=5)
    handle.cancel()
    pool.cancel()
    assert pool.wait() == [response]


# Bad arguments

@pytest.mark.parametrize('value, error, text', [
    (0, ValueError, 'not 0'),
    (-1, ValueError, 'not -1'),
    ('2', TypeError, 'not str'),
    (True, TypeError, 'not bool'),
    (1.5, TypeError, 'not float'),
])
def test_bad_simultaneous(value, error, text):
    with pytest.raises(error) as caught:
        ClientPool(ROOT, simultaneous=value)
    assert 'simultaneous must be an int >= 1' in str(caught.value)
    assert text in str(caught.value)


@pytest.mark.parametrize('credentials', ['root:toor', {}, {'login': 'root'}, None, 42])
def test_bad_authenticator(credentials):
    with pytest.raises(ValueError, match="mapping with 'login' and 'key'"):
        ClientPool(credentials)


@pytest.mark.parametrize('kwargs, error, text', [
    ({'count': '2'}, TypeError, 'count must be an int >= 0, not str'),
    ({'count': 1.5}, TypeError, 'count must be an int >= 0, not float'),
    ({'count': True}, TypeError, 'count must be an int >= 0, not bool'),
    ({'count': -2}, ValueError, 'count must be an int >= 0, not -2'),
    ({'timeout': '1'}, TypeError, 'timeout must be a number of seconds >= 0, not str'),
    ({'timeout': True}, TypeError, 'timeout must be a number of seconds >= 0, not bool'),
    ({'timeout': -1}, ValueError, 'timeout must be a number of seconds >= 0, not -1'),
])
def test_bad_wait_unordered_arguments_raise_at_the_call(napix_server, kwargs, error, text):
    pool = ClientPool(ROOT)
    pool.request(napix_server.host, 'GET', '/vm/1')
    with pytest.raises(error) as caught:
        pool.wait_unordered(**kwargs)  # not even iterated
    assert str(caught.value) == text
    assert len(pool.wait()) == 1


def test_repr_of_the_pool_has_no_secret(napix_server):
    pool = ClientPool({'login': 'root', 'key': 'toor'})
    pool.request(napix_server.host, 'GET', '/vm/1')
    assert repr(pool) == '<ClientPool 1 hosts, 1 pending>'
    pool.wait()
    assert repr(pool) == '<ClientPool 1 hosts, 0 pending>'


@pytest.mark.parametrize('options, error', [
    ({'timeout': 'x'}, TypeError),
    ({'timeout': -1}, ValueError),
    ({'max_response_size': 1.5}, TypeError),
    ({'simultaneous': 2, 'maxsize': 3}, ValueError),
    ({'cert': '/nonexistent/client.pem'}, ValueError),
    ({'verify': 'not-a-file'}, ValueError),
    ({'idle_timeout': -1}, ValueError),
    ({'verify': 'not-a-file', 'maxsize': 0}, ValueError),
    ({'tiemout': 3}, TypeError),
    ({'transport': object()}, TypeError),
])
def test_bad_client_options_fail_when_the_pool_is_made(options, error):
    with pytest.raises(error):
        ClientPool({'login': 'root', 'key': 'toor'}, **options)


def test_a_host_whose_client_cannot_be_made_fails_its_requests_not_the_pool(
        napix_server, monkeypatch):
    # Injected: nothing on this machine fails there, short of memory.
    from napix.connection import Connection

    def broken_slot(self, *place):
        raise MemoryError('no memory left for the slot')

    pool = ClientPool(ROOT)
    handles = [pool.request(napix_server.host, 'GET', '/vm/{0}'.format(i)) for i in range(3)]
    monkeypatch.setattr(Connection, 'slot', broken_slot)
    monkeypatch.setattr(Connection, 'slot_at', broken_slot)
    results = pool.wait()
    assert [type(r) for r in results] == [TransportError] * 3
    assert all(isinstance(r.__cause__, MemoryError) for r in results)
    assert 'no memory left for the slot' in str(results[0])
    assert all(handle.ready() for handle in handles)
    monkeypatch.undo()
    pool.request(napix_server.host, 'GET', '/vm/1')
    assert pool.wait()[0].status == 200
