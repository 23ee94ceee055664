"""The process's memory: how much is resident, and giving free memory back after a run.

What a run leaves behind once its servers are gone is free memory the allocator keeps, not live
objects: the live heap after a run is the size it was before. Two things keep it from the OS:
- CPython's type attribute cache holds a reference to the name of each of its 4,096 most recent
  lookups, and C extensions (psycopg2's adaptation, gevent) look names up with a string made for the
  call: after a run the cache pins a few thousand such strings allocated during it, each keeping a
  whole pymalloc pool (16 KB), and so its 1 MB arena, in memory.
- pymalloc hands an arena back only when every block in it is free, never the free pools of an
  arena that some block still uses; glibc's malloc_trim returns every free page. So the workers run
  with PYTHONMALLOC=malloc (config/gunicorn.conf.py): the few blocks a run leaves alive then keep a page
  each, not an arena each.
"""
import ctypes
import ctypes.util
import gc
import os
import sys


def release_free_memory():
    """After a run: collect, drop the type cache's hold on names, give the allocator's free pages back."""
    gc.collect()
    _clear_type_cache()  # refilled by the next lookups; only the references to stale name strings go
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # glibc only
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()
# Python 3.13 deprecates sys._clear_type_cache for the function that also clears its other caches.
_clear_type_cache = getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
