"""The requests and responses that connections and transports exchange.

:class:`Request` is what an authenticator signs and a transport sends;
:class:`Response` is what a transport returns; :class:`Headers` is the
case-insensitive mapping both carry. This module is below the transports: it
imports nothing of :mod:`napix` but its headers (``napix.headers``), its
JSON (``napix.jsoncodec``) and :mod:`napix.timings` (which import none).
"""

from __future__ import annotations

import json
import re
from sys import intern
from typing import Any
from typing import Optional, Tuple, Union
from time import perf_counter
from napix.timings import Marks, Measured, Stamped, Timed, stamped_as

from napix.headers import _CREDENTIAL_HEADERS, Headers, HeadersInput
from napix.jsoncodec import _stdlib_loads, dumps, loads  # noqa: F401 - the models' JSON

__all__ = ['Headers', 'Request', 'Response', 'IDEMPOTENT_METHODS', 'loads', 'dumps']

#: The methods that may safely be sent twice: a transport resends them on a
#: fresh socket when a kept-alive one turns out closed, and a
#: :class:`~napix.retry.Retry` retries them after a transport failure.
IDEMPOTENT_METHODS = frozenset(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'])

#: Kept for code written against 0.1: request headers are :class:`Headers`.
RequestHeaders = Headers


class Request(Stamped):
    """A request about to be sent, or that was sent, to a Napix server.

    ``method``, ``url`` (path and query, percent-encoded, exactly as sent and
    signed), ``headers`` (:class:`Headers`), ``body`` (``bytes`` or ``None``),
    ``host`` (the host as given to the connection or the pool), ``authority``
    (the ``Host`` header value, which the authenticators sign) and ``timeout``
    (``(connect, read)`` seconds for this request, or ``None`` for the
    connection's).

    ``str(request)`` is the form used in ``remote_call``: ``GET
    server.napix.nx/abc``. It never contains credentials: the query parameters
    listed in ``secret_params`` (set by the authenticators that put a secret in
    the URL) are removed from it. ``started`` and ``attempt``: :mod:`napix.timings`.
    """

    __slots__ = ('method', 'host', 'authority', 'url', 'headers', 'body', 'secret_params',
                 'timeout', 'started', 'attempt')
    # new_request() below sets each of them too: a slot added here goes there.

    def __init__(self, method: str, host: str, authority: str, url: str,
                 headers: HeadersInput = None, body: Optional[bytes] = None,
                 timeout: Optional[Tuple[float, float]] = None) -> None:
        self.method = method
        self.host = host
        self.authority = authority
        self.url = url
        self.headers: Headers = headers if type(headers) is Headers else Headers(headers)
        self.body = body
        self.secret_params: Tuple[str, ...] = ()
        self.timeout = timeout
        self.started, self.attempt = perf_counter(), None

    @property
    def path(self) -> str:
        """The path, without the query string."""
        return self.url.partition('?')[0]

    def public_url(self) -> str:
        """The url without the secret query parameters."""
        if not self.secret_params or '?' not in self.url:
            return self.url
        path, _, query = self.url.partition('?')
        kept = [p for p in query.split('&')
                if p.partition('=')[0] not in self.secret_params]
        return path + ('?' + '&'.join(kept) if kept else '')

    def copy(self) -> 'Request':
        """An unsigned copy with its own headers (what a retry signs again), timed as this one."""
        return stamped_as(self, Request(self.method, self.host, self.authority, self.url,
                                        self.headers.copy(), self.body, self.timeout))

    def __str__(self) -> str:
        return '{0} {1}{2}'.format(self.method, self.authority, self.public_url())

    def __repr__(self) -> str:
        return '<Request {0}>'.format(self)

    def __reduce__(self) -> Tuple[Any, ...]:
        headers = [(k, v) for k, v in self.headers.raw_items()
                   if k.lower() not in _CREDENTIAL_HEADERS]
        return (_restore_request, (self.method, self.host, self.authority, self.public_url(),
                                   headers, self.body, self.timeout))


def _restore_request(*args: Any) -> Request:
    return Request(*args)


# A class with a Python __init__ costs a call more to make (Python 3.11 does
# not inline it): the two below are the hot path's constructors.
_new = object.__new__


def new_request(method: str, host: str, authority: str, url: str,
                headers: Optional[Headers], body: Optional[bytes],
                timeout: Optional[Tuple[float, float]]) -> Request:
    """:class:`Request` from checked arguments: *headers* is
    :class:`Headers` or ``None`` (none yet)."""
    if headers is None:
        headers = _new(Headers)
        headers._store = {}
    request = _new(Request)
    request.method = method
    request.host = host
    request.authority = authority
    request.url = url
    request.headers = headers
    request.body = body
    request.secret_params = ()
    request.timeout = timeout
    request.started = perf_counter()
    request.attempt = None
    return request


class Response(Timed):
    """The answer of a Napix server.

    ``status`` (``int``), ``reason`` (``str``), ``headers`` (case-insensitive
    :class:`Headers`), ``content`` (the raw body, ``bytes``), ``body`` (the
    decoded JSON value for a JSON content type, the text otherwise, ``None``
    when empty), ``request`` (the :class:`Request` it answers), ``elapsed``
    and ``timings`` (:mod:`napix.timings`: seconds, as the transport measured them).

    A transport gives *headers* as :class:`Headers` (or any mapping, or the
    raw response head as text: then :class:`Headers` are made the first time
    ``headers`` is read, and only the ``Content-Type`` is looked up before).
    A response read from the head text (``new_response()``) finds its
    ``reason`` there the first time it is read.
    """

    __slots__ = ('status', '_reason', '_headers', 'content', 'request', 'body', '_marks',
                 '_content_type')
    # new_response() below sets each of them too: a slot added here goes there.

    def __init__(self, status: int, reason: Optional[str], headers: Union[HeadersInput, str],
                 content: bytes, request: Optional[Request] = None, body: Any = None,
                 elapsed: Optional[float] = None, content_type: Optional[str] = None) -> None:
        self.status = status
        self._reason: Optional[str] = reason
        self._headers: Union[Headers, str] = (
            headers if type(headers) is str or type(headers) is Headers
            else Headers(headers))  # type: ignore[arg-type]
        self.content = content
        self.request = request
        self.body = body
        self._marks: Union[Marks, Measured] = Measured(elapsed, perf_counter())
        self._content_type = content_type

    @property
    def reason(self) -> Optional[str]:
        """The reason phrase of the status line (``'OK'``), ``''`` when it has none."""
        reason = self._reason
        if reason is None and type(self._headers) is str:
            reason = self._reason = reason_phrase(self._headers)
        return reason

    @reason.setter
    def reason(self, reason: Optional[str]) -> None:
        self._reason = reason

    @property
    def headers(self) -> Headers:
        """The response headers, case-insensitive."""
        headers = self._headers
        if type(headers) is str:
            if self._reason is None:  # the head text is not kept once parsed
                self._reason = reason_phrase(headers)
            headers = self._headers = Headers.from_head(headers)
        return headers  # type: ignore[return-value]

    @headers.setter
    def headers(self, headers: Headers) -> None:
        self._reason = self.reason  # found in the head text it replaces
        self._headers = headers
        self._content_type = None

    @property
    def ok(self) -> bool:
        """``True`` when the status is below 400."""
        return self.status < 400

    @property
    def text(self) -> str:
        """The body as text, decoded with the charset of its ``Content-Type``
        (UTF-8 by default; undecodable bytes replaced)."""
        return _decode_text(self.content, self.content_type())

    def content_type(self) -> str:
        """The ``Content-Type`` header, ``''`` when there is none."""
        ctype = self._content_type  # found by the transport while it parsed the head
        if ctype is None:
            ctype = self._content_type = self.headers.get('content-type', '').rstrip(' \t')
        return ctype

    def decode(self) -> None:
        """Decode ``content`` into ``body``; :exc:`ValueError` when it is not
        what its ``Content-Type`` says."""
        content = self.content
        if not content:
            self.body = None
            return
        ctype = self._content_type
        if ctype is None:
            ctype = self.content_type()
        if 'json' in ctype:
            self.body = loads(content)
        else:
            self.body = _decode_text(content, ctype)

    def error_text(self) -> str:
        """The text form of an error: ``"404 NOT FOUND" `10` not found``."""
        body = self.body
        if body is None:
            body = ''
        elif not isinstance(body, str):
            body = json.dumps(body)
        return '"{0} {1}" {2}'.format(self.status, (self.reason or '').upper(), body).rstrip()

    def __repr__(self) -> str:
        return '<Response {0} {1}>'.format(self.status, self.reason)


def new_response(status: int, head: str, content: bytes, request: Request,
                 marks: Marks) -> Response:
    """:class:`Response` as a transport reads it, not decoded yet: its headers
    as the response *head* text (status line and header lines, each with its
    CRLF). Its Content-Type is found at once (decoding needs it: its values
    joined when repeated, interned, as a pool's responses share a few); its
    reason phrase and its :class:`Headers` when first read (*marks*:
    :mod:`napix.timings`)."""
    response = _new(Response)
    response.status = status
    response._reason = None
    response._headers = head
    response.content = content
    response.request = request
    response.body = None
    response._marks = marks  # the exchange's, see napix.timings
    response._content_type = intern(', '.join(_content_types(head)))
    return response


# The Content-Type values of a head, without the blanks around them. Spelled
# out rather than re.I: the search then starts from its literal CRLF.
_content_types = re.compile(
    r'\r\n[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee][ \t]*:[ \t]*((?:[^\r]*[^\r \t])?)').findall


# A status line by its fields: 'HTTP/1.1 200 OK' (the reason may be empty).
_STATUS_LINE = re.compile(r'(?P<version>[^ \r]*) (?P<status>[^ \r]*) ?(?P<reason>[^\r]*)')


def reason_phrase(head: str) -> str:
    """The reason phrase of *head*'s status line (``'OK'`` of ``HTTP/1.1 200
    OK``), ``''`` when it has none; interned: a pool's 100,000 responses
    share one ``'OK'``."""
    status_line = _STATUS_LINE.match(head)
    return intern(status_line['reason']) if status_line is not None else ''


def _decode_text(content: bytes, ctype: str) -> str:
    try:
        return content.decode(_charset(ctype), 'replace')
    except Exception:  # an unknown charset, or a codec that is no text encoding
        return content.decode('utf-8', 'replace')


def _charset(ctype: str) -> str:
    _, _, params = ctype.partition(';')
    for param in params.split(';'):
        key, _, value = param.strip().partition('=')
        if key.lower() == 'charset' and value:
            return value.strip('"')
    return 'utf-8'

