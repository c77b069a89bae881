"""Many requests to many Napix servers at once.

>>> pool = ClientPool(TokenIdentifier('...'))               # doctest: +SKIP
>>> pool.request('server.napix.nx', 'GET', '/')            # doctest: +SKIP
<PendingRequest GET server.napix.nx/ pending>
>>> pool.wait()                                             # doctest: +SKIP
[<Response 200 OK>]

Each host gets one :class:`napixd.client.gevent.Client`, and at most
*simultaneous* worker greenlets that take its requests in turn, so a server is
never sent more than *simultaneous* requests at once and a thousand requests
to one host cost two greenlets, not a thousand.
"""

import functools
from collections import deque

import gevent
from gevent import GreenletExit
from gevent.event import AsyncResult

from napix.authenticators import from_credentials
from napix.exceptions import Cancelled, HTTPError
from napixd.client.client import Client as BaseClient
from napixd.client.gevent import Client, check_simultaneous

__all__ = ['ClientPool', 'PendingRequest']


class PendingRequest(AsyncResult):
    """A request started by :meth:`ClientPool.request`.

    It is a :class:`gevent.event.AsyncResult`, so gevent's own waiting
    functions accept it (``gevent.iwait``, ``gevent.joinall``, ``gevent.wait``),
    as do ``get()``, ``ready()``, ``successful()``, ``value`` and
    ``exception``. Its value is the :class:`~napix.connection.Response`; its
    exception the :exc:`~napix.exceptions.HTTPError` (or whatever else went
    wrong). ``request`` is the :class:`~napix.connection.Request`.
    """

    __slots__ = ('request', '_pool', '_worker')

    def __init__(self, pool, request):
        AsyncResult.__init__(self)
        self.request = request
        self._pool = pool
        self._worker = None

    def cancel(self):
        """Cancel the request if it is not done: a queued request is never
        sent, one in flight has its socket closed. Its result becomes a
        :exc:`~napix.exceptions.Cancelled` error."""
        if not self.ready():
            self._pool._cancel(self)

    def __repr__(self):
        if not self.ready():
            state = 'pending'
        elif self.exception is None:
            state = repr(self.value)
        else:
            state = repr(self.exception)
        return '<PendingRequest {0} {1}>'.format(self.request, state)

    __str__ = __repr__


class _Host(object):
    """The queue of one host's requests and the workers that drain it."""

    __slots__ = ('client', 'queue', 'workers')

    def __init__(self, client):
        self.client = client
        self.queue = deque()
        self.workers = set()


class ClientPool(object):
    """Send requests to many Napix servers at once.

    :param authenticator: as for :class:`napixd.client.Client`: a callable
        from :mod:`napix.authenticators`, or a mapping with ``login`` and ``key``.
    :param simultaneous: the most requests in flight to one host at a time
        (default 2, what a Napix server allows a client by default).
    :param client_options: passed to each :class:`napixd.client.gevent.Client`
        (``timeout``, ``verify``, ``resolve``, ...).

    Every request comes back exactly once, through :meth:`wait` or
    :meth:`wait_unordered`, as a :class:`~napix.connection.Response` or as an
    :exc:`~napix.exceptions.HTTPError`. Used as a context manager, the pool
    cancels on exit what is still pending.
    """

    def __init__(self, authenticator, simultaneous=2, **client_options):
        self.authenticator = from_credentials(authenticator)
        self.simultaneous = check_simultaneous(simultaneous)
        if 'transport' in client_options:
            raise TypeError('a ClientPool makes one transport per host: give the options '
                            'of its connections (timeout, verify, ...), not a transport')
        # Check the options now rather than at the first request of each host.
        Client('localhost', self.authenticator, simultaneous, **client_options).close()
        self.client_options = client_options
        self.clients = {}
        self._hosts = {}
        self._pending = {}

    def get_client(self, host):
        """The :class:`~napixd.client.gevent.Client` of *host*, created on first use."""
        # A host that is not a str is refused by Client, with a message.
        client = self.clients.get(host) if isinstance(host, str) else None
        if client is None:
            client = Client(host, self.authenticator, self.simultaneous,
                            **self.client_options)
            self.clients[host] = client
            self._hosts[host] = _Host(client)
        return client

    def request(self, host, method, url, body=None, headers=None):
        """Start a request; return its :class:`~napixd.client.pool.PendingRequest`.

        The arguments are checked, and the body encoded, at once: a bad
        one raises :exc:`ValueError` or :exc:`TypeError` here, before anything
        is sent. The request itself runs in the background.
        """
        client = self.get_client(host)
        handle = PendingRequest(self, client.connection.build_request(
            method, url, body, headers))
        self._pending[handle] = None
        slot = self._hosts[host]
        slot.queue.append(handle)
        if len(slot.workers) < self.simultaneous:
            slot.workers.add(gevent.spawn(self._work, slot))
        return handle

    def _work(self, slot):
        queue = slot.queue
        # The workers of a host are at most *simultaneous*: they need not take
        # the client's semaphore as well (its sockets stay bounded by maxsize).
        send = functools.partial(BaseClient.send, slot.client)
        worker = gevent.getcurrent()
        handle = None
        try:
            while queue:
                handle = queue.popleft()
                handle._worker = worker
                try:
                    response = send(handle.request)
                except HTTPError as error:
                    handle.set_exception(error)
                except GreenletExit:
                    raise
                except BaseException as error:  # a bug: wait() raises it
                    handle.set_exception(error)
                else:
                    handle.set(response)
                handle._worker = None
        except GreenletExit:
            if handle is not None and not handle.ready():
                handle.set_exception(Cancelled(handle.request, 'cancelled'))
        finally:
            slot.workers.discard(worker)

    def _cancel(self, handle):
        slot = self._hosts[handle.request.host]
        try:
            slot.queue.remove(handle)
        except ValueError:
            if handle._worker is not None:
                worker = handle._worker
                worker.kill(block=True)
                if slot.queue and len(slot.workers) < self.simultaneous:
                    slot.workers.add(gevent.spawn(self._work, slot))
        if not handle.ready():
            handle.set_exception(Cancelled(handle.request, 'cancelled'))

    def _collect(self, handle):
        """Remove *handle* from the pool and return its result, or raise the
        exception that is not an HTTPError."""
        del self._pending[handle]
        error = handle.exception
        if error is None:
            return handle.value
        if isinstance(error, HTTPError):
            return error
        raise error

    def wait(self):
        """Wait for every request not yet collected; return their results in the
        order the requests were made.

        Each result is the :class:`~napix.connection.Response`, or the
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

    def wait_unordered(self, count=None, timeout=None):
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

    def _iter_completed(self, count, timeout):
        if count == 0:
            return
        with gevent.iwait(list(self._pending), timeout=timeout, count=count) as ready:
            for handle in ready:
                if handle in self._pending:
                    yield self._collect(handle)

    def cancel(self):
        """Cancel every request not done yet; their results become
        :exc:`~napix.exceptions.Cancelled` errors (still returned by :meth:`wait`)."""
        for slot in self._hosts.values():
            while slot.queue:
                handle = slot.queue.popleft()
                handle.set_exception(Cancelled(handle.request, 'cancelled'))
        workers = [w for slot in self._hosts.values() for w in slot.workers]
        gevent.killall(workers, block=True)

    def close(self):
        """Cancel what is pending and close every idle socket."""
        self.cancel()
        for client in self.clients.values():
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __len__(self):
        """The number of requests not yet collected."""
        return len(self._pending)

    def __repr__(self):
        return '<ClientPool {0} hosts, {1} pending>'.format(len(self.clients),
                                                           len(self._pending))
