"""A transport through a ``requests.Session``, for requests' features.

Use it when a request needs what *requests* brings: proxies from the
environment (``HTTP_PROXY``, ``NO_PROXY``...), client certificates
(``session.cert``), or adapters of one's own::

    session = requests.Session()
    session.cert = ('/etc/napix/client.pem', '/etc/napix/client.key')
    transport = RequestsTransport('https', 'server.napix.nx', 443, session=session)
    conn = Connection('https://server.napix.nx', auth, transport=transport)

.. warning::
   *requests* blocks on the standard library's sockets. It is cooperative
   under gevent **only in a monkey-patched process** (``gevent.monkey.patch_all()``
   called before anything else is imported, as napixd servers do). Without
   patching, each request blocks every greenlet until it completes: use the
   default :class:`~napix.transports.gevent.GeventTransport` there.
"""

from __future__ import annotations

import socket
from time import monotonic
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Set, Tuple, Type, Union

import requests
import requests.adapters
import requests.exceptions as rex
import urllib3.exceptions as uex

from napix.defaults import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT
from napix.models import Headers, Request, Response
from napix.exceptions import TransportError
from napix.transports import errors
from napix.transports.wire import default_headers

if TYPE_CHECKING:
    from napix.transports.gevent import Verify

__all__ = ['RequestsTransport']

_DEFAULT_HEADERS = default_headers('requests')
_NAME_ERRORS = (socket.gaierror,) + tuple(
    getattr(uex, name) for name in ('NameResolutionError',) if hasattr(uex, name))
_CHUNK = 65536


