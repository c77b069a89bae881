"""The command's view of the timings (issue 28): ``--json`` gives each host's
timings, ``--timings`` adds their columns to the table, ``-v`` prints each
exchange on stderr as curl -v does (napixd/cli/verbose.py), credentials hidden."""

import io

import pytest

from napix.authenticators import LoginAuthenticator
from napix.exceptions import HTTPError
from napixd.cli.fanout import Outcome
from napixd.cli.render import make_console, outcome_table
from napixd.client import Client
from test_cli import SECRET_KEY, napix, user_env


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


PHASES = {'queued', 'resolve', 'connect', 'tls', 'send', 'wait', 'receive', 'total'}


def recording_server(make_napix_server):
    server = make_napix_server(users={'root': SECRET_KEY})
    server.authorizations = []

    @server.route('GET', '/seen')
    def seen(request):
        server.authorizations.append(request.headers['authorization'])
        return {'by': request.login}
    return server


def test_json_lines_have_each_hosts_timings(make_napix_server, cli_env, refused_host):
    server = make_napix_server()
    run = napix(['GET', '/sleep/0.2', server.host, refused_host, '--login', 'root',
                 '--key', 'toor', '--json'], cli_env)
    slow, refused = run.lines
    assert set(slow['timings']) == PHASES | {'reused', 'attempts'}
    assert slow['timings']['wait'] >= 0.2 and slow['timings']['reused'] is False
    assert slow['timings']['total'] >= slow['timings']['wait']
    assert refused['ok'] is False and refused['timings']['total'] >= 0


def test_verbose_prints_both_heads_and_the_timings_without_credentials(make_napix_server,
                                                                       cli_env):
    server = recording_server(make_napix_server)
    run = napix(['-v', 'GET', '/seen', server.host, '--login', 'root', '--key', SECRET_KEY,
                 '--json'], cli_env)
    assert run.status == 0, run
    assert run.lines[0]['body'] == {'by': 'root'}  # signed, and accepted
    err = run.err
    assert '> GET /seen HTTP/1.1' in err
    assert '> Host: {0}'.format(server.host) in err
    assert '> Authorization: <hidden>' in err
    assert '< HTTP/1.1 200 OK' in err and '< Content-Type: application/json' in err
    assert '* timings: total ' in err and ' wait ' in err
    [authorization] = server.authorizations
    signature = authorization.rpartition(':')[2]
    assert len(signature) >= 32
    assert signature not in err and authorization not in err and SECRET_KEY not in err
    assert 'nonce' not in err


def test_verbose_shows_a_failure_too(make_napix_server, cli_env, refused_host):
    server = make_napix_server()
    run = napix(['-v', 'GET', '/vm/missing', server.host, refused_host, '--login', 'root',
                 '--key', 'toor', '--json'], cli_env)
    assert run.status == 1
    assert '< HTTP/1.1 404 Not Found' in run.err
    assert '* ConnectError: ' in run.err
    assert run.err.count('* timings: ') == 2
    assert 'toor' not in run.err


def test_the_table_has_the_timings_columns(napix_server):
    client = Client(napix_server.host, LoginAuthenticator('root', 'toor'))
    answer = client.request('GET', '/sleep/0.2')
    try:
        client.request('GET', '/vm/missing')
    except HTTPError as error:
        missing = error
    outcomes = [Outcome(0, napix_server.host, 0.2, response=answer),
                Outcome(1, napix_server.host, 0.01, error=missing)]
    console = make_console(force_plain=True)
    console.file = io.StringIO()
    console.width = 160
    console.print(outcome_table(outcomes, width=160, timings=True))
    text = console.file.getvalue()
    header = text.splitlines()[0].split()
    assert header == ['host', 'status', 'time', 'answer', 'queued', 'connect', 'wait',
                      'receive', 'total']
    wait = '{0:.1f}'.format(answer.timings.wait * 1000)
    assert wait in text.splitlines()[2]
    console.file = io.StringIO()
    console.print(outcome_table(outcomes, width=160))
    assert 'queued' not in console.file.getvalue()
