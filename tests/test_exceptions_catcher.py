"""ExceptionsCatcher: the JSON 500 of napixd, read back by the client, and
errors bubbling through three real Napix servers."""

import hashlib
import hmac
import inspect
import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from napix.authenticators import JWTAuthenticator, LoginAuthenticator, NonSecureAuthenticator
from napix.exceptions import HTTPError
from napixd.client import Client
from napixd.plugins.exceptions import ExceptionsCatcher
from napixd.testing import NapixServer, Reply, routed

ROOT = {'login': 'root', 'key': 'toor'}
ERROR_KEYS = {'request', 'error_class', 'error_text', 'traceback', 'filename', 'line'}
FRAME_KEYS = {'filename', 'line', 'in', 'call'}


def line_of(function, text):
    """The line number of the first line of *function* that contains *text*."""
    lines, first = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset
    raise AssertionError(text)


def fail_deeply(value):
    raise ValueError('bad value {0}'.format(value))


def service_handler(request, id):
    return fail_deeply(id)


@pytest.fixture
def failing_server():
    server = NapixServer(users={'root': 'toor'})
    server.route('GET', '/vm/{id}', service_handler)
    with server:
        yield server


def fetch_error(server, url, authenticator=ROOT):
    with pytest.raises(HTTPError) as caught:
        Client(server.host, authenticator).request('GET', url)
    return caught.value


# The JSON object

def test_uncaught_exception_is_a_json_500_with_exactly_the_napixd_keys(failing_server):
    error = fetch_error(failing_server, '/vm/10')
    assert error.status == 500
    assert error.response.headers['Content-Type'] == 'application/json'
    report = error.remote_error
    assert set(report) == ERROR_KEYS
    assert report['request'] == {'method': 'GET', 'path': '/vm/10'}
    assert report['error_class'] == 'ValueError'
    assert report['error_text'] == 'bad value 10'

    frames = report['traceback']
    assert all(set(frame) == FRAME_KEYS for frame in frames)
    # It starts at the service's code, not in napixd, and ends where it was raised.
    assert [frame['in'] for frame in frames] == ['service_handler', 'fail_deeply']
    assert all(frame['filename'] == __file__ for frame in frames)
    assert frames[0]['line'] == line_of(service_handler, 'fail_deeply(id)')
    assert frames[0]['call'] == 'return fail_deeply(id)'
    assert frames[1]['call'] == "raise ValueError('bad value {0}'.format(value))"
    assert report['filename'] == __file__
    assert report['line'] == frames[1]['line'] == line_of(fail_deeply, 'raise ValueError')
    # The client's message says what failed.
    assert str(error) == 'GET {0}/vm/10 failed: ValueError: bad value 10'.format(
        failing_server.host)


def test_httperror_adds_remote_call_and_remote_error(make_napix_server):
    backend = make_napix_server()
    front = NapixServer(users={'root': 'toor'})

    @front.route('GET', '/vm/{id}')
    def proxy(request, id):
        return Client(backend.host, ROOT).request('GET', '/vm/missing').body

    with front:
        error = fetch_error(front, '/vm/3')
    report = error.remote_error
    assert set(report) == ERROR_KEYS | {'remote_call', 'remote_error'}
    assert report['error_class'] == 'HTTPError'
    assert report['remote_call'] == 'GET {0}/vm/missing'.format(backend.host)
    assert report['remote_error'] == '"404 NOT FOUND" `missing` not found'
    assert report['error_text'] == 'GET {0}/vm/missing failed: "404 NOT FOUND" ' \
        '`missing` not found'.format(backend.host)
    assert report['traceback'][0]['in'] == 'proxy'


def test_unencodable_error_is_a_text_plain_500():
    server = NapixServer(users={'root': 'toor'})

    @server.route('GET', '/loop')
    def loop(request):
        error = HTTPError(None, None, 'weird remote answer')
        error.remote_error = {}
        error.remote_error['self'] = error.remote_error  # cannot be JSON
        raise error

    with server:
        error = fetch_error(server, '/loop')
    assert error.status == 500
    assert error.response.headers['Content-Type'].startswith('text/plain')
    assert isinstance(error.body, str)
    assert error.body.startswith('HTTPError: weird remote answer')
    assert 'could not be encoded as JSON' in error.body
    assert error.remote_error.startswith('"500 INTERNAL SERVER ERROR" HTTPError: weird')


