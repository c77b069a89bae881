"""The benchmark's steps still run against the library as it is (not timed:
one call each; bench/layers.py reaches into internals that a change may move),
and bench/cost.py's workloads, server and ceilings are what they say."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'bench'))

import cost  # noqa: E402
import layers  # noqa: E402


def test_every_step_of_bench_layers_runs():
    body = b'{"a": "' + b'x' * 204 + b'"}'  # the 213 bytes its response head announces
    results = layers.measure(body, number=1, repeat=1)
    assert len(results) == 9
    assert all(seconds > 0 for seconds in results.values()), results


# bench/cost.py: the counted workloads and their ceilings.
COST = os.path.join(os.path.dirname(HERE), 'bench', 'cost.py')


def run_cost(*argv):
    return subprocess.run([sys.executable, COST] + list(argv), capture_output=True, text=True,
                          timeout=300)


def test_every_workload_of_bench_cost_runs_and_is_counted():
    # One short run of each workload, through the command line.
    done = run_cost('--lengths', '10', '30', '--warmup', '20', '--json', 'stdlib')
    assert done.returncode == 0, done.stderr
    bytecodes = done.stdout.split('Python bytecodes per request:')[1].split('Python calls')[0]
    rows = {line.split()[0]: line.split()[1] for line in bytecodes.splitlines()
            if line.startswith('  ') and line.split()[0] in cost.WORKLOADS}
    assert set(rows) == set(cost.WORKLOADS) == {
        'synthetic', 'nginx', 'pywsgi', 'newline', 'list2k', 'post'}
    assert all(float(count.replace(',', '')) > 100 for count in rows.values()), rows


def test_the_check_names_the_workload_over_its_ceiling(tmp_path):
    budget = json.load(open(cost.BUDGET))
    version = cost.python_version()
    budget['simultaneous'] = [2]
    budget['python'] = {version: {'synthetic': {'bytecodes': 100000},
                                  'newline': {'bytecodes': 100}}}
    path = tmp_path / 'budget.json'
    path.write_text(json.dumps(budget))
    done = run_cost('--check', '--budget', str(path), '--lengths', '10', '30',
                    '--warmup', '20')
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'FAIL: workload newline, simultaneous=2' in done.stdout
    assert 'FAIL: workload synthetic' not in done.stdout


def test_every_workload_has_a_fixed_ceiling_and_a_raised_one_says_why():
    budget = json.load(open(cost.BUDGET))
    assert budget['json'] == 'stdlib' and budget['reference'] == 'd3ab06e'
    for version, ceilings in budget['python'].items():
        assert set(ceilings) == set(cost.WORKLOADS), version
        for name, ceiling in ceilings.items():
            reference = ceiling['reference_bytecodes']
            # At most 2% above the reference revision (nginx: 1,000), or
            # raised by a decision that says when and why.
            bar = 1000 if name == 'nginx' else reference * 1.02 + 1
            if ceiling['bytecodes'] > bar:
                assert 'raised at ' in ceiling.get('why', ''), (version, name)


def test_the_pywsgi_workload_has_the_head_napixd_testing_sends():
    from napix.authenticators import LoginAuthenticator
    from napixd.client import Client
    from napixd.testing import NapixServer
    server = NapixServer(users={'bench': 'bench-secret-key'})
    server.route('GET', '/resource', lambda request: {'id': 'vm-042', 'n': 1})
    with server:
        response = Client(server.host, LoginAuthenticator('bench', 'bench-secret-key')).request(
            'GET', '/resource')
    sent = [name for name, _ in response.headers.raw_items()]
    head = cost.WORKLOADS['pywsgi'].response.split(b'\r\n\r\n')[0].decode().split('\r\n')
    assert head[0] == 'HTTP/1.1 200 OK'
    assert [line.split(':')[0] for line in head[1:]] == sent


def test_the_nginx_workload_has_nginxs_nine_lines_and_a_newline():
    head, body = cost.WORKLOADS['nginx'].response.split(b'\r\n\r\n')
    names = [line.split(b':')[0] for line in head.split(b'\r\n')[1:]]
    assert names == [b'Server', b'Date', b'Content-Type', b'Content-Length', b'Last-Modified',
                     b'Connection', b'ETag', b'Accept-Ranges']
    assert body.endswith(b'}\n') and b'Content-Length: %d\r\n' % len(body) in head
    assert 2000 <= len(cost.WORKLOADS['list2k'].response.split(b'\r\n\r\n')[1]) < 2200


def test_the_cost_server_reads_request_bodies_by_content_length():
    answers = {b'/cost/post': b'A', b'/cost/synthetic': b'B'}
    post = b'POST /cost/post HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\n{"a":'
    left, out = cost.complete_requests(post[:-2], answers)
    assert (left, out) == (post[:-2], [])
    get = b'GET /cost/synthetic HTTP/1.1\r\nHost: h\r\n\r\n'
    left, out = cost.complete_requests(post + get + get[:10], answers)
    assert (left, out) == (get[:10], [b'A', b'B'])
    left, out = cost.complete_requests(b'GET /other HTTP/1.1\r\n\r\n', answers)
    assert out == [cost.NOT_FOUND]
