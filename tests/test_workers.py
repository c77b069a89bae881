"""napixd.client.workers: the host queues, the workers that drain them, the
clients they send through, and settle(); sending against real test servers."""

import gevent
import pytest
from gevent.event import Event

from napix.authenticators import LoginAuthenticator
from napix.checks import build_request
from napix.connection import ConnectionOptions
from napix.exceptions import Cancelled, HTTPError, TransportError
from napixd.client.pool import PendingRequest
from napixd.client.workers import Clients, HostQueues, Workers, settle

AUTH = LoginAuthenticator('root', 'toor')


def make_queues(simultaneous=2, max_in_flight=1000, **options):
    options = ConnectionOptions(AUTH, simultaneous=simultaneous, **options)
    return HostQueues(Clients(options), simultaneous, Workers(max_in_flight))


def handle_for(queue, url='/vm/1'):
    handle = PendingRequest()
    handle.request = build_request(queue.host, queue.authority, 'GET', url)
    handle._queue = queue
    handle._worker = None
    return handle


def held_server(make_napix_server):
    """A server whose /hold/{n} answers once its event is set."""
    server = make_napix_server()
    release = Event()

    @server.route('GET', '/hold/{n}')
    def hold(request, n):
        release.wait()
        return {'n': n}
    return server, release


def push_held(make_napix_server, count, simultaneous=2):
    """*count* requests to a held server pushed, and what they went through."""
    server, release = held_server(make_napix_server)
    queues = make_queues(simultaneous=simultaneous)
    queue = queues[server.host]
    handles = [handle_for(queue, '/hold/{0}'.format(n)) for n in range(count)]
    for handle in handles:
        queue.push(handle)
    return server, release, queues, queue, handles


def wait_until(condition, timeout=10.0):
    """Until *condition()* holds (the servers run in this hub): no fixed sleep."""
    with gevent.Timeout(timeout, AssertionError('never happened')):
        while not condition():
            gevent.sleep(0.005)


# The queue alone: no worker may start (max_in_flight=0)

def test_pop_gives_the_oldest_first_and_none_when_empty():
    queues = make_queues(max_in_flight=0)
    queue = queues['server.napix.nx']
    assert queue.empty() and queue.pop() is None
    handles = [handle_for(queue, '/vm/{0}'.format(n)) for n in range(4)]
    for handle in handles:
        queue.push(handle)
    assert not queue.empty() and queue.wants_worker()
    assert [queue.pop() for _ in range(5)] == handles + [None]
    assert queue.empty() and queue.rest is None  # no deque kept once empty
    queue.push(handles[0])
    assert queue.pop() is handles[0] and queue.pop() is None


def test_a_pushed_queue_waits_in_the_workers_line_once():
    queues = make_queues(max_in_flight=0)
    workers = queues.workers
    first, second = queues['a.napix.nx'], queues['b.napix.nx']
    for queue in (first, second, first):
        queue.push(handle_for(queue))
    assert list(workers.line) == [first, second] and first.in_line and second.in_line
    assert workers.next_queue() is first and first.working == 1 and not first.in_line
    second.pop()  # it wants no worker any more: passed over
    assert workers.next_queue() is None and not workers.line and second.working == 0


def test_the_queues_make_a_new_hosts_queue_and_refuse_a_bad_host():
    queues = make_queues(max_in_flight=0)
    queue = queues['https://Server.napix.nx']
    assert queues['https://Server.napix.nx'] is queue
    assert queue.authority == 'server.napix.nx' and queue.place.port == 443
    with pytest.raises(ValueError, match='invalid host'):
        queues['bad host']
    assert list(queues) == ['https://Server.napix.nx']
    queue.leave()  # empty, no worker: it leaves
    assert not queues


def test_fail_queued_settles_every_queued_request_as_cancelled_or_with_an_error():
    queues = make_queues(max_in_flight=0)
    queue = queues['server.napix.nx']
    handles = [handle_for(queue) for _ in range(3)]
    for handle in handles:
        queue.push(handle)
    queue.fail_queued()
    assert all(isinstance(h.exception, Cancelled) for h in handles)
    assert queue.empty()
    failed = handle_for(queue)
    queue.push(failed)
    queue.fail_queued(MemoryError('no memory left'))
    assert type(failed.exception) is TransportError
    assert isinstance(failed.exception.__cause__, MemoryError)


