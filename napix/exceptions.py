"""The errors raised by :mod:`napix`.

Every failed request raises an :exc:`HTTPError`; the subclasses say why::

    NapixError
     └── HTTPError                 the request failed: status is the HTTP status, or None
          └── TransportError       no usable response at all (status is None)
               ├── ConnectError        could not connect (refused, unknown host, TLS failure)
               │    └── CircuitOpen    not sent: the destination's circuit breaker is open
               ├── Timeout             connect or read took longer than the timeout
               ├── RemoteProtocolError the server closed, reset, or answered something that
               │                       is not HTTP (or a body that is not what it says)
               ├── ResponseTooLarge    the response exceeded ``max_response_size`` or a
               │                       limit of its head (``max_head_size``...)
               └── Cancelled           the request was cancelled before it completed

An :exc:`HTTPError` carries ``request`` (the :class:`napix.connection.Request`),
``response`` (or ``None``), ``status`` (or ``None``), ``body`` and ``remote_error``,
and ``remote_call``, the ``str()`` of the request: ``GET server.napix.nx/abc``.
None of them ever holds a key, a signature or a token.
"""

from __future__ import annotations

import json
from time import perf_counter
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Type, TypeVar

from napix.timings import Timings

if TYPE_CHECKING:
    from napix.models import Request, Response

__all__ = [
    'NapixError', 'HTTPError', 'TransportError', 'ConnectError', 'Timeout',
    'RemoteProtocolError', 'ResponseTooLarge', 'Cancelled', 'CircuitOpen',
]


class NapixError(Exception):
    """Base of every exception raised on purpose by :mod:`napix`."""


class HTTPError(NapixError):
    """A request to a Napix server failed.

    ``status`` is the HTTP status of the response (an ``int`` >= 400), or
    ``None`` when no usable response was received (see :exc:`TransportError`).

    ``remote_error`` is what the remote server said: for a JSON object (the
    output of a remote :class:`~napixd.plugins.exceptions.ExceptionsCatcher`)
    the decoded object itself, otherwise the text form
    ``"404 NOT FOUND" `10` not found`` (status line in double quotes, then
    the body).
    """

    def __init__(self, request: Optional[Request], response: Optional[Response] = None,
                 message: Optional[str] = None) -> None:
        self.request = request
        self.response = response
        self.status: Optional[int] = response.status if response is not None else None
        self.body: Any = response.body if response is not None else None
        self.remote_error: Any
        if response is None:
            self.remote_error = message
        elif isinstance(self.body, dict):
            self.remote_error = self.body
        else:
            self.remote_error = response.error_text()
        self.message = message or self._describe()
        super().__init__(self.message)
        self._made = perf_counter()  # timings: when the request ended, without a response
        self._opened: Any = None  # and how far a failed connect went (napix.timings)

    @property
    def timings(self) -> Optional[Timings]:
        """Where the time of the request went (:class:`~napix.timings.Timings`):
        its response's, or without one until this error; ``None`` without a request."""
        return Timings.of_error(self)

    @property
    def remote_call(self) -> Optional[str]:
        """The failed outbound call, as ``METHOD host/path``, without credentials."""
        return str(self.request) if self.request is not None else None

    def _describe(self) -> str:
        error = self.remote_error
        if isinstance(error, dict):
            if 'error_class' in error or 'error_text' in error:  # an ExceptionsCatcher's
                error = '{0}: {1}'.format(error.get('error_class', 'Error'),
                                          error.get('error_text', ''))
            else:  # some other JSON object: show it whole
                error = '"{0} {1}" {2}'.format(self.status, (
                    self.response.reason or '').upper() if self.response is not None else '',
                    json.dumps(error, sort_keys=True, default=str))
        return '{0} failed: {1}'.format(self.remote_call, error)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return '<{0} {1} {2}>'.format(type(self).__name__, self.remote_call,
                                       self.status if self.status is not None else 'no response')

    def __reduce__(self) -> Tuple[Callable[..., HTTPError], Tuple[Any, ...]]:
        return (_rebuild, (type(self), self.request, self.response, self.message))


_E = TypeVar('_E', bound=HTTPError)
_T = TypeVar('_T', bound='TransportError')


def _rebuild(cls: Type[_E], request: Optional[Request], response: Optional[Response],
             message: Optional[str]) -> _E:
    return cls(request, response, message)


class TransportError(HTTPError):
    """No usable response was received; ``status`` is ``None``, except for
    a response whose body could not be decoded (a
    :exc:`RemoteProtocolError` that keeps its ``response`` and ``status``).

    ``message`` names the host and the cause, e.g.
    ``GET 127.0.0.1:8002/abc failed: connection refused``.
    """

    def __init__(self, request: Optional[Request], cause: object,
                 message: Optional[str] = None, response: Optional[Response] = None) -> None:
        self.cause = cause
        text = message or '{0} failed: {1}'.format(
            str(request) if request is not None else '?', cause)
        super().__init__(request, None, text)
        self.remote_error = text
        if response is not None:
            self.response = response
            self.status = response.status

    def __reduce__(self) -> Tuple[Callable[..., HTTPError], Tuple[Any, ...]]:
        return (_rebuild_transport, (type(self), self.request, self.cause, self.message))


def _rebuild_transport(cls: Type[_T], request: Optional[Request], cause: object,
                       message: Optional[str]) -> _T:
    return cls(request, cause, message)


class ConnectError(TransportError):
    """The connection could not be established: refused, unknown host, TLS failure."""


class CircuitOpen(ConnectError):
    """Not sent, without a socket: the circuit breaker of the destination is
    open (see :mod:`napix.breaker`). The message says the host, since when,
    and when it will be tried again; ``cause`` is a
    :class:`napix.breaker.Outage` saying the same."""


class Timeout(TransportError):
    """Connecting or waiting for the response took longer than the timeout."""


class RemoteProtocolError(TransportError):
    """The server closed or reset the connection, or did not answer valid HTTP."""


class ResponseTooLarge(TransportError):
    """The response was larger than the connection's ``max_response_size``."""


class Cancelled(TransportError):
    """The request was cancelled (its pool was closed) before it completed."""
