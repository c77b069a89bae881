"""Sphinx configuration of napixd-client's documentation.

The ``>>>`` examples are run by ``sphinx-build -b doctest docs docs/_build/doctest``
against real Napix test servers on 127.0.0.1 (see ``_doctest_servers.py``).
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Document (and test) the code of this checkout, and find _doctest_servers.
sys.path[:0] = [ROOT, HERE]

with open(os.path.join(ROOT, 'napix', '__init__.py')) as init:
    release = re.search(r"__version__ = '([^']+)'", init.read()).group(1)

project = 'napixd-client'
author = 'the napixd-client authors'
copyright = 'the napixd-client authors'
version = release

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.doctest',
    'sphinx.ext.viewcode',
]

exclude_patterns = ['_build']
html_theme = 'alabaster'
html_theme_options = {
    'description': 'Signed requests to Napix servers, on gevent',
    'page_width': '1180px',
    'sidebar_width': '220px',
    'code_font_size': '0.85em',
    'body_max_width': '900px',
}
html_static_path = []

# Every cross-reference must resolve; the few names below are documented
# outside this project (intersphinx is off: the build needs no network).
nitpicky = True
nitpick_ignore_regex = [
    (r'py:.*', r'gevent(\..*)?'),
    (r'py:.*', r'requests(\..*)?'),
    (r'py:.*', r'urllib3(\..*)?'),
    (r'py:class', r'Exception'),
    # The signature typing's MutableMapping.get documents in its docstring.
    (r'py:class', r'D\[k\] if k in D, else d\..*'),
    # Type aliases, type variables and private names that signatures show.
    (r'py:.*', r'(.*\.)?_\w+'),
    (r'py:class', r'(Environ|Request|TimeoutArg|Verify|WSGIApplication|WSGIEnvironment)'),
    # The standard library (intersphinx is off).
    (r'py:.*', r'(TracebackType|(socket|ssl|os|time|weakref|typing|pathlib)\..*|'
               r'(collections\.)?abc\..*|str\..*)'),
]
# 0.1's names stay documented in napix.connection, beside napix.models: an
# annotation that says Request may resolve to either, both the same class.
suppress_warnings = ['ref.python']

autodoc_member_order = 'bysource'
autodoc_default_options = {
    'members': True,
    'show-inheritance': True,
}

# Each document's examples run against local Napix servers that answer for
# server.napix.nx, ip-allocator.enix.org, filer.enix.org and xen*.enix.org;
# ``servers`` maps those names to the servers. Nothing else is predefined: an
# example defines every name it uses (authenticator, EXPECTED, ...), as a
# reader's code would.
doctest_global_setup = '''
import _doctest_servers
servers = _doctest_servers.start()
'''
doctest_global_cleanup = '''
servers.stop()
'''
