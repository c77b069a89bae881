"""Connections to a Napix server.

>>> conn = Connection('server.napix.nx', LoginAuthenticator('root', 'toor'))  # doctest: +SKIP
>>> conn.request('GET', '/')                                                  # doctest: +SKIP
<Response 200 OK>

A :class:`Connection` checks and encodes the request (:mod:`napix.checks`),
has its authenticator sign it, waits for a place in the in-flight budget of
its :class:`~napix.transports.destination.Destination`, hands it to its
transport (by default
:class:`napix.transports.gevent.GeventTransport`: keep-alive sockets,
cooperative under gevent without monkey patching), decodes the answer and
raises :exc:`napix.exceptions.HTTPError` when the status is 400 or more.

The models and helpers it uses stay importable from here, as in 0.1:
:class:`Request`, :class:`Response`, :class:`Headers`, :func:`parse_host`,
:data:`resolve_overrides`, :data:`IDEMPOTENT_METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator, NamedTuple, Optional

from gevent import get_hub, sleep

from napix.checks import Body, Params, TimeoutArg, build_request
from napix.defaults import DEFAULT_BUSY_WAIT, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT
from napix.exceptions import HTTPError, RemoteProtocolError
from napix.hooks import EventHooks, check_event_hooks
from napix.hosts import parse_host, resolve_overrides
from napix.models import IDEMPOTENT_METHODS, Headers, Request, RequestHeaders, Response
from napix.options import Authenticator, ConnectionOptions, Place
from napix.retry import napixd_busy, unsigned_copy
from napix.timings import next_attempt, resent, restart
from napix.transports import Transport
from napix.transports.destination import Budget, Destination, Slot
from napix.transports.gevent import GeventTransport
from napix.transports.sockets import socket_pool

if TYPE_CHECKING:
    from napix.retry import Retry

__all__ = ['Connection', 'ConnectionOptions', 'Request', 'RequestHeaders', 'Response',
           'Headers', 'parse_host', 'resolve_overrides', 'DEFAULT_TIMEOUT',
           'DEFAULT_MAX_RESPONSE_SIZE', 'IDEMPOTENT_METHODS',
           'Authenticator', 'Place', 'build_request']

class Bound(NamedTuple):
    """What a connection sends through in one thread: the thread's hub, its
    destination of the connection's server, and the budget drawn from."""

    hub: Any
    destination: Optional[Destination]
    budget: Optional[Budget]


_UNBOUND = Bound(None, None, None)


