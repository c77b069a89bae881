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
from typing import TYPE_CHECKING, Any, Callable, Hashable, Optional, Tuple

from copy import copy
from functools import partial

from gevent import get_hub

from napix.checks import (CHECKED_URLS, COMMON_METHODS, Body, Params, TimeoutArg, check_headers,
                          check_method, check_positive_int, check_timeout, check_url,
                          encode_body, encode_params)
from napix.defaults import (DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_FIELDS,
                            DEFAULT_MAX_HEADER_LINE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT)
from napix.exceptions import HTTPError, RemoteProtocolError
from napix.hooks import EventHooks, check_event_hooks
from napix.hosts import parse_host, resolve, resolve_overrides
from napix.models import (IDEMPOTENT_METHODS, Headers, Request, RequestHeaders, Response,
                          new_request)
from napix.transports import Transport
from napix.tls import Cert, Verify
from napix.transports.destination import Budget, Destination, Slot
from napix.transports.gevent import GeventTransport
from napix.transports.sockets import socket_pool
from napix.timings import next_attempt, restart

if TYPE_CHECKING:
    from napix.retry import Retry

__all__ = ['Connection', 'Request', 'RequestHeaders', 'Response', 'Headers', 'parse_host',
           'resolve_overrides', 'DEFAULT_TIMEOUT', 'DEFAULT_MAX_RESPONSE_SIZE',
           'IDEMPOTENT_METHODS', 'Authenticator', 'Place', 'build_request']

#: What signs a request: a callable that takes a :class:`Request` and returns it.
Authenticator = Callable[[Request], Request]

#: Where a connection goes (:meth:`Connection.place`): ``(scheme, name, port,
#: authority, address, connect_port)``, the last two ``None`` for a transport
#: that resolves names itself.
Place = Tuple[str, str, int, str, Optional[str], Optional[int]]


