"""The gevent client: requests from many greenlets, a bounded number in flight."""

from __future__ import annotations

from typing import Any, TypeVar

from napix.authenticators import Credentials
from napixd.client.client import Client as BaseClient

__all__ = ['Client', 'check_simultaneous']

_G = TypeVar('_G', bound='Client')


def check_simultaneous(simultaneous: int) -> int:
    """Return *simultaneous* if it is an ``int`` >= 1, else raise."""
    if isinstance(simultaneous, bool) or not isinstance(simultaneous, int):
        raise TypeError('simultaneous must be an int >= 1, not {0}'.format(
            type(simultaneous).__name__))
    if simultaneous < 1:
        raise ValueError('simultaneous must be an int >= 1, not {0!r}'.format(simultaneous))
    return simultaneous


class Client(BaseClient):
    """A :class:`napixd.client.client.Client` safe to share between greenlets.

    At most *simultaneous* requests are in flight to the host at once; the
    others wait their turn. A Napix server answers ``429 Too many concurrent
    connections`` to a client with more than 2 requests in flight by default,
    hence the default of 2. The limit is the destination's budget (see
    :class:`~napix.transports.destination.Destination`): every client and
    pool of the thread that names the same host with the same *simultaneous*
    shares it, so that together they stay within it; ``share_limit=False``
    gives this client its own.
    """

    __slots__ = ('simultaneous',)

    def __init__(self, host: str, authenticator: Credentials, simultaneous: int = 2,
                 **options: Any) -> None:
        self.simultaneous = check_simultaneous(simultaneous)
        if options.setdefault('maxsize', simultaneous) != simultaneous:
            raise ValueError('give simultaneous, not maxsize, to a gevent Client')
        super().__init__(host, authenticator, **options)

    def _new(self: _G) -> _G:
        client = type(self).__new__(type(self))
        client.simultaneous = self.simultaneous
        return client
