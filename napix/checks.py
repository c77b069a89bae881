"""The checks a request's arguments pass before anything is sent.

Each function returns its argument ready to send, or raises with a message
naming the argument and saying what was expected: :exc:`TypeError` for a
value of the wrong type, :exc:`ValueError` for a wrong value. The options of
connections, clients and pools are checked here too
(:func:`check_positive_int`, :func:`check_seconds`, :func:`check_count`).

The two checks every request passes, :func:`check_method` and
:func:`check_url`, are made once for each method and url:
:func:`build_request` finds what they returned before in
:data:`CHECKED_METHODS` and :data:`CHECKED_URLS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode

from napix.cache import BoundedCache
from napix.models import Headers, Request, dumps, new_request

__all__ = ['build_request', 'check_method', 'check_url', 'check_headers', 'encode_body',
           'encode_params',
           'check_timeout', 'check_positive_int', 'check_seconds', 'check_count', 'check_limit',
           'FRAMING_HEADERS', 'Body', 'Params', 'TimeoutArg', 'COMMON_METHODS',
           'CHECKED_METHODS', 'CHECKED_URLS']

Body = Union[Mapping[str, Any], Sequence[Any], str, bytes, bytearray, memoryview, None]
Params = Union[Mapping[str, Any], Iterable[Tuple[str, Any]], None]
TimeoutArg = Union[float, Tuple[float, float]]

#: Headers the transport writes from the request itself; a user's are refused.
FRAMING_HEADERS = {
    'host': 'it is the host the connection was made for (use resolve= to connect '
            'elsewhere)',
    'content-length': 'it is computed from the body',
    'transfer-encoding': 'the body is sent with a Content-Length',
    'connection': 'the transport manages keep-alive',
}

_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # \Z: no trailing newline
_FORBIDDEN_IN_URL = re.compile(r'[\x00-\x1f\x7f]')
_FORBIDDEN_IN_HEADER = re.compile(r'[\r\n\x00]')
# What a request-target may hold as is: RFC 3986's unreserved and reserved
# characters (brackets included, as servers accept them), and '%' when it
# starts an escape. Anything else is percent-encoded as UTF-8.
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]%]|%(?![0-9A-Fa-f]{2})")
#: The methods accepted without a check (the others must be HTTP tokens).
COMMON_METHODS = frozenset(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])


def check_method(method: str) -> str:
    """Return *method* upper-cased, or raise :exc:`ValueError` if it is not an
    HTTP token (:exc:`TypeError` if it is not a ``str``). :func:`build_request`
    keeps what it returns in :data:`CHECKED_METHODS`."""
    if not isinstance(method, str):
        raise TypeError('method must be a str such as \'GET\', not {0}'.format(
            type(method).__name__))
    if not _TOKEN_RE.match(method):
        raise ValueError('invalid method {0!r}: expected an HTTP method such as GET'.format(
            method))
    return str(method.upper())


def check_url(url: str) -> str:
    """Return *url* as it will be sent (and signed): percent-encoded where needed.

    It must start with ``/``; control characters (CR and LF among them) raise
    :exc:`ValueError`. Spaces, ``#``, non-ASCII text and the other characters
    a request-target cannot hold are percent-encoded (UTF-8), as is a ``%``
    that does not start an escape; existing ``%XX`` escapes are kept.
    :func:`build_request` keeps what it returns in :data:`CHECKED_URLS`.
    """
    if not isinstance(url, str):
        raise TypeError('url must be a str starting with /, not {0}'.format(
            type(url).__name__))
    if not url.startswith('/'):
        raise ValueError('invalid url {0!r}: expected a path starting with /'.format(url))
    if _NEEDS_QUOTING.search(url):  # control characters too: looked for only then
        if _FORBIDDEN_IN_URL.search(url):
            raise ValueError('invalid url {0!r}: control characters (such as CR or LF) '
                             'are not allowed'.format(url))
        return _NEEDS_QUOTING.sub(_quote_match, url)
    return str(url)


def _quote_match(match: 're.Match[str]') -> str:
    return quote(match.group(0), safe='')


#: The methods already checked (:func:`check_method`), as sent (always a
#: ``str``, never a subclass): a :class:`~napix.cache.BoundedCache`, the
#: common ones in it from the start.
CHECKED_METHODS: BoundedCache[str, str] = BoundedCache(check_method)
CHECKED_METHODS.update((method, method) for method in COMMON_METHODS)
#: The urls already checked, as sent (:func:`check_url`): a service manager
#: sends the same paths again and again (a fan-out, one path to every host).
CHECKED_URLS: BoundedCache[str, str] = BoundedCache(check_url)


def encode_params(url: str, params: Params) -> str:
    """Append *params* (a mapping or ``(name, value)`` pairs; a list value
    repeats the name) to *url* as a percent-encoded query string."""
    if params is None:
        return url
    if isinstance(params, (str, bytes)):
        raise TypeError('params must be a mapping or a list of (name, value) pairs, not '
                        '{0} (put a ready query string in the url)'.format(
                            type(params).__name__))
    expected = 'params must be a mapping or a list of (name, value) pairs'
    items = params.items() if isinstance(params, Mapping) else params
    if not isinstance(items, Iterable):
        raise TypeError(expected)
    pairs = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError('{0}, not {1!r} among them'.format(expected, item))
        name, value = item
        for one in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(one, bool) or not isinstance(one, (str, int, float)):
                raise TypeError('param {0!r} must be a str or a number, not {1}'.format(
                    name, type(one).__name__))
            pairs.append((str(name), str(one)))
    if not pairs:
        return url
    query = urlencode(pairs, quote_via=quote, safe='')
    return url + ('&' if '?' in url else '?') + query


def check_headers(headers: Optional[Mapping[str, Any]]) -> Headers:
    """Return new :class:`~napix.models.Headers` of *headers*, refusing names
    and values that could inject headers, and the framing headers
    (:data:`FRAMING_HEADERS`) that only the transport writes."""
    if headers is None:
        return Headers()
    try:
        items = headers.items()
    except AttributeError:
        raise TypeError('headers must be a mapping of str to str, not {0}'.format(
            type(headers).__name__)) from None
    checked = Headers()
    for name, value in items:
        if not isinstance(name, str) or not _TOKEN_RE.match(name):
            raise ValueError('invalid header name {0!r}'.format(name))
        why = FRAMING_HEADERS.get(name.lower())
        if why is not None:
            raise ValueError('header {0} cannot be set: {1}'.format(name, why))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise TypeError('header {0} must be a str, not {1}'.format(
                name, type(value).__name__))
        if _FORBIDDEN_IN_HEADER.search(value):
            raise ValueError('invalid value for header {0}: CR, LF and NUL are not '
                             'allowed'.format(name))
        if name in checked:
            raise ValueError('header {0} given twice (names ignore case)'.format(name))
        checked[name] = value
    return checked


def encode_body(body: Body, headers: Headers) -> Optional[bytes]:
    """The bytes to send for *body*; a ``dict`` or ``list`` is encoded as JSON
    and sets ``Content-Type: application/json`` unless *headers* has one."""
    if body is None or body == '' or body == b'':
        return None
    if isinstance(body, (dict, list)):
        try:
            data = dumps(body)
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


def check_timeout(timeout: TimeoutArg) -> Tuple[float, float]:
    """``(connect, read)`` seconds from a number or a pair of numbers > 0."""
    if isinstance(timeout, tuple) and len(timeout) == 2:
        connect, read = timeout
    else:
        connect = read = timeout
    expected = ('timeout must be a number of seconds > 0, or a (connect, read) pair of '
                'them, not {0!r}'.format(timeout))
    for value in (connect, read):
        if not _is_number(value):
            raise TypeError(expected)
        if not value > 0:
            raise ValueError(expected)
    return float(connect), float(read)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive_int(name: str, value: int) -> int:
    """Return *value* if it is an ``int`` >= 1: else raise :exc:`TypeError`
    (not an ``int``, or a ``bool``) or :exc:`ValueError`, naming the option *name*."""
    return _check_int(name, value, 1)


def check_count(name: str, value: int) -> int:
    """Return *value* if it is an ``int`` >= 0, as :func:`check_positive_int` does."""
    return _check_int(name, value, 0)


def _check_int(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('{0} must be an int >= {1}, not {2}'.format(
            name, least, type(value).__name__))
    if value < least:
        raise ValueError('{0} must be an int >= {1}, not {2!r}'.format(name, least, value))
    return value


def check_seconds(name: str, value: float, *, zero_ok: bool = False) -> float:
    """Return *value* as a ``float`` if it is a number of seconds > 0 (>= 0
    when *zero_ok*); else raise :exc:`TypeError` (not an ``int`` or a
    ``float``, or a ``bool``) or :exc:`ValueError`, naming the option *name*."""
    expected = '{0} must be a number of seconds {1}'.format(name, '>= 0' if zero_ok else '> 0')
    if not _is_number(value):
        raise TypeError('{0}, not {1}'.format(expected, type(value).__name__))
    if not (value >= 0 if zero_ok else value > 0) or value == float('inf'):  # NaN fails
        raise ValueError('{0}, not {1!r}'.format(expected, value))
    return float(value)


def check_limit(simultaneous: Optional[int], maxsize: Optional[int], default: int) -> int:
    """The limit of requests in flight, given as *simultaneous* or by its
    alias *maxsize* (or both, the same), checked; *default* when neither."""
    if maxsize is not None:
        check_positive_int('maxsize', maxsize)
        if simultaneous is not None and simultaneous != maxsize:
            raise ValueError('simultaneous={0!r} and maxsize={1!r}: maxsize is another name '
                             'of simultaneous, give one of them'.format(simultaneous, maxsize))
        return maxsize
    return default if simultaneous is None else check_positive_int('simultaneous',
                                                                   simultaneous)


def build_request(host: str, authority: str, method: str, url: str, body: Body = None,
                  headers: Optional[Mapping[str, str]] = None, params: Params = None,
                  timeout: Optional[TimeoutArg] = None) -> Request:
    """A :class:`~napix.models.Request` of the arguments checked and encoded
    (:meth:`napix.connection.Connection.build_request`), for *host*, whose
    ``Host`` header is *authority* (both as :func:`~napix.hosts.parse_host`
    gives them)."""
    try:  # each checked once (check_method, check_url), then found
        method = CHECKED_METHODS[method]
        url = CHECKED_URLS[url]
    except TypeError:  # unhashable, or not a str: the checks say what is expected
        method, url = check_method(method), check_url(url)
    if params is not None:
        url = encode_params(url, params)
    if headers is None and body is None and timeout is None:  # a plain GET, say
        return new_request(method, host, authority, url, None, None, None)
    checked = Headers() if headers is None else check_headers(headers)
    data = None if body is None or body == '' else encode_body(body, checked)
    return new_request(method, host, authority, url, checked, data,
                       check_timeout(timeout) if timeout is not None else None)
