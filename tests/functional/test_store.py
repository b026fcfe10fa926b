"""The results store cannot be silently wrong: bad files are never counted, one writer at a time,
missing extras are flagged, workers die with their sweep and a dead worker fails only its run."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridsim.analysis.store import Store
from gridsim.cli import main
from gridsim.experiments.spec import load_spec
from gridsim.experiments.sweep import execute, run_sweep

from ..conftest import SCENARIOS

MMC = SCENARIOS / "validation" / "mmc.toml"
FACTOR = "roles.station_head.per_station"


def write_spec(folder: Path, values=(4, 5), replicates=2, days=12.0, name="tiny") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "{MMC}"\nreplicates = {replicates}\nroot_seed = 3\n'
                    f'days = {days}\nwarmup_days = 5.0\n[baseline]\n"{FACTOR}" = {values[0]}\n'
                    f'[factors]\n"{FACTOR}" = {list(values)}\n')
    return path


def sweep(spec_path: Path, folder: Path, **kw):
    with cf.ThreadPoolExecutor(2) as pool:
        return run_sweep(load_spec(spec_path), folder, pool, **kw)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A finished 2 points x 2 replicates sweep, and its runs table."""
    tmp = tmp_path_factory.mktemp("clean")
    spec = write_spec(tmp)
    report = sweep(spec, tmp / "res")
    assert report.done == 4
    return spec, tmp / "res", Store(tmp / "res").runs()


def copy_of(clean, tmp_path) -> Path:
    folder = tmp_path / "tiny"          # where `gridsim sweep tiny.toml --results tmp_path` writes
    shutil.copytree(clean[1], folder)
    return folder


