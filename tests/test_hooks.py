"""Event hooks (issue 28): napix.hooks, given as event_hooks= to a Connection,
a Client or a ClientPool."""

import pytest

from napix.authenticators import LoginAuthenticator
from napix.breaker import Breaker
from napix.connection import Connection
from napix.exceptions import CircuitOpen, ConnectError, HTTPError
from napix.hooks import EventHooks, HookError, check_event_hooks
from napix.retry import Retry
from napixd.client import Client, ClientPool

AUTH = LoginAuthenticator('root', 'toor')


def add_header_route(server):
    @server.route('GET', '/header/{name}')
    def header(request, name):
        return {'value': request.headers.get(name), 'by': request.login}
    return server


def test_hooks_run_in_order_and_a_request_hook_adds_a_signed_header(napix_server):
    add_header_route(napix_server)
    seen = []

    def first(request):
        seen.append(('request 1', 'authorization' in request.headers))  # not signed yet
        request.headers['X-Caller'] = 'billing'

    def second(request):
        seen.append(('request 2', request.headers['X-Caller']))

    def answered(response):
        seen.append(('response', response.status))

    client = Client(napix_server.host, AUTH,
                    event_hooks={'request': [first, second], 'response': [answered]})
    answer = client.request('GET', '/header/x-caller')
    # The server checked the signature (it names the login) and got the header.
    assert answer.body == {'value': 'billing', 'by': 'root'}
    assert seen == [('request 1', False), ('request 2', 'billing'), ('response', 200)]


def test_an_error_hook_gets_the_http_error(napix_server):
    errors, responses = [], []
    client = Client(napix_server.host, AUTH,
                    event_hooks={'error': [errors.append], 'response': [responses.append]})
    with pytest.raises(HTTPError) as caught:
        client.request('GET', '/vm/missing')
    assert errors == [caught.value] and responses == []
    assert caught.value.status == 404


def test_a_request_hook_runs_once_per_attempt(fault_server):
    server = fault_server('ok', script=['503', '503'], retry_after=None)
    requests, errors = [], []
    client = Client(server.host, AUTH, retry=Retry(total=3, backoff=0.0),
                    event_hooks={'request': [requests.append], 'error': [errors.append]})
    answer = client.request('GET', '/vm')
    assert answer.status == 200
    assert len(requests) == 3 and len({id(r) for r in requests}) == 3  # a copy each time
    assert [error.status for error in errors] == [503, 503]
    assert answer.timings.attempts == 3


def test_hooks_never_see_the_credentials_after_signing(napix_server):
    views = []

    def look(result):
        request = result.request
        views.append((dict(request.headers), request.url, repr(request.headers)))

    client = Client(napix_server.host, AUTH, event_hooks={'response': [look], 'error': [look]})
    answer = client.request('GET', '/vm/1')
    with pytest.raises(HTTPError):
        client.request('GET', '/vm/missing')
    signature = answer.request.headers['Authorization']  # the caller's is as sent
    assert 'login=root' in signature
    for headers, _url, text in views:
        assert headers['Authorization'] == '<hidden>'
        assert signature not in text and signature.rpartition(':')[2] not in str(headers)
        assert 'toor' not in str(headers)


def test_a_hook_that_raises_fails_its_request_with_the_cause(napix_server):
    def broken(request):
        raise RuntimeError('no tag for ' + request.url)

    client = Client(napix_server.host, AUTH, event_hooks={'request': [broken]})
    with pytest.raises(HookError) as caught:
        client.request('GET', '/vm/1')
    error = caught.value
    assert isinstance(error, HTTPError) and error.status is None
    assert isinstance(error.__cause__, RuntimeError)
    assert 'request hook' in str(error) and 'broken' in str(error)


def test_a_response_hook_that_raises_fails_the_request(napix_server):
    def broken(response):
        raise ValueError('unexpected')

    client = Client(napix_server.host, AUTH, event_hooks={'response': [broken]})
    with pytest.raises(HookError) as caught:
        client.request('GET', '/vm/1')
    assert isinstance(caught.value.__cause__, ValueError)


