"""The library's TLS options against real TLS servers on 127.0.0.1.

The throwaway CA of conftest's ``pki`` issues the servers' certificates
(used here as ``server.napix.nx``, routed to 127.0.0.1) and a client
certificate; one server requires a client certificate issued by that CA.
"""

import shutil
import ssl
import subprocess

import gevent.ssl as gssl
import pytest

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection
from napix.exceptions import ConnectError
from napix.tls import TLSConfigError, client_context, context_key
from napixd.client import Client, ClientPool
from napixd.testing import NapixServer

AUTH = LoginAuthenticator('root', 'toor')
HOST = 'https://server.napix.nx'


def _server(**options):
    server = NapixServer(users={'root': 'toor'}, max_concurrent=None, **options)
    server.route('GET', '/vm/{id}', lambda request, id: {'id': id, 'by': request.login})
    return server.start()


@pytest.fixture(scope='module')
def tls_server(pki):
    server = _server(certfile=pki / 'server.pem')
    yield server
    server.stop()


@pytest.fixture(scope='module')
def mtls_server(pki):
    server = _server(certfile=pki / 'server.pem', client_ca=pki / 'ca.pem')
    yield server
    server.stop()


def routes(server):
    return {'server.napix.nx': server.address}


def get(server, **options):
    conn = Connection(HOST, AUTH, timeout=5, resolve=routes(server), **options)
    try:
        return conn.request('GET', '/vm/7').body
    finally:
        conn.close()


def test_server_host_says_https(tls_server):
    assert tls_server.host == 'https://' + tls_server.address
    assert tls_server.address.startswith('127.0.0.1:')


def test_verify_accepts_a_pathlib_path(tls_server, pki):
    assert get(tls_server, verify=pki / 'ca.pem') == {'id': '7', 'by': 'root'}


def test_verify_accepts_a_directory(tls_server, pki, tmp_path):
    # A CA directory as ``openssl rehash`` prepares it: <subject hash>.0
    if shutil.which('openssl') is None:
        pytest.skip('no openssl command to compute the subject hash')
    hashed = subprocess.run(['openssl', 'x509', '-hash', '-noout', '-in', str(pki / 'ca.pem')],
                            capture_output=True, text=True, timeout=10, check=True).stdout
    (tmp_path / (hashed.strip() + '.0')).write_text((pki / 'ca.pem').read_text())
    assert get(tls_server, verify=tmp_path)['id'] == '7'


def test_verify_accepts_an_ssl_context(tls_server, pki):
    standard = ssl.create_default_context(cafile=str(pki / 'ca.pem'))
    assert get(tls_server, verify=standard)['by'] == 'root'
    cooperative = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cooperative.load_verify_locations(cafile=str(pki / 'ca.pem'))
    assert get(tls_server, verify=cooperative)['by'] == 'root'
    assert client_context(cooperative) is cooperative


def test_a_context_that_trusts_nothing_refuses_the_server(tls_server):
    with pytest.raises(ConnectError, match='TLS handshake'):
        get(tls_server, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_a_missing_ca_bundle_is_named():
    with pytest.raises(ValueError) as info:
        Connection(HOST, AUTH, verify='/missing.pem')
    assert str(info.value) == ("verify: CA bundle '/missing.pem' cannot be read "
                               "(No such file or directory)")
    assert not isinstance(info.value, OSError)


def test_a_ca_bundle_that_is_not_pem_is_named(tmp_path):
    (tmp_path / 'ca.pem').write_text('not a certificate\n')
    with pytest.raises(TLSConfigError, match=r"verify: CA bundle '.*ca\.pem' holds no usable"):
        Connection(HOST, AUTH, verify=tmp_path / 'ca.pem')


@pytest.mark.parametrize('verify, cert, expected', [
    (1, None, 'verify must be True, False, the path to a CA bundle'),
    (b'/ca.pem', None, 'not bytes'),
    (True, 42, 'cert must be None, the path to a PEM file'),
    (True, ('a.pem',), 'not a tuple of 1'),
    (True, ('a.pem', 7), 'not int'),
])
def test_wrong_types_say_what_is_expected(verify, cert, expected):
    with pytest.raises(TypeError, match=expected.replace('(', r'\(')):
        Connection(HOST, AUTH, verify=verify, cert=cert)


def test_cert_does_not_go_with_a_context(pki):
    with pytest.raises(ValueError, match='load the client certificate into that context'):
        Connection(HOST, AUTH, verify=ssl.create_default_context(), cert=pki / 'client.pem')


def test_the_mtls_server_refuses_a_client_without_certificate(mtls_server, pki, capfd):
    before = mtls_server._server.failed_handshakes
    # Under TLS 1.3 the client learns it on its first read, after its handshake:
    # the server's alert, or its closing right after it. Said in words.
    with pytest.raises(ConnectError, match=r'TLS handshake with 127\.0\.0\.1:\d+ failed: the '
                       r'server requires a client certificate \(give one with cert=\)'):
        get(mtls_server, verify=pki / 'ca.pem')
    assert mtls_server.requests == []
    assert mtls_server._server.failed_handshakes == before + 1
    # An expected refusal: no traceback from the server's hub.
    err = capfd.readouterr().err
    assert 'Traceback' not in err and 'SSLError' not in err, err


def test_under_tls_1_2_a_missing_client_certificate_is_named_too(mtls_server, pki):
    # TLS 1.2 refuses it in the handshake, with a 'handshake failure' alert.
    context = ssl.create_default_context(cafile=str(pki / 'ca.pem'))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ConnectError, match=r'the server refused the handshake: handshake '
                       r'failure \(no common protocol or cipher, or the server requires a '
                       r'client certificate: give one with cert=\)'):
        get(mtls_server, verify=context)
    assert mtls_server.requests == []


