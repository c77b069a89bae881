"""The gevent client: requests from many greenlets, a bounded number in flight."""

from gevent.lock import BoundedSemaphore

from napixd.client.client import Client as BaseClient

__all__ = ['Client', 'check_simultaneous']


def check_simultaneous(simultaneous):
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
    others wait their turn. They share the connection's keep-alive sockets,
    of which there are at most *simultaneous*. A Napix server answers ``429
    Too many concurrent connections`` to a client with more than 2 requests
    in flight by default, hence the default of 2.
    """

    def __init__(self, host, authenticator, simultaneous=2, **options):
        self.simultaneous = check_simultaneous(simultaneous)
        options.setdefault('maxsize', simultaneous)
        super().__init__(host, authenticator, **options)
        self.semaphore = BoundedSemaphore(simultaneous)

    def send(self, request):
        with self.semaphore:
            return BaseClient.send(self, request)
