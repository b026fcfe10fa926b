"""The `gridsim` command as a user meets it: output, files, and one-line errors with exit 2."""

import json

import pandas as pd
import pytest

from ..conftest import SCENARIOS, gridsim

MMC = str(SCENARIOS / "validation" / "mmc.toml")




def test_json_is_one_object_with_the_promised_keys():
    out = gridsim("run", MMC, "--days", "15", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    for key in ("scenario", "scenario_hash", "seed", "days", "requests", "wait_minutes", "resolution_hours",
                "sla_met_share", "escalated_share", "utilisation", "walk15_coverage_share",
                "cost_yuan_per_year", "by_type"):
        assert key in s
    assert set(s["requests"]) == {"created", "resolved", "open", "abandoned", "unreported"}
    for key in ("hotline_share", "police110_share", "visit_completion_share", "time_hours", "channel_share",
                "backlog_growth_per_week", "overloaded_units"):
        assert key in s
    assert set(s["wait_minutes"]) >= {"mean", "p50", "p90", "p95"}
    assert s["seed"] == 3 and s["days"] == 15 and s["requests"]["created"] > 0


def test_table_and_out_folder(tmp_path):
    out = gridsim("run", MMC, "--days", "12", "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    assert "utilisation by role" in out.stdout and "annual cost" in out.stdout
    files = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert files == ["census.parquet", "grids.parquet", "requests.parquet", "summary.json", "timeseries.parquet",
                     "visits.parquet"]
    req = pd.read_parquet(tmp_path / "o" / "requests.parquet")
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (req["created_minute"] >= summary["warmup_days"] * 1440).sum() == summary["all_requests"]["created"]


def test_out_tables_read_back_as_made_though_written_a_part_at_a_time(tmp_path, monkeypatch):
    """`--out` writes a table a part at a time (a long run's would otherwise be copied whole into
    Arrow's memory): read back, every table is the run's, to the bit, with the schema and the
    pandas types to_parquet would have stored."""
    import pyarrow.parquet as pq

    from gridsim.model import outputs
    from gridsim.model.run import simulate
    monkeypatch.setattr(outputs, "BATCH_ROWS", 1000)
    result = simulate(MMC, seed=2, days=20)
    outputs.write_run(result, tmp_path / "o")
    assert pq.ParquetFile(tmp_path / "o" / "visits.parquet").num_row_groups > 2
    for name in outputs.TABLES:
        table = result.tables[name].reset_index(drop=True)
        table.to_parquet(tmp_path / "whole.parquet", index=False)
        stored = tmp_path / "o" / f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(stored), table, check_exact=True)
        assert pq.read_schema(stored).equals(pq.read_schema(tmp_path / "whole.parquet"), check_metadata=True), name


@pytest.mark.parametrize("args, names", [
    (["run", "missing.toml"], "missing.toml: no such file"),
    (["run", MMC, "--days", "-1"], "--days"),
    (["run", MMC, "--days", "many"], "--days"),
    (["run", MMC, "--seed", "x"], "--seed"),
    (["run", MMC, "--days", "5"], "run.warmup_days: must be less than days"),
    (["run", MMC, "--set", "city.population=-4"], "city.population"),
    (["run", MMC, "--set", "nonsense"], "--set nonsense"),
    (["run", MMC, "--set", "requests.errand.stages=[{roles=['mayor']}]"], "requests.errand.stages[0].roles[0]"),
    (["run", MMC, "--out", "/proc/cannot/write"], "--out"),
    # the fields of who receives a request, the clocks, overtime and out-of-hours duty
    (["run", "meihekou_2020", "--set", "residents.reception.grid_leader.mean_minutes=-10"],
     "residents.reception.grid_leader.mean_minutes: must be > 0"),
    (["run", "meihekou_2020", "--set", "requests.safety.reception_settles=0.5"],
     "requests.safety.reception_settles: must be 0 for an emergency"),
    (["run", "meihekou_2020", "--set", "requests.visit.emergency=true"],
     "requests.visit.emergency: only residents' requests are received by anyone"),
    (["run", "meihekou_2020", "--set", "requests.errand.reception_settles=1.5"],
     "requests.errand.reception_settles: must be <= 1"),
    (["run", "meihekou_2020", "--set", "costs.overtime_premium=-0.5"], "costs.overtime_premium: must be >= 0"),
    (["run", "meihekou_2020", "--set", "roles.duty_leader.where=office"], "roles.duty_leader.where: must be one of"),
    (["run", "meihekou_2020", "--set", "roles.duty_leader.where=phone", "--set", "roles.duty_leader.paid_as=hire"],
     "roles.duty_leader.paid_as: must be 'overtime' on call"),
    (["run", "meihekou_2020", "--set", "roles.duty_leader.per_station=-1"], "roles.duty_leader.per_station"),
    (["run", "meihekou_2020", "--set", "uncertain.report_delays={low=0.5, high=2.0, scale=['requests.x.y']}"],
     "uncertain.report_delays: requests.x.y: no such field"),
    (["run", "meihekou_2020", "--set", "uncertain.size={low=2.0, high=1.0, scale=['city.area_km2']}"],
     "uncertain.size.high: must be > low"),
])
def test_bad_input_is_one_line_exit_2(args, names):
    out = gridsim(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and names in lines[0], out.stderr
    assert out.stdout == ""


def test_bad_file_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{MMC}"\n[city]\npopulation = "many"\n')
    out = gridsim("run", str(bad))
    assert out.returncode == 2 and "bad.toml: city.population: must be an integer" in out.stderr
    bad.write_text("[city\n")
    out = gridsim("run", str(bad))
    assert out.returncode == 2 and "TOML syntax error" in out.stderr


def test_failed_run_leaves_earlier_results_alone(tmp_path):
    out_dir = tmp_path / "o"
    assert gridsim("run", MMC, "--days", "11", "--out", str(out_dir)).returncode == 0
    before = (out_dir / "summary.json").read_text()
    assert gridsim("run", MMC, "--days", "11", "--set", "city.x=1", "--out", str(out_dir)).returncode == 2
    assert (out_dir / "summary.json").read_text() == before
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]


def test_a_bad_stage_in_a_file_names_the_file_and_the_field(tmp_path):
    bad = tmp_path / "stages.toml"
    bad.write_text(f'extends = "{MMC}"\n[requests.errand]\nstages = [{{ roles = ["station_head"], wait_hours = -2 }}]\n')
    out = gridsim("run", str(bad))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "stages.toml: requests.errand.stages[0].wait_hours: must be >= 0" in out.stderr


def test_run_opens_with_a_plain_headline_in_the_kpi_tables_words(week_run, meihekou):
    from gridsim.cli import format_summary
    from gridsim.model.kpis import lookup
    text = format_summary(week_run.summary, meihekou)
    lines = text.splitlines()
    assert lines[0] == "gridsim run: meihekou_2020, seed 1, 14 days (every day counted)"
    label = lookup("sla_met_share").label                       # the clock is in the label: it follows it
    assert lines[2] == f"{label[:1].upper()}{label[1:]}, by type:"
    care = week_run.summary["by_type"]["care"]
    assert f"  care      {100 * care['sla_met_share']:>5.0f}%  within {meihekou.requests['care'].sla_hours:g} h" in text
    assert "visit " not in text.split("type        created")[1].split("where the time goes")[0]   # staff work apart
    for gone in ("n.r.", "measured after", "in SLA", "above 90% busy"):
        assert gone not in text
    over = week_run.summary["overloaded_units"]["grid_leader"]
    assert over and f"{over} units overloaded (planned work at or above time on duty)" in text


def test_progress_bars_only_on_a_terminal(tmp_path, monkeypatch):
    """Redrawn in place on a terminal, a bar is a line per update in a log: none there."""
    import argparse
    import io

    from gridsim.cli import bars

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    assert bars(argparse.Namespace(quiet=False)) and not bars(argparse.Namespace(quiet=True))
    monkeypatch.undo()
    spec = tmp_path / "e.toml"
    spec.write_text(f'name = "e"\nscenario = "{MMC}"\ndays = 4.0\nwarmup_days = 1.0\nreplicates = 2\n'
                    '[factors]\n"roles.station_head.per_station" = [4, 5]\n')
    done = gridsim("sweep", spec, "--results", tmp_path, "--workers", "2")      # stderr: not a terminal
    assert done.returncode == 0 and "4 runs done" in done.stdout
    assert "run/s" not in done.stderr and "\r" not in done.stderr and len(done.stderr.splitlines()) == 1
