#!/usr/bin/env python3
"""Benchmark ClientPool side by side with the peer libraries, in one run.

    pip install '.[bench]'        # the peers, matplotlib
    apt-get install -y nginx      # the server (optional: a gevent fallback is used without)
    python bench/run.py           # about 10 minutes; --quick for a short smoke run

See bench/README.rst for what is measured and how. The results are printed,
and written to docs/performance.rst with plots in docs/_static/ (unless
--no-docs).
"""

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCS = os.path.join(ROOT, 'docs')

#: The JSON every server answers: a napixd-like description of a resource.
BODY = {
    'id': 'vm-0042', 'state': 'running', 'host': 'xen1.example.org', 'cpus': 4,
    'memory_mb': 8192, 'disks': ['/dev/xvda', '/dev/xvdb'],
    'ips': ['10.0.3.17', '2001:db8::17'], 'tags': {'owner': 'infra', 'env': 'prod'},
}
PATH = '/data.json'

LIBRARIES = ['napix', 'floor', 'aiohttp', 'httpx', 'geventhttpclient', 'grequests',
             'requests-gevent']
LABELS = {
    'napix': 'napixd ClientPool (signed)',
    'floor': 'floor: raw gevent sockets',
    'aiohttp': 'aiohttp',
    'httpx': 'httpx (async)',
    'geventhttpclient': 'geventhttpclient (direct)',
    'grequests': 'grequests (shared Session)',
    'requests-gevent': 'requests, monkey-patched gevent',
}
PEER_MODULES = {'aiohttp': 'aiohttp', 'httpx': 'httpx', 'geventhttpclient': 'geventhttpclient',
                'grequests': 'grequests', 'requests-gevent': 'requests'}

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 19000; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    server {{
{listen}
        server_name _;
        location = {path} {{ root {tmp}/www; default_type application/json; }}
        location = /server-status {{ stub_status; }}
    }}
}}
"""


def log(*args):
    print(*args, flush=True)


def free_ports(count):
    socks, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('the server exited: {0}'.format(proc.returncode))
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit('the server did not listen on port {0}'.format(port))


class Pinning(object):
    """Client on CPU 0, server on CPU 1 (when taskset and 2+ CPUs exist)."""

    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else []
        self.enabled = bool(shutil.which('taskset')) and len(cpus) >= 2
        self.client_cpu, self.server_cpu = (cpus[0], cpus[1]) if self.enabled else (None, None)

    def client(self, argv):
        return ['taskset', '-c', str(self.client_cpu)] + argv if self.enabled else argv

    def server(self, argv):
        return ['taskset', '-c', str(self.server_cpu)] + argv if self.enabled else argv

    def describe(self):
        if self.enabled:
            return 'client pinned to CPU {0}, server to CPU {1} (taskset)'.format(
                self.client_cpu, self.server_cpu)
        return 'not pinned (taskset missing or a single CPU)'


class Server(object):
    """nginx (1 worker) on 127.0.0.1, or the gevent fallback; counts connections."""

    def __init__(self, tmp, pinning, ports, delay=0.0, prefer_nginx=True):
        self.tmp, self.ports, self.delay = tmp, ports, delay
        os.makedirs(os.path.join(tmp, 'www'), exist_ok=True)
        os.chmod(tmp, 0o755)
        os.chmod(os.path.join(tmp, 'www'), 0o755)
        self.body_file = os.path.join(tmp, 'www', PATH.lstrip('/'))
        with open(self.body_file, 'w') as f:
            json.dump(BODY, f)
        os.chmod(self.body_file, 0o644)
        nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists(
            '/usr/sbin/nginx') else None)
        if prefer_nginx and nginx and not delay:
            conf = os.path.join(tmp, 'nginx.conf')
            listen = '\n'.join('        listen 127.0.0.1:{0} backlog=4096;'.format(p)
                               for p in ports)
            with open(conf, 'w') as f:
                f.write(NGINX_CONF.format(tmp=tmp, listen=listen, path=PATH))
            argv = [nginx, '-p', tmp, '-c', conf]
            self.name = 'nginx {0}'.format(_nginx_version(nginx))
            self.stderr = subprocess.DEVNULL
        else:
            argv = [sys.executable, os.path.join(HERE, 'servers.py'), self.body_file,
                    str(delay)] + [str(p) for p in ports]
            self.name = 'gevent StreamServer (bench/servers.py)' + (
                ', delay {0:g} ms'.format(delay * 1000) if delay else '')
            self.stderr = None
        self.proc = subprocess.Popen(pinning.server(argv), stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, start_new_session=True)
        for port in ports:
            wait_listening(port, self.proc)

    @property
    def url(self):
        return 'http://127.0.0.1:{0}'.format(self.ports[0])

    def accepts(self):
        """Connections the server accepted so far (nginx's stub_status)."""
        with urllib.request.urlopen(self.url + '/server-status', timeout=5) as response:
            text = response.read().decode()
        if text.startswith('{'):
            return json.loads(text)['accepts'] - 1  # not counting this one
        # "Active connections: 1 \nserver accepts handled requests\n 12 12 40 \n..."
        return int(text.splitlines()[2].split()[0]) - 1

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _nginx_version(nginx):
    out = subprocess.run([nginx, '-v'], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().rpartition('/')[2]


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def run_client(pinning, server, library, args):
    before = server.accepts()
    argv = pinning.client([sys.executable, os.path.join(HERE, 'clients.py'), library,
                           server.url, PATH, str(args.requests), str(args.concurrency),
                           str(args.warmup), json.dumps(BODY)])
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=900)
    if out.returncode != 0:
        raise SystemExit('{0} failed:\n{1}'.format(library, out.stderr[-3000:]))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result['connections'] = server.accepts() - before - 1
    return result


def available(library):
    module = PEER_MODULES.get(library)
    # Not imported here: grequests would monkey-patch this process.
    return module is None or importlib.util.find_spec(module) is not None


def throughput(args, pinning, tmp):
    server = Server(tmp, pinning, free_ports(1), prefer_nginx=not args.no_nginx)
    log('server: {0} on {1}; {2}'.format(server.name, server.url, pinning.describe()))
    libraries = [lib for lib in args.libraries if available(lib)]
    missing = [lib for lib in args.libraries if lib not in libraries]
    if missing:
        log('not installed, skipped: {0} (pip install \'.[bench]\')'.format(', '.join(missing)))
    results = {lib: [] for lib in libraries}
    try:
        for round_ in range(args.rounds):
            order = libraries[round_ % len(libraries):] + libraries[:round_ % len(libraries)]
            for lib in order:
                result = run_client(pinning, server, lib, args)
                results[lib].append(result)
                log('round {0}  {1:<18} {2:>9.0f} req/s  {3:6.1f} us CPU/req  '
                    '{4} connections'.format(
                        round_ + 1, lib, result['requests'] / result['seconds'],
                        result['cpu'] / result['requests'] * 1e6, result['connections']))
    finally:
        server.stop()
    summary = {}
    for lib, runs in results.items():
        summary[lib] = {
            'rps': statistics.median(r['requests'] / r['seconds'] for r in runs),
            'cpu_us': statistics.median(r['cpu'] / r['requests'] * 1e6 for r in runs),
            'connections': max(r['connections'] for r in runs),
        }
    # The ratio is the median of the ratios within each round: the runs of one
    # round are close in time, so a busy moment of the machine cancels out.
    ours = results.get('napix')
    for lib, row in summary.items():
        row['ratio'] = statistics.median(
            (o['requests'] / o['seconds']) / (r['requests'] / r['seconds'])
            for o, r in zip(ours, results[lib])) if ours else None  # noqa: B905
    return server.name, summary


def layer_costs(pinning):
    argv = pinning.client([sys.executable, os.path.join(HERE, 'layers.py'), json.dumps(BODY)])
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=600)
    if out.returncode != 0:
        raise SystemExit('bench/layers.py failed:\n' + out.stderr[-3000:])
    costs = json.loads(out.stdout.strip().splitlines()[-1])
    for name, micros in costs.items():
        log('{0:<52} {1:6.2f} us'.format(name, micros))
    return costs


