"""What the ``napix`` command sends, with curl's habits: ``-H/--header``,
``--body @FILE`` and ``--body @-``, ``--timeout CONNECT,READ``, ``--retry N``;
and the bad input it refuses before anything is sent. Driven as a person
does, against real servers on 127.0.0.1."""

import pytest
from test_cli import AUTH, napix, user_env


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


def test_headers_are_sent(napix_server, cli_env):
    napix_server.route('GET', '/headers', lambda request: request.headers)
    run = napix(['GET', '/headers', napix_server.host, '-H', 'X-Request-Id: 42',
                 '--header', 'Accept-Language:fr', '-H', 'X-Empty:'] + AUTH, cli_env)
    assert run.status == 0, run
    (line,) = run.lines
    assert line['body']['x-request-id'] == '42'
    assert line['body']['accept-language'] == 'fr'
    assert line['body']['x-empty'] == ''
    assert 'login=root' in line['body']['authorization']  # still signed


def test_body_from_a_file_and_from_stdin(napix_server, cli_env, tmp_path):
    body = tmp_path / 'vm.json'
    body.write_text('{"size": 2, "name": "café"}\n', encoding='utf-8')
    run = napix(['POST', '/echo', napix_server.host, '--body', '@' + str(body)] + AUTH,
                cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body']['body'] == {'size': 2, 'name': 'café'}
    run = napix(['PUT', '/echo', napix_server.host, '--body', '@-'] + AUTH, cli_env,
                input='[1, 2]')
    assert run.status == 0, run
    assert run.lines[0]['body']['body'] == [1, 2]
    assert run.lines[0]['body']['content_type'] == 'application/json'


def test_a_content_type_header_wins_over_the_bodys(napix_server, cli_env):
    run = napix(['POST', '/echo', napix_server.host, '--body', '"plain"', '-H',
                 'content-type: application/vnd.napix+json'] + AUTH, cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body']['content_type'] == 'application/vnd.napix+json'


def test_timeout_for_the_connection_and_for_the_answer(make_napix_server, cli_env):
    slow = make_napix_server(delay=10)
    run = napix(['GET', '/vm/1', slow.host, '--timeout', '5,0.3'] + AUTH, cli_env)
    assert run.status == 1, run
    (line,) = run.lines
    assert line['error_type'] == 'Timeout' and '0.3 s' in line['error'], line


def test_retry_sends_again_after_a_503(napix_server, cli_env):
    from napixd.testing import Reply
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) % 3:
            raise Reply(503, 'not yet')
        return {'third': True}
    napix_server.route('GET', '/flaky', flaky)
    run = napix(['GET', '/flaky', napix_server.host] + AUTH, cli_env)
    assert run.status == 1 and run.lines[0]['status'] == 503, run
    del calls[:]
    run = napix(['GET', '/flaky', napix_server.host, '--retry', '2'] + AUTH, cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body'] == {'third': True} and len(calls) == 3


def test_help_tells_the_curl_options(cli_env):
    run = napix(['--help'], dict(cli_env, COLUMNS='100'))
    text = ' '.join(run.out.split())
    for landmark in ("-H 'NAME: VALUE', --header 'NAME: VALUE'", '@FILE reads it from FILE',
                     '@- from stdin', 'CONNECT,READ', '--retry N', '--port N'):
        assert landmark in text, landmark


# Bad input: one line, exit 2, nothing sent

@pytest.mark.parametrize('args, message', [
    (['-H', 'X-Request-Id'], "-H/--header 'X-Request-Id': expected NAME: VALUE"),
    (['-H', ': value'], "-H/--header ': value': expected NAME: VALUE"),
    (['-H', 'Authorization: Token abc'], '-H/--header Authorization: not allowed, napix signs '
                                         'each request'),
    (['-H', 'host: elsewhere'], '-H/--header host: not allowed'),
    (['-H', 'Content-Length: 3'], '-H/--header Content-Length: not allowed'),
    (['-H', 'Transfer-Encoding: chunked'], '-H/--header Transfer-Encoding: not allowed'),
    (['-H', 'Connection: close'], '-H/--header Connection: not allowed'),
    (['-H', 'Bad Name: 1'], "-H/--header 'Bad Name: 1': invalid header name"),
    (['-H', 'X-A: 1', '-H', 'x-a: 2'], "-H/--header 'x-a: 2': header x-a given twice"),
    (['--body', '@/nonexistent/body.json'],
     '--body @/nonexistent/body.json: cannot read /nonexistent/body.json: No such file'),
    (['--body', '@{tmp}'], '--body @{tmp}: cannot read {tmp}: Is a directory'),
    (['--body', '@{tmp}/broken.json'], '--body @{tmp}/broken.json is not valid JSON'),
    (['--body', '@-', '--hosts-file', '-'], 'stdin can be read once'),
    (['--timeout', '1,2,3'], "argument --timeout: expected S or CONNECT,READ seconds, "
                             "not '1,2,3'"),
    (['--timeout', '1,0'], 'argument --timeout: expected a number of seconds > 0'),
    (['--timeout', ',1'], 'argument --timeout: expected a number of seconds > 0'),
    (['--port', '0'], 'argument --port: expected a port from 1 to 65535'),
    (['--retry', '-1'], 'argument --retry: expected a whole number >= 0'),
    (['--retry', 'often'], 'argument --retry: expected a whole number >= 0'),
], ids=repr)
def test_bad_request_options_are_one_line_and_exit_2(napix_server, cli_env, tmp_path, args,
                                                     message):
    (tmp_path / 'broken.json').write_text('{size: 1}')
    args = [arg.replace('{tmp}', str(tmp_path)) for arg in args]
    run = napix(['POST', '/echo', napix_server.host] + args + AUTH, cli_env, input='')
    assert run.status == 2, run
    assert run.out == '' and run.err.count('\n') == 1, run
    assert run.err.startswith('napix: error: ' + message.replace('{tmp}', str(tmp_path))), run
    assert napix_server.requests == []
