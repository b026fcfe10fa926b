"""`gridsim optimise`: on the M/M/c case it returns what Erlang C says; targets nobody meets give
"no option meets" and the closest (exit 1); a bad [objective] is one error line (exit 2); a search
killed with SIGKILL resumes to the same answer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gridsim.analysis.queueing import servers_for_wait
from gridsim.analysis.store import Store

from ..conftest import ROOT, gridsim, kill_after

MMC = ROOT / "scenarios" / "validation" / "mmc.toml"


def mmc_spec(folder: Path, *, constraint="wait_within_target_share >= 0.8", days=40.0, replicates=3,
             max_replicates=6, name="mmc_opt", extra="") -> Path:
    """13 arrivals an hour at one station, 29-minute exponential service, a 10-minute wait target."""
    path = folder / f"{name}.toml"
    path.write_text(f'''name = "{name}"
scenario = "{MMC}"
days = {days}
warmup_days = 4.0
replicates = {replicates}
root_seed = 11

[set]
"roles.station_head.per_station" = 14
"roles.station_head.salary_yuan" = 50000.0
"requests.errand.rate_per_household_year" = 113.88      # 13 an hour over 1,000 households
"requests.errand.service.station_head.mean_minutes" = 29.0
"requests.errand.wait_target_minutes" = 10.0

[decisions]
"roles.station_head.per_station" = {{ low = 1, high = 14 }}

[objective]
constraints = ["{constraint}"]

[search]
max_replicates = {max_replicates}
{extra}''')
    return path


def test_mmc_returns_the_erlang_c_answer(tmp_path):
    erlang = servers_for_wait(13 / 60, 1 / 29, within=10.0, probability=0.8)
    assert erlang == 9
    done = gridsim("optimise", mmc_spec(tmp_path, days=30.0), "--results", tmp_path / "res", "--workers", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("The cheapest option that meets the target")
    assert f"chosen: station head per station = {erlang}  (meets" in out
    assert "runner-up 1: station head per station = 10" in out
    assert "6 refused by the scenario check" in out          # c <= 6: utilisation >= 1, never run
    runs = Store(tmp_path / "res" / "mmc_opt-optimise").runs()
    screened = set(runs["roles.station_head.per_station"])
    # the search starts at the Erlang C floor c* - 1 (walking down while the floor is not shown to fail);
    # c <= 6 leaves the station unstable and is never run
    assert erlang - 1 in screened and min(screened) >= 7 and max(screened) == 14
    # the folder is a results folder that compare and report read
    folder = tmp_path / "res" / "mmc_opt-optimise"
    cmp = gridsim("compare", folder, "--baseline", f"per_station={erlang}")
    assert cmp.returncode == 0 and "Judged by the experiment's [objective]" in cmp.stdout, cmp.stderr
    rep = gridsim("report", folder, "--dpi", "40")
    assert rep.returncode == 0, rep.stderr
    text = (folder / "_report" / "report.md").read_text()
    first = text.split("\n\n")[1]
    assert first.startswith("The cheapest option that meets the target") and f"**station head per station = {erlang}**" in first
    assert "no finished run at all" not in text        # candidates the search skipped are not missing runs


def test_a_step_that_skips_the_floor_still_runs_the_value_below_the_bound(tmp_path):
    spec = mmc_spec(tmp_path, days=20.0, replicates=2, max_replicates=4)
    spec.write_text(spec.read_text().replace("{ low = 1, high = 14 }", "{ low = 1, high = 13, step = 2 }"))
    done = gridsim("optimise", spec, "--results", tmp_path / "res", "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    runs = Store(tmp_path / "res" / "mmc_opt-optimise").runs()
    assert 7 in set(runs["roles.station_head.per_station"])     # 8 is not a value: 7 is run, and shown to fail
    options = {o["label"]: o for o in json.loads(done.stdout)["options"]}
    assert options["station head per station = 7"]["verdict"] == "fails"
    assert json.loads(done.stdout)["chosen"] == options["station head per station = 9"]["point"]


def test_no_option_meets_names_the_closest(tmp_path):
    done = gridsim("optimise", mmc_spec(tmp_path, constraint="wait_within_target_share >= 0.9995", days=20.0,
                                        max_replicates=3),
                   "--results", tmp_path / "res", "--workers", "2", "--quiet")
    assert done.returncode == 0, done.stderr          # an answer, not a crash: the search finished
    assert done.stdout.startswith("No option meets the target")
    assert "The closest is station head per station = 14" in done.stdout
    assert "closest: station head per station = 14" in done.stdout
    # other targets, same decisions: the stored runs are the same runs, and are reused
    first = int(re.search(r"(\d+) runs now", done.stdout).group(1))
    path = mmc_spec(tmp_path, constraint="wait_within_target_share >= 0.95", days=20.0, max_replicates=3)
    again = gridsim("optimise", path, "--results", tmp_path / "res", "--workers", "2", "--quiet")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"({first} already stored)" in again.stdout and "chosen: station head per station = 1" in again.stdout


@pytest.mark.parametrize("constraint, expected", [
    ("wait_within_target_share >= 80", "objective.constraints[0]: 'wait_within_target_share >= 80': "),
    ("wait_whithin_target_share >= 0.8", "'wait_whithin_target_share' is not a KPI"),
    ("by_type.care.sla_met_share >= 0.9", "the scenario has no request type 'care'"),
])
def test_malformed_objective_is_one_error_line(tmp_path, constraint, expected):
    done = gridsim("optimise", mmc_spec(tmp_path, constraint=constraint), "--results", tmp_path / "res")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr and "mmc_opt.toml" in done.stderr
    assert not (tmp_path / "res").exists()


def test_optimise_needs_an_objective_and_decisions(tmp_path):
    path = mmc_spec(tmp_path)
    path.write_text(path.read_text().replace('[objective]\nconstraints = ["wait_within_target_share >= 0.8"]\n', ""))
    done = gridsim("optimise", path, "--results", tmp_path / "res")
    assert done.returncode == 2 and "objective: missing" in done.stderr and done.stderr.count("\n") == 1
    big = mmc_spec(tmp_path, extra="budget = 5\n")
    done = gridsim("optimise", big, "--results", tmp_path / "res")
    assert done.returncode == 2 and "14 candidates, more than search.budget (5)" in done.stderr


def test_sigkill_and_resume_reach_the_same_answer(tmp_path):
    spec = mmc_spec(tmp_path, days=10.0, max_replicates=4)
    whole = gridsim("optimise", spec, "--workers", "2", "--json", "--results", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    cmd = [sys.executable, "-m", "gridsim.cli", "optimise", str(spec), "--workers", "1", "--json"]
    folder = tmp_path / "killed" / "mmc_opt-optimise"
    kill_after([*cmd, "--results", str(tmp_path / "killed")], folder / "runs", 3)
    stored = len(list((folder / "runs").glob("*.parquet")))
    assert 3 <= stored < sum(json.loads(whole.stdout)["replicates"].values()), "finished before it could be killed"
    again = subprocess.run([*cmd, "--results", str(tmp_path / "killed")], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    a, b = json.loads(whole.stdout), json.loads(again.stdout)
    assert b["chosen"] == a["chosen"] and b["replicates"] == a["replicates"] and b["answer"] == a["answer"]
    assert b["options"] == a["options"]


def test_queueing_floor_applies_only_where_a_station_is_m_m_c():
    from gridsim.experiments import optimise as opt
    from gridsim.experiments.spec import load_spec
    bounds, notes = opt.queueing_bounds(load_spec("mmc_servers"))
    assert [(b.path, b.servers) for b in bounds] == [("roles.station_head.per_station", 9)] and not notes
    assert opt.queueing_bounds(load_spec("planner_care")) == ([], [])     # no server-count decision
    path = mmc_spec(Path(__import__("tempfile").mkdtemp()),
                    extra='\n[set.roles.station_head]\ntravel = true\n')
    spec_text = path.read_text().replace('"roles.station_head.per_station" = 14',
                                         '"roles.station_head.per_station" = 14\n"roles.station_head.travel" = true')
    path.write_text(spec_text.replace('\n[set.roles.station_head]\ntravel = true\n', ""))
    bounds, notes = opt.queueing_bounds(load_spec(path))
    assert bounds == [] and "walks to households" in notes[0]


def test_the_answer_says_where_in_the_unconstrained_inputs_it_holds(tmp_path):
    """The scenario leaves the service time free (20-40 minutes): the chosen number of servers meets
    the wait target only where service is short enough, and the output says so in one sentence."""
    scenario = tmp_path / "free.toml"
    scenario.write_text(f'''extends = "{MMC}"
[roles.station_head]
per_station = 14
salary_yuan = 50000.0
[requests.errand]
rate_per_household_year = 113.88
wait_target_minutes = 10.0
[requests.errand.service.station_head]
mean_minutes = 29.0
[uncertain."requests.errand.service.station_head.mean_minutes"]
low = 20.0
high = 40.0
why = "how long a walk-in errand takes: no data"
''')
    spec = tmp_path / "free_opt.toml"
    spec.write_text(f'''name = "free_opt"
scenario = "{scenario}"
days = 12.0
warmup_days = 2.0
replicates = 2
root_seed = 5
[decisions]
"roles.station_head.per_station" = [8, 9, 10, 11]
[objective]
constraints = ["wait_within_target_share >= 0.8"]
[search]
max_replicates = 4
finalists = 2
assumption_points = 12
''')
    done = gridsim("optimise", spec, "--results", tmp_path / "res", "--workers", "2", "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    rests = json.loads(done.stdout)["rests_on"]
    assert [i["name"] for i in rests["unconstrained"]] == ["requests.errand.service.station_head.mean_minutes"]
    chosen = rests["options"][0]
    assert chosen["sentence"].startswith("the chosen station head per station = ")
    assert 0 < chosen["meeting"] < chosen["points"] == 12                   # meets where service is short only
    assert "wherever requests.errand.service.station_head.mean_minutes is below" in chosen["sentence"]
    below = chosen["region"]["requests.errand.service.station_head.mean_minutes"][1]
    assert 25 < below < 40
    assert (tmp_path / "res" / "free_opt-optimise-assumptions" / "runs").is_dir()
    text = gridsim("optimise", spec, "--results", tmp_path / "res", "--workers", "2", "--quiet").stdout
    assert "what the answer rests on: 1 input(s) no data constrains" in text and chosen["sentence"] in text
    rep = gridsim("report", tmp_path / "res" / "free_opt-optimise", "--dpi", "40")
    assert rep.returncode == 0, rep.stderr
    report = (tmp_path / "res" / "free_opt-optimise" / "_report" / "report.md").read_text()
    assert "**What the answer rests on.**" in report and chosen["sentence"].replace("the chosen ", "") in report
    # the question changed (longer runs): refused, then started over with --fresh, the finalists' runs too
    spec.write_text(spec.read_text().replace("days = 12.0", "days = 13.0"))
    refused = gridsim("optimise", spec, "--results", tmp_path / "res", "--workers", "2", "--quiet")
    assert refused.returncode == 2 and "rerun with --fresh" in refused.stderr
    again = gridsim("optimise", spec, "--results", tmp_path / "res", "--workers", "2", "--quiet", "--fresh")
    assert again.returncode == 0, again.stderr
    assert "(0 already stored)" in again.stdout and "what the answer rests on" in again.stdout
