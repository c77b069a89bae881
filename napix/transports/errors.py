"""Where a transport's failure becomes an :exc:`~napix.exceptions.HTTPError`.

Every way a request can fail below the HTTP layer is one :class:`Failure`
here: the library error it raises and its one message. The transports only
say which failure happened and where; the words are written once, here
(httpx's ``map_httpcore_exceptions`` is the model):

* :func:`connect_failure` and :func:`exchange_failure` sort the exceptions
  of sockets, TLS and the HTTP/1.1 reader
  (:mod:`napix.transports.http11`);
* the *requests* transport sorts requests' own exceptions into the same
  failures; the WSGI transport uses those of its kind.

A TLS alert is said in words: a server that requires a client certificate
says so (TLS 1.3 sends that alert after the handshake, so it arrives on the
first read: :func:`exchange_failure` knows it there too).
"""

from __future__ import annotations

import errno
import socket
import ssl
from typing import Any, Optional, Type

from napix.exceptions import (ConnectError, RemoteProtocolError, ResponseTooLarge, Timeout,
                              TransportError)
from napix.models import Request
from napix.transports.head import LimitExceeded
from napix.transports.http11 import InvalidResponse, ServerClosed

__all__ = ['Failure', 'connect_failure', 'exchange_failure', 'tls_alert', 'tls_refused',
           'target',
           'CONNECT_TIMEOUT', 'READ_TIMEOUT', 'REFUSED', 'UNRESOLVED', 'NO_DESCRIPTOR',
           'CANNOT_CONNECT', 'TLS_FAILED', 'TLS_REFUSED', 'CLIENT_CERTIFICATE_REQUIRED',
           'CLOSED', 'INVALID', 'TOO_LARGE', 'SOCKET_ERROR', 'EXCHANGE_FAILED',
           'APPLICATION']


class Failure(object):
    """One way a transport fails: the :exc:`~napix.exceptions.TransportError`
    subclass it raises and its message, a :meth:`str.format` template of
    named fields (``target``: ``address:port``; ``seconds``; ``cause``...)."""

    __slots__ = ('error', 'template')

    def __init__(self, error: Type[TransportError], template: str) -> None:
        self.error = error
        self.template = template

    def __call__(self, request: Optional[Request], **fields: Any) -> TransportError:
        """The error of *request* that failed so (its message filled with *fields*)."""
        return self.error(request, self.template.format(**fields))

    def __repr__(self) -> str:
        return '<Failure {0}: {1!r}>'.format(self.error.__name__, self.template)


# The table: every message a transport failure may give.
CONNECT_TIMEOUT = Failure(Timeout, 'could not connect to {target} within {seconds:g} s')
READ_TIMEOUT = Failure(Timeout, 'no complete response within {seconds:g} s (from {target})')
REFUSED = Failure(ConnectError, 'connection refused by {target}')
UNRESOLVED = Failure(ConnectError, 'cannot resolve {address} ({cause})')
NO_DESCRIPTOR = Failure(ConnectError, 'cannot connect to {target}: the process has no '
                        'descriptor left (lower napix.transports.sockets.set_max_sockets, '
                        'or raise ulimit -n)')
CANNOT_CONNECT = Failure(ConnectError, 'cannot connect to {target} ({cause})')
#: The handshake failed on our side (the server's certificate, mostly).
TLS_FAILED = Failure(ConnectError, 'TLS handshake with {target} failed ({cause})')
#: The server sent a TLS alert: *alert* in words.
TLS_REFUSED = Failure(ConnectError, 'TLS handshake with {target} failed: the server refused '
                      'the handshake: {alert}')
#: Its first sentence is stable: the command line adds how to give one.
CLIENT_CERTIFICATE_REQUIRED = Failure(
    ConnectError, 'TLS handshake with {target} failed: the server requires a client '
    'certificate (give one with cert=)')
CLOSED = Failure(RemoteProtocolError, '{cause}')
INVALID = Failure(RemoteProtocolError, 'invalid HTTP response ({cause})')
TOO_LARGE = Failure(ResponseTooLarge, '{cause}')
SOCKET_ERROR = Failure(RemoteProtocolError, 'socket error ({cause})')
EXCHANGE_FAILED = Failure(RemoteProtocolError, 'exchange with {target} failed ({cause})')
#: A WSGI application that broke the protocol.
APPLICATION = Failure(RemoteProtocolError, '{cause}')

# TLS alerts whose name alone would puzzle: in words.
_ALERTS = {
    'UNKNOWN_CA': 'unknown CA (it does not trust the issuer of the client certificate)',
    'BAD_CERTIFICATE': 'bad certificate',
    'CERTIFICATE_EXPIRED': 'certificate expired',
    'CERTIFICATE_REVOKED': 'certificate revoked',
    'HANDSHAKE_FAILURE': 'handshake failure (no common protocol or cipher)',
    'CLOSED': 'it closed the connection',
    'PROTOCOL_VERSION': 'protocol version (no TLS version in common)',
    'UNRECOGNIZED_NAME': 'unrecognized name (SNI)',
}
_ALERT_PREFIXES = ('SSLV3_ALERT_', 'TLSV1_ALERT_', 'TLSV13_ALERT_')