class Connection(object):
    """A connection to one Napix server.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``; without a scheme, plain HTTP. An IPv6
        address goes in brackets: ``[::1]:8002``.

    The other arguments are the options (*authenticator*, *timeout*,
    *simultaneous*, ...), as :class:`~napix.options.ConnectionOptions` takes them and in
    the same order: a bad one raises here.

    The options are checked once, as a :class:`~napix.options.ConnectionOptions`
    (``connection.options``), which makes the connections of other hosts
    (:meth:`for_host`). Its ``hooks`` are its options' ``event_hooks``
    (:mod:`napix.hooks`), ``None`` without any; :meth:`with_hooks` makes a
    connection with more.
    """

    __slots__ = ('scheme', 'name', 'port', 'authority', 'host', 'options', 'authenticator',
                 'timeout', 'simultaneous', 'transport', 'retry', 'breaker', 'resend_busy',
                 '_key', '_own_budget',
                 '_bound', '_handle', '_idle_timeout', 'hooks', '_guarded')
    hooks: Optional[EventHooks]  # set by _set_hooks(), with the class

    def __init__(self, host: str, authenticator: Optional[Authenticator] = None,
                 *args: Any, **options: Any) -> None:
        parse_host(host)  # the host first: its error says what a host looks like
        checked = ConnectionOptions(authenticator, *args, **options)
        self._start(host, checked, checked.place(host))

    @classmethod
    def with_options(cls, host: str, options: ConnectionOptions,
                     place: Optional[Place] = None) -> 'Connection':
        """A connection to *host* (at *place*, from
        :meth:`napix.options.ConnectionOptions.place`, when given) with *options*, checked
        already: what a pool makes for its hosts."""
        connection = cls.__new__(cls)
        connection._start(host, options, place or options.place(host))
        return connection

    def _start(self, host: str, options: ConnectionOptions, place: Place) -> None:
        """Set every slot: a connection to *host*, at *place*, with *options*."""
        self.scheme, self.name, self.port = place.scheme, place.name, place.port
        self.authority = place.authority
        self.host = host
        self.options = options
        self.authenticator = options.authenticator
        self.timeout = options.timeout
        self.simultaneous = options.simultaneous
        self.retry = options.retry
        self.breaker = options.breaker
        self.resend_busy = options.resend_busy
        # Decided once: whether each request goes through the retry policy or
        # the breaker (the options are fixed with the connection).
        self._guarded = options.retry is not None or options.breaker is not None
        _set_hooks(self, options.event_hooks)
        self.transport: Transport = options.new_transport(place)
        self._own_budget: Optional[Budget] = (None if options.share_limit
                                              else Budget(options.simultaneous))
        self._bind_transport(self.transport)

    @property
    def maxsize(self) -> int:
        """Another name of ``simultaneous`` (its earlier name)."""
        return self.simultaneous

    def place(self, host: str) -> Place:
        """:meth:`napix.options.ConnectionOptions.place` of this connection's options."""
        return self.options.place(host)

    def for_host(self, host: str, place: Optional[Place] = None) -> 'Connection':
        """A connection to *host* (at *place*, from :meth:`place`, when
        given) with this one's options (checked already): what a pool makes
        for a host whose client is asked for."""
        return Connection.with_options(host, self.options, place)

    def _bind_transport(self, transport: Transport) -> None:
        # The default transport's sockets live in the destination whose
        # budget the connection draws from; another transport has only the budget.
        self._handle: Callable[[Request, Slot], Response]
        if isinstance(transport, GeventTransport):
            self._handle = transport.handle
            self._idle_timeout = transport.idle_timeout
            self._key: Hashable = transport.key
        else:
            self._handle = partial(_without_slot, transport.handle)
            self._idle_timeout = 0.0
            self._key = ('budget', self.scheme, self.name, self.port)
        # Bound once per thread: one attribute, replaced whole, so that
        # threads sharing the connection never mix them.
        self._bound = _UNBOUND

    def build_request(self, method: str, url: str, body: Body = None,
                      headers: Optional[Mapping[str, str]] = None, params: Params = None,
                      timeout: Optional[TimeoutArg] = None) -> Request:
        """Check and encode a request without sending it.

        Raises :exc:`ValueError` or :exc:`TypeError`, with a message saying what
        is expected, for a bad method, url, header, body, params or timeout. A
        ``dict`` or ``list`` body is encoded as JSON.
        """
        return build_request(self.host, self.authority, method, url, body, headers, params,
                             timeout)

    def slot(self) -> Slot:
        """A :class:`~napix.transports.destination.Slot` of this thread's
        destination: :meth:`~napix.transports.destination.Slot.acquire` it
        for a place in the budget of *simultaneous* (shared with every connection
        to the destination with the same *simultaneous*, unless
        ``share_limit=False``), :meth:`send_in` it as many requests as
        wanted, then :meth:`~napix.transports.destination.Slot.release` it."""
        bound = self._bound
        if bound.hub is not get_hub():
            bound = self._bind()
        return Slot(bound.destination, bound.budget, self._idle_timeout)  # type: ignore[arg-type]

    def slot_at(self, place: Place) -> Optional[Slot]:
        """A :meth:`slot` of the thread's destination at *place* (from
        :meth:`place`), to :meth:`send_in` through this connection requests
        to that place's server (their ``Host`` their own), with this
        connection's options; ``None`` when it cannot (another transport, or
        a budget of its own). A pool's workers send so the requests of every
        host whose client nobody asked for (the default transport connects
        where its slot's destination says)."""
        transport = self.transport
        if self._own_budget is not None or not isinstance(transport, GeventTransport):
            return None
        destination = socket_pool().destination(transport.key_at(
            place.scheme, place.name, place.port, place.address, place.connect_port))
        return Slot(destination, destination.budget(self.simultaneous), self._idle_timeout)

    def _bind(self) -> Bound:
        destination = socket_pool().destination(self._key)
        bound = self._bound = Bound(get_hub(), destination,
                                    self._own_budget or destination.budget(self.simultaneous))
        return bound

    def send(self, request: Request) -> Response:
        """Sign *request*, send it and return the :class:`Response`.

        Raises :exc:`~napix.exceptions.HTTPError` when the status is 400 or
        more, or a :exc:`~napix.exceptions.TransportError` subclass when no
        usable response came.

        With a ``retry`` policy, each attempt signs a copy of *request*, which
        stays unsigned.
        """
        restart(request)  # timings: its total and queued time count from here
        slot = self.slot()
        slot.acquire()
        try:
            return self.send_in(slot, request)
        finally:
            slot.release()

    def send_in(self, slot: Slot, request: Request, _attempt: bool = False,
                _resent: bool = False) -> Response:
        """:meth:`send` in *slot*, a :meth:`slot` acquired by the caller (a
        pool's worker holds one for all the requests it sends in a row)."""
        if self._guarded and not _attempt:
            if self.retry is not None:
                return self._retried(self.retry, slot, request)
            return self._through_breaker(slot, request)
        authenticator = self.authenticator
        if authenticator is not None:
            signed = authenticator(request)
            if signed is not request:  # another Request (a copy, signed), or a mistake
                if not isinstance(signed, Request):
                    raise TypeError('the authenticator {0!r} must return the Request, '
                                    'not {1}'.format(authenticator, type(signed).__name__))
                request = signed
        response = self._handle(request, slot)
        try:
            response.decode()
        except (ValueError, RecursionError) as error:
            if response.status < 400:
                raise RemoteProtocolError(request, 'invalid {0} body: {1}'.format(
                    response.content_type(), _describe(error)), response=response) from None
            response.body = response.text  # an error page that is not what it says
        if response.status >= 400:
            if self.resend_busy and not _resent and napixd_busy(response):
                sleep(DEFAULT_BUSY_WAIT)
                return self.send_in(slot, resent(unsigned_copy(request)), True, True)
            raise HTTPError(request, response)
        return response

    def _retried(self, retry: Retry, slot: Slot, request: Request) -> Response:
        """*request* sent as the *retry* policy says: within its deadline and
        the budget of the destination, and never into an open circuit."""
        key = slot.destination.key
        check = None if self.breaker is None else partial(self.breaker.check, key)
        result: Response = retry.call(partial(self._attempt_copy, slot, count(1)), request,
                                      key, self.timeout, check)
        return result

    def _attempt_copy(self, slot: Slot, numbers: Iterator[int], request: Request) -> Response:
        """One attempt of a retried request: a copy, signed anew, numbered
        from *numbers* (its timings')."""
        return self._through_breaker(slot, next_attempt(request, next(numbers)))

    def _through_breaker(self, slot: Slot, request: Request) -> Response:
        """Send *request* once, through the breaker's circuit of the
        destination when there is a breaker."""
        if self.breaker is None:
            return self.send_in(slot, request, True)
        return self.breaker.call(slot.destination.key,
                                 partial(self.send_in, slot, _attempt=True), request)

    def request(self, method: str, url: str, body: Body = None,
                headers: Optional[Mapping[str, str]] = None, params: Params = None,
                timeout: Optional[TimeoutArg] = None, event_hooks: Any = None) -> Response:
        """Send a request and return its :class:`Response`.

        :param method: ``'GET'``, ``'POST'``, ...
        :param url: the path, with its query string if any.
        :param body: a ``dict`` or ``list`` (sent as JSON with ``Content-Type:
            application/json``), ``str`` or ``bytes`` (sent as is), or ``None``.
        :param headers: extra headers (names ignore case); ``Accept:
            application/json`` is sent by default. ``Host``, ``Content-Length``,
            ``Transfer-Encoding`` and ``Connection`` belong to the transport.
        :param params: a query string to append, as a mapping or ``(name,
            value)`` pairs; it is percent-encoded once and signed as sent.
        :param timeout: this request's timeout, as for the connection.
        :param event_hooks: this request's hooks, called after the
            connection's (see :meth:`with_hooks`).
        :raises napix.exceptions.HTTPError: status >= 400, or no response.
        """
        conn = self if event_hooks is None else self.with_hooks(event_hooks)
        return conn.send(self.build_request(method, url, body, headers, params, timeout))

    def with_hooks(self, event_hooks: Any) -> 'Connection':
        """This connection (its places and sockets) with *event_hooks*
        called after its own: what a request's ``event_hooks=`` sends
        through. Checked as the options check them."""
        extra = check_event_hooks(event_hooks)
        if extra is None:
            return self
        conn = copy(self)
        _set_hooks(conn, extra if self.hooks is None else self.hooks + extra)
        return conn

    def close(self) -> None:
        """Close the idle sockets to the server; requests in flight finish first."""
        close = getattr(self.transport, 'close', None)
        if close is not None:
            close()

    def close_at(self, place: Place) -> None:
        """Close the idle sockets that this connection would send the
        requests of *place*'s server through (:meth:`slot_at`): what a pool
        does for each of its hosts when it is closed, without a connection
        for each. Another transport than the default is closed whole."""
        transport = self.transport
        if not isinstance(transport, GeventTransport):
            self.close()
            return
        socket_pool().close_idle(transport.key_at(
            place.scheme, place.name, place.port, place.address, place.connect_port))

    def __enter__(self) -> 'Connection':
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return '<Connection {0}>'.format(self.host)


class _HookedConnection(Connection):
    """A :class:`Connection` with event hooks (:mod:`napix.hooks`), run
    around each attempt: a connection without hooks is a plain
    :class:`Connection`, which pays nothing for them."""

    __slots__ = ()
    hooks: EventHooks

    def send_in(self, slot: Slot, request: Request, _attempt: bool = False,
                _resent: bool = False) -> Response:
        if _resent or not (_attempt or not self._guarded):
            # The retries' or the breaker's way to each attempt (which comes
            # back here), or napixd's busy resend (within its attempt).
            return Connection.send_in(self, slot, request, _attempt, _resent)
        return self.hooks.send(partial(Connection.send_in, self, slot, _attempt=True), request)


def _set_hooks(conn: Connection, hooks: Optional[EventHooks]) -> None:
    """Give *conn* its *hooks*, and the class that runs them (or not)."""
    conn.hooks = hooks
    if type(conn) is Connection or type(conn) is _HookedConnection:
        conn.__class__ = Connection if hooks is None else _HookedConnection


def _without_slot(handle: Callable[[Request], Response], request: Request,
                  slot: Slot) -> Response:
    return handle(request)


def _describe(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return 'nested too deep'
    return str(error)
