"""Secrets never leak, and signatures survive any path (hypothesis).

For arbitrary logins, keys, tokens, paths and queries (non-ASCII included),
no key, signature or token appears in any ``repr``/``str`` a user can see,
in the log records of the ``Napix`` loggers at DEBUG, in ``remote_call`` or
``remote_error``, in what an ``ExceptionsCatcher`` answers, nor in a pickled
error; and every request is accepted by a server that checks signatures like
napixd, which sees the very path and query that were asked for.
"""

import json
import os
import logging
import pickle
import string
from urllib.parse import parse_qs, quote, urlencode

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from napix.authenticators import (JWTAuthenticator, LoginAuthenticator, NonSecureAuthenticator,
                                  TokenIdentifier)
from napix.connection import Connection
from napix.exceptions import ConnectError, HTTPError, RemoteProtocolError
from napix.retry import Retry
from napixd.client import Client, ClientPool
from napixd.faults import FaultServer
from napixd.plugins.exceptions import ExceptionsCatcher
from napixd.testing import NapixServer

TIMEOUT = (1, 2)
KINDS = ['login', 'nonsecure', 'token', 'jwt']

logins = st.text(min_size=1, max_size=20)
# Any text, made unguessable by 8 bytes in hex: a secret such as 'content-type' would be
# "found" in any output.
entropy = st.binary(min_size=8, max_size=8).map(bytes.hex)
keys = st.tuples(st.text(max_size=30), entropy).map(''.join)
tokens = st.tuples(st.text(string.ascii_letters + string.digits + string.punctuation,
                           max_size=30), entropy).map(''.join)
segments = st.text(st.characters(blacklist_categories=('Cs', 'Cc'), blacklist_characters='/?#%'),
                   min_size=1, max_size=12)
paths = st.lists(segments, min_size=1, max_size=4).map(lambda parts: '/p/' + '/'.join(parts))
queries = st.one_of(
    st.just(''),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), min_size=1,
                    max_size=3).map(lambda d: urlencode(d, quote_via=quote)),
    # Raw text: the client percent-encodes what must be.
    st.text(st.characters(blacklist_categories=('Cs', 'Cc'), blacklist_characters='#%&='),
            min_size=1, max_size=12).map(lambda t: 'q=' + t),
)


class Recorder(object):
    """WSGI middleware keeping the credentials each request carried."""

    def __init__(self, application):
        self.application = application
        self.seen = []

    def __call__(self, environ, start_response):
        self.seen.append((environ.get('HTTP_AUTHORIZATION', ''),
                          environ.get('QUERY_STRING', '')))
        return self.application(environ, start_response)


@pytest.fixture(scope='module')
def servers():
    napix = NapixServer(users={}, max_concurrent=None)

    @napix.route('GET', '/relay/{where}')
    def relay(request, where):
        # A service that calls another server with the same credentials, and fails.
        target = napix.host if where == 'napix' else servers.refuse.host
        Client(target, napix.relay_auth, timeout=TIMEOUT).request('GET', '/p/missing?a=1')

    napix.recorder = Recorder(ExceptionsCatcher(napix._napix_app, show_errors=True))
    napix.application = napix.recorder
    refuse, garbage = FaultServer('refuse'), FaultServer('garbage')
    busy = FaultServer('ok', retry_after=0)

    class servers(object):
        pass
    servers.napix, servers.refuse, servers.garbage, servers.busy = napix, refuse, garbage, busy
    for server in (napix, refuse, garbage, busy):
        server.start()
    yield servers
    for server in (napix, refuse, garbage, busy):
        server.stop()


def make_authenticator(kind, login, key, token, napix):
    if kind == 'token':
        napix.tokens[token] = login
        return TokenIdentifier(token)
    napix.users[login] = key
    if kind == 'login':
        return LoginAuthenticator(login, key)
    if kind == 'jwt':
        return JWTAuthenticator(login, key)
    return NonSecureAuthenticator(login, key)


def secrets_of(kind, key, token, recorded):
    """The key or token, and every signature or token the servers received."""
    found = {token} if kind == 'token' else {key}
    for authorization, query in recorded:
        if authorization.startswith('Token '):
            found.add(authorization[6:])
        elif kind == 'login' and authorization:
            found.add(authorization.rpartition(':')[2])
        elif kind == 'jwt' and authorization:
            found.add(authorization.rpartition('.')[2])
        for secret in parse_qs(query).get('token', []):
            found.add(secret)
            found.add(secret.partition(':')[2])
    return {s for s in found if s}


def forms(secret):
    """How a secret could show up: as is, JSON-escaped, percent-encoded, repr'd."""
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=''), repr(secret)[1:-1]}


class ListHandler(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.setFormatter(logging.Formatter('%(name)s %(levelname)s %(message)s'))
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope='module')
def napix_logs():
    logger = logging.getLogger('Napix')
    handler, level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@settings(max_examples=int(os.environ.get('NAPIX_EXAMPLES', 60)), deadline=None)
