"""napix.checks: the checks of a request's arguments and of the options, with
consistent exceptions (a wrong type: TypeError, a wrong value: ValueError, both
naming the argument and saying what is expected)."""

import math

import pytest

from napix import checks
from napix.checks import (CHECKED_METHODS, CHECKED_URLS, build_request, check_count,
                          check_headers, check_limit, check_method, check_positive_int,
                          check_seconds, check_timeout, check_url, encode_body, encode_params)
from napix.models import Headers, Request


# Option checks

@pytest.mark.parametrize('value, error, text', [
    (0, ValueError, 'size must be an int >= 1, not 0'),
    (-3, ValueError, 'size must be an int >= 1, not -3'),
    (1.5, TypeError, 'size must be an int >= 1, not float'),
    ('2', TypeError, 'size must be an int >= 1, not str'),
    (True, TypeError, 'size must be an int >= 1, not bool'),
    (None, TypeError, 'size must be an int >= 1, not NoneType'),
])
def test_check_positive_int_refuses(value, error, text):
    with pytest.raises(error) as caught:
        check_positive_int('size', value)
    assert str(caught.value) == text


def test_check_positive_int_and_check_count_return_the_value():
    assert check_positive_int('size', 1) == 1 and check_positive_int('size', 10 ** 6) == 10 ** 6
    assert check_count('count', 0) == 0
    with pytest.raises(ValueError, match='count must be an int >= 0, not -1'):
        check_count('count', -1)
    with pytest.raises(TypeError, match='count must be an int >= 0, not bool'):
        check_count('count', False)


@pytest.mark.parametrize('value, zero_ok, error, text', [
    (0, False, ValueError, 'wait must be a number of seconds > 0, not 0'),
    (-1.5, True, ValueError, 'wait must be a number of seconds >= 0, not -1.5'),
    (math.nan, True, ValueError, 'wait must be a number of seconds >= 0, not nan'),
    ('1', False, TypeError, 'wait must be a number of seconds > 0, not str'),
    (True, True, TypeError, 'wait must be a number of seconds >= 0, not bool'),
    (None, False, TypeError, 'wait must be a number of seconds > 0, not NoneType'),
])
def test_check_seconds_refuses(value, zero_ok, error, text):
    with pytest.raises(error) as caught:
        check_seconds('wait', value, zero_ok=zero_ok)
    assert str(caught.value) == text


def test_check_seconds_returns_a_float():
    assert check_seconds('wait', 2) == 2.0 and type(check_seconds('wait', 2)) is float
    assert check_seconds('wait', 0, zero_ok=True) == 0.0
    for endless in (math.inf, math.nan):  # a number of seconds is finite
        with pytest.raises(ValueError, match='wait'):
            check_seconds('wait', endless)


def test_check_timeout():
    assert check_timeout(3) == (3.0, 3.0)
    assert check_timeout((1, 2.5)) == (1.0, 2.5)
    for bad, error in [(0, ValueError), ((1, -1), ValueError), ('1', TypeError),
                       ((1, None), TypeError), (True, TypeError)]:
        with pytest.raises(error, match=r'timeout must be a number of seconds > 0, or a '
                                        r'\(connect, read\) pair'):
            check_timeout(bad)


def test_check_limit_takes_simultaneous_or_its_other_name_maxsize():
    assert check_limit(None, None, 7) == 7
    assert check_limit(3, None, 7) == check_limit(None, 3, 7) == check_limit(3, 3, 7) == 3
    with pytest.raises(ValueError, match='maxsize is another name of simultaneous'):
        check_limit(3, 4, 7)
    with pytest.raises(ValueError, match='simultaneous must be an int >= 1'):
        check_limit(0, None, 7)
    with pytest.raises(TypeError, match='maxsize must be an int >= 1, not float'):
        check_limit(None, 1.5, 7)


# Methods and urls: what they saw before returns at once

def checked(method='GET', url='/'):
    """The method and url of build_request's request."""
    request = build_request('h', 'h', method, url)
    return request.method, request.url


