"""``napix -v``: what curl's ``-v`` prints, for each host, on stderr.

The request head as sent (its credentials replaced by ``<hidden>``: the
lines come from the view that :mod:`napix.hooks` gives a response hook, never
from the signed request), the response head, and the request's timings::

    * GET 127.0.0.1:8002/vm/7
    > GET /vm/7 HTTP/1.1
    > Host: 127.0.0.1:8002
    > Authorization: <hidden>
    >
    < HTTP/1.1 200 OK
    < Content-Type: application/json
    <
    * timings: total 1.3 ms, queued 0.0 ms, ... receive 0.0 ms, reused
"""

from __future__ import annotations

import sys
from typing import IO, Any, Dict, List, Optional

from napix.transports.wire import BODY_METHODS, DEFAULT_LINES

__all__ = ['Verbose', 'timings_line']


class Verbose(object):
    """The event hooks that print each exchange on *stream* (default stderr)."""

    def __init__(self, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream

    def hooks(self) -> Dict[str, List[Any]]:
        """``event_hooks`` for a pool: print every response and every error."""
        return {'response': [self.response], 'error': [self.error]}

    def response(self, response: Any) -> None:
        self._write(_exchange(response.request, response, response.timings))

    def error(self, error: Any) -> None:
        lines = _exchange(error.request, error.response, error.timings)
        if error.response is None:
            lines.insert(-1, '* {0}: {1}'.format(type(error).__name__, error))
        self._write(lines)

    def _write(self, lines: List[str]) -> None:
        stream = self.stream or sys.stderr
        stream.write(''.join(line + '\n' for line in lines))
        stream.flush()


def _exchange(request: Any, response: Any, timings: Any) -> List[str]:
    lines = ['* {0}'.format(request)] + [('> ' + line).rstrip()
                                         for line in _request_head(request)]
    if response is not None:
        lines.append('< HTTP/1.1 {0} {1}'.format(response.status, response.reason or ''))
        lines.extend('< {0}: {1}'.format(name, value)
                     for name, value in response.headers.raw_items())
        lines.append('<')
    lines.append('* timings: ' + (timings_line(timings) if timings is not None else 'none'))
    return lines


def _request_head(request: Any) -> List[str]:
    """The request line and headers, as the default transport writes them,
    from a request whose credentials are hidden already."""
    lines = ['{0} {1} HTTP/1.1'.format(request.method, request.url),
             'Host: {0}'.format(request.authority)]
    for lower, line in DEFAULT_LINES.items():
        if lower not in request.headers:
            lines.append(line)
    lines.extend('{0}: {1}'.format(name, value) for name, value in request.headers.raw_items())
    if request.body is not None:
        lines.append('Content-Length: {0}'.format(len(request.body)))
    elif request.method in BODY_METHODS:
        lines.append('Content-Length: 0')
    lines.append('')
    return lines


def timings_line(timings: Any) -> str:
    """``total 1.3 ms, queued 0.0 ms, ..., receive 0.0 ms, reused``."""
    parts = ['{0} {1:.1f} ms'.format(name, getattr(timings, name) * 1000)
             for name in ('total', 'queued', 'resolve', 'connect', 'tls', 'send', 'wait',
                          'receive')]
    if timings.reused:
        parts.append('reused')
    if timings.attempts > 1:
        parts.append('{0} attempts'.format(timings.attempts))
    return ', '.join(parts)
