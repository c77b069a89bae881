"""napix: signed HTTP/JSON requests to Napix servers, cooperative under gevent.

The package is layered, each layer calling only the ones below it:

* :mod:`napix.exceptions` and :mod:`napix.authenticators` at the bottom,
* :mod:`napix.transports` (sockets, ``requests`` or a WSGI app),
* :mod:`napix.connection` (:class:`~napix.connection.Connection`,
  :class:`~napix.connection.Request`, :class:`~napix.connection.Response`).
"""

__version__ = '0.1.0'
