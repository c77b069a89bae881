"""Authenticators against a real NapixServer: accepted when right, refused
with napixd's statuses when tampered with, and never showing a secret."""

import base64
import os
import pickle

import pytest

from napix.authenticators import (AnonAuthenticator, JWTAuthenticator, LoginAuthenticator,
                                  NonSecureAuthenticator, TokenIdentifier, from_credentials,
                                  signed_path)
from napix.connection import Connection
from napix.exceptions import HTTPError

KEY = 'toor-very-secret'
TOKEN = 's3cr3t-token'


@pytest.fixture
def server(make_napix_server):
    return make_napix_server(users={'root': KEY, 'a': 'k1', 'ab': 'k2', 'abc': 'k3'})


def conn(server, auth):
    return Connection('server.napix.nx', auth, resolve={'server.napix.nx': server.host})


def status_of(server, auth, method='GET', url='/vm/7'):
    try:
        return conn(server, auth).request(method, url).status
    except HTTPError as error:
        return error.status


def tampered(sign, before=None, after=None):
    """An authenticator that signs with *sign*, changing the request with
    *before* (signed but not sent) or *after* (sent but not signed)."""
    def authenticate(request):
        if before is None:
            sign(request)
        else:
            saved = (request.method, request.authority, request.url)
            before(request)
            sign(request)
            request.method, request.authority, request.url = saved
        if after is not None:
            after(request)
        return request
    return authenticate


LOGIN = LoginAuthenticator('root', KEY)
JWT = JWTAuthenticator('root', KEY)


@pytest.mark.parametrize('auth', [LOGIN, NonSecureAuthenticator('root', KEY),
                                  TokenIdentifier(TOKEN), JWT],
                         ids=['login', 'nonsecure', 'token', 'jwt'])
def test_accepted(server, auth):
    assert conn(server, auth).request('GET', '/vm/7').body == {'id': '7', 'by': 'root'}


def test_anonymous_accepted_only_where_allowed(make_napix_server, server):
    open_server = make_napix_server(require_auth=False)
    assert conn(open_server, AnonAuthenticator()).request('GET', '/echo').body['login'] is None
    assert status_of(server, AnonAuthenticator()) == 401
    assert status_of(server, None) == 401


@pytest.mark.parametrize('sign', [LOGIN, JWT], ids=['login', 'jwt'])
@pytest.mark.parametrize('change', [
    {'before': lambda r: setattr(r, 'url', '/vm/8')},
    {'after': lambda r: setattr(r, 'url', '/vm/8')},
    {'after': lambda r: setattr(r, 'url', '/vm/7?admin=1')},
    {'before': lambda r: setattr(r, 'method', 'DELETE')},
    {'before': lambda r: setattr(r, 'authority', 'other.napix.nx')},
], ids=['path-signed', 'path-sent', 'query-sent', 'method', 'host'])
def test_tampered_is_403(server, sign, change):
    assert status_of(server, tampered(sign, **change)) == 403
    assert server.requests == []  # refused before any handler


def test_wrong_key_unknown_user_bad_token_are_403(server):
    assert status_of(server, LoginAuthenticator('root', 'wrong')) == 403
    assert status_of(server, LoginAuthenticator('nobody', KEY)) == 403
    assert status_of(server, JWTAuthenticator('root', 'wrong')) == 403
    assert status_of(server, NonSecureAuthenticator('root', 'wrong')) == 403
    assert status_of(server, TokenIdentifier('not-the-token')) == 403


def test_tampered_signature_is_403(server):
    def flip(request):
        header = request.headers['Authorization']
        request.headers['Authorization'] = header[:-1] + ('0' if header[-1] != '0' else '1')
    assert status_of(server, tampered(LOGIN, after=flip)) == 403


def test_replayed_signature_is_403(server):
    saved = {}

    def replay(request):
        if 'header' not in saved:
            LOGIN(request)
            saved['header'] = request.headers['Authorization']
        request.headers['Authorization'] = saved['header']
        return request
    assert status_of(server, replay) == 200
    assert status_of(server, replay) == 403


