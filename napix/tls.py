"""TLS settings of the default transport: what to verify, which certificate to present.

>>> client_context(True)                                   # doctest: +SKIP
<gevent.ssl.SSLContext object at ...>

*verify* is ``True`` (the system's CAs; OpenSSL reads ``SSL_CERT_FILE`` and
``SSL_CERT_DIR``), ``False`` (no verification at all), the path to a CA bundle
(a PEM file, or a directory prepared by ``openssl rehash``) as a ``str`` or
any ``os.PathLike``, or an ``ssl.SSLContext`` used as it is (it then
carries the client certificate too). *cert* is ``None``, the path to a PEM
file holding the client certificate and its key, or a ``(certificate, key)``
pair of paths.

A value of the wrong type raises :exc:`TypeError`; a file that cannot be read
or used raises :exc:`TLSConfigError` (a :exc:`ValueError`) whose message names
the file and what it was supposed to be. Messages never quote a file's content.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Hashable, Optional, Tuple, Union

import gevent.ssl as gssl

from napix.cache import BoundedCache

__all__ = ['Verify', 'Cert', 'TLSConfigError', 'client_context', 'context_key', 'has_client_cert']

# Quoted: where these aliases are used, signatures show their names.
_Path = Union[str, 'os.PathLike[str]']
#: What *verify* accepts: ``True``, ``False``, a path, an ``ssl.SSLContext``.
Verify = Union[bool, '_Path', '_Context']
#: What *cert* accepts: ``None``, a path, a ``(certificate, key)`` pair of paths.
Cert = Optional[Union['_Path', Tuple['_Path', '_Path']]]
_Context = ssl.SSLContext

_VERIFY_EXPECTED = ('verify must be True, False, the path to a CA bundle (a file or a '
                    'directory, str or os.PathLike) or an ssl.SSLContext')
_CERT_EXPECTED = ('cert must be None, the path to a PEM file holding the client '
                  'certificate and its key, or a (certificate, key) pair of paths')


class TLSConfigError(ValueError):
    """A TLS setting that cannot be used: a file missing, unreadable or not PEM.

    ``setting`` is the parameter (``'verify'`` or ``'cert'``), ``role`` what
    the file was supposed to be (``'CA bundle'``, ``'client certificate'``,
    ``'client key'``, or ``None``), ``reason`` the message without the setting.
    """

    def __init__(self, setting: str, reason: str, role: Optional[str] = None) -> None:
        ValueError.__init__(self, '{0}: {1}'.format(setting, reason))
        self.setting = setting
        self.reason = reason
        self.role = role


def context_key(verify: Verify = True, cert: Cert = None) -> Hashable:
    """What makes two transports' TLS sockets interchangeable.

    Equal keys for equal settings (paths made absolute); a context given as
    *verify* is its own key. Checks the types (:exc:`TypeError`), not the files.
    """
    if verify is True and cert is None:
        return _DEFAULT_KEY
    verify_key: Hashable
    if isinstance(verify, bool) or isinstance(verify, ssl.SSLContext):
        verify_key = verify
    else:
        verify_key = ('ca', _path(verify, 'verify', _VERIFY_EXPECTED))
    if cert is None:
        return (verify_key, None)
    if isinstance(verify, ssl.SSLContext):
        raise TLSConfigError('cert', 'cannot go with verify=SSLContext: load the client '
                             'certificate into that context (its load_cert_chain())')
    if isinstance(cert, tuple):
        if len(cert) != 2:
            raise TypeError('{0}, not a tuple of {1}'.format(_CERT_EXPECTED, len(cert)))
        return (verify_key, (_path(cert[0], 'cert', _CERT_EXPECTED),
                             _path(cert[1], 'cert', _CERT_EXPECTED)))
    return (verify_key, (_path(cert, 'cert', _CERT_EXPECTED), None))


_DEFAULT_KEY: Hashable = (True, None)
# The contexts made, by context_key(): a few (each costs its files' reading).
_contexts: BoundedCache[Hashable, Any] = BoundedCache(lambda key: _new_context(key),
                                                     maxsize=16, longest=None)


def client_context(verify: Verify = True, cert: Cert = None) -> Any:
    """A client context for *verify* and *cert*, whose ``wrap_socket(sock,
    server_hostname=...)`` makes cooperative gevent sockets.

    Contexts are cached by :func:`context_key`: a CA bundle or certificate
    file changed on disk is read again by a new process, not by this one. A
    standard ``ssl.SSLContext`` given as *verify* is used as it is (its
    sockets made by gevent); so is a :class:`gevent.ssl.SSLContext`.
    """
    key = context_key(verify, cert)
    if isinstance(verify, ssl.SSLContext):
        return verify if isinstance(verify, gssl.SSLContext) else _Cooperative(verify)
    return _contexts[key]


def _new_context(key: Any) -> Any:
    verify, cert = key
    # gevent.ssl.create_default_context() is the standard library's: its
    # sockets would block the hub. gevent's own SSLContext makes gevent sockets.
    context = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies name and chain
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_ca(context, verify[1])
    if cert is not None:
        _load_cert(context, *cert)
    return context


def _load_ca(context: Any, path: str) -> None:
    if os.path.isdir(path):
        context.load_verify_locations(capath=path)
        return
    _check_readable(path, 'verify', 'CA bundle')
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError) as error:
        raise TLSConfigError('verify', 'CA bundle {0!r} holds no usable PEM certificate '
                             '({1})'.format(path, _reason(error)), 'CA bundle') from None


def _load_cert(context: Any, certfile: str, keyfile: Optional[str]) -> None:
    _check_readable(certfile, 'cert', 'client certificate')
    if keyfile is not None:
        _check_readable(keyfile, 'cert', 'client key')

    def no_password() -> str:
        # Without a callback OpenSSL would prompt on the terminal, or hang.
        raise TLSConfigError('cert', 'the key in {0!r} is encrypted; give an unencrypted '
                             'key'.format(keyfile or certfile),
                             'client certificate' if keyfile is None else 'client key')

    try:
        context.load_cert_chain(certfile, keyfile, password=no_password)
    except ssl.SSLError as error:
        what = ('client certificate {0!r} with its key'.format(certfile) if keyfile is None
                else 'client certificate {0!r} with key {1!r}'.format(certfile, keyfile))
        raise TLSConfigError('cert', 'cannot use {0}: PEM certificate and matching private '
                             'key expected ({1})'.format(what, _reason(error))) from None


def _check_readable(path: str, setting: str, role: str) -> None:
    try:
        with open(path, 'rb'):
            pass
    except OSError as error:
        raise TLSConfigError(setting, '{0} {1!r} cannot be read ({2})'.format(
            role, path, error.strerror or error), role) from None


def _reason(error: Exception) -> str:
    reason = getattr(error, 'reason', None)
    return str(reason) if reason else str(error)


def _path(value: object, name: str, expected: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError('{0}, not {1}'.format(expected, type(value).__name__))
    if not value:
        raise TLSConfigError(name, 'an empty path')
    return os.path.abspath(os.path.expanduser(value))


class _Cooperative(object):
    """A standard ``ssl.SSLContext`` whose sockets gevent makes."""

    __slots__ = ('context',)

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    def wrap_socket(self, sock: Any, server_hostname: Optional[str] = None) -> Any:
        return gssl.SSLSocket(sock=sock, server_hostname=server_hostname,
                              _context=self.context)

    def __repr__(self) -> str:
        return '<cooperative {0!r}>'.format(self.context)


def has_client_cert(key: Hashable) -> bool:
    """True when a :func:`context_key` says a client certificate is given."""
    return isinstance(key, tuple) and len(key) == 2 and key[1] is not None
