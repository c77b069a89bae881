#!/usr/bin/env python3
"""What a request costs ClientPool, counted: bytecodes, calls, instructions.

    python bench/cost.py                      # the work tree, every workload
    python bench/cost.py d3ab06e HEAD         # revisions, side by side with the work tree
    python bench/cost.py --workloads nginx    # one workload (--list-workloads: all of them)
    python bench/cost.py --callgrind          # and CPU instructions under valgrind
    python bench/cost.py --check              # the work tree against bench/cost_budget.json

The workload is bench/compare.py's, on answers shaped like real servers':
``ClientPool(LoginAuthenticator('bench', 'bench-secret-key'), simultaneous=S)``
sends signed requests to one host on 127.0.0.1, ``pool.wait()`` collects them
and every status is checked. The server, a raw-socket loop in a process of
its own, answers each workload's path (``/cost/nginx``...) with that
workload's bytes (WORKLOADS below: today's synthetic answer, nginx's head and
file, napixd's pywsgi server, a JSON body ending in a newline, a 2 KB list, a
signed POST), on keep-alive connections. Each version runs in a child process
of its own (a git revision is checked out in a temporary worktree: its library,
this harness), with the garbage collector off and ``PYTHONHASHSEED=0``, after
``--warmup`` untraced requests.

Bytecodes and calls are counted with ``sys.settrace`` (``opcode`` and ``call``
events), followed into every greenlet (``greenlet.settrace`` sets the trace
again on each switch, and the frames already suspended in other greenlets
are given the tracer before counting starts). Per request:
``(count(N2) - count(N1)) / (N2 - N1)`` for two runs of ``--lengths`` N1 and
N2 requests in the same process, so that what a run costs once (and the
harness's own code, never counted) cancels out. The counts do not depend on
the machine's speed or load: they are the same from one run to the next.

``--callgrind`` adds the CPU instructions of the client process (``Ir``,
valgrind's callgrind): two processes, N1 and N2 requests after the same
warm-up, their difference divided by N2 - N1, so that start-up cancels out.

``--check`` counts the bytecodes per request of the work tree (or of
``--tree PATH``) on every workload of the budget file, at each of its
*simultaneous*, and exits with status 1, naming the workload, when one is
above its fixed ceiling. It counts with the standard library's JSON decoder
(orjson hidden from the child), so that it holds whether orjson is installed
or not.
"""

import argparse
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from typing import Any, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUDGET = os.path.join(HERE, 'cost_budget.json')
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import BODY as RESOURCE  # noqa: E402  the JSON bench/run.py's nginx serves


# ---------------------------------------------------------------------------
# The workloads: what the client sends, what the server answers.

class Workload(NamedTuple):
    """One request and the server's answer to it, bytes for bytes."""
    name: str
    method: str
    body: Any  # the request's JSON value (None: no body)
    response: bytes  # the whole answer, head and body, written in one send
    why: str

    @property
    def path(self) -> str:
        return '/cost/' + self.name


def answer(head_lines, body, status='200 OK'):
    """An HTTP/1.1 answer: the status line, *head_lines* (``Content-Length``
    put where ``{length}`` is) and *body*."""
    head = '\r\n'.join(['HTTP/1.1 ' + status] + [line.format(length=len(body))
                                                 for line in head_lines])
    return head.encode('ascii') + b'\r\n\r\n' + body


def _list_of_objects(size):
    """A JSON list of napixd-like objects, at least *size* bytes, compact."""
    items, text = [], '[]'
    while len(text) < size:
        number = len(items)
        items.append({'id': 'vm-{0:03d}'.format(number), 'state': 'running',
                      'host': 'xen{0}.example.org'.format(number % 8), 'cpus': 2 + number % 4})
        text = json.dumps(items, separators=(',', ':'))
    return text.encode()


#: A date that never changes: the client reads no ``Date``, and a fixed one
#: keeps every answer the same size.
DATE = 'Tue, 08 Dec 2026 00:29:51 GMT'
COMPACT = b'{"id":"vm-042","n":1}'
NGINX_FILE = json.dumps(RESOURCE).encode() + b'\n'
TWO_LINES = ['Content-Type: application/json', 'Content-Length: {length}']

