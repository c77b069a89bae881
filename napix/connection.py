"""Connections to a Napix server, and the requests and responses they exchange.

>>> conn = Connection('server.napix.nx', LoginAuthenticator('root', 'toor'))  # doctest: +SKIP
>>> conn.request('GET', '/')                                                  # doctest: +SKIP
<Response 200 OK>

A :class:`Connection` validates and encodes the request, has its authenticator
sign it, hands it to its transport (by default
:class:`napix.transports.gevent.GeventTransport`: keep-alive sockets, cooperative
under gevent without monkey patching), decodes the answer and raises
:exc:`napix.exceptions.HTTPError` when the status is 400 or more.
"""

import json
import re
from urllib.parse import quote

from napix.exceptions import HTTPError, RemoteProtocolError

__all__ = ['Connection', 'Request', 'RequestHeaders', 'Response', 'Headers', 'parse_host',
           'resolve_overrides', 'DEFAULT_TIMEOUT', 'DEFAULT_MAX_RESPONSE_SIZE',
           'IDEMPOTENT_METHODS']

#: Default ``(connect, read)`` timeouts in seconds. *read* bounds the whole
#: exchange after the connection is made: sending, waiting and receiving.
DEFAULT_TIMEOUT = (5.0, 30.0)

#: The methods that may safely be sent twice: a transport resends them on a
#: fresh socket when a kept-alive one turns out closed, and a
#: :class:`~napix.retry.Retry` retries them after a transport failure.
IDEMPOTENT_METHODS = frozenset(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'])

#: Default limit of a response's size (headers and body), in bytes.
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024

#: Process-wide host overrides, in the spirit of curl's ``--resolve``:
#: ``{'server.napix.nx': '127.0.0.1:8123'}`` makes every connection to
#: ``server.napix.nx`` (any port) connect to 127.0.0.1:8123 while still sending
#: ``Host: server.napix.nx`` and signing that host. A key ``'name:port'`` only
#: applies to that port. A connection's own ``resolve=`` mapping is looked up first.
resolve_overrides = {}

_HOST_RE = re.compile(
    r'^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?'
    r'(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])'
    r'(?::(?P<port>[0-9]{1,5}))?/?\Z')
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # \Z: no trailing newline
_FORBIDDEN_IN_URL = re.compile(r'[\x00-\x1f\x7f]')
_FORBIDDEN_IN_HEADER = re.compile(r'[\r\n\x00]')
_URL_SAFE = "/?&=%:@!$'()*+,;~#[]-._"
_DEFAULT_PORTS = {'http': 80, 'https': 443}
HOST_FORMS = "'name', 'name:port', 'http://name[:port]' or 'https://name[:port]'"


def parse_host(host):
    """Split a Napix host into ``(scheme, name, port, authority)``.

    *host* is ``name``, ``name:port``, ``http://name[:port]`` or
    ``https://name[:port]``; *authority* is the ``Host`` header to send
    (``name``, or ``name:port`` when the port is not the scheme's default).
    Anything else raises :exc:`ValueError`.
    """
    if not isinstance(host, str):
        raise TypeError('host must be a str ({0}), not {1}'.format(
            HOST_FORMS, type(host).__name__))
    match = _HOST_RE.match(host)
    if match is None:
        raise ValueError('invalid host {0!r}: expected {1}'.format(host, HOST_FORMS))
    scheme = (match.group('scheme') or 'http').lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError('invalid host {0!r}: scheme must be http or https'.format(host))
    name = match.group('name')
    port = match.group('port')
    if port is None:
        port = _DEFAULT_PORTS[scheme]
        authority = name
    else:
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError('invalid host {0!r}: port must be 1 to 65535'.format(host))
        authority = name if port == _DEFAULT_PORTS[scheme] else '{0}:{1}'.format(name, port)
    return scheme, name, port, authority


class Headers(dict):
    """A case-insensitive ``dict`` of response headers.

    Keys are stored lower-cased; lookups accept any case. Repeated headers are
    joined with ``', '``.
    """

    __slots__ = ()

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def __setitem__(self, key, value):
        dict.__setitem__(self, key.lower(), value)

    def __delitem__(self, key):
        dict.__delitem__(self, key.lower())


class RequestHeaders(dict):
    """The headers of a :class:`Request`: a ``dict`` whose ``repr`` hides the
    credentials (``Authorization``, ``Proxy-Authorization``, ``Cookie``), so
    that printing or logging them leaks no signature or token."""

    __slots__ = ()

    def __repr__(self):
        return repr({name: '<hidden>' if name.lower() in _CREDENTIAL_HEADERS else value
                     for name, value in self.items()})

    __str__ = __repr__


_CREDENTIAL_HEADERS = frozenset(['authorization', 'proxy-authorization', 'cookie'])


class Request(object):
    """A request about to be sent, or that was sent, to a Napix server.

    ``method``, ``url`` (path and query, as sent), ``headers`` (a ``dict``),
    ``body`` (``bytes`` or ``None``) and ``host`` (the host as given to the
    connection or the pool). ``authority`` is the ``Host`` header value, which
    the authenticators sign.

    ``str(request)`` is the form used in ``remote_call``: ``GET
    server.napix.nx/abc``. It never contains credentials: the query parameters
    listed in ``secret_params`` (set by the authenticators that put a secret in
    the URL) are removed from it.
    """

    __slots__ = ('method', 'host', 'authority', 'url', 'headers', 'body', 'secret_params')

    def __init__(self, method, host, authority, url, headers=None, body=None):
        self.method = method
        self.host = host
        self.authority = authority
        self.url = url
        if type(headers) is not RequestHeaders:
            headers = RequestHeaders(headers or ())
        self.headers = headers
        self.body = body
        self.secret_params = ()

    @property
    def path(self):
        """The path, without the query string."""
        return self.url.partition('?')[0]

    def public_url(self):
        """The url without the secret query parameters."""
        if not self.secret_params or '?' not in self.url:
            return self.url
        path, _, query = self.url.partition('?')
        kept = [p for p in query.split('&')
                if p.partition('=')[0] not in self.secret_params]
        return path + ('?' + '&'.join(kept) if kept else '')

    def __str__(self):
        return '{0} {1}{2}'.format(self.method, self.authority, self.public_url())

    def __repr__(self):
        return '<Request {0}>'.format(self)

    def __reduce__(self):
        clean = Request(self.method, self.host, self.authority, self.public_url(),
                        {k: v for k, v in self.headers.items() if k.lower() != 'authorization'},
                        self.body)
        return (_restore_request, (clean.method, clean.host, clean.authority, clean.url,
                                   clean.headers, clean.body))


def _restore_request(*args):
    return Request(*args)


class Response(object):
    """The answer of a Napix server.

    ``status`` (``int``), ``reason`` (``str``), ``headers`` (case-insensitive
    :class:`Headers`), ``content`` (the raw body, ``bytes``), ``body`` (the
    decoded JSON value for a JSON content type, the text otherwise, ``None``
    when empty) and ``request``, the :class:`Request` it answers.

    A transport gives *headers* as a :class:`Headers` (or any mapping of
    lower-cased names), or as the response head as text (status line and
    header lines), which is parsed the first time ``headers`` is read.
    """

    __slots__ = ('status', 'reason', '_headers', 'content', 'request', 'body')

    def __init__(self, status, reason, headers, content, request=None, body=None):
        self.status = status
        self.reason = reason
        self._headers = headers
        self.content = content
        self.request = request
        self.body = body

    @property
    def headers(self):
        headers = self._headers
        if isinstance(headers, str):
            headers = self._headers = parse_head(headers)
        return headers

    @headers.setter
    def headers(self, headers):
        self._headers = headers

    def content_type(self):
        """The ``Content-Type`` header, ``''`` when there is none."""
        headers = self._headers
        if isinstance(headers, str):
            match = _CONTENT_TYPE.search(headers)
            return match.group(1).rstrip(' \t') if match else ''
        return headers.get('content-type', '')

    def decode(self):
        """Decode ``content`` into ``body``; :exc:`ValueError` when it is not
        what its ``Content-Type`` says."""
        content = self.content
        if not content:
            self.body = None
            return
        ctype = self.content_type()
        if 'json' in ctype:
            self.body = _loads(content)
        else:
            try:
                self.body = content.decode(_charset(ctype), 'replace')
            except LookupError:  # an unknown charset
                self.body = content.decode('utf-8', 'replace')

    def error_text(self):
        """The text form of an error: ``"404 NOT FOUND" `10` not found``."""
        body = self.body
        if body is None:
            body = ''
        elif not isinstance(body, str):
            body = json.dumps(body)
        return '"{0} {1}" {2}'.format(self.status, (self.reason or '').upper(), body).rstrip()

    def __repr__(self):
        return '<Response {0} {1}>'.format(self.status, self.reason)


# A header line of a response head: its name, and its value (leading blanks
# removed, trailing ones kept, as httptools gives them).
_HEADER_NAMES = re.compile(r'\r\n([^:\r\n]*):')
_HEADER_VALUES = re.compile(r'\r\n[^:\r\n]*:[ \t]*([^\r]*)')
_CONTENT_TYPE = re.compile(r'\r\ncontent-type:[ \t]*([^\r]*)', re.IGNORECASE)


def parse_head(text):
    """The :class:`Headers` of a response head (its status line, then header
    lines separated by CRLF, as an HTTP parser accepted them); repeated
    headers are joined with ``', '``."""
    names = _HEADER_NAMES.findall(text.lower())
    values = _HEADER_VALUES.findall(text)
    headers = Headers(zip(names, values))  # noqa: B905 (same length)
    if len(headers) < len(names):  # repeated headers
        headers = Headers()
        for key, value in zip(names, values):  # noqa: B905
            if dict.__contains__(headers, key):
                value = dict.__getitem__(headers, key) + ', ' + value
            dict.__setitem__(headers, key, value)
    return headers


def _charset(ctype):
    _, _, params = ctype.partition(';')
    for param in params.split(';'):
        key, _, value = param.strip().partition('=')
        if key.lower() == 'charset' and value:
            return value.strip('"')
    return 'utf-8'


try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is optional
    _loads = json.loads


def _encode_body(body, headers):
    if body is None or body == '' or body == b'':
        return None
    if isinstance(body, (dict, list)):
        try:
            data = json.dumps(body, separators=(',', ':'), allow_nan=False).encode('utf-8')
        except (TypeError, ValueError) as error:
            raise TypeError('body cannot be encoded as JSON: {0}'.format(error)) from None
        if 'Content-Type' not in headers:
            headers['Content-Type'] = 'application/json'
        return data
    if isinstance(body, str):
        return body.encode('utf-8')
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError('body must be a dict or list (sent as JSON), str, bytes or None, '
                    'not {0}'.format(type(body).__name__))


_COMMON_METHODS = frozenset(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])


