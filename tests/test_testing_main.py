"""``python -m napixd.testing``: local Napix test servers started from a shell,
driven as a person would: read what it prints, use it, press Ctrl-C."""

import os
import signal
import sys

import gevent
import pytest
from gevent import subprocess
from test_cli import REPO, user_env

from napixd.client import Client


def start(args, tmp_path):
    return subprocess.Popen([sys.executable, '-m', 'napixd.testing'] + args, cwd=REPO,
                            env=user_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def read_banner(proc):
    """The lines it prints before serving, up to the 'try:' line."""
    lines = []
    with gevent.Timeout(20, AssertionError('no banner: {0}'.format(lines))):
        while not lines or not lines[-1].startswith('try: '):
            line = proc.stdout.readline().decode()
            assert line, 'it exited: {0!r}'.format(proc.stderr.read())
            lines.append(line.rstrip('\n'))
    return lines


def interrupt(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out.decode(), err.decode()


def test_serves_until_ctrl_c(tmp_path):
    proc = start(['3'], tmp_path)
    try:
        lines = read_banner(proc)
        assert lines[0] == '3 Napix test servers on 127.0.0.1, until Ctrl-C:'
        hosts = [line.strip() for line in lines[1:4]]
        assert all(host.startswith('127.0.0.1:') for host in hosts), lines
        assert 'login root, key toor' in lines[4]
        assert lines[5] == 'try: napix --login root --key toor GET /vm/1 ' + ' '.join(hosts)
        for host in hosts:
            body = Client(host, {'login': 'root', 'key': 'toor'}).request('GET', '/vm/1').body
            assert body == {'id': '1', 'by': 'root'}
    finally:
        status, out, err = interrupt(proc)
    assert status == 0
    assert out == 'stopped.\n' and err == ''


def test_tls_servers_require_the_client_certificate_it_prints(tmp_path):
    pytest.importorskip('trustme')
    proc = start(['--tls', '--client-cert'], tmp_path)
    try:
        lines = read_banner(proc)
        host = lines[1].strip()
        assert host.startswith('https://127.0.0.1:'), lines
        ca = lines[3].split(': ', 1)[1]
        assert lines[3].startswith('CA bundle: ') and os.path.isfile(ca), lines
        cert = lines[4].split(': ', 1)[1]
        assert lines[4].startswith('client certificate (required): '), lines
        client = Client(host, {'login': 'root', 'key': 'toor'}, verify=ca, cert=cert,
                        timeout=5)
        assert client.request('GET', '/vm/2').body == {'id': '2', 'by': 'root'}
        assert '--cacert {0} --cert {1} GET /vm/1 {2}'.format(ca, cert, host) in lines[5]
    finally:
        status, out, err = interrupt(proc)
    assert status == 0 and out == 'stopped.\n' and err == ''
    assert not os.path.exists(ca), 'the throwaway CA is removed at the end'


@pytest.mark.parametrize('args, message', [
    (['0'], 'COUNT must be 1 or more'),
    (['--client-cert'], '--client-cert needs --tls'),
])
def test_bad_usage(tmp_path, args, message):
    proc = start(args, tmp_path)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert message in err.decode()


@pytest.mark.parametrize('columns', ['80', '40'])
def test_help_shows_each_example_on_a_line_of_its_own(tmp_path, columns):
    env = dict(user_env(tmp_path), COLUMNS=columns)
    proc = subprocess.Popen([sys.executable, '-m', 'napixd.testing', '--help'], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and err == b''
    lines = out.decode().splitlines()
    assert '  python -m napixd.testing 3' in lines, lines
    assert '  python -m napixd.testing --tls --client-cert' in lines, lines
