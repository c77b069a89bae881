"""What a requests or httpx user reaches for first: headers that
ignore case on every path in, per-request ``timeout=`` and ``params=``,
``Response.elapsed``, ``ok`` and ``text``; and the errors and logs."""

import json
import logging
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napix.authenticators import LoginAuthenticator
from napix.connection import Connection
from napix.exceptions import HTTPError, Timeout
from napix.models import Headers, Request, Response, new_request, new_response
from napix.models import dumps as models_dumps
from napixd.client import Client, ClientPool
from napixd.testing import Reply

AUTH = LoginAuthenticator('root', 'toor')


# Headers

def test_headers_ignore_case_on_every_path_in():
    built = Headers({'Content-Type': 'x'})
    assert 'content-type' in built and built['CONTENT-TYPE'] == 'x'
    from_pairs = Headers([('X-Id', '1')], Accept='a')
    assert from_pairs['x-id'] == '1' and from_pairs['accept'] == 'a'
    updated = Headers()
    updated.update({'X-A': '1'})
    updated.update([('x-b', '2')], X_C='3')
    assert updated['x-a'] == '1' and updated['X-B'] == '2' and 'x_c' in updated
    defaulted = Headers({'ETag': 'a'})
    assert defaulted.setdefault('etag', 'b') == 'a'
    assert defaulted.setdefault('X-New', 'n') == 'n' and defaulted['x-new'] == 'n'
    assert defaulted.pop('ETAG') == 'a' and 'etag' not in defaulted
    del defaulted['x-NEW']
    assert len(defaulted) == 0


def test_headers_keep_the_first_spelling_and_replace_values():
    headers = Headers({'Content-Type': 'a'})
    headers['content-type'] = 'b'
    assert list(headers) == ['Content-Type'] and headers.raw_items() == [('Content-Type', 'b')]
    assert headers == {'content-type': 'b'}


def test_headers_from_a_response_head():
    head = ('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\n'
            'set-cookie: b=2\r\nX-Empty:\r\nX-Spaces:  v  ')
    headers = Headers.from_head(head)
    assert headers.get('CONTENT-TYPE') == 'application/json'  # before parsing
    assert headers.get('set-cookie') == 'a=1, b=2'
    assert headers['Set-Cookie'] == 'a=1, b=2'  # after parsing
    assert headers['x-empty'] == '' and headers['x-spaces'] == 'v  '
    assert 'missing' not in headers and headers.get('missing', 7) == 7


def test_headers_hide_credentials_in_their_repr():
    headers = Headers({'Authorization': 'secret-signature', 'cookie': 'secret-cookie',
                       'Accept': 'application/json'})
    text = repr(headers) + str(headers)
    assert 'secret' not in text and 'application/json' in text


def test_a_users_content_type_replaces_the_json_default(napix_server):
    conn = Connection(napix_server.host, AUTH)
    response = conn.request('POST', '/echo', {'a': 1},
                            headers={'content-type': 'application/merge-patch+json'})
    assert response.body['content_type'] == 'application/merge-patch+json'
    assert response.request.headers.raw_items()[0] == (
        'content-type', 'application/merge-patch+json')


@pytest.mark.parametrize('name', ['Host', 'content-length', 'Transfer-Encoding', 'CONNECTION'])
def test_framing_headers_are_refused_before_anything_is_sent(napix_server, name):
    conn = Connection(napix_server.host, AUTH)
    with pytest.raises(ValueError, match='cannot be set'):
        conn.request('GET', '/', headers={name: 'x'})
    assert napix_server.requests == []


def test_a_header_given_twice_in_two_cases_is_refused(napix_server):
    conn = Connection(napix_server.host, AUTH)
    with pytest.raises(ValueError, match='given twice'):
        conn.request('GET', '/', headers={'X-A': '1', 'x-a': '2'})


# Per-request options

def test_params_are_encoded_once_and_signed_as_sent(napix_server):
    client = Client(napix_server.host, AUTH)
    response = client.request('GET', '/echo', params={'q': 'café au lait', 'n': 2})
    assert response.request.url == '/echo?q=caf%C3%A9%20au%20lait&n=2'
    assert response.body['query'] == {'q': ['café au lait'], 'n': ['2']}
    pairs = client.request('GET', '/echo?a=1', params=[('b', 'x&y'), ('b', ['1', '2'])])
    assert pairs.request.url == '/echo?a=1&b=x%26y&b=1&b=2'
    assert pairs.body['query'] == {'a': ['1'], 'b': ['x&y', '1', '2']}