def target(address: str, port: int) -> str:
    """``address:port``, for messages (an IPv6 address in brackets)."""
    return '{0}:{1}'.format('[{0}]'.format(address) if ':' in address else address, port)


def tls_alert(error: BaseException) -> Optional[str]:
    """The name of the TLS alert the server sent, as OpenSSL reports it
    (``CERTIFICATE_REQUIRED``, ``UNKNOWN_CA``...); ``None`` when *error*
    is not a TLS alert."""
    reason = getattr(error, 'reason', None)
    if not isinstance(error, ssl.SSLError) or not isinstance(reason, str):
        return None
    for prefix in _ALERT_PREFIXES:
        if reason.startswith(prefix):
            return reason[len(prefix):]
    return None


def tls_refused(request: Optional[Request], alert: str, where: str,
                has_cert: bool = True) -> TransportError:
    """The error of a handshake the server refused with *alert*
    (:func:`tls_alert`), the client certificate given or not (*has_cert*)."""
    if alert == 'CERTIFICATE_REQUIRED':
        return CLIENT_CERTIFICATE_REQUIRED(request, target=where)
    words = _ALERTS.get(alert) or alert.replace('_', ' ').lower()
    if alert == 'HANDSHAKE_FAILURE' and not has_cert:
        # TLS 1.2 has no alert of its own for a missing client certificate.
        words = 'handshake failure (no common protocol or cipher, or the server requires ' \
            'a client certificate: give one with cert=)'
    return TLS_REFUSED(request, target=where, alert=words)


def connect_failure(request: Optional[Request], error: BaseException, address: str,
                    port: int, seconds: float, has_cert: bool = True) -> BaseException:
    """The :exc:`~napix.exceptions.HTTPError` of a connect (and TLS
    handshake, with a client certificate or not: *has_cert*) to *address*
    and *port* that failed with *error* within *seconds*; *error* itself
    when it is no failure of ours to translate (``GreenletExit``,
    ``KeyboardInterrupt``, a bug)."""
    where = target(address, port)
    alert = tls_alert(error)
    if alert is not None:
        return tls_refused(request, alert, where, has_cert)
    if isinstance(error, socket.timeout):
        return CONNECT_TIMEOUT(request, target=where, seconds=seconds)
    if isinstance(error, ConnectionRefusedError):
        return REFUSED(request, target=where)
    if isinstance(error, socket.gaierror):
        return UNRESOLVED(request, address=address, cause=error.strerror or error)
    if isinstance(error, (ssl.SSLError, ssl.CertificateError)):
        cause = getattr(error, 'verify_message', None) or error.reason or error
        return TLS_FAILED(request, target=where, cause=cause)
    if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
        return NO_DESCRIPTOR(request, target=where)
    if isinstance(error, OSError):
        return CANNOT_CONNECT(request, target=where, cause=error.strerror or error)
    return error


def exchange_failure(request: Optional[Request], error: BaseException, address: str,
                     port: int, seconds: float, fresh_tls: bool = False,
                     has_cert: bool = False) -> BaseException:
    """The :exc:`~napix.exceptions.HTTPError` of an exchange with *address*
    and *port* that failed with *error* (its read timeout: *seconds*);
    *error* itself when it is no failure of ours to translate.

    *fresh_tls*: the first exchange of a new TLS socket (with a client
    certificate: *has_cert*), whose server may still refuse the handshake:
    TLS 1.3 sends its alert after it, and arrives on the first read, or as
    the mere end of the stream."""
    alert = tls_alert(error)
    if alert is not None:
        return tls_refused(request, alert, target(address, port), has_cert)
    if isinstance(error, socket.timeout):
        return READ_TIMEOUT(request, target=target(address, port), seconds=seconds)
    if fresh_tls and isinstance(error, ssl.SSLEOFError):
        # Closed on the first read, before a byte of the answer, without
        # the TLS goodbye: the handshake refused. Without a certificate,
        # for want of one.
        return tls_refused(request, 'CERTIFICATE_REQUIRED' if not has_cert
                           else 'CLOSED', target(address, port), has_cert)
    if isinstance(error, ServerClosed):
        return CLOSED(request, cause=error)
    if isinstance(error, LimitExceeded):
        return TOO_LARGE(request, cause=error)
    if isinstance(error, InvalidResponse):
        return INVALID(request, cause=error)
    if isinstance(error, OSError):
        return SOCKET_ERROR(request, cause=error.strerror or error)
    return error

