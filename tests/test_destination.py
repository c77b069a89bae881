"""Destination, Budget and Slot on their own: no server, the ends of
``socket.socketpair()`` wrapped in real PlainConnections, and a socket pool
whose clock the test advances by hand (the socket pool's own tests:
tests/test_sockets.py)."""

import socket
import weakref

import gevent
import pytest
from collector import napix_garbage

from napix.models import Request
from napix.transports.destination import Budget, Slot
from napix.transports.head import Limits
from napix.transports.http11 import HTTP11Connection, InvalidResponse
from napix.transports.sockets import SocketPool

pytestmark = pytest.mark.timeout(20)


def make_slot(destination, budget, idle_timeout=0.0):
    return Slot(destination, budget, idle_timeout)




# Idle sockets: last in, first out, each until it expires

def test_checkin_then_checkout_gives_the_most_recent_first(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    first, second = peers.connect(pool), peers.connect(pool)
    destination.checkin(first, 10)
    destination.checkin(second, 10)
    assert pool.idle == 2
    assert destination.checkout() is second
    assert destination.checkout() is first
    assert destination.checkout() is None
    assert pool.open == 2  # checked out, not closed
    assert not peers.closed(first) and not peers.closed(second)


def test_checkin_gives_the_parser_back_to_the_spares(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    conn = peers.connect(pool)
    peers.peer(conn).sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    response = conn.exchange(Request('GET', 'h', 'h', '/x'), b'GET /x HTTP/1.1\r\n\r\n',
                             Limits(1 << 20, 8192, 8192, 100), False, 5.0)
    assert (response.status, response.content, conn.keep_alive) == (200, b'ok', True)
    assert pool.spares.free == []
    destination.checkin(conn, 10)
    assert conn.busy is None
    assert len(pool.spares.free) == 1


def test_an_expired_socket_is_closed_on_checkout_and_the_next_good_one_given(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    lasting, brief = peers.connect(pool), peers.connect(pool)
    destination.checkin(lasting, 100)
    destination.checkin(brief, 5)
    clock.advance(4.9)
    assert destination.checkout() is brief  # not yet expired
    destination.checkin(brief, 5)
    clock.advance(5.1)
    assert destination.checkout() is lasting
    assert peers.closed(brief)
    assert not peers.closed(lasting)
    assert pool.open == 1  # its place given back


def test_checkout_gives_none_when_every_idle_socket_expired(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    conns = [peers.connect(pool) for _ in range(3)]
    for conn in conns:
        destination.checkin(conn, 1)
    clock.advance(1.5)
    assert destination.checkout() is None
    assert all(peers.closed(conn) for conn in conns)
    assert pool.open == 0
    assert destination.idle == []


@pytest.mark.parametrize('peer_does', ['closes', 'sends stray bytes'])
def test_a_socket_the_peer_closed_or_wrote_to_is_not_reused(clock, peers, peer_does):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    good, bad = peers.connect(pool), peers.connect(pool)
    destination.checkin(good, 10)
    destination.checkin(bad, 10)
    if peer_does == 'closes':
        peers.peer(bad).close()
    else:
        peers.peer(bad).sendall(b'HTTP/1.1 408 Request Timeout\r\n\r\n')
    assert destination.checkout() is good
    assert bad.sock.fileno() == -1  # closed
    assert pool.open == 1
    assert destination.checkout() is None


def test_a_slot_keeps_its_destination(clock):
    pool = SocketPool(10, clock=clock)
    slot = make_slot(pool.destination('k'), None)
    assert pool.destination('k') is slot.destination


# Budgets and slots

def test_a_budget_is_the_same_for_the_same_limit(clock):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    two = destination.budget(2)
    assert isinstance(two, Budget) and destination.budget(2) is two
    assert two.counter == 2
    three = destination.budget(3)
    assert isinstance(three, Budget) and three is not two and three.counter == 3
    assert destination.budget(3) is three
    assert destination.budgets == {2: two, 3: three}
    assert pool.destination('other').budget(2) is not two


def test_a_budget_serves_its_line_first_come_first_served():
    budget = Budget(1)
    budget.acquire()
    assert budget.counter == 0 and budget.in_line() == 0
    order = []

    def use(name):
        budget.acquire()
        order.append(name)
        budget.release()

    line = [gevent.spawn(use, name) for name in 'abc']
    gevent.sleep(0)
    assert order == [] and budget.in_line() == 3
    budget.release()  # passed to a, not freed
    assert budget.counter == 0 and budget.in_line() == 2
    gevent.joinall(line, timeout=2)
    assert order == ['a', 'b', 'c']
    assert budget.counter == 1 and budget.in_line() == 0


def test_a_budget_never_gives_more_places_than_its_limit(clock):
    # Waiters killed in line, places released while others arrive: at no
    # time are more than *limit* held, and every place comes back.
    budget = Budget(2)
    held = [0]
    most = [0]

    def user(pause):
        budget.acquire()
        try:
            held[0] += 1
            most[0] = max(most[0], held[0])
            gevent.sleep(pause)
        finally:
            held[0] -= 1
            budget.release()

    users = [gevent.spawn(user, 0.001 * (i % 3)) for i in range(30)]
    gevent.sleep(0)
    gevent.killall(users[10:15])  # killed while waiting in line
    gevent.sleep(0.0005)
    gevent.killall(users[20:22])  # killed while holding, or waiting
    gevent.joinall(users, timeout=5)
    assert all(user.ready() for user in users)
    assert most[0] == 2
    assert held[0] == 0
    assert budget.counter == 2
    budget.acquire()
    budget.acquire()  # both places free again, without waiting
    assert budget.counter == 0


def test_a_slot_takes_a_place_and_gives_it_back_once(clock):
    pool = SocketPool(10, clock=clock)
    budget = pool.destination('k').budget(2)
    slot = make_slot(pool.destination('k'), budget)
    slot.acquire()
    assert budget.counter == 1
    slot.release()
    assert budget.counter == 2
    slot.release()  # twice: harmless
    assert budget.counter == 2
    unbounded = make_slot(pool.destination('k'), None)
    unbounded.acquire()
    unbounded.release()
    unbounded.release()


def test_a_slot_waits_for_a_place(clock):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    first = make_slot(destination, destination.budget(1))
    second = make_slot(destination, destination.budget(1))
    first.acquire()
    waiter = gevent.spawn(second.acquire)
    try:
        gevent.sleep(0.02)
        assert not waiter.ready()
        first.release()
        waiter.join(timeout=2)
        assert waiter.successful()
        assert destination.budget(1).counter == 0
    finally:
        waiter.kill()


def test_a_slots_socket_is_checked_in_when_it_is_released(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    budget = destination.budget(2)
    slot = make_slot(destination, budget, 30)
    slot.acquire()
    conn = slot.conn = peers.connect(pool)
    slot.release()
    assert slot.conn is None
    assert budget.counter == 2
    assert conn.expires == clock() + 30
    slot.release()  # twice: not checked in twice
    assert pool.idle == 1
    clock.advance(29)
    assert destination.checkout() is conn
    destination.checkin(conn, 30)
    clock.advance(31)
    assert destination.checkout() is None
    assert peers.closed(conn)


def test_let_others_go_first_lets_the_waiting_go_first(clock):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    events = []
    mine = make_slot(destination, destination.budget(1))
    mine.acquire()

    def other(name):
        slot = make_slot(destination, destination.budget(1))
        events.append(name + ' waits')
        slot.acquire()
        events.append(name + ' runs')
        slot.release()

    waiters = [gevent.spawn(other, 'b'), gevent.spawn(other, 'c')]
    try:
        gevent.sleep(0)
        events.append('a lets others go')
        mine.let_others_go_first()
        events.append('a runs again')
        assert mine.held
        assert destination.budget(1).counter == 0
        mine.release()
        gevent.joinall(waiters, timeout=2)
        assert events == ['b waits', 'c waits', 'a lets others go', 'b runs', 'c runs',
                          'a runs again']
    finally:
        gevent.killall(waiters)


def test_let_others_go_first_keeps_the_place_when_no_one_waits(clock):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    events = []
    mine = make_slot(destination, destination.budget(1))
    mine.acquire()
    ready = gevent.spawn(events.append, 'other greenlet')  # ready, not waiting for a place
    try:
        mine.let_others_go_first()
        events.append('a')
        assert destination.budget(1).counter == 0
        ready.join(timeout=2)
        assert events == ['a', 'other greenlet']  # it did not yield
    finally:
        ready.kill()
        mine.release()


# No reference cycles: dropped objects are freed by reference counting

def _exchange_once(conn):
    conn.exchange(Request('GET', 'h', 'h', '/x'), b'GET /x HTTP/1.1\r\n\r\n',
                  Limits(1 << 20, 8192, 8192, 100), False, 5.0)


def test_a_dropped_pool_destination_slot_and_connection_are_freed(clock, no_gc):
    def make():
        pool = SocketPool(10, clock=clock)
        destination = pool.destination('k')
        slot = make_slot(destination, destination.budget(2), 30)
        slot.acquire()
        pool.reserve()
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        conn = HTTP11Connection(mine, pool.spares)
        theirs.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        _exchange_once(conn)
        assert not conn.readable()
        conn.rest()  # its parser to the spares
        slot.release()
        destination.discard(conn)
        return weakref.ref(pool), weakref.ref(destination), weakref.ref(conn), theirs

    pool, destination, conn, theirs = make()
    try:
        assert (pool(), destination(), conn()) == (None, None, None)
        assert napix_garbage() == []
    finally:
        theirs.close()


def test_a_dropped_exchange_is_freed(clock, no_gc):
    def make():
        pool = SocketPool(10, clock=clock)
        pool.reserve()
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        conn = HTTP11Connection(mine, pool.spares)
        theirs.sendall(b'garbage\r\n\r\n')
        theirs.close()
        with pytest.raises(InvalidResponse):
            _exchange_once(conn)
        assert conn.busy is None
        return weakref.ref(pool), weakref.ref(conn)

    pool, conn = make()
    assert (pool(), conn()) == (None, None)
    assert napix_garbage() == []


# No limit: a budget that never waits

def test_a_slot_outside_any_limit_has_the_budget_that_never_waits(clock):
    from napix.transports.destination import NO_LIMIT, Unlimited
    pool = SocketPool(10, clock=clock)
    slot = Slot(pool.destination('k'), None, 0)
    assert slot.budget is NO_LIMIT and isinstance(NO_LIMIT, Unlimited)
    others = [Slot(pool.destination('k'), NO_LIMIT, 0) for _ in range(1000)]
    for one in [slot] + others:
        one.acquire()  # never waits
    assert NO_LIMIT.in_line() == 0 and not NO_LIMIT.contended and NO_LIMIT.line is None
    for one in [slot] + others:
        one.release()
    slot.let_others_go_first()  # nobody waits: nothing to do


def test_a_budget_says_when_it_was_contended():
    budget = Budget(1)
    assert not budget.contended and budget.line is None
    budget.acquire()
    waiter = gevent.spawn(budget.acquire)
    gevent.sleep(0)
    assert budget.contended and budget.line is not None and budget.in_line() == 1
    budget.release()
    waiter.join()
    assert budget.in_line() == 0 and budget.taken == 1
    budget.release()
    assert budget.taken == 0


def test_a_destination_starts_with_no_budget(clock):
    destination = SocketPool(10, clock=clock).destination('k')
    assert destination.budgets == {}
    assert repr(destination) == '<Destination 0 idle>'
    destination.budget(2).acquire()
    assert repr(destination) == '<Destination 0 idle, 1 of 2 in flight>'
    destination.budget(2).release()
