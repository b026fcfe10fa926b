"""A long run's arrays on files (`gridsim.model.spill`): their values kept, their pages handed back."""

from __future__ import annotations

import errno
import os
import sys
import tempfile

import numpy as np
import pytest

from gridsim.model import spill

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; files on Linux")


def _resident_mb() -> float:
    with open("/proc/self/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Rss:")) / 1024


def test_pages_given_back_leave_the_process_and_keep_their_values():
    """64 MB put on a file, read, then given back: the process holds them no longer, and reading
    them again gives the same values."""
    values = np.random.default_rng(0).random(8 << 20)
    a, = spill.filed(values)
    assert spill.on_file(a) and not np.shares_memory(a, values)
    read = _resident_mb()
    assert a.sum() == values.sum()                    # (every page read into the process)
    held = _resident_mb() - read
    spill.give_back()
    assert held > 48 and _resident_mb() < read + held / 4
    np.testing.assert_array_equal(a, values)


def test_a_put_writes_the_slice_it_is_given():
    """`put` writes to the file at the slice's place, scalars and values alike, and no further."""
    arrays = spill.arrays(10_000, {"x": np.float64, "k": np.int8})
    spill.put(arrays["x"][:10_000], np.nan)
    spill.put(arrays["x"][4_000:4_003], [1, 2, 3])
    spill.put(arrays["k"][9_999:], 7)
    spill.give_back()
    assert np.isnan(arrays["x"][:4_000]).all() and np.isnan(arrays["x"][4_003:]).all()
    assert arrays["x"][4_000:4_003].tolist() == [1.0, 2.0, 3.0]
    assert arrays["k"][:9_999].sum() == 0 and arrays["k"][9_999] == 7


def test_the_files_leave_nothing_in_the_temporary_directory(tmp_path, monkeypatch):
    """The files are unlinked as they are made: however the process ends, nothing is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    arrays = spill.arrays(1 << 16, {"x": np.float64})
    spill.put(arrays["x"], 1.0)
    assert spill.on_file(arrays["x"]) and os.listdir(tmp_path) == []


def test_no_room_for_the_file_keeps_the_arrays_in_memory(monkeypatch):
    """A full disk is found when the file is made (its blocks reserved then, not as a fault in the
    middle of a run): one warning a process naming the directory, and the arrays in memory, the
    same values."""
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "posix_fallocate", full)
    monkeypatch.setattr(spill, "_warned", False)
    with pytest.warns(UserWarning, match=f"in memory: no room .* in {tempfile.gettempdir()}") as said:
        a, = spill.filed(np.arange(5.0))
        b, = spill.filed(np.arange(3.0))
    assert len(said) == 1
    assert not spill.on_file(a) and a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and b.tolist() == [0.0, 1.0, 2.0]


def test_only_a_long_run_goes_on_files(monkeypatch):
    """A run's records go on files from FROM_REQUESTS requests and stay in memory below (a
    calibration's 100 days do, at 340,000 requests): the model asks `spill.pays` of its own count."""
    from gridsim.model import GridModel
    from gridsim.scenario import load
    from ..conftest import ROOT
    city = load(ROOT / "tests" / "data" / "small_city.toml")
    short = GridModel(city, rng=1, days=7)
    assert not spill.pays(340_000) and not spill.on_file(short.world.request.created)
    monkeypatch.setattr(spill, "FROM_REQUESTS", len(short._created_sorted))     # (its own count: on files)
    long = GridModel(city, rng=1, days=7)
    assert spill.on_file(long.world.request.created) and spill.on_file(long.world.visit.start)