@pytest.mark.parametrize('params', ['a=1', b'a=1', {'a': object()}, {'a': None}, [1, 2]])
def test_bad_params_are_refused(napix_server, params):
    with pytest.raises(TypeError, match='param'):
        Client(napix_server.host, AUTH).request('GET', '/echo', params=params)


def test_a_request_timeout_overrides_the_connections(napix_server):
    client = Client(napix_server.host, AUTH, timeout=30)
    with pytest.raises(Timeout) as caught:
        client.request('GET', '/sleep/5', timeout=0.3)
    assert napix_server.in_flight == 1  # given up while the server was still at it
    assert 'within 0.3 s' in str(caught.value)
    assert client.request('GET', '/sleep/0.01', timeout=(1, 2)).status == 200


def test_a_pool_request_timeout(napix_server):
    with ClientPool(AUTH, timeout=30) as pool:
        slow = pool.request(napix_server.host, 'GET', '/sleep/5', timeout=0.3)
        quick = pool.request(napix_server.host, 'GET', '/vm/1')
        results = pool.wait()
    assert isinstance(results[0], Timeout) and results[0].request is slow.request
    assert results[1].status == 200 and quick.ready()


@pytest.mark.parametrize('timeout, error', [
    (0, ValueError), (-1, ValueError), ('soon', TypeError), ((1, 2, 3), TypeError),
    (True, TypeError)])
def test_a_bad_request_timeout_is_refused(napix_server, timeout, error):
    with pytest.raises(error, match='timeout'):
        Client(napix_server.host, AUTH).request('GET', '/', timeout=timeout)


def test_elapsed_ok_and_text(napix_server):
    client = Client(napix_server.host, AUTH)
    response = client.request('GET', '/sleep/0.2')
    assert response.ok and 0.15 < response.elapsed < 5
    assert response.text == '{"slept": 0.2}'
    text = client.request('GET', '/text')
    assert text.text == 'hello' == text.body
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/missing')
    assert caught.value.response.ok is False
    assert caught.value.response.text == '`missing` not found'


def test_text_uses_the_charset_of_the_content_type():
    response = Response(200, 'OK', {'Content-Type': 'text/plain; charset=latin-1'}, b'caf\xe9')
    assert response.text == 'café'
    unknown = Response(200, 'OK', {'Content-Type': 'text/plain; charset=nope'}, b'caf\xc3\xa9')
    assert unknown.text == 'café'


def test_a_request_pickles_without_credentials():
    request = Request('GET', 'h', 'h', '/a', {'Authorization': 'sig', 'X-A': '1'}, None, (1, 2))
    clone = pickle.loads(pickle.dumps(request))
    assert dict(clone.headers) == {'X-A': '1'} and clone.timeout == (1, 2)


# Errors and logs

def test_an_unknown_json_error_object_is_shown_whole(napix_server):
    @napix_server.route('GET', '/plain-json')
    def plain(request):
        raise Reply(404, {'error': '7'})
    with pytest.raises(HTTPError) as caught:
        Client(napix_server.host, AUTH).request('GET', '/plain-json')
    assert str(caught.value).endswith('failed: "404 NOT FOUND" {"error": "7"}')
    assert caught.value.remote_error == {'error': '7'}


def test_an_error_page_that_is_not_json_keeps_its_status(napix_server):
    @napix_server.route('GET', '/gateway')
    def gateway(request):
        return 502, {'Content-Type': 'application/json'}, '<html>Bad gateway</html>'
    with pytest.raises(HTTPError) as caught:
        Client(napix_server.host, AUTH).request('GET', '/gateway')
    assert caught.value.status == 502
    assert caught.value.body == '<html>Bad gateway</html>'


def test_failures_are_logged_at_info(napix_server, caplog):
    caplog.set_level(logging.DEBUG, logger='Napix.Client')
    with pytest.raises(HTTPError):
        Client(napix_server.host, AUTH).request('GET', '/vm/missing')
    records = [r for r in caplog.records if r.name == 'Napix.Client']
    assert [r.levelno for r in records] == [logging.INFO]
    assert '404' in records[0].getMessage()


