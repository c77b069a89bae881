"""The plain client: one Napix server, one request at a time.

:class:`PlainClient` (also importable as ``napixd.client.client.Client``, its
earlier name); :class:`napixd.client.Client` is the gevent one, which
greenlets may share.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Type, TypeVar

from napix.authenticators import AnonAuthenticator, Credentials, from_credentials
from napix.checks import Body, Params, TimeoutArg
from napix.connection import Connection
from napix.options import Place
from napix.exceptions import HTTPError
from napix.models import Request, Response

__all__ = ['PlainClient', 'Client']

_C = TypeVar('_C', bound='PlainClient')

logger = logging.getLogger('Napix.Client')
# A library does not print: without a handler configured, failures go nowhere.
logger.addHandler(logging.NullHandler())


class PlainClient(object):
    """Sends requests to one Napix server, one at a time.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``.
    :param authenticator: a callable from :mod:`napix.authenticators` (or
        any callable that takes a :class:`~napix.models.Request` and returns
        it signed), or a mapping with ``login`` and ``key``, turned into a
        :class:`~napix.authenticators.LoginAuthenticator`. Anything else raises
        :exc:`ValueError`.
    :param options: passed to :class:`napix.connection.Connection`:
        ``timeout``, ``verify``, ``resolve``, ``max_response_size``,
        ``simultaneous`` (or its other name ``maxsize``), ``share_limit``,
        ``idle_timeout``, ``retry``, ``transport``, ``breaker``
        (:mod:`napix.breaker`), ``resend_busy``.

    >>> c = PlainClient('server.napix.nx', {'login': 'root', 'key': 'toor'})  # doctest: +SKIP
    >>> c.request('GET', '/')                                           # doctest: +SKIP
    <Response 200 OK>
    """

    __slots__ = ('host', 'authenticator', 'connection', '__weakref__')

    def __init__(self, host: str, authenticator: Credentials, **options: Any) -> None:
        self.host = host
        self.authenticator = from_credentials(authenticator)
        self.connection = Connection(host, self.authenticator, **options)

    @classmethod
    def with_connection(cls: Type[_C], connection: Connection) -> _C:
        """A client that sends through *connection* (made with its
        authenticator and options, checked already): what a pool makes
        for a host whose client is asked for."""
        client = cls.__new__(cls)
        client._set(connection)
        return client

    def _set(self, connection: Connection) -> None:
        """Set every slot from *connection* (a subclass sets its own too)."""
        self.host = connection.host
        # A connection without one sends no credentials, as AnonAuthenticator.
        self.authenticator = connection.authenticator or AnonAuthenticator()
        self.connection = connection

    def for_host(self: _C, host: str, place: Optional[Place] = None) -> _C:
        """A client of the same class to *host* (at *place*, from
        ``connection.place(host)``, when given), with this one's credentials
        and options (checked already)."""
        return self.with_connection(self.connection.for_host(host, place))

    def request(self, method: str, url: str, body: Body = '',
                headers: Optional[Mapping[str, str]] = None, params: Params = None,
                timeout: Optional[TimeoutArg] = None, event_hooks: Any = None) -> Response:
        """Send a request; return the :class:`napix.models.Response`.

        :param params: a query string to append: a mapping or ``(name, value)``
            pairs, percent-encoded once and signed as sent.
        :param timeout: seconds, or ``(connect, read)``, for this request only.
        :param event_hooks: hooks for this request only, after the client's
            (see :mod:`napix.hooks`).
        :raises napix.exceptions.HTTPError: the server answered 400 or more, or
            did not answer (``status`` is then ``None``). The failure is logged
            at INFO on the ``Napix.Client`` logger, without credentials.
        :raises ValueError, TypeError: a bad method, url, header, body, params
            or timeout, before anything is sent.
        """
        request = self.connection.build_request(method, url, body, headers, params, timeout)
        return self.send(request, event_hooks)

    def send(self, request: Request, event_hooks: Any = None) -> Response:
        """Sign and send a request made by ``connection.build_request``
        (with *event_hooks* of its own, after the client's)."""
        connection = self.connection
        if event_hooks is not None:
            connection = connection.with_hooks(event_hooks)
        try:
            return connection.send(request)
        except HTTPError as error:
            logger.info('%s', error)
            raise

    def close(self) -> None:
        """Close the idle sockets to the server."""
        self.connection.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return '<{0} {1}>'.format(type(self).__name__, self.host)


#: The earlier name of :class:`PlainClient`, kept for the code that uses it.
Client = PlainClient
