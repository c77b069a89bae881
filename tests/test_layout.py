"""The layout: imports only go downward, no cycle anywhere, no
library module over ~400 lines.

``python tests/test_layout.py`` prints the import graph of ``napix`` and
``napixd``, one module a line with what it imports, lowest layers first.
"""

import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('napix', 'napixd')


def modules():
    """``{module name: path}`` of every module of the library."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                    if module.endswith('.__init__'):
                        module = module[:-len('.__init__')]
                    found[module] = path
    return found


def import_graph():
    """``{module: set of library modules it imports}``, wherever the import is
    (inside functions too)."""
    known = modules()
    graph = {}
    for module, path in known.items():
        with open(path, encoding='utf-8') as source:
            tree = ast.parse(source.read(), path)
        package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    parts = package.split('.')
                    base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                names = [base + '.' + alias.name for alias in node.names] + [base]
            else:
                continue
            for name in names:
                while name and name not in known:
                    name = name.rpartition('.')[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layers(graph):
    """Modules by layer: each imports only modules of lower layers."""
    depth = {}

    def level(node):
        if node not in depth:
            depth[node] = 0
            depth[node] = 1 + max([level(t) for t in graph[node]], default=-1)
        return depth[node]

    for node in graph:
        level(node)
    return sorted(graph, key=lambda node: (depth[node], node)), depth


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_transports_and_models_stay_below_the_connection():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith('napix.transports') or module in (
                'napix.models', 'napix.checks', 'napix.hosts', 'napix.exceptions',
                'napix.authenticators', 'napix.weakvalues', 'napix.defaults'):
            assert 'napix.connection' not in targets, module
            assert not any(t.startswith('napixd') for t in targets), module
    assert graph['napix.models'] <= {'napix', 'napix.headers', 'napix.jsoncodec',
                                     'napix.timings'}, graph['napix.models']
    for below in ('napix.headers', 'napix.jsoncodec'):
        assert graph[below] <= {'napix'}, graph[below]
    assert graph['napix.timings'] == set(), graph['napix.timings']
    assert not any(t.startswith('napixd') for m, ts in graph.items()
                   if m.startswith('napix.') for t in ts)


def test_no_library_module_over_400_lines():
    long = {}
    for module, path in modules().items():
        with open(path, encoding='utf-8') as source:
            count = sum(1 for _ in source)
        if count > 420:
            long[module] = count
    assert long == {}


def long_functions(limit):
    """``{'module:function': lines}`` of the library's functions over *limit*
    lines (docstring included), in napix and napixd.client."""
    long = {}
    for module, path in modules().items():
        if not module.startswith(('napix.', 'napixd.client')) and module != 'napix':
            continue
        with open(path, encoding='utf-8') as source:
            tree = ast.parse(source.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long['{0}:{1}'.format(module, node.name)] = lines
    return long


def test_no_library_function_over_60_lines():
    # A function a reader cannot hold in one sitting is split into named steps.
    assert long_functions(60) == {}


def test_a_long_function_is_found(tmp_path, monkeypatch):
    body = '\n'.join('    x = {0}'.format(n) for n in range(61))
    (tmp_path / 'napix').mkdir()
    (tmp_path / 'napix' / 'long.py').write_text('def f():\n' + body + '\n')
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', str(tmp_path))
    assert long_functions(60) == {'napix.long:f': 62}


if __name__ == '__main__':
    graph = import_graph()
    order, depth = layers(graph)
    for module in order:
        print('{0}{1} -> {2}'.format('  ' * depth[module], module,
                                     ', '.join(sorted(graph[module])) or '-'))
    print('cycles:', cycles(graph) or 'none', file=sys.stderr)
