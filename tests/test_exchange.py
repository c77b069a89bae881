"""napix.transports.exchange on its own: the parser's state as bytes come,
fed by hand to a real httptools parser (no socket)."""

import gevent
import pytest
from httptools import HttpParserError

from napix.transports.exchange import (AWAITING_HEAD, COMPLETE, HEAD_COMPLETE, Progress,
                                       Spares, TimedOut, TrailingData, new_exchange)

OK = b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'


@pytest.fixture
def exchange():
    state = new_exchange(gevent.get_hub().loop, 5.0)
    parser = state.parser
    state.begin(False, 5.0)
    yield parser, state
    state.timer.close()
    state.parser = None


def test_progress_is_named_and_ordered():
    assert Progress.AWAITING_HEAD < Progress.HEAD_COMPLETE < Progress.COMPLETE
    assert (AWAITING_HEAD, HEAD_COMPLETE, COMPLETE) == (0, 1, 2)


def test_a_response_goes_from_awaiting_its_head_to_complete(exchange):
    parser, state = exchange
    assert state.progress == AWAITING_HEAD
    parser.feed_data(OK[:20])
    assert state.progress == AWAITING_HEAD
    parser.feed_data(OK[20:-3])
    assert (state.progress, state.status) == (HEAD_COMPLETE, 200)
    parser.feed_data(OK[-3:])
    assert (state.progress, state.keep_alive, state.body) == (COMPLETE, True, b'hello')


def test_a_body_in_pieces_is_joined(exchange):
    parser, state = exchange
    parser.feed_data(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
    for piece in (b'2\r\nab\r\n', b'3\r\ncde\r\n', b'0\r\n\r\n'):
        parser.feed_data(piece)
    assert state.progress == COMPLETE and bytes(state.body) == b'abcde'


def test_informational_heads_are_counted_and_the_final_one_awaited(exchange):
    parser, state = exchange
    parser.feed_data(b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n')
    assert (state.progress, state.status, state.informational) == (AWAITING_HEAD, 102, 2)
    parser.feed_data(OK)
    assert (state.progress, state.status, state.body) == (COMPLETE, 200, b'hello')


def test_connection_close_says_the_socket_is_not_kept(exchange):
    parser, state = exchange
    parser.feed_data(b'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    assert (state.progress, state.keep_alive) == (COMPLETE, False)


def test_a_head_response_is_complete_with_its_head(exchange):
    parser, state = exchange
    state.begin(True, 5.0)
    parser.feed_data(b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n')
    assert (state.progress, state.keep_alive, state.body) == (COMPLETE, True, None)


def test_bytes_after_a_complete_response_are_trailing_data(exchange):
    parser, state = exchange
    # on_message_begin raises TrailingData: the parser stops there.
    with pytest.raises(HttpParserError):
        parser.feed_data(OK + b'HTTP/1.1 200 OK\r\n')
    assert (state.progress, state.body) == (COMPLETE, b'hello')
    with pytest.raises(TrailingData):
        state.on_message_begin()


def test_begin_resets_the_state_for_the_next_response(exchange):
    parser, state = exchange
    parser.feed_data(OK)
    state.body = None  # taken with the response
    state.begin(False, 5.0)
    assert (state.progress, state.informational, state.size) == (AWAITING_HEAD, 0, 0)
    parser.feed_data(OK)
    assert state.progress == COMPLETE


def test_begin_with_another_timeout_makes_another_timer(exchange):
    parser, state = exchange
    timer = state.timer
    state.begin(False, 5.0)
    assert state.timer is timer
    state.begin(False, 2.5)
    assert state.timer is not timer and state.timeout == 2.5
    state.timer.stop()


def test_the_timer_throws_into_the_greenlet_that_began_the_exchange():
    state = new_exchange(gevent.get_hub().loop, 0.05)

    def wait_for_the_answer():
        state.begin(False, 0.05)
        gevent.sleep(5)

    try:
        waiting = gevent.spawn(wait_for_the_answer)
        waiting.join(timeout=5)
        assert isinstance(waiting.exception, TimedOut)
    finally:
        state.timer.close()
        state.parser = None


def test_a_stopped_timer_holds_no_greenlet():
    state = new_exchange(gevent.get_hub().loop, 5.0)
    try:
        gevent.spawn(state.begin, False, 5.0).join()
        state.timer.stop()
        assert state.timer.callback is None and state.timer.args is None
    finally:
        state.timer.close()
        state.parser = None


def test_spares_start_empty():
    assert Spares().free == []
