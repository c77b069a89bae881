"""Destination, Slot and SocketPool on their own: no server, the ends of
``socket.socketpair()`` wrapped in real HTTP11Connections, and a pool whose
clock the test advances by hand."""

import gc
import socket
import weakref

import gevent
import pytest
from test_resources import napix_garbage

from napix.models import Request
from napix.transports import sockets
from napix.transports.destination import Budget, Destination, Slot
from napix.transports.head import Limits
from napix.transports.http11 import HTTP11Connection, InvalidResponse
from napix.transports.sockets import SocketPool, max_sockets, set_max_sockets

pytestmark = pytest.mark.timeout(20)


class Clock(object):
    """The pool's clock, advanced by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Peers(object):
    """Makes connections as the transport does (a place reserved in the
    pool, a non-blocking socket), and keeps the other end of each."""

    def __init__(self):
        self.peers = {}
        self.conns = []
        self.pools = []

    def connect(self, pool):
        if pool not in self.pools:
            self.pools.append(pool)
        pool.reserve()
        mine, theirs = socket.socketpair()
        mine.setblocking(False)  # as GeventTransport._connect makes it
        conn = HTTP11Connection(mine, pool.spares)
        self.peers[conn] = theirs
        self.conns.append(conn)
        return conn

    def peer(self, conn):
        return self.peers[conn]

    def closed(self, conn):
        """Whether the peer sees the connection closed (end of file)."""
        peer = self.peers[conn]
        peer.setblocking(False)
        try:
            return peer.recv(1) == b''
        except BlockingIOError:
            return False

    def close(self):
        for pool in self.pools:
            pool.close_idle()  # and its sweep timer stopped
        self.pools = []
        for conn in self.conns:
            conn.close()
        for peer in self.peers.values():
            peer.close()
        self.conns = []


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def peers():
    made = Peers()
    yield made
    made.close()


def make_slot(destination, budget, idle_timeout=0.0):
    return Slot(destination, budget, idle_timeout)


def active_watchers():
    """The watchers active on the hub's loop (the pool's sweep timer is one)."""
    return gevent.get_hub().loop.activecnt


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


# The bound on the pool's sockets

def test_a_third_socket_evicts_the_least_recently_used_destinations_oldest(clock, peers):
    pool = SocketPool(2, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    one, two = peers.connect(pool), peers.connect(pool)
    first.checkin(one, 100)
    second.checkin(two, 100)
    assert pool.open == 2
    pool.reserve()  # a third socket: no free place, one idle socket goes
    assert peers.closed(one)
    assert not peers.closed(two)
    assert pool.open == 2
    assert first.checkout() is None
    assert second.checkout() is two


def test_eviction_takes_the_oldest_idle_socket_of_a_destination(clock, peers):
    pool = SocketPool(3, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    old, new, other = peers.connect(pool), peers.connect(pool), peers.connect(pool)
    first.checkin(old, 100)
    first.checkin(new, 100)
    second.checkin(other, 100)
    pool.reserve()
    assert peers.closed(old)
    assert not peers.closed(new) and not peers.closed(other)
    assert first.checkout() is new


def test_a_destination_used_since_it_was_listed_gets_a_second_chance(clock, peers):
    pool = SocketPool(2, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    one, two = peers.connect(pool), peers.connect(pool)
    first.checkin(one, 100)
    second.checkin(two, 100)
    pool.sweep()  # the pool looked: nothing expired, neither used since
    assert first.checkout() is one  # first is used again, second is not
    first.checkin(one, 100)
    pool.reserve()
    assert peers.closed(two)
    assert not peers.closed(one)
    assert first.checkout() is one


def test_without_a_second_use_the_first_listed_goes(clock, peers):
    pool = SocketPool(2, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    one, two = peers.connect(pool), peers.connect(pool)
    first.checkin(one, 100)
    second.checkin(two, 100)
    pool.sweep()
    pool.reserve()
    assert peers.closed(one)
    assert not peers.closed(two)


def test_reserve_waits_while_every_socket_is_busy(clock, peers):
    pool = SocketPool(2, clock=clock)
    destination = pool.destination('k')
    one = peers.connect(pool)
    peers.connect(pool)
    waiter = gevent.spawn(pool.reserve)
    try:
        gevent.sleep(0.05)
        assert not waiter.ready()  # both busy: nothing to evict
        assert pool.connects_waiting == 1
        destination.discard(one)  # a socket closed: its place is free
        waiter.join(timeout=2)
        assert waiter.successful()
        assert pool.open == 2
        assert pool.connects_waiting == 0
    finally:
        waiter.kill()


def test_a_socket_checked_in_while_a_connect_waits_makes_room_for_it(clock, peers):
    pool = SocketPool(2, clock=clock)
    destination = pool.destination('k')
    one = peers.connect(pool)
    peers.connect(pool)
    waiter = gevent.spawn(pool.reserve)
    try:
        gevent.sleep(0.05)
        assert not waiter.ready()
        destination.checkin(one, 100)  # the waiting connect needs the place more
        waiter.join(timeout=2)
        assert waiter.successful()
        assert peers.closed(one)
        assert destination.checkout() is None
        assert pool.open == 2
    finally:
        waiter.kill()


# The sweep

def test_sweep_closes_the_expired_sockets_only(clock, peers):
    pool = SocketPool(10, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    short, lasting, other = peers.connect(pool), peers.connect(pool), peers.connect(pool)
    first.checkin(short, 1)
    first.checkin(lasting, 10)
    second.checkin(other, 1)
    clock.advance(5)
    pool.sweep()
    assert peers.closed(short) and peers.closed(other)
    assert not peers.closed(lasting)
    assert pool.open == 1
    assert pool.idle == 1
    assert first.checkout() is lasting



def test_sweep_finds_a_brief_socket_behind_a_lasting_one_and_each_in_its_time(clock, peers):
    # The sweep passes by a destination until its soonest expiry: that of
    # a brief socket checked in after a lasting one, then of the lasting one.
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    lasting, brief = peers.connect(pool), peers.connect(pool)
    destination.checkin(lasting, 10)
    clock.advance(1)
    destination.checkin(brief, 2)
    clock.advance(1.5)
    pool.sweep()
    assert not peers.closed(brief) and not peers.closed(lasting)
    clock.advance(1)
    pool.sweep()
    assert peers.closed(brief) and not peers.closed(lasting)
    clock.advance(6)
    pool.sweep()
    assert not peers.closed(lasting)  # expires at 10
    clock.advance(1)
    pool.sweep()
    assert peers.closed(lasting)
    assert pool.open == 0 and pool.idle == 0 and not pool.lru

def test_the_sweep_timer_runs_only_while_sockets_are_idle(clock, peers):
    before = active_watchers()
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    conn = peers.connect(pool)
    assert active_watchers() == before
    destination.checkin(conn, 1)
    assert active_watchers() == before + 1  # the sweep timer
    pool.sweep()
    assert active_watchers() == before + 1  # still one idle socket
    clock.advance(2)
    pool.sweep()
    assert peers.closed(conn)
    assert active_watchers() == before  # nothing idle: stopped
    conn = peers.connect(pool)
    destination.checkin(conn, 1)
    assert active_watchers() == before + 1
    pool.close_idle()
    assert peers.closed(conn)
    assert active_watchers() == before


@pytest.mark.timeout(10)
def test_the_sweep_timer_closes_expired_sockets_without_a_call(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    conn = peers.connect(pool)
    destination.checkin(conn, 1)
    clock.advance(2)  # expired on the pool's clock
    for _ in range(40):
        if peers.closed(conn):
            break
        gevent.sleep(0.05)
    assert peers.closed(conn)
    assert pool.open == 0


def test_close_idle_of_a_key_closes_that_destinations_sockets_only(clock, peers):
    pool = SocketPool(10, clock=clock)
    first, second = pool.destination('a'), pool.destination('b')
    one, two = peers.connect(pool), peers.connect(pool)
    first.checkin(one, 100)
    second.checkin(two, 100)
    pool.close_idle('a')
    assert peers.closed(one)
    assert not peers.closed(two)
    assert pool.open == 1
    assert second.checkout() is two


# The registry

def test_a_key_gives_the_same_destination_while_it_is_referenced(clock, no_gc):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    assert isinstance(destination, Destination)
    assert pool.destination('k') is destination
    assert pool.destination('other') is not destination
    held = weakref.ref(destination)
    budget = destination.budget(2)
    slot = Slot(destination, budget, 0)
    slot.acquire()
    del destination
    # A place taken (through its slot) keeps its destination: two budgets
    # never share a key.
    assert held() is slot.destination and pool.destination('k') is held()
    assert held().budget(2) is budget
    slot.release()
    del budget, slot
    assert held() is None  # held weakly
    again = pool.destination('k')
    assert again.budget(2).counter == 2  # a new one, with a new budget
    assert pool.destination('k') is again


def test_a_destination_with_an_idle_socket_lives_until_it_is_closed(clock, peers, no_gc):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    conn = peers.connect(pool)
    destination.checkin(conn, 1)
    held = weakref.ref(destination)
    del destination
    assert held() is not None  # its idle socket keeps it
    assert pool.destination('k') is held()
    assert pool.destination('k').checkout() is conn  # reused by whoever comes next
    pool.destination('k').checkin(conn, 1)
    clock.advance(2)
    pool.sweep()
    assert peers.closed(conn)
    assert held() is None
    assert pool.destination('k') is not None


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


# max_sockets

def test_set_max_sockets(monkeypatch):
    monkeypatch.setattr(sockets, '_max_sockets', None)
    assert max_sockets() >= 16
    set_max_sockets(5)
    assert max_sockets() == 5
    set_max_sockets(None)
    assert max_sockets() >= 16
    for wrong in (0, -1, True, 1.5, '3'):
        with pytest.raises(ValueError):
            set_max_sockets(wrong)


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
        assert conn.readable() is False
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


@pytest.mark.parametrize('then', ['kept idle', 'checked out and closed since'])
def test_a_dropped_pool_that_had_an_idle_socket_is_freed(clock, no_gc, then):
    """The pool lists its destinations with idle sockets, and a destination
    refers to its pool: dropped, the two must not keep each other (and the
    idle socket open) until the cyclic collector runs."""
    def make():
        pool = SocketPool(10, clock=clock)
        destination = pool.destination('k')
        pool.reserve()
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        conn = HTTP11Connection(mine, pool.spares)
        destination.checkin(conn, 30)
        if then != 'kept idle':
            assert destination.checkout() is conn
            destination.discard(conn)
        return weakref.ref(pool), weakref.ref(destination), weakref.ref(conn), theirs

    refs = make()
    theirs = refs[-1]
    try:
        alive = [name for name, ref in zip(('pool', 'destination', 'conn'), refs[:3], strict=True)
                 if ref() is not None]
        assert alive == []
        theirs.setblocking(False)
        assert theirs.recv(1) == b''  # the socket closed
    finally:
        theirs.close()
        gc.collect()  # what the collector must free when the assertions fail


def test_a_collected_pool_leaves_no_timer_on_the_loop(clock):
    gc.collect()
    before = active_watchers()

    def make():
        pool = SocketPool(10, clock=clock)
        pool.reserve()
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        pool.destination('k').checkin(HTTP11Connection(mine, pool.spares), 30)
        assert active_watchers() == before + 1
        return weakref.ref(pool), theirs

    pool, theirs = make()
    try:
        gc.collect()
        assert pool() is None
        # A timer left active would wake the loop every second for nothing,
        # and keep gevent.wait() from returning, for ever.
        assert active_watchers() == before
    finally:
        theirs.close()
