"""The options of connections, checked once, for any host.

A :class:`ConnectionOptions` is what a :class:`~napix.connection.Connection`
is made with, and what a :class:`~napixd.client.pool.ClientPool` keeps to make
the connection of each of its hosts: every option is checked here, once (a
wrong type raises :exc:`TypeError`, a wrong value :exc:`ValueError`), TLS files
included. :class:`Place` is where a connection to a host goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, NamedTuple, Optional, Tuple

from napix.breaker import Breaker
from napix.checks import TimeoutArg, check_limit, check_positive_int, check_seconds, check_timeout
from napix.defaults import (DEFAULT_CONNECTION_SIMULTANEOUS, DEFAULT_IDLE_TIMEOUT,
                            DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_FIELDS,
                            DEFAULT_MAX_HEADER_LINE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT)
from napix.hooks import EventHooks, check_event_hooks
from napix.hosts import parse_host, resolve
from napix.models import Request
from napix.tls import Cert, Verify, client_context
from napix.transports import Transport
from napix.transports.gevent import GeventTransport

if TYPE_CHECKING:
    from napix.retry import Retry

__all__ = ['ConnectionOptions', 'Place', 'Authenticator']

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


class ConnectionOptions(object):
    """The options of connections, checked once, for any host: what a
    :class:`~napix.connection.Connection` is made with, and what a pool keeps
    to make one for each host (:meth:`napix.connection.Connection.with_options`).
    A bad one raises here (:exc:`TypeError` for a wrong type, :exc:`ValueError`
    for a wrong value), TLS files included.

    :param authenticator: a callable that takes a :class:`Request` and returns
        it signed (see :mod:`napix.authenticators`), or ``None`` to send no
        credentials.
    :param timeout: seconds; a number for both, or a ``(connect, read)`` pair.
        *read* bounds the whole exchange once connected. Default
        :data:`~napix.defaults.DEFAULT_TIMEOUT`. A request's own ``timeout=`` overrides it.
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
        instead of resolving the name (see :data:`~napix.hosts.resolve_overrides`).
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
    :param breaker: a :class:`napix.breaker.Breaker`, or ``None`` (the
        default): the circuit of the destination, shared with every
        connection of the thread to it with an equal breaker, fails its
        requests at once while the host is down.
    :param resend_busy: send once more, signed anew, after
        :data:`~napix.defaults.DEFAULT_BUSY_WAIT` seconds, a request that
        napixd answered ``429 Too many concurrent connections``, whatever its
        method (napixd answers so before it runs anything; see
        :mod:`napix.retry`). Default ``True``.
    :param event_hooks: ``{'request': [...], 'response': [...], 'error':
        [...]}``, functions called with each attempt's request, response and
        error (see :mod:`napix.hooks`); ``None`` (the default): none.
    """

    __slots__ = ('authenticator', 'timeout', 'simultaneous', 'share_limit', 'retry',
                 'breaker', 'resend_busy', 'resolve', 'transport', 'transport_options',
                 'event_hooks')

    def __init__(self, authenticator: Optional[Authenticator] = None,
                 timeout: TimeoutArg = DEFAULT_TIMEOUT, simultaneous: Optional[int] = None,
                 verify: Verify = True, resolve: Optional[Mapping[str, str]] = None,
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 transport: Optional[Transport] = None, retry: Optional[Retry] = None,
                 share_limit: bool = True,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, cert: Cert = None,
                 max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
                 max_header_line: int = DEFAULT_MAX_HEADER_LINE,
                 max_header_fields: int = DEFAULT_MAX_HEADER_FIELDS,
                 breaker: Optional[Breaker] = None, resend_busy: bool = True,
                 event_hooks: Any = None, *, maxsize: Optional[int] = None) -> None:
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
        self.breaker, self.resend_busy = _check_breaker(breaker, resend_busy)
        self.event_hooks: Optional[EventHooks] = check_event_hooks(event_hooks)
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

    def new_transport(self, place: Place) -> Transport:
        """The transport of a connection to *place*: the one given, else a
        :class:`~napix.transports.gevent.GeventTransport` with these options."""
        if self.transport is not None:
            return self.transport
        return GeventTransport(place.scheme, place.name, place.port, address=place.address,
                               connect_port=place.connect_port, **self.transport_options)


def _check_breaker(breaker: Optional[Breaker],
                   resend_busy: bool) -> Tuple[Optional[Breaker], bool]:
    if breaker is not None and not isinstance(breaker, Breaker):
        raise TypeError('breaker must be a napix.breaker.Breaker or None, not {0}'.format(
            type(breaker).__name__))
    if not isinstance(resend_busy, bool):
        raise TypeError('resend_busy must be True or False, not {0}'.format(
            type(resend_busy).__name__))
    return breaker, resend_busy
