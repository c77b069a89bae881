"""The client side of ``tests/live/test_hostile.py``, run in a child process.

``python tests/live/hostile_child.py '<json>'`` imports napix (without orjson when
``hide_orjson`` is true, so that the standard library's ``json`` decodes),
sends a warm-up request to ``warmup`` (a normal server), takes its own peak
RSS (``ru_maxrss``) as the baseline, then runs each of ``steps`` in order and
prints one JSON line per step, flushed at once, so that a parent that kills
a child which hangs still sees what came before::

    {"step": 0, "outcome": "ResponseTooLarge", "http_error": true, "status": null,
     "message": "...", "elapsed": 0.01, "cpu": 0.01, "rss_mb": 1.2, ...}

``elapsed`` is wall-clock seconds; ``cpu``, the CPU seconds this process spent
meanwhile (``time.process_time()``): what the client's own work cost, which a
loaded machine, or a server that is slow to send, does not stretch.

``rss_mb`` is the growth of the peak RSS since the baseline, in MiB: the cost
of the steps so far, however briefly it was held.

A step is ``{"host": ..., "method": "GET", "url": "/", "options": {Connection
options}, "read_headers": [names], "same_as": <index of an earlier step whose
Connection it reuses>}``; ``{"concurrent": {...}}`` runs the big request
``big`` in one greenlet while another greenlet sends small requests to
``small`` one after the other (see :func:`concurrent`).
"""

import hashlib
import json
import resource
import sys
import time


def peak_mb():
    """The peak RSS of this process, in MiB.

    ``ru_maxrss`` alone would not do: Linux keeps it across ``execve``, so a
    child forked from a big test process starts with its parent's peak, and
    hides its own growth below it. ``VmHWM`` is the peak of this program's
    own memory (and :func:`reset_peak` can bring it down to the current RSS).
    """
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def reset_peak():
    """Bring the peak RSS down to the current RSS, where the system allows it."""
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
    except OSError:
        pass


def describe(result, elapsed, baseline, read_headers, count_headers=False, cpu=None):
    """What the user saw: the Response or the exception, as JSON."""
    from napix.exceptions import HTTPError
    from napix.models import Response

    out = {'elapsed': round(elapsed, 4), 'cpu': None if cpu is None else round(cpu, 4)}
    if isinstance(result, Response):
        out.update(outcome='Response', http_error=False, status=result.status, message=None)
        headers = {}
        for name in read_headers:
            value = result.headers.get(name)
            headers[name] = value if value is None or len(value) < 2000 else {
                'length': len(value), 'sha256': hashlib.sha256(value.encode()).hexdigest(),
                'start': value[:200]}
        out['headers'] = headers
        if count_headers:
            out['header_count'] = len(result.headers)
        source = result
    else:
        out.update(outcome=type(result).__name__,
                   http_error=isinstance(result, HTTPError),
                   status=getattr(result, 'status', None), message=str(result)[:2000],
                   cause=repr(result.__cause__)[:300] if result.__cause__ else None)
        source = getattr(result, 'response', None)
    body = getattr(source, 'body', None) if source is not None else None
    content = getattr(source, 'content', None) if source is not None else None
    out['body_type'] = type(body).__name__ if source is not None else None
    try:
        out['body'] = body if len(json.dumps(body)) < 2000 else None
    except (TypeError, ValueError, RecursionError):
        out['body'] = None
    if isinstance(content, bytes):
        out['content_length'] = len(content)
        out['content_sha256'] = hashlib.sha256(content).hexdigest()
    out['rss_mb'] = round(peak_mb() - baseline, 1)
    return out


NEW_OPTIONS = ('max_head_size', 'max_header_line', 'max_header_fields')


def connect(cls, host, options):
    """``cls(host, None, **options)``, and the options it did not know: a
    head limit that a Connection does not take yet is dropped (and said), so
    that a test still measures what the client does without it."""
    dropped = []
    while True:
        try:
            return cls(host, None, **options), dropped
        except TypeError as error:
            unknown = [name for name in NEW_OPTIONS
                       if name in options and repr(name) in str(error)]
            if not unknown:
                raise
            dropped.append(unknown[0])
            del options[unknown[0]]


def send(connection, step):
    from napix.exceptions import HTTPError

    started, cpu = time.monotonic(), time.process_time()
    try:
        result = connection.request(step.get('method', 'GET'), step.get('url', '/'))
    except HTTPError as error:
        result = error
    except BaseException as error:  # what escapes: the test says it should not
        result = error
    return result, time.monotonic() - started, time.process_time() - cpu


def concurrent(spec, baseline):
    """``big`` in one greenlet; meanwhile ``small`` requests, one after the
    other, from another: the most CPU time spent between two of their
    answers (``small_max``) says whether the process froze."""
    import gevent

    from napix.connection import Connection

    big, dropped = connect(Connection, spec['big'], dict(spec.get('big_options', {})))
    small = Connection(spec['small'], None, timeout=(5, 30))
    outcome = {}
    latencies = []

    def run_big():
        result, elapsed, cpu = send(big, {'url': spec.get('url', '/big')})
        outcome.update(describe(result, elapsed, baseline, spec.get('read_headers', []),
                                cpu=cpu))

    def run_small():
        # The CPU time this process spent from one small answer to the next
        # (a request and a 10 ms pause): a freeze of the process, whatever it
        # froze in, shows as CPU spent without a small answer; a machine too
        # busy to run the process, or servers slow to answer, add none.
        last = time.process_time()
        while not outcome:
            small.request('GET', '/small')
            gevent.sleep(0.01)
            now = time.process_time()
            latencies.append(now - last)
            last = now

    started, cpu = time.monotonic(), time.process_time()
    greenlets = [gevent.spawn(run_big), gevent.spawn(run_small)]
    gevent.joinall(greenlets, raise_error=True)
    outcome['big_elapsed'] = round(time.monotonic() - started, 4)
    outcome['big_cpu'] = round(time.process_time() - cpu, 4)
    outcome['small_count'] = len(latencies)
    outcome['small_max'] = round(max(latencies), 4) if latencies else None
    outcome['unsupported_options'] = dropped
    return outcome


def main():
    spec = json.loads(sys.argv[1])
    if spec.get('hide_orjson'):
        sys.modules['orjson'] = None  # napix.models falls back to the standard json
    import gevent  # noqa: F401

    from napix.connection import Connection

    if spec.get('warmup'):
        assert Connection(spec['warmup'], None).request('GET', '/warmup').status == 200
    reset_peak()
    baseline = peak_mb()
    print(json.dumps({'ready': True, 'baseline_mb': round(baseline, 1)}), flush=True)
    connections = []
    for number, step in enumerate(spec['steps']):
        if 'concurrent' in step:
            out = concurrent(step['concurrent'], baseline)
            connections.append(None)
        else:
            if step.get('same_as') is not None:
                connection = connections[step['same_as']]
            else:
                options = dict(step.get('options', {}))
                if isinstance(options.get('timeout'), list):
                    options['timeout'] = tuple(options['timeout'])
                connection, dropped = connect(Connection, step['host'], options)
                if dropped:
                    step['unsupported'] = dropped
            connections.append(connection)
            result, elapsed, cpu = send(connection, step)
            out = describe(result, elapsed, baseline, step.get('read_headers', []),
                           step.get('count_headers', False), cpu)
            out['unsupported_options'] = step.get('unsupported', [])
            del result
        out['step'] = number
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
