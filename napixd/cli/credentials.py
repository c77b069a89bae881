"""Where the ``napix`` command finds its credentials.

Three places, the first that holds any credential wins:

1. the options ``--token``, or ``--login`` and ``--key``;
2. the environment: ``NAPIX_TOKEN``, or ``NAPIX_LOGIN`` and ``NAPIX_KEY``;
3. a configuration file, ``--config FILE`` or else
   ``$XDG_CONFIG_HOME/napix/credentials`` (``~/.config/napix/credentials``),
   in ini form::

       [napix]
       login = root
       key = toor
       # or: token = de72457df438272d8d05a0823289084811813c07

A login given in one place may take its key from a later one (``--login root``
with ``NAPIX_KEY`` in the environment); with none anywhere, the command asks
for it on the terminal, without echoing it. No error message ever quotes a key, a
token or a line of the configuration file.
"""

import configparser
import os

from napix.authenticators import (AnonAuthenticator, JWTAuthenticator, LoginAuthenticator,
                                  NonSecureAuthenticator, TokenIdentifier)

__all__ = ['CredentialsError', 'default_config_path', 'load_authenticator', 'PROTOCOLS']

SECTION = 'napix'

#: ``--auth`` values: how a login and key sign requests.
PROTOCOLS = {
    'secure': LoginAuthenticator,
    'nonsecure': NonSecureAuthenticator,
    'jwt': JWTAuthenticator,
}


class CredentialsError(ValueError):
    """The credentials are missing, incomplete or unreadable; the message is
    safe to print."""


def default_config_path(environ=os.environ):
    """``$XDG_CONFIG_HOME/napix/credentials``, by default under ``~/.config``."""
    base = environ.get('XDG_CONFIG_HOME') or os.path.join(os.path.expanduser('~'), '.config')
    return os.path.join(base, 'napix', 'credentials')


def _read_config(path, explicit):
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
        line = getattr(error, 'lineno', None)
        if line is None and getattr(error, 'errors', None):
            line = error.errors[0][0]
        raise CredentialsError(
            'the credentials file {0} is not in ini form ({1}{2}); expected a [{3}] section '
            'with login and key, or token'.format(
                path, type(error).__name__, ', line {0}'.format(line) if line else '',
                SECTION)) from None
    if not parser.has_section(SECTION):
        raise CredentialsError('the credentials file {0} has no [{1}] section'.format(
            path, SECTION))
    return {name: value.strip() for name, value in parser.items(SECTION)
            if name in ('login', 'key', 'token', 'auth') and value.strip()}


def load_authenticator(login=None, key=None, token=None, protocol=None, config=None,
                       anonymous=False, environ=os.environ, ask_key=None):
    """Return the authenticator the command should use.

    :param login, key, token: from the command line options (or ``None``).
    :param protocol: ``'secure'`` (default), ``'nonsecure'`` or ``'jwt'``.
    :param config: the ``--config`` path, or ``None`` for the default file
        (which may be absent).
    :param anonymous: send no credentials at all.
    :param ask_key: called as ``ask_key(login)`` when a login has no key
        anywhere (the command asks the terminal); ``None`` to fail instead.
    :raises CredentialsError: nothing usable was found.
    """
    if anonymous:
        return AnonAuthenticator()
    options = {'login': login, 'key': key, 'token': token}
    env = {'login': environ.get('NAPIX_LOGIN'), 'key': environ.get('NAPIX_KEY'),
           'token': environ.get('NAPIX_TOKEN')}
    path = config or default_config_path(environ)
    from_file = _read_config(path, explicit=config is not None)
    levels = [options, env, from_file]
    chosen = next((i for i, level in enumerate(levels)
                   if any(level.get(name) for name in ('login', 'key', 'token'))), None)
    if chosen is None:
        raise CredentialsError(
            'no credentials: give --login and --key (or NAPIX_LOGIN and NAPIX_KEY), --token '
            '(or NAPIX_TOKEN), write them in {0}, or pass --anonymous'.format(path))
    level = levels[chosen]
    if level.get('token') and not (level.get('login') or level.get('key')):
        try:
            return TokenIdentifier(level['token'])
        except ValueError as error:
            raise CredentialsError('invalid token: {0}'.format(error)) from None
    if level.get('token'):
        where = ('the options', 'the environment', path)[chosen]
        raise CredentialsError('both a token and a login/key in {0}: give one or the '
                               'other'.format(where))
    found = {}
    for name in ('login', 'key'):
        found[name] = next((lv[name] for lv in levels[chosen:] if lv.get(name)), None)
    if found['login'] and not found['key'] and ask_key is not None:
        found['key'] = ask_key(found['login'])
    if not found['login'] or not found['key']:
        missing = 'login' if not found['login'] else 'key'
        raise CredentialsError('a {0} is needed with the {1}: give --{0} or NAPIX_{2}'.format(
            missing, 'key' if missing == 'login' else 'login', missing.upper()))
    protocol = protocol or from_file.get('auth') or 'secure'
    if protocol not in PROTOCOLS:
        raise CredentialsError('unknown authentication protocol {0!r}: expected {1}'.format(
            protocol, ', '.join(sorted(PROTOCOLS))))
    try:
        return PROTOCOLS[protocol](found['login'], found['key'])
    except ValueError as error:
        raise CredentialsError('invalid credentials: {0}'.format(error)) from None
