"""A transport that calls a WSGI application in-process, without sockets.

For tests of a Napix service, or of code that talks to one::

    server = NapixServer(users={'root': 'toor'})
    conn = Connection('server.napix.nx', LoginAuthenticator('root', 'toor'),
                      transport=WSGITransport(server.application))
    conn.request('GET', '/vm/7')

The application sees what a WSGI server would give it for the same request
(PEP 3333): ``PATH_INFO`` percent-decoded, ``QUERY_STRING`` as sent,
``HTTP_HOST`` the signed host, ``REMOTE_ADDR`` ``127.0.0.1``, the body in
``wsgi.input``. So the signatures of :mod:`napix.authenticators` check out
as they would over the network.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote_to_bytes

from napix.defaults import DEFAULT_MAX_RESPONSE_SIZE
from napix.models import Headers, Request, Response
from napix.transports import errors
from napix.transports.wire import BODY_METHODS, default_headers

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

__all__ = ['WSGITransport']

# As a WSGI server names them: HTTP_ACCEPT, HTTP_USER_AGENT.
_DEFAULT_ENVIRON = {'HTTP_' + name.upper().replace('-', '_'): value
                    for name, value in default_headers('wsgi').items()}


class WSGITransport(object):
    """Calls *app* for each request, in the calling greenlet.

    :param app: a WSGI application.
    :param scheme: ``wsgi.url_scheme``, ``'http'`` or ``'https'``.
    :param remote_addr: ``REMOTE_ADDR`` seen by the application.
    :param max_response_size: bytes of body; more raises
        :exc:`~napix.exceptions.ResponseTooLarge`.
    :param raw_path_info: ``True`` (default) sets ``PATH_INFO`` to the path as
        sent, still percent-encoded, as napixd's launcher does (so napixd
        applications check signatures and route as behind it); ``False``
        decodes it, as PEP 3333 servers do.

    An exception raised by the application propagates as is, so a test sees
    the application's own error. An application that never calls
    ``start_response`` raises :exc:`~napix.exceptions.RemoteProtocolError`.
    There is no socket, hence no timeout and no connection limit.
    """

    def __init__(self, app: WSGIApplication, scheme: str = 'http',
                 remote_addr: str = '127.0.0.1',
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 raw_path_info: bool = True) -> None:
        if not callable(app):
            raise TypeError('app must be a WSGI application (a callable), not {0}'.format(
                type(app).__name__))
        if scheme not in ('http', 'https'):
            raise ValueError("scheme must be 'http' or 'https', not {0!r}".format(scheme))
        self.app = app
        self.scheme = scheme
        self.remote_addr = remote_addr
        self.max_response_size = max_response_size
        self.raw_path_info = raw_path_info

    def environ(self, request: Request) -> Dict[str, Any]:
        """The WSGI environ of *request*."""
        path, _, query = request.url.partition('?')
        name, port = _split_authority(request.authority, self.scheme)
        body = request.body or b''
        environ: Dict[str, Any] = {
            'REQUEST_METHOD': request.method,
            'SCRIPT_NAME': '',
            'PATH_INFO': path if self.raw_path_info
            else unquote_to_bytes(path).decode('latin-1'),
            'QUERY_STRING': query,
            'RAW_URI': request.url,
            'REQUEST_URI': request.url,
            'SERVER_NAME': name,
            'SERVER_PORT': port,
            'SERVER_PROTOCOL': 'HTTP/1.1',
            'REMOTE_ADDR': self.remote_addr,
            'REMOTE_PORT': '0',
            'HTTP_HOST': request.authority,
            **_DEFAULT_ENVIRON,
            'wsgi.version': (1, 0),
            'wsgi.url_scheme': self.scheme,
            'wsgi.input': io.BytesIO(body),
            'wsgi.errors': sys.stderr,
            'wsgi.multithread': False,
            'wsgi.multiprocess': False,
            'wsgi.run_once': False,
        }
        if body or request.method in BODY_METHODS:
            environ['CONTENT_LENGTH'] = str(len(body))
        for name, value in request.headers.items():
            key = name.upper().replace('-', '_')
            if key in ('CONTENT_TYPE', 'CONTENT_LENGTH'):
                environ[key] = value
            elif key != 'HOST':
                environ['HTTP_' + key] = value
        return environ

    def handle(self, request: Request) -> Response:
        """Call the application; return its raw :class:`~napix.models.Response`."""
        started: List[List[Any]] = []  # [status, headers, body begun]

        def start_response(status: str, headers: List[Tuple[str, str]],
                           exc_info: Optional[Tuple[Any, Any, Any]] = None
                           ) -> Callable[[bytes], None]:
            if exc_info is not None and started and started[-1][2]:
                raise exc_info[1].with_traceback(exc_info[2])
            started.append([status, headers, False])
            return write

        chunks: List[bytes] = []
        size = [0]

        def write(data: bytes) -> None:
            size[0] += len(data)
            if size[0] > self.max_response_size:
                raise errors.TOO_LARGE(request, cause='the response is larger than {0} bytes '
                                       '(max_response_size)'.format(self.max_response_size))
            if data:
                started[-1][2] = True  # body begun: a later exc_info re-raises
            chunks.append(bytes(data))

        result = self.app(self.environ(request), start_response)
        try:
            for data in result:
                if not started:
                    raise errors.APPLICATION(request, cause='the application sent a body '
                                             'before calling start_response')
                write(data)
        finally:
            close = getattr(result, 'close', None)
            if close is not None:
                close()
        if not started:
            raise errors.APPLICATION(request, cause='the application never called '
                                     'start_response')
        status, headers, _ = started[-1]
        code, _, reason = status.partition(' ')
        if not (code.isdigit() and len(code) == 3):
            raise errors.APPLICATION(request, cause='invalid status {0!r} from the '
                                     'application'.format(status))
        response_headers = Headers()
        for key, value in headers:
            if key in response_headers:
                value = response_headers[key] + ', ' + value
            response_headers[key] = value
        content = b'' if request.method == 'HEAD' else b''.join(chunks)
        return Response(int(code), reason, response_headers, content, request)

    def close(self) -> None:
        """Nothing to close."""

    def __repr__(self) -> str:
        return '<WSGITransport {0!r}>'.format(self.app)


def _split_authority(authority: str, scheme: str) -> Tuple[str, str]:
    name, sep, port = authority.rpartition(':')
    if sep and port.isdigit() and not name.endswith(':'):
        return name.strip('[]'), port
    return authority.strip('[]'), '443' if scheme == 'https' else '80'
