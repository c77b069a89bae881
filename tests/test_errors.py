"""napix.transports.errors on its own: each failure of a transport, its
library error and its one message (the live-server suites check that each
transport raises them: test_transports, live/test_hostile, test_tls*)."""

import socket
import ssl

import pytest

from napix.exceptions import ConnectError, RemoteProtocolError, ResponseTooLarge, Timeout
from napix.models import Request
from napix.transports import errors
from napix.transports.head import LimitExceeded
from napix.transports.http11 import InvalidResponse, ServerClosed

REQUEST = Request('GET', 'server.napix.nx', 'server.napix.nx', '/vm/7')


def alert(reason):
    error = ssl.SSLError(1, '[SSL: {0}] alert'.format(reason))
    error.reason = reason
    return error


def test_a_failure_is_its_error_and_message():
    error = errors.REFUSED(REQUEST, target='127.0.0.1:80')
    assert type(error) is ConnectError
    assert str(error) == 'GET server.napix.nx/vm/7 failed: connection refused by 127.0.0.1:80'
    assert 'REFUSED' not in repr(errors.REFUSED) and 'ConnectError' in repr(errors.REFUSED)


def test_target_brackets_an_ipv6_address():
    assert errors.target('::1', 443) == '[::1]:443'
    assert errors.target('10.0.0.1', 80) == '10.0.0.1:80'


@pytest.mark.parametrize('reason, name', [
    ('TLSV13_ALERT_CERTIFICATE_REQUIRED', 'CERTIFICATE_REQUIRED'),
    ('TLSV1_ALERT_UNKNOWN_CA', 'UNKNOWN_CA'),
    ('SSLV3_ALERT_HANDSHAKE_FAILURE', 'HANDSHAKE_FAILURE'),
    ('CERTIFICATE_VERIFY_FAILED', None),  # ours, not the server's
])
def test_tls_alert_names_the_servers_alert(reason, name):
    assert errors.tls_alert(alert(reason)) == name
    assert errors.tls_alert(OSError('no')) is None


@pytest.mark.parametrize('translate', [
    lambda error: errors.connect_failure(REQUEST, error, '127.0.0.1', 443, 5),
    lambda error: errors.exchange_failure(REQUEST, error, '127.0.0.1', 443, 5),
])
def test_a_required_client_certificate_is_said_in_words(translate):
    error = translate(alert('TLSV13_ALERT_CERTIFICATE_REQUIRED'))
    assert type(error) is ConnectError
    assert error.message == ('GET server.napix.nx/vm/7 failed: TLS handshake with '
                             '127.0.0.1:443 failed: the server requires a client certificate '
                             '(give one with cert=)')


def test_other_alerts_are_said_in_words():
    error = errors.connect_failure(REQUEST, alert('TLSV1_ALERT_UNKNOWN_CA'), '127.0.0.1', 443, 5)
    assert type(error) is ConnectError
    assert 'the server refused the handshake: unknown CA' in error.message
    error = errors.connect_failure(REQUEST, alert('TLSV1_ALERT_DECODE_ERROR'), 'h', 443, 5)
    assert 'the server refused the handshake: decode error' in error.message


def test_an_end_of_stream_right_after_a_handshake_is_a_refusal():
    eof = ssl.SSLEOFError(8, 'EOF occurred in violation of protocol')
    without = errors.exchange_failure(REQUEST, eof, '127.0.0.1', 443, 5, fresh_tls=True)
    assert type(without) is ConnectError
    assert 'the server requires a client certificate (give one with cert=)' in without.message
    given = errors.exchange_failure(REQUEST, eof, '127.0.0.1', 443, 5, fresh_tls=True,
                                    has_cert=True)
    assert 'the server refused the handshake: it closed the connection' in given.message
    # On a socket that served before, it is the exchange that failed.
    later = errors.exchange_failure(REQUEST, eof, '127.0.0.1', 443, 5)
    assert type(later) is RemoteProtocolError and 'socket error' in later.message


@pytest.mark.parametrize('error, kind, text', [
    (socket.timeout(), Timeout, 'no complete response within 5 s (from 127.0.0.1:443)'),
    (ServerClosed(0, 'the server closed the connection before answering'),
     RemoteProtocolError, 'the server closed the connection before answering'),
    (LimitExceeded('the response head is larger than 10 bytes (max_head_size)'),
     ResponseTooLarge, 'larger than 10 bytes (max_head_size)'),
    (InvalidResponse('bad status'), RemoteProtocolError, 'invalid HTTP response (bad status)'),
    (ConnectionResetError(104, 'Connection reset by peer'), RemoteProtocolError,
     'socket error (Connection reset by peer)'),
])
def test_exchange_failures(error, kind, text):
    translated = errors.exchange_failure(REQUEST, error, '127.0.0.1', 443, 5)
    assert type(translated) is kind and text in translated.message


@pytest.mark.parametrize('error, kind, text', [
    (socket.timeout(), Timeout, 'could not connect to 127.0.0.1:443 within 5 s'),
    (ConnectionRefusedError(111, 'refused'), ConnectError, 'connection refused by 127.0.0.1:443'),
    (socket.gaierror(-2, 'Name or service not known'), ConnectError,
     'cannot resolve 127.0.0.1 (Name or service not known)'),
    (OSError(24, 'Too many open files'), ConnectError, 'no descriptor left'),
    (OSError(113, 'No route to host'), ConnectError, 'cannot connect to 127.0.0.1:443 (No route'),
])
def test_connect_failures(error, kind, text):
    translated = errors.connect_failure(REQUEST, error, '127.0.0.1', 443, 5)
    assert type(translated) is kind and text in translated.message


def test_what_is_not_a_transport_failure_passes_through():
    for error in (KeyboardInterrupt(), ValueError('a bug')):
        assert errors.connect_failure(REQUEST, error, 'h', 1, 5) is error
        assert errors.exchange_failure(REQUEST, error, 'h', 1, 5) is error


def test_a_handshake_failure_without_a_client_certificate_names_it_as_a_cause():
    failure = alert('SSLV3_ALERT_HANDSHAKE_FAILURE')
    without = errors.connect_failure(REQUEST, failure, 'h', 443, 5, has_cert=False)
    assert 'or the server requires a client certificate: give one with cert=' in without.message
    given = errors.connect_failure(REQUEST, failure, 'h', 443, 5, has_cert=True)
    assert given.message.endswith('the server refused the handshake: handshake failure '
                                  '(no common protocol or cipher)')