def test_truncated_foreign_and_duplicated_files_are_not_counted_then_rerun(clean, tmp_path, capsys):
    spec, _, table = clean
    folder = copy_of(clean, tmp_path)
    runs = folder / "runs"
    data = (runs / "p0000-r0001.parquet").read_bytes()
    (runs / "p0000-r0001.parquet").write_bytes(data[: len(data) // 2])                  # truncated
    shutil.copy(runs / "p0000-r0000.parquet", runs / "p0001-r0001.parquet")            # a copy under another name
    pd.DataFrame({"point": [7], "replicate": [0]}).to_parquet(runs / "p0007-r0000.parquet")   # foreign
    scan = Store(folder).scan()
    assert sorted(scan.runs) == ["p0000-r0000", "p0001-r0000"]
    reasons = {p.file: p.reason for p in scan.problems}
    assert "truncated" in reasons["runs/p0000-r0001.parquet"]
    assert "not the run its name says" in reasons["runs/p0001-r0001.parquet"]
    assert "not written by gridsim" in reasons["runs/p0007-r0000.parquet"]
    # compare counts only what is sound, and says what it left out
    assert main(["compare", str(folder), "--json"]) == 0
    out, err = capsys.readouterr()
    assert {r["n"] for r in json.loads(out)["comparisons"] if r["kpi"] == "wait_minutes.p90"} == {1}
    assert err.count("not counted:") == 3
    # resuming quarantines the bad files and runs those runs again
    report = sweep(spec, folder)
    assert report.done == 2 and len(report.quarantined) == 3
    assert len(list((folder / "_quarantine").glob("*.parquet"))) == 3
    pd.testing.assert_frame_equal(Store(folder).runs(), table)


def test_a_renamed_kpi_column_is_never_counted(clean, tmp_path):
    folder = copy_of(clean, tmp_path)
    path = folder / "runs" / "p0000-r0000.parquet"
    original = path.read_bytes()
    at = original.find(b"cost_yuan_per_year")
    assert at > 0
    while at > 0:                                       # each place the file names the column
        data = bytearray(original)
        data[at] ^= 0x01                                # "cost_..." -> "bost_...": the file still reads
        path.write_bytes(bytes(data))
        scan = Store(folder).scan()
        if "p0000-r0000" in scan.runs:
            assert "cost_yuan_per_year" in scan.runs["p0000-r0000"].columns
        else:
            assert {p.file: p.reason for p in scan.problems}["runs/p0000-r0000.parquet"].startswith(
                ("its content does not match its checksum", "unreadable"))
        at = original.find(b"cost_yuan_per_year", at + 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_in_a_run_file_never_counts_other_numbers(clean, tmp_path, position, bit):
    folder = tmp_path / "flip"
    if not folder.exists():
        shutil.copytree(clean[1], folder)
    path = folder / "runs" / "p0001-r0001.parquet"
    original = (clean[1] / "runs" / path.name).read_bytes()
    data = bytearray(original)
    data[int(position * len(data))] ^= 1 << bit
    path.write_bytes(bytes(data))
    scan = Store(folder).scan()
    if "p0001-r0001" in scan.runs:                      # counted only with the numbers it was written with
        pd.testing.assert_frame_equal(scan.runs["p0001-r0001"].reset_index(drop=True),
                                      clean[2].iloc[[3]].reset_index(drop=True).dropna(axis=1, how="all")
                                      .reindex(columns=scan.runs["p0001-r0001"].columns), check_dtype=False)


def test_a_changed_manifest_is_one_line_naming_it(clean, tmp_path, capsys):
    folder = copy_of(clean, tmp_path)
    path = folder / "_manifest.json"
    path.write_text(path.read_text().replace('"replicates": 2', '"replicates": 3', 1))   # still valid JSON
    assert main(["compare", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt manifest (its content does not match its checksum)" in err


def test_deleted_manifest_and_changed_spec_do_not_adopt_old_runs(clean, tmp_path):
    folder = copy_of(clean, tmp_path)
    (folder / "_manifest.json").unlink()
    changed = write_spec(tmp_path, values=(5, 6))          # point 0 now means 5 servers
    report = sweep(changed, folder)
    assert report.done == 4 and report.skipped == 0 and len(report.quarantined) == 4
    fresh = sweep(changed, tmp_path / "fresh")
    assert fresh.done == 4
    pd.testing.assert_frame_equal(Store(folder).runs(), Store(tmp_path / "fresh").runs())


def test_missing_extras_are_flagged_and_rerun(clean, tmp_path, capsys):
    spec, _, table = clean
    folder = copy_of(clean, tmp_path)
    (folder / "_series" / "p0001-r0000.parquet").unlink()
    assert main(["compare", str(folder)]) == 0
    assert "1 run(s) lack their extra tables (p0001-r0000)" in capsys.readouterr().err
    assert main(["report", str(folder)]) == 0
    head = (folder / "_report" / "report.md").read_text().split("## The question")[0]
    assert "1 run(s) lack extra tables" in head and "`p0001-r0000`: no _series" in head
    report = sweep(spec, folder)
    assert report.done == 1 and (folder / "_series" / "p0001-r0000.parquet").is_file()
    pd.testing.assert_frame_equal(Store(folder).runs(), table)


def test_runs_that_keep_some_kpis_are_reused_and_a_run_lacking_one_now_kept_is_redone(clean, tmp_path):
    """`Spec.keep` (a calibration's runs: its targets' KPIs, no extra tables) is not part of what the
    runs depend on: a folder of full runs serves it, and runs kept for other targets are redone."""
    spec_path, _, table = clean
    spec = load_spec(spec_path)
    one, two = ("requests.created",), ("requests.created", "sla_met_share")
    with cf.ThreadPoolExecutor(2) as pool:
        assert run_sweep(dataclasses.replace(spec, keep=two), copy_of(clean, tmp_path), pool).done == 0
        folder = tmp_path / "kept"
        assert run_sweep(dataclasses.replace(spec, keep=one), folder, pool).done == 4
        assert set(Store(folder).runs().columns) == {"point", "replicate", FACTOR, *one}
        assert not list(folder.glob("_*/p*.parquet"))                      # no extra tables
        scan = Store(folder).scan()
        assert not scan.problems and not scan.missing_extras
        again = run_sweep(dataclasses.replace(spec, keep=two), folder, pool)
        assert again.done == 4 and again.skipped == 0                     # each lacked sla_met_share
        why = [p.read_text() for p in (folder / "_quarantine").glob("*.why.txt")]
        assert len(why) == 4 and all("lacks sla_met_share" in text for text in why)
    runs = Store(folder).runs()
    pd.testing.assert_frame_equal(runs[list(two)], table[list(two)])      # the numbers of the full runs


def test_fresh_cannot_race_a_running_sweep(clean, tmp_path, capsys):
    spec, _, _ = clean
    folder = copy_of(clean, tmp_path)
    with Store(folder).lock():                      # another sweep is writing here
        assert main(["sweep", str(spec), "--results", str(tmp_path), "--fresh", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"another gridsim process (pid {os.getpid()}) is writing" in err
    assert (folder / "_manifest.json").is_file() and not list(tmp_path.glob("tiny.old-*"))


def test_a_killed_writer_leaves_no_stuck_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from gridsim.analysis.store import Store\n"
                               f"with Store({str(tmp_path)!r}).lock():\n    print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Exception, match="is writing these results"):
            with Store(tmp_path).lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with Store(tmp_path).lock():                    # released by the kernel when the holder died
        pass


def test_corrupt_manifest_is_one_line(clean, tmp_path, capsys):
    spec, _, _ = clean
    folder = copy_of(clean, tmp_path)
    (folder / "_manifest.json").write_text('{"spec": ')
    for args in (["compare", str(folder)], ["report", str(folder)],
                 ["sweep", str(spec), "--results", str(tmp_path), "--quiet"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "corrupt manifest" in err, err


def test_compare_refuses_non_kpi_columns_and_writes_json_without_infinities(clean, tmp_path, capsys):
    folder = copy_of(clean, tmp_path)
    for kpi in ("seed", "scenario", FACTOR, "nonsense"):
        assert main(["compare", str(folder), "--kpi", kpi]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--kpi {kpi}: not a KPI" in err
    store = Store(folder)
    row = store.runs().iloc[0].to_dict()
    row["wait_minutes.mean"] = float("inf")
    store.write_run(0, 0, row, {})
    assert main(["compare", str(folder), "--kpi", "wait_minutes.mean", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)        # strict JSON: infinities became null
    base = [r for r in data["comparisons"] if r["is_baseline"]][0]
    assert base["mean"] is None


# ---------------------------------------------------------------- workers
def _die_on_point_1_replicate_0(task: dict) -> dict:
    if (task["point"], task["replicate"]) == (1, 0):
        os._exit(9)                                 # as if killed (OOM killer, kill -9)
    return execute(task)


class DyingPool:
    """A local process pool whose submitted runs go through `_die_on_point_1_replicate_0`."""
    capacity = 3

    def __init__(self):
        self.pool = cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
        self.restarts = 0

    def submit(self, fn, task):
        return self.pool.submit(_die_on_point_1_replicate_0, task)

    def restart(self):
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
        self.restarts += 1


def test_a_dead_worker_fails_only_its_own_run(clean, tmp_path):
    spec, _, table = clean
    pool = DyingPool()
    try:
        report = run_sweep(load_spec(spec), tmp_path / "res", pool)
    finally:
        pool.pool.shutdown()
    assert (report.done, report.failed) == (3, 1) and pool.restarts >= 1
    assert list(report.errors) == ["p0001-r0000"] and "worker process died" in report.errors["p0001-r0000"]
    kept = table[~((table["point"] == 1) & (table["replicate"] == 0))].reset_index(drop=True)
    pd.testing.assert_frame_equal(Store(tmp_path / "res").runs(), kept)


def _session_processes(sid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(d.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_killing_the_sweep_stops_its_workers(tmp_path):
    spec = write_spec(tmp_path, values=(4, 5, 6), replicates=4, days=200.0, name="long")
    proc = subprocess.Popen([sys.executable, "-m", "gridsim.cli", "sweep", str(spec), "--workers", "2",
                             "--results", str(tmp_path / "res"), "--quiet"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_session_processes(proc.pid)) < 4:   # main, forkserver, 2 workers
            time.sleep(0.05)
        assert len(_session_processes(proc.pid)) >= 4
        os.kill(proc.pid, signal.SIGKILL)              # the main process only, as an OOM killer would
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _session_processes(proc.pid):
            time.sleep(0.1)
        assert _session_processes(proc.pid) == []
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)


def test_dask_gives_up_on_a_listener_that_is_not_a_scheduler(clean, tmp_path, capsys):
    pytest.importorskip("distributed")
    spec, _, _ = clean
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    t0 = time.monotonic()
    try:
        code = main(["sweep", str(spec), "--dask", f"tcp://127.0.0.1:{server.getsockname()[1]}",
                     "--dask-timeout", "1", "--results", str(tmp_path), "--quiet"])
    finally:
        server.close()
    assert code == 2 and time.monotonic() - t0 < 15
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Dask scheduler answered within 1 s" in err


def test_forkserver_preload_names_modules_that_exist():
    import importlib

    from gridsim.experiments.sweep import PRELOAD
    assert all(name.startswith("gridsim.") for name in PRELOAD)
    for name in PRELOAD:
        importlib.import_module(name)


def test_a_full_disk_during_a_sweep_is_one_line_and_keeps_what_was_stored(clean, tmp_path, capsys, monkeypatch):
    import errno

    import pyarrow.parquet as pq
    spec, _, _ = clean
    real = pq.write_table
    calls = []

    def fills_up(table, where, *a, **kw):
        calls.append(where)
        if len(calls) > 8:                       # two runs' files fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *a, **kw)

    monkeypatch.setattr(pq, "write_table", fills_up)
    monkeypatch.setattr("gridsim.experiments.sweep.Executor.__enter__",
                        lambda self: setattr(self, "pool", cf.ThreadPoolExecutor(1)) or self)
    code = main(["sweep", str(spec), "--results", str(tmp_path), "--quiet", "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "no space left on the device" in err[-1]
    assert not any(p.name.startswith(".") for p in (tmp_path / "tiny" / "runs").iterdir())   # no partial files
    monkeypatch.setattr(pq, "write_table", real)
    assert sorted(Store(tmp_path / "tiny").scan().runs) == ["p0000-r0000", "p0000-r0001"]


@pytest.mark.parametrize("extra", [{}, {"odd": np.int32(3)}])
def test_a_run_row_reads_back_as_pandas_would_have_stored_it(tmp_path, extra):
    """The run row is written without pandas (35 ms a run in a sweep's parent): what a reader gets,
    NaN as missing and every column's type included, must not depend on that."""
    from gridsim.analysis.store import _open, _row_table, _write_parquet
    row = {"point": 3, "replicate": 1, "scenario": "meihekou_2020", "flag": True,
           "wait_minutes.p95": math.nan, "served": 1.5e3, **extra}
    about = {"point": 3, "replicate": 1}
    _write_parquet(tmp_path / "fast.parquet", _row_table(row), about, statistics=False)
    _write_parquet(tmp_path / "pandas.parquet", pd.DataFrame([row]), about)
    fast, through_pandas = _open(tmp_path / "fast.parquet"), _open(tmp_path / "pandas.parquet")
    pd.testing.assert_frame_equal(fast[1], through_pandas[1])
    assert fast[0]["checksum"] == through_pandas[0]["checksum"]
    assert fast[1]["wait_minutes.p95"].isna().all()
