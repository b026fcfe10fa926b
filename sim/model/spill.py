"""Arrays whose values live in a file rather than in the process: a long run's records and tables.

A city-year's request and visit records are 265 MB and its tables 181 MB, while the work open at
any one time is a month's. A long run's (`pays`) are made on a file of the temporary directory
(`tempfile.gettempdir()`, so `TMPDIR` chooses it), mapped shared and unlinked at once (nothing is
left behind however the process ends), and their pages are handed back (`give_back`) once the run
has moved past them: the values stay in the file and are read back when touched again. A short
run's are made in memory, the same values (`FROM_REQUESTS`). The process holds what it touched
since; the machine's page cache holds the rest on the kernel's terms, written out to the disk
and dropped when memory is wanted, as a file the run wrote out would be (docs/PERFORMANCE.md,
"Records and tables on a file"). The file's blocks are reserved when it is made, so a full disk
is found then, not as a fault in the middle of the run; where it cannot be made or reserved, or
the system cannot hand pages back, the arrays are made in memory, the same values.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import tempfile
import threading
import warnings
import weakref

import numpy as np

_ALIGN = mmap.PAGESIZE
# A run gives its pages back once this many more requests have come forward (at the build, been
# recorded), looking at least every CHECK_DAYS: a city-year then holds about 20 days of its records
# (Meihekou's requests come forward at about 3,400 a day), and reads each page back a few times
# at most. A city-year peaked at 403 MB with this and with every 32,768, at 412 MB with every
# 131,072 (docs/PERFORMANCE.md, "Records and tables on a file").
GIVE_BACK_EVERY = 1 << 16
CHECK_DAYS = 30
# A run of at least this many requests (about 150 days of Meihekou's) keeps its horizon-long
# arrays on files (`pays`); a shorter one keeps them in memory, as its arrays are a small part of
# the process's own 260 MB and reading them back would cost it more than they take: a calibration's
# 100-day run took 432 ms on files against 350 ms in memory (`benchmarks/run_phases.py`).
FROM_REQUESTS = 1 << 19


def _heap_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):          # not glibc
        return None


_trim = _heap_trim()
_FILES: weakref.WeakSet = weakref.WeakSet()       # every spill file mapped in this process
_FILES_LOCK = threading.Lock()                     # (a run in one thread may make one while another's hands back)


def pays(requests: int) -> bool:
    """Whether a run of `requests` keeps its horizon-long arrays on files (FROM_REQUESTS)."""
    return requests >= FROM_REQUESTS


def arrays(room: int, dtypes: dict[str, np.dtype], on_file: bool = True) -> dict[str, np.ndarray]:
    """One array of `room` elements per name, of its dtype, on one file if `on_file`, else in
    memory (uninitialised)."""
    shapes = {name: (room, np.dtype(dtype)) for name, dtype in dtypes.items()}
    return _on_file(shapes) if on_file else {name: np.empty(n, dtype=d) for name, (n, d) in shapes.items()}


def filed(*values: np.ndarray, on_file: bool = True) -> tuple[np.ndarray, ...]:
    """Copies of `values` on one file, none of their pages in the process (what the outputs hold
    from one step to a later one); `values` as they are if not `on_file`."""
    if not on_file:
        return values
    out = _on_file({k: (len(v), v.dtype) for k, v in enumerate(values)})
    for k, v in enumerate(values):
        put(out[k], v)
    return tuple(out.values())


def _on_file(shapes: dict) -> dict:
    offsets, size = {}, 0
    for name, (n, dtype) in shapes.items():
        offsets[name] = size
        size += -(-n * dtype.itemsize // _ALIGN) * _ALIGN        # each array starts on a page
    mapped = _mapped(max(size, _ALIGN))
    if mapped is None:
        return {name: np.empty(n, dtype=dtype) for name, (n, dtype) in shapes.items()}
    return {name: np.frombuffer(mapped, dtype=dtype, count=n, offset=offsets[name])
            for name, (n, dtype) in shapes.items()}


class _File(mmap.mmap):
    """A spill file's mapping: `fd` its file, `start` the address it is mapped at."""
    fd: int
    start: int


def put(target: np.ndarray, values) -> None:
    """`target[:] = values`. On a file (a slice of an array made here), written to the file rather
    than through its mapping: the pages go to the file without entering the process, and with
    no fault a page (what writing a city-year's records and tables through the mapping cost)."""
    file = _file(target)
    if file is None or not target.flags.c_contiguous:
        target[:] = values
        return
    values = np.asarray(values)
    at = target.ctypes.data - file.start
    if values.ndim:
        _write(file.fd, np.ascontiguousarray(values, dtype=target.dtype), at)
        return
    block = np.full(min(len(target), _BLOCK), values, dtype=target.dtype)     # (a default: one block, again)
    for lo in range(0, len(target), _BLOCK):
        _write(file.fd, block[:min(_BLOCK, len(target) - lo)], at + lo * target.itemsize)


_BLOCK = 1 << 16


def _write(fd: int, data: np.ndarray, at: int) -> None:
    view = memoryview(data).cast("B")
    while len(view):
        done = os.pwrite(fd, view, at)
        view, at = view[done:], at + done


def _mapped(size: int) -> _File | None:
    if not hasattr(mmap, "MADV_DONTNEED"):
        return None
    try:
        fd, path = tempfile.mkstemp(prefix="gridsim-")
    except OSError as e:
        return _in_memory(f"no file for them in {tempfile.gettempdir()} ({e.strerror})")
    try:
        os.unlink(path)
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:                                   # (macOS: the file's blocks are found as it is written)
            os.ftruncate(fd, size)
        mapped = _File(fd, size)
    except OSError as e:
        os.close(fd)
        return _in_memory(f"no room for {size / 2**20:,.0f} MB of them in {tempfile.gettempdir()} ({e.strerror})")
    mapped.fd, mapped.start = fd, np.frombuffer(mapped, dtype=np.uint8, count=1).ctypes.data
    weakref.finalize(mapped, os.close, fd)
    with _FILES_LOCK:
        _FILES.add(mapped)
    return mapped


def _in_memory(why: str) -> None:
    """The arrays go in memory instead: said once a process (the same numbers, more memory)."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"a long run's records and tables are kept in memory: {why}")


_warned = False


def give_back(heap: bool = False) -> None:
    """The pages of every spill file leave the process; their values stay and are read back when
    next touched (a page still in use costs one fault to come back). `heap`: so does the memory
    the C heap keeps from arrays already freed (glibc keeps a freed array under 32 MB for the
    next one: 43 MB at the end of a city-year's build), at the few points where what follows
    needs less than what went before; not at every one, since the next arrays would fault fresh
    pages in (a degenerate city-year's outputs 0.70 s against 1.0-1.3 s)."""
    with _FILES_LOCK:
        files = list(_FILES)
    for mapped in files:
        mapped.madvise(mmap.MADV_DONTNEED)
    if heap and _trim is not None:
        _trim(0)


def on_file(array: np.ndarray) -> bool:
    """Whether `array` is on a spill file."""
    return _file(array) is not None


def _file(array: np.ndarray) -> "_File | None":
    x = array
    while isinstance(x, np.ndarray):
        x = x.base
    return x.obj if isinstance(x, memoryview) and isinstance(x.obj, _File) else None
