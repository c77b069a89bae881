#!/usr/bin/env python3
"""bench/cost.py's count of bytecodes per request, with watching turned on.

    python bench/cost_watching.py             # nothing set, hooks, instrumented
    python bench/cost_watching.py --workloads nginx --simultaneous 10

The workloads and the counting are cost.py's (its child, run as is); before
it starts, the child of this script sets, for the work tree:

* ``hooks``: every pool's connections get one request hook (reading a
  header) and one response hook (reading the status), as a user would;
* ``otel``: :class:`napix.opentelemetry.NapixInstrumentor` instruments the
  library with the SDK's tracer provider (a span processor that exports to
  memory, cleared as it goes) and meter provider (an in-memory reader).

The counts include what the hooks and the OpenTelemetry SDK execute.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cost  # noqa: E402

SETTINGS = ('none', 'hooks', 'otel')


SEEN = []


def request_hook(request):
    request.headers.get('x-caller')


def response_hook(response):
    if response.status != 200:
        SEEN.append(response)


def prepare(tree, setting):
    """Turn *setting* on for the library of *tree*, before cost.child() runs."""
    sys.path[:0] = [tree]
    if setting == 'hooks':
        from napixd.client import pool

        made = pool.ClientPool.__init__

        def with_hooks(self, *args, **options):
            options['event_hooks'] = {'request': [request_hook], 'response': [response_hook]}
            made(self, *args, **options)
        pool.ClientPool.__init__ = with_hooks
    elif setting == 'otel':
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter)

        from napix.opentelemetry import NapixInstrumentor

        class Forgetting(InMemorySpanExporter):
            def export(self, spans):
                self.clear()
                return InMemorySpanExporter.export(self, spans)

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(Forgetting()))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        NapixInstrumentor().instrument(tracer_provider=tracer_provider,
                                       meter_provider=meter_provider)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--simultaneous', type=int, nargs='+', default=[10, 2])
    parser.add_argument('--lengths', type=int, nargs=2, default=[500, 1500])
    parser.add_argument('--warmup', type=int, default=1000)
    parser.add_argument('--json', choices=['stdlib', 'auto'], default='stdlib')
    parser.add_argument('--settings', nargs='+', choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument('--workloads', nargs='+', choices=list(cost.WORKLOADS),
                        default=['synthetic'], metavar='NAME',
                        help="cost.py's workloads (default: synthetic)")
    parser.add_argument('--child', nargs=9, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setting, tree, host, workload, simultaneous, mode, lengths, warmup, json_mode = \
            args.child
        if json_mode == 'stdlib':
            sys.modules['orjson'] = None
        prepare(tree, setting)
        return cost.child(tree, host, workload, int(simultaneous), mode,
                          [int(n) for n in lengths.split(',')], int(warmup), json_mode)
    server = cost.Server()
    try:
        for workload in args.workloads:
            for value in args.simultaneous:
                print('{0}, simultaneous={1}'.format(workload, value))
                for setting in args.settings:
                    print('  {0:6} {1}'.format(setting, _count(args, server, setting,
                                                                 workload, value)))
    finally:
        server.stop()
    return 0


def _count(args, server, setting, workload, simultaneous):
    """One child of cost.py counting *workload* with *setting* on."""
    argv = [sys.executable, os.path.abspath(__file__), '--child', setting, cost.ROOT,
            server.host, workload, str(simultaneous), 'trace',
            ','.join(str(n) for n in args.lengths), str(args.warmup), args.json]
    done = subprocess.run(argv, capture_output=True, text=True, env=cost.child_env())
    if done.returncode:
        raise SystemExit('{0} failed:\n{1}'.format(setting, done.stderr[-3000:]))
    result = cost.json.loads(done.stdout.strip().splitlines()[-1])
    return '{0:10,.1f} bytecodes/request {1:7,.2f} calls/request'.format(
        result['bytecodes'], result['calls'])


if __name__ == '__main__':
    sys.exit(main())
