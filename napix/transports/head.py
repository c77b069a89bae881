"""The rules of a response head: where it ends, what it may hold, its framing.

A server that is broken or hostile may send anything: these bound what one
response head may cost (:class:`Limits`, checked by :func:`check_heads` while
the head arrives and by :func:`final_head` once it is complete), in time
linear in its size, and tell from its parsed header values, never from a
search of its text, whether its body ends with the connection
(:func:`delimited_by_close`).
"""

from __future__ import annotations

import re
from typing import Union

from napix.models import reason_phrase  # the response finds its own, when first read

__all__ = ['Limits', 'LimitExceeded', 'check_heads', 'final_head', 'bytes_after_head',
           'skip_heads', 'delimited_by_close', 'reason_phrase',
           'response_too_large']

# The framing headers of a head, name and value.
_FRAMING = re.compile(r'\r\n(content-length|transfer-encoding)[ \t]*:[ \t]*([^\r]*)', re.I)


class LimitExceeded(Exception):
    """The response exceeds one of the :class:`Limits`; the message says
    which (``max_head_size``...). The transport raises it as the library's
    :exc:`napix.exceptions.ResponseTooLarge` (:mod:`napix.transports.errors`)."""


class Limits(object):
    """What one response may hold, in bytes and fields."""

    __slots__ = ('max_response_size', 'max_head_size', 'max_header_line',
                 'max_header_fields', 'unchecked')

    def __init__(self, max_response_size: int, max_head_size: int, max_header_line: int,
                 max_header_fields: int) -> None:
        #: The whole response, head and body.
        self.max_response_size = max_response_size
        #: The response head, status line to blank line (each 1xx head too).
        self.max_head_size = max_head_size
        #: One line of the head.
        self.max_header_line = max_header_line
        #: The header fields of one head.
        self.max_header_fields = max_header_fields
        # A head this short is within every limit (a field takes 4 bytes or
        # more, 'a:' and its CRLF): it needs no line by line check.
        self.unchecked = min(max_header_line, max_head_size, 4 * (max_header_fields + 1))

    def __repr__(self) -> str:
        return ('<Limits max_response_size={0} max_head_size={1} max_header_line={2} '
                'max_header_fields={3}>'.format(self.max_response_size, self.max_head_size,
                                                self.max_header_line, self.max_header_fields))


def skip_heads(data: Union[bytes, bytearray], count: int, limits: Limits) -> int:
    """Where the head after the first *count* heads of *data* starts;
    :exc:`LimitExceeded` when one of them is over ``max_head_size`` (1xx
    heads that came with the next one were not checked as they arrived)."""
    start = 0
    for _ in range(count):
        end = data.index(b'\r\n\r\n', start)
        if end - start > limits.max_head_size:
            _head_too_large(limits)
        start = end + 4
    return start


def check_heads(received: Union[bytes, bytearray], informational: int,
                limits: Limits) -> bytearray:
    """*received* without its first *informational* heads (the 1xx already
    parsed: a server may send many), joined from now on in place;
    :exc:`LimitExceeded` when a head left, complete or not, is over
    ``max_head_size``."""
    data = bytearray(received)
    if informational:
        del data[:skip_heads(data, informational, limits)]
    start = 0
    while True:
        end = data.find(b'\r\n\r\n', start)
        complete = end >= 0
        if not complete:  # the first bytes of its end are not its own
            end = len(data) - (3 if data.endswith(b'\r\n\r') else 2 if data.endswith(b'\r\n')
                               else 1 if data.endswith(b'\r') else 0)
        if end - start > limits.max_head_size:
            _head_too_large(limits)
        if not complete:
            return data
        start = end + 4


def final_head(received: Union[bytes, bytearray], informational: int, limits: Limits) -> str:
    """The final response head in *received* as text (the *informational*
    1xx heads before it skipped), each line with its CRLF;
    :exc:`LimitExceeded` when it, or one of the 1xx heads, breaks a limit."""
    start = skip_heads(received, informational, limits) if informational else 0
    end = received.find(b'\r\n\r\n', start)
    if end < 0:
        end = len(received)
    if end - start <= limits.unchecked:
        return received[start:end + 2].decode('latin-1')  # every line ends with its CRLF
    head = str(memoryview(received)[start:end + 2], 'latin-1')  # a large head: not copied
    _check_head(head, end - start, limits)
    return head


def bytes_after_head(received: Union[bytes, bytearray]) -> bool:
    """True when bytes follow the final head in *received* (as if they did
    after a 1xx head)."""
    return not received.endswith(b'\r\n\r\n') or received.count(b'\r\n\r\n') > 1


def response_too_large(limits: Limits) -> LimitExceeded:
    """The error of a response larger than ``max_response_size``."""
    return LimitExceeded('the response is larger than {0} bytes (max_response_size)'.format(
        limits.max_response_size))


def _head_too_large(limits: Limits) -> None:
    raise LimitExceeded('the response head is larger than {0} bytes '
                           '(max_head_size)'.format(limits.max_head_size))


def _check_head(head: str, size: int, limits: Limits) -> None:
    if size > limits.max_head_size:
        _head_too_large(limits)
    if size > limits.max_header_line:
        _check_lines(head, limits.max_header_line)
    if head.count('\r\n') > limits.max_header_fields + 1:
        raise LimitExceeded('the response has more than {0} header fields '
                               '(max_header_fields)'.format(limits.max_header_fields))


def _check_lines(head: str, limit: int) -> None:
    """Raise :exc:`LimitExceeded` when a line of *head* is over *limit*
    (line by line: a list of a large head's lines would cost more than it)."""
    start = 0
    while start < len(head):
        end = head.find('\r\n', start)
        if end - start > limit:
            raise LimitExceeded('a response header line is longer than {0} bytes '
                                   '(max_header_line)'.format(limit))
        start = end + 2


def delimited_by_close(head: str) -> bool:
    """True when *head* has neither a ``Content-Length`` nor a
    ``Transfer-Encoding`` whose last coding is chunked: its body ends where
    the connection does."""
    for name, value in _FRAMING.findall(head):
        if name.lower() == 'content-length':
            return False
        if value.rsplit(',', 1)[-1].strip().lower() == 'chunked':
            return False
    return True