@pytest.mark.parametrize('url', [
    '/vm/a%2Fb', '/vm/caf%C3%A9%20x?q=%C3%A9', '/vm/été', '/vm/a b?c=d e', '/vm/x?',
    '/vm/%25', '/vm/x?q=a:b&r=%3A', '/vm/x?q=?', '/vm/x?q=:0',
])
def test_signed_paths_with_escapes_and_non_ascii(server, url):
    server.route('GET', '/vm/{a}/{b}', lambda request, a, b: [a, b])
    for auth in (LOGIN, JWT):
        assert conn(server, auth).request('GET', url).status == 200


def test_signed_path_is_the_path_and_query_as_sent():
    # napixd compares the signed path with the raw PATH_INFO (still encoded).
    assert signed_path('/vm/caf%C3%A9%20x?q=%C3%A9') == '/vm/caf%C3%A9%20x?q=%C3%A9'
    assert signed_path('/a%2Fb') == '/a%2Fb'
    assert signed_path('/plain?x=1') == '/plain?x=1'
    assert signed_path('/empty?') == '/empty'  # napixd adds no '?' before an empty query
    assert signed_path('/q?a=?') == '/q?a=?'


def test_login_message_fields(server):
    request = conn(server, LOGIN).build_request('GET', '/vm/caf%C3%A9?q=1')
    LOGIN(request)
    msg, _, signature = request.headers['Authorization'].rpartition(':')
    assert msg.startswith('host=server.napix.nx&method=GET&path=%2Fvm%2Fcaf%25C3%25A9%3Fq%3D1'
                          '&login=root&nonce=')
    assert 'timestamp=' in msg
    assert len(signature) == 64 and signature == signature.lower()


def _nonces_of(auth, server, count):
    nonces = []
    for _ in range(count):
        request = conn(server, auth).build_request('GET', '/echo')
        msg = auth(request).headers['Authorization'].rpartition(':')[0]
        nonces.append(dict(pair.split('=', 1) for pair in msg.split('&'))['nonce'])
    return nonces