def test_the_original_error_reaches_start_response_with_exc_info():
    def app(environ, start_response):
        raise LookupError('nothing here')

    seen = []

    def start_response(status, headers, exc_info=None):
        seen.append((status, dict(headers), exc_info))

    environ = {}
    setup_testing_defaults(environ)
    environ['PATH_INFO'] = '/a/b'
    body = b''.join(ExceptionsCatcher(app)(environ, start_response))
    [(status, headers, exc_info)] = seen
    assert status == '500 Internal Server Error'
    assert headers['Content-Type'] == 'application/json'
    assert headers['Content-Length'] == str(len(body))
    assert exc_info[0] is LookupError
    report = json.loads(body)
    assert report['request'] == {'method': 'GET', 'path': '/a/b'}
    assert report['error_class'] == 'LookupError'


@pytest.mark.parametrize('exception', [MemoryError, SystemExit, KeyboardInterrupt])
def test_never_catches_memory_error_system_exit_keyboard_interrupt(exception):
    def app(environ, start_response):
        raise exception('stop')

    def start_response(*args):
        raise AssertionError('no response must be started')

    environ = {}
    setup_testing_defaults(environ)
    with pytest.raises(exception):
        ExceptionsCatcher(app, show_errors=True)(environ, start_response)


def test_memory_error_on_a_real_server_is_not_turned_into_the_json_object():
    server = NapixServer(users={'root': 'toor'})

    @server.route('GET', '/oom')
    def oom(request):
        raise MemoryError('no more memory')

    with server:
        error = fetch_error(server, '/oom')
    # The WSGI server's own bare 500, not the ExceptionsCatcher's object.
    assert error.status == 500
    assert not isinstance(error.remote_error, dict)
    assert 'no more memory' not in error.body


def test_show_errors_logs_the_traceback(failing_server, caplog):
    caplog.set_level('DEBUG', logger='Napix.Errors')
    failing_server.application.show_errors = True
    fetch_error(failing_server, '/vm/5')
    [record] = [r for r in caplog.records if r.name == 'Napix.Errors']
    assert record.getMessage() == 'GET /vm/5 failed'
    assert record.exc_info[0] is ValueError


# No credentials in the error object

def test_no_credentials_in_the_object(make_napix_server):
    key = 'b-to-a-s3cret-key'
    backend = NapixServer(users={'b': key})
    tokens = []

    @backend.route('GET', '/vm/{id}')
    def get_vm(request, id):
        tokens.append(request.query['token'][0])
        raise Reply(404, '`{0}` not found'.format(id))

    front = NapixServer(users={'root': 'toor'})

    @front.route('GET', '/vm/{id}')
    def proxy(request, id):
        # The non-secure protocol puts the secret in the URL: it must not leak.
        client = Client(backend.host, NonSecureAuthenticator('b', key))
        return client.request('GET', '/vm/{0}?fields=all'.format(id)).body

    with backend, front:
        backend_host = backend.host
        # The user too sends its token in the URL, which the object must not show.
        error = fetch_error(front, '/vm/7',
                            authenticator=NonSecureAuthenticator('root', 'toor'))
    report = error.remote_error
    assert report['remote_call'] == 'GET {0}/vm/7?fields=all'.format(backend_host)
    assert report['request'] == {'method': 'GET', 'path': '/vm/7'}
    [token] = tokens
    user_token = hmac.new(b'toor', b'root', hashlib.sha256).hexdigest()
    text = json.dumps(report)
    for secret in (key, token, token.partition(':')[2], user_token, 'token='):
        assert secret not in text
        assert secret not in str(error)


# Errors of real napixd servers

REAL_NAPIXD_ERROR = {
    'request': {'method': 'GET', 'path': '/hypervisors/xen12/capacity'},
    'error_class': 'KeyError',
    'error_text': "'memory'",
    'traceback': [
        {'filename': '/usr/lib/python2.7/dist-packages/xenmanager/managers.py',
         'line': 118, 'in': 'get_resource', 'call': "return self.capacity['memory']"},
    ],
    'filename': '/usr/lib/python2.7/dist-packages/xenmanager/managers.py',
    'line': 118,
}


@pytest.fixture
def real_napixd():
    """A server answering like a real napixd whose service failed."""
    server = NapixServer(users={'root': 'toor'})

    @server.route('GET', '/hypervisors/{name}/capacity')
    def capacity(request, name):
        return 500, REAL_NAPIXD_ERROR

    with server:
        yield server


def test_reads_the_error_object_of_a_real_napixd(real_napixd):
    error = fetch_error(real_napixd, '/hypervisors/xen12/capacity')
    assert error.status == 500
    assert error.remote_error == REAL_NAPIXD_ERROR
    assert str(error) == "GET {0}/hypervisors/xen12/capacity failed: KeyError: 'memory'".format(
        real_napixd.host)