class Connection(object):
    """A connection to one Napix server.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``; without a scheme, plain HTTP. An IPv6
        address goes in brackets: ``[::1]:8002``.
    :param authenticator: a callable that takes a :class:`Request` and returns
        it signed (see :mod:`napix.authenticators`), or ``None`` to send no
        credentials.
    :param timeout: seconds; a number for both, or a ``(connect, read)`` pair.
        *read* bounds the whole exchange once connected. Default
        :data:`DEFAULT_TIMEOUT`. A request's own ``timeout=`` overrides it.
    :param maxsize: the most requests in flight to the destination at once;
        more wait their turn. Every connection of the thread to the same
        scheme, host and port with the same *maxsize* shares this budget.
    :param share_limit: ``False`` gives this connection a budget of its own.
    :param verify: for ``https``: ``True`` (default) verifies the certificate
        against the system CAs, a path (``str`` or :class:`os.PathLike`) to a
        CA bundle file or directory verifies against it, an
        :class:`ssl.SSLContext` is used as it is, ``False`` disables
        verification. See :mod:`napix.tls`.
    :param cert: for ``https``: a client certificate to present, as the path
        to a PEM file holding it and its key, or a ``(certificate, key)``
        pair of paths. A file that cannot be read or used raises
        :exc:`ValueError` naming it, here.
    :param resolve: ``{'name[:port]': 'address[:port]'}``, where to connect
        instead of resolving the name (see :data:`resolve_overrides`).
    :param max_response_size: responses larger than this many bytes raise
        :exc:`~napix.exceptions.ResponseTooLarge`.
    :param max_head_size: bytes of a response head (status line to blank
        line), default 64 KiB;
    :param max_header_line: bytes of one of its lines, default 16 KiB;
    :param max_header_fields: its header fields, default 100: a response over
        one of these raises :exc:`~napix.exceptions.ResponseTooLarge`, which
        names it.
    :param idle_timeout: seconds an idle kept-alive socket is kept for reuse.
    :param transport: an object with ``handle(request) -> Response`` and
        ``close()`` (see :mod:`napix.transports`); default a
        :class:`~napix.transports.gevent.GeventTransport`.
    :param retry: a :class:`napix.retry.Retry` policy, or ``None`` (the
        default) to send each request once.
    :param event_hooks: ``{'request': [...], 'response': [...], 'error':
        [...]}``, functions called with each attempt's request, response and
        error (see :mod:`napix.hooks`); ``None``: none. They are the
        connection's ``hooks`` from then on (:meth:`with_hooks` makes a
        connection with more).
    """

    __slots__ = ('scheme', 'name', 'port', 'authority', 'host', 'authenticator', 'timeout',
                 'maxsize', 'transport', 'retry', '_key', '_own_budget', '_bound',
                 '_handle', '_idle_timeout', '_resolve', 'hooks')
    hooks: Optional[EventHooks]  # set by _set_hooks(), with the class

    def __init__(self, host: str, authenticator: Optional[Authenticator] = None,
                 timeout: TimeoutArg = DEFAULT_TIMEOUT, maxsize: int = 10,
                 verify: Verify = True, resolve: Optional[Mapping[str, str]] = None,
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 transport: Optional[Transport] = None, retry: Optional[Retry] = None,
                 share_limit: bool = True,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, cert: Cert = None,
                 max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
                 max_header_line: int = DEFAULT_MAX_HEADER_LINE,
                 max_header_fields: int = DEFAULT_MAX_HEADER_FIELDS,
                 event_hooks: Any = None) -> None:
        self.scheme, self.name, self.port, self.authority = parse_host(host)
        _set_hooks(self, check_event_hooks(event_hooks))
        self.host = host
        if authenticator is not None and not callable(authenticator):
            raise TypeError('authenticator must be a callable taking and returning a '
                            'Request (see napix.authenticators), not {0}'.format(
                                type(authenticator).__name__))
        self.authenticator = authenticator
        self.timeout = check_timeout(timeout)
        self.maxsize = check_positive_int('maxsize', maxsize)
        self._resolve = resolve
        if transport is None:
            address, port = _resolve_checked(self.name, self.port, resolve)
            transport = GeventTransport(
                self.scheme, self.name, self.port, address=address, connect_port=port,
                timeout=self.timeout, verify=verify, max_response_size=max_response_size,
                idle_timeout=idle_timeout, cert=cert, max_head_size=max_head_size,
                max_header_line=max_header_line, max_header_fields=max_header_fields)
        elif not callable(getattr(transport, 'handle', None)):
            raise TypeError('transport must have a handle(request) method')
        self.transport: Transport = transport
        if retry is not None and not callable(getattr(retry, 'call', None)):
            raise TypeError('retry must be a napix.retry.Retry or None, not {0}'.format(
                type(retry).__name__))
        self.retry = retry
        self._own_budget: Optional[Budget] = None if share_limit else Budget(maxsize)
        self._bind_transport(transport)

    def place(self, host: str) -> Place:
        """Where a connection to *host* with this one's options goes: *host*
        parsed (:func:`~napix.hosts.parse_host`), then resolved (for the
        default transport). A bad host or ``resolve`` entry raises
        :exc:`ValueError` or :exc:`TypeError`, as the constructor does."""
        scheme, name, port, authority = parse_host(host)
        address, connect_port = (resolve(name, port, self._resolve)
                                 if isinstance(self.transport, GeventTransport) else (None, None))
        return scheme, name, port, authority, address, connect_port

    def for_host(self, host: str, place: Optional[Place] = None) -> 'Connection':
        """A connection to *host* (at *place*, from :meth:`place`, when
        given) with this one's options (checked already), and its own
        transport: what a pool makes for each of its hosts."""
        conn = Connection.__new__(Connection)
        conn.scheme, conn.name, conn.port, conn.authority, address, port = (
            place or self.place(host))
        conn.host = host
        conn.authenticator = self.authenticator
        conn.timeout = self.timeout
        conn.maxsize = self.maxsize
        conn.retry = self.retry
        _set_hooks(conn, self.hooks)
        conn._resolve = self._resolve
        transport = self.transport
        if isinstance(transport, GeventTransport):
            transport = transport.for_server(conn.scheme, conn.name, conn.port, address, port)
        conn.transport = transport
        conn._own_budget = None if self._own_budget is None else Budget(self.maxsize)
        conn._bind_transport(transport)
        return conn

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
        # (hub, destination, budget), bound once per thread: one attribute,
        # replaced whole, so that threads sharing the connection never mix them.
        self._bound: Tuple[Any, Any, Any] = (None, None, None)

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
        for a place in the budget of *maxsize* (shared with every connection
        to the destination with the same *maxsize*, unless
        ``share_limit=False``), :meth:`send_in` it as many requests as
        wanted, then :meth:`~napix.transports.destination.Slot.release` it."""
        bound = self._bound
        if bound[0] is not get_hub():
            bound = self._bind()
        return Slot(bound[1], bound[2], self._idle_timeout)

    def slot_at(self, place: Place) -> Optional[Slot]:
        """A :meth:`slot` of the thread's destination at *place* (from
        :meth:`place`), to :meth:`send_in` through this connection requests
        to that place's server (their ``Host`` their own), with this
        connection's options; ``None`` when it cannot (another transport, or
        a budget of its own). A pool's worker sends so the requests of a host
        whose client nobody asked for."""
        transport = self.transport
        if self._own_budget is not None or not isinstance(transport, GeventTransport):
            return None
        scheme, name, port, _, address, connect_port = place
        destination = socket_pool().destination(
            transport.key_at(scheme, name, port, address, connect_port))
        return Slot(destination, destination.budget(self.maxsize), self._idle_timeout)

    def _bind(self) -> Tuple[Any, Destination, Budget]:
        destination = socket_pool().destination(self._key)
        bound = self._bound = (get_hub(), destination,
                               self._own_budget or destination.budget(self.maxsize))
        return bound

    def send(self, request: Request) -> Response:
        """Sign *request*, send it and return the :class:`Response`.

        Raises :exc:`~napix.exceptions.HTTPError` when the status is 400 or
        more, or a :exc:`~napix.exceptions.TransportError` subclass when no
        usable response came.

        With a ``retry`` policy, each attempt signs a copy of *request*, which
        stays unsigned.
        """
        restart(request)  # timings: its total and queued count from here
        slot = self.slot()
        slot.acquire()
        try:
            return self.send_in(slot, request)
        finally:
            slot.release()

    def send_in(self, slot: Slot, request: Request, _attempt: bool = False) -> Response:
        """:meth:`send` in *slot*, a :meth:`slot` acquired by the caller (a
        pool's worker holds one for all the requests it sends in a row)."""
        if self.retry is not None and not _attempt:
            result: Response = self.retry.call(partial(self._attempt_copy, slot), request)
            return result
        authenticator = self.authenticator
        if authenticator is not None:
            signed = authenticator(request)
            if signed is not request and not isinstance(signed, Request):
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
            raise HTTPError(request, response)
        return response

    def _attempt_copy(self, slot: Slot, request: Request) -> Response:
        """One attempt of a retried request: a copy, signed anew."""
        return self.send_in(slot, next_attempt(request), True)

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
        through. Checked as the constructor checks them."""
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

    def send_in(self, slot: Slot, request: Request, _attempt: bool = False) -> Response:
        if _attempt or self.retry is not None:  # one attempt, or the retries' (_attempt_copy)
            return Connection.send_in(self, slot, request, _attempt)
        return self.hooks.send(partial(Connection.send_in, self, slot, _attempt=True), request)

    def _attempt_copy(self, slot: Slot, request: Request) -> Response:
        return self.hooks.send(partial(Connection.send_in, self, slot, _attempt=True),
                               next_attempt(request))


def _set_hooks(conn: Connection, hooks: Optional[EventHooks]) -> None:
    """Give *conn* its *hooks*, and the class that runs them (or not)."""
    conn.hooks = hooks
    if type(conn) is Connection or type(conn) is _HookedConnection:
        conn.__class__ = Connection if hooks is None else _HookedConnection


def build_request(host: str, authority: str, method: str, url: str, body: Body = None,
                  headers: Optional[Mapping[str, str]] = None, params: Params = None,
                  timeout: Optional[TimeoutArg] = None) -> Request:
    """:meth:`Connection.build_request` for *host*, whose ``Host`` header is
    *authority* (both as :func:`~napix.hosts.parse_host` gives them)."""
    try:
        common = method in COMMON_METHODS
    except TypeError:  # unhashable: check_method says what is expected
        common = False
    if not common:
        method = check_method(method)
    try:
        known = CHECKED_URLS.get(url)  # check_url() looks there first: without its call
    except TypeError:  # unhashable: check_url says what is expected
        known = None
    url = known if known is not None else check_url(url)
    if params is not None:
        url = encode_params(url, params)
    if headers is None and body is None and timeout is None:  # a plain GET, say
        return new_request(method, host, authority, url, None, None, None)
    checked = Headers() if headers is None else check_headers(headers)
    data = None if body is None or body == '' else encode_body(body, checked)
    return new_request(method, host, authority, url, checked, data,
                       check_timeout(timeout) if timeout is not None else None)


def _without_slot(handle: Callable[[Request], Response], request: Request,
                  slot: Slot) -> Response:
    return handle(request)


def _describe(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return 'nested too deep'
    return str(error)


def _resolve_checked(name: str, port: int,
                     table: Optional[Mapping[str, str]]) -> Tuple[str, int]:
    if table is not None and not isinstance(table, Mapping):
        raise TypeError('resolve must be a mapping of host names to addresses, not {0}'
                        .format(type(table).__name__))
    return resolve(name, port, table)