def check_method(method):
    """Return *method* upper-cased, or raise :exc:`ValueError` if it is not an HTTP token."""
    if type(method) is str and method in _COMMON_METHODS:
        return method
    if not isinstance(method, str):
        raise TypeError('method must be a str such as \'GET\', not {0}'.format(
            type(method).__name__))
    if not _TOKEN_RE.match(method):
        raise ValueError('invalid method {0!r}: expected an HTTP method such as GET'.format(
            method))
    return method.upper()


def check_url(url):
    """Return *url* ready to send: percent-encoded where needed.

    It must start with ``/``; control characters (CR and LF among them) raise
    :exc:`ValueError`. Spaces and non-ASCII text are percent-encoded as UTF-8;
    existing ``%XX`` escapes are kept.
    """
    if not isinstance(url, str):
        raise TypeError('url must be a str starting with /, not {0}'.format(
            type(url).__name__))
    if not url.startswith('/'):
        raise ValueError('invalid url {0!r}: expected a path starting with /'.format(url))
    if _FORBIDDEN_IN_URL.search(url):
        raise ValueError('invalid url {0!r}: control characters (such as CR or LF) '
                         'are not allowed'.format(url))
    if not url.isascii() or ' ' in url or '"' in url or '<' in url or '>' in url:
        url = quote(url, safe=_URL_SAFE)
    return url


