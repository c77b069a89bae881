"""What the tests of sockets, destinations and breakers share: a clock
that moves only when told, and connections made as the transport makes them
with the other end of each kept (the ``clock`` and ``peers`` fixtures of
tests/conftest.py)."""

import socket

import gevent

from napix.transports.http11 import HTTP11Connection


class Clock(object):
    """A clock that moves only when told (a pool's, a breaker's), from 1000."""

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


def active_watchers():
    """The watchers active on the hub's loop (the pool's sweep timer is one)."""
    return gevent.get_hub().loop.activecnt
