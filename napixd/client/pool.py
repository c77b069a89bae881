"""Many requests to many Napix servers at once.

>>> pool = ClientPool(TokenIdentifier('...'))               # doctest: +SKIP
>>> pool.request('server.napix.nx', 'GET', '/')            # doctest: +SKIP
<PendingRequest GET server.napix.nx/ pending>
>>> pool.wait()                                             # doctest: +SKIP
[<Response 200 OK>]

Each host gets one :class:`napixd.client.gevent.Client` and a queue; worker
greenlets, at most *simultaneous* per host and *max_in_flight* in all, take
requests from the queues in turn. A thousand requests to one host cost two
greenlets, not a thousand, and a hundred thousand hosts cost a thousand.

Nothing in a pool refers back to it: a pool dropped without
:meth:`ClientPool.close` is freed at once by reference counting, and its kept-alive sockets go back
to the thread's :class:`~napix.transports.sockets.SocketPool` for the next
pool to reuse.
"""

from __future__ import annotations

import pickle  # noqa: F401 - gevent pickles tracebacks: import it before descriptors run out
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Union
from weakref import WeakValueDictionary

import gevent
from gevent import GreenletExit, getcurrent
from gevent.event import AsyncResult

from napix.authenticators import Credentials, from_credentials
from napix.checks import Body, Params, TimeoutArg
from napix.exceptions import Cancelled, HTTPError
from napix.models import Request, Response
from napixd.client.client import Client as BaseClient
from napixd.client.gevent import Client, check_simultaneous

__all__ = ['ClientPool', 'PendingRequest', 'DEFAULT_MAX_IN_FLIGHT']

#: The most requests a pool has in flight at once, all hosts together.
DEFAULT_MAX_IN_FLIGHT = 1000

Result = Union[Response, HTTPError]


class PendingRequest(AsyncResult):
    """A request started by :meth:`ClientPool.request`.

    It is a :class:`gevent.event.AsyncResult`, so gevent's own waiting
    functions accept it (``gevent.iwait``, ``gevent.joinall``, ``gevent.wait``),
    as do ``get()``, ``ready()``, ``successful()``, ``value`` and
    ``exception``. Its value is the :class:`~napix.models.Response`; its
    exception the :exc:`~napix.exceptions.HTTPError` (or whatever else went
    wrong). ``request`` is the :class:`~napix.models.Request`.
    """

    __slots__ = ('request', '_queue', '_worker')

    def __init__(self, queue: '_HostQueue', request: Request) -> None:
        AsyncResult.__init__(self)
        self.request = request
        self._queue: Optional[_HostQueue] = queue
        self._worker: Any = None

    def cancel(self) -> None:
        """Cancel the request if it is not done: a queued request is never
        sent, one in flight has its socket closed. Its result becomes a
        :exc:`~napix.exceptions.Cancelled` error."""
        if not self.ready() and self._queue is not None:
            self._queue.cancel(self)

    def __repr__(self) -> str:
        if not self.ready():
            state = 'pending'
        elif self.exception is None:
            state = repr(self.value)
        else:
            state = repr(self.exception)
        return '<PendingRequest {0} {1}>'.format(self.request, state)

    __str__ = __repr__


class _Workers(object):
    """The worker greenlets of one pool: how many run, and the host queues
    that wait for one."""

    __slots__ = ('max_in_flight', 'running', 'waiting')

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.running = 0
        self.waiting: Deque[_HostQueue] = deque()

    def offer(self, queue: '_HostQueue') -> None:
        """*queue* has work: start a worker on it, or put it in line for one."""
        if not queue.wants_worker():
            return
        if self.running < self.max_in_flight:
            self.running += 1
            queue.workers.append(gevent.spawn(_work, self, queue))
        elif not queue.in_line:
            queue.in_line = True
            self.waiting.append(queue)

    def next_queue(self) -> Optional['_HostQueue']:
        """A queue in line that still wants a worker, or ``None``."""
        waiting = self.waiting
        while waiting:
            queue = waiting.popleft()
            queue.in_line = False
            if queue.wants_worker():
                return queue
        return None


class _HostQueue(object):
    """The requests of one host not yet taken by a worker, and its workers."""

    __slots__ = ('client', 'queue', 'workers', 'simultaneous', 'in_line', 'pool_workers',
                 '__weakref__')

    def __init__(self, client: Client, simultaneous: int, workers: _Workers) -> None:
        self.client = client
        # Made on demand and dropped when drained: a pool of 100,000 hosts
        # holds no empty queue (a deque is ~600 bytes).
        self.queue: Optional[Deque[PendingRequest]] = None
        self.workers: List[Any] = []  # at most *simultaneous* greenlets
        self.simultaneous = simultaneous
        self.in_line = False
        self.pool_workers = workers

    def wants_worker(self) -> bool:
        return bool(self.queue) and len(self.workers) < self.simultaneous

    def cancel(self, handle: PendingRequest) -> None:
        try:
            if self.queue is None:
                raise ValueError('not queued')
            self.queue.remove(handle)
        except ValueError:
            worker = handle._worker
            if worker is not None:
                worker.kill(block=True)
        _settle(handle, None, Cancelled(handle.request, 'cancelled'))
        self.pool_workers.offer(self)  # the killed worker may have left requests


