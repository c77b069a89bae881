"""What one host answered, and the words the command says it with.

An :class:`Outcome` is one host's answer (a response, or the error), or a
host the fan-out never sent its request to: *cancelled* (Ctrl-C, ``--first``,
``--max-fail`` without ``--batch``) or *skipped* (a batch ``--max-fail``
stopped). :func:`describe_error` and :func:`describe_body` put an answer on
one line. Nothing here touches the terminal.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, cast

from napix.exceptions import Cancelled, HTTPError, TransportError

if TYPE_CHECKING:
    from napix.models import Response
    from napix.timings import Timings

__all__ = ['Outcome', 'Skipped', 'describe_error', 'describe_body', 'describe_remote_error']

_MAX_CHAIN = 16


class Skipped(Exception):
    """The error of a host in a batch that was never started: ``reason`` says
    why (``4 hosts failed, more than --max-fail 3``)."""

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, reason)
        self.reason = reason


class Outcome(object):
    """What one host answered.

    ``index`` (position of the host on the command line), ``host``,
    ``seconds`` (from the start of the fan-out to the answer), and either
    ``response`` (a :class:`~napix.connection.Response` below 400) or ``error``
    (the :exc:`~napix.exceptions.HTTPError`, or another exception);
    ``credentials``: where the credentials came from (safe to print), named by
    the answers that refuse them (401, 403).
    """

    __slots__ = ('index', 'host', 'seconds', 'response', 'error', 'credentials')

    def __init__(self, index: int, host: str, seconds: float,
                 response: Optional[Response] = None, error: Optional[BaseException] = None,
                 credentials: Optional[str] = None) -> None:
        self.index = index
        self.host = host
        self.seconds = seconds
        self.response = response
        self.error = error
        self.credentials = credentials

    @property
    def ok(self) -> bool:
        """``True`` when the host answered below 400."""
        return self.error is None

    @property
    def cancelled(self) -> bool:
        """``True`` when the request was cancelled before it completed (or
        before it was sent)."""
        return isinstance(self.error, Cancelled)

    @property
    def skipped(self) -> bool:
        """``True`` when the host was in a batch that was never started."""
        return isinstance(self.error, Skipped)

    @property
    def refused_credentials(self) -> bool:
        """``True`` when the host answered 401 or 403."""
        return self.status in (401, 403)

    @property
    def timings(self) -> Optional[Timings]:
        """Where the request's time went (:class:`~napix.timings.Timings`), or
        ``None`` (a request cancelled before it was made, an error of no request)."""
        timings: Optional[Timings] = getattr(self.response or self.error, 'timings', None)
        return timings

    @property
    def status(self) -> Optional[int]:
        """The HTTP status, or ``None`` when no response came."""
        if self.response is not None:
            return self.response.status
        status: Optional[int] = getattr(self.error, 'status', None)
        return status

    @property
    def status_text(self) -> str:
        """``'200 OK'``, ``'404 Not Found'``, or what went wrong without a status:
        ``'timeout'``, ``'unreachable'``, ``'cancelled'``, ``'skipped'``..."""
        response: Optional[Response] = self.response if self.response is not None else \
            getattr(self.error, 'response', None)
        if response is not None:
            return '{0} {1}'.format(response.status, response.reason or '').strip()
        error = self.error
        if isinstance(error, Cancelled):
            return 'cancelled'
        if isinstance(error, Skipped):
            return 'skipped'
        name = type(error).__name__
        return {'Timeout': 'timeout', 'ConnectError': 'unreachable',
                'RemoteProtocolError': 'bad answer',
                'ResponseTooLarge': 'too large'}.get(name, 'error')

    @property
    def summary(self) -> str:
        """One line: the body of a success, or the error with its bubbled chain
        (and, for a 401 or 403, where the credentials came from)."""
        if self.error is None:
            return describe_body(cast('Response', self.response))
        if isinstance(self.error, Cancelled) and self.error.request is not None:
            return 'cancelled before it answered'
        text = describe_error(self.error)
        if self.refused_credentials and self.credentials:
            text += ' (credentials from {0})'.format(self.credentials)
        return text

    def as_json(self) -> Dict[str, Any]:
        """A ``dict`` ready for :func:`json.dumps`, one per line of ``--json`` output."""
        data: Dict[str, Any] = {'host': self.host, 'status': self.status, 'ok': self.ok,
                'seconds': round(self.seconds, 4)}
        timings = self.timings
        if timings is not None:
            data['timings'] = timings.as_dict()
        if self.error is None:
            response = cast('Response', self.response)
            data['body'] = response.body
            location = response.headers.get('location')
            if location:
                data['location'] = location
            return data
        error = self.error
        data['error'] = describe_error(error)
        data['error_type'] = type(error).__name__
        if isinstance(error, HTTPError):
            data['remote_call'] = error.remote_call
            data['remote_error'] = error.remote_error
        if self.cancelled:
            data['cancelled'] = True
        if self.skipped:
            data['skipped'] = True
        if self.refused_credentials and self.credentials:
            data['credentials'] = self.credentials
        return data

    def __repr__(self) -> str:
        return '<Outcome {0} {1}>'.format(self.host, self.status_text)


def _one_line(text: object, limit: int = 2000) -> str:
    """*text* on one line; beyond *limit* characters, cut where it says so."""
    text = ' '.join(str(text).split())
    if len(text) <= limit:
        return text
    return '{0} [… {1} more characters: --json shows all]'.format(text[:limit],
                                                                 len(text) - limit)


def describe_body(response: Response) -> str:
    """A one-line summary of a successful response's body (compact JSON, or
    the text); for an empty body, the ``Location`` header if any."""
    body = response.body
    if body is None or body == '':
        location = response.headers.get('location')
        return '→ ' + location if location else ''
    if isinstance(body, str):
        return _one_line(body)
    return _one_line(json.dumps(body, ensure_ascii=False, separators=(', ', ': ')))


def describe_remote_error(error: Any) -> str:
    """The compact form of a ``remote_error``, following the bubbled chain:
    ``GET b.napix.nx/vm/10 → "404 NOT FOUND" `10` not found``."""
    parts: List[str] = []
    for _ in range(_MAX_CHAIN):
        if not isinstance(error, dict):
            if error not in (None, ''):
                parts.append(_one_line(error))
            break
        call = error.get('remote_call')
        if call and 'remote_error' in error:
            parts.append(_one_line(call, 200))
            error = error['remote_error']
            continue
        text: str = error.get('error_class') or 'Error'
        if error.get('error_text'):
            text += ': ' + str(error['error_text'])
        where = error.get('filename')
        if where and error.get('line'):
            text += ' ({0}:{1})'.format(os.path.basename(str(where)), error['line'])
        parts.append(_one_line(text))
        break
    else:
        parts.append('…')
    return ' → '.join(parts)


_CLIENT_CERTIFICATE = re.compile(r'client[ _-]certificate|certificate[ _]required', re.I)


def _name_the_option(cause: str) -> str:
    """A transport failure says how to fix it with the command's options: a
    server that requires a client certificate is given one with ``--cert``,
    where the library names its ``cert=`` argument."""
    if not _CLIENT_CERTIFICATE.search(cause) or '--cert' in cause:
        return cause
    if 'cert=' in cause:  # the library's words: the command's option instead
        return cause.replace('cert=', '--cert FILE')
    return cause + ' (the server requires a client certificate: give it with --cert FILE)'


def describe_error(error: BaseException) -> str:
    """One line saying why a host failed, never with credentials.

    A plain error answer gives its body (the status is shown apart), a JSON
    error from a remote ``ExceptionsCatcher`` gives its bubbled chain, a
    transport failure its cause.
    """
    if isinstance(error, TransportError):
        return _one_line(_name_the_option(str(error.cause)))
    if isinstance(error, Skipped):
        return 'skipped: ' + error.reason
    if isinstance(error, HTTPError):
        remote = error.remote_error
        if isinstance(remote, dict):
            return describe_remote_error(remote)
        if isinstance(error.body, str) and error.body.strip():
            return _one_line(error.body)
        return _one_line(remote or error.message)
    return _one_line('{0}: {1}'.format(type(error).__name__, error))
