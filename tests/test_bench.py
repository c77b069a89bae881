"""The benchmark's steps still run against the library as it is (not timed:
one call each). bench/layers.py reaches into internals that a change may move."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'bench'))

import layers  # noqa: E402


def test_every_step_of_bench_layers_runs():
    body = b'{"a": "' + b'x' * 204 + b'"}'  # the 213 bytes its response head announces
    results = layers.measure(body, number=1, repeat=1)
    assert len(results) == 9
    assert all(seconds > 0 for seconds in results.values()), results
