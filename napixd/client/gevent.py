"""The gevent client: requests from many greenlets, a bounded number in flight."""

from __future__ import annotations

from typing import Any, Optional

from napix.authenticators import Credentials
from napix.checks import check_limit, check_positive_int
from napix.connection import Connection
from napix.defaults import DEFAULT_SIMULTANEOUS
from napixd.client.client import PlainClient

__all__ = ['Client', 'check_simultaneous']



def check_simultaneous(simultaneous: int) -> int:
    """Return *simultaneous* if it is an ``int`` >= 1, else raise
    (:func:`napix.checks.check_positive_int`)."""
    return check_positive_int('simultaneous', simultaneous)


class Client(PlainClient):
    """A :class:`napixd.client.client.PlainClient` safe to share between greenlets.

    At most *simultaneous* requests are in flight to the host at once; the
    others wait their turn. A Napix server answers ``429 Too many concurrent
    connections`` to a client with more than 2 requests in flight by default,
    hence the default of 2 (:data:`napix.defaults.DEFAULT_SIMULTANEOUS`). ``maxsize=`` is
    accepted as another name of *simultaneous*. The limit is the
    destination's budget (see
    :class:`~napix.transports.destination.Destination`): every client and
    pool of the thread that names the same host with the same *simultaneous*
    shares it, so that together they stay within it; ``share_limit=False``
    gives this client its own.
    """

    __slots__ = ('simultaneous',)

    def __init__(self, host: str, authenticator: Credentials,
                 simultaneous: Optional[int] = None, **options: Any) -> None:
        limit = check_limit(simultaneous, options.pop('maxsize', None), DEFAULT_SIMULTANEOUS)
        super().__init__(host, authenticator, simultaneous=limit, **options)
        self.simultaneous = limit

    def _set(self, connection: Connection) -> None:
        super()._set(connection)
        self.simultaneous = connection.simultaneous
