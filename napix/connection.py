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
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, NamedTuple, Optional

from gevent import get_hub

from napix.checks import (Body, Params, TimeoutArg, build_request, check_limit,
                          check_positive_int, check_seconds, check_timeout)
from napix.defaults import (DEFAULT_CONNECTION_SIMULTANEOUS, DEFAULT_IDLE_TIMEOUT,
                            DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_FIELDS,
                            DEFAULT_MAX_HEADER_LINE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT)
from napix.exceptions import HTTPError, RemoteProtocolError
from napix.hosts import parse_host, resolve, resolve_overrides
from napix.models import (IDEMPOTENT_METHODS, Headers, Request, RequestHeaders, Response)
from napix.tls import Cert, Verify, client_context
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

#: What signs a request: a callable that takes a :class:`Request` and returns it.
Authenticator = Callable[[Request], Request]

class Place(NamedTuple):
    """Where a connection goes (:meth:`ConnectionOptions.place`): the host
    parsed, and where to connect (``None`` for a transport that resolves
    names itself)."""

    scheme: str
    name: str
    port: int
    authority: str
    address: Optional[str]
    connect_port: Optional[int]


class Bound(NamedTuple):
    """What a connection sends through in one thread: the thread's hub, its
    destination of the connection's server, and the budget drawn from."""

    hub: Any
    destination: Optional[Destination]
    budget: Optional[Budget]


_UNBOUND = Bound(None, None, None)


class ConnectionOptions(object):
    """The options of connections, checked once, for any host: what a
    :class:`Connection` is made with, and what a pool keeps to make one for
    each host (:meth:`connect`). A bad one raises here (:exc:`TypeError`
    for a wrong type, :exc:`ValueError` for a wrong value), TLS files included.

    :param authenticator: a callable that takes a :class:`Request` and returns
        it signed (see :mod:`napix.authenticators`), or ``None`` to send no
        credentials.
    :param timeout: seconds; a number for both, or a ``(connect, read)`` pair.
        *read* bounds the whole exchange once connected. Default
        :data:`DEFAULT_TIMEOUT`. A request's own ``timeout=`` overrides it.
    :param simultaneous: the most requests in flight to the destination at
        once (default 10: :data:`~napix.defaults.DEFAULT_CONNECTION_SIMULTANEOUS`);
        more wait their turn. Every connection of the thread to the same
        scheme, host and port with the same limit shares this budget.
        ``maxsize=`` is accepted as another name of it (its earlier name);
        ``connection.maxsize`` is ``connection.simultaneous``.
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
    """

    __slots__ = ('authenticator', 'timeout', 'simultaneous', 'share_limit', 'retry',
                 'resolve', 'transport', 'transport_options')

    def __init__(self, authenticator: Optional[Authenticator] = None,
                 timeout: TimeoutArg = DEFAULT_TIMEOUT, simultaneous: Optional[int] = None,
                 verify: Verify = True, resolve: Optional[Mapping[str, str]] = None,
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 transport: Optional[Transport] = None, retry: Optional[Retry] = None,
                 share_limit: bool = True,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, cert: Cert = None,
                 max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
                 max_header_line: int = DEFAULT_MAX_HEADER_LINE,
                 max_header_fields: int = DEFAULT_MAX_HEADER_FIELDS, *,
                 maxsize: Optional[int] = None) -> None:
        if authenticator is not None and not callable(authenticator):
            raise TypeError('authenticator must be a callable taking and returning a '
                            'Request (see napix.authenticators), not {0}'.format(
                                type(authenticator).__name__))
        self.authenticator = authenticator
        self.timeout = check_timeout(timeout)
        self.simultaneous = check_limit(simultaneous, maxsize,
                                        DEFAULT_CONNECTION_SIMULTANEOUS)
        self.share_limit = share_limit
        if retry is not None and not callable(getattr(retry, 'call', None)):
            raise TypeError('retry must be a napix.retry.Retry or None, not {0}'.format(
                type(retry).__name__))
        self.retry = retry
        if resolve is not None and not isinstance(resolve, Mapping):
            raise TypeError('resolve must be a mapping of host names to addresses, not {0}'
                            .format(type(resolve).__name__))
        self.resolve = resolve
        if transport is not None and not callable(getattr(transport, 'handle', None)):
            raise TypeError('transport must have a handle(request) method')
        self.transport = transport
        if transport is None:
            client_context(verify, cert)  # made now (and kept): a bad file raises here
        self.transport_options: Dict[str, Any] = dict(
            timeout=self.timeout, verify=verify, cert=cert,
            idle_timeout=check_seconds('idle_timeout', idle_timeout, zero_ok=True),
            max_response_size=check_positive_int('max_response_size', max_response_size),
            max_head_size=check_positive_int('max_head_size', max_head_size),
            max_header_line=check_positive_int('max_header_line', max_header_line),
            max_header_fields=check_positive_int('max_header_fields', max_header_fields))

    def place(self, host: str) -> Place:
        """Where a connection to *host* with these options goes: *host*
        parsed (:func:`~napix.hosts.parse_host`), then resolved (for the
        default transport). A bad host or ``resolve`` entry raises
        :exc:`ValueError` or :exc:`TypeError`."""
        scheme, name, port, authority = parse_host(host)
        if self.transport is not None:
            return Place(scheme, name, port, authority, None, None)
        address, connect_port = resolve(name, port, self.resolve)
        return Place(scheme, name, port, authority, address, connect_port)

    def connect(self, host: str, place: Optional[Place] = None) -> 'Connection':
        """A :class:`Connection` to *host* (at *place*, from :meth:`place`,
        when given) with these options."""
        connection = Connection.__new__(Connection)
        connection._start(host, self, place or self.place(host))
        return connection

    def new_transport(self, place: Place) -> Transport:
        """The transport of a connection to *place*: the one given, else a
        :class:`~napix.transports.gevent.GeventTransport` with these options."""
        if self.transport is not None:
            return self.transport
        return GeventTransport(place.scheme, place.name, place.port, address=place.address,
                               connect_port=place.connect_port, **self.transport_options)