def test_a_url_is_checked_the_same_however_often_it_is_sent():
    # Checked URLs are kept (a service manager sends the same paths again
    # and again): the second time must refuse and encode as the first did.
    conn = Connection('server.napix.nx')
    for _ in range(2):
        assert conn.build_request('GET', '/a b/%zz/é?x=1').url == '/a%20b/%25zz/%C3%A9?x=1'
        assert conn.build_request('GET', '/plain/path').url == '/plain/path'
        with pytest.raises(ValueError, match='control characters'):
            conn.build_request('GET', '/a\r\nHost: evil')
        with pytest.raises(ValueError, match='starting with /'):
            conn.build_request('GET', 'relative')
        with pytest.raises(TypeError, match='url must be a str'):
            conn.build_request('GET', b'/bytes')
        with pytest.raises(TypeError, match='url must be a str'):
            conn.build_request('GET', ['/unhashable'])


def outcome(decode, content):
    """What *decode* gives for *content*: its value (NaN written out, as NaN
    is unequal to itself), or the type and text of its ValueError."""
    try:
        return ('value', json.dumps(decode(content)))
    except ValueError as error:
        return ('error', type(error), str(error))
    except RecursionError:
        return ('too deep',)


def deep(depth):
    return b'[' * depth + b']' * depth


@pytest.mark.parametrize('content', [
    b'{"a":1}', b'[1,2]', b' {"a":1}', b'{"a":1} ', b'{"a":1}x', b'[1][2]', b'{', b'[', b'',
    b'{}', b'"x"', b'1', b'\xef\xbb\xbf{"a":1}', '{"\u00e9":"\u00fc"}'.encode(),
    b'{"a":"\xed\xa0\x80"}', b'{"a":1,}', b'[1]\n', b'{\x00', '[1]'.encode('utf-16-le'),
    b'{"a":"\xff"}', b'{"a":[1,{"b":null}],"c":"d"}',
    # blanks after the value: what Flask and a file served by nginx end with
    b'{"a":1}\n', b'[1]\r\n', b'{"a":1} \t\r\n ', b'[1]\n\n', b'{"a":1}\n\x00',
    # whitespace that is not JSON's (str.isspace() says yes to each)
    b'{"a":1}\x0b', b'{"a":1}\x0c', b'[1]\xc2\xa0', b'[1]\xe2\x80\x83', b'[1]\x1c',
    b'{"a":1}\n{"b":2}', b'{"a":1}\nx', b'[1] ]', b'\n{"a":1}\n', b'\t[1]', b' ', b'\n',
    # other encodings, with and without a BOM
    '{"a":"\u00e9"}\n'.encode('utf-16'), '{"a":1}'.encode('utf-16-be'),
    '[1]\n'.encode('utf-32'), '[1]'.encode('utf-32-le'), b'\xef\xbb\xbf[1]\n',
    '{"a":"\u00e9"}'.encode('latin-1'), b'[1]\xff', b'[\xff]', b'{"a":"\xc3"}\n',
    # two bytes, three bytes: json.loads guesses these differently
    b'[]', b'{}\n', b'[\x001', b'{\x00}', b'[1\x00]',
    # the constants json.loads accepts (orjson refuses them; this decoder is json.loads)
    b'[NaN]', b'{"a":Infinity}\n', b'[-Infinity]', b'[nan]', b'NaN',
    # numbers, escapes, duplicate keys
    b'[1e400, -0, 0.1, 12345678901234567890]', b'{"a":1,"a":2}', b'["\\ud83d\\ude00"]',
    b'["\\u00"]', b'[01]', b'{"a" 1}', b'{a:1}',
    # nesting: deep enough to be refused by both, and not
    deep(500), deep(500) + b'\n', deep(100000), deep(100000) + b'\n',
])
def test_the_stdlib_json_decoder_decodes_and_refuses_as_json_loads(content):
    # Without orjson, bodies go through napix.models' own call of the
    # standard library's scanner: what json.loads returns or raises, exactly.
    from napix.models import _stdlib_loads
    assert outcome(_stdlib_loads, content) == outcome(json.loads, content)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=5), children, max_size=4),
    max_leaves=12)
_blanks = st.text(alphabet=' \t\n\r', max_size=3)


@settings(max_examples=300, deadline=None)
@given(value=_json_values, before=_blanks, after=_blanks,
       indent=st.sampled_from([None, 0, 2]), ascii=st.booleans(),
       encoding=st.sampled_from(['utf-8', 'utf-8-sig', 'utf-16', 'utf-16-le', 'utf-16-be',
                                 'utf-32', 'utf-32-le', 'utf-32-be']))
