"""The published package: what ``pip install napixd-client`` gives a user.

``python -m build`` makes an sdist, then a wheel from that sdist (so a file
missing from the sdist breaks the wheel); ``twine check`` accepts both; the
wheel installs in a fresh virtualenv (no system site-packages: a dependency
missing from ``install_requires`` fails there) and the ``napix`` command it
installs runs its demo. Both packages ship their PEP 561 ``py.typed`` marker.

Building uses the network (``build`` fetches setuptools into an isolated
environment, pip fetches the dependencies from its configured index); the
demo itself only talks to 127.0.0.1.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each step's bound, in seconds: building needs setuptools from the index,
# installing gevent & co; both are mostly download time.
STEP_TIMEOUT = 300

pytestmark = [
    pytest.mark.timeout(4 * STEP_TIMEOUT),
    # 35 to 90 s, mostly downloads: run on demand and by .ci/run, which sets
    # NAPIX_PACKAGING=1.
    pytest.mark.skipif(os.environ.get('NAPIX_PACKAGING') != '1',
                       reason='builds the package and installs it in a fresh venv (35-90 s, '
                              'uses the package index): set NAPIX_PACKAGING=1 to run'),
]

# Not copied into the build tree: environments, build outputs, caches.
_IGNORED = shutil.ignore_patterns('.git', '.venv', '.tox', 'build', 'dist', '*.egg-info',
                                  '_build', '__pycache__', '*.pyc', '.hypothesis',
                                  '.pytest_cache')


def _clean_env():
    """The environment without what would let a subprocess see this checkout
    or this virtualenv instead of what it installed."""
    return {k: v for k, v in os.environ.items()
            if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP')}


def _run(args, cwd, timeout=STEP_TIMEOUT):
    done = subprocess.run([str(a) for a in args], cwd=str(cwd), env=_clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert done.returncode == 0, '{0} exited with {1}:\n{2}'.format(
        ' '.join(str(a) for a in args), done.returncode, done.stdout[-4000:])
    return done.stdout


def _version():
    with open(ROOT / 'napix' / '__init__.py') as init:
        return re.search(r"__version__ = '([^']+)'", init.read()).group(1)


@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    """The directory holding the sdist and the wheel built from a copy of this
    checkout (the build writes egg-info and build/ where it runs)."""
    work = tmp_path_factory.mktemp('packaging')
    source = work / 'source'
    shutil.copytree(ROOT, source, ignore=_IGNORED)
    out = work / 'dist'
    _run([sys.executable, '-m', 'build', '--outdir', out, source], cwd=work)
    return out


@pytest.fixture(scope='module')
def wheel(dist):
    wheels = list(dist.glob('*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope='module')
def sdist(dist):
    sdists = list(dist.glob('*.tar.gz'))
    assert len(sdists) == 1, sdists
    return sdists[0]


@pytest.fixture(scope='module')
def venv(tmp_path_factory, wheel):
    """A fresh virtualenv, without system site-packages, with the wheel installed."""
    home = tmp_path_factory.mktemp('venv') / 'env'
    _run([sys.executable, '-m', 'venv', home], cwd=home.parent)
    _run([home / 'bin' / 'python', '-m', 'pip', 'install', '-q',
          '--disable-pip-version-check', wheel], cwd=home.parent)
    return home


def test_build_names_the_version(sdist, wheel):
    version = _version()
    assert sdist.name == 'napixd_client-{0}.tar.gz'.format(version)
    assert wheel.name == 'napixd_client-{0}-py3-none-any.whl'.format(version)


def test_twine_accepts_both(sdist, wheel):
    out = _run([sys.executable, '-m', 'twine', 'check', '--strict', sdist, wheel],
               cwd=sdist.parent)
    assert out.count('PASSED') == 2, out


def test_wheel_ships_py_typed_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read('napixd_client-{0}.dist-info/entry_points.txt'.format(
            _version())).decode()
    assert {'napix/py.typed', 'napixd/py.typed'} <= names
    assert 'napixd/client/pool.py' in names and 'napix/transports/gevent.py' in names
    assert not any(name.startswith(('tests/', 'docs/', 'bench/')) for name in names)
    assert 'napix = napixd.client.__main__:main' in entry_points


def test_sdist_holds_what_the_tests_and_docs_need(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.split('/', 1)[1] for name in archive.getnames() if '/' in name}
    for needed in ('napix/py.typed', 'napixd/py.typed', 'tests/conftest.py', 'tox.ini',
                   'docs/conf.py', 'docs/_doctest_servers.py', 'docs/client.rst'):
        assert needed in names
    assert not any(name.startswith('docs/_build') or '__pycache__' in name for name in names)


def test_fresh_venv_sees_only_what_the_wheel_brought(venv):
    with open(venv / 'pyvenv.cfg') as cfg:
        assert 'include-system-site-packages = false' in cfg.read()
    # Run from elsewhere than the checkout, so that the installed copy is imported.
    out = _run([venv / 'bin' / 'python', '-c',
                'import napix, napixd.client, napixd.testing, gevent, httptools, rich; '
                'print(napix.__version__); print(napix.__file__); print(napixd.__file__)'],
               cwd=venv)
    version, napix_file, napixd_file = out.split()
    assert version == _version()
    for module_file in (napix_file, napixd_file):
        package = Path(module_file).parent
        assert package.is_relative_to(venv), package
        assert (package / 'py.typed').is_file()


def test_installed_napix_demo_runs(venv):
    out = _run([venv / 'bin' / 'napix', 'demo'], cwd=venv, timeout=120)
    assert 'napix demo' in out
    assert 'wait_unordered' in out
    assert re.search(r'Done in [0-9.]+ s', out), out[-2000:]
