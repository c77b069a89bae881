"""napix.weakvalues.WeakValues: plain dict lookups, entries gone with their values,
and nothing referring back to the dict but weakly."""

import weakref

from napix.weakvalues import WeakValues


class Value(object):
    pass


def test_put_then_get_then_the_entry_goes_with_its_value(no_gc):
    values = WeakValues()
    one, two = Value(), Value()
    values.put('one', one)
    values.put('two', two)
    assert values.get('one')() is one and values['two']() is two
    del one
    assert list(values) == ['two']  # by reference counting: no collection needed
    assert values.get('one') is None


def test_a_replaced_entry_is_not_removed_by_its_old_value(no_gc):
    values = WeakValues()
    old, new = Value(), Value()
    values.put('k', old)
    values.put('k', new)
    del old
    assert values['k']() is new


def test_the_dict_is_freed_by_reference_counting_before_its_values(no_gc):
    values = WeakValues()
    kept = Value()
    values.put('k', kept)
    ref = weakref.ref(values)
    del values
    assert ref() is None
    del kept  # its callback finds no dict: nothing fails