def test_the_mtls_server_refuses_a_certificate_of_another_ca(mtls_server, pki):
    with pytest.raises(ConnectError, match='the server refused the handshake: (unknown CA|it '
                       'closed the connection)'):
        get(mtls_server, verify=pki / 'ca.pem', cert=pki / 'other.pem')
    assert mtls_server.requests == []



@pytest.mark.parametrize('cert', ['client.pem', ('client.crt', 'client.key')])
def test_connection_presents_a_client_certificate(mtls_server, pki, cert):
    cert = pki / cert if isinstance(cert, str) else (pki / cert[0], str(pki / cert[1]))
    assert get(mtls_server, verify=pki / 'ca.pem', cert=cert) == {'id': '7', 'by': 'root'}


def test_client_presents_a_client_certificate(mtls_server, pki):
    client = Client(HOST, {'login': 'root', 'key': 'toor'}, verify=str(pki / 'ca.pem'),
                    cert=(str(pki / 'client.crt'), pki / 'client.key'),
                    resolve=routes(mtls_server), timeout=5)
    assert client.request('GET', '/vm/8').body['id'] == '8'


def test_client_pool_presents_a_client_certificate(mtls_server, pki):
    with ClientPool(AUTH, verify=pki / 'ca.pem', cert=pki / 'client.pem',
                    resolve=routes(mtls_server), timeout=5) as pool:
        for n in range(3):
            pool.request(HOST, 'GET', '/vm/{0}'.format(n))
        results = pool.wait()
    assert [r.body['id'] for r in results] == ['0', '1', '2']


def test_client_pool_checks_the_files_when_made(pki):
    with pytest.raises(ValueError, match=r"cert: client key '/missing\.key' cannot be read"):
        ClientPool(AUTH, cert=(pki / 'client.crt', '/missing.key'))


@pytest.mark.parametrize('cert, message', [
    ('/nowhere/client.pem', "cert: client certificate '/nowhere/client.pem' cannot be read"),
    ('ca.pem', r"cert: cannot use client certificate '.*ca\.pem' with its key"),
    (('client.crt', 'other.pem'), r"cert: cannot use client certificate .* with key"),
])
def test_unusable_client_certificates_are_named(pki, cert, message):
    cert = (pki / cert[0], pki / cert[1]) if isinstance(cert, tuple) else pki / cert
    with pytest.raises(TLSConfigError, match=message) as info:
        Connection(HOST, AUTH, verify=pki / 'ca.pem', cert=cert)
    assert 'PRIVATE KEY' not in str(info.value)


def test_an_encrypted_key_is_refused_without_prompting(pki, tmp_path):
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key((pki / 'client.key').read_bytes(), None)
    (tmp_path / 'locked.key').write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b'secret')))
    with pytest.raises(TLSConfigError, match="the key in '.*locked.key' is encrypted"):
        Connection(HOST, AUTH, cert=(pki / 'client.crt', tmp_path / 'locked.key'))


def test_context_key_tells_interchangeable_sockets(pki):
    assert context_key(pki / 'ca.pem') == context_key(str(pki / 'ca.pem'))
    assert context_key(True, pki / 'client.pem') != context_key(True)
    assert context_key(True, pki / 'client.pem') != context_key(False, pki / 'client.pem')
    hash(context_key(ssl.create_default_context()))
    assert client_context(pki / 'ca.pem') is client_context(str(pki / 'ca.pem'))
