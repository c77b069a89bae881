"""Authenticators: callables that sign a request for a Napix server.

An authenticator takes a :class:`napix.models.Request` and returns it
signed, like the ``auth`` callables of *requests*. Any callable of that shape
works, so writing one's own is a matter of a function::

    def my_auth(request):
        request.headers['Authorization'] = 'Bearer ' + get_token()
        return request

The built-in ones follow the wire protocol of napixd:

* :class:`LoginAuthenticator`: the standard, secure protocol (``Authorization:
  <msg>:<signature>``, HMAC-SHA256 of a message naming host, method, path,
  login, nonce and timestamp);
* :class:`NonSecureAuthenticator`: the ``?token=<login>:<signature>`` GET parameter;
* :class:`TokenIdentifier`: a pre-issued token, ``Authorization: Token <token>``;
* :class:`JWTAuthenticator`: a JSON Web Token signed with HMAC-SHA256;
* :class:`AnonAuthenticator`: no credentials.

None of them shows its key or token in its ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Union
from urllib.parse import quote

from napix.cache import BoundedCache

if TYPE_CHECKING:
    from napix.models import Request

__all__ = ['LoginAuthenticator', 'NonSecureAuthenticator', 'TokenIdentifier',
           'JWTAuthenticator', 'AnonAuthenticator', 'signed_path', 'from_credentials',
           'Key', 'Credentials']

#: A secret key: text (encoded as UTF-8) or bytes.
Key = Union[str, bytes, bytearray]
# A callable that signs a Request and returns it: napix.connection.Authenticator
# (spelled out here, as this module is below napix.connection).
_Authenticator = Callable[['Request'], 'Request']
#: What :func:`from_credentials` accepts: an authenticator (a callable that
#: takes a :class:`~napix.models.Request` and returns it signed), or a mapping
#: with ``login`` and ``key`` (a ``dict`` or a configuration section).
Credentials = Union[_Authenticator, Mapping[str, Any]]

_sha256 = hashlib.sha256
_time = time.time


def _check_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError('{0} must be a non-empty str, not {1}'.format(
            name, 'an empty str' if value == '' else type(value).__name__))
    return value


def _key_bytes(key: Key) -> bytes:
    if isinstance(key, (bytes, bytearray)):
        if not key:
            raise ValueError('key must not be empty')
        return bytes(key)
    return _check_str('key', key).encode('utf-8')


def signed_path(url: str) -> str:
    """The path as napixd checks it: the request-target exactly as sent,
    still percent-encoded (napixd compares it with the raw ``PATH_INFO`` and
    query string), without a trailing ``?`` that has no query after it.

    >>> from napix.authenticators import signed_path
    >>> signed_path('/vm/caf%C3%A9%20x?q=%C3%A9')
    '/vm/caf%C3%A9%20x?q=%C3%A9'
    >>> signed_path('/vm/?')
    '/vm/'
    """
    if url.endswith('?') and url.find('?') == len(url) - 1:
        return url[:-1]  # napixd puts back a '?' only before a non-empty query
    return url


# What quote(safe='') keeps as is, and the two characters of hosts and paths it
# encodes: such a value is quoted without urllib's Python loop (a fan-out
# signs a new host with every request).
_PLAIN = re.compile(r'[A-Za-z0-9_.~/:-]*\Z')


def _quote(value: str) -> str:
    """*value* quote_plus-compatible: what parse_qs on the server turns back into it."""
    if _PLAIN.match(value):
        return value.replace('/', '%2F').replace(':', '%3A')
    return quote(value, safe='', errors='surrogateescape').replace('%20', '+')


# Hosts and paths are signed again and again: each is quoted once, then
# found here (``_quoted[value]``).
_quoted: BoundedCache[str, str] = BoundedCache(_quote)


# Nonces need to be unique, not secret (the HMAC covers them): 64 bits drawn
# from the system once per process (again in a forked child, so that two
# processes never share one), then a count. _nonce() makes the next one: no
# system call, no random draw, no Python frame (a map over a count).
_nonce: Callable[[], str]


def _new_nonces() -> None:
    global _nonce
    # The prefix joined to each count as text (str.format would parse its
    # format string for every nonce).
    _nonce = map(os.urandom(8).hex().__add__, map(str, itertools.count(1))).__next__


_new_nonces()
os.register_at_fork(after_in_child=_new_nonces)


class LoginAuthenticator(object):
    """The standard secure protocol of napixd.

    Each request gets ``Authorization: <msg>:<signature>``, where *msg* is the
    URL-encoded ``host``, ``method``, ``path`` (with its query), ``login``,
    a fresh ``nonce`` and the ``timestamp``, and *signature* the hex
    HMAC-SHA256 of *msg*, keyed with *key*.
    """

    __slots__ = ('login', '_key', '_login_q', '_inner', '_outer')

    def __init__(self, login: str, key: Key) -> None:
        self.login = _check_str('login', login)
        self._key = _key_bytes(key)
        self._login_q = _quote(login)
        # HMAC (RFC 2104) from its two hashes, keyed once and copied for each
        # request: copying two SHA-256 states costs less than copying
        # OpenSSL's HMAC context.
        block = self._key if len(self._key) <= 64 else _sha256(self._key).digest()
        block = block.ljust(64, b'\0')
        self._inner = _sha256(block.translate(hmac.trans_36))
        self._outer = _sha256(block.translate(hmac.trans_5C))

    def __call__(self, request: Request) -> Request:
        url = request.url
        if url[-1] == '?':
            url = signed_path(url)
        msg = (f'host={_quoted[request.authority]}&method={request.method}'
               f'&path={_quoted[url]}&login={self._login_q}'
               f'&nonce={_nonce()}&timestamp={int(_time())}')
        inner = self._inner.copy()
        inner.update(msg.encode('ascii'))
        outer = self._outer.copy()
        outer.update(inner.digest())
        request.headers.put('authorization', f'Authorization: {msg}:{outer.hexdigest()}')
        return request

    def __repr__(self) -> str:
        return '<LoginAuthenticator login={0!r}>'.format(self.login)


class NonSecureAuthenticator(object):
    """The non-secure protocol: ``?token=<login>:<hex HMAC-SHA256(key, login)>``.

    The token is the same for every request, so whoever sees it can replay it.
    *parameter* is the name of the GET parameter (napixd's default ``token``).
    """

    __slots__ = ('login', 'parameter', '_param')

    def __init__(self, login: str, key: Key, parameter: str = 'token') -> None:
        self.login = _check_str('login', login)
        self.parameter = _check_str('parameter', parameter)
        signature = hmac.new(_key_bytes(key), login.encode('utf-8'), _sha256).hexdigest()
        self._param = '{0}={1}'.format(_quote(parameter), _quote(login + ':' + signature))

    def __call__(self, request: Request) -> Request:
        request.url += ('&' if '?' in request.url else '?') + self._param
        request.secret_params = request.secret_params + (_quoted[self.parameter],)
        return request

    def __repr__(self) -> str:
        return '<NonSecureAuthenticator login={0!r}>'.format(self.login)


class TokenIdentifier(object):
    """Identifies with a pre-issued token: ``Authorization: Token <token>``."""

    __slots__ = ('_header',)

    def __init__(self, token: str) -> None:
        token = _check_str('token', token)
        if any(c in token for c in '\r\n\0'):
            raise ValueError('token must not contain CR, LF or NUL')
        self._header = 'Token ' + token

    def __call__(self, request: Request) -> Request:
        request.headers['Authorization'] = self._header
        return request

    def __repr__(self) -> str:
        return '<TokenIdentifier>'


def _b64(data: Dict[str, Any]) -> bytes:
    # napixd decodes with base64.urlsafe_b64decode: the '=' padding must stay.
    return base64.urlsafe_b64encode(json.dumps(data, separators=(',', ':')).encode('utf-8'))


class JWTAuthenticator(object):
    """A JSON Web Token per request, as napixd's optional JWT protocol reads it.

    Claims: ``sub`` = ``"<METHOD> <path>"``, ``iss`` = login, ``aud`` = host,
    ``jti`` = a fresh nonce, ``exp`` = the timestamp. The signature is the hex
    HMAC-SHA256 of ``<header>.<payload>``.
    """

    __slots__ = ('login', '_key', '_header')

    def __init__(self, login: str, key: Key) -> None:
        self.login = _check_str('login', login)
        self._key = _key_bytes(key)
        self._header = _b64({'alg': 'HS256', 'typ': 'JWT'})

    def __call__(self, request: Request) -> Request:
        payload = _b64({
            'sub': '{0} {1}'.format(request.method, signed_path(request.url)),
            'iss': self.login,
            'aud': request.authority,
            'jti': _nonce(),
            'exp': int(time.time()),
        })
        message = self._header + b'.' + payload
        signature = hmac.new(self._key, message, _sha256).hexdigest()
        request.headers['Authorization'] = message.decode('ascii') + '.' + signature
        return request

    def __repr__(self) -> str:
        return '<JWTAuthenticator login={0!r}>'.format(self.login)


class AnonAuthenticator(object):
    """Sends no credentials."""

    __slots__ = ()

    def __call__(self, request: Request) -> Request:
        return request

    def __repr__(self) -> str:
        return '<AnonAuthenticator>'


def from_credentials(authenticator: Credentials) -> _Authenticator:
    """Turn what a user gives as credentials into an authenticator.

    A callable is returned as is; a mapping with ``login`` and ``key`` (a
    ``dict`` or a configuration object that behaves like one) becomes a
    :class:`LoginAuthenticator`. Anything else raises :exc:`ValueError`.
    """
    if callable(authenticator):
        return authenticator
    expected = ('expected an authenticator (a callable such as '
                'napix.authenticators.LoginAuthenticator(login, key)) or a mapping with '
                "'login' and 'key'")
    getter = getattr(authenticator, 'get', None)
    if getter is None or isinstance(authenticator, (str, bytes)):
        raise ValueError('invalid authenticator of type {0}: {1}'.format(
            type(authenticator).__name__, expected))
    login, key = getter('login'), getter('key')
    if not login or not key:
        missing = [name for name, value in (('login', login), ('key', key)) if not value]
        raise ValueError('invalid authenticator: the mapping has no {0}; {1}'.format(
            ' or '.join(repr(m) for m in missing), expected))
    return LoginAuthenticator(login, key)
