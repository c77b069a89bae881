"""The machinery of a :class:`~napixd.client.pool.ClientPool`: host queues,
the worker greenlets that drain them, and the clients they send through.

Each host with pending requests has a :class:`HostQueue`, which lives while
its requests do: a request waits there for its host's limit
(*simultaneous* workers draining the queue at most), and the queue waits in
the :class:`Workers`' line when *max_in_flight* workers run already. The
workers take requests from the queues in turn, and send them through the
pool's shared connection (or the host's client, when the caller asked for
it: both made by :class:`Clients`, from the pool's
:class:`~napix.options.ConnectionOptions`). Nothing here refers back to
the pool.
"""

from __future__ import annotations

import pickle  # noqa: F401 - gevent pickles tracebacks: import it before descriptors run out
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Set, Tuple

import gevent
from gevent import GreenletExit, getcurrent
from gevent.event import AsyncResult

from napix.connection import Connection
from napix.options import ConnectionOptions, Place
from napix.exceptions import Cancelled, HTTPError, TransportError
from napix.models import Request, Response
from napix.transports.destination import Slot
from napix.weakvalues import WeakValues
from napixd.client.client import logger
from napixd.client.gevent import Client

__all__ = ['Handle', 'HostQueue', 'HostQueues', 'Workers', 'Clients', 'settle']


class Handle(Protocol):
    """What a worker resolves: a :class:`~napixd.client.pool.PendingRequest`."""

    request: Request
    #: Its host's queue while it is pending; ``None`` once settled (:func:`settle`).
    _queue: Optional['HostQueue']
    #: The worker sending it, while one does.
    _worker: Any

    def ready(self) -> bool: ...

    def set(self, value: Any = None) -> None: ...

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None: ...


class Workers(object):
    """The worker greenlets of one pool and the queue each drains, the host
    queues in line for one, and who is told of each request they settle."""

    __slots__ = ('max_in_flight', 'running', 'line', 'listeners')

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        #: Each worker greenlet, and the queue it drains (at most *max_in_flight*).
        self.running: Dict[Any, HostQueue] = {}
        #: The host queues in line for a worker (while *max_in_flight* run),
        #: first come, first served.
        self.line: Deque[HostQueue] = deque()
        #: Called with each handle once it is resolved, in the greenlet
        #: that resolved it (they must not block): the pool's
        #: ``wait_unordered()`` iterations, while they run.
        self.listeners: List[Callable[[Any], None]] = []

    def offer(self, queue: 'HostQueue') -> None:
        """*queue* has work: start a worker on it, or put it in line for one."""
        if not queue.wants_worker():
            return
        if len(self.running) < self.max_in_flight:
            queue.working += 1
            self.running[gevent.spawn(_work, self, queue)] = queue
        elif not queue.in_line:
            queue.in_line = True
            self.line.append(queue)

    def next_queue(self) -> Optional['HostQueue']:
        """The first queue in line that still wants a worker (counted as
        drained by one more), or ``None``."""
        line = self.line
        while line:
            queue = line.popleft()
            queue.in_line = False
            if queue.wants_worker():
                queue.working += 1
                return queue
        return None

    def stop(self) -> None:
        """Kill every worker, and wait until they are dead."""
        running = list(self.running)
        gevent.killall(running, block=True)
        for worker in running:
            # Killed before it started: it did not count itself out.
            queue = self.running.pop(worker, None)
            if queue is not None:
                queue.working -= 1
                queue.leave()