def test_in_a_pool_a_failing_hook_fails_its_request_only(napix_server):
    def picky(request):
        if request.url.endswith('/13'):
            raise LookupError('unlucky')

    pool = ClientPool(AUTH, event_hooks={'request': [picky]})
    handles = [pool.request(napix_server.host, 'GET', '/vm/{0}'.format(n))
               for n in (12, 13, 14)]
    results = pool.wait()
    assert [getattr(r, 'status', None) for r in results] == [200, None, 200]
    assert isinstance(results[1], HookError)
    assert isinstance(results[1].__cause__, LookupError)
    assert handles[2].value.body == {'id': '14', 'by': 'root'}


def test_the_pool_gives_its_hooks_to_every_host(napix_server, make_napix_server):
    other = make_napix_server()
    seen = []
    pool = ClientPool(AUTH, event_hooks={'response': [lambda r: seen.append(r.request.host)]})
    pool.request(napix_server.host, 'GET', '/vm/1')
    pool.request(other.host, 'GET', '/vm/1')
    pool.get_client(other.host).request('GET', '/vm/2')
    pool.wait()
    assert sorted(seen) == sorted([napix_server.host, other.host, other.host])


def test_event_hooks_are_checked():
    with pytest.raises(ValueError, match='event_hooks'):
        Connection('h', event_hooks={'answer': []})
    with pytest.raises(TypeError, match='event_hooks'):
        Connection('h', event_hooks=[print])
    with pytest.raises(TypeError, match="event_hooks\\['request'\\]"):
        Connection('h', event_hooks={'request': print})
    with pytest.raises(TypeError, match='not callable'):
        Connection('h', event_hooks={'request': [42]})
    assert check_event_hooks(None) is None
    assert check_event_hooks({'request': []}) is None  # no hook: nothing to pay
    hooks = EventHooks(request=[print])
    assert check_event_hooks(hooks) is hooks
    assert Connection('h', event_hooks=hooks).for_host('g').hooks is hooks


def test_a_requests_own_hooks_run_after_the_clients(napix_server):
    order = []
    client = Client(napix_server.host, AUTH,
                    event_hooks={'request': [lambda r: order.append('client')]})
    answer = client.request('GET', '/vm/1',
                            event_hooks={'request': [lambda r: order.append('request')],
                                         'response': [lambda r: order.append(r.status)]})
    assert answer.status == 200
    assert order == ['client', 'request', 200]
    client.request('GET', '/vm/2')  # the client's alone again
    assert order == ['client', 'request', 200, 'client']
    conn = Connection(napix_server.host, AUTH)
    conn.request('GET', '/vm/3', event_hooks={'response': [lambda r: order.append('conn')]})
    assert order[-1] == 'conn' and conn.hooks is None
    with pytest.raises(TypeError, match='event_hooks'):
        client.request('GET', '/vm/4', event_hooks=['nope'])


def test_a_connection_without_hooks_pays_nothing_for_them():
    plain = Connection('h')
    assert type(plain) is Connection and plain.hooks is None
    assert type(plain.for_host('g')) is Connection
    hooked = Connection('h', event_hooks={'error': [print]})
    assert type(hooked) is not Connection and isinstance(hooked, Connection)
    assert type(hooked.for_host('g')) is type(hooked)
    assert type(plain.with_hooks({'error': [print]})) is type(hooked)
    assert type(Connection('h', event_hooks={'error': []})) is Connection


def test_hooks_run_for_the_attempts_the_breaker_lets_through(refused_host):
    requests, errors = [], []
    client = Client(refused_host, AUTH, breaker=Breaker(failures=1, reset=30),
                    event_hooks={'request': [requests.append], 'error': [errors.append]})
    with pytest.raises(ConnectError) as refused:
        client.request('GET', '/')
    with pytest.raises(CircuitOpen):  # refused by the breaker: no attempt, no hook
        client.request('GET', '/')
    assert len(requests) == 1 and errors == [refused.value]


def test_napixd_busy_resend_is_within_its_attempt(fault_server):
    server = fault_server('ok', script=['429'])
    requests, responses, errors = [], [], []
    client = Client(server.host, AUTH, event_hooks={
        'request': [requests.append], 'response': [responses.append], 'error': [errors.append]})
    answer = client.request('GET', '/vm')
    assert answer.status == 200 and len(server.requests) == 2  # sent again once
    assert len(requests) == 1 and len(responses) == 1 and errors == []
    assert responses[0] is answer
