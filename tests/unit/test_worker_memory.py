"""A sweep's worker keeps what a run frees for its next run (`sweep.keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

# glibc's own account (mallinfo2), in MB: how much a 20 MB array adds to the blocks mapped on their
# own (handed back when freed), and how much more the heap holds from the system once it is freed
PROBE = """
import ctypes
import numpy as np
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2()
a = np.ones(20 << 17)                  # 20 MB, as a run's larger arrays
mapped = (libc.mallinfo2().hblkhd - before.hblkhd) / 2**20
del a
out = {"mapped": mapped, "held": (libc.mallinfo2().arena - before.arena) / 2**20}
"""

# in this process: glibc alone, or after keep_freed_memory ("keep")
HERE = f"""
import json, sys
from gridsim.experiments.sweep import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
exec({PROBE!r})
print(json.dumps({{"kept": kept, **out}}))
"""

# in a worker of a sweep's pool, and (the control) of a pool of the same kind without its initializer;
# a worker runs the probe as an expression given to `eval`, which a pool can send by name
EXPR = f"(lambda ns: exec({PROBE!r}, ns) or ns['out'])({{}})"
POOLS = f"""
import concurrent.futures as cf, json
from gridsim.experiments import sweep
probe = {EXPR!r}
with sweep.Executor(workers=1) as pool:
    worker = pool.submit(eval, probe).result()
with cf.ProcessPoolExecutor(1, mp_context=sweep._mp_context()) as pool:
    plain = pool.submit(eval, probe).result()
print(json.dumps({{"worker": worker, "plain": plain}}))
"""

# glibc's own settings left out: a Dask LocalCluster started earlier in the suite's process leaves
# MALLOC_TRIM_THRESHOLD_ in its environment (Dask's nanny sets it for its workers)
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def _python(script: str, *args: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True,
                         env=CLEAN if env is None else env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


glibc = pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's mallopt and mallinfo2")


@glibc
def test_keep_freed_memory_keeps_a_freed_array_that_glibc_alone_returns():
    alone, kept = _python(HERE, "alone"), _python(HERE, "keep")
    # the control: glibc alone maps such an array on its own, and unmaps it when it is freed
    assert alone["mapped"] > 19 and alone["held"] < 5, alone
    # after the call it comes from the heap, and the heap keeps it once it is freed
    assert kept["kept"] and kept["mapped"] < 1 and kept["held"] > 15, kept


@glibc
def test_a_sweeps_worker_keeps_freed_memory_and_a_plain_pools_does_not():
    seen = _python(POOLS)
    assert seen["plain"]["mapped"] > 19 and seen["plain"]["held"] < 5, seen
    assert seen["worker"]["mapped"] < 1 and seen["worker"]["held"] > 15, seen


def test_the_users_own_malloc_settings_win():
    env = {**CLEAN, "MALLOC_TRIM_THRESHOLD_": "131072"}
    assert _python(HERE, "keep", env=env)["kept"] is False
