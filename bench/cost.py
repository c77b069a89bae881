#!/usr/bin/env python3
"""What a request costs ClientPool, counted: bytecodes, calls, instructions.

    python bench/cost.py                      # the work tree
    python bench/cost.py 80ba9e9 HEAD         # revisions, side by side with the work tree
    python bench/cost.py --callgrind          # and CPU instructions under valgrind
    python bench/cost.py --check              # the work tree against bench/cost_budget.json

The workload is bench/compare.py's: ``ClientPool(LoginAuthenticator('bench',
'bench-secret-key'), simultaneous=S)`` sends signed GETs to one host on
127.0.0.1 (a raw-socket server in a process of its own, answering a 21-byte
JSON body on keep-alive connections), ``pool.wait()`` collects them and every
status is checked. Each version runs in a child process of its own (a git
revision is checked out in a temporary worktree), with the garbage collector
off and ``PYTHONHASHSEED=0``, after ``--warmup`` untraced requests.

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

``--check`` measures the bytecodes per request of the work tree (or of
``--tree PATH``) for each *simultaneous* in the budget file and exits with
status 1 when one is above its budget. The budget is counted with the
standard library's JSON decoder (orjson hidden from the child), so that it
holds whether or not the 'fast' extra is installed.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUDGET = os.path.join(HERE, 'cost_budget.json')

#: The server's one answer: 21 bytes of JSON, keep-alive, written in one send.
BODY = b'{"id":"vm-042","n":1}'
RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
            b'Content-Length: ' + str(len(BODY)).encode() + b'\r\n\r\n' + BODY)
PATH = '/data.json'


# ---------------------------------------------------------------------------
# The server (``cost.py --serve``): a process of its own, never counted.

def serve():
    """Answer every request head on every connection with RESPONSE.

    Requests are counted by their blank line (the workload's GETs have no
    body); the answers to the requests one ``recv`` brought are written in one
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
                data = pending[sock] + data
                heads = data.count(b'\r\n\r\n')
                if heads:
                    data = data[data.rfind(b'\r\n\r\n') + 4:]
                    try:
                        sock.sendall(RESPONSE * heads)
                    except OSError:
                        pass
                pending[sock] = data


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