WORKLOADS = {w.name: w for w in [
    Workload('synthetic', 'GET', None, answer(TWO_LINES, COMPACT),
             'the smallest answer: two header lines, 21 bytes of JSON with nothing after it '
             '(the only workload before issue 27)'),
    Workload('nginx', 'GET', None, answer(
        ['Server: nginx/1.22.1', 'Date: ' + DATE, 'Content-Type: application/json',
         'Content-Length: {length}', 'Last-Modified: Thu, 03 Dec 2026 09:12:00 GMT',
         'Connection: keep-alive', 'ETag: "69300000-{0:x}"'.format(len(NGINX_FILE)),
         'Accept-Ranges: bytes'], NGINX_FILE),
        "nginx serving a JSON file (bench/run.py's server): eight header lines, 214 "
        'bytes ending in a newline, as a file written by an editor or json.dump + "\\n" ends'),
    Workload('pywsgi', 'GET', None, answer(
        ['Content-Type: application/json', 'Content-Length: {length}', 'Date: ' + DATE],
        json.dumps(RESOURCE).encode()),
        "napixd's own server (gevent's pywsgi, as napixd.testing.NapixServer answers): "
        'three header lines, json.dumps with its default separators'),
    Workload('newline', 'GET', None, answer(TWO_LINES, COMPACT + b'\n'),
             'the synthetic answer with a newline after its JSON, as Flask ends every '
             'JSON body: the one difference is the trailing whitespace'),
    Workload('list2k', 'GET', None, answer(TWO_LINES, _list_of_objects(2048)),
             'a 2 KB JSON list of 30 objects: a listing, where decoding weighs more'),
    Workload('post', 'POST', {'name': 'vm-042', 'cpus': 2, 'memory_mb': 8192,
                              'tags': {'owner': 'infra', 'env': 'prod'}},
             answer(TWO_LINES, COMPACT),
             'a signed POST with a JSON body: encoding the body, Content-Type and '
             'Content-Length on the request side'),
]}

#: What a run and --set-budget count unless --workloads says otherwise (--check:
#: every workload that has a ceiling in the budget file).
DEFAULT_WORKLOADS = list(WORKLOADS)
NOT_FOUND = answer(['Content-Length: {length}'], b'', '404 Not Found')


# ---------------------------------------------------------------------------
# The server (``cost.py --serve``): a process of its own, never counted.

