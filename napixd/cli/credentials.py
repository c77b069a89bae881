"""Where the ``napix`` command finds its credentials.

The places, in this order; the first that holds any credential wins, and
every credential is taken from it alone:

1. the options: ``--token``, or ``--login`` and ``--key``;
2. the file given by ``--config FILE``;
3. the environment: ``NAPIX_TOKEN``, or ``NAPIX_LOGIN`` and ``NAPIX_KEY``;
4. without ``--config``, the default file ``$XDG_CONFIG_HOME/napix/credentials``
   (``~/.config/napix/credentials``).

A file is in ini form::

    [napix]
    login = root
    key = toor
    # or: token = de72457df438272d8d05a0823289084811813c07
    # optional: auth = jwt
    # optional: port = 8002

The default port of the hosts given without one is read from the same
places (:func:`load_port`), from the first that sets one, whichever holds the
credentials: ``--port``, the ``--config`` file's ``port``, ``NAPIX_PORT``,
the default file's ``port``.

A login and its key always come from the same place: ``NAPIX_LOGIN=root`` with
a file written for another login never signs as root with that login's key. A
login whose place holds no key is completed by *ask_key* (the terminal prompt),
or refused. No error message ever quotes a key, a token or a line of a file;
:attr:`Credentials.source` names the place and the login, never a secret.
"""

from __future__ import annotations

import configparser
import os
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple,
                    Union)

from napix.authenticators import (AnonAuthenticator, JWTAuthenticator, LoginAuthenticator,
                                  NonSecureAuthenticator, TokenIdentifier)
from napixd.cli.hostlist import port_number

if TYPE_CHECKING:
    from napix.connection import Authenticator

__all__ = ['Credentials', 'CredentialsError', 'default_config_path', 'load_credentials',
           'load_authenticator', 'load_port', 'PROTOCOLS']

SECTION = 'napix'

#: ``--auth`` values: how a login and key sign requests.
PROTOCOLS: Dict[str, Callable[[str, str], Authenticator]] = {
    'secure': LoginAuthenticator,
    'nonsecure': NonSecureAuthenticator,
    'jwt': JWTAuthenticator,
}


class CredentialsError(ValueError):
    """The credentials are missing, incomplete or unreadable; the message is
    safe to print."""


def default_config_path(environ: Mapping[str, str] = os.environ) -> str:
    """``$XDG_CONFIG_HOME/napix/credentials``, by default under ``~/.config``."""
    base = environ.get('XDG_CONFIG_HOME') or os.path.join(os.path.expanduser('~'), '.config')
    return os.path.join(base, 'napix', 'credentials')


def _read_config(path: str, explicit: bool) -> Dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding='utf-8') as stream:
            parser.read_file(stream)
    except FileNotFoundError:
        if explicit:
            raise CredentialsError('cannot read the credentials file {0}: no such file'.format(
                path)) from None
        return {}
    except OSError as error:
        raise CredentialsError('cannot read the credentials file {0}: {1}'.format(
            path, error.strerror or type(error).__name__)) from None
    except UnicodeDecodeError:
        raise CredentialsError('cannot read the credentials file {0}: not UTF-8 text'.format(
            path)) from None
    except configparser.Error as error:
        # configparser quotes the offending lines: they may hold the key.
        line: Optional[int] = getattr(error, 'lineno', None)
        errors = getattr(error, 'errors', None)  # a ParsingError's (line, text) pairs
        if line is None and errors:
            line = errors[0][0]
        raise CredentialsError(
            'the credentials file {0} is not in ini form ({1}{2}); expected a [{3}] section '
            'with login and key, or token'.format(
                path, type(error).__name__, ', line {0}'.format(line) if line else '',
                SECTION)) from None
    if not parser.has_section(SECTION):
        raise CredentialsError('the credentials file {0} has no [{1}] section'.format(
            path, SECTION))
    return {name: value.strip() for name, value in parser.items(SECTION)
            if name in ('login', 'key', 'token', 'auth', 'port') and value.strip()}


class Credentials(object):
    """The authenticator the command signs with, and where its credentials came from.

    ``source`` is safe to print: ``'--config /etc/napix.ini (login root)'``,
    ``'NAPIX_TOKEN in the environment (token)'``, ``'--anonymous (none sent)'``.
    """

    __slots__ = ('authenticator', 'source')

    def __init__(self, authenticator: Authenticator, source: str) -> None:
        self.authenticator = authenticator
        self.source = source

    def __repr__(self) -> str:
        return '<Credentials from {0}>'.format(self.source)


class _Place(object):
    """One place credentials may come from, with the names a user knows its
    values by (``--login``, ``NAPIX_LOGIN``, ``login in FILE``)."""

    def __init__(self, values: Mapping[str, Optional[str]], names: Dict[str, str],
                 where: Union[str, Callable[[str], str]], auth: Optional[str] = None) -> None:
        self.values: Dict[str, Optional[str]] = {
            name: values.get(name) for name in ('login', 'key', 'token')}
        self.names = names
        self.where = where  # a string, or a function of the names used
        self.auth = auth

    def holds_any(self) -> bool:
        return any(self.values.values())

    def source(self, used: str, prompted: bool = False) -> str:
        where = self.where(used) if callable(self.where) else self.where
        return where + ' and the key prompt' if prompted else where


def _options_place(login: Optional[str], key: Optional[str], token: Optional[str]) -> _Place:
    return _Place({'login': login, 'key': key, 'token': token},
                  {'login': '--login', 'key': '--key', 'token': '--token'}, str)