def child(tree, host, simultaneous, mode, lengths, warmup, json_mode):
    """Run the workload against *tree*'s library; print one JSON line.

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

    def run(count):
        for _ in range(count):
            pool.request(host, 'GET', PATH)
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

def child_argv(tree, server, simultaneous, mode, lengths, warmup, json_mode):
    return [sys.executable, os.path.abspath(__file__), '--child', tree, server.host,
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


def count(tree, label, server, simultaneous, args, mode='trace'):
    return run_child(child_argv(tree, server, simultaneous, mode, args.lengths, args.warmup,
                                args.json), label)


def callgrind(tree, label, server, simultaneous, args, tmp):
    """Ir per request: two processes under callgrind, N1 and N2 requests."""
    totals = []
    for length in args.callgrind_lengths:
        out = os.path.join(tmp, 'callgrind.{0}.out'.format(length))
        argv = [args.valgrind, '--tool=callgrind', '--callgrind-out-file=' + out,
                '--dump-instr=no', '--compress-strings=no']
        argv += child_argv(tree, server, simultaneous, 'plain', [length], args.warmup,
                           args.json)
        run_child(argv, label + ' under callgrind')
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


def table(rows, simultaneous, with_ir):
    """rows: [(label, {S: {'bytecodes': [...], 'calls': [...], 'ir': [...]}})]

    The ratios are to the first row's.
    """
    cells = []
    for value in simultaneous:
        first = rows[0][1][value]
        for index, (label, results) in enumerate(rows):
            cell, base = results[value], first if index else {}
            line = ['  ' + label,
                    describe(cell['bytecodes'], '{0:,.1f}', base.get('bytecodes')),
                    describe(cell['calls'], '{0:,.2f}', base.get('calls'))]
            if with_ir:
                line.append(describe(cell['ir'], '{0:,.0f}', base.get('ir')))
            cells.append((value, line))
    header = ['', 'bytecodes/request', 'calls/request', 'instructions/request']
    header = header[:4 if with_ir else 3]
    widths = [max(len(line[i]) for _, line in cells + [(None, header)]) + 3
              for i in range(len(header))]
    lines, current = [], None
    for value, line in cells:
        if value != current:
            current = value
            lines.append('simultaneous={0}'.format(value))
            lines.append(header[0].ljust(widths[0]) + ''.join(
                h.rjust(w) for h, w in zip(header[1:], widths[1:], strict=True)))
        lines.append(line[0].ljust(widths[0]) + ''.join(
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)))
    return '\n'.join(lines)


def print_profile(label, tree, value, result, limit=30):
    """The functions that execute the most bytecodes per request."""
    functions = sorted(((result[key], result['calls ' + key[len('bytecodes '):]],
                         key[len('bytecodes '):]) for key in result
                        if key.startswith('bytecodes ')), reverse=True)
    print('{0}, simultaneous={1}: the {2} functions executing the most bytecodes, per '
          'request (of {3:,.1f} bytecodes, {4:,.2f} calls)'.format(
              label, value, limit, result['bytecodes'], result['calls']))
    for ops, calls, name in functions[:limit]:
        if abs(ops) < 0.05 and abs(calls) < 0.005:
            break
        for prefix in (tree, sys.prefix, sys.base_prefix):
            name = name.replace(prefix + os.sep, '')
        print('  {0:8,.1f} {1:6.2f}  {2}'.format(ops, calls, name))


def load_budget(path):
    with open(path) as f:
        budget = json.load(f)
    return budget


def python_version():
    return '{0}.{1}'.format(*sys.version_info[:2])


def check(args, tree, label, server):
    """The gate: the tree's bytecodes per request against the budget file."""
    budget = load_budget(args.budget)
    version = python_version()
    limits = budget['python'].get(version)
    rel = os.path.relpath(args.budget, os.getcwd())
    if limits is None:
        print('FAIL: {0} has no budget for Python {1} (bytecode counts change with the '
              'Python version): measure and add one with `python bench/cost.py '
              '--set-budget`, then commit {0}'.format(rel, version))
        return 1
    args.json = budget.get('json', 'stdlib')
    failures = []
    rows = []
    measured = {}
    for value, limit in sorted(limits['simultaneous'].items(), key=lambda kv: -int(kv[0])):
        result = count(tree, label, server, int(value), args)
        measured[int(value)] = {'bytecodes': [result['bytecodes']],
                                'calls': [result['calls']]}
        verdicts = []
        for name in ('bytecodes', 'calls'):  # a budget of calls is optional
            if name not in limit:
                verdicts.append('{0:,.2f} {1}/request'.format(result[name], name))
                continue
            verdict = 'ok'
            if result[name] > limit[name]:
                verdict = 'OVER BUDGET'
                failures.append((value, name, result[name], limit[name]))
            verdicts.append('{0:,.2f} {1}/request, budget {2:,} ({3})'.format(
                result[name], name, limit[name], verdict))
        rows.append('  simultaneous={0}: {1}'.format(value, '; '.join(verdicts)))
    print('cost check of {0} (Python {1}, {2} JSON decoder, {3} + {4} requests after {5} '
          'warm-up):'.format(label, version, args.json, args.lengths[0], args.lengths[1],
                             args.warmup))
    print('\n'.join(rows))
    versions = budget.get('measured_with', {})
    if failures:
        for value, name, got, limit in failures:
            was = limits['simultaneous'][value].get('measured_' + name)
            print('FAIL: simultaneous={0}: {1:,.2f} {2} per request, above the budget of '
                  '{3:,} (+{4:.1f}%) in {5} (python.{6}.simultaneous."{0}".{2}){7}'.format(
                      value, got, name, limit, (got / limit - 1) * 100, rel, version,
                      '; it was set from {0:,} measured at {1}'.format(
                          was, versions.get('tree', '?')) if was else ''))
        print('A change made each request cost more Python bytecodes. Make it cheaper '
              '(python bench/cost.py --by-function HEAD shows where they go, side by side '
              'with HEAD), or, if the cost is worth it, raise the budget in {0} (python '
              'bench/cost.py --set-budget writes the measured counts plus {1:.0%}) and say '
              'why in the commit message.'.format(rel, budget.get('margin', args.margin)))
        other = {k: v for k, v in _versions().items() if versions.get(k) not in (None, v)}
        if other:
            print('Note: the budget was measured with {0}; here: {1}.'.format(
                ', '.join('{0} {1}'.format(k, versions[k]) for k in other),
                ', '.join('{0} {1}'.format(k, v) for k, v in other.items())))
        return 1
    print('ok: within the budget in {0}'.format(rel))
    return 0


def _versions():
    import importlib.metadata
    found = {'python': platform.python_version()}
    for name in ('gevent', 'greenlet'):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def describe_tree(tree):
    """The tree's commit, and whether its library differs from it."""
    head = subprocess.run(['git', '-C', tree, 'rev-parse', '--short', 'HEAD'],
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', '-C', tree, 'status', '--porcelain', '--', 'napix',
                            'napixd'], capture_output=True, text=True).stdout.strip()
    return (head or 'not a git tree') + (' with changes to the library' if dirty else '')