class Connection(object):
    """A connection to one Napix server.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``; without a scheme, plain HTTP. An IPv6
        address goes in brackets: ``[::1]:8002``.

    The other arguments are the options (*authenticator*, *timeout*,
    *simultaneous*, ...), as :class:`ConnectionOptions` takes them and in
    the same order: a bad one raises here.

    The options are checked once, as a :class:`ConnectionOptions`
    (``connection.options``), which makes the connections of other hosts
    (:meth:`for_host`).
    """

    __slots__ = ('scheme', 'name', 'port', 'authority', 'host', 'options', 'authenticator',
                 'timeout', 'simultaneous', 'transport', 'retry', '_key', '_own_budget',
                 '_bound', '_handle', '_idle_timeout')

    def __init__(self, host: str, authenticator: Optional[Authenticator] = None,
                 *args: Any, **options: Any) -> None:
        parse_host(host)  # the host first: its error says what a host looks like
        checked = ConnectionOptions(authenticator, *args, **options)
        self._start(host, checked, checked.place(host))

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
        self.transport: Transport = options.new_transport(place)
        self._own_budget: Optional[Budget] = (None if options.share_limit
                                              else Budget(options.simultaneous))
        self._bind_transport(self.transport)

    @property
    def maxsize(self) -> int:
        """Another name of ``simultaneous`` (its earlier name)."""
        return self.simultaneous

    def place(self, host: str) -> Place:
        """:meth:`ConnectionOptions.place` of this connection's options."""
        return self.options.place(host)

    def for_host(self, host: str, place: Optional[Place] = None) -> 'Connection':
        """A connection to *host* (at *place*, from :meth:`place`, when
        given) with this one's options (checked already): what a pool makes
        for a host whose client is asked for."""
        return self.options.connect(host, place)

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
        return self.send_in(slot, request.copy(), True)

    def request(self, method: str, url: str, body: Body = None,
                headers: Optional[Mapping[str, str]] = None, params: Params = None,
                timeout: Optional[TimeoutArg] = None) -> Response:
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
        :raises napix.exceptions.HTTPError: status >= 400, or no response.
        """
        return self.send(self.build_request(method, url, body, headers, params, timeout))

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


def _without_slot(handle: Callable[[Request], Response], request: Request,
                  slot: Slot) -> Response:
    return handle(request)


def _describe(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return 'nested too deep'
    return str(error)
