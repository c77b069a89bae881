"""Transports: how a :class:`napix.connection.Connection` exchanges bytes.

A transport is any object with::

    handle(request) -> napix.connection.Response   # or raise a TransportError
    close()                                        # close idle resources

It receives the validated and signed :class:`~napix.connection.Request` and
returns the raw :class:`~napix.connection.Response` (the connection decodes
the body and raises for statuses >= 400). Three are provided:

* :class:`napix.transports.gevent.GeventTransport`, the default: HTTP/1.1 on
  gevent sockets with keep-alive, cooperative without monkey patching;
* :class:`napix.transports.requests.RequestsTransport`: through a
  ``requests.Session``, for proxies and client certificates (cooperative only
  in a monkey-patched process);
* :class:`napix.transports.wsgi.WSGITransport`: straight into a WSGI
  application, without sockets, for tests.

They share what they send by default (:mod:`napix.transports.wire`) and the
errors they raise, each with its one message (:mod:`napix.transports.errors`).
"""

from typing import Protocol

from napix.models import Request, Response

__all__ = ['Transport']


class Transport(Protocol):
    """What a connection needs of a transport (for type checkers): ``handle``.
    ``close()``, when present, is called by :meth:`Connection.close
    <napix.connection.Connection.close>`."""

    def handle(self, request: Request) -> Response:
        """Send the signed *request*; return the raw response or raise a
        :exc:`~napix.exceptions.TransportError`."""