def _work(workers: _Workers, queue: Optional[_HostQueue]) -> None:
    """A worker: drain *queue*, then the queues in line, then stop."""
    me = getcurrent()
    try:
        while queue is not None:
            if me not in queue.workers:
                queue.workers.append(me)
            try:
                _drain(queue, me)
            finally:
                queue.workers.remove(me)
            queue = workers.next_queue()
    finally:
        workers.running -= 1


def _drain(queue: _HostQueue, me: Any) -> None:
    client = queue.client
    while True:
        pending = queue.queue  # read again each time: a request may bring a new one
        if not pending:
            queue.queue = None
            return
        handle = pending.popleft()
        handle._worker = me
        try:
            # The pool bounds the workers of a host: the client's own limit
            # (the destination's budget, in the connection) is the only one.
            response = BaseClient.send(client, handle.request)
        except GreenletExit:
            _settle(handle, None, Cancelled(handle.request, 'cancelled'))
            raise
        except BaseException as error:  # an HTTPError, or a bug: wait() raises the latter
            _settle(handle, None, error)
        else:
            if not handle.ready():  # not cancelled meanwhile
                handle._queue = None
                handle.set(response)
        finally:
            handle._worker = None


def _settle(handle: PendingRequest, response: Optional[Response],
            error: Optional[BaseException]) -> None:
    """Resolve *handle* once, whatever fails on the way."""
    if handle.ready():
        return
    handle._queue = None
    if error is None:
        handle.set(response)
        return
    if error.__traceback__ is not None:
        # Drop this module's frames: they refer to the handle (a cycle).
        error.__traceback__ = error.__traceback__.tb_next
    try:
        handle.set_exception(error)
    except BaseException:  # even this can fail (no descriptor left): keep the error
        AsyncResult.set_exception(handle, Cancelled(handle.request, 'failed: {0}'.format(
            type(error).__name__)))


