"""What every transport puts on the wire the same way.

The request headers a transport adds unless the request has its own
(``Accept`` and ``User-Agent``), and the methods that always carry a body
(``Content-Length: 0`` when it is empty): one list for the socket transport,
the *requests* transport and the WSGI transport alike.
"""

from __future__ import annotations

from typing import Dict

from napix import __version__

__all__ = ['BODY_METHODS', 'USER_AGENT', 'default_headers', 'DEFAULT_LINES', 'DEFAULT_BLOCK']

#: The methods whose request always carries a body (``Content-Length: 0``
#: when empty): a server may refuse them without one.
BODY_METHODS = frozenset(['POST', 'PUT', 'PATCH'])

#: ``napix/<version>``.
USER_AGENT = 'napix/{0}'.format(__version__)


def default_headers(flavour: str = '') -> Dict[str, str]:
    """The headers sent unless the request has its own, name to value; the
    ``User-Agent`` is ``napix/<version>``, followed by ``(flavour)`` when a
    transport names itself (``requests``, ``wsgi``)."""
    agent = '{0} ({1})'.format(USER_AGENT, flavour) if flavour else USER_AGENT
    return {'Accept': 'application/json', 'User-Agent': agent}


#: The socket transport's :func:`default_headers` as wire lines (without
#: their CRLF) by lowercase name, and all of them as one block, as
#: :meth:`napix.models.Headers.wire` takes them.
DEFAULT_LINES = {name.lower(): '{0}: {1}'.format(name, value)
                 for name, value in default_headers().items()}
DEFAULT_BLOCK = ''.join(line + '\r\n' for line in DEFAULT_LINES.values())
