"""OpenTelemetry traces and metrics of the requests to Napix servers.

An extra: ``pip install 'napixd-client[otel]'`` brings ``opentelemetry-api``;
the rest of the library works, and imports, without it. Like the
``opentelemetry-instrumentation-*`` packages::

    >>> from napix.opentelemetry import NapixInstrumentor
    >>> NapixInstrumentor().instrument(tracer_provider=tracer_provider,
    ...                                meter_provider=meter_provider)  # doctest: +SKIP
    >>> NapixInstrumentor().uninstrument()                              # doctest: +SKIP

Once instrumented, every :class:`~napix.connection.Connection` (and so every
``Client`` and ``ClientPool``) of the process follows the HTTP semantic
conventions:

* one ``CLIENT`` span per attempt, named by the method, with
  ``http.request.method``, ``server.address``, ``server.port``, ``url.full``
  (without credentials: no secret query parameter, never a header),
  ``network.protocol.version``, ``http.response.status_code``, ``error.type``
  on a failure (the exception's class name, or the status),
  ``http.request.resend_count`` from the second attempt on, and the request's
  :class:`~napix.timings.Timings` as ``napix.timings.<phase>`` attributes
  (seconds) with ``napix.timings.reused``; its status is an error for a
  failure and for a status of 400 or more;
* the ``http.client.request.duration`` histogram (seconds, one value per
  attempt) with the method, the status, ``error.type``, the server's address
  and port;
* the caller's context is the parent: the request saves it when it is made
  (``ClientPool.request()``, ``Client.request()``, ``build_request()``), in
  its ``attempt`` (:class:`~napix.timings.Attempt`), so that a span opened
  around ``pool.request(...)`` is the parent of the request's span although a
  worker greenlet sends it; a request made outside any span has no parent;
* ``traceparent`` (and ``tracestate``) are set by the global propagator
  before the request is signed (a Napix signature covers the method, host and
  path, not these headers: the server accepts it).

Nothing is paid when not instrumented: :meth:`NapixInstrumentor.instrument`
wraps ``Connection.send_in`` (each attempt) and the ``new_request`` that
:func:`napix.checks.build_request` (what connections, clients and pools make
their requests with) calls (the context), and
:meth:`~NapixInstrumentor.uninstrument` puts them back.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Callable, Dict, Optional, Set

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import get_meter
from opentelemetry.trace import SpanKind, Status, StatusCode

from napix import __version__
from napix import checks as _checks
from napix.connection import Connection
from napix.exceptions import HTTPError
from napix.hosts import parse_host
from napix.models import Request, Response
from napix.timings import Attempt

__all__ = ['NapixInstrumentor', 'DURATION']

#: The name of the histogram of the requests' durations.
DURATION = 'http.client.request.duration'
# The semantic conventions' advice for http.client.request.duration.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# What napix.checks.build_request() makes every request with.
_MAKER = 'new_request'
_PHASES = ('queued', 'resolve', 'connect', 'tls', 'send', 'wait', 'receive', 'total')


class NapixInstrumentor(object):
    """Turns the tracing and the metrics of :mod:`napix` on and off, for
    the whole process (every instance shares the one state)."""

    _installed: Optional['_Instrumentation'] = None

    def instrument(self, tracer_provider: Any = None, meter_provider: Any = None,
                   **options: Any) -> None:
        """Trace and measure every request from now on, with these providers
        (default: the global ones). Instrumenting again changes nothing."""
        if NapixInstrumentor._installed is not None:
            return
        if options:
            raise TypeError('instrument() takes tracer_provider and meter_provider, not '
                            '{0}'.format(', '.join(sorted(options))))
        instrumentation = _Instrumentation(tracer_provider, meter_provider)
        instrumentation.install()
        NapixInstrumentor._installed = instrumentation

    def uninstrument(self, **options: Any) -> None:
        """Stop tracing and measuring: the library is as if never instrumented."""
        instrumentation = NapixInstrumentor._installed
        if instrumentation is not None:
            instrumentation.remove()
            NapixInstrumentor._installed = None

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return NapixInstrumentor._installed is not None


class _Instrumentation(object):
    """The wrappers installed, and what they record with."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracer = trace.get_tracer(__name__, __version__, tracer_provider)
        meter = get_meter(__name__, __version__, meter_provider)
        try:
            self.duration = meter.create_histogram(
                DURATION, unit='s', description='Duration of HTTP client requests.',
                explicit_bucket_boundaries_advisory=list(_BUCKETS))
        except TypeError:  # an API before the advisory
            self.duration = meter.create_histogram(
                DURATION, unit='s', description='Duration of HTTP client requests.')
        self.send_in: Callable[..., Response] = Connection.send_in
        self.new_request: Callable[..., Request] = getattr(_checks, _MAKER)
        # The requests whose attempt is being traced (their id): an attempt
        # that goes through send_in() again (a subclass's) is one span.
        self.active: Set[int] = set()

    def install(self) -> None:
        send_in, new_request, traced = self.send_in, self.new_request, self.traced

        def traced_send_in(connection: Connection, slot: Any, request: Request,
                           _attempt: bool = False, _resent: bool = False) -> Response:
            if _resent or id(request) in self.active or not (_attempt or (
                    connection.retry is None and connection.breaker is None)):
                # Not one attempt: the retries' or the breaker's way to each
                # (which comes back here), or napixd's busy resend (within its attempt).
                return send_in(connection, slot, request, _attempt, _resent)
            return traced(partial_send(send_in, connection, slot), request)

        def saving_new_request(*args: Any) -> Request:
            request = new_request(*args)
            # The caller's context, in its greenlet: the parent of the spans.
            request.attempt = Attempt(1, request.started, otel_context.get_current())
            return request

        traced_send_in.__doc__ = send_in.__doc__
        Connection.send_in = traced_send_in  # type: ignore[method-assign,assignment]
        setattr(_checks, _MAKER, saving_new_request)

    def remove(self) -> None:
        Connection.send_in = self.send_in  # type: ignore[method-assign]
        setattr(_checks, _MAKER, self.new_request)

    def traced(self, send: Callable[[Request], Response], request: Request) -> Response:
        """``send(request)``, one attempt, in a span of its own."""
        attempt = request.attempt
        parent = attempt.context if attempt is not None else None
        if parent is None:
            parent = otel_context.get_current()
        scheme, name, port, _ = parse_host(request.host)
        attributes = _request_attributes(request, scheme, name, port)
        span = self.tracer.start_span(request.method, context=parent, kind=SpanKind.CLIENT,
                                      attributes=attributes)
        current = trace.set_span_in_context(span, parent)
        carrier: Dict[str, str] = {}
        propagate.inject(carrier, context=current)
        for header, value in carrier.items():
            request.headers[header] = value
        token = otel_context.attach(current)
        self.active.add(id(request))
        began = perf_counter()
        try:
            response = send(request)
        except BaseException as error:
            self._failed(span, attributes, error, perf_counter() - began)
            raise
        finally:
            self.active.discard(id(request))
            otel_context.detach(token)
        self._answered(span, attributes, response, perf_counter() - began)
        return response

    def _answered(self, span: Any, attributes: Dict[str, Any], response: Response,
                  seconds: float) -> None:
        span.set_attribute('http.response.status_code', response.status)
        _set_timings(span, response)
        self.duration.record(seconds, _metric_attributes(attributes, response.status, None))
        span.end()

    def _failed(self, span: Any, attributes: Dict[str, Any], error: BaseException,
                seconds: float) -> None:
        status = getattr(error, 'status', None) if isinstance(error, HTTPError) else None
        error_type = str(status) if status is not None else type(error).__name__
        if status is not None:
            span.set_attribute('http.response.status_code', status)
        span.set_attribute('error.type', error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
        if isinstance(error, HTTPError) and error.request is not None:
            _set_timings(span, error)
        self.duration.record(seconds, _metric_attributes(attributes, status, error_type))
        span.end()


def partial_send(send_in: Callable[..., Response], connection: Connection,
                 slot: Any) -> Callable[[Request], Response]:
    """``send_in(connection, slot, request, True)``, one attempt, as a function
    of the request."""
    return lambda request: send_in(connection, slot, request, True)


def _request_attributes(request: Request, scheme: str, name: str, port: int) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        'http.request.method': request.method,
        'server.address': name.strip('[]'),
        'server.port': port,
        'url.full': '{0}://{1}{2}'.format(scheme, request.authority, request.public_url()),
        'network.protocol.version': '1.1',
    }
    attempt = request.attempt
    if attempt is not None and attempt.number > 1:
        attributes['http.request.resend_count'] = attempt.number - 1
    return attributes


def _metric_attributes(attributes: Dict[str, Any], status: Optional[int],
                       error_type: Optional[str]) -> Dict[str, Any]:
    measured = {key: attributes[key] for key in
                ('http.request.method', 'server.address', 'server.port')}
    if status is not None:
        measured['http.response.status_code'] = status
    if error_type is not None:
        measured['error.type'] = error_type
    return measured


def _set_timings(span: Any, result: Any) -> None:
    """The timings of *result* (a response or an error) as the span's attributes."""
    timings = result.timings
    if timings is None:
        return
    for phase in _PHASES:
        span.set_attribute('napix.timings.' + phase, getattr(timings, phase))
    span.set_attribute('napix.timings.reused', timings.reused)
