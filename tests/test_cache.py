"""napix.cache.BoundedCache: computed once, kept up to its size, plain dict lookups."""

import pytest

from napix.cache import BoundedCache


def counting(results):
    calls = []

    def compute(key):
        calls.append(key)
        if key in results:
            return results[key]
        raise ValueError('no {0}'.format(key))
    return compute, calls


def test_a_miss_is_computed_once_then_kept():
    compute, calls = counting({'a': 1, 'b': None})
    cache = BoundedCache(compute)
    assert cache['a'] == 1 and cache['a'] == 1
    assert cache['b'] is None and cache['b'] is None  # None is a value like another
    assert calls == ['a', 'b']
    assert cache.get('a') == 1 and cache.get('zzz') is None  # get() never computes
    assert calls == ['a', 'b']


def test_what_compute_raises_propagates_and_nothing_is_kept():
    compute, calls = counting({})
    cache = BoundedCache(compute)
    for _ in range(2):
        with pytest.raises(ValueError, match='no x'):
            cache['x']
    assert calls == ['x', 'x'] and 'x' not in cache


def test_an_unhashable_key_raises_type_error_before_compute():
    compute, calls = counting({})
    cache = BoundedCache(compute)
    with pytest.raises(TypeError):
        cache[['a']]
    assert calls == []


def test_a_full_cache_is_cleared_before_a_new_key():
    cache = BoundedCache(str.upper, maxsize=3)
    for key in 'abc':
        cache[key]
    assert len(cache) == 3
    cache.store('a', 'A again')  # a key it has: replaced, nothing dropped
    assert len(cache) == 3 and cache['a'] == 'A again'
    assert cache['d'] == 'D'
    assert dict(cache) == {'d': 'D'}
    for size in range(1000):
        cache[str(size)]
        assert len(cache) <= 3


def test_long_keys_are_computed_each_time_not_kept():
    compute, calls = counting({'x' * 5: 5, 'x' * 6: 6})
    cache = BoundedCache(compute, longest=5)
    assert cache['x' * 5] == 5 and cache['x' * 6] == 6 and cache['x' * 6] == 6
    assert list(cache) == ['x' * 5] and calls.count('x' * 6) == 2
    unbounded = BoundedCache(abs, longest=None)
    assert unbounded[-3] == 3 and dict(unbounded) == {-3: 3}  # keys without a length


def test_store_returns_the_value_and_a_cache_without_compute_raises_key_error():
    cache = BoundedCache()
    assert cache.store('k', 1) == 1 and cache['k'] == 1
    with pytest.raises(KeyError):
        cache['missing']
    assert repr(cache) == '<BoundedCache 1 of 4096>'