def serve():
    """Answer every request on every connection with its workload's answer.

    The request's path names the workload (``/cost/nginx``); a request ends
    after its blank line and the ``Content-Length`` bytes of its body. The
    answers to the requests one ``recv`` completed are written in one
    ``send``. Prints the port, then serves until its stdin closes.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    listener.listen(1024)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print(listener.getsockname()[1], flush=True)
    answers = {w.path.encode(): w.response for w in WORKLOADS.values()}
    pending = {}
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):
                    return
            elif sock is listener:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ)
                pending[conn] = b''
            else:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b''
                if not data:
                    selector.unregister(sock)
                    del pending[sock]
                    sock.close()
                    continue
                data, out = complete_requests(pending[sock] + data, answers)
                if out:
                    try:
                        sock.sendall(b''.join(out))
                    except OSError:
                        pass
                pending[sock] = data


def complete_requests(data, answers):
    """Split the complete requests off *data*: (what is left, their answers)."""
    out = []
    while True:
        end = data.find(b'\r\n\r\n')
        if end < 0:
            return data, out
        head = data[:end]
        length = 0
        for line in head.split(b'\r\n')[1:]:
            name, _, value = line.partition(b':')
            if name.strip().lower() == b'content-length':
                length = int(value)
        if len(data) < end + 4 + length:
            return data, out
        target = head.split(b' ', 2)[1] if head.count(b' ') >= 2 else b''
        out.append(answers.get(target.split(b'?')[0], NOT_FOUND))
        data = data[end + 4 + length:]


class Server(object):
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--serve'],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise SystemExit('the server did not start')
        self.port = int(line)
        self.host = '127.0.0.1:{0}'.format(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ---------------------------------------------------------------------------
# The measured child (``cost.py --child ...``).

def child(tree, host, workload, simultaneous, mode, lengths, warmup, json_mode):
    """Run *workload* against *tree*'s library; print one JSON line.

    *mode* ``trace``: bytecodes and calls per request; ``profile``,
    ``sanity`` and ``naive``: the same counted otherwise (see
    :func:`_counters`); ``plain``: warm-up, then N1 untraced requests (for
    callgrind, which counts the whole process).
    """
    import gc
    sys.path[:] = [tree] + [p for p in sys.path if os.path.abspath(p or '.') != HERE]
    if json_mode == 'stdlib':
        sys.modules['orjson'] = None  # ImportError: the library falls back to json
    import napix
    from napix.authenticators import LoginAuthenticator
    from napixd.client.pool import ClientPool
    source = os.path.dirname(os.path.dirname(os.path.abspath(napix.__file__)))
    if os.path.realpath(source) != os.path.realpath(tree):
        raise SystemExit('napix imported from {0}, not {1}'.format(source, tree))
    try:
        import orjson  # noqa: F401
        decoder = 'orjson'
    except ImportError:
        decoder = 'json'
    gc.disable()
    pool = ClientPool(LoginAuthenticator('bench', 'bench-secret-key'),
                      simultaneous=simultaneous)
    work = WORKLOADS[workload]
    # Positional, as every revision's ClientPool.request takes them.
    arguments = (host, work.method, work.path) + ((work.body,) if work.body is not None else ())

    def run(count):
        for _ in range(count):
            pool.request(*arguments)
        for result in pool.wait():
            if getattr(result, 'status', None) != 200:
                raise SystemExit('error: {0!r}'.format(result))

    run(warmup)
    gc.collect()
    result = {'decoder': decoder}
    if mode == 'plain':
        run(lengths[0])
    else:
        first, second = lengths
        counts = []
        for count in (first, second):
            counter = _counters(mode)
            gc.collect()
            counter.start()
            run(count)
            counter.stop()
            counts.append(counter.totals())
        for name in counts[1]:
            result[name] = (counts[1][name] - counts[0].get(name, 0)) / (second - first)
    print(json.dumps(result))


def _counters(mode):
    """Counters of 'opcode' and 'call' trace events, in every greenlet.

    ``sanity`` mode also counts the main greenlet's share; ``naive`` mode
    counts with sys.settrace alone (no greenlet.settrace, no tracer given to
    the frames suspended in other greenlets); both show what following the
    greenlets adds. ``profile`` mode counts each function's events too.
    """
    import gc
    import greenlet

    harness = __file__ if not __file__.endswith('.pyc') else __file__[:-1]
    harness = os.path.abspath(harness)
    ops = calls = 0
    main = greenlet.getcurrent()
    in_main = [0, 0]

    def local(frame, event, arg):
        nonlocal ops
        if event == 'opcode':
            ops += 1
        return local

    def local_main(frame, event, arg):  # sanity mode: who runs the code
        nonlocal ops
        if event == 'opcode':
            ops += 1
            if greenlet.getcurrent() is main:
                in_main[0] += 1
        return local_main

    tracer = local_main if mode == 'sanity' else local
    per_code = {}

    def on_call(frame, event, arg):
        nonlocal calls
        if frame.f_code.co_filename == harness:
            return None  # the harness's loop and these tracers
        calls += 1
        if mode == 'sanity' and greenlet.getcurrent() is main:
            in_main[1] += 1
        frame.f_trace_lines = False
        frame.f_trace_opcodes = True
        if mode == 'profile':
            return by_code(frame)
        return tracer

    def by_code(frame, called=True):  # profile mode: the counts of each function
        code = frame.f_code
        cell = per_code.get(code)
        if cell is None:
            cell = per_code[code] = [0, 0]
        cell[1] += called

        def counted(frame, event, arg):
            nonlocal ops
            if event == 'opcode':
                ops += 1
                cell[0] += 1
            return counted
        return counted

    def on_switch(event, args):
        sys.settrace(on_call)  # in the greenlet switched to

    def give(frame):
        while frame is not None:
            if frame.f_code.co_filename != harness:
                frame.f_trace = by_code(frame, False) if mode == 'profile' else tracer
                frame.f_trace_lines = False
                frame.f_trace_opcodes = True
            frame = frame.f_back

    class Counter(object):
        def __init__(self, follow):
            self.follow = follow

        def start(self):
            if self.follow:
                for obj in gc.get_objects():
                    if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
                        give(obj.gr_frame)
                greenlet.settrace(on_switch)
            sys.settrace(on_call)

        def stop(self):
            sys.settrace(None)
            if self.follow:
                greenlet.settrace(None)

        def totals(self):
            totals = {'bytecodes': ops, 'calls': calls}
            if mode == 'sanity':
                totals['bytecodes_main_greenlet'], totals['calls_main_greenlet'] = in_main
            for code, (code_ops, code_calls) in per_code.items():
                name = '{0}:{1} {2}'.format(code.co_filename, code.co_firstlineno,
                                            code.co_qualname)
                totals['bytecodes ' + name] = code_ops
                totals['calls ' + name] = code_calls
            return totals

    return Counter(mode != 'naive')


# ---------------------------------------------------------------------------
# The parent: worktrees, children, callgrind, the table, the budget.

def child_argv(tree, server, workload, simultaneous, mode, lengths, warmup, json_mode):
    return [sys.executable, os.path.abspath(__file__), '--child', tree, server.host, workload,
            str(simultaneous), mode, ','.join(str(n) for n in lengths), str(warmup),
            json_mode]


def child_env():
    env = dict(os.environ)
    env['PYTHONHASHSEED'] = '0'
    env.pop('PYTHONPATH', None)
    env.pop('PYTHONSTARTUP', None)
    return env


def run_child(argv, label):
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env())
    if done.returncode:
        raise SystemExit('{0} failed ({1}):\n{2}'.format(
            label, done.returncode, (done.stderr or done.stdout)[-3000:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def count(tree, label, server, workload, simultaneous, args, mode='trace'):
    """Bytecodes and calls per request of *workload* on *tree*'s library."""
    return run_child(child_argv(tree, server, workload, simultaneous, mode, args.lengths,
                                args.warmup, args.json),
                     '{0}, {1}, simultaneous={2}'.format(label, workload, simultaneous))


