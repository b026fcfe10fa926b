"""Meeting gridsim: every --help, --version, and one `error:` line (exit 2, naming what the user
typed) for degenerate and extreme input; jobs too large are refused before they start; --out is
written whole or not at all."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from gridsim.cli import COMMANDS, build_parser, main
from gridsim.experiments import limits
from gridsim.model import outputs
from gridsim.scenario import load, with_overrides

from ..conftest import ROOT, SCENARIOS

MMC = str(SCENARIOS / "validation" / "mmc.toml")


def one_error_line(capsys, code, *texts):
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for text in texts:
        assert text in lines[0], err
    return lines[0]


# ---------------------------------------------------------------- meeting it
def test_every_help_works_and_version(capsys):
    names = [None] + [name for name in build_parser()._subparsers._group_actions[0].choices]
    assert len(names) == len(COMMANDS) + 1
    for name in names:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"] if name else ["--help"])
        assert stop.value.code == 0
        assert "usage: gridsim" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"gridsim {__import__('gridsim').__version__}"


def test_a_local_sim_or_gridsim_file_does_not_break_the_command(tmp_path):
    (tmp_path / "sim.py").write_text("raise SystemExit('shadowed')\n")
    out = subprocess.run([sys.executable, "-m", "gridsim.cli", "--version"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("gridsim ")


def test_distribution_name_is_not_the_taken_one():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "gridsim-cities" and project["scripts"]["gridsim"] == "gridsim.cli:main"


# ---------------------------------------------------------------- numbers and names as typed
@pytest.mark.parametrize("args, texts", [
    (["run", MMC, "--days", "10"], ["--days 10: run.warmup_days: must be less than days"]),
    (["run", MMC, "--days", "1e9"], ["--days", "must be <= 36500", "'1e9'"]),
    (["run", MMC, "--days", "inf"], ["--days", "finite", "'inf'"]),
    (["run", MMC, "--days", "nan"], ["--days", "'nan'"]),
    (["run", MMC, "--seed", "-1"], ["--seed", "must be between 0 and"]),
    (["run", MMC, "--seed", "1e3"], ["--seed", "whole number"]),
    (["run", MMC, "--seed", str(2**64)], ["--seed", "must be between 0 and"]),
    (["run", MMC, "--out", ""], ["--out", "must name a folder"]),
    (["run", MMC, "--out", "."], ["--out .", "current folder"]),
    (["sweep", "E3", "--workers", "0"], ["--workers", "must be between 1 and"]),
    (["sweep", "E3", "--days", "1e9"], ["--days", "must be <= 36500"]),
    (["sweep", "E99"], ["E99: no such file or bundled experiment"]),
    (["report", "nowhere"], ["nowhere: not a sweep results folder"]),
    (["report", "nowhere", "--dpi", "0"], ["--dpi", "must be between 30 and 1200"]),
    (["validate", "mmc", "--servers", "1e6"], ["--servers", "whole number"]),
    (["validate", "mmc", "--escalation", "2"], ["--escalation", "must be between 0 and 1"]),
    (["validate", "mmc", "--arrivals-per-hour", "9000", "--servers", "9000", "--days", "30000"],
     ["would simulate about", "--max-requests"]),
    (["run", "mmc", "--set", "a=" + "{b=" * 2000 + "1" + "}" * 2000], ["--set a=", "nested too deeply"]),
    (["run", "mmc", "--set", "roles..police=1"], ["roles..police", "empty part"]),
])
def test_bad_numbers_and_names_are_one_line_naming_what_was_typed(capsys, args, texts):
    line = one_error_line(capsys, main(args), *texts)
    assert "--set run.days" not in line


def test_set_of_a_table_merges_into_it():
    mmc = load(MMC)
    s = with_overrides(mmc, ["roles.station_head={per_station=6}"])
    assert s.roles.station_head.per_station == 6
    assert s.roles.station_head.shifts == mmc.roles.station_head.shifts
    assert s.roles.station_head.salary_yuan == mmc.roles.station_head.salary_yuan


# ---------------------------------------------------------------- job size
def write_spec(tmp_path, body: str, name="big", days="days = 15.0\n") -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "{MMC}"\n{days}warmup_days = 5.0\n{body}')
    return str(path)


@pytest.mark.parametrize("body, texts", [
    ("[factors]\n" + "\n".join(f'"requests.errand.sla_hours.x{i}" = {list(range(1, 11))}' for i in range(7)),
     ["factors: the full factorial has 10,000,000 points", "(100,000)"]),
    ('design = { kind = "lhs", samples = 1e9 }\n[factors]\n"roles.station_head.per_station" = { low = 4, high = 6 }',
     ["design.samples: must be an integer"]),
    ('design = { kind = "sobol", samples = 1000000000 }\n[factors]\n"roles.station_head.per_station" = { low = 4, high = 6 }',
     ["design.samples: must be <= 100000"]),
    ("replicates = 1e9\n", ["replicates: must be an integer"]),
    ("replicates = 10000\ndays = 36000.0\n", ["would simulate about", "bound of 2.0 billion", "--max-requests"]),
    ("days = 1e9\n", ["days: must be <= 36500"]),
    ("[factors]\n" + "a." * 1500 + "b = [1, 2]\n", ["nested too deeply"]),
])
def test_experiments_too_large_or_degenerate_are_refused_before_running(tmp_path, capsys, body, texts):
    spec = write_spec(tmp_path, body, days="" if "days" in body else "days = 15.0\n")
    one_error_line(capsys, main(["sweep", spec, "--results", str(tmp_path / "res"), "--quiet"]), *texts)
    assert not (tmp_path / "res" / "big").exists()


def test_memory_and_bound_checks_say_what_to_change():
    mmc = load(MMC)
    elderly = mmc.city.elderly_share
    rate = sum(rt.rate_per_household_year * (1 + elderly * (rt.elderly_multiplier - 1)) for rt in mmc.requests.values())
    year = with_overrides(mmc, [("run.days", 365.0)])
    assert limits.expected_requests(year) == pytest.approx(mmc.city.households * rate)
    longer = with_overrides(mmc, [("run.days", 3650.0)])
    assert limits.run_bytes(longer) > limits.run_bytes(year)
    huge = limits.Estimate(runs=1, requests=5e9, largest_run_bytes=8e12, at_once=1)
    with pytest.raises(limits.TooLarge, match=r"one run would need about 8 TB of memory, and this machine "
                                              r"has 16.0 GB; lower the days"):
        limits.check("gridsim run", huge, memory=16e9)
    two = limits.Estimate(runs=4, requests=1e6, largest_run_bytes=10e9, at_once=2)
    with pytest.raises(limits.TooLarge, match="2 runs at once: 20.0 GB.*fewer --workers"):
        limits.check("sweep", two, memory=16e9)
    small = limits.estimate([mmc], replicates=1000)
    with pytest.raises(limits.TooLarge, match="pass --max-requests"):
        limits.check("sweep", small, max_requests=1e5, memory=16e9)
    limits.check("sweep", small, max_requests=1e9, memory=16e9)          # the override lets it run


def test_a_long_run_is_sized_by_its_files_where_the_temporary_directory_has_room(monkeypatch):
    """A long run keeps its records and tables on files (`spill`) if the temporary directory has
    room for every run's at once, and is sized by what it then holds; else by its arrays in memory."""
    year = load(SCENARIOS / "meihekou_2020.toml")
    requests = limits.expected_requests(year)
    monkeypatch.setattr(limits, "temporary_room", lambda: limits.DISK_PER_REQUEST * requests * 1.5)
    on_files, two_at_once = limits.run_bytes(year), limits.run_bytes(year, at_once=2)
    monkeypatch.setattr(limits, "temporary_room", lambda: 0.0)
    in_memory = limits.run_bytes(year)
    assert on_files < two_at_once == in_memory
    assert in_memory - on_files == pytest.approx((limits.BYTES_PER_REQUEST - limits.BYTES_PER_REQUEST_ON_FILES) * requests)
    short = with_overrides(year, [("run.days", 30.0)])              # in memory, whatever the room
    assert limits.run_bytes(short) == pytest.approx(limits.BASE_BYTES + limits.BYTES_PER_REQUEST * requests * 30 / 365
                                                    + limits.BYTES_PER_HOUSEHOLD * year.city.households)


