"""OpenTelemetry (issue 28): napix.opentelemetry's spans and histogram, read
back from the SDK's in-memory exporters, against real test servers."""

import pytest

pytest.importorskip('opentelemetry.sdk')

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from napix.authenticators import LoginAuthenticator  # noqa: E402
from napix.breaker import Breaker  # noqa: E402
from napix.connection import Connection  # noqa: E402
from napix.exceptions import CircuitOpen, ConnectError, HTTPError  # noqa: E402
from napix.opentelemetry import DURATION, NapixInstrumentor  # noqa: E402
from napix.retry import Retry  # noqa: E402
from napixd.client import Client, ClientPool  # noqa: E402

KEY = 'toor'
AUTH = LoginAuthenticator('root', KEY)


class Telemetry(object):
    def __init__(self):
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.tracer = self.tracer_provider.get_tracer('test')

    def finished(self, kind=SpanKind.CLIENT):
        return [span for span in self.spans.get_finished_spans() if span.kind == kind]

    def points(self):
        data = self.metrics.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == DURATION:
                        assert metric.unit == 's'
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry():
    telemetry = Telemetry()
    NapixInstrumentor().instrument(tracer_provider=telemetry.tracer_provider,
                                   meter_provider=telemetry.meter_provider)
    yield telemetry
    NapixInstrumentor().uninstrument()


def add_trace_route(server):
    @server.route('GET', '/trace')
    def seen(request):
        return {'traceparent': request.headers.get('traceparent'), 'by': request.login}
    return server


def test_a_request_is_a_client_span_with_the_conventions(napix_server, telemetry):
    Client(napix_server.host, AUTH).request('GET', '/vm/7?full=1')
    [span] = telemetry.finished()
    assert span.name == 'GET' and span.kind == SpanKind.CLIENT
    attributes = dict(span.attributes)
    assert attributes['http.request.method'] == 'GET'
    assert attributes['server.address'] == '127.0.0.1'
    assert attributes['server.port'] == napix_server.port
    assert attributes['url.full'] == 'http://{0}/vm/7?full=1'.format(napix_server.host)
    assert attributes['network.protocol.version'] == '1.1'
    assert attributes['http.response.status_code'] == 200
    assert 'error.type' not in attributes and 'http.request.resend_count' not in attributes
    assert attributes['napix.timings.total'] >= attributes['napix.timings.wait'] > 0
    assert attributes['napix.timings.reused'] is False
    assert span.status.status_code == StatusCode.UNSET
    assert span.parent is None  # made outside any span
    [point] = telemetry.points()
    assert point.count == 1 and point.sum > 0
    assert dict(point.attributes) == {
        'http.request.method': 'GET', 'server.address': '127.0.0.1',
        'server.port': napix_server.port, 'http.response.status_code': 200}


def test_an_error_status_and_a_transport_failure_are_errors(napix_server, telemetry,
                                                           refused_host):
    client = Client(napix_server.host, AUTH)
    with pytest.raises(HTTPError):
        client.request('GET', '/vm/missing')
    with pytest.raises(ConnectError):
        Client(refused_host, AUTH).request('GET', '/vm/1')
    missing, refused = telemetry.finished()
    assert missing.status.status_code == StatusCode.ERROR
    assert missing.attributes['error.type'] == '404'
    assert missing.attributes['http.response.status_code'] == 404
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.attributes['error.type'] == 'ConnectError'
    assert 'http.response.status_code' not in refused.attributes
    errors = sorted(dict(p.attributes)['error.type'] for p in telemetry.points())
    assert errors == ['404', 'ConnectError']


def test_a_span_per_attempt_under_a_retry_policy(fault_server, telemetry):
    server = fault_server('ok', script=['503', '503'], retry_after=None)
    seen = []
    client = Client(server.host, AUTH, retry=Retry(total=3, backoff=0.0),
                    event_hooks={'request': [seen.append]})  # hooks: still one span each
    assert client.request('GET', '/vm').status == 200
    spans = telemetry.finished()
    assert len(spans) == 3 == len(seen)
    assert [s.attributes.get('http.request.resend_count') for s in spans] == [None, 1, 2]
    assert [s.attributes.get('http.response.status_code') for s in spans] == [503, 503, 200]
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.ERROR,
                                                     StatusCode.UNSET]
    assert sum(point.count for point in telemetry.points()) == 3


