"""napixd: the client side of the Napix framework.

:mod:`napixd.client` sends requests to other Napix servers, one at a time or
many at once; :mod:`napixd.plugins.exceptions` turns their errors into the
JSON that bubbles from server to server; :mod:`napixd.testing` runs real Napix
test servers on 127.0.0.1.
"""