def callgrind(tree, label, server, workload, simultaneous, args, tmp):
    """Ir per request: two processes under callgrind, N1 and N2 requests."""
    totals = []
    for length in args.callgrind_lengths:
        out = os.path.join(tmp, 'callgrind.{0}.out'.format(length))
        argv = [args.valgrind, '--tool=callgrind', '--callgrind-out-file=' + out,
                '--dump-instr=no', '--compress-strings=no']
        argv += child_argv(tree, server, workload, simultaneous, 'plain', [length],
                           args.warmup, args.json)
        run_child(argv, '{0}, {1} under callgrind'.format(label, workload))
        totals.append(_callgrind_total(out))
        os.unlink(out)
    first, second = args.callgrind_lengths
    return (totals[1] - totals[0]) / (second - first)


def _callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                return int(line.split()[1])
    raise SystemExit('no total in ' + path)


def worktree(revision, tmp, index):
    tree = os.path.join(tmp, 'tree{0}'.format(index))
    subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', '-q', tree, revision],
                   check=True)
    return tree


def remove_worktree(tree):
    subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', tree])


def describe(values, fmt, base=None):
    """One cell: the median, its ratio to *base*'s, and the range of repeats."""
    middle = statistics.median(values)
    text = fmt.format(middle)
    if base:
        text += ' ({0:.2f}x)'.format(middle / statistics.median(base))
    if len(values) > 1:
        text += ' [{0}-{1}]'.format(fmt.format(min(values)), fmt.format(max(values)))
    return text


MEASURES = [('bytecodes', 'Python bytecodes per request', '{0:,.1f}'),
            ('calls', 'Python calls per request', '{0:,.2f}'),
            ('ir', 'CPU instructions per request (callgrind)', '{0:,.0f}')]


def table(columns, rows, results, with_ir):
    """One block per measure: a row per (workload, simultaneous), a column per
    version; the ratios are to the first column's.

    *results*: ``{(column, workload, simultaneous): {'bytecodes': [...], ...}}``.
    """
    lines = []
    for key, title, fmt in MEASURES if with_ir else MEASURES[:2]:
        grid = [['workload'] + list(columns)]
        for workload, value in rows:
            name = workload if len({v for _, v in rows}) == 1 else \
                '{0}, simultaneous={1}'.format(workload, value)
            first = results[(columns[0], workload, value)][key]
            grid.append([name] + [
                describe(results[(column, workload, value)][key], fmt,
                         first if index else None)
                for index, column in enumerate(columns)])
        widths = [max(len(line[i]) for line in grid) + 3 for i in range(len(grid[0]))]
        lines.append(title + ':')
        for line in grid:
            lines.append('  ' + line[0].ljust(widths[0]) + ''.join(
                cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)))
    return '\n'.join(lines)


