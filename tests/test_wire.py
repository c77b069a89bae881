"""napix.transports.wire: what every transport sends the same way, and each
transport sending it (the WSGI transport shows it without a socket)."""

from napix import __version__
from napix.models import Headers, Request
from napix.transports.gevent import serialize
from napix.transports.wire import BODY_METHODS, DEFAULT_BLOCK, DEFAULT_LINES, default_headers
from napix.transports.wsgi import WSGITransport


def test_default_headers():
    assert default_headers() == {'Accept': 'application/json',
                                 'User-Agent': 'napix/' + __version__}
    assert default_headers('wsgi')['User-Agent'] == 'napix/{0} (wsgi)'.format(__version__)
    assert DEFAULT_LINES == {'accept': 'Accept: application/json',
                             'user-agent': 'User-Agent: napix/' + __version__}
    assert DEFAULT_BLOCK == 'Accept: application/json\r\nUser-Agent: napix/{0}\r\n'.format(
        __version__)
    assert BODY_METHODS == {'POST', 'PUT', 'PATCH'}


def test_the_socket_transport_sends_the_defaults_unless_overridden():
    plain = serialize(Request('GET', 'h', 'h:80', '/x')).decode()
    assert plain == 'GET /x HTTP/1.1\r\nHost: h:80\r\n' + DEFAULT_BLOCK + '\r\n'
    own = serialize(Request('GET', 'h', 'h', '/x', Headers({'accept': 'text/plain'}))).decode()
    assert 'accept: text/plain' in own.lower() and 'application/json' not in own
    assert 'User-Agent: napix/' in own


def test_body_methods_carry_a_length_even_when_empty():
    for method in sorted(BODY_METHODS):
        assert b'Content-Length: 0\r\n' in serialize(Request(method, 'h', 'h', '/x'))
    assert b'Content-Length' not in serialize(Request('DELETE', 'h', 'h', '/x'))


def test_the_wsgi_transport_sends_the_same_defaults():
    environ = WSGITransport(lambda environ, start: []).environ(Request('POST', 'h', 'h', '/x'))
    assert environ['HTTP_ACCEPT'] == 'application/json'
    assert environ['HTTP_USER_AGENT'] == default_headers('wsgi')['User-Agent']
    assert environ['CONTENT_LENGTH'] == '0'