# ---------------------------------------------------------------- --out: the whole set or nothing
def test_out_is_replaced_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    assert main(["run", MMC, "--days", "11", "--seed", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = outputs.write_parquet
    calls = []

    def full_disk(table, path):
        calls.append(path)
        if len(calls) == 3:                      # the third table: the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, path)

    monkeypatch.setattr(outputs, "write_parquet", full_disk)
    capsys.readouterr()
    one_error_line(capsys, main(["run", MMC, "--days", "12", "--seed", "2", "--out", str(out)]),
                   f"{out}: cannot write (no space left on the device)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before       # the earlier run's set, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]              # no hidden partial folder left


def test_out_refuses_a_folder_of_other_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    one_error_line(capsys, main(["run", MMC, "--days", "11", "--out", str(tmp_path)]),
                   "holds files gridsim did not write")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_partial_folders_of_killed_writers_are_cleaned_up(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".o.partial-{dead.stdout.strip()}-abc"
    stale.mkdir()
    (stale / "summary.json").write_text("{}")
    assert main(["run", MMC, "--days", "11", "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["days"] == 11


# ---------------------------------------------------------------- from Python
def test_a_sweep_whose_runs_all_fail_raises_with_their_error(tmp_path, monkeypatch):
    import concurrent.futures as cf

    import gridsim
    import gridsim.api  # noqa: F401  (before the patch: the API binds `simulate` when first imported)
    import gridsim.model.run as run_module

    def broken(scenario, seed=0, days=None):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(run_module, "simulate", broken)
    spec = write_spec(tmp_path, '[factors]\n"roles.station_head.per_station" = [4, 5]\n', name="failing")
    with cf.ThreadPoolExecutor(2) as pool, pytest.raises(gridsim.SweepError, match="2 of 2 runs failed.*the model broke"):
        gridsim.sweep(spec, tmp_path / "res", executor=pool)
    with pytest.raises(gridsim.StoreError, match="no finished runs.*2 run\\(s\\) failed"):
        gridsim.load_results(tmp_path / "res" / "failing")
    assert os.path.isdir(tmp_path / "res" / "failing" / "_failed")


# ---------------------------------------------------------------- degenerate scenarios (the model's limits)
@pytest.mark.parametrize("assignment, field", [
    ("requests.errand.rate_per_household_year=0", "requests"),
    ("roles.station_head.shifts=[]", "roles.station_head.shifts"),
    ("city.communities=100000", "city.communities"),
    ("city.population=1000000000000", "city.population"),
    ("roles.alliance.meeting_interval_days=0.000001", "roles.alliance.meeting_interval_days"),
])
def test_degenerate_scenario_values_run_or_are_one_line(capsys, assignment, field):
    code = main(["run", MMC, "--days", "12", "--set", assignment])
    if code != 0:                               # refused: one line naming what was typed and the field
        one_error_line(capsys, code, f"--set {assignment}", field)
    else:
        assert "residents' requests:" in capsys.readouterr().out


def test_a_city_with_no_requests_runs_and_says_so(capsys):
    assert main(["run", MMC, "--days", "12", "--set", "requests.errand.rate_per_household_year=0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"]["created"] == 0 and summary["resolution_hours"]["p90"] is None


@pytest.mark.parametrize("body, texts", [
    ('kpis = ["seed"]\n', ["kpis[0]: 'seed' is not a KPI"]),
    ('until_ci = { metric = "scenario", half_width = 1.0 }\n', ["until_ci.metric: 'scenario' is not a KPI"]),
    ('[labels]\nnobody = "x"\n', ["labels.nobody: is neither a factor path nor an option name"]),
])
def test_experiment_kpis_and_labels_are_checked(tmp_path, capsys, body, texts):
    spec = write_spec(tmp_path, body)
    one_error_line(capsys, main(["sweep", spec, "--results", str(tmp_path / "res"), "--quiet"]), *texts)