def print_profile(label, tree, workload, value, result, limit=30):
    """The functions that execute the most bytecodes per request."""
    functions = sorted(((result[key], result['calls ' + key[len('bytecodes '):]],
                         key[len('bytecodes '):]) for key in result
                        if key.startswith('bytecodes ')), reverse=True)
    print('{0}, {1}, simultaneous={2}: the {3} functions executing the most bytecodes, per '
          'request (of {4:,.1f} bytecodes, {5:,.2f} calls)'.format(
              label, workload, value, limit, result['bytecodes'], result['calls']))
    for ops, calls, name in functions[:limit]:
        if abs(ops) < 0.05 and abs(calls) < 0.005:
            break
        for prefix in (tree, sys.prefix, sys.base_prefix):
            name = name.replace(prefix + os.sep, '')
        print('  {0:8,.1f} {1:6.2f}  {2}'.format(ops, calls, name))


# ---------------------------------------------------------------------------
# The ceilings (bench/cost_budget.json): --check and --set-budget.

def load_budget(path):
    with open(path) as f:
        budget = json.load(f)
    return budget


def python_version():
    return '{0}.{1}'.format(*sys.version_info[:2])


def check(args, tree, label, server):
    """The gate: the tree's bytecodes per request, on every workload of the
    budget file, against its fixed ceilings."""
    budget = load_budget(args.budget)
    version = python_version()
    ceilings = budget['python'].get(version)
    rel = os.path.relpath(args.budget, os.getcwd())
    if ceilings is None:
        print('FAIL: {0} has no ceilings for Python {1} (bytecode counts change with the '
              'Python version): add them with `python bench/cost.py --set-budget` (from the '
              'reference revision {2}), then commit {0}'.format(
                  rel, version, budget.get('reference', '?')))
        return 1
    args.json = budget.get('json', 'stdlib')
    workloads = [w for w in ceilings if w in WORKLOADS]
    missing = [w for w in ceilings if w not in WORKLOADS]
    if missing:
        print('FAIL: {0} has ceilings for workloads bench/cost.py does not know: {1}'.format(
            rel, ', '.join(missing)))
        return 1
    print('cost check of {0} (Python {1}, {2} JSON decoder, {3} + {4} requests after {5} '
          'warm-up), bytecodes per request against the ceilings of {6}:'.format(
              label, version, args.json, args.lengths[0], args.lengths[1], args.warmup,
              rel), flush=True)
    failures = []
    for workload in workloads:
        ceiling = ceilings[workload]
        for value in budget.get('simultaneous', [10]):
            result = count(tree, label, server, workload, value, args)
            over = result['bytecodes'] > ceiling['bytecodes']
            print('  {0:<10} simultaneous={1:<3} {2:8,.1f} bytecodes, {3:6,.2f} calls; '
                  'ceiling {4:,} ({5}){6}'.format(
                      workload, value, result['bytecodes'], result['calls'],
                      ceiling['bytecodes'], 'OVER' if over else 'ok',
                      '; {0} {1:,.1f}'.format(budget.get('reference', 'reference'),
                                               ceiling['reference_bytecodes'])
                      if 'reference_bytecodes' in ceiling else ''), flush=True)
            if over:
                failures.append((workload, value, result['bytecodes'], ceiling['bytecodes']))
    if not failures:
        print('ok: every workload within its ceiling in {0}'.format(rel))
        return 0
    for workload, value, got, limit in failures:
        print('FAIL: workload {0}, simultaneous={1}: {2:,.1f} bytecodes per request, above '
              'its ceiling of {3:,} (+{4:.1f}%) in {5} (python."{6}".{0}.bytecodes)'.format(
                  workload, value, got, limit, (got / limit - 1) * 100, rel, version))
    print('A change made each request cost more Python bytecodes than the ceiling allows. '
          'Make it cheaper (python bench/cost.py --by-function HEAD --workloads {0} shows '
          'where they go, side by side with HEAD). The ceilings are fixed (bench/README.rst, '
          '"The ceilings"): raising one is a decision of its own, with its reason in the '
          'commit message.'.format(' '.join(sorted({f[0] for f in failures}))))
    measured = budget.get('measured_with', {}).get(version, {})
    other = {k: v for k, v in _versions().items() if measured.get(k) not in (None, v)}
    if other:
        print('Note: the ceilings were measured with {0}; here: {1}.'.format(
            ', '.join('{0} {1}'.format(k, measured[k]) for k in other),
            ', '.join('{0} {1}'.format(k, v) for k, v in other.items())))
    return 1


