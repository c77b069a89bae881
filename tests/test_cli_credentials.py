"""Where the ``napix`` command takes its credentials from, and what it says
about them: driven as a user drives it, against real servers on 127.0.0.1.

The order of precedence: the options (``--config FILE`` included), then the
environment, then the default file; a login and its key come from one place.
"""

import pytest
from test_cli import AUTH, SECRET_KEY, SECRET_TOKEN, napix, user_env

OTHER_KEY = '0ther-K3y-Must-N0t-Leak'


@pytest.fixture
def cli_env(tmp_path):
    return user_env(tmp_path)


@pytest.fixture
def server(make_napix_server):
    """A server that knows two logins, and a token for a third."""
    return make_napix_server(users={'admin': SECRET_KEY, 'other': OTHER_KEY},
                             tokens={SECRET_TOKEN: 'tok'})


def write_config(path, login, key):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[napix]\nlogin = {0}\nkey = {1}\n'.format(login, key))
    return path


def signed_by(run):
    assert run.status == 0, run
    (line,) = run.lines
    return line['body']['by']


def test_each_place_alone_is_used(server, cli_env, tmp_path):
    env = dict(cli_env, NAPIX_LOGIN='admin', NAPIX_KEY=SECRET_KEY)
    assert signed_by(napix(['GET', '/vm/1', server.host], env)) == 'admin'
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    assert signed_by(napix(['GET', '/vm/1', server.host], env)) == 'tok'
    write_config(tmp_path / '.config' / 'napix' / 'credentials', 'admin', SECRET_KEY)
    assert signed_by(napix(['GET', '/vm/1', server.host], cli_env)) == 'admin'
    config = write_config(tmp_path / 'other.ini', 'other', OTHER_KEY)
    assert signed_by(napix(['GET', '/vm/1', server.host, '--config', str(config)],
                           cli_env)) == 'other'


def test_options_beat_the_environment_which_beats_the_default_file(server, cli_env,
                                                                     tmp_path):
    write_config(tmp_path / '.config' / 'napix' / 'credentials', 'other', OTHER_KEY)
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    assert signed_by(napix(['GET', '/vm/1', server.host], env)) == 'tok'
    run = napix(['GET', '/vm/1', server.host, '--login', 'admin', '--key', SECRET_KEY], env)
    assert signed_by(run) == 'admin'


def test_a_config_option_beats_the_environment(server, cli_env, tmp_path):
    config = write_config(tmp_path / 'other.ini', 'other', OTHER_KEY)
    env = dict(cli_env, NAPIX_LOGIN='admin', NAPIX_KEY=SECRET_KEY)
    assert signed_by(napix(['GET', '/vm/1', server.host, '--config', str(config)],
                           env)) == 'other'
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    assert signed_by(napix(['GET', '/vm/1', server.host, '--config', str(config)],
                           env)) == 'other'


def test_a_login_never_takes_the_key_of_another_place(server, cli_env, tmp_path):
    # NAPIX_LOGIN=admin with a default file written for `other`: never admin
    # signed with other's key; without a terminal to ask, a usage error.
    write_config(tmp_path / '.config' / 'napix' / 'credentials', 'other', OTHER_KEY)
    run = napix(['GET', '/vm/1', server.host], dict(cli_env, NAPIX_LOGIN='admin'))
    assert run.status == 2, run
    assert run.out == ''
    assert run.err == ('napix: error: NAPIX_LOGIN needs a key from the same place: give '
                       'NAPIX_KEY too\n')

    # --login with the key of the environment, or of a file: refused too.
    env = dict(cli_env, NAPIX_KEY=SECRET_KEY)
    run = napix(['GET', '/vm/1', server.host, '--login', 'admin'], env)
    assert run.status == 2 and run.out == '', run
    assert run.err == 'napix: error: --login needs a key from the same place: give --key too\n'
    config = write_config(tmp_path / 'admin.ini', 'admin', SECRET_KEY)
    run = napix(['GET', '/vm/1', server.host, '--login', 'admin', '--config', str(config)],
                cli_env)
    assert run.status == 2 and run.out == '', run
    assert SECRET_KEY not in run.err and OTHER_KEY not in run.err


