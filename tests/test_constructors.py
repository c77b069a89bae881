"""Every hand-made constructor sets every slot of what it makes.

A hand-made constructor builds an object without its ``__init__``
(``object.__new__``, ``cls.__new__``, or a class whose ``__init__`` is not
run) and sets its slots one by one: a slot added to the class and forgotten
there raises AttributeError far from its cause. The constructors are found
in the sources (a call of ``__new__``, or of models' ``_new`` alias); each
must be covered below, where it is run and what it made checked slot by slot.
"""

import ast
import os

import pytest

import napix
import napixd
from napix import models
from napix.authenticators import LoginAuthenticator
from napix.connection import Connection, ConnectionOptions
from napixd.client.client import PlainClient
from napixd.client.gevent import Client as GeventClient

AUTH = LoginAuthenticator('root', 'toor')
PACKAGES = [os.path.dirname(napix.__file__), os.path.join(os.path.dirname(napixd.__file__))]


def unset_slots(obj):
    """The slots of *obj*'s class (and of its bases of this project: gevent's
    compiled ones are not readable from Python) that reading raises
    AttributeError for: those its constructor forgot."""
    names = set()
    for cls in type(obj).__mro__:
        if cls.__module__.partition('.')[0] not in ('napix', 'napixd', __name__):
            continue
        slots = cls.__dict__.get('__slots__', ())
        names.update([slots] if isinstance(slots, str) else slots)
    names -= {'__weakref__', '__dict__'}
    missing = []
    for name in sorted(names):
        try:
            getattr(obj, name)
        except AttributeError:
            missing.append(name)
    return missing


def hand_made_constructors():
    """``module:function`` of every function of napix and napixd that calls
    ``__new__`` (or models' ``_new``, which is ``object.__new__``)."""
    found = set()
    for package in PACKAGES:
        root = os.path.dirname(package)
        for folder, _, files in os.walk(package):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(folder, name)
                module = os.path.relpath(path, root)[:-3].replace(os.sep, '.')
                with open(path, encoding='utf-8') as source:
                    tree = ast.parse(source.read())
                found.update('{0}:{1}'.format(module, qualname)
                             for qualname in _calls_of_new(tree))
    return found


def _calls_of_new(tree):
    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                qualname = prefix + child.name
                if isinstance(child, ast.FunctionDef) and any(
                        _is_new_call(call) for call in ast.walk(child)):
                    yield qualname
                yield from visit(child, qualname + '.')
    yield from visit(tree, '')


def _is_new_call(node):
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return ((isinstance(func, ast.Attribute) and func.attr == '__new__')
            or (isinstance(func, ast.Name) and func.id == '_new'))


# What each hand-made constructor makes, made by it.

def _request():
    return models.new_request('GET', 'h', 'h', '/', None, None, None)


def made_by_new_request():
    with_headers = models.new_request('POST', 'h', 'h', '/', models.Headers({'A': 'b'}),
                                      b'{}', (1.0, 2.0))
    return [_request(), with_headers, _request().headers]


def made_by_new_response():
    return [models.new_response(200, 'HTTP/1.1 200 OK\r\nA: b', b'{}', _request(), 0.1)]


def made_by_from_head():
    return [models.Headers.from_head('HTTP/1.1 200 OK\r\nA: b\r\nA: c')]


def made_by_with_options():
    options = ConnectionOptions(AUTH, simultaneous=3, share_limit=False)
    first = Connection.with_options('server.napix.nx', options)
    return [first, Connection.with_options('https://other.napix.nx:8443', options),
            Connection('server.napix.nx').for_host('[::1]:8002')]


def made_by_with_connection():
    connection = Connection('server.napix.nx', AUTH, simultaneous=2)
    return [PlainClient.with_connection(connection), GeventClient.with_connection(connection),
            GeventClient('server.napix.nx', AUTH).for_host('other.napix.nx')]


def made_by_for_server():
    from napix.transports.gevent import GeventTransport
    if not hasattr(GeventTransport, 'for_server'):
        pytest.skip('GeventTransport.for_server is gone: see the discovery test')
    transport = GeventTransport('http', 'server.napix.nx', 80)
    return [transport.for_server('https', 'other.napix.nx', 443, '127.0.0.1', 8443)]


COVERED = {
    'napix.models:new_request': made_by_new_request,
    'napix.models:new_response': made_by_new_response,
    'napix.headers:Headers.from_head': made_by_from_head,
    'napix.connection:Connection.with_options': made_by_with_options,
    'napixd.client.client:PlainClient.with_connection': made_by_with_connection,
    'napix.transports.gevent:GeventTransport.for_server': made_by_for_server,
}


def test_every_hand_made_constructor_is_covered_here():
    uncovered = hand_made_constructors() - set(COVERED)
    assert not uncovered, ('hand-made constructors not covered by tests/test_constructors.py '
                           '(add each to COVERED): {0}'.format(sorted(uncovered)))


@pytest.mark.parametrize('constructor', sorted(COVERED))
def test_a_hand_made_constructor_sets_every_slot(constructor):
    made = COVERED[constructor]()
    assert made
    for obj in made:
        assert unset_slots(obj) == [], '{0} left slots of {1} unset'.format(
            constructor, type(obj).__name__)


def test_the_pending_request_of_a_pool_has_every_slot_set(napix_server):
    # ClientPool.request() sets a PendingRequest's slots itself (no Python __init__).
    from napixd.client import ClientPool
    pool = ClientPool(AUTH)
    handle = pool.request(napix_server.host, 'GET', '/vm/1')
    assert unset_slots(handle) == []
    assert pool.wait()[0].status == 200
    assert unset_slots(handle) == []


def test_unset_slots_finds_a_forgotten_slot():
    class Two(object):
        __slots__ = ('one', 'two')
    half = Two.__new__(Two)
    half.one = 1
    assert unset_slots(half) == ['two']