def test_common_methods_are_known_and_others_checked_once():
    assert check_method('GET') == 'GET' and 'GET' in CHECKED_METHODS
    assert check_method('propfind') == 'PROPFIND'
    assert checked('propfind') == ('PROPFIND', '/')
    assert CHECKED_METHODS.get('propfind') == 'PROPFIND'  # kept: found next time
    for bad, error in [('GET\r\n', ValueError), ('', ValueError), (b'GET', TypeError),
                       (['GET'], TypeError), (None, TypeError)]:
        with pytest.raises(error, match='method'):
            check_method(bad)
        with pytest.raises(error, match='method'):
            checked(bad)
    assert 'GET\r\n' not in CHECKED_METHODS


def test_a_method_or_url_that_is_a_str_subclass_comes_back_a_plain_str():
    class Text(str):
        pass
    assert type(check_method(Text('GET'))) is str
    assert type(check_method(Text('mkcol'))) is str
    assert type(check_url(Text('/sub/class'))) is str
    method, url = checked(Text('mkcol'), Text('/sub/class'))
    assert type(method) is str and type(url) is str

    class Unhashable(str):
        __hash__ = None  # type: ignore[assignment]
    assert checked(Unhashable('get'), Unhashable('/a b')) == ('GET', '/a%20b')


def test_urls_are_checked_once_then_found():
    assert check_url('/vm/a b#c') == '/vm/a%20b%23c'
    assert checked(url='/vm/a b#c') == ('GET', '/vm/a%20b%23c')
    assert CHECKED_URLS.get('/vm/a b#c') == '/vm/a%20b%23c'
    assert check_url('/caf%C3%A9') == '/caf%C3%A9'
    for bad, error in [('vm', ValueError), ('/a\r\nHost: x', ValueError), (b'/', TypeError),
                       (['/'], TypeError), (7, TypeError)]:
        with pytest.raises(error, match='url'):
            check_url(bad)
        with pytest.raises(error, match='url'):
            checked(url=bad)
    assert '/a\r\nHost: x' not in CHECKED_URLS
    long_url = '/' + 'x' * 300
    assert checked(url=long_url) == ('GET', long_url) and long_url not in CHECKED_URLS


def test_the_url_cache_is_bounded():
    for number in range(CHECKED_URLS.maxsize + 10):
        checked(url='/bounded/{0}'.format(number))
        assert len(CHECKED_URLS) <= CHECKED_URLS.maxsize


# The rest of a request

def test_build_request_checks_and_encodes():
    request = build_request('h:81', 'h:81', 'get', '/a b', {'k': 1}, {'X-A': 'b'},
                            {'q': 'é'}, 2)
    assert isinstance(request, Request)
    assert (request.method, request.url, request.body) == ('GET', '/a%20b?q=%C3%A9',
                                                           b'{"k":1}')
    assert request.headers['content-type'] == 'application/json'
    assert request.timeout == (2.0, 2.0)
    plain = build_request('h', 'h', 'GET', '/', None, None, None, None)
    assert plain.headers == {} and plain.body is None and plain.timeout is None
    with pytest.raises(ValueError, match='header Host cannot be set'):
        build_request('h', 'h', 'GET', '/', None, {'Host': 'x'})


def test_check_headers_encode_params_and_encode_body():
    assert check_headers({'X-N': 3}) == {'x-n': '3'}
    with pytest.raises(ValueError, match='given twice'):
        check_headers({'X-A': '1', 'x-a': '2'})
    with pytest.raises(TypeError, match='headers must be a mapping'):
        check_headers(['X-A'])
    assert encode_params('/p?a=1', [('b', [1, 2])]) == '/p?a=1&b=1&b=2'
    with pytest.raises(TypeError, match='params must be a mapping'):
        encode_params('/p', 'a=1')
    headers = Headers()
    assert encode_body([1], headers) == b'[1]' and headers['Content-Type'] == 'application/json'
    assert encode_body('', Headers()) is None and encode_body(b'x', Headers()) == b'x'
    with pytest.raises(TypeError, match='body must be'):
        encode_body(3, Headers())


def test_the_module_says_what_it_exports():
    assert all(hasattr(checks, name) for name in checks.__all__)