def check_headers(headers):
    """Return a new ``dict`` of *headers*, refusing names and values that could
    inject headers."""
    if headers is None:
        return RequestHeaders()
    try:
        items = headers.items()
    except AttributeError:
        raise TypeError('headers must be a mapping of str to str, not {0}'.format(
            type(headers).__name__)) from None
    checked = RequestHeaders()
    for name, value in items:
        if not isinstance(name, str) or not _TOKEN_RE.match(name):
            raise ValueError('invalid header name {0!r}'.format(name))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise TypeError('header {0} must be a str, not {1}'.format(
                name, type(value).__name__))
        if _FORBIDDEN_IN_HEADER.search(value):
            raise ValueError('invalid value for header {0}: CR, LF and NUL are not '
                             'allowed'.format(name))
        checked[name] = value
    return checked


class Connection(object):
    """A connection to one Napix server.

    :param host: ``name``, ``name:port``, ``http://name[:port]`` or
        ``https://name[:port]``; without a scheme, plain HTTP.
    :param authenticator: a callable that takes a :class:`Request` and returns
        it signed (see :mod:`napix.authenticators`), or ``None`` to send no
        credentials.
    :param timeout: seconds; a number for both, or a ``(connect, read)`` pair.
        *read* bounds the whole exchange once connected. Default
        :data:`DEFAULT_TIMEOUT`.
    :param maxsize: the most sockets open to the host at once; more concurrent
        requests wait for a free one.
    :param verify: for ``https``: ``True`` (default) verifies the certificate
        against the system CAs, a path to a CA bundle verifies against it,
        ``False`` disables verification.
    :param resolve: ``{'name[:port]': 'address[:port]'}``, where to connect
        instead of resolving the name (see :data:`resolve_overrides`).
    :param max_response_size: responses larger than this many bytes raise
        :exc:`~napix.exceptions.ResponseTooLarge`.
    :param transport: an object with ``handle(request) -> Response`` and
        ``close()`` (see :mod:`napix.transports`); default a
        :class:`~napix.transports.gevent.GeventTransport`.
    :param retry: a :class:`napix.retry.Retry` policy, or ``None`` (the
        default) to send each request once.
    """

    def __init__(self, host, authenticator=None, timeout=DEFAULT_TIMEOUT, maxsize=10,
                 verify=True, resolve=None, max_response_size=DEFAULT_MAX_RESPONSE_SIZE,
                 transport=None, retry=None):
        self.scheme, self.name, self.port, self.authority = parse_host(host)
        self.host = host
        if authenticator is not None and not callable(authenticator):
            raise TypeError('authenticator must be a callable taking and returning a '
                            'Request (see napix.authenticators), not {0}'.format(
                                type(authenticator).__name__))
        self.authenticator = authenticator
        self.timeout = _check_timeout(timeout)
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
            raise ValueError('maxsize must be an int >= 1, not {0!r}'.format(maxsize))
        self.maxsize = maxsize
        if not isinstance(max_response_size, int) or max_response_size < 1:
            raise ValueError('max_response_size must be an int >= 1, not {0!r}'.format(
                max_response_size))
        if transport is None:
            from napix.transports.gevent import GeventTransport
            address, port = self._resolve(resolve)
            transport = GeventTransport(
                self.scheme, self.name, self.port, address=address, connect_port=port,
                timeout=self.timeout, maxsize=maxsize, verify=verify,
                max_response_size=max_response_size)
        elif not callable(getattr(transport, 'handle', None)):
            raise TypeError('transport must have a handle(request) method')
        self.transport = transport
        if retry is not None and not callable(getattr(retry, 'call', None)):
            raise TypeError('retry must be a napix.retry.Retry or None, not {0}'.format(
                type(retry).__name__))
        self.retry = retry

    def _resolve(self, resolve):
        for table in (resolve or {}, resolve_overrides):
            target = table.get('{0}:{1}'.format(self.name, self.port)) or table.get(self.name)
            if target:
                address, _, port = target.rpartition(':')
                if not address or not port.isdigit():
                    address, port = target, self.port
                return address.strip('[]'), int(port)
        return self.name.strip('[]'), self.port

    def build_request(self, method, url, body=None, headers=None):
        """Validate and encode a request without sending it.

        Raises :exc:`ValueError` or :exc:`TypeError`, with a message saying what
        is expected, for a bad method, url, header or body. A ``dict`` or
        ``list`` body is encoded as JSON.
        """
        method = check_method(method)
        url = check_url(url)
        headers = check_headers(headers)
        data = _encode_body(body, headers)
        return Request(method, self.host, self.authority, url, headers, data)

    def send(self, request):
        """Sign *request*, send it and return the :class:`Response`.

        Raises :exc:`~napix.exceptions.HTTPError` when the status is 400 or
        more, or a :exc:`~napix.exceptions.TransportError` subclass when no
        usable response came.

        With a ``retry`` policy, each attempt signs a copy of *request*, which
        stays unsigned.
        """
        if self.retry is not None:
            return self.retry.call(self._send_copy, request)
        return self._send_once(request)

    def _send_copy(self, request):
        return self._send_once(Request(request.method, request.host, request.authority,
                                       request.url, dict(request.headers), request.body))

    def _send_once(self, request):
        if self.authenticator is not None:
            signed = self.authenticator(request)
            if not isinstance(signed, Request):
                raise TypeError('the authenticator {0!r} must return the Request, '
                                'not {1}'.format(self.authenticator, type(signed).__name__))
            request = signed
        response = self.transport.handle(request)
        try:
            response.decode()
        except ValueError as error:
            raise RemoteProtocolError(request, 'invalid {0} body: {1}'.format(
                response.headers.get('content-type'), error)) from None
        if response.status >= 400:
            raise HTTPError(request, response)
        return response

    def request(self, method, url, body=None, headers=None):
        """Send a request and return its :class:`Response`.

        :param method: ``'GET'``, ``'POST'``, ...
        :param url: the path, with its query string if any.
        :param body: a ``dict`` or ``list`` (sent as JSON with ``Content-Type:
            application/json``), ``str`` or ``bytes`` (sent as is), or ``None``.
        :param headers: extra headers; ``Accept: application/json`` is sent by default.
        :raises napix.exceptions.HTTPError: status >= 400, or no response.
        """
        return self.send(self.build_request(method, url, body, headers))

    def close(self):
        """Close the idle sockets; requests in flight finish first."""
        close = getattr(self.transport, 'close', None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return '<Connection {0}>'.format(self.host)


def _check_timeout(timeout):
    if isinstance(timeout, tuple) and len(timeout) == 2:
        connect, read = timeout
    else:
        connect = read = timeout
    for value in (connect, read):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError('timeout must be a number of seconds > 0, or a (connect, read) '
                             'pair of them, not {0!r}'.format(timeout))
    return float(connect), float(read)