# settle()

def test_settle_resolves_once_and_tells_the_listeners_once():
    queues = make_queues(max_in_flight=0)
    queue = queues['server.napix.nx']
    told = []
    queues.workers.listeners.append(told.append)
    handle = handle_for(queue)
    settle(handle, None, RuntimeError('bug'))
    settle(handle, None, Cancelled(handle.request, 'late'))
    assert told == [handle] and handle._queue is None
    assert type(handle.exception) is TransportError
    assert isinstance(handle.exception.__cause__, RuntimeError)
    error = HTTPError(handle.request, None)
    other = handle_for(queue)
    settle(other, None, error)
    assert other.exception is error and told == [handle, other]


# Workers sending to real servers

def test_workers_send_a_hosts_requests_at_most_simultaneous_at_once(make_napix_server):
    server, release, queues, queue, handles = push_held(make_napix_server, 5)
    assert queue.working == 2 and len(queues.workers.running) == 2
    wait_until(lambda: len(server.requests) == 2)  # the server holds the answers
    gevent.sleep(0)
    assert queue.working == 2 and len(server.requests) == 2
    release.set()
    gevent.joinall(list(queues.workers.running), timeout=10)
    assert [h.get(timeout=0).body['n'] for h in handles] == ['0', '1', '2', '3', '4']
    assert not queues and not queues.workers.running  # the queue left once drained
    assert server.connections_opened <= 2


def test_a_queue_in_line_gets_a_worker_when_one_is_free(make_napix_server):
    one, two = make_napix_server(), make_napix_server()
    queues = make_queues(max_in_flight=1)
    first, second = queues[one.host], queues[two.host]
    handles = [handle_for(first), handle_for(second), handle_for(first)]
    for handle in handles:
        handle._queue.push(handle)
    # first has a worker and room for one more: both wait in line for one.
    assert len(queues.workers.running) == 1 and list(queues.workers.line) == [second, first]
    gevent.joinall(list(queues.workers.running), timeout=10)
    assert all(h.get(timeout=0).status == 200 for h in handles)
    assert len(one.requests) == 2 and len(two.requests) == 1
    assert not queues.workers.running and not queues


def test_cancel_of_a_request_in_flight_kills_its_worker_and_the_rest_go_on(make_napix_server):
    server, release = held_server(make_napix_server)
    queues = make_queues(simultaneous=1)
    queue = queues[server.host]
    held, after = handle_for(queue, '/hold/0'), handle_for(queue, '/vm/1')
    queue.push(held)
    queue.push(after)
    wait_until(lambda: len(server.requests) == 1)
    assert held._worker is not None
    queue.cancel(held)
    assert isinstance(held.exception, Cancelled)
    assert after.get(timeout=10).body['id'] == '1'  # a new worker took it
    release.set()


def test_stop_kills_every_worker_and_the_queues_leave(make_napix_server):
    server, release, queues, queue, handles = push_held(make_napix_server, 3)
    wait_until(lambda: len(server.requests) == 2)
    queues.workers.stop()
    assert not queues.workers.running and queue.working == 0
    assert all(isinstance(h.exception, Cancelled) for h in handles[:2])
    queue.fail_queued()
    queue.leave()
    assert isinstance(handles[2].exception, Cancelled) and not queues
    release.set()


def test_the_shared_connection_is_made_once_for_every_host(make_napix_server):
    servers = [make_napix_server() for _ in range(3)]
    queues = make_queues()
    clients = queues.clients
    assert clients.shared is None
    handles = []
    for server in servers:
        queue = queues[server.host]
        handles.append(handle_for(queue))
        queue.push(handles[-1])
    gevent.joinall(list(queues.workers.running), timeout=10)
    assert all(h.get(timeout=0).status == 200 for h in handles)
    shared = clients.shared
    assert shared is not None and shared.host == servers[0].host
    assert clients.hosts == {server.host for server in servers}
    # A host's client is made when asked for, from the same options.
    client = clients.make(servers[1].host)
    assert client.connection.options is clients.options and client.simultaneous == 2
    assert client.request('GET', '/vm/2').body['id'] == '2'
