"""The requests and responses that connections and transports exchange.

:class:`Request` is what an authenticator signs and a transport sends;
:class:`Response` is what a transport returns; :class:`Headers` is the
case-insensitive mapping both carry. This module is below the transports: it
imports nothing of :mod:`napix` but :mod:`napix.timings` (which imports none).
"""

from __future__ import annotations

import json
import json.scanner
import re
from sys import intern
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, Iterator, List, MutableMapping
from typing import Optional, Tuple, Union
from time import perf_counter
from napix.timings import Marks, Measured, Stamped, Timed, stamped_as

__all__ = ['Headers', 'Request', 'Response', 'IDEMPOTENT_METHODS', 'loads', 'dumps']

#: The methods that may safely be sent twice: a transport resends them on a
#: fresh socket when a kept-alive one turns out closed, and a
#: :class:`~napix.retry.Retry` retries them after a transport failure.
IDEMPOTENT_METHODS = frozenset(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'])

# The standard library's scanner, without json.loads' Python layers (encoding
# detection, decode, raw_decode, two whitespace matches); JSON's whitespace.
_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_JSON_BLANKS = ' \t\n\r'  # (str.isspace() and str.strip() take more)


def _stdlib_loads(content: bytes) -> Any:
    """``json.loads(content)``: the same value, or the same :exc:`ValueError`.
    What servers send (an object or an array in UTF-8, blanks after it or
    not) is decoded once and scanned; the rest goes through json.loads."""
    if content[:1] in b'{[' and content[1:2] not in b'\0':  # UTF-8 (no BOM, no NUL)
        try:
            text = content.decode('utf-8', 'surrogatepass')
            value, end = _scan_json(text, 0)
            if end == len(text) or not text[end:].strip(_JSON_BLANKS):
                return value
        except (ValueError, StopIteration):
            pass  # json.loads raises the error, with its message
    return json.loads(content)


#: Decode JSON from ``bytes``: orjson (a dependency on CPython), else the standard library.
loads: Callable[[bytes], Any] = _stdlib_loads
try:
    import orjson
except ImportError:  # pragma: no cover - not installed off CPython
    pass
else:
    loads = orjson.loads


def dumps(value: Any) -> bytes:
    """Encode *value* as compact JSON, in UTF-8; NaN and infinities are refused."""
    return json.dumps(value, separators=(',', ':'), allow_nan=False).encode('utf-8')


_CREDENTIAL_HEADERS = frozenset(['authorization', 'proxy-authorization', 'cookie'])

# A header line of a response head: its name, and its value (leading blanks
# removed, trailing ones kept, as httptools gives them).
_HEADER_LINES = re.compile(r'\r\n([^:\r\n]*):[ \t]*([^\r]*)')

HeadersInput = Union['Headers', Mapping[str, str], Iterable[Tuple[str, str]], None]


class Headers(MutableMapping[str, str]):
    """A case-insensitive mapping of HTTP header names to values.

    Lookups, ``in``, assignment, deletion, ``update`` and ``setdefault``
    ignore the case of names; iteration yields each name as it was first
    given (that is what goes on the wire). Repeated response headers are
    joined with ``', '``. Its ``repr`` hides the credentials
    (``Authorization``, ``Proxy-Authorization``, ``Cookie``), so printing or
    logging headers leaks no signature or token.

    :meth:`from_head` makes one from a raw response head, in time linear in
    its size whatever repeats.
    """

    __slots__ = ('_store',)

    # Each header is kept as its wire line, ``'Name: value'``, under its
    # lower-cased name: a dict of strings is not tracked by the garbage
    # collector, as one of (name, value) tuples is, and a transport writes
    # the lines as they are. A name holds no ':', so the first one ends it.

    def __init__(self, headers: HeadersInput = None, **kwargs: str) -> None:
        self._store: Dict[str, str] = {}
        if headers is not None:
            self.update(headers)
        if kwargs:
            self.update(kwargs)

    @classmethod
    def from_head(cls, head: str) -> 'Headers':
        """The headers of a response head: its status line, then header lines
        separated by CRLF, as an HTTP parser accepted them."""
        store: Dict[str, str] = {}
        repeated: Dict[str, List[str]] = {}  # joined once at the end: linear time
        for match in _HEADER_LINES.finditer(head):  # one line at a time: no list of them
            name = match[1]
            key = name.lower()
            if key not in store:
                store[intern(key)] = name + ': ' + match[2]
            elif key in repeated:
                repeated[key].append(match[2])
            else:
                repeated[key] = [store[key], match[2]]
        for key, values in repeated.items():
            store[key] = ', '.join(values)
        headers = cls.__new__(cls)
        headers._store = store
        return headers

    def get(self, key: str, default: Any = None) -> Any:
        line = self._store.get(key.lower())
        return default if line is None else line[line.index(':') + 2:]

    def __getitem__(self, key: str) -> str:
        line = self._store[key.lower()]
        return line[line.index(':') + 2:]

    def __setitem__(self, key: str, value: str) -> None:
        store = self._store
        lower = intern(key.lower())  # stored: one 'authorization' for all requests
        line = store.get(lower)
        store[lower] = (key if line is None else line[:line.index(':')]) + ': ' + value

    def put(self, lower: str, line: str) -> None:
        """Set a header from its lower-cased name and its whole line,
        ``'Name: value'``, replacing any: what an authenticator that signs
        every request does (the caller vouches for both)."""
        self._store[lower] = line

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._store

    def __iter__(self) -> Iterator[str]:
        return (line[:line.index(':')] for line in list(self._store.values()))

    def __len__(self) -> int:
        return len(self._store)

    def update(self, other: Any = (), **kwargs: str) -> None:  # type: ignore[override]
        """Set every header of *other* (a mapping or pairs), ignoring case."""
        items = other.items() if hasattr(other, 'items') else other
        for name, value in items:
            self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def raw_items(self) -> List[Tuple[str, str]]:
        """``(name, value)`` pairs, names as given: what a transport writes."""
        return [(line[:line.index(':')], line[line.index(':') + 2:])
                for line in self._store.values()]

    def wire(self, defaults: Dict[str, str], default_block: str) -> str:
        """The header lines as a transport writes them, each ended by CRLF:
        first the lines of *defaults* (``{lower-cased name: line}``, all of
        them *default_block*) whose names are absent here, then these."""
        store = self._store
        if not store:
            return default_block
        if defaults.keys().isdisjoint(store):
            return default_block + '\r\n'.join(store.values()) + '\r\n'
        lines = [line for name, line in defaults.items() if name not in store]
        lines.extend(store.values())
        lines.append('')
        return '\r\n'.join(lines)

    def copy(self) -> 'Headers':
        return Headers(self.raw_items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            mine = {key: line[line.index(':') + 2:] for key, line in self._store.items()}
            return mine == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr({name: '<hidden>' if name.lower() in _CREDENTIAL_HEADERS else value
                     for name, value in self.raw_items()})

    __str__ = __repr__


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
    """

    __slots__ = ('status', 'reason', '_headers', 'content', 'request', 'body', '_marks',
                 '_content_type')
    # new_response() below sets each of them too: a slot added here goes there.

    def __init__(self, status: int, reason: str, headers: Union[HeadersInput, str],
                 content: bytes, request: Optional[Request] = None, body: Any = None,
                 elapsed: Optional[float] = None, content_type: Optional[str] = None) -> None:
        self.status = status
        self.reason = reason
        self._headers: Union[Headers, str] = (
            headers if type(headers) is str or type(headers) is Headers
            else Headers(headers))  # type: ignore[arg-type]
        self.content = content
        self.request = request
        self.body = body
        self._marks: Union[Marks, Measured] = Measured(elapsed, perf_counter())
        self._content_type = content_type

    @property
    def headers(self) -> Headers:
        """The response headers, case-insensitive."""
        headers = self._headers
        if type(headers) is str:
            headers = self._headers = Headers.from_head(headers)
        return headers  # type: ignore[return-value]

    @headers.setter
    def headers(self, headers: Headers) -> None:
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


def new_response(status: int, reason: str, head: str, content: bytes, request: Request,
                 marks: Marks, content_type: str) -> Response:
    """:class:`Response` as a transport reads it: its headers as the response
    *head* text, its *content_type* found, not decoded yet (*marks*: napix.timings)."""
    response = _new(Response)
    response.status = status
    response.reason = reason
    response._headers = head
    response.content = content
    response.request = request
    response.body = None
    response._marks = marks  # the exchange's, see napix.timings
    response._content_type = content_type
    return response


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