class Clients(object):
    """What the pool's requests are sent through, made from its
    :class:`~napix.options.ConnectionOptions` (checked once, when the pool
    is made): the shared connection, and the clients of the hosts asked for.

    The shared connection is made for the first host sent to; its transport
    sends the requests of every host without a client, each in a slot of its
    own host's destination (:meth:`~napix.connection.Connection.slot_at`): a
    fan-out to 100,000 hosts makes no client, connection or transport per
    host. A host's client lives in its queue while the host has requests
    pending; one the caller asked for (:meth:`hold`) is also remembered
    weakly, while the caller holds it, and the host's next queue uses it.
    Of the others, only the host's name is kept (for :meth:`close_idle`)."""

    __slots__ = ('options', 'shared', 'held', 'hosts')

    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options
        self.shared: Optional[Connection] = None
        self.held = WeakValues()
        self.hosts: Set[str] = set()

    def shared_connection(self, host: str, place: Place) -> Connection:
        """The shared connection (``shared``), made for *host* at *place*
        if it is not yet."""
        shared = self.shared
        if shared is None:
            shared = self.shared = Connection.with_options(host, self.options, place)
        return shared

    def held_client(self, host: str) -> Optional[Client]:
        """The client the caller holds for *host*, if any."""
        if not self.held:
            return None
        try:
            ref = self.held.get(host)
        except TypeError:  # unhashable: parse_host refuses it with a message
            return None
        client: Optional[Client] = ref() if ref is not None else None
        return client

    def make(self, host: str, place: Optional[Place] = None) -> Client:
        """The client the caller holds for *host*, or a new one."""
        client = self.held_client(host)
        if client is None:
            client = Client.with_connection(Connection.with_options(host, self.options, place))
            self.hosts.add(host)
        return client

    def hold(self, host: str, client: Client) -> None:
        """Remember *client* as *host*'s while the caller holds it."""
        self.held.put(host, client)

    def close_idle(self) -> None:
        """Close the idle sockets to every host a request was sent to: one
        connection (the shared one, or one made for the first host) closes
        those of each host's destination (:meth:`~napix.connection.Connection.close_at`)."""
        hosts = list(self.hosts)
        if not hosts:
            return
        connection = self.shared or Connection.with_options(hosts[0], self.options)
        for host in hosts:
            connection.close_at(self.options.place(host))


class HostQueues(Dict[str, 'HostQueue']):
    """The queue of each host with requests pending or in flight, by host:
    ``queues[host]`` makes the queue of a host that has none (a bad host
    raises there). A queue leaves once it has neither (:meth:`HostQueue.leave`)."""

    __slots__ = ('clients', 'simultaneous', 'workers')

    def __init__(self, clients: Clients, simultaneous: int, workers: Workers) -> None:
        dict.__init__(self)
        self.clients = clients
        self.simultaneous = simultaneous
        self.workers = workers

    def __missing__(self, host: str) -> 'HostQueue':
        queue = self[host] = HostQueue(host, self)
        return queue


class HostQueue(object):
    """The requests of one host waiting for its limit (not yet taken by a
    worker), and its workers. It lives while one of its requests is pending.

    :meth:`push` queues a request and offers the queue to the workers while
    fewer than *simultaneous* drain it; each worker takes them with :meth:`pop`, the
    oldest first. It keeps where the host is (:class:`~napix.options.Place`),
    not a client: its requests go through the pool's shared connection
    (:meth:`sender`), and a client is made only when asked for
    (:meth:`client`). A pool given 100,000 hosts at once holds their
    requests, not 100,000 clients."""

    __slots__ = ('host', 'authority', 'place', 'queues', 'clients', '_client', 'head', 'rest',
                 'working', 'simultaneous', 'in_line', 'workers')

    def __init__(self, host: str, queues: 'HostQueues') -> None:
        self.host = host
        self.queues = queues  # which it leaves once done (:meth:`leave`)
        clients = self.clients = queues.clients
        client = self._client = clients.held_client(host)
        self.place: Optional[Place] = None
        if client is None:
            # Where it will connect, found now: a bad host or resolve entry
            # raises in pool.request().
            place = self.place = clients.options.place(host)
            self.authority = place.authority
        else:
            self.authority = client.connection.authority
        clients.hosts.add(host)
        # A lone request in head; once a second comes, all of them in rest,
        # oldest first: most hosts of a fan-out get one request, and a deque
        # costs ~600 bytes. Never both.
        self.head: Optional[Handle] = None
        self.rest: Optional[Deque[Handle]] = None
        self.working = 0  # the workers draining it: at most *simultaneous*
        self.simultaneous = queues.simultaneous
        self.in_line = False  # in the workers' line
        self.workers = queues.workers

    def client(self) -> Client:
        """The host's client, made the first time it is asked for."""
        client = self._client
        if client is None:
            client = self._client = self.clients.make(self.host, self.place)
            self.place = None
        return client

    def sender(self) -> Tuple[Connection, Slot]:
        """What a worker sends the host's requests through: the host's
        client's connection when it was made, else the pool's shared one
        (with a slot of the host's destination): a host nobody asked the
        client of costs no client, connection or transport."""
        place = self.place
        if self._client is None and place is not None:
            connection = self.clients.shared_connection(self.host, place)
            slot = connection.slot_at(place)
            if slot is not None:
                return connection, slot
        connection = self.client().connection
        return connection, connection.slot()

    def push(self, handle: Handle) -> None:
        """Queue *handle* after the others, and offer the queue to the
        workers while fewer than *simultaneous* drain it."""
        rest = self.rest
        if rest is not None:
            rest.append(handle)
        elif self.head is None:
            self.head = handle
        else:
            self.rest = deque((self.head, handle))
            self.head = None
        if self.working < self.simultaneous:
            self.workers.offer(self)

    def pop(self) -> Optional[Handle]:
        """The oldest request queued, taken out; ``None`` when there is none."""
        rest = self.rest
        if rest:
            return rest.popleft()
        handle = self.head
        self.head = self.rest = None  # an empty deque is not kept
        return handle

    def empty(self) -> bool:
        """Whether no request is queued (some may be in flight)."""
        return self.head is None and not self.rest

    def wants_worker(self) -> bool:
        """Whether a request is queued and fewer than *simultaneous* workers drain it."""
        return not self.empty() and self.working < self.simultaneous

    def leave(self) -> None:
        """Leave the pool's :class:`HostQueues` if no request is left and no worker."""
        if self.empty() and not self.working and self.queues.get(self.host) is self:
            del self.queues[self.host]

    def cancel(self, handle: Handle) -> None:
        """Settle *handle* as cancelled: taken out if queued, its worker
        killed (with its socket) if in flight."""
        if self.head is handle:
            self.head = None
        elif self.rest is not None and handle in self.rest:
            self.rest.remove(handle)
        else:
            worker = handle._worker
            if worker is not None:
                worker.kill(block=True)
        settle(handle, None, Cancelled(handle.request, 'cancelled'))
        self.workers.offer(self)  # the killed worker may have left requests
        self.leave()

    def fail_queued(self, error: Optional[BaseException] = None) -> None:
        """Settle every request queued with *error*, or as cancelled without
        one (those in flight go on)."""
        handle = self.pop()
        while handle is not None:
            settle(handle, None, error or Cancelled(handle.request, 'cancelled'))
            handle = self.pop()


