"""The ``napix`` command's TLS options (curl's names) against real TLS
servers on 127.0.0.1, whose certificates the throwaway CA of conftest's
``pki`` issued; one requires a client certificate of that CA."""

import re
import subprocess as blocking

import pytest
from test_cli import AUTH, napix, user_env

from napixd.testing import NapixServer


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


def _server(**options):
    server = NapixServer(users={'root': 'toor'}, **options)
    server.route('GET', '/vm/{id}', lambda request, id: {'id': id, 'by': request.login})
    return server.start()


@pytest.fixture
def tls_server(pki):
    server = _server(certfile=pki / 'server.pem')
    yield server
    server.stop()


@pytest.fixture
def mtls_server(pki):
    server = _server(certfile=pki / 'server.pem', client_ca=pki / 'ca.pem')
    yield server
    server.stop()


def get(server, options, env):
    return napix(options + ['GET', '/vm/3', server.host, '--json'] + AUTH, env, timeout=30)


def test_cacert_verifies_the_server(tls_server, pki, cli_env):
    assert tls_server.host.startswith('https://127.0.0.1:')
    run = get(tls_server, ['--cacert', str(pki / 'ca.pem')], cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body'] == {'id': '3', 'by': 'root'}
    assert run.err == ''


def test_an_unknown_ca_is_refused_by_default(tls_server, cli_env):
    run = get(tls_server, [], cli_env)
    assert run.status == 1, run
    error = run.lines[0]['error']
    assert 'TLS handshake' in error and 'certificate' in error, run
    assert tls_server.requests == []


@pytest.mark.parametrize('variable', ['SSL_CERT_FILE', 'SSL_CERT_DIR'])
def test_the_openssl_environment_variables_work(tls_server, pki, cli_env, variable, tmp_path):
    if variable == 'SSL_CERT_FILE':
        value = str(pki / 'ca.pem')
    else:
        hashed = blocking.run(['openssl', 'x509', '-hash', '-noout', '-in', str(pki / 'ca.pem')],
                              capture_output=True, text=True, timeout=10, check=True).stdout
        (tmp_path / (hashed.strip() + '.0')).write_bytes((pki / 'ca.pem').read_bytes())
        value = str(tmp_path)
    run = get(tls_server, [], dict(cli_env, **{variable: value}))
    assert run.status == 0, run
    assert run.lines[0]['body']['id'] == '3'


def test_insecure_verifies_nothing_and_says_so_once(tls_server, cli_env):
    for option in ('-k', '--insecure'):
        run = get(tls_server, [option], cli_env)
        assert run.status == 0, run
        assert run.lines[0]['body']['by'] == 'root'
        assert run.err == ("napix: warning: --insecure: the servers' certificates are not "
                           "verified\n")


@pytest.mark.parametrize('cert', [['--cert', 'client.pem'],
                                  ['--cert', 'client.crt', '--cert-key', 'client.key']],
                         ids=['one-file', 'cert-and-key'])
def test_client_certificate(mtls_server, pki, cli_env, cert):
    cacert = ['--cacert', str(pki / 'ca.pem')]
    refused = get(mtls_server, cacert, cli_env)
    assert refused.status == 1, refused
    error = refused.lines[0]['error']
    assert 'the server requires a client certificate' in error, refused
    assert '--cert FILE' in error and 'cert=' not in error, refused
    assert mtls_server.requests == []
    options = cacert + [str(pki / word) if word.startswith('client') else word for word in cert]
    run = get(mtls_server, options, cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body'] == {'id': '3', 'by': 'root'}
    assert [request[0] for request in mtls_server.requests] == ['root']


@pytest.mark.parametrize('options, message', [
    (['--cacert', '/missing.pem'],
     "--cacert: CA bundle '/missing.pem' cannot be read (No such file or directory)"),
    (['--cert', '/missing/client.pem'],
     "--cert: client certificate '/missing/client.pem' cannot be read (No such file or "
     "directory)"),
    (['--cert', '{pki}/client.crt', '--cert-key', '/missing.key'],
     "--cert-key: client key '/missing.key' cannot be read (No such file or directory)"),
    (['--cert', '{pki}/ca.pem'],
     "--cert: cannot use client certificate '{pki}/ca.pem' with its key: PEM certificate "
     "and matching private key expected"),
    (['--cert-key', '{pki}/client.key'], '--cert-key needs --cert'),
    (['-k', '--cacert', '{pki}/ca.pem'],
     '--insecure verifies nothing: give it or --cacert, not both'),
])
def test_unusable_tls_options_are_usage_errors(pki, cli_env, options, message):
    options = [word.format(pki=pki) for word in options]
    run = napix(options + ['GET', '/', 'https://127.0.0.1:1'] + AUTH, cli_env, timeout=30)
    assert run.status == 2, run
    assert run.err.startswith('napix: error: ' + message.format(pki=pki)), run
    assert 'Traceback' not in run.err and 'PRIVATE KEY' not in run.err


def test_help_lists_the_tls_options_and_variables(cli_env):
    run = napix(['--help'], dict(cli_env, COLUMNS='100'))
    assert run.status == 0, run
    for text in ('--cacert FILE', '-k, --insecure', '--cert FILE', '--cert-key FILE',
                 'SSL_CERT_FILE', 'SSL_CERT_DIR'):
        assert text in run.out, text



def test_a_server_that_requires_a_client_certificate_is_told_to_need_cert(mtls_server, pki,
                                                                         cli_env):
    # Under TLS 1.3 the server's alert may be lost to its closing the socket
    # (an EOF): twenty handshakes in one run, each of which must say so.
    run = napix(['--cacert', str(pki / 'ca.pem'), 'GET', '/vm/3', '--simultaneous', '20'] +
                [mtls_server.host] * 20 + AUTH, cli_env, timeout=60)
    assert run.status == 1, run
    errors = [line['error'] for line in run.lines]
    told = [error for error in errors
            if re.search('client certificate|certificate.required', error, re.I)]
    assert len(told) == 20, errors
    for error in told:
        assert '--cert' in error, error


@pytest.mark.parametrize('cause', [
    'TLS handshake with 127.0.0.1:8002 failed: the server requires a client certificate '
    '(give one with cert=)',
    'TLS handshake with 127.0.0.1:8002 failed ([SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] '
    'tlsv13 alert certificate required)',
    'socket error ([SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate '
    'required (_ssl.c:2580))',
])
def test_the_command_names_cert_whatever_the_library_wording(cause):
    from napix.exceptions import ConnectError, RemoteProtocolError
    from napixd.cli.outcome import describe_error

    for kind in (ConnectError, RemoteProtocolError):
        text = describe_error(kind(None, cause))
        assert text.startswith(cause.split(' (')[0]) and '--cert FILE' in text, text
    assert '--cert' not in describe_error(ConnectError(None, 'connection refused by x:1'))
