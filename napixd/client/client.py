"""The synchronous client: one Napix server, one request at a time."""

import logging

from napix.authenticators import from_credentials
from napix.connection import Connection
from napix.exceptions import HTTPError

__all__ = ['Client']

logger = logging.getLogger('Napix.Client')
# A library does not print: without a handler configured, failures go nowhere.
logger.addHandler(logging.NullHandler())


class Client(object):
    """Sends requests to one Napix server.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``.
    :param authenticator: a callable from :mod:`napix.authenticators` (or
        any callable that takes a :class:`~napix.connection.Request` and returns
        it signed), or a mapping with ``login`` and ``key``, turned into a
        :class:`~napix.authenticators.LoginAuthenticator`. Anything else raises
        :exc:`ValueError`.
    :param options: passed to :class:`napix.connection.Connection`:
        ``timeout``, ``verify``, ``resolve``, ``max_response_size``,
        ``maxsize``, ``transport``.

    >>> c = Client('server.napix.nx', {'login': 'root', 'key': 'toor'})  # doctest: +SKIP
    >>> c.request('GET', '/')                                           # doctest: +SKIP
    <Response 200 OK>
    """

    def __init__(self, host, authenticator, **options):
        self.host = host
        self.authenticator = from_credentials(authenticator)
        self.connection = Connection(host, self.authenticator, **options)

    def request(self, method, url, body='', headers=None):
        """Send a request; return the :class:`napix.connection.Response`.

        :raises napix.exceptions.HTTPError: the server answered 400 or more, or
            did not answer (``status`` is then ``None``). The failure is logged
            on the ``Napix.Client`` logger, without credentials.
        :raises ValueError, TypeError: a bad method, url, header or body, before
            anything is sent.
        """
        return self.send(self.connection.build_request(method, url, body, headers))

    def send(self, request):
        """Sign and send a request made by ``connection.build_request``."""
        try:
            return self.connection.send(request)
        except HTTPError as error:
            logger.warning('%s', error)
            raise

    def close(self):
        """Close the idle sockets to the server."""
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return '<{0} {1}>'.format(type(self).__name__, self.host)