def _versions():
    import importlib.metadata
    found = {'python': platform.python_version()}
    for name in ('gevent', 'greenlet'):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def set_budget(args, server):
    """Ceilings for a Python version the file has none for: the reference
    revision's count on each workload plus the margin. Existing ceilings are
    fixed: they are never rewritten."""
    path = args.budget
    budget = load_budget(path)
    version = python_version()
    if version in budget['python']:
        raise SystemExit('{0} already has the ceilings of Python {1}: they are fixed (edit '
                         'the file by hand, with the reason in the commit message)'.format(
                             path, version))
    reference, margin = budget['reference'], budget['margin']
    args.json = budget['json']
    ceilings = {}
    with tempfile.TemporaryDirectory() as tmp:
        tree = worktree(reference, tmp, 0)
        try:
            for workload in args.workloads:
                results = [count(tree, reference, server, workload, value, args)
                           for value in budget['simultaneous']]
                worst = max(results, key=lambda r: r['bytecodes'])
                ceilings[workload] = {
                    'bytecodes': int(worst['bytecodes'] * (1 + margin)) + 1,
                    'reference_bytecodes': round(worst['bytecodes'], 1),
                    'reference_calls': round(worst['calls'], 2)}
                print('{0}: {1} counts {2:,.1f} bytecodes/request -> ceiling {3:,}'.format(
                    workload, reference, worst['bytecodes'], ceilings[workload]['bytecodes']))
        finally:
            remove_worktree(tree)
    budget['python'][version] = ceilings
    budget.setdefault('measured_with', {})[version] = _versions()
    with open(path, 'w') as f:
        json.dump(budget, f, indent=2)
        f.write('\n')
    print('written to {0}'.format(path))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n\n'.join(__doc__.split('\n\n')[1:]))
    parser.add_argument('revisions', nargs='*',
                        help='git revisions to measure side by side with the work tree')
    parser.add_argument('--workloads', nargs='+', choices=list(WORKLOADS),
                        default=DEFAULT_WORKLOADS, metavar='NAME',
                        help='the workloads to count (default: all of them: {0})'.format(
                            ', '.join(WORKLOADS)))
    parser.add_argument('--list-workloads', action='store_true',
                        help='print each workload, what it is for, and its answer')
    parser.add_argument('--simultaneous', type=int, nargs='+', default=[10],
                        help='ClientPool(simultaneous=...) values (default: 10)')
    parser.add_argument('--lengths', type=int, nargs=2, default=[500, 1500],
                        metavar=('N1', 'N2'), help='the two traced runs (default: 500 1500)')
    parser.add_argument('--warmup', type=int, default=1000,
                        help='untraced requests first (default: 1000)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='measure each version this many times (shows the spread)')
    parser.add_argument('--json', choices=['auto', 'stdlib', 'orjson'], default='auto',
                        help='the JSON decoder the library finds: stdlib hides orjson '
                             '(default: auto, whatever is installed; --check uses the '
                             "budget's)")
    parser.add_argument('--callgrind', action='store_true',
                        help="also count CPU instructions under valgrind's callgrind (slow)")
    parser.add_argument('--callgrind-lengths', type=int, nargs=2, default=[1000, 3000],
                        metavar=('N1', 'N2'), help='(default: 1000 3000)')
    parser.add_argument('--valgrind', default=shutil.which('valgrind') or '/usr/bin/valgrind')
    parser.add_argument('--no-work-tree', action='store_true',
                        help='only the revisions given')
    parser.add_argument('--tree', default=ROOT,
                        help='measure (and --check) this directory instead of the work tree')
    parser.add_argument('--check', action='store_true',
                        help='fail (status 1) when a workload costs more bytecodes per '
                             'request than its ceiling')
    parser.add_argument('--budget', default=BUDGET, help='(default: bench/cost_budget.json)')
    parser.add_argument('--set-budget', action='store_true',
                        help="write the ceilings of a Python version the budget has none "
                             "for: its reference revision's counts plus its margin")
    parser.add_argument('--sanity', action='store_true',
                        help='also count with sys.settrace alone and in the main greenlet '
                             'only, to show that the counting follows every greenlet')
    parser.add_argument('--by-function', action='store_true',
                        help='also print the functions executing the most bytecodes')
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--child', nargs=8, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        return serve()
    if args.child:
        tree, host, workload, simultaneous, mode, lengths, warmup, json_mode = args.child
        return child(tree, host, workload, int(simultaneous), mode,
                     [int(n) for n in lengths.split(',')], int(warmup), json_mode)
    if args.list_workloads:
        for work in WORKLOADS.values():
            print('{0} ({1} {2}): {3}\n  {4!r}\n'.format(
                work.name, work.method, work.path, work.why, work.response))
        return 0
    if args.lengths[1] <= args.lengths[0] or args.callgrind_lengths[1] <= args.callgrind_lengths[0]:
        parser.error('N2 must be larger than N1')
    if args.callgrind and not os.path.exists(args.valgrind):
        parser.error('--callgrind: valgrind not found (apt-get install valgrind)')
    if args.revisions and (args.check or args.set_budget):
        parser.error('--check and --set-budget measure the work tree (or --tree), no revision')
    if args.json == 'orjson':
        try:
            import orjson  # noqa: F401
        except ImportError:
            parser.error('--json orjson: orjson is not installed')
    tree_label = 'work tree' if os.path.realpath(args.tree) == os.path.realpath(ROOT) else \
        'tree {0}'.format(args.tree)
    args.tree = os.path.abspath(args.tree)

    server = Server()
    try:
        if args.check:
            return check(args, args.tree, tree_label, server)
        if args.set_budget:
            return set_budget(args, server)
        return compare(args, tree_label, server)
    finally:
        server.stop()


def compare(args, tree_label, server):
    """Every workload on every version: the table."""
    rows = [(workload, value) for workload in args.workloads for value in args.simultaneous]
    results, columns = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        try:
            for index, revision in enumerate(args.revisions):
                sources.append((revision, worktree(revision, tmp, index)))
            if not args.no_work_tree:
                sources.append((tree_label, args.tree))
            for label, tree in sources:
                cells = {}
                for workload, value in rows:
                    cells[workload, value] = measure(args, server, label, tree, workload,
                                                     value, tmp)
                column = '{0} ({1})'.format(label, cells[rows[0]].pop('decoder'))
                columns.append(column)
                for (workload, value), cell in cells.items():
                    results[column, workload, value] = cell
        finally:
            for _, tree in sources:
                if tree != args.tree:
                    remove_worktree(tree)
    print('ClientPool, one host on 127.0.0.1 ({0}), per request: {1} and {2} traced requests '
          'after {3} warm-up{4}'.format(
              server.host, args.lengths[0], args.lengths[1], args.warmup,
              '; callgrind {0} and {1}'.format(*args.callgrind_lengths) if args.callgrind
              else ''))
    print(table(columns, rows, results, args.callgrind))
    return 0


def measure(args, server, label, tree, workload, value, tmp):
    """One cell of the table: the counts of --repeat runs (and what
    --by-function and --sanity print)."""
    cell = {'bytecodes': [], 'calls': [], 'ir': []}
    for _ in range(args.repeat):
        result = count(tree, label, server, workload, value, args)
        cell['bytecodes'].append(result['bytecodes'])
        cell['calls'].append(result['calls'])
        cell['decoder'] = result['decoder']
        if args.callgrind:
            cell['ir'].append(callgrind(tree, label, server, workload, value, args, tmp))
    if args.by_function:
        print_profile(label, tree, workload, value,
                      count(tree, label, server, workload, value, args, mode='profile'))
    if args.sanity:
        sanity = count(tree, label, server, workload, value, args, mode='sanity')
        naive = count(tree, label, server, workload, value, args, mode='naive')
        print('{0}, {1}, simultaneous={2}: per request, {3:,.1f} bytecodes and {4:,.2f} '
              'calls followed into every greenlet; with sys.settrace alone {5:,.1f} and '
              '{6:,.2f}; in the main greenlet {7:,.1f} and {8:,.2f}'.format(
                  label, workload, value, sanity['bytecodes'], sanity['calls'],
                  naive['bytecodes'], naive['calls'], sanity['bytecodes_main_greenlet'],
                  sanity['calls_main_greenlet']), flush=True)
    return cell


if __name__ == '__main__':
    sys.exit(main())