def test_the_stdlib_json_decoder_reads_any_valid_json_as_json_loads(
        value, before, after, indent, ascii, encoding):
    from napix.models import _stdlib_loads
    text = before + json.dumps(value, indent=indent, ensure_ascii=ascii) + after
    content = text.encode(encoding, 'surrogatepass')
    assert outcome(_stdlib_loads, content) == outcome(json.loads, content)
    assert _stdlib_loads(content) == value


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=12) | st.builds(
    lambda head, tail: head + tail, st.sampled_from([b'{"a":1}', b'[1]', b'[', b'{']),
    st.binary(max_size=4)))
def test_the_stdlib_json_decoder_refuses_what_json_loads_refuses(content):
    from napix.models import _stdlib_loads
    assert outcome(_stdlib_loads, content) == outcome(json.loads, content)


def test_the_stdlib_json_decoder_decodes_a_trailing_blank_body_once(monkeypatch):
    # The common case of a JSON body followed by a newline is scanned once,
    # without json.loads (its encoding detection and second decode).
    import napix.models
    calls = []
    monkeypatch.setattr(napix.models.json, 'loads', lambda *a: calls.append(a))
    assert napix.models._stdlib_loads(b'{"a":[1,2]}\n') == {'a': [1, 2]}
    assert napix.models._stdlib_loads(b'[1] \r\n') == [1]
    assert calls == []


def test_orjson_is_installed_with_the_library_on_cpython_and_fast_still_names_it():
    import importlib.metadata
    import platform
    requires = importlib.metadata.requires('napixd-client')
    orjson = [r for r in requires if r.startswith('orjson')]
    default = [r for r in orjson if 'extra ==' not in r]
    assert len(default) == 1 and 'platform_python_implementation == "CPython"' in default[0]
    assert any('extra == "fast"' in r for r in orjson)  # '.[fast]' still installs
    if platform.python_implementation() == 'CPython':
        import napix.models
        import orjson as installed
        assert napix.models.loads is installed.loads


def test_a_read_response_finds_its_reason_in_its_head_when_first_read():
    head = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n'
    request = new_request('GET', 'h', 'h', '/', None, None, None)
    lazy = new_response(404, head, b'', request, 0.1)
    assert lazy._reason is None and lazy.reason == 'Not Found'
    parsed = new_response(404, head, b'', request, 0.1)
    assert parsed.headers['content-type'] == 'text/plain'  # the head text is parsed first
    assert parsed.reason == 'Not Found'
    replaced = new_response(404, head, b'', request, 0.1)
    replaced.headers = Headers()
    assert replaced.reason == 'Not Found'
    assert Response(200, None, {}, b'').reason is None  # as given


@pytest.mark.parametrize('value', [{'a': [1, 2.5, 'é', None, True]}, [], 'x"', {1: 2}, [1e300]])
def test_dumps_is_compact_json_dumps(value):
    assert models_dumps(value) == json.dumps(value, separators=(',', ':')).encode('utf-8')


@pytest.mark.parametrize('value', [[float('nan')], [object()], {(1, 2): 3}])
def test_dumps_refuses_what_json_dumps_refuses_with_its_error(value):
    with pytest.raises((TypeError, ValueError)) as expected:
        json.dumps(value, separators=(',', ':'), allow_nan=False)
    with pytest.raises(expected.type, match=str(expected.value)[:20]):
        models_dumps(value)


def test_dumps_refuses_a_circular_value_and_stays_usable():
    circular = []
    circular.append(circular)
    with pytest.raises(ValueError, match='Circular reference'):
        models_dumps(circular)
    assert models_dumps([[1], [1]]) == b'[[1],[1]]'  # no marker left behind


@pytest.mark.parametrize('line, found', [
    ('Content-Type: application/json', 'application/json'),
    ('content-type:application/json \t', 'application/json'),
    ('CONTENT-TYPE: \t text/plain; charset=utf-8  ', 'text/plain; charset=utf-8'),
    ('Content-Type:', ''),
    ('Content-Type:   ', ''),
    ('X-Content-Type: text/html', ''),
])
def test_a_read_response_finds_its_content_type_without_the_blanks_around_it(line, found):
    head = 'HTTP/1.1 200 OK\r\nServer: x\r\n{0}\r\n'.format(line)
    request = new_request('GET', 'h', 'h', '/', None, None, None)
    assert new_response(200, head, b'', request, 0.1).content_type() == found


def test_repeated_content_types_are_joined():
    head = 'HTTP/1.1 200 OK\r\nContent-Type: a \r\ncontent-type: b\r\n'
    request = new_request('GET', 'h', 'h', '/', None, None, None)
    assert new_response(200, head, b'', request, 0.1).content_type() == 'a, b'
