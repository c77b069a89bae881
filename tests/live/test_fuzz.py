"""Fuzzing the response handling: whatever bytes a server sends, the client
returns a Response or raises an HTTPError, nothing else, and never hangs."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection, Response
from napix.exceptions import HTTPError
from napixd.faults import FaultServer

AUTH = LoginAuthenticator('root', 'toor')
TIMEOUT = (1, 1)


def valid(status, headers, body):
    head = 'HTTP/1.1 {0}\r\n'.format(status) + ''.join(h + '\r\n' for h in headers)
    if body is not None:
        head += 'Content-Length: {0}\r\n'.format(len(body))
    return head.encode('latin-1') + b'\r\n' + (body or b'')


VALID = [
    valid('200 OK', ['Content-Type: application/json'], '{"id": "café"}'.encode('utf-8')),
    b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=latin-1\r\n'
    b'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    valid('404 Not Found', ['Content-Type: text/plain'], b'`10` not found'),
    valid('500 Internal Server Error', ['Content-Type: application/json'],
          b'{"error_class": "KeyError", "error_text": "x", "traceback": []}'),
    b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2, 3]',
    valid('429 Too Many Requests', ['Retry-After: 1'], b''),
    valid('204 No Content', [], None),
]


@pytest.fixture(scope='module')
def raw_server():
    with FaultServer('raw', history=False) as server:
        yield server


def exchange(server, data, method):
    """Have *server* answer *data*; return what the client made of it."""
    server.raw_response = data
    connection = Connection(server.host, AUTH, timeout=TIMEOUT, max_response_size=100000)
    started = time.monotonic()
    try:
        result = connection.request(method, '/fuzz', {'a': 1} if method == 'POST' else None)
    except HTTPError as error:
        result = error
        assert str(error).startswith('{0} {1}/fuzz failed: '.format(method, server.host))
    finally:
        connection.close()
    assert time.monotonic() - started < TIMEOUT[0] + TIMEOUT[1] + 1
    assert isinstance(result, (Response, HTTPError)), repr(result)
    if isinstance(result, Response):
        assert 100 <= result.status < 400
    return result


methods = st.sampled_from(['GET', 'HEAD', 'POST', 'DELETE'])
fuzz_settings = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz_settings
@given(data=st.binary(max_size=3000), method=methods)
def test_random_bytes(raw_server, data, method):
    exchange(raw_server, data, method)


@fuzz_settings
@given(data=st.binary(max_size=300), method=methods)
def test_random_bytes_after_a_status_line(raw_server, data, method):
    exchange(raw_server, b'HTTP/1.1 200 OK\r\n' + data, method)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(['flip', 'insert', 'delete', 'truncate', 'repeat']))
        if operation == 'flip':
            data[at] = draw(st.integers(0, 255))
        elif operation == 'insert':
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif operation == 'delete':
            del data[at:at + draw(st.integers(1, 10))]
        elif operation == 'truncate':
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 40))] * draw(st.integers(1, 50))
    return bytes(data)


@fuzz_settings
@given(data=mutated(), method=methods)
def test_mutated_valid_responses(raw_server, data, method):
    exchange(raw_server, data, method)


@pytest.mark.parametrize('data', VALID)
def test_the_valid_responses_are_understood(raw_server, data):
    result = exchange(raw_server, data, 'GET')
    status = int(data.split(b' ')[1])
    if status < 400:
        assert isinstance(result, Response) and result.status == status
    else:
        assert type(result) is HTTPError and result.status == status


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.one_of(st.integers(-10, 10 ** 30).map(str),
                        st.text(max_size=20).map(lambda t: t.replace('\r', '').replace('\n', ''))),
       body=st.binary(max_size=50))
def test_any_content_length(raw_server, length, body):
    head = 'HTTP/1.1 200 OK\r\nContent-Length: {0}\r\n\r\n'.format(length)
    exchange(raw_server, head.encode('utf-8') + body, 'GET')


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters='\x7f'),
                      max_size=40)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content_type=st.one_of(header_text, header_text.map(lambda t: 'text/plain; charset=' + t),
                              header_text.map(lambda t: 'application/json; ' + t)),
       status=st.integers(100, 999), body=st.binary(max_size=50))
def test_any_status_and_content_type(raw_server, content_type, status, body):
    head = 'HTTP/1.1 {0} X\r\nContent-Type: {1}\r\nContent-Length: {2}\r\n\r\n'.format(
        status, content_type, len(body))
    exchange(raw_server, head.encode('latin-1') + body, 'GET')
