"""A sweep's worker keeps what a run frees for its next run (`sweep.keep_freed_memory`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

FREED = """
import json, sys
import numpy as np
from gridsim.experiments.sweep import keep_freed_memory
def rss_mb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
a = np.ones(20 << 17)                  # 20 MB, as a run's larger arrays
held = rss_mb()
del a
print(json.dumps({"kept": kept, "returned_mb": held - rss_mb()}))
"""


def _freed(mode: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", FREED, mode], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_worker_keeps_a_freed_array_that_glibc_alone_returns():
    alone, kept = _freed("alone"), _freed("keep")
    assert alone["returned_mb"] > 15          # the control: glibc maps such an array and unmaps it on free
    assert kept["kept"] and kept["returned_mb"] < 2


def test_the_users_own_malloc_settings_win():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}
    assert _freed("keep", env)["kept"] is False