def test_a_key_without_a_login_in_its_place_is_refused(server, cli_env, tmp_path):
    config = tmp_path / 'key-only.ini'
    config.write_text('[napix]\nkey = {0}\n'.format(SECRET_KEY))
    env = dict(cli_env, NAPIX_LOGIN='admin')
    run = napix(['GET', '/vm/1', server.host, '--config', str(config)], env)
    assert run.status == 2 and run.out == '', run
    assert run.err == 'napix: error: key in {0} needs a login from the same place: give ' \
                      'login in {0} too\n'.format(config)


@pytest.mark.parametrize('where', ['options', 'config', 'environment', 'token', 'default',
                                   'anonymous'])
def test_a_refused_answer_says_where_the_credentials_came_from(make_napix_server, cli_env,
                                                               tmp_path, where):
    server = make_napix_server(users={'root': 'not-the-key'})
    default = tmp_path / '.config' / 'napix' / 'credentials'
    config = tmp_path / 'x.ini'
    args, env = ['GET', '/vm/1', server.host], dict(cli_env)
    expected = {
        'options': '--login/--key (login root)',
        'config': '--config {0} (login root)'.format(config),
        'environment': 'NAPIX_LOGIN/NAPIX_KEY in the environment (login root)',
        'token': 'NAPIX_TOKEN in the environment (token)',
        'default': 'the file {0} (login root, auth jwt)'.format(default),
        'anonymous': '--anonymous (none sent)',
    }[where]
    if where == 'options':
        args += ['--login', 'root', '--key', SECRET_KEY]
    elif where == 'config':
        args += ['--config', str(write_config(config, 'root', SECRET_KEY))]
    elif where == 'environment':
        env.update(NAPIX_LOGIN='root', NAPIX_KEY=SECRET_KEY)
    elif where == 'token':
        env.update(NAPIX_TOKEN=SECRET_TOKEN)
    elif where == 'default':
        write_config(default, 'root', SECRET_KEY)
        with default.open('a') as stream:
            stream.write('auth = jwt\n')
    else:
        args += ['--anonymous']
    run = napix(args, env)
    assert run.status == 1, run
    (line,) = run.lines
    assert line['status'] in (401, 403)
    assert line['credentials'] == expected
    assert SECRET_KEY not in run.out + run.err and SECRET_TOKEN not in run.out + run.err


def test_a_successful_answer_does_not_name_the_credentials(make_napix_server, cli_env):
    run = napix(['GET', '/vm/1', make_napix_server().host] + AUTH, cli_env)
    assert run.status == 0, run
    assert 'credentials' not in run.lines[0]


@pytest.mark.parametrize('auth', ['secure', 'nonsecure', 'jwt'])
def test_secrets_never_appear_in_output(make_napix_server, cli_env, auth):
    server = make_napix_server(users={'root': 'another-key'})
    run = napix(['GET', '/vm/1', server.host, '--auth', auth, '--login', 'root',
                 '--key', SECRET_KEY], cli_env)
    assert run.status == 1, run
    assert run.lines[0]['status'] == 403
    assert SECRET_KEY not in run.out + run.err
    assert 'token=' not in run.out + run.err


def test_secrets_never_appear_in_errors(make_napix_server, cli_env, tmp_path):
    server = make_napix_server()
    env = dict(cli_env, NAPIX_TOKEN=SECRET_TOKEN)
    run = napix(['GET', '/vm/1', server.host], env)
    assert run.status == 1 and run.lines[0]['status'] == 403, run
    assert SECRET_TOKEN not in run.out + run.err

    config = tmp_path / 'credentials'
    config.write_text('[napix]\nlogin = root\n{0}\n'.format(SECRET_KEY))
    run = napix(['GET', '/vm/1', server.host, '--config', str(config)], cli_env)
    assert run.status == 2 and 'not in ini form' in run.err, run
    assert SECRET_KEY not in run.out + run.err

    run = napix(['GET', '/vm/1', server.host, '--key', SECRET_KEY], cli_env)
    assert run.status == 2 and '--key needs a login' in run.err, run
    assert SECRET_KEY not in run.out + run.err


def test_a_missing_key_without_a_terminal_is_a_usage_error(make_napix_server, cli_env):
    server = make_napix_server()
    run = napix(['GET', '/vm/5', server.host, '--login', 'root'], cli_env, input='toor\n')
    assert run.status == 2, run
    assert run.err == 'napix: error: --login needs a key from the same place: give --key ' \
                      'too\n', run