def test_login_nonces_are_unique_in_a_process_and_in_its_forked_children(server):
    # The authentication server refuses a nonce it has seen: a forked child
    # (a worker of a pre-forking server) must not repeat its parent's.
    nonces = _nonces_of(LOGIN, server, 1000)
    assert len(set(nonces)) == 1000
    assert all(len(nonce) >= 17 for nonce in nonces), nonces[:3]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its nonces, as the parent would go on
        try:
            os.write(write_end, ' '.join(_nonces_of(LOGIN, server, 100)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as pipe:
        children = pipe.read().decode().split()
    os.waitpid(pid, 0)
    parents = _nonces_of(LOGIN, server, 100)
    assert len(children) == 100
    assert not set(children) & (set(parents) | set(nonces))


@pytest.mark.parametrize('url, expected', [
    ('/echo', '/echo?token=root%3A'),
    ('/echo?a=1', '/echo?a=1&token=root%3A'),
    ('/echo?a=1&b=2', '/echo?a=1&b=2&token=root%3A'),
])
def test_nonsecure_appends_the_token(server, url, expected):
    auth = NonSecureAuthenticator('root', KEY)
    connection = conn(server, auth)
    response = connection.request('GET', url)
    assert response.request.url.startswith(expected)
    assert response.body['login'] == 'root'
    assert 'token' not in str(response.request)
    assert str(response.request) == 'GET server.napix.nx' + url
    query = response.body['query']
    assert query.pop('token')[0].startswith('root:')
    assert query == {k: [v] for k, v in (p.split('=') for p in url.partition('?')[2].split('&')
                                         if p)}


def test_nonsecure_token_hidden_from_errors(server):
    auth = NonSecureAuthenticator('root', KEY)
    token = auth._param.partition('=')[2]
    with pytest.raises(HTTPError) as info:
        conn(server, auth).request('GET', '/vm/missing?x=1')
    error = info.value
    assert error.remote_call == 'GET server.napix.nx/vm/missing?x=1'
    for text in (str(error), repr(error), error.remote_call, repr(error.request),
                 str(error.response.request)):
        assert token not in text and 'token=' not in text


def test_nonsecure_custom_parameter(make_napix_server):
    server = make_napix_server(nonsecure_parameter='auth')
    auth = NonSecureAuthenticator('root', 'toor', parameter='auth')
    response = conn(server, auth).request('GET', '/echo?token=1')
    assert response.body['login'] == 'root'
    assert response.body['query']['token'] == ['1']
    assert str(response.request) == 'GET server.napix.nx/echo?token=1'


def test_jwt_keeps_base64_padding(server):
    padded = 0
    for login, key in (('a', 'k1'), ('ab', 'k2'), ('abc', 'k3')):
        auth = JWTAuthenticator(login, key)
        response = conn(server, auth).request('GET', '/echo')
        assert response.body['login'] == login
        header, payload, signature = response.request.headers['Authorization'].split('.')
        for segment in (header, payload):
            assert len(segment) % 4 == 0
            base64.urlsafe_b64decode(segment.encode('ascii'))  # strict, as napixd
            padded += segment.endswith('=')
    assert padded  # the logins were chosen so that some segment needs padding


def test_token_wire_format(server):
    request = conn(server, None).build_request('GET', '/vm/1')
    assert TokenIdentifier(TOKEN)(request).headers['Authorization'] == 'Token ' + TOKEN


def test_no_secret_in_any_repr_or_str(server):
    auths = [LoginAuthenticator('root', KEY), NonSecureAuthenticator('root', KEY),
             TokenIdentifier(TOKEN), JWTAuthenticator('root', KEY)]
    for auth in auths:
        connection = conn(server, auth)
        response = connection.request('GET', '/vm/7?x=1')
        with pytest.raises(HTTPError) as info:
            connection.request('GET', '/vm/missing')
        error = info.value
        secrets = [KEY, TOKEN] + [value for value in (
            response.request.headers.get('Authorization', ''),
            response.request.headers.get('Authorization', '').rpartition(':')[2],
            response.request.headers.get('Authorization', '').rpartition('.')[2],
            error.request.headers.get('Authorization', ''),
            response.request.url.partition('token=')[2]) if value]
        clean_copy = pickle.loads(pickle.dumps(error))
        texts = [repr(auth), str(auth), repr(connection), str(connection),
                 repr(response), str(response), repr(response.request), str(response.request),
                 repr(error), str(error), error.remote_call, str(error.remote_error),
                 repr(error.request), str(clean_copy), repr(clean_copy.request.headers),
                 clean_copy.request.url]
        for text in texts:
            for secret in secrets:
                assert secret not in text, (auth, text)


@pytest.mark.parametrize('build', [
    lambda: LoginAuthenticator('', KEY), lambda: LoginAuthenticator('root', ''),
    lambda: LoginAuthenticator('root', None), lambda: LoginAuthenticator(None, KEY),
    lambda: NonSecureAuthenticator('root', KEY, parameter=''),
    lambda: TokenIdentifier(''), lambda: TokenIdentifier('a\r\nX-Evil: 1'),
    lambda: JWTAuthenticator('root', b''),
])
def test_bad_credentials_are_refused_at_construction(build):
    with pytest.raises(ValueError):
        build()


def test_from_credentials():
    auth = from_credentials({'login': 'root', 'key': KEY})
    assert isinstance(auth, LoginAuthenticator) and auth.login == 'root'
    assert from_credentials(LOGIN) is LOGIN
    with pytest.raises(ValueError, match="'key'"):
        from_credentials({'login': 'root'})
    with pytest.raises(ValueError, match='expected an authenticator'):
        from_credentials('root:toor')
