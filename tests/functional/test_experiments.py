"""Sweeps: specs, seeding, the results store, executors, resume, paired comparisons."""

from __future__ import annotations

import concurrent.futures as cf
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gridsim.analysis.compare import compare
from gridsim.analysis.store import Store
from gridsim.cli import main
from gridsim.experiments.spec import load_spec, run_seed
from gridsim.experiments.sweep import Executor, run_sweep as sweep_into

from ..conftest import ROOT, kill_after
MMC = ROOT / "scenarios" / "validation" / "mmc.toml"


def write_spec(folder: Path, body: str = "", *, name="mmc_staff", replicates=3, days=15.0,
               factors='"roles.station_head.per_station" = [4, 5]', extra="") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "{MMC}"\nreplicates = {replicates}\nroot_seed = 7\n'
                    f"days = {days}\nwarmup_days = 5.0\n{extra}\n[factors]\n{factors}\n{body}")
    return path


def read_runs(folder):
    return Store(folder).runs()


def run_sweep(spec_path, folder, executor=None, **kw):
    spec = load_spec(spec_path, **kw)
    if executor is None:
        with Executor(2) as pool:
            return sweep_into(spec, folder, pool), read_runs(folder)
    return sweep_into(spec, folder, executor), read_runs(folder)


# ---------------------------------------------------------------- spec and seeds
def test_seed_depends_on_root_and_replicate_only(tmp_path):
    assert run_seed(7, 0) == run_seed(7, 0) != run_seed(7, 1) != run_seed(8, 1)
    spec = load_spec(write_spec(tmp_path))
    assert spec.points() == [{"roles.station_head.per_station": 4}, {"roles.station_head.per_station": 5}]


@pytest.mark.parametrize("design", ["lhs", "sobol"])
def test_space_filling_designs_stay_in_range(tmp_path, design):
    path = write_spec(tmp_path, factors='"roles.station_head.per_station" = { low = 4, high = 7, integer = true }\n'
                                        '"requests.errand.rate_per_household_year" = { low = 40.0, high = 50.0 }',
                      extra=f'design = {{ kind = "{design}", samples = 8, seed = 3 }}')
    points = load_spec(path).points()
    assert len(points) == 8 and points == load_spec(path).points()
    assert all(4 <= p["roles.station_head.per_station"] <= 7 and isinstance(p["roles.station_head.per_station"], int)
               for p in points)
    assert all(40 <= p["requests.errand.rate_per_household_year"] <= 50 for p in points)


