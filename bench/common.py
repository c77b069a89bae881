"""What the benchmark scenarios share: the body, the server, CPU pinning, and
running one measured child process with a time limit.

Imported by ``bench/run.py`` and the scenario modules next to it (which put
``bench/`` on ``sys.path``); nothing here imports a client library.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
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

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
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
{tls}
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


def nginx_path():
    return shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists(
        '/usr/sbin/nginx') else None)


def env():
    """The environment of the children: this checkout first on the path."""
    child = dict(os.environ)
    child['PYTHONPATH'] = ROOT + os.pathsep + child.get('PYTHONPATH', '')
    return child


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
    """nginx (1 worker) on 127.0.0.1, or the gevent fallback; counts connections.

    *tls_ports*, with *certfile* (key and certificate chain in one PEM file),
    serve TLS instead of plain HTTP.
    """

    def __init__(self, tmp, pinning, ports, delay=0.0, prefer_nginx=True, tls_ports=(),
                 certfile=None):
        self.tmp, self.ports, self.delay = tmp, list(ports) + list(tls_ports), delay
        self.plain_ports = list(ports)
        os.makedirs(os.path.join(tmp, 'www'), exist_ok=True)
        os.chmod(tmp, 0o755)  # nginx's worker runs as another user
        os.chmod(os.path.join(tmp, 'www'), 0o755)
        self.body_file = os.path.join(tmp, 'www', PATH.lstrip('/'))
        with open(self.body_file, 'w') as f:
            json.dump(BODY, f)
        os.chmod(self.body_file, 0o644)
        nginx = nginx_path()
        if prefer_nginx and nginx and not delay:
            conf = os.path.join(tmp, 'nginx.conf')
            listen = '\n'.join('        listen 127.0.0.1:{0} backlog=4096;'.format(p)
                               for p in ports)
            listen += ''.join('\n        listen 127.0.0.1:{0} ssl backlog=4096;'.format(p)
                              for p in tls_ports)
            tls = ''
            if tls_ports:
                os.chmod(certfile, 0o644)
                tls = ('        ssl_certificate {0};\n        ssl_certificate_key {0};'
                       .format(certfile))
            with open(conf, 'w') as f:
                f.write(NGINX_CONF.format(tmp=tmp, listen=listen, path=PATH, tls=tls))
            argv = [nginx, '-p', tmp, '-c', conf]
            self.name = 'nginx {0}'.format(_nginx_version(nginx))
            stderr = subprocess.DEVNULL
        else:
            argv = [sys.executable, os.path.join(HERE, 'servers.py'), self.body_file,
                    str(delay)] + [str(p) for p in ports]
            if tls_ports:
                argv += ['--tls', certfile] + [str(p) for p in tls_ports]
            self.name = 'gevent StreamServer (bench/servers.py)' + (
                ', delay {0:g} ms'.format(delay * 1000) if delay else '')
            stderr = None
        self.proc = subprocess.Popen(pinning.server(argv), stdout=subprocess.DEVNULL,
                                     stderr=stderr, start_new_session=True)
        for port in self.ports:
            wait_listening(port, self.proc)

    @property
    def url(self):
        return 'http://127.0.0.1:{0}'.format(self.plain_ports[0])

    def accepts(self):
        """Connections the server accepted so far (nginx's stub_status)."""
        with urllib.request.urlopen(self.url + '/server-status', timeout=5) as response:
            text = response.read().decode()
        if text.startswith('{'):
            return json.loads(text)['accepts'] - 1  # not counting this one
        # "Active connections: 1 \nserver accepts handled requests\n 12 12 40 \n..."
        return int(text.splitlines()[2].split()[0]) - 1

    def stop(self):
        stop_process(self.proc)


def stop_process(proc):
    """Terminate *proc* (started with ``start_new_session``) and its group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait()


def _nginx_version(nginx):
    out = subprocess.run([nginx, '-v'], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().rpartition('/')[2]


def established(ports):
    """TCP sockets in state ESTABLISHED whose local port is one of *ports*.

    With the server on 127.0.0.1, those are the server's ends of the
    connections, whoever holds the client's ends (read from /proc/net/tcp).
    """
    wanted = {'{0:04X}'.format(p) for p in ports}
    count = 0
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '01' and fields[1].rpartition(':')[2] in wanted:
                        count += 1
        except OSError:
            pass
    return count


def error_line(text):
    """The line of a child's stderr that says what failed (its last exception)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if 'Error' in line.partition(':')[0] or 'Exception' in line.partition(':')[0]:
            return line[:300]
    return lines[-1][:300] if lines else 'no output'


def _count_fds(pid):
    try:
        return len(os.listdir('/proc/{0}/fd'.format(pid)))
    except OSError:
        return None


def run_measured(argv, timeout, sample=0.1):
    """Run *argv* (a child printing one JSON line last) for at most *timeout* s.

    Returns the decoded line plus ``peak_fds`` (the child's open descriptors,
    sampled every *sample* s from outside), ``peak_rss_mb`` (its maximum
    resident size, from the kernel's accounting) and ``wall``. A child still
    running after *timeout* is killed and the result says ``timed_out`` (and
    ``progress``, the last ``progress N`` line the child wrote to stderr, if
    any); one that fails says ``error`` with the end of its stderr.
    """
    start = time.monotonic()
    err_path = os.path.join('/tmp', 'napix-bench-{0}-{1}.err'.format(os.getpid(), start))
    with open(err_path, 'w+') as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env(),
                                start_new_session=True)
        # stdout is one short JSON line: it cannot fill the pipe while we poll.
        peak_fds, status, usage, timed_out = 0, None, None, False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            fds = _count_fds(proc.pid)
            if fds is not None:
                peak_fds = max(peak_fds, fds)
            if time.monotonic() - start > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(sample)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        out = proc.stdout.read().decode()
        proc.stdout.close()
        err.seek(0)
        stderr = err.read()
    os.unlink(err_path)
    result = {}
    lines = out.strip().splitlines()
    if timed_out:
        result['timed_out'] = True
        done = [line.split()[1] for line in stderr.splitlines()
                if line.startswith('progress ') and line.split()[1:2] != []]
        if done:
            result['progress'] = int(done[-1])
    elif proc.returncode != 0 or not lines:
        result['error'] = (stderr.strip() or 'exit status {0}'.format(
            proc.returncode))[-2000:]
    else:
        result = json.loads(lines[-1])
    result.update(peak_fds=peak_fds, peak_rss_mb=usage.ru_maxrss / 1024.0, wall=wall)
    return result