class _Adapter(requests.adapters.HTTPAdapter):
    """An adapter whose pool blocks at *maxsize* sockets and, when the
    connection goes to another address than the server's name, still checks
    TLS certificates (and sends SNI) for that name."""

    def __init__(self, maxsize: int, tls_name: Optional[str]) -> None:
        self._tls_name = tls_name
        super().__init__(pool_connections=1, pool_maxsize=maxsize, pool_block=True,
                         max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        if self._tls_name is not None:
            pool_kwargs['server_hostname'] = self._tls_name
            pool_kwargs['assert_hostname'] = self._tls_name
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


class RequestsTransport(object):
    """HTTP through a ``requests.Session``, with the contract of every transport:
    ``handle(request) -> Response`` and ``close()``.

    :param scheme: ``'http'`` or ``'https'``.
    :param name: the server's name: TLS certificates are checked for it.
    :param port: the server's port.
    :param address: where to connect, when not *name* (a ``resolve`` override).
    :param connect_port: the port to connect to, when not *port*.
    :param timeout: ``(connect, read)`` in seconds. *read* bounds each wait
        for data, and reading the body stops with
        :exc:`~napix.exceptions.Timeout` once *read* seconds have passed since
        the headers arrived.
    :param maxsize: the most sockets open to the server at once; more
        concurrent requests wait for a free one.
    :param verify: ``True`` (requests' CA bundle, *certifi*), ``False``, or
        the path to a CA bundle.
    :param max_response_size: bytes of body; more raises
        :exc:`~napix.exceptions.ResponseTooLarge` and closes the socket.
    :param session: a ``requests.Session`` of one's own (proxies, client
        certificates, ``trust_env``...). The transport mounts its adapter on
        the prefix of its server's URL only, and never closes a session it
        did not create.

    Errors are :mod:`napix.exceptions`: :exc:`~napix.exceptions.ConnectError`
    (refused, unknown host, TLS failure), :exc:`~napix.exceptions.Timeout`,
    :exc:`~napix.exceptions.RemoteProtocolError` (closed, reset, not HTTP) and
    :exc:`~napix.exceptions.ResponseTooLarge`, each naming the host and the
    cause. No request is ever retried.
    """

    def __init__(self, scheme: str, name: str, port: int, address: Optional[str] = None,
                 connect_port: Optional[int] = None,
                 timeout: Tuple[float, float] = DEFAULT_TIMEOUT, maxsize: int = 10,
                 verify: Verify = True, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 session: Optional[requests.Session] = None) -> None:
        if scheme not in ('http', 'https'):
            raise ValueError("scheme must be 'http' or 'https', not {0!r}".format(scheme))
        if not (verify is True or verify is False or isinstance(verify, str)):
            raise ValueError('verify must be True, False or the path to a CA bundle, '
                             'not {0!r}'.format(verify))
        self.scheme = scheme
        self.name = name
        self.port = port
        self.address = address or name
        self.connect_port = connect_port or port
        self.connect_timeout, self.read_timeout = timeout
        self.max_response_size = max_response_size
        self.verify = verify
        self._own_session = session is None
        self.session = requests.Session() if session is None else session
        host = self.address if ':' not in self.address else '[{0}]'.format(self.address)
        self._base = '{0}://{1}:{2}'.format(scheme, host, self.connect_port)
        self._target = errors.target(self.address, self.connect_port)
        tls_name = name if scheme == 'https' and self.address != name else None
        self._adapter = _Adapter(maxsize, tls_name)
        self.session.mount(self._base + '/', self._adapter)

    def handle(self, request: Request) -> Response:
        """Send the signed *request*; return the raw :class:`~napix.models.Response`."""
        headers = {'Host': request.authority}
        own = {name.lower() for name in request.headers}
        headers.update((name, value) for name, value in _DEFAULT_HEADERS.items()
                       if name.lower() not in own)
        headers.update(request.headers.items())
        url = self._base + request.url
        timeout = request.timeout or (self.connect_timeout, self.read_timeout)
        started = monotonic()
        try:
            prepared = self.session.prepare_request(requests.Request(
                request.method, url, data=request.body, headers=headers))
            prepared.url = url  # as signed: requests would re-quote it ('%7E' to '~')
            settings = self.session.merge_environment_settings(url, {}, True, self.verify,
                                                               None)
            raw = self.session.send(prepared, timeout=timeout, allow_redirects=False,
                                    **settings)
        except rex.RequestException as error:
            raise self._translate(request, error) from None
        try:
            if request.method == 'HEAD':
                # Some servers (gevent's pywsgi among them) send a body after
                # a HEAD response anyway: that socket must not be reused.
                _close_socket(raw)
                content = b''
            else:
                content = self._read(request, raw)
        finally:
            raw.close()  # gives a fully read socket back to the pool, closes any other
        response_headers = Headers()
        for key, value in raw.headers.items():  # repeated headers are already joined
            response_headers[key] = value
        return Response(raw.status_code, raw.reason or '', response_headers, content, request,
                        None, monotonic() - started)

    def _read(self, request: Request, raw: requests.Response) -> bytes:
        limit = self.max_response_size
        length = raw.headers.get('Content-Length', '')
        if length.isdigit() and int(length) > limit:
            raise self._too_large(request)
        deadline = monotonic() + self.read_timeout
        chunks: List[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(request)
                chunks.append(chunk)
                if monotonic() > deadline:
                    raise errors.READ_TIMEOUT(request, target=self._target,
                                              seconds=self.read_timeout)
        except rex.RequestException as error:
            raise self._translate(request, error) from None
        return b''.join(chunks)

    def _too_large(self, request: Request) -> TransportError:
        return errors.TOO_LARGE(request, cause='the response is larger than {0} bytes '
                                '(max_response_size)'.format(self.max_response_size))

    def _translate(self, request: Request, error: BaseException) -> TransportError:
        """requests' *error* as the failure of :mod:`napix.transports.errors` it is."""
        # requests' own messages hold the URL, which may hold a token: the
        # messages are built from the root cause only.
        where = self._target
        root = _root_cause(error)
        cause = _describe(root)
        alert = errors.tls_alert(root)
        if alert is not None:
            return errors.tls_refused(request, alert, where)
        if isinstance(error, rex.ConnectTimeout):
            return errors.CONNECT_TIMEOUT(request, target=where, seconds=self.connect_timeout)
        if isinstance(error, rex.Timeout):
            return errors.READ_TIMEOUT(request, target=where, seconds=self.read_timeout)
        if isinstance(error, rex.SSLError):
            return errors.TLS_FAILED(request, target=where, cause=cause)
        if isinstance(error, rex.ConnectionError):
            if _caused_by(error, _NAME_ERRORS):
                return errors.UNRESOLVED(request, address=self.address, cause=cause)
            if _caused_by(error, ConnectionRefusedError):
                return errors.REFUSED(request, target=where)
            if _caused_by(error, uex.NewConnectionError):
                return errors.CANNOT_CONNECT(request, target=where, cause=cause)
        return errors.EXCHANGE_FAILED(request, target=where, cause=cause)

    def close(self) -> None:
        """Close the idle sockets (and the session, when the transport created it)."""
        self._adapter.close()
        if self._own_session:
            self.session.close()

    def __repr__(self) -> str:
        return '<RequestsTransport {0}>'.format(self._base)


def _close_socket(raw: requests.Response) -> None:
    connection = getattr(raw.raw, 'connection', None)
    if connection is not None:
        connection.close()


def _chain(error: Optional[BaseException]) -> Iterator[BaseException]:
    seen: Set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        reason = getattr(error, 'reason', None)
        if isinstance(reason, BaseException):
            error = reason
        elif error.args and isinstance(error.args[0], BaseException):
            error = error.args[0]
        else:
            error = error.__cause__ or error.__context__


def _caused_by(error: BaseException,
               kind: Union[Type[BaseException], Tuple[Type[BaseException], ...]]) -> bool:
    return any(isinstance(e, kind) for e in _chain(error))


def _root_cause(error: BaseException) -> BaseException:
    return list(_chain(error))[-1]


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, uex.HTTPError):
        # urllib3 prefixes its messages with the connection object's repr.
        return str(error).rpartition(': ')[2] or type(error).__name__
    return str(error) or type(error).__name__