def _environment_place(environ: Mapping[str, str]) -> _Place:
    names = {'login': 'NAPIX_LOGIN', 'key': 'NAPIX_KEY', 'token': 'NAPIX_TOKEN'}
    return _Place({name: environ.get(variable) for name, variable in names.items()}, names,
                  '{0} in the environment'.format)


def _file_place(path: str, explicit: bool) -> _Place:
    values = _read_config(path, explicit)
    names = {name: '{0} in {1}'.format(name, path) for name in ('login', 'key', 'token')}
    where = ('--config ' if explicit else 'the file ') + path
    return _Place(values, names, where, auth=values.get('auth'))


def _places(login: Optional[str], key: Optional[str], token: Optional[str],
            config: Optional[str], environ: Mapping[str, str]) -> Iterator[_Place]:
    """The places in their order of precedence; a file is read when reached."""
    yield _options_place(login, key, token)
    if config is not None:
        yield _file_place(config, explicit=True)
    yield _environment_place(environ)
    if config is None:
        yield _file_place(default_config_path(environ), explicit=False)


def load_credentials(login: Optional[str] = None, key: Optional[str] = None,
                     token: Optional[str] = None, protocol: Optional[str] = None,
                     config: Optional[str] = None, anonymous: bool = False,
                     environ: Mapping[str, str] = os.environ,
                     ask_key: Optional[Callable[[str], Optional[str]]] = None) -> Credentials:
    """Return the :class:`Credentials` the command should use.

    :param login, key, token: from the command line options (or ``None``).
    :param protocol: ``'secure'`` (default), ``'nonsecure'`` or ``'jwt'``; by
        default the ``auth`` of the file the credentials come from, if any.
    :param config: the ``--config`` path, or ``None`` for the default file
        (which may be absent).
    :param anonymous: send no credentials at all.
    :param ask_key: called as ``ask_key(login)`` when the place of a login
        holds no key (the command asks the terminal); ``None`` to fail instead.
    :raises CredentialsError: nothing usable was found.
    """
    if anonymous:
        return Credentials(AnonAuthenticator(), '--anonymous (none sent)')
    place = next((p for p in _places(login, key, token, config, environ) if p.holds_any()),
                 None)
    if place is None:
        raise CredentialsError(
            'no credentials: give --login and --key (or NAPIX_LOGIN and NAPIX_KEY), --token '
            '(or NAPIX_TOKEN), write them in {0}, or pass --anonymous'.format(
                config or default_config_path(environ)))
    values, names = place.values, place.names
    if values['token'] and (values['login'] or values['key']):
        raise CredentialsError('both a token and a login/key: {0} and {1}; give one or the '
                               'other'.format(names['token'], names['login' if values['login']
                                                                    else 'key']))
    authenticator: Authenticator
    if values['token']:
        try:
            authenticator = TokenIdentifier(values['token'])
        except ValueError as error:
            raise CredentialsError('invalid token: {0}'.format(error)) from None
        return Credentials(authenticator, '{0} (token)'.format(place.source(names['token'])))
    if not values['login']:
        raise CredentialsError('{0} needs a login from the same place: give {1} too'.format(
            names['key'], names['login']))
    key, prompted = values['key'], False
    if not key and ask_key is not None:
        key, prompted = ask_key(values['login']), True
    if not key:
        raise CredentialsError('{0} needs a key from the same place: give {1} too'.format(
            names['login'], names['key']))
    protocol = protocol or place.auth or 'secure'
    if protocol not in PROTOCOLS:
        raise CredentialsError('unknown authentication protocol {0!r}: expected {1}'.format(
            protocol, ', '.join(sorted(PROTOCOLS))))
    try:
        authenticator = PROTOCOLS[protocol](values['login'], key)
    except ValueError as error:
        raise CredentialsError('invalid credentials: {0}'.format(error)) from None
    used = names['login'] if prompted else '{0}/{1}'.format(names['login'], names['key'])
    detail = 'login {0}'.format(values['login'])
    if protocol != 'secure':
        detail += ', auth {0}'.format(protocol)
    return Credentials(authenticator, '{0} ({1})'.format(place.source(used, prompted), detail))


def load_authenticator(*args: Any, **kwargs: Any) -> Authenticator:
    """The authenticator of :func:`load_credentials` (same arguments)."""
    return load_credentials(*args, **kwargs).authenticator


def load_port(config: Optional[str] = None,
              environ: Mapping[str, str] = os.environ) -> Optional[int]:
    """The default port of the hosts given without one, from the first place
    that sets it: the ``--config`` file (*config*), ``NAPIX_PORT``, the
    default file (without *config*); ``None`` when none does.

    :raises CredentialsError: a file cannot be read, or a port is not 1 to
        65535 (the message names its place).
    """
    places: List[Tuple[str, Callable[[], Optional[str]]]] = []
    if config is not None:
        places.append(('port in ' + config, lambda: _read_config(config, True).get('port')))
    places.append(('NAPIX_PORT in the environment', lambda: environ.get('NAPIX_PORT')))
    if config is None:
        path = default_config_path(environ)
        places.append(('port in ' + path, lambda: _read_config(path, False).get('port')))
    for where, read in places:
        text = read()
        if text:
            try:
                return port_number(text)
            except ValueError as error:
                raise CredentialsError('{0}: {1}'.format(where, error)) from None
    return None
