"""The defaults every layer agrees on."""

#: Default ``(connect, read)`` timeouts in seconds. *read* bounds the whole
#: exchange after the connection is made: sending, waiting and receiving.
DEFAULT_TIMEOUT = (5.0, 30.0)

#: Default *simultaneous* of a gevent client and of a pool: the requests in
#: flight to one host that a Napix server allows a client by default.
DEFAULT_SIMULTANEOUS = 2

#: Default *simultaneous* of a :class:`~napix.connection.Connection`, which
#: may talk to other servers than Napix ones.
DEFAULT_CONNECTION_SIMULTANEOUS = 10

#: Default limit of a response's size (headers and body), in bytes.
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024

#: Seconds an idle kept-alive socket is kept: below the keep-alive timeouts of
#: common servers (Apache, uvicorn, Node: 5 s; nginx: 75 s), so that a server
#: rarely closes a socket just as a request is sent on it. A server that closes
#: sooner (gunicorn: 2 s) is noticed before the socket is reused.
DEFAULT_IDLE_TIMEOUT = 4.0

#: Default limit of a response head (status line to blank line), in bytes:
#: between h11's and Node's 16 KiB and curl's 100 KiB.
DEFAULT_MAX_HEAD_SIZE = 64 * 1024

#: Default limit of one line of a response head, in bytes (nginx's
#: ``large_client_header_buffers`` are 8 KiB; h11's whole head is 16 KiB).
DEFAULT_MAX_HEADER_LINE = 16 * 1024

#: Default limit of the header fields of one response head (Python's
#: ``http.client`` refuses more than 100).
DEFAULT_MAX_HEADER_FIELDS = 100

#: Seconds a connection waits before it sends once more a request that napixd
#: answered ``429 Too many concurrent connections`` (its ``resend_busy``):
#: about the time napixd takes to finish a short request of the same client.
DEFAULT_BUSY_WAIT = 0.2
