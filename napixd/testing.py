"""Real Napix servers for tests, on 127.0.0.1 (``python -m napixd.testing``
starts some from a shell).

:class:`NapixServer` is a gevent WSGI server on an ephemeral port that
checks every request as napixd does (the standard signed protocol, the
non-secure token, pre-issued tokens and JSON Web Tokens: ``401`` when
unauthenticated, ``403`` when a signature, host, method or path is wrong or a
nonce is replayed), answers ``429 Too many concurrent connections`` to a
client address with more than *max_concurrent* requests in flight, wraps its
handlers in :class:`~napixd.plugins.exceptions.ExceptionsCatcher`, and counts
what a test wants to assert on: connections opened and open, requests in
flight and their peak.

>>> from napixd.client import Client
>>> from napixd.testing import NapixServer
>>> server = NapixServer(users={'root': 'toor'})
>>> @server.route('GET', '/vm/{id}')
... def get_vm(request, id):
...     return {'id': id, 'by': request.login}
>>> with server:
...     Client(server.host, {'login': 'root', 'key': 'toor'}).request('GET', '/vm/7').body
{'id': '7', 'by': 'root'}

:func:`routed` points a host name (``server.napix.nx``) at a test server for
the connections made inside a ``with`` block, so code and docs can keep their
real host names.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Mapping, TypeVar, overload
from urllib.parse import parse_qs, unquote

import gevent

from napix import connection as _connection
from napixd._pywsgi import NapixHandler, NapixWSGIServer, server_context
from napixd.plugins.exceptions import ExceptionsCatcher

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment as Environ

__all__ = ['NapixServer', 'ServerRequest', 'Reply', 'routed']

#: A route's handler: ``handler(request, **placeholders)`` returns what to answer.
Handler = Callable[..., Any]
_H = TypeVar('_H', bound=Handler)


class Reply(Exception):
    """Raise it from a handler to answer *status* with *body* (a str or a JSON value)."""

    def __init__(self, status: int, body: Any = '',
                 headers: Mapping[str, str] | None = None) -> None:
        Exception.__init__(self, status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class ServerRequest(object):
    """What a handler receives: ``method``, ``path`` (percent-decoded),
    ``raw_path`` (the path exactly as sent on the request line, still
    percent-encoded, without the query), ``query`` (``dict`` of lists),
    ``body`` (decoded JSON, or text), ``headers`` (``HTTP_*`` keys of the
    environ, lower-cased with dashes), ``login`` (who signed it, or ``None``),
    ``server`` and ``environ``."""

    def __init__(self, environ: Environ, path: str, login: str | None, server: NapixServer) -> None:
        self.environ = environ
        self.method = environ['REQUEST_METHOD']
        self.path = path
        self.raw_path = environ.get('PATH_INFO', '')
        self.query = parse_qs(environ.get('QUERY_STRING', ''))
        self.login = login
        self.server = server
        self.headers = {k[5:].lower().replace('_', '-'): v for k, v in environ.items()
                        if k.startswith('HTTP_')}
        length = int(environ.get('CONTENT_LENGTH') or 0)
        raw = environ['wsgi.input'].read(length) if length else b''
        self.content = raw
        if raw and 'json' in environ.get('CONTENT_TYPE', ''):
            self.body = json.loads(raw)
        elif raw:
            self.body = raw.decode('utf-8', 'replace')
        else:
            self.body = None


def _unquote(text: str) -> str:
    return unquote(text, encoding='utf-8', errors='replace')


def _match(route: list[re.Pattern[str]], segments: list[str]) -> dict[str, str] | None:
    """The placeholders of *route* (compiled segments) in the decoded
    *segments* of a path, or ``None`` when it does not match."""
    if len(route) != len(segments):
        return None
    placeholders: dict[str, str] = {}
    for regex, segment in zip(route, segments, strict=True):
        match = regex.fullmatch(segment)
        if match is None:
            return None
        placeholders.update(match.groupdict())
    return placeholders


def _status_line(status: int) -> str:
    try:
        return '{0} {1}'.format(status, HTTPStatus(status).phrase)
    except ValueError:
        return '{0} Unknown'.format(status)


class NapixServer(object):
    """A Napix server on 127.0.0.1 for tests.

    :param users: ``{login: key}`` accepted by the signed protocols.
    :param tokens: ``{token: login}`` accepted as ``Authorization: Token <token>``.
    :param max_concurrent: requests in flight allowed per client address
        (napixd's default: 2); ``None`` for no limit.
    :param require_auth: ``False`` accepts unauthenticated requests too.
    :param hosts: ``Host`` values the server serves (``None``: any).
    :param nonsecure_parameter: the GET parameter of the non-secure protocol.
    :param delay: seconds every request waits before its handler runs.
    :param certfile: serve HTTPS with this PEM certificate (its key in the
        same file, or in *keyfile*); see :ref:`testing-tls`.
    :param client_ca: with *certfile*, require a client certificate issued
        by this CA (a PEM file); a client without one fails its handshake.

    ``host`` is ``'127.0.0.1:<port>'`` once started (``'https://127.0.0.1:<port>'``
    with a *certfile*), ``address`` always ``'127.0.0.1:<port>'``. ``connections_opened``,
    ``open_connections``, ``in_flight``, ``max_in_flight`` and ``requests``
    (``(login, method, path)`` of each request served) are there to assert on.
    """

    def __init__(self, users: Mapping[str, str] | None = None,
                 tokens: Mapping[str, str] | None = None, max_concurrent: int | None = 2,
                 require_auth: bool = True, hosts: Collection[str] | None = None,
                 nonsecure_parameter: str = 'token', delay: float = 0,
                 certfile: Any = None, keyfile: Any = None, client_ca: Any = None) -> None:
        self.users = dict(users if users is not None else {'root': 'toor'})
        self.tokens = dict(tokens or {})
        self.max_concurrent = max_concurrent
        self.require_auth = require_auth
        self.hosts = hosts
        self.nonsecure_parameter = nonsecure_parameter
        self.delay = delay
        self.routes: list[tuple[str, list[re.Pattern[str]], Handler]] = []
        self.reset_counters()
        self._nonces: set[str] = set()
        self._by_address: dict[str | None, int] = {}
        self._server: Any = None
        self.tls = None if certfile is None else server_context(certfile, keyfile, client_ca)
        self.application = ExceptionsCatcher(self._napix_app)

    def reset_counters(self) -> None:
        """Set every counter back to 0."""
        self.connections_opened = 0
        self.open_connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[tuple[str | None, str, str]] = []

    # Routing
    @overload
    def route(self, method: str, pattern: str) -> Callable[[_H], _H]: ...
    @overload
    def route(self, method: str, pattern: str, handler: _H) -> _H: ...
    def route(self, method: str, pattern: str, handler: _H | None = None) -> Any:
        """Register *handler* for *method* and *pattern* (``'/vm/{id}'``);
        usable as a decorator.

        A handler is called as ``handler(request, **placeholders)`` and returns
        a body (a JSON value, or a str sent as text), or ``(status, body)``, or
        ``(status, headers, body)``; or raises :class:`Reply`. Any other
        exception becomes a 500 from the ExceptionsCatcher.

        A placeholder, ``{id}``, matches a segment or a part of one
        (``/vm/{id}.json``); any other character is literal (``/vm/<id>``
        matches that path alone). Like napixd, the server splits the path as
        sent on ``/`` and decodes each segment: ``/vm/{id}`` gets ``id='a/b'``
        for ``/vm/a%2Fb`` and ``id='café x'`` for ``/vm/caf%C3%A9%20x``. When
        two routes match a request, the one registered last answers: a test
        may override a route of a shared fixture.
        """
        def register(function: _H) -> _H:
            segments = [re.compile(re.sub(r'\\{(\w+)\\}', r'(?P<\1>.+)', re.escape(part)))
                        for part in pattern.split('/')]
            self.routes.append((method.upper(), segments, function))
            return function
        return register(handler) if handler is not None else register

    # Life cycle
    def start(self) -> NapixServer:
        """Listen on an ephemeral port of 127.0.0.1 and serve in the background."""
        options = {} if self.tls is None else {'ssl_context': self.tls}
        self._server = NapixWSGIServer(('127.0.0.1', 0), self.application, log=None,
                                       error_log=None, handler_class=NapixHandler,
                                       **options)
        self._server.napix = self
        self._server.start()
        return self

    def stop(self, timeout: float = 1) -> None:
        """Stop listening, and close the connections still open."""
        if self._server is not None:
            self._server.stop(timeout=timeout)
            self._server = None

    def __enter__(self) -> NapixServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def host(self) -> str:
        """What to give a client: ``'127.0.0.1:<port>'``, or
        ``'https://127.0.0.1:<port>'`` when serving TLS."""
        return self.address if self.tls is None else 'https://' + self.address

    @property
    def address(self) -> str:
        """``'127.0.0.1:<port>'``: where it listens, for a ``resolve`` table."""
        return '127.0.0.1:{0}'.format(self.port)

    # The application
    def _napix_app(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        address = environ.get('REMOTE_ADDR')
        self._by_address[address] = self._by_address.get(address, 0) + 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.max_concurrent is not None and \
                    self._by_address[address] > self.max_concurrent:
                return self._answer(start_response, 429, 'Too many concurrent connections')
            return self._serve(environ, start_response)
        except Reply as reply:
            return self._answer(start_response, reply.status, reply.body, reply.headers)
        finally:
            self.in_flight -= 1
            self._by_address[address] -= 1

    def _serve(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        raw_path: str = environ.get('PATH_INFO', '')
        path = _unquote(raw_path)
        if self.hosts is not None and environ.get('HTTP_HOST') not in self.hosts:
            raise Reply(400, 'Bad Host header')
        login = self.authenticate(environ, raw_path)
        if self.delay:
            gevent.sleep(self.delay)
        method: str = environ['REQUEST_METHOD']
        self.requests.append((login, method, path))
        segments = [_unquote(segment) for segment in raw_path.split('/')]
        allowed = False
        for route_method, route, handler in reversed(self.routes):
            placeholders = _match(route, segments)
            if placeholders is None:
                continue
            allowed = True
            if route_method != method:
                continue
            result = handler(ServerRequest(environ, path, login, self), **placeholders)
            status: int = 200
            headers: Mapping[str, str] = {}
            if isinstance(result, tuple) and len(result) == 3:
                status, headers, result = result
            elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
                status, result = result
            return self._answer(start_response, status, result, headers)
        if allowed:
            raise Reply(405, 'Method not allowed')
        raise Reply(404, '`{0}` not found'.format(path))

    def _answer(self, start_response: StartResponse, status: int, body: Any,
                headers: Mapping[str, str] | None = None) -> list[bytes]:
        headers = dict(headers or {})
        if body is None or body == '':
            data = b''
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode('utf-8')
            headers.setdefault('Content-Type', 'text/plain; charset=utf-8')
        else:
            data = json.dumps(body).encode('utf-8')
            headers.setdefault('Content-Type', 'application/json')
        headers['Content-Length'] = str(len(data))
        start_response(_status_line(status), list(headers.items()))
        return [data]

    # Authentication, as napixd checks it
    def authenticate(self, environ: Environ, path: str) -> str | None:
        """Return the login of the request, or raise :class:`Reply` 401/403.

        *path* is the path as sent, still percent-encoded: what napixd
        compares the signed path (or the JWT's ``sub``) with."""
        header: str | None = environ.get('HTTP_AUTHORIZATION')
        if header:
            if header.startswith('Token '):
                login = self.tokens.get(header[6:])
                if login is None:
                    raise Reply(403, 'Invalid token')
                return login
            if ':' in header:
                return self._check_signed(environ, path, header)
            if header.count('.') == 2:
                return self._check_jwt(environ, path, header)
            raise Reply(401, 'Unknown authorization scheme')
        query = parse_qs(environ.get('QUERY_STRING', ''))
        if self.nonsecure_parameter in query:
            return self._check_nonsecure(query[self.nonsecure_parameter][0])
        if not self.require_auth:
            return None
        raise Reply(401, 'You need to sign your request')

    def _key(self, login: Any) -> bytes:
        key = self.users.get(login)
        if key is None:
            raise Reply(403, 'Unknown user')
        return key.encode('utf-8')

    def _fresh(self, nonce: Any) -> None:
        if not nonce or nonce in self._nonces:
            raise Reply(403, 'Replayed or missing nonce')
        self._nonces.add(nonce)

    def _check_signed(self, environ: Environ, path: str, header: str) -> str | None:
        msg, _, signature = header.rpartition(':')
        data = {k: v[0] for k, v in parse_qs(msg).items()}
        for key in ('host', 'method', 'path'):
            if key not in data:
                raise Reply(403, 'Missing authentication data: {0}'.format(key))
        query = environ.get('QUERY_STRING')
        actual_path = path + ('?' + query if query else '')
        if data['host'] != environ.get('HTTP_HOST'):
            raise Reply(403, 'Bad host')
        if data['method'] != environ['REQUEST_METHOD']:
            raise Reply(403, 'Bad method')
        if data['path'] != actual_path:
            raise Reply(403, 'Bad path')
        login: str | None = data.get('login')
        expected = hmac.new(self._key(login), msg.encode('utf-8'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Reply(403, 'Signature mismatch')
        if 'timestamp' not in data:
            raise Reply(403, 'Missing timestamp')
        self._fresh(data.get('nonce'))
        return login

    def _check_nonsecure(self, value: str) -> str:
        if ':' not in value:
            raise Reply(401, 'Token should be login:signature')
        login, _, signature = value.partition(':')
        expected = hmac.new(self._key(login), login.encode('utf-8'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Reply(403, 'Signature mismatch')
        return login

    def _check_jwt(self, environ: Environ, path: str, header: str) -> str | None:
        head, payload, signature = header.split('.')
        try:
            head_data = json.loads(base64.urlsafe_b64decode(head.encode('ascii')))
            claims = json.loads(base64.urlsafe_b64decode(payload.encode('ascii')))
        except ValueError:
            raise Reply(403, 'Invalid token encoding') from None
        if set(head_data) - {'alg', 'typ'}:
            raise Reply(403, 'Unexpected token header')
        login: str | None = claims.get('iss')
        message = (head + '.' + payload).encode('ascii')
        expected = hmac.new(self._key(login), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Reply(403, 'Signature mismatch')
        query = environ.get('QUERY_STRING')
        actual = '{0} {1}'.format(environ['REQUEST_METHOD'], path + ('?' + query if query else ''))
        if claims.get('sub') != actual:
            raise Reply(403, 'Bad sub')
        if claims.get('aud') != environ.get('HTTP_HOST'):
            raise Reply(403, 'Bad host')
        self._fresh(claims.get('jti'))
        return login

    def __repr__(self) -> str:
        return '<NapixServer {0}>'.format(self.host if self._server else 'stopped')


@contextlib.contextmanager
def routed(routes: Mapping[str, NapixServer | str]) -> Iterator[None]:
    """Within the block, connect to test servers instead of real hosts.

    *routes* maps host names (``'server.napix.nx'``, or ``'name:port'``) to a
    :class:`NapixServer` or an ``'address:port'``. Clients keep sending and
    signing the real host name, as they would in production.
    """
    table = _connection.resolve_overrides
    saved = dict(table)
    for name, target in routes.items():
        table[name] = target.address if isinstance(target, NapixServer) else target
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


if __name__ == '__main__':  # python -m napixd.testing: see napixd.cli.testservers
    from napixd.cli.testservers import main
    raise SystemExit(main(NapixServer))
