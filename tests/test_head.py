"""napix.transports.head on its own: the rules of a response head, on bytes."""

import pytest

from napix.models import new_request, new_response
from napix.transports.head import (LimitExceeded, Limits, bytes_after_head, check_heads,
                                   delimited_by_close, final_head, reason_phrase,
                                   response_too_large, skip_heads)

LIMITS = Limits(1 << 20, 8192, 8192, 100)
CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'
OK_HEAD = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'


# Limits

def test_limits_say_what_they_hold():
    limits = Limits(1000, 200, 100, 10)
    assert (limits.max_response_size, limits.max_head_size, limits.max_header_line,
            limits.max_header_fields) == (1000, 200, 100, 10)
    assert repr(limits) == ('<Limits max_response_size=1000 max_head_size=200 '
                            'max_header_line=100 max_header_fields=10>')


@pytest.mark.parametrize('head, line, fields, unchecked', [
    (8192, 8192, 100, 404),   # 4 bytes a field at least: the fields bound it
    (8192, 50, 100, 50),      # the line bounds it
    (30, 8192, 100, 30),      # the head bounds it
])
def test_a_head_under_unchecked_is_within_every_limit(head, line, fields, unchecked):
    assert Limits(1 << 20, head, line, fields).unchecked == unchecked


# final_head

def test_final_head_is_the_text_up_to_the_last_crlf():
    assert final_head(OK_HEAD + b'ok', 0, LIMITS) == 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'


def test_final_head_skips_the_informational_heads():
    received = CONTINUE + CONTINUE + OK_HEAD + b'ok'
    assert final_head(received, 2, LIMITS).startswith('HTTP/1.1 200 OK\r\n')


def test_final_head_of_an_incomplete_head_is_what_came():
    # Cut short (the connection ended it): all of it.
    assert final_head(b'HTTP/1.1 200 OK\r\nA: b', 0, LIMITS) == 'HTTP/1.1 200 OK\r\nA: b'


def test_final_head_reads_latin_1():
    assert 'caf\xe9' in final_head(b'HTTP/1.1 200 OK\r\nX: caf\xe9\r\n\r\n', 0, LIMITS)


def test_final_head_over_max_head_size_is_refused():
    head = b'HTTP/1.1 200 OK\r\n' + b'X: y\r\n' * 20 + b'\r\n'
    with pytest.raises(LimitExceeded, match=r'head is larger than 64 bytes \(max_head_size\)'):
        final_head(head, 0, Limits(1 << 20, 64, 8192, 100))


def test_final_head_with_a_line_over_max_header_line_is_refused():
    head = b'HTTP/1.1 200 OK\r\nX: ' + b'y' * 100 + b'\r\n\r\n'
    with pytest.raises(LimitExceeded, match=r'longer than 50 bytes \(max_header_line\)'):
        final_head(head, 0, Limits(1 << 20, 8192, 50, 100))


def test_final_head_with_too_many_fields_is_refused():
    head = b'HTTP/1.1 200 OK\r\n' + b'X: y\r\n' * 4 + b'\r\n'
    with pytest.raises(LimitExceeded, match=r'more than 3 header fields \(max_header_fields\)'):
        final_head(head, 0, Limits(1 << 20, 8192, 8192, 3))
    assert final_head(head, 0, Limits(1 << 20, 8192, 8192, 4)).count('X: y') == 4


def test_a_head_exactly_at_its_limits_is_taken():
    head = b'HTTP/1.1 200 OK\r\nX: y\r\n\r\n'
    size = len(head) - 4  # up to its blank line
    assert final_head(head, 0, Limits(1 << 20, size, 15, 1)) == head[:-2].decode()


# check_heads

def test_check_heads_drops_the_informational_heads_and_joins_in_place():
    received = CONTINUE + b'HTTP/1.1 200 OK\r\n'
    checked = check_heads(received, 1, LIMITS)
    assert isinstance(checked, bytearray) and checked == b'HTTP/1.1 200 OK\r\n'


