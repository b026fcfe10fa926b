"""Every command as robust as `run` (issue 21): names checked against the scenario before the first
run, files written whole or not at all, numbers bounded, jobs sized first, no answer silently
wrong, the dashboard's server checked and tied to its command, and a prior box partly unable to
keep up ruled out point by point. docs/RELIABILITY.md lists each promise beside its test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gridsim
from gridsim.analysis.store import read_table
from gridsim.dash import DashError, check_address
from gridsim.dash import levers as L
from gridsim.experiments import spec as spec_module
from gridsim.experiments.calibrate import wave_design
from gridsim.experiments.robustness import load_claims
from gridsim.experiments.spec import load_spec, refusals
from gridsim.experiments.targets import load_targets
from gridsim.scenario import load

from ..conftest import ROOT, SCENARIOS, gridsim as run_gridsim

MMC = SCENARIOS / "validation" / "mmc.toml"
SERVICE = "requests.errand.service.station_head.mean_minutes"     # 4 servers, 6 an hour: unstable above 40


def one_error(out, *names: str) -> None:
    """Exit 2, nothing on stdout, and one stderr line starting `error:` that names each of `names`."""
    assert out.returncode == 2, (out.returncode, out.stdout[-500:], out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and out.stdout == "", out.stderr[-2000:]
    for name in names:
        assert name in lines[0], lines[0]


def experiment(folder: Path, extra: str = "", name: str = "tiny", days: float = 12.0) -> Path:
    """Two points (4 or 5 servers) of the M/M/c scenario; `extra` is TOML before its [factors]."""
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "{MMC}"\nreplicates = 2\ndays = {days}\nwarmup_days = 2.0\n'
                    f'{extra}\n[factors]\n"roles.station_head.per_station" = [4, 5]\n')
    return path


def targets(folder: Path, inputs: str, target: str = 'kpi = "per_resident_year.requests"', **calibration) -> Path:
    cal = {"days": 10.0, "warmup_days": 2.0, "replicates": 2, "waves": 1, "points": 6, **calibration}
    path = folder / "targets.toml"
    path.write_text(f'scenario = "{MMC}"\nname = "t"\n[targets.demand]\nobserved = "x"\nsource = "y"\n{target}\n'
                    'value = [40.0, 60.0]\n[calibration]\n' + "".join(f"{k} = {v!r}\n" for k, v in cal.items())
                    + inputs)
    return path


def sensitivity(folder: Path, inputs: str, kpis: str = '["wait_minutes.mean"]', extra: str = "") -> Path:
    path = folder / "sens.toml"
    path.write_text(f'scenario = "{MMC}"\nname = "s"\ndays = 10.0\nwarmup_days = 2.0\nkpis = {kpis}\n'
                    f'[morris]\ntrajectories = 6\nseed = 3\n{extra}{inputs}')
    return path


# ---------------------------------------------------------------- 1. names checked before any run
@pytest.mark.parametrize("extra, names", [
    ('[objective]\nconstraints = ["by_quarter.q2.hotline_calls_per_day <= 5"]\n',
     ("objective.constraints[0]", "has 0 whole quarter(s)")),
    ('kpis = ["by_walk_band.40-50.abandoned_share"]\n', ("kpis[0]", "no walking band '40-50'")),
    ('kpis = ["by_type.care.sla_met_share"]\n', ("kpis[0]", "no request type 'care'")),
    ('[until_ci]\nmetric = "utilisation.mayor"\nhalf_width = 1.0\n', ("until_ci.metric", "no role 'mayor'")),
])
def test_an_experiment_naming_what_its_runs_never_have_is_refused_before_any_run(tmp_path, extra, names):
    out = run_gridsim("sweep", experiment(tmp_path, extra), "--results", tmp_path / "res", "--quiet")
    one_error(out, "tiny.toml", *names)
    assert not (tmp_path / "res").exists()


def test_a_visit_target_on_runs_too_short_to_see_a_visit_fall_due_is_refused_before_any_run(tmp_path):
    """Monthly visits to elderly households: a run measuring 28 days sees none of them fall due and
    their next one too, so no candidate could be judged on visit completion (it would fail silently)."""
    path = tmp_path / "visits.toml"
    path.write_text('scenario = "meihekou_2020_calibrated"\nname = "v"\ndays = 35.0\nwarmup_days = 7.0\n'
                    '[decisions]\n"roles.grid_leader.cover" = ["after", "station"]\n'
                    '[objective]\nconstraints = ["visit_completion_share >= 0.95"]\nminimise = "cost_yuan_per_year"\n')
    out = run_gridsim("optimise", path, "--results", tmp_path / "res", "--quiet")
    one_error(out, "visits.toml: objective.constraints[0]", "every 30.4 days", "run more than 37 days")
    assert not (tmp_path / "res").exists()


def test_targets_sensitivity_and_claims_name_only_what_runs_have(tmp_path):
    out = run_gridsim("calibrate", targets(tmp_path, f'[calibration.inputs."{SERVICE}"]\n',
                                           target='kpi = "resolved_per_year.mayor"'), "--results", tmp_path)
    one_error(out, "targets.toml: targets.demand.kpi", "no role 'mayor'")
    out = run_gridsim("sensitivity", sensitivity(tmp_path, f'[inputs."{SERVICE}"]\n', '["by_quarter.q1.trust_end"]'),
                      "--results", tmp_path)
    one_error(out, "sens.toml: kpis[0]", "has 0 whole quarter(s)")
    experiment(tmp_path)
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claims]]\nexperiment = "tiny.toml"\npoint = { "roles.station_head.per_station" = 5 }\n'
                      'kpi = "by_walk_band.far.abandoned_share"\ndirection = "lower"\nfinding = "f"\n')
    with pytest.raises(gridsim.ScenarioError, match=r"claims\.toml: claims\[0\]\.kpi: .*no walking band 'far'"):
        load_claims(claims)


# ---------------------------------------------------------------- 2. writes through the atomic writer
def test_a_file_in_the_way_of_an_output_folder_is_one_line_before_any_run(tmp_path):
    (tmp_path / "calibrate-t").mkdir()
    (tmp_path / "calibrate-t" / "figures").write_text("a file, not a folder")
    out = run_gridsim("calibrate", targets(tmp_path, f'[calibration.inputs."{SERVICE}"]\n'), "--results", tmp_path)
    one_error(out, "calibrate-t/figures", "a file is in the way")
    assert sorted(p.name for p in (tmp_path / "calibrate-t").iterdir()) == ["figures"]
    out = run_gridsim("warmup", "mmc", "--days", "28", "--figure", tmp_path / "calibrate-t" / "figures" / "w")
    one_error(out, "--figure", "a file is in the way")


# ---------------------------------------------------------------- 3. numbers bounded by the field parser
@pytest.mark.parametrize("where", ["set", "scenario", "experiment"])
def test_an_integer_of_thousands_of_digits_is_one_line_wherever_it_is_written(tmp_path, where):
    huge = "7" * 5000
    if where == "set":
        out = run_gridsim("run", MMC, "--set", f"city.population={huge}")
        one_error(out, "--set city.population=777", "a number too long to read")
    elif where == "scenario":
        (tmp_path / "s.toml").write_text(f'extends = "{MMC}"\n[city]\npopulation = {huge}\n')
        one_error(run_gridsim("run", tmp_path / "s.toml"), "s.toml", "a number too long to read")
    else:
        one_error(run_gridsim("sweep", experiment(tmp_path, f"root_seed = {huge}\n")), "tiny.toml",
                  "a number too long to read")


def test_a_log_scaled_input_whose_scenario_value_is_zero_is_a_range_not_a_domain_error(tmp_path):
    t = load_targets(targets(tmp_path, '[calibration.inputs."costs.evening_premium"]\nlow = 0.1\nhigh = 1.0\n'
                                       'log = true\n'))
    assert t.inputs[0].scenario_value == 0.0
    assert wave_design(t, 1, None)[0].tolist() == [0.0]          # the scenario as written: the range's low end


def test_an_integer_input_whose_range_holds_no_integer_is_refused(tmp_path):
    path = targets(tmp_path, '[calibration.inputs."roles.station_head.per_station"]\nlow = 4.2\nhigh = 4.8\n'
                             'integer = true\n')
    with pytest.raises(gridsim.ScenarioError, match="range 4.2 to 4.8 holds no whole number"):
        load_targets(path)


# ---------------------------------------------------------------- 4. jobs sized before they start
def test_a_design_of_millions_of_points_is_refused_before_it_is_drawn(tmp_path):
    path = sensitivity(tmp_path, f'[inputs."{SERVICE}"]\nlow = 20.0\nhigh = 30.0\n',
                       extra="[sobol]\nsamples = 1000000\n")
    one_error(run_gridsim("sensitivity", path, "--results", tmp_path / "res"),
              "sobol.samples: 1,000,000 samples of 1 inputs make 3,000,000 points, more than")
    assert not (tmp_path / "res").exists()


def test_calibrate_and_sensitivity_are_sized_first(tmp_path):
    inputs = f'[calibration.inputs."{SERVICE}"]\nlow = 20.0\nhigh = 30.0\n'
    one_error(run_gridsim("calibrate", targets(tmp_path, inputs), "--results", tmp_path / "res",
                          "--max-requests", "1000"), "calibrate t: 12 run(s) would simulate about")
    one_error(run_gridsim("sensitivity", sensitivity(tmp_path, inputs.replace("calibration.", "")), "--results",
                          tmp_path / "res", "--max-requests", "1000"), "sensitivity s: 12 run(s) would simulate")
    assert not (tmp_path / "res").exists()


def test_checking_a_large_design_shows_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(spec_module, "PROGRESS_AFTER", 0.0)
    spec = load_spec(experiment(tmp_path))
    assert refusals(spec, spec.points(), progress=True) == {}
    assert "checking points" in capsys.readouterr().err


# ---------------------------------------------------------------- 5. no answer silently wrong
def test_decisions_1_and_1_0_are_one_choice(tmp_path):
    text = experiment(tmp_path).read_text().replace("[factors]", "[decisions]").replace("[4, 5]", "[4, 4.0]")
    (tmp_path / "d.toml").write_text(text + '[objective]\nconstraints = ["wait_minutes.mean <= 30"]\n')
    one_error(run_gridsim("optimise", tmp_path / "d.toml"), "d.toml: decisions.roles.station_head.per_station.values",
              "repeats a value: 4 and 4.0 are the same choice")


@pytest.mark.parametrize("kwargs, names", [
    ({"days": True}, "days=True: run.days: must be a number, got True"),
    ({"seed": None}, "argument: seed: must be an integer, got None"),
    ({"max_requests": "many"}, "argument: max_requests: must be a number"),
])
def test_the_python_api_checks_its_arguments_like_fields(kwargs, names):
    with pytest.raises(gridsim.ScenarioError, match=names.replace("(", r"\(")):
        gridsim.simulate("mmc", **kwargs)


def test_a_quick_look_too_short_for_its_days_is_an_error_not_one_day():
    with pytest.raises(gridsim.ScenarioError, match="argument: days: must be a number, got True"):
        gridsim.experiment("E3", days=True)


# ---------------------------------------------------------------- 6. the dashboard's server
@pytest.mark.parametrize("host, port, names", [
    ("not an address", 8765, ("--host 'not an address': not an address of this machine",)),
    ("\x80", 8765, ("--host '\\x80': not an address of this machine",)),
    ("8.8.8.8", 8765, ("--host 8.8.8.8 --port 8765: cannot listen there",)),
    ("127.0.0.1", None, ("already in use on 127.0.0.1",)),
])
def test_an_unusable_address_is_one_line_before_the_server_starts(host, port, names, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = port or busy.getsockname()[1]
        with pytest.raises(DashError):
            check_address(host, port)
        pytest.importorskip("solara")
        out = run_gridsim("dash", "--host", host, "--port", port, "--results", tmp_path)
    one_error(out, *names)


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_server_dies_with_the_command_even_after_kill_9(tmp_path):
    pytest.importorskip("solara")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gridsim.cli", "dash", "--port", str(port), "--results",
                             str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in proc.stderr:                    # the address is announced only once it answers
            if "open http://" in line:
                break
        assert proc.poll() is None
        child = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                 text=True).stdout.split()]
        assert child
        os.kill(proc.pid, signal.SIGKILL)          # no chance for the command to stop its server
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in child):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in child)
        while time.monotonic() < deadline and _answers(port):     # (what the server started goes with it)
            time.sleep(0.2)
        assert not _answers(port)
    finally:
        proc.kill()
        proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


# ---------------------------------------------------------------- 7. paths stored resolved
def test_a_targets_file_given_by_a_relative_path_is_recorded_resolved(tmp_path, monkeypatch):
    targets(tmp_path, f'[calibration.inputs."{SERVICE}"]\nlow = 20.0\nhigh = 30.0\n')
    monkeypatch.chdir(tmp_path)
    t = load_targets("targets.toml")
    assert t.source == str(tmp_path / "targets.toml") and Path(t.source).is_absolute()


# ---------------------------------------------------------------- 8. a prior box part of which cannot keep up
def test_calibrate_rules_out_the_corner_that_cannot_keep_up_and_goes_on(tmp_path):
    path = targets(tmp_path, f'[calibration.inputs."{SERVICE}"]\nlow = 20.0\nhigh = 60.0\n', points=8)
    out = run_gridsim("calibrate", path, "--results", tmp_path, "--scenario-out", tmp_path / "out" / "c.toml",
                      "--workers", "2", "--dpi", "30")
    assert out.returncode == 0, out.stderr[-2000:]
    assert load(tmp_path / "out" / "c.toml").requests["errand"].service["station_head"].mean_minutes < 40
    evaluations, _ = read_table(tmp_path / "calibrate-t", "evaluations")
    refused = evaluations[evaluations["refused"].notna()]
    assert len(refused) and (refused[SERVICE] >= 40).all() and not refused["plausible"].any()
    assert refused["refused"].str.contains("offered load").all()
    assert (evaluations.loc[evaluations["refused"].isna(), SERVICE] < 40).all()
    assert "ruled out before running" in out.stderr


def test_a_box_that_never_keeps_up_is_ruled_out_wave_after_wave_not_a_traceback(tmp_path):
    path = targets(tmp_path, f'[calibration.inputs."{SERVICE}"]\nlow = 45.0\nhigh = 60.0\n', waves=2, points=3)
    out = run_gridsim("calibrate", path, "--results", tmp_path, "--scenario-out", tmp_path / "c.toml", "--quiet",
                      "--dpi", "30")
    assert out.returncode == 1 and "error: no point is plausible" in out.stderr, out.stderr[-2000:]
    assert "the scenario as written is ruled out before running: roles.station_head: offered load" in out.stdout
    evaluations, _ = read_table(tmp_path / "calibrate-t", "evaluations")
    assert list(evaluations["wave"]) == [1, 1, 1, 2, 2, 2] and evaluations["refused"].notna().all()
    assert not (tmp_path / "c.toml").exists()


def test_sensitivity_leaves_out_each_trajectory_that_cannot_keep_up_and_says_so(tmp_path):
    out = run_gridsim("sensitivity", sensitivity(tmp_path, f'[inputs."{SERVICE}"]\nlow = 20.0\nhigh = 48.0\n'),
                      "--results", tmp_path, "--workers", "2", "--quiet", "--dpi", "30")
    assert out.returncode == 0, out.stderr[-2000:]
    morris, about = read_table(tmp_path / "sensitivity-s", "morris")
    assert about["left_out"].startswith(f"{6 - about['points'] // 2} of 6 Morris trajectories left out")
    assert "offered load" in about["left_out"] and about["left_out"] in out.stdout
    assert list(morris["input"]) == [SERVICE] and morris["mu_star"].iloc[0] > 0


def test_the_dashboard_says_an_option_cannot_run_before_running_it():
    base = load(ROOT / "scenarios" / "meihekou_2020.toml")
    assert L.problem("meihekou_2020", {}, 28, 3) == ""
    few = L.Levers(**{**vars(L.Levers.of(base)), "stations": 20}).overrides(base)
    assert "roles.station_head: offered load is" in L.problem("meihekou_2020", few, 28, 3)
    too_long = L.problem("meihekou_2020", {}, 3650, 100)       # a page has no --max-requests to offer
    assert too_long.startswith("this option and the baseline: 200 run(s) would simulate about")
    assert too_long.endswith("; fewer days or replicates")


def test_why_a_worker_died_is_said_as_far_as_its_exit_status_tells():
    from gridsim.experiments.sweep import died

    class Pool:
        def __init__(self, statuses):
            self.statuses = statuses

        def ended(self):
            return self.statuses

    broken = RuntimeError("A process in the process pool was terminated abruptly")
    assert died(Pool([1]), broken).startswith("its worker process exited with status 1: its own error")
    lost = died(Pool([255]), broken)           # the forkserver could not read the status
    assert "its status lost" in lost and "with status 255" not in lost and "__main__" in lost
    assert "killed by signal 9" in died(Pool([-9]), broken)
    assert died(Pool([]), broken).startswith("its worker process died (killed, or out of memory)")