@given(kind=st.sampled_from(KINDS), login=logins, key=keys, token=tokens, path=paths,
       query=queries)
def test_no_secret_in_anything_a_user_sees(servers, napix_logs, kind, login, key, token,
                                           path, query):
    if kind == 'nonsecure':
        assume(':' not in login)
    assume('token' not in parse_qs(query))
    inputs = [login, path, query]
    for secret in (key, token):  # the user's own input may show, of course
        assume(not any(form in text for form in forms(secret) for text in inputs))
    napix = servers.napix
    authenticator = make_authenticator(kind, login, key, token, napix)
    napix.relay_auth = authenticator
    napix.recorder.seen[:] = []
    napix_logs.lines[:] = []
    url = path + ('?' + query if query else '')
    seen = []  # everything a user can print, log or send on

    def look(*objects):
        for obj in objects:
            seen.append(repr(obj))
            seen.append(str(obj))

    def look_at_error(error):
        look(error, error.request, error.response)
        seen.append(str(error.remote_call))
        seen.append(json.dumps(error.remote_error))
        seen.append(pickle.dumps(error).decode('latin-1'))

    client = Client(napix.host, authenticator, timeout=TIMEOUT)
    look(authenticator, client, client.connection)
    for method, body in (('GET', None), ('POST', {'path': path}), ('DELETE', None)):
        with pytest.raises(HTTPError) as caught:
            client.request(method, url, body)
        assert caught.value.status == 404, caught.value  # signed right: not 401/403
        look_at_error(caught.value)

    for where in ('napix', 'refuse'):  # a remote service fails calling a third server
        with pytest.raises(HTTPError) as caught:
            client.request('GET', '/relay/' + where)
        error = caught.value
        assert error.status == 500 and error.remote_error['error_class'] in (
            'HTTPError', 'ConnectError')
        look_at_error(error)
        seen.append(error.response.content.decode('utf-8', 'replace'))

    for server, expected in ((servers.refuse, ConnectError),
                             (servers.garbage, RemoteProtocolError)):
        with pytest.raises(expected) as caught:
            Client(server.host, authenticator, timeout=TIMEOUT).request('GET', url)
        look_at_error(caught.value)

    servers.busy.script = iter(['503'])
    with ClientPool(authenticator, timeout=TIMEOUT, retry=Retry(total=1, backoff=0)) as pool:
        handles = [pool.request(napix.host, 'GET', url),
                   pool.request(servers.refuse.host, 'PUT', url, {'a': 1}),
                   pool.request(servers.busy.host, 'GET', url)]
        look(pool, *handles)
        results = pool.wait()
        look(pool, *handles)
    for result in results:
        if isinstance(result, HTTPError):
            look_at_error(result)
        else:
            look(result, result.request)
    assert isinstance(results[2], object) and not isinstance(results[2], HTTPError)

    seen.extend(napix_logs.lines)
    assert any('Napix.Retry DEBUG retry 1 of 1' in line for line in napix_logs.lines)
    assert any('Napix.Errors ERROR' in line for line in napix_logs.lines)
    secrets = secrets_of(kind, key, token, napix.recorder.seen)
    assert len(secrets) >= (4 if kind in ('login', 'jwt') else 1)
    everything = '\n'.join(seen)
    for secret in secrets:
        for form in forms(secret):
            assert form not in everything, (kind, form)


@settings(max_examples=int(os.environ.get('NAPIX_EXAMPLES', 100)), deadline=None)
@given(kind=st.sampled_from(['login', 'jwt', 'nonsecure']), login=logins, key=keys,
       path=paths, query=queries, method=st.sampled_from(['GET', 'POST', 'PUT', 'DELETE']))
def test_the_signature_round_trips_through_the_verifier(servers, kind, login, key, path, query,
                                                        method):
    if kind == 'nonsecure':
        assume(':' not in login)
    assume('token' not in parse_qs(query))  # the non-secure protocol's own parameter
    napix = servers.napix
    connection = Connection(napix.host, make_authenticator(kind, login, key, None, napix),
                            timeout=TIMEOUT)
    url = path + ('?' + query if query else '')
    with pytest.raises(HTTPError) as caught:
        connection.request(method, url, {'a': 1} if method in ('POST', 'PUT') else None)
    assert caught.value.status == 404, caught.value
    who, seen_method, seen_path = napix.requests[-1]
    assert (who, seen_method, seen_path) == (login, method, path)
    seen_query = parse_qs(napix.recorder.seen[-1][1], keep_blank_values=True)
    if kind == 'nonsecure':
        seen_query.pop('token')
    assert seen_query == parse_qs(connection.build_request('GET', url).url.partition('?')[2],
                                  keep_blank_values=True)
    connection.close()
