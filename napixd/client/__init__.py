"""Requests to other Napix servers.

* :class:`Client` (:class:`napixd.client.gevent.Client`): one server, shared
  between greenlets, at most *simultaneous* requests in flight;
* :class:`napixd.client.client.PlainClient` (also importable from here):
  the plain, one-at-a-time client;
* :class:`ClientPool` (:class:`napixd.client.pool.ClientPool`): many requests
  to many servers at once, collected with ``wait()`` or ``wait_unordered()``.

Failures raise :exc:`napix.exceptions.HTTPError`, also importable from here.
"""

from napix.exceptions import HTTPError
from napixd.client.client import PlainClient
from napixd.client.gevent import Client
from napixd.client.pool import ClientPool

__all__ = ['Client', 'PlainClient', 'ClientPool', 'HTTPError']