def test_the_callers_span_is_the_parent_across_a_pool_fan_out(napix_server,
                                                             make_napix_server, telemetry):
    hosts = [napix_server.host, make_napix_server().host, make_napix_server().host]
    pool = ClientPool(AUTH)
    with telemetry.tracer.start_as_current_span('fan-out') as parent:
        for host in hosts:
            pool.request(host, 'GET', '/vm/1')
    outside = pool.request(hosts[0], 'GET', '/vm/2')  # made outside any span
    pool.wait()
    assert outside.value.status == 200
    spans = telemetry.finished()
    assert len(spans) == 4
    under = [s for s in spans if s.parent is not None]
    assert len(under) == 3
    context = parent.get_span_context()
    for span in under:
        assert span.parent.span_id == context.span_id
        assert span.context.trace_id == context.trace_id
    assert sorted(s.attributes['server.port'] for s in under) == sorted(
        int(host.rpartition(':')[2]) for host in hosts)
    [root] = [s for s in spans if s.parent is None]
    assert root.context.trace_id != context.trace_id


def test_a_real_traceparent_on_the_wire_and_the_signature_accepted(napix_server, telemetry):
    add_trace_route(napix_server)
    with telemetry.tracer.start_as_current_span('caller'):
        answer = Client(napix_server.host, AUTH).request('GET', '/trace')
    [span] = telemetry.finished()
    context = span.context
    # The server checked the signature (it names the login) and got the span's context.
    assert context.trace_flags.sampled
    assert answer.body == {'by': 'root', 'traceparent': '00-{0:032x}-{1:016x}-{2:02x}'.format(
        context.trace_id, context.span_id, int(context.trace_flags))}


def test_no_credential_in_spans_or_metrics(napix_server, telemetry):
    client = Client(napix_server.host, AUTH)
    answer = client.request('GET', '/vm/1')
    with pytest.raises(HTTPError):
        client.request('GET', '/vm/missing')
    signature = answer.request.headers['Authorization'].rpartition(':')[2]
    text = repr([span.to_json() for span in telemetry.spans.get_finished_spans()])
    text += repr(telemetry.metrics.get_metrics_data())
    assert signature not in text and KEY not in text
    assert 'Authorization' not in text and 'nonce' not in text


def test_uninstrument_puts_the_library_back(napix_server):
    original = Connection.send_in
    telemetry = Telemetry()
    instrumentor = NapixInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider,
                            meter_provider=telemetry.meter_provider)
    instrumentor.instrument()  # again: nothing changes
    assert instrumentor.is_instrumented_by_opentelemetry
    assert Connection.send_in is not original
    instrumentor.uninstrument()
    assert Connection.send_in is original
    answer = Client(napix_server.host, AUTH).request('GET', '/vm/1')
    assert telemetry.finished() == [] and telemetry.points() == []
    assert 'traceparent' not in answer.request.headers
    assert getattr(answer.request, 'context', None) is None


def test_the_library_works_without_opentelemetry(napix_server):
    """Without the otel extra: every module but napix.opentelemetry imports and works."""
    import sys

    import gevent.subprocess
    code = '''
import sys
sys.modules['opentelemetry'] = None  # as if not installed
from napix.authenticators import LoginAuthenticator
from napixd.client import ClientPool
import napixd.cli.command
pool = ClientPool(LoginAuthenticator('root', 'toor'))
pool.request(sys.argv[1], 'GET', '/vm/1')
[answer] = pool.wait()
print(answer.status, answer.timings.total > 0)
try:
    import napix.opentelemetry
except ImportError:
    print('no instrumentation')
'''
    done = gevent.subprocess.run([sys.executable, '-c', code, napix_server.host],
                                 capture_output=True, text=True, timeout=60)
    assert done.stdout.split('\n')[:2] == ['200 True', 'no instrumentation'], done.stderr


def test_a_token_in_the_url_stays_out_of_spans_and_hooks(napix_server, telemetry):
    from napix.authenticators import NonSecureAuthenticator
    seen = []
    client = Client(napix_server.host, NonSecureAuthenticator('root', KEY),
                    event_hooks={'response': [lambda r: seen.append(r.request.url)]})
    answer = client.request('GET', '/vm/1?full=1')
    assert answer.body == {'id': '1', 'by': 'root'}  # the server read the token
    token = answer.request.url.partition('token=')[2]
    assert token
    [span] = telemetry.finished()
    assert span.attributes['url.full'].endswith('/vm/1?full=1')
    assert seen == ['/vm/1?full=1']
    assert token not in repr(span.to_json())


def test_a_span_per_attempt_the_breaker_lets_through(refused_host, telemetry):
    client = Client(refused_host, AUTH, breaker=Breaker(failures=1, reset=30))
    with pytest.raises(ConnectError):
        client.request('GET', '/')
    with pytest.raises(CircuitOpen):  # nothing sent: no span
        client.request('GET', '/')
    assert [span.attributes['error.type'] for span in telemetry.finished()] == ['ConnectError']


def test_napixd_busy_resend_is_within_the_span_of_its_attempt(fault_server, telemetry):
    server = fault_server('ok', script=['429'])
    assert Client(server.host, AUTH).request('GET', '/vm').status == 200
    assert len(server.requests) == 2
    [span] = telemetry.finished()
    assert span.attributes['http.response.status_code'] == 200
