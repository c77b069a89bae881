"""Many requests to many Napix servers at once.

>>> pool = ClientPool(TokenIdentifier('...'))               # doctest: +SKIP
>>> pool.request('server.napix.nx', 'GET', '/')            # doctest: +SKIP
<PendingRequest GET server.napix.nx/ pending>
>>> pool.wait()                                             # doctest: +SKIP
[<Response 200 OK>]

Each host with pending requests gets a queue, released when they are done:
a request waits there for its host's limit. Worker greenlets, at most
*simultaneous* per host and *max_in_flight* in all, take requests from the
queues in turn (:mod:`napixd.client.workers`), and send them through the
pool's shared connection in a slot of each host's
:class:`~napix.transports.destination.Destination`. The pool's options are
checked once, as a :class:`~napix.options.ConnectionOptions`; a host's
:class:`napixd.client.gevent.Client` is made from them only when asked for
(:meth:`ClientPool.get_client`). A thousand
requests to one host cost two greenlets, not a thousand, and a hundred
thousand hosts cost a thousand.

Nothing in a pool refers back to it: a pool dropped without
:meth:`ClientPool.close` is freed at once by reference counting, and its
kept-alive sockets stay with the thread's
:class:`~napix.transports.destination.Destination` of each host, for the
next pool to reuse. A worker holds a place of its host's destination budget
while it sends the host's requests one after the other, and passes it on
only when others (another pool, a client) wait for one.
"""

from __future__ import annotations

from collections import deque
from time import monotonic
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Union

from gevent.event import AsyncResult, Event

from napix.authenticators import Credentials, from_credentials
from napix.checks import (Body, Params, TimeoutArg, build_request, check_count, check_limit,
                          check_positive_int, check_seconds)
from napix.options import ConnectionOptions
from napix.defaults import DEFAULT_SIMULTANEOUS
from napix.exceptions import HTTPError
from napix.hosts import parse_host
from napix.models import Request, Response
from napixd.client.gevent import Client
from napixd.client.workers import Clients, HostQueue, HostQueues, Workers

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
    # Set by ClientPool.request() (a Python __init__ would cost a call more).
    request: Request
    _queue: Optional['HostQueue']
    _worker: Any

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


class _Arrivals(object):
    """The requests of one :meth:`ClientPool.wait_unordered` iteration that
    completed and were not yet yielded: the pool's workers call it with each
    request they settle; it keeps those of the iteration (made before it
    began: their number in *pending* is at most its own)."""

    __slots__ = ('pending', 'number', 'ready', 'arrived')

    def __init__(self, pending: Dict[PendingRequest, int], number: int) -> None:
        self.pending = pending
        self.number = number
        self.ready: Deque[PendingRequest] = deque()
        self.arrived = Event()

    def __call__(self, handle: PendingRequest) -> None:
        # Settled just now, so not collected yet: still in pending.
        if self.pending.get(handle, self.number) <= self.number:
            self.ready.append(handle)
            self.arrived.set()