def test_check_heads_refuses_any_head_over_the_limit_complete_or_not():
    limits = Limits(1 << 20, 30, 8192, 100)
    with pytest.raises(LimitExceeded, match='max_head_size'):
        check_heads(b'HTTP/1.1 100 Continue\r\nX: ' + b'y' * 40 + b'\r\n\r\n', 0, limits)
    with pytest.raises(LimitExceeded, match='max_head_size'):
        check_heads(b'HTTP/1.1 200 OK\r\nX: ' + b'y' * 40, 0, limits)


@pytest.mark.parametrize('tail', [b'\r', b'\r\n', b'\r\n\r'])
def test_check_heads_does_not_count_the_first_bytes_of_the_end_of_a_head(tail):
    head = b'a' * 30 + tail  # 30 bytes, then the beginning of its CRLFCRLF
    assert check_heads(head, 0, Limits(1 << 20, 30, 8192, 100)) == head
    with pytest.raises(LimitExceeded):
        check_heads(head, 0, Limits(1 << 20, 29, 8192, 100))


def test_skip_heads_says_where_the_next_head_starts():
    limits = Limits(1 << 20, 8192, 8192, 100)
    assert skip_heads(CONTINUE * 3 + OK_HEAD, 3, limits) == len(CONTINUE) * 3
    assert skip_heads(OK_HEAD, 0, limits) == 0


def test_skip_heads_checks_the_heads_it_skips():
    long_continue = b'HTTP/1.1 100 Continue\r\nX: ' + b'v' * 300 + b'\r\n\r\n'
    with pytest.raises(LimitExceeded) as raised:
        skip_heads(long_continue + OK_HEAD, 1, Limits(1 << 20, 200, 8192, 100))
    assert 'max_head_size' in str(raised.value)


# bytes_after_head

@pytest.mark.parametrize('received, after', [
    (OK_HEAD, False),
    (OK_HEAD + b'x', True),
    (OK_HEAD + OK_HEAD, True),  # a second head
])
def test_bytes_after_head(received, after):
    assert bytes_after_head(received) is after


# delimited_by_close

@pytest.mark.parametrize('head, by_close', [
    ('HTTP/1.1 200 OK\r\n', True),
    ('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n', False),
    ('HTTP/1.1 200 OK\r\ncontent-length:5\r\n', False),
    ('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n', False),
    ('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED \r\n', False),
    ('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n', True),  # chunked not last
    ('HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n', True),  # another header's name
    ('HTTP/1.1 200 OK\r\nX: Content-Length: 5\r\n', True),  # a value, not a header
])
def test_delimited_by_close_reads_the_framing_headers(head, by_close):
    assert delimited_by_close(head) is by_close


# The fields of a head

@pytest.mark.parametrize('head, reason', [
    ('HTTP/1.1 200 OK\r\n', 'OK'),
    ('HTTP/1.1 404 Not Found\r\nX: a b\r\n', 'Not Found'),
    ('HTTP/1.1 200\r\nX: a b\r\n', ''),
    ('HTTP/1.1 200 \r\n', ''),
    ('HTTP/1.0 599 Some  spaces \r\n', 'Some  spaces '),
])
def test_reason_phrase_is_the_status_line_after_its_status(head, reason):
    assert reason_phrase(head) == reason


@pytest.mark.parametrize('head, value', [
    ('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n', 'application/json'),
    ('HTTP/1.1 200 OK\r\ncontent-type:text/plain \t\r\n', 'text/plain'),
    ('HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Type: b\r\n', 'a, b'),
    ('HTTP/1.1 200 OK\r\n', ''),
])
def test_content_type_is_found_and_joined(head, value):
    # A response read from its head finds it there at once (napix.models).
    request = new_request('GET', 'h', 'h', '/', None, None, None)
    assert new_response(200, head, b'', request, 0.1).content_type() == value


def test_response_too_large_names_its_limit():
    error = response_too_large(Limits(1234, 8192, 8192, 100))
    assert isinstance(error, LimitExceeded)
    assert str(error) == 'the response is larger than 1234 bytes (max_response_size)'


def test_there_is_one_public_response_too_large():
    import napix.transports.head as head
    assert not hasattr(head, 'ResponseTooLarge')
