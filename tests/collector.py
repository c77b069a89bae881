"""What only the cyclic garbage collector would free, for the tests that
check that nothing of the library is left to it (sockets are released by
reference counting)."""

import gc


def napix_garbage():
    """The objects of napix and napixd that only the cyclic collector would free."""
    gc.collect()
    saved = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [type(o) for o in gc.garbage
                 if type(o).__module__.startswith(('napix.', 'napixd.'))]
    finally:
        gc.set_debug(saved)
        del gc.garbage[:]
    return found