def scale_runs(args, pinning, tmp):
    ports = free_ports(8)
    server = Server(tmp, pinning, ports, prefer_nginx=not args.no_nginx)
    rows = []
    try:
        for hosts in args.scale_hosts:
            argv = pinning.client([sys.executable, os.path.join(HERE, 'scale.py'), str(hosts),
                                   str(args.per_host), '2', PATH] + [str(p) for p in ports])
            out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=900)
            if out.returncode != 0:
                raise SystemExit('scale run failed:\n' + out.stderr[-3000:])
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            log('{0:>6} hosts: {1:7.3f} s ({2:5.1f} us/request)  peak RSS {3:6.1f} MB  '
                'fds before/open/after close: {4}/{5}/{6}  failures: {7}'.format(
                    hosts, row['seconds'], row['seconds'] / row['requests'] * 1e6,
                    row['peak_rss_mb'], row['fds_before'], row['fds_open'], row['fds_after'],
                    row['failures']))
            if row['failures']:
                log('   first failure: {0}'.format(row['first_failure']))
    finally:
        server.stop()
    return server.name, rows


def latency_run(args, pinning, tmp):
    ports = free_ports(4)
    delay = 0.05
    server = Server(tmp, pinning, ports, delay=delay)
    try:
        argv = pinning.client([sys.executable, os.path.join(HERE, 'scale.py'),
                               str(args.latency_hosts), '4', '2', PATH] + [str(p) for p in ports])
        out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=900)
        if out.returncode != 0:
            raise SystemExit('latency run failed:\n' + out.stderr[-3000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    row['ideal_latency'] = math.ceil(4 / 2) * delay
    row['ideal'] = row['ideal_latency'] + row['cpu']
    log('latency-bound: {0} hosts x 4 requests answered after 50 ms, simultaneous=2: '
        '{1:.3f} s; ideal ceil(4/2) x 50 ms + {2:.3f} s CPU = {3:.3f} s -> {4:.2f}x ideal; '
        'failures: {5}'.format(args.latency_hosts, row['seconds'], row['cpu'], row['ideal'],
                               row['seconds'] / row['ideal'], row['failures']))
    return server.name, row


# --- reporting ---------------------------------------------------------------------

def versions():
    found = {'python': platform.python_version()}
    for name in ('gevent', 'httptools', 'orjson', 'aiohttp', 'httpx', 'geventhttpclient',
                 'grequests', 'requests'):
        try:
            from importlib.metadata import version
            found[name] = version(name)
        except Exception:
            pass
    return found


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def print_table(summary):
    log('')
    log('{0:<34} {1:>10} {2:>12} {3:>12} {4:>8}'.format(
        'library', 'req/s', 'ours / it', 'CPU us/req', 'conns'))
    for lib, row in sorted(summary.items(), key=lambda kv: -kv[1]['rps']):
        log('{0:<34} {1:>10.0f} {2:>11.2f}x {3:>12.1f} {4:>8}'.format(
            LABELS[lib], row['rps'], row['ratio'] or 0, row['cpu_us'], row['connections']))
    log('')


def plot(summary, scale, out_dir):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        log('matplotlib not installed: no plots')
        return []
    os.makedirs(out_dir, exist_ok=True)
    written = []
    if summary:
        rows = sorted(summary.items(), key=lambda kv: kv[1]['rps'])
        fig, ax = plt.subplots(figsize=(7, 3.6))
        colors = ['#d62728' if lib == 'napix' else '#7f7f7f' if lib == 'floor' else '#1f77b4'
                  for lib, _ in rows]
        ax.barh([LABELS[lib] for lib, _ in rows], [r['rps'] for _, r in rows], color=colors)
        for i, (_, r) in enumerate(rows):
            ax.text(r['rps'], i, ' {0:,.0f}'.format(r['rps']), va='center', fontsize=8)
        ax.set_xlabel('requests per second (median of rounds; higher is better)')
        ax.set_xlim(0, max(r['rps'] for _, r in rows) * 1.18)
        ax.set_title('GET + JSON decoding, one local nginx, same concurrency', fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, 'bench_throughput.png')
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if scale:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        hosts = [r['hosts'] for r in scale]
        ax.plot(hosts, [r['seconds'] for r in scale], 'o-', color='#d62728', label='measured')
        per = scale[0]['seconds'] / scale[0]['hosts']
        ax.plot(hosts, [per * h for h in hosts], '--', color='#7f7f7f',
                label='linear from the smallest run')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel('distinct hosts (simultaneous=2)')
        ax.set_ylabel('seconds for the whole fan-out')
        ax.legend()
        ax.set_title('ClientPool fan-out: time vs number of hosts', fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, 'bench_hosts.png')
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = '  '.join('=' * w for w in widths)

    def fmt(cells):
        return '  '.join(str(cells[i]).ljust(w) for i, w in enumerate(widths)).rstrip()
    return '\n'.join([line, fmt(header), line] + [fmt(r) for r in rows] + [line])


def write_docs(args, pinning, server_name, summary, scale, latency, images, costs):
    lines = ['.. This page is written by bench/run.py: edit the script, not the page.',
             '', '===========', 'Performance', '===========', '',
             'What a request costs with :class:`~napixd.client.pool.ClientPool`, measured '
             'side by side with the libraries people use for the same job, in one run of '
             '``python bench/run.py`` on the same machine and the same local server '
             '(see ``bench/README.rst``).', '',
             'Measured {0} on {1} ({2} CPUs), {3}; server: {4}; {5}.'.format(
                 datetime.date.today().isoformat(), cpu_model(), os.cpu_count(),
                 ', '.join('{0} {1}'.format(k, v) for k, v in versions().items()),
                 server_name if summary else '-', pinning.describe()), '']
    if summary:
        lines += ['Throughput', '==========', '',
                  'Each library sends {0:,} ``GET`` requests to one host with {1} in flight '
                  '(after {2:,} warm-up requests), on keep-alive connections, and decodes every '
                  'JSON body ({3} bytes). Ours also signs each request with '
                  ':class:`~napix.authenticators.LoginAuthenticator` (HMAC-SHA256, a fresh nonce); '
                  'the server does not check signatures, which changes nothing on the client '
                  'side. Each library runs in its own process, rounds interleaved, {4} rounds; '
                  'the table shows medians. *Ours / it* is how many times faster ours is '
                  '(the median of the ratios within each round); '
                  '*CPU* is the client process\'s CPU time per request; *connections* is the '
                  'most the server accepted in one run (keep-alive really reused).'.format(
                      args.requests, args.concurrency, args.warmup,
                      len(json.dumps(BODY)), args.rounds), '']
        rows = []
        for lib, row in sorted(summary.items(), key=lambda kv: -kv[1]['rps']):
            rows.append([LABELS[lib], '{0:,.0f}'.format(row['rps']),
                         '{0:.2f}x'.format(row['ratio']) if row['ratio'] else '-',
                         '{0:.1f} µs'.format(row['cpu_us']), row['connections']])
        lines += [_table(['Library', 'Requests/s', 'Ours / it', 'CPU / request',
                          'Connections'], rows), '']
        lines += ['The *floor* is a plain keep-alive loop on gevent sockets with '
                  '``json.loads``, sending a fixed request and parsing only '
                  '``Content-Length``: no signing, no header parsing, no error handling. '
                  'No client can do much better; ours pays for signing, header parsing, '
                  'timeouts and error handling on top of it.', '']
        if any(p.endswith('bench_throughput.png') for p in images):
            lines += ['.. image:: _static/bench_throughput.png',
                      '   :alt: requests per second per library', '']
    if costs:
        ours = summary.get('napix', {}).get('cpu_us')
        lines += ['Where the time goes', '===================', '',
                  'The pure-Python steps of one request, each timed alone in a loop '
                  '(``bench/layers.py``, best of 7){0}. The rest is system calls (``send``, '
                  '``recv``, ``epoll``), greenlet switches, the garbage collector and the '
                  'calls between the layers, which ``bench/hotpath.py --py-spy`` shows.'.format(
                      ', against {0:.0f} µs of CPU per request in the run above'.format(ours)
                      if ours else ''), '']
        rows = [[name, '{0:.2f} µs'.format(micros)] for name, micros in costs.items()]
        rows.append(['total of these steps', '{0:.2f} µs'.format(sum(costs.values()))])
        lines += [_table(['Step', 'Cost'], rows), '']
    if scale:
        lines += ['Fan-out to many hosts', '=====================', '',
                  '{0} to each of N distinct hosts (each its own client and '
                  'sockets; names routed with ``resolve=`` to the same local server), '
                  '*simultaneous* = 2, all through one pool. Memory is the peak resident size '
                  'of the whole process (Python and the imports included); descriptors are '
                  'counted before, once every answer is in (the kept-alive sockets), and '
                  'after ``pool.close()``.'.format(
                      'One request' if args.per_host == 1
                      else '{0} requests'.format(args.per_host)), '']
        rows = []
        base = scale[0]['seconds'] / scale[0]['hosts']
        for r in scale:
            rows.append(['{0:,}'.format(r['hosts']), '{0:.3f} s'.format(r['seconds']),
                         '{0:.0f} µs'.format(r['seconds'] / r['requests'] * 1e6),
                         '{0:.2f}'.format(r['seconds'] / r['hosts'] / base),
                         '{0:.0f} MB'.format(r['peak_rss_mb']),
                         '{0} / {1} / {2}'.format(r['fds_before'], r['fds_open'],
                                                  r['fds_after']),
                         r['failures']])
        lines += [_table(['Hosts', 'Time', 'Per request', 'Vs linear', 'Peak RSS',
                          'FDs before / open / closed', 'Failures'], rows), '']
        lines += ['*Vs linear* is the time per host relative to the smallest run: 1.00 '
                  'means time grows linearly with the number of hosts.', '']
        if any(p.endswith('bench_hosts.png') for p in images):
            lines += ['.. image:: _static/bench_hosts.png',
                      '   :alt: time against the number of hosts', '']
    if latency:
        lines += ['Latency-bound', '=============', '',
                  '{0} hosts that each answer after 50 ms (a gevent server, '
                  '``bench/servers.py``), 4 requests each, *simultaneous* = 2: the ideal is '
                  '``ceil(4 / 2) * 50 ms`` = {1:.0f} ms plus the client\'s CPU time '
                  '({2:.0f} ms). Measured: **{3:.0f} ms, {4:.2f}x the ideal**; peak RSS '
                  '{5:.0f} MB; descriptors {6} / {7} / {8}; failures: {9}.'.format(
                      latency['hosts'], latency['ideal_latency'] * 1000, latency['cpu'] * 1000,
                      latency['seconds'] * 1000, latency['seconds'] / latency['ideal'],
                      latency['peak_rss_mb'], latency['fds_before'], latency['fds_open'],
                      latency['fds_after'], latency['failures']), '']
    path = os.path.join(DOCS, 'performance.rst')
    with open(path, 'w') as f:
        f.write('\n'.join(lines).rstrip() + '\n')
    log('wrote ' + os.path.relpath(path, ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--requests', type=int, default=20000)
    parser.add_argument('--concurrency', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1000)
    parser.add_argument('--libraries', default=','.join(LIBRARIES),
                        help='comma-separated, among: ' + ', '.join(LIBRARIES))
    parser.add_argument('--scale-hosts', default='100,1000,10000')
    parser.add_argument('--per-host', type=int, default=1,
                        help='requests per host in the fan-out runs')
    parser.add_argument('--latency-hosts', type=int, default=500)
    parser.add_argument('--skip-throughput', action='store_true')
    parser.add_argument('--skip-scale', action='store_true')
    parser.add_argument('--skip-latency', action='store_true')
    parser.add_argument('--no-nginx', action='store_true',
                        help='use the gevent fallback server even if nginx is installed')
    parser.add_argument('--no-docs', action='store_true',
                        help='do not write docs/performance.rst and the plots')
    parser.add_argument('--quick', action='store_true',
                        help='a short smoke run: 2,000 requests, 2 rounds, 100/1,000 hosts')
    args = parser.parse_args(argv)
    args.libraries = [lib for lib in args.libraries.split(',') if lib]
    for lib in args.libraries:
        if lib not in LIBRARIES:
            parser.error('unknown library {0!r}'.format(lib))
    args.scale_hosts = [int(h) for h in args.scale_hosts.split(',') if h]
    if args.quick:
        args.requests, args.rounds, args.warmup = 2000, 2, 200
        args.scale_hosts = [h for h in args.scale_hosts if h <= 1000]
        args.latency_hosts = min(args.latency_hosts, 100)
    # Stopped with SIGTERM, still stop the servers (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pinning = Pinning()
    if not shutil.which('nginx') and not os.path.exists('/usr/sbin/nginx') \
            and not args.no_nginx:
        log('nginx is not installed (apt-get install -y nginx): falling back to the gevent '
            'server of bench/servers.py, which may itself be the bottleneck')
    tmp = tempfile.mkdtemp(prefix='napix-bench-')
    os.chmod(tmp, 0o755)  # nginx's worker runs as another user
    server_name, summary, scale, latency, costs = None, {}, [], None, {}
    try:
        if not args.skip_throughput:
            server_name, summary = throughput(args, pinning, os.path.join(tmp, 'throughput'))
            print_table(summary)
            ours = summary.get('napix')
            if ours and ours['connections'] > args.concurrency:
                raise SystemExit('ClientPool opened {0} connections for {1} in flight: '
                                 'keep-alive is broken'.format(ours['connections'],
                                                               args.concurrency))
            costs = layer_costs(pinning)
        if not args.skip_scale and args.scale_hosts:
            _, scale = scale_runs(args, pinning, os.path.join(tmp, 'scale'))
        if not args.skip_latency:
            _, latency = latency_run(args, pinning, os.path.join(tmp, 'latency'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_docs:
        images = plot(summary, scale, os.path.join(DOCS, '_static'))
        write_docs(args, pinning, server_name, summary, scale, latency, images, costs)


if __name__ == '__main__':
    main()