def test_forwards_the_error_object_of_a_real_napixd(real_napixd):
    front = NapixServer(users={'root': 'toor'})

    @front.route('GET', '/capacity')
    def capacity(request):
        return Client(real_napixd.host, ROOT).request('GET', '/hypervisors/xen12/capacity').body

    with front:
        error = fetch_error(front, '/capacity')
    report = error.remote_error
    assert report['remote_call'] == 'GET {0}/hypervisors/xen12/capacity'.format(
        real_napixd.host)
    assert report['remote_error'] == REAL_NAPIXD_ERROR
    assert report['error_text'] == "GET {0}/hypervisors/xen12/capacity failed: KeyError: " \
        "'memory'".format(real_napixd.host)


# An error bubbling through three servers: C calls B calls A

KEYS = {'user': 'us3r-key-of-C-91a7', 'c': 'key-of-C-to-B-5d2e', 'b': 'key-of-B-to-A-0c44'}


def recording(server):
    """Keep the credentials each request carried, to look for them later."""
    server.credentials_seen = []

    def record(request):
        server.credentials_seen.append(request.headers.get('authorization'))
    return record


@pytest.fixture
def chain():
    a = NapixServer(users={'b': KEYS['b']})
    b = NapixServer(users={'c': KEYS['c']})
    c = NapixServer(users={'user': KEYS['user']})
    record_a, record_b, record_c = recording(a), recording(b), recording(c)

    @a.route('GET', '/vm/{id}')
    def get_vm_a(request, id):
        record_a(request)
        raise Reply(404, '`{0}` not found'.format(id))

    @b.route('GET', '/vm/{id}')
    def get_vm_b(request, id):
        record_b(request)
        client = Client('server-a.napix.nx', {'login': 'b', 'key': KEYS['b']})
        return client.request('GET', '/vm/{0}'.format(id)).body

    @c.route('GET', '/vm/{id}')
    def get_vm_c(request, id):
        record_c(request)
        client = Client('server-b.napix.nx', JWTAuthenticator('c', KEYS['c']))
        return client.request('GET', '/vm/{0}'.format(id)).body

    with a, b, c, routed({'server-a.napix.nx': a, 'server-b.napix.nx': b,
                          'server-c.napix.nx': c}):
        yield a, b, c


def test_an_error_bubbles_through_three_servers(chain):
    a, b, c = chain
    client = Client('server-c.napix.nx', LoginAuthenticator('user', KEYS['user']))
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/10')
    error = caught.value
    assert error.status == 500
    assert error.remote_call == 'GET server-c.napix.nx/vm/10'

    from_c = error.remote_error
    assert set(from_c) == ERROR_KEYS | {'remote_call', 'remote_error'}
    assert from_c['request'] == {'method': 'GET', 'path': '/vm/10'}
    assert from_c['error_class'] == 'HTTPError'
    assert from_c['remote_call'] == 'GET server-b.napix.nx/vm/10'
    assert from_c['traceback'][0]['in'] == 'get_vm_c'

    from_b = from_c['remote_error']
    assert set(from_b) == ERROR_KEYS | {'remote_call', 'remote_error'}
    assert from_b['error_class'] == 'HTTPError'
    assert from_b['remote_call'] == 'GET server-a.napix.nx/vm/10'
    assert from_b['remote_error'] == '"404 NOT FOUND" `10` not found'
    assert from_b['error_text'] == 'GET server-a.napix.nx/vm/10 failed: "404 NOT FOUND" ' \
        '`10` not found'
    assert from_b['traceback'][0]['in'] == 'get_vm_b'
    assert from_c['error_text'] == 'GET server-b.napix.nx/vm/10 failed: HTTPError: ' \
        + from_b['error_text']

    # Every server saw exactly one signed request, and no credential is in the error.
    secrets = set(KEYS.values())
    for server in (a, b, c):
        [authorization] = server.credentials_seen
        secrets.add(authorization)
        secrets.add(authorization.rpartition(':')[2])   # signature (standard protocol)
        secrets.add(authorization.rpartition('.')[2])   # signature (JWT)
    secrets = {s for s in secrets if len(s) >= 16}
    assert len(secrets) >= 9
    everything = '\n'.join([json.dumps(from_c), str(error), repr(error), error.remote_call])
    for secret in secrets:
        assert secret not in everything
    assert 'uthorization' not in everything
    assert 'nonce' not in everything


def test_answers_of_the_application_pass_through_untouched():
    def app(environ, start_response):
        start_response('500 Internal Server Error', [('Content-Type', 'text/plain')])
        return [b'plain failure']

    environ = {}
    setup_testing_defaults(environ)
    environ['wsgi.input'] = io.BytesIO()
    out = []
    body = ExceptionsCatcher(app)(environ, lambda status, headers, exc_info=None: out.append(
        status))
    assert out == ['500 Internal Server Error'] and body == [b'plain failure']