def _work(workers: Workers, queue: Optional[HostQueue]) -> None:
    """A worker: drain *queue* (which counts it already), then the queues
    in line, then stop."""
    me = getcurrent()
    try:
        while queue is not None:
            try:
                _drain(queue, me)
            finally:
                queue.working -= 1
                if not queue.working:
                    queue.leave()
            queue = workers.next_queue()
            if queue is not None:
                workers.running[me] = queue
    finally:
        workers.running.pop(me, None)


def _drain(queue: HostQueue, me: Any) -> None:
    """Send *queue*'s requests one after the other, holding one place of
    its destination's budget all along: it passes the place on (and waits
    for it again) only when others wait for one."""
    try:
        connection, slot = queue.sender()
    except Exception as error:  # cannot happen, short of memory: fail them, not hang
        queue.fail_queued(error)
        return
    budget: Any = slot.budget  # a connection's slot always has one
    slot.acquire()
    try:
        # Popped after each request (one may bring a new one), until none is left.
        for handle in iter(queue.pop, None):
            handle._worker = me
            try:
                response = connection.send_in(slot, handle.request)
            except GreenletExit:
                settle(handle, None, Cancelled(handle.request, 'cancelled'))
                raise
            except BaseException as error:  # an HTTPError, or a bug: wrapped in one
                settle(handle, None, error)
            else:
                settle(handle, response, None)
            if budget.line is not None:  # others may wait for a place: they go first
                slot.let_others_go_first()
    finally:
        slot.release()


def settle(handle: Handle, response: Optional[Response],
           error: Optional[BaseException]) -> None:
    """Resolve *handle* once, whatever fails on the way: with *response*,
    or with *error* as an :exc:`~napix.exceptions.HTTPError` (another
    exception, a bug in an authenticator say, becomes the ``__cause__`` of a
    :exc:`~napix.exceptions.TransportError`), and tell the listeners."""
    queue = handle._queue
    if queue is None:  # settled already (cancelled meanwhile, say)
        return
    handle._queue = None
    if error is None:
        handle.set(response)
    else:
        _set_error(handle, error)
    if queue.workers.listeners:
        for listener in queue.workers.listeners:
            listener(handle)


def _set_error(handle: Handle, error: BaseException) -> None:
    if error.__traceback__ is not None:
        # Drop this module's frames: they refer to the handle (a cycle).
        error.__traceback__ = error.__traceback__.tb_next
    if isinstance(error, HTTPError):
        logger.info('%s', error)
    else:
        request = handle.request
        wrapped = TransportError(request, error, '{0} failed: {1}: {2}'.format(
            request, type(error).__name__, error))
        wrapped.__cause__ = error
        logger.warning('%s', wrapped)
        error = wrapped
    try:
        handle.set_exception(error)
    except BaseException:  # even this can fail (no descriptor left): keep the error
        AsyncResult.set_exception(handle, Cancelled(handle.request, 'failed: {0}'.format(
            type(error).__name__)))
