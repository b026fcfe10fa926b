"""A sweep's worker keeps what a run frees for its next run (`sweep.keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

# glibc's own account (mallinfo2), in MB: how much the 20 MB array adds to the blocks mapped on their
# own (handed back when freed), and how much more the heap holds from the system once it is freed
FREED = """
import ctypes, json, sys
import numpy as np
from gridsim.experiments.sweep import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
before = libc.mallinfo2()
a = np.ones(20 << 17)                  # 20 MB, as a run's larger arrays
mapped = (libc.mallinfo2().hblkhd - before.hblkhd) / 2**20
del a
print(json.dumps({"kept": kept, "mapped": mapped, "held": (libc.mallinfo2().arena - before.arena) / 2**20}))
"""


# glibc's own settings left out: a Dask LocalCluster started earlier in the suite's process leaves
# MALLOC_TRIM_THRESHOLD_ in its environment (Dask's nanny sets it for its workers)
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def _freed(mode: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", FREED, mode], capture_output=True, text=True, check=True,
                         env=CLEAN if env is None else env)
    return json.loads(out.stdout)


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's mallopt and mallinfo2")
def test_a_worker_keeps_a_freed_array_that_glibc_alone_returns():
    alone, kept = _freed("alone"), _freed("keep")
    # the control: glibc alone maps such an array on its own, and unmaps it when it is freed
    assert alone["mapped"] > 19 and alone["held"] < 5, alone
    # a worker takes it from the heap, and the heap keeps it once it is freed
    assert kept["kept"] and kept["mapped"] < 1 and kept["held"] > 15, kept


def test_the_users_own_malloc_settings_win():
    env = {**CLEAN, "MALLOC_TRIM_THRESHOLD_": "131072"}
    assert _freed("keep", env)["kept"] is False