class ClientPool(object):
    """Send requests to many Napix servers at once.

    :param authenticator: as for :class:`napixd.client.Client`: a callable
        from :mod:`napix.authenticators`, or a mapping with ``login`` and ``key``.
    :param simultaneous: the most requests in flight to one host at a time
        (default 2, what a Napix server allows a client by default;
        ``maxsize=`` is another name of it). It is
        the destination's budget, shared with every client and pool of the
        thread that names the same host with the same *simultaneous*:
        concurrent pools to one server never exceed it together. Pass
        ``share_limit=False`` for a budget of this pool's own.
    :param max_in_flight: the most requests in flight at once, all hosts
        together (default 1000, :data:`napixd.client.pool.DEFAULT_MAX_IN_FLIGHT`).
    :param client_options: the options of the connections to each host
        (``timeout``, ``verify``, ``resolve``, ``share_limit``, ...: those of
        :class:`napix.connection.Connection` but ``transport``), checked
        here, once (:attr:`options`, a :class:`~napix.options.ConnectionOptions`);
        see :doc:`/resilience` for ``retry``, ``breaker`` and ``resend_busy``.

    Every request comes back exactly once, through :meth:`wait` or
    :meth:`wait_unordered`, as a :class:`~napix.models.Response` or as an
    :exc:`~napix.exceptions.HTTPError`. Used as a context manager, the pool
    cancels on exit what is still pending.
    """

    def __init__(self, authenticator: Credentials, simultaneous: Optional[int] = None,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, **client_options: Any) -> None:
        self.authenticator = from_credentials(authenticator)
        self.simultaneous = check_limit(simultaneous, client_options.pop('maxsize', None),
                                      DEFAULT_SIMULTANEOUS)
        if 'transport' in client_options:
            raise TypeError('a ClientPool makes one transport per host: give the options '
                            'of its connections (timeout, verify, ...), not a transport')
        self.client_options = client_options
        #: The options of the connections to each host, checked once.
        self.options = ConnectionOptions(self.authenticator, simultaneous=self.simultaneous,
                                         **client_options)
        self._clients = Clients(self.options)
        self._workers = Workers(check_positive_int('max_in_flight', max_in_flight))
        # A host's queue, while it has requests pending or in flight.
        self._queues = HostQueues(self._clients, self.simultaneous, self._workers)
        # The requests not yet collected, each with the number of the
        # wait_unordered() iterations begun before it was made.
        self._pending: Dict[PendingRequest, int] = {}
        self._iterations = 0

    def get_client(self, host: str) -> Client:
        """The :class:`~napixd.client.gevent.Client` of *host*: the same one
        while the host has requests in the pool or the caller holds it."""
        queue = self._live_queue(host)
        client = queue.client() if queue is not None else self._clients.make(host)
        self._clients.hold(host, client)
        return client

    @property
    def clients(self) -> Dict[str, Client]:
        """The live clients by host: those of the hosts with requests in the
        pool, and those the caller holds (:meth:`get_client`). A host's client
        is made when asked for (here, or by :meth:`get_client`), and lives while
        the host has requests in the pool, or while the caller holds it."""
        live: Dict[str, Optional[Client]] = {
            host: ref() for host, ref in list(self._clients.held.items())}  # type: ignore[misc]
        for host, queue in list(self._queues.items()):
            live[host] = queue.client()
        return {host: client for host, client in live.items() if client is not None}

    def _live_queue(self, host: str) -> Optional[HostQueue]:
        try:
            return self._queues.get(host)
        except TypeError:  # unhashable: the client refuses it with a message
            return None

    def request(self, host: str, method: str, url: str, body: Body = None,
                headers: Optional[Mapping[str, str]] = None, params: Params = None,
                timeout: Optional[TimeoutArg] = None) -> PendingRequest:
        """Start a request; return its :class:`~napixd.client.pool.PendingRequest`.

        The arguments are as for :meth:`napixd.client.Client.request`, checked
        and encoded at once: a bad one raises :exc:`ValueError` or
        :exc:`TypeError` here, before anything is sent. The request itself
        runs in the background.
        """
        try:
            queue = self._queues[host]  # made for a new host: a bad one raises there
        except TypeError:  # unhashable
            parse_host(host)  # raises, saying what a host is
            raise
        handle = PendingRequest()
        handle.request = build_request(host, queue.authority, method, url, body, headers,
                                       params, timeout)
        handle._queue = queue
        handle._worker = None
        self._pending[handle] = self._iterations
        queue.push(handle)
        return handle

    def _collect(self, handle: PendingRequest) -> Result:
        """Remove *handle* from the pool and return its result."""
        del self._pending[handle]
        error = handle.exception
        if error is None:
            response: Response = handle.value
            return response
        result: HTTPError = error
        return result

    def wait(self) -> List[Result]:
        """Wait for every request not yet collected; return their results in the
        order the requests were made.

        Each result is the :class:`~napix.models.Response`, or the
        :exc:`~napix.exceptions.HTTPError` (returned, not raised): a failure of
        any kind (a bug in an authenticator, say) is an
        :exc:`~napix.exceptions.TransportError` whose ``__cause__`` is the
        exception. It never raises because of one request.
        """
        handles = list(self._pending)
        # The last ones first: the requests are mostly answered in order, so
        # this wakes up once, not once per request.
        for handle in reversed(handles):
            handle.wait()
        pending = self._pending
        # An exception is always true: the error, else the response.
        if len(pending) == len(handles) and (not handles or next(reversed(pending)) is handles[-1]):
            # Nothing taken meanwhile by a wait_unordered() (the same count)
            # and nothing added (a new request would be last): all of them.
            pending.clear()
            return [handle.exception or handle.value for handle in handles]
        results: List[Result] = []
        for handle in handles:
            if handle in pending:  # not taken meanwhile by a wait_unordered()
                del pending[handle]
                results.append(handle.exception or handle.value)
        return results

    def wait_unordered(self, count: Optional[int] = None,
                       timeout: Optional[float] = None) -> Iterator[Result]:
        """Yield the results of the requests not yet collected, as they complete.

        :param count: yield at most this many (``None`` or ``-1``: all).
        :param timeout: seconds; when they have passed, the iteration simply
            stops, so ``for ... else`` sees it end.

        Results not yielded (after a ``break``, a *count* or a *timeout*) stay
        in the pool: a later :meth:`wait` or :meth:`wait_unordered` returns them.
        """
        if count == -1:
            count = None
        elif count is not None:
            check_count('count', count)
        if timeout is not None:
            check_seconds('timeout', timeout, zero_ok=True)
        # Not a generator itself, so that bad arguments raise here, at the call.
        return self._iter_completed(count, timeout)

    def _iter_completed(self, count: Optional[int],
                        timeout: Optional[float]) -> Iterator[Result]:
        # Not gevent.iwait(): it keeps its list of every request until the
        # iteration ends, and with them each response already handed over
        # (a fan-out's memory would grow however promptly the caller drops them).
        pending = self._pending
        linked = len(pending)
        count = linked if count is None else min(count, linked)
        if not count:
            return
        # Answers arrive one by one, each from its own worker: the workers
        # put them aside as they settle them (no link on each request), and
        # the caller is woken once for all those that came meanwhile (not
        # once per answer). The requests made after it began are not its own.
        arrivals = _Arrivals(pending, self._iterations)
        self._iterations += 1
        ready = arrivals.ready
        ready.extend(handle for handle in pending if handle.ready())
        listeners = self._workers.listeners
        listeners.append(arrivals)
        arrived = arrivals.arrived
        deadline = None if timeout is None else monotonic() + timeout
        try:
            while count and linked:
                if not ready:
                    arrived.clear()
                    if not arrived.wait(None if deadline is None
                                        else max(0.0, deadline - monotonic())):
                        return
                handle = ready.popleft()
                linked -= 1
                if handle in pending:  # not taken meanwhile by another wait
                    count -= 1
                    yield self._collect(handle)
        finally:
            listeners.remove(arrivals)
            ready.clear()  # no handle -> queue -> workers -> arrivals -> handle cycle left

    def cancel(self) -> None:
        """Cancel every request not done yet; their results become
        :exc:`~napix.exceptions.Cancelled` errors (still returned by :meth:`wait`)."""
        queues = list(self._queues.values())
        for queue in queues:
            queue.fail_queued()
        self._workers.stop()
        for queue in queues:  # those that had no worker
            queue.leave()

    def close(self) -> None:
        """Cancel what is pending and close the idle sockets to the pool's hosts."""
        self.cancel()
        self._clients.close_idle()

    def __enter__(self) -> 'ClientPool':
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        """The number of requests not yet collected."""
        return len(self._pending)

    def __repr__(self) -> str:
        return '<ClientPool {0} hosts, {1} pending>'.format(len(self._clients.hosts),
                                                           len(self._pending))
