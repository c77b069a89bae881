"""SocketPool on its own: the thread's sockets bounded in number, idle ones
evicted least recently used first and swept when expired, its registry of
destinations; no server, the ends of ``socket.socketpair()`` wrapped in real
connections, and a clock the test advances by hand."""

import gc
import socket
import weakref

import gevent
import pytest
from handmade import active_watchers

from napix.transports import sockets
from napix.transports.destination import Destination, Slot
from napix.transports.http11 import HTTP11Connection
from napix.transports.sockets import SocketPool, max_sockets, set_max_sockets

pytestmark = pytest.mark.timeout(20)




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


# max_sockets

def test_set_max_sockets(monkeypatch):
    monkeypatch.setattr(sockets, '_max_sockets', None)
    assert max_sockets() >= 16
    set_max_sockets(5)
    assert max_sockets() == 5
    set_max_sockets(None)
    assert max_sockets() >= 16
    for wrong, error in ((0, ValueError), (-1, ValueError), (True, TypeError),
                         (1.5, TypeError), ('3', TypeError)):
        with pytest.raises(error, match='max_sockets'):
            set_max_sockets(wrong)


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



def test_note_idle_lists_a_destination_once_and_sweeps_from_then_on(clock, peers):
    pool = SocketPool(10, clock=clock)
    destination = pool.destination('k')
    before = active_watchers()
    conn = peers.connect(pool)
    destination.checkin(conn, 30)
    assert destination.in_lru and list(pool.lru) == [destination]
    assert active_watchers() == before + 1  # the sweep timer
    other = peers.connect(pool)
    destination.checkin(other, 30)
    assert list(pool.lru) == [destination] and pool.idle == 2 and pool.open == 2
    pool.close_idle()
    assert not destination.in_lru and pool.lru == {} and active_watchers() == before


def test_the_registry_keys_destinations_by_socket_key(clock):
    from napix.transports.gevent import SocketKey
    pool = SocketPool(10, clock=clock)
    key = SocketKey('http', '127.0.0.1', 8002, 'server.napix.nx', None)
    destination = pool.destination(key)
    assert destination.key.address == '127.0.0.1' and destination.key.port == 8002
    assert pool.destination(SocketKey('http', '127.0.0.1', 8002, 'server.napix.nx', None)) \
        is destination
    assert pool.destination(key._replace(port=8003)) is not destination