BAD = {
    "unknown key": ("", 'replicats = 3', "replicats: unknown key"),
    "bad factor path": ('"roles.station_head.per_statoin" = [4, 5]', "", "factors.roles.station_head.per_statoin"),
    "bad factor value": ('"roles.station_head.per_station" = [4, -1]', "", "factors.roles.station_head.per_station"),
    "range in factorial": ('"roles.station_head.per_station" = { low = 4, high = 6 }', "", "needs a list of values"),
    "lhs without samples": ('"roles.station_head.per_station" = { low = 4, high = 6 }', 'design = "lhs"',
                            "design.samples: missing"),
    "bad until_ci": ('"roles.station_head.per_station" = [4]', 'until_ci = { metric = "x", half_width = -1 }',
                     "until_ci.half_width"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_experiment_files_give_one_line_errors(tmp_path, capsys, case):
    factors, extra, expected = BAD[case]
    path = write_spec(tmp_path, factors=factors or '"roles.station_head.per_station" = [4]', extra=extra)
    assert main(["sweep", str(path), "--results", str(tmp_path / "res"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err and expected in err, err
    assert not (tmp_path / "res" / "mmc_staff" / "runs").exists()      # caught before anything ran


def test_toml_syntax_and_missing_scenario(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    assert main(["sweep", str(bad)]) == 2
    missing = tmp_path / "missing.toml"
    missing.write_text('scenario = "nowhere.toml"\n')
    assert main(["sweep", str(missing)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "TOML syntax error" in lines[0] and "scenario: no such file" in lines[1]


# ---------------------------------------------------------------- store, executors, resume
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep on the process pool: 3 points x 4 replicates of M/M/c."""
    tmp = tmp_path_factory.mktemp("reference")
    path = write_spec(tmp, replicates=4, days=60.0, factors='"roles.station_head.per_station" = [4, 5, 6]')
    report, table = run_sweep(path, tmp / "res")
    assert report.done == 12 and report.failed == 0
    return path, table


def test_read_parquet_loads_every_run_in_one_call(reference, tmp_path):
    path, table = reference
    folder = tmp_path / "res"
    run_sweep(path, folder)
    df = pd.read_parquet(folder)
    assert len(df) == 12 and {"point", "replicate", "seed", "roles.station_head.per_station",
                              "resolution_hours.p90", "by_type.errand.wait_minutes.mean"} <= set(df.columns)
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["spec_hash"] == load_spec(path).hash() and manifest["gridsim_version"]
    # common random numbers: a replicate has one seed and the same arrivals at every point
    assert (table.groupby("replicate")["seed"].nunique() == 1).all()
    assert (table.groupby("replicate")["requests.created"].nunique() == 1).all()


def test_dask_local_cluster_gives_identical_table(reference, tmp_path):
    pytest.importorskip("distributed")
    path, table = reference
    with Executor(2, dask="local") as pool:
        report, dask_table = run_sweep(path, tmp_path / "res", executor=pool)
    assert report.done == 12
    pd.testing.assert_frame_equal(dask_table, table)


def test_kill_and_resume_matches_uninterrupted(reference, tmp_path):
    path, table = reference
    cmd = [sys.executable, "-m", "gridsim.cli", "sweep", str(path), "--workers", "1", "--results", str(tmp_path),
           "--quiet"]
    folder = tmp_path / "mmc_staff"               # `--results tmp_path` puts the runs there
    kill_after(cmd, folder / "runs", 3, timeout=60)
    partial = read_runs(folder)
    assert 3 <= len(partial) < 12, "the sweep finished before it could be killed"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(partial)} skipped" in done.stdout, done.stdout
    pd.testing.assert_frame_equal(read_runs(folder), table)


def test_changed_spec_is_refused_and_fresh_starts_over(tmp_path, capsys):
    path = write_spec(tmp_path, replicates=2)
    res = tmp_path / "res"
    assert main(["sweep", str(path), "--results", str(res), "--quiet", "--workers", "1"]) == 0
    write_spec(tmp_path, replicates=3)
    capsys.readouterr()
    assert main(["sweep", str(path), "--results", str(res), "--quiet", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "replicates: 2 -> 3" in err and "--fresh" in err
    assert main(["sweep", str(path), "--results", str(res), "--quiet", "--workers", "1", "--fresh"]) == 0
    assert len(read_runs(res / "mmc_staff")) == 6
    # quick-look overrides are a different experiment with their own folder
    assert main(["sweep", str(path), "--results", str(res), "--quiet", "--workers", "1",
                 "--days", "12", "--replicates", "2"]) == 0
    assert len(read_runs(res / "mmc_staff-days12-reps2")) == 4


def test_failed_run_is_recorded_and_retried(tmp_path, monkeypatch):
    import gridsim.model.run as run_module
    real = run_module.simulate
    bad_seed = run_seed(7, 1)

    def flaky(scenario, seed=0, days=None):
        if seed == bad_seed:
            raise RuntimeError("boom")
        return real(scenario, seed, days)

    path = write_spec(tmp_path, replicates=2)
    monkeypatch.setattr(run_module, "simulate", flaky)
    with cf.ThreadPoolExecutor(2) as pool:
        report, table = run_sweep(path, tmp_path / "res", executor=pool)
    assert report.failed == 2 and report.done == 2 and len(table) == 2
    failures = Store(tmp_path / "res").failures()
    assert set(failures) == {"p0000-r0001", "p0001-r0001"} and "boom" in failures["p0000-r0001"]["error"]
    monkeypatch.setattr(run_module, "simulate", real)
    with cf.ThreadPoolExecutor(2) as pool:
        report, table = run_sweep(path, tmp_path / "res", executor=pool)
    assert (report.done, report.skipped, report.failed) == (2, 2, 0) and len(table) == 4
    assert Store(tmp_path / "res").failures() == {}


def test_until_ci_adds_replicates(tmp_path):
    path = write_spec(tmp_path, replicates=2,
                      extra='until_ci = { metric = "wait_minutes.mean", half_width = 0.001, max_replicates = 4 }')
    with cf.ThreadPoolExecutor(2) as pool:
        report, table = run_sweep(path, tmp_path / "res", executor=pool)
    assert report.replicates == {0: 4, 1: 4} and len(table) == 8


# ---------------------------------------------------------------- comparisons
def test_paired_intervals_are_narrower_than_unpaired(reference):
    _, table = reference
    out = compare(table, ["roles.station_head.per_station"], {"roles.station_head.per_station": 4},
                  ["wait_minutes.mean", "resolution_hours.p90", "sla_met_share"])
    diffs = out[~out["is_baseline"]]
    assert len(diffs) == 6 and (diffs["n"] == 4).all()
    assert (diffs["half_width"] < diffs["half_width_unpaired"]).all(), diffs


def test_compare_cli(reference, tmp_path, capsys):
    path, _ = reference
    run_sweep(path, tmp_path / "res")
    assert main(["compare", str(tmp_path / "res"), "--baseline", "per_station=4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = [r for r in data["comparisons"] if r["kpi"] == "utilisation.station_head" and not r["is_baseline"]]
    assert len(rows) == 2 and all(r["distinguishable"] and r["diff"] < 0 for r in rows)
    assert main(["compare", str(tmp_path / "res"), "--baseline", "per_station=4"]) == 0
    assert "95% CI" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "res"), "--baseline", "nope=4"]) == 2
    assert "not a factor" in capsys.readouterr().err


def test_quick_look_days_must_exceed_warmup(tmp_path, capsys):
    path = write_spec(tmp_path)
    assert main(["sweep", str(path), "--days", "4", "--results", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--days 4 must be more than the experiment's warmup_days (5)" in err


def test_every_bundled_spec_loads():
    """Experiments, sensitivity specs, claims and calibration targets shipped with gridsim all load
    against the scenarios they name (a renamed field breaks them here, not in a user's hands)."""
    from gridsim.experiments.robustness import load_claims
    from gridsim.experiments.sensitivity import load_sensitivity
    from gridsim.experiments.targets import load_targets
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        load_spec(path)
    for path in sorted((ROOT / "experiments" / "sensitivity").glob("*.toml")):
        load_sensitivity(path)
    for path in sorted((ROOT / "experiments" / "robustness").glob("*.toml")):
        load_claims(path)
    for path in sorted((ROOT / "scenarios" / "targets").glob("*.toml")):
        load_targets(path)