def set_budget(args, tree, label, server):
    path = args.budget
    budget = load_budget(path) if os.path.exists(path) else {}
    budget.setdefault('_comment', [
        'Maximum Python bytecodes per request of the work tree, per simultaneous,',
        'checked by `python bench/cost.py --check` in .ci/run (see bench/README.rst,',
        '"Counting the cost"). Lower them when a change makes requests cheaper;',
        'raise one only with a reason in the commit message.'])
    budget['json'] = args.json = 'stdlib'
    budget.setdefault('margin', args.margin)
    limits = {}
    for value in args.simultaneous:
        result = count(tree, label, server, value, args)
        limits[str(value)] = {
            'bytecodes': int(result['bytecodes'] * (1 + args.margin)) + 1,
            'measured_bytecodes': round(result['bytecodes'], 1),
            'measured_calls': round(result['calls'], 2)}
        print('simultaneous={0}: {1:,.1f} bytecodes/request -> budget {2:,}'.format(
            value, result['bytecodes'], limits[str(value)]['bytecodes']))
    budget.setdefault('python', {})[python_version()] = {'simultaneous': limits}
    budget['measured_with'] = _versions()
    budget['measured_with']['tree'] = describe_tree(tree)
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
    parser.add_argument('--simultaneous', type=int, nargs='+', default=[10, 2],
                        help='ClientPool(simultaneous=...) values (default: 10 2)')
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
                        help='fail (status 1) when bytecodes/request exceed the budget')
    parser.add_argument('--budget', default=BUDGET, help='(default: bench/cost_budget.json)')
    parser.add_argument('--set-budget', action='store_true',
                        help='write the budget from the measured counts plus --margin')
    parser.add_argument('--margin', type=float, default=0.02,
                        help='for --set-budget (default: 0.02, 2%%)')
    parser.add_argument('--sanity', action='store_true',
                        help='also count with sys.settrace alone and in the main greenlet '
                             'only, to show that the counting follows every greenlet')
    parser.add_argument('--by-function', action='store_true',
                        help='also print the functions executing the most bytecodes')
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--child', nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        return serve()
    if args.child:
        tree, host, simultaneous, mode, lengths, warmup, json_mode = args.child
        return child(tree, host, int(simultaneous), mode,
                     [int(n) for n in lengths.split(',')], int(warmup), json_mode)
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
            return set_budget(args, args.tree, tree_label, server)
        return compare(args, tree_label, server)
    finally:
        server.stop()


def compare(args, tree_label, server):
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        try:
            for index, revision in enumerate(args.revisions):
                sources.append((revision, worktree(revision, tmp, index)))
            if not args.no_work_tree:
                sources.append((tree_label, args.tree))
            rows = []
            for label, tree in sources:
                results = {}
                for value in args.simultaneous:
                    cell = results[value] = {'bytecodes': [], 'calls': [], 'ir': []}
                    for _ in range(args.repeat):
                        result = count(tree, label, server, value, args)
                        cell['bytecodes'].append(result['bytecodes'])
                        cell['calls'].append(result['calls'])
                        decoder = result['decoder']
                        if args.callgrind:
                            cell['ir'].append(callgrind(tree, label, server, value, args, tmp))
                    if args.by_function:
                        print_profile(label, tree, value, count(tree, label, server, value,
                                                                args, mode='profile'))
                    if args.sanity:
                        sanity = count(tree, label, server, value, args, mode='sanity')
                        naive = count(tree, label, server, value, args, mode='naive')
                        print('{0}, simultaneous={1}: per request, {2:,.1f} bytecodes and '
                              '{3:,.2f} calls followed into every greenlet; with '
                              'sys.settrace alone {4:,.1f} and {5:,.2f}; in the main greenlet '
                              '{6:,.1f} and {7:,.2f}'.format(
                                  label, value, sanity['bytecodes'], sanity['calls'],
                                  naive['bytecodes'], naive['calls'],
                                  sanity['bytecodes_main_greenlet'],
                                  sanity['calls_main_greenlet']), flush=True)
                rows.append((label + ' ({0})'.format(decoder), results))
        finally:
            for _, tree in sources:
                if tree != args.tree:
                    remove_worktree(tree)
    print('ClientPool, GET to one host on 127.0.0.1 ({0}), per request: '
          '{1} and {2} traced requests after {3} warm-up{4}'.format(
              server.host, args.lengths[0], args.lengths[1], args.warmup,
              '; callgrind {0} and {1}'.format(*args.callgrind_lengths) if args.callgrind
              else ''))
    print(table(rows, args.simultaneous, args.callgrind))
    return 0


if __name__ == '__main__':
    sys.exit(main())