class ClientPool(object):
    """Send requests to many Napix servers at once.

    :param authenticator: as for :class:`napixd.client.Client`: a callable
        from :mod:`napix.authenticators`, or a mapping with ``login`` and ``key``.
    :param simultaneous: the most requests in flight to one host at a time
        (default 2, what a Napix server allows a client by default). It is
        the destination's budget, shared with every client and pool of the
        thread that names the same host with the same *simultaneous*:
        concurrent pools to one server never exceed it together. Pass
        ``share_limit=False`` for a budget of this pool's own.
    :param max_in_flight: the most requests in flight at once, all hosts
        together (default 1000, :data:`napixd.client.pool.DEFAULT_MAX_IN_FLIGHT`).
    :param client_options: passed to each :class:`napixd.client.gevent.Client`
        (``timeout``, ``verify``, ``resolve``, ``share_limit``, ...).

    Every request comes back exactly once, through :meth:`wait` or
    :meth:`wait_unordered`, as a :class:`~napix.models.Response` or as an
    :exc:`~napix.exceptions.HTTPError`. Used as a context manager, the pool
    cancels on exit what is still pending.
    """

    def __init__(self, authenticator: Credentials, simultaneous: int = 2,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, **client_options: Any) -> None:
        self.authenticator = from_credentials(authenticator)
        self.simultaneous = check_simultaneous(simultaneous)
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) \
                or max_in_flight < 1:
            raise ValueError('max_in_flight must be an int >= 1, not {0!r}'.format(
                max_in_flight))
        if 'transport' in client_options:
            raise TypeError('a ClientPool makes one transport per host: give the options '
                            'of its connections (timeout, verify, ...), not a transport')
        # Check the options now rather than at the first request of each host.
        Client('localhost', self.authenticator, simultaneous, **client_options).close()
        self.client_options = client_options
        # A host's client and queue live while it has requests not done (or
        # while the user holds the client): a pool that has sent to 100,000
        # hosts keeps, of each, only its transport (for close()).
        self.clients: 'WeakValueDictionary[str, Client]' = WeakValueDictionary()
        self._queues: 'WeakValueDictionary[str, _HostQueue]' = WeakValueDictionary()
        self._transports: Dict[str, Any] = {}
        self._pending: Dict[PendingRequest, None] = {}
        self._workers = _Workers(max_in_flight)

    def get_client(self, host: str) -> Client:
        """The :class:`~napixd.client.gevent.Client` of *host*: the same one
        while the host has requests in the pool or the caller holds it."""
        # A host that is not a str is refused by Client, with a message.
        client = self.clients.get(host) if isinstance(host, str) else None
        if client is None:
            client = Client(host, self.authenticator, self.simultaneous,
                            **self.client_options)
            self.clients[host] = client
            self._transports[host] = client.connection.transport
        return client

    def _queue(self, host: str) -> '_HostQueue':
        client = self.get_client(host)
        queue = self._queues[host] = _HostQueue(client, self.simultaneous, self._workers)
        return queue

    def request(self, host: str, method: str, url: str, body: Body = None,
                headers: Optional[Mapping[str, str]] = None, params: Params = None,
                timeout: Optional[TimeoutArg] = None) -> PendingRequest:
        """Start a request; return its :class:`~napixd.client.pool.PendingRequest`.

        The arguments are as for :meth:`napixd.client.Client.request`, checked
        and encoded at once: a bad one raises :exc:`ValueError` or
        :exc:`TypeError` here, before anything is sent. The request itself
        runs in the background.
        """
        queue = self._queues.get(host) if isinstance(host, str) else None
        if queue is None:
            queue = self._queue(host)
        handle = PendingRequest(queue, queue.client.connection.build_request(
            method, url, body, headers, params, timeout))
        self._pending[handle] = None
        pending = queue.queue
        if pending is None:
            pending = queue.queue = deque()
        pending.append(handle)
        if len(queue.workers) < queue.simultaneous:
            self._workers.offer(queue)
        return handle

    def _collect(self, handle: PendingRequest) -> Result:
        """Remove *handle* from the pool and return its result, or raise the
        exception that is not an HTTPError."""
        del self._pending[handle]
        error = handle.exception
        if error is None:
            response: Response = handle.value
            return response
        if isinstance(error, HTTPError):
            return error
        raise error

    def wait(self) -> List[Result]:
        """Wait for every request not yet collected; return their results in the
        order the requests were made.

        Each result is the :class:`~napix.models.Response`, or the
        :exc:`~napix.exceptions.HTTPError` (returned, not raised). Another
        exception (a bug in an authenticator, say) is raised, and the other
        results stay in the pool for a later call.
        """
        handles = list(self._pending)
        # The last ones first: the requests are mostly answered in order, so
        # this wakes up once, not once per request.
        for handle in reversed(handles):
            handle.wait()
        for handle in handles:
            error = handle.exception
            if error is not None and not isinstance(error, HTTPError):
                self._collect(handle)
        return [self._collect(handle) for handle in handles if handle in self._pending]

    def wait_unordered(self, count: Optional[int] = None,
                       timeout: Optional[float] = None) -> Iterator[Result]:
        """Yield the results of the requests not yet collected, as they complete.

        :param count: yield at most this many (``None`` or ``-1``: all).
        :param timeout: seconds; when they have passed, the iteration simply
            stops, so ``for ... else`` sees it end.

        Results not yielded (after a ``break``, a *count* or a *timeout*) stay
        in the pool: a later :meth:`wait` or :meth:`wait_unordered` returns them.
        """
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise TypeError('count must be an int or None, not {0}'.format(
                type(count).__name__))
        if count is not None and count < -1:
            raise ValueError('count must be >= 0, -1 or None (all), not {0}'.format(count))
        if count == -1:
            count = None
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError('timeout must be a number of seconds or None, not {0}'.format(
                    type(timeout).__name__))
            if timeout < 0:
                raise ValueError('timeout must be >= 0, not {0!r}'.format(timeout))
        # Not a generator itself, so that bad arguments raise here, at the call.
        return self._iter_completed(count, timeout)

    def _iter_completed(self, count: Optional[int],
                        timeout: Optional[float]) -> Iterator[Result]:
        if count == 0:
            return
        with gevent.iwait(list(self._pending), timeout=timeout, count=count) as ready:
            for handle in ready:
                if handle in self._pending:
                    yield self._collect(handle)

    def cancel(self) -> None:
        """Cancel every request not done yet; their results become
        :exc:`~napix.exceptions.Cancelled` errors (still returned by :meth:`wait`)."""
        queues = list(self._queues.values())
        for queue in queues:
            while queue.queue:
                handle = queue.queue.popleft()
                _settle(handle, None, Cancelled(handle.request, 'cancelled'))
        workers = [w for queue in queues for w in queue.workers]
        gevent.killall(workers, block=True)

    def close(self) -> None:
        """Cancel what is pending and close the idle sockets to the pool's hosts."""
        self.cancel()
        for transport in self._transports.values():
            transport.close()

    def __enter__(self) -> 'ClientPool':
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        """The number of requests not yet collected."""
        return len(self._pending)

    def __repr__(self) -> str:
        return '<ClientPool {0} hosts, {1} pending>'.format(len(self._transports),
                                                           len(self._pending))
