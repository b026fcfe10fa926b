"""Calibration by history matching: parameter recovery, targets-file errors, resume after SIGKILL."""

import dataclasses
import os
import sys

import numpy as np
import pandas as pd
import pytest

from gridsim.analysis.compare import kpis_for
from gridsim.analysis.store import Store, flatten, read_table
from gridsim.experiments import calibrate
from gridsim.experiments.calibrate import Calibration, calibrated_scenario, evaluate, write_calibrated
from gridsim.experiments.spec import run_seed
from gridsim.experiments.sweep import Executor
from gridsim.experiments.targets import load_targets
from gridsim.model.run import simulate
from gridsim.scenario import ScenarioError, load, with_overrides

from ..conftest import ROOT, gridsim, kill_after

SMALL = ROOT / "tests" / "data" / "small_city.toml"
KNOWN = {"requests.errand.rate_per_household_year": 1.2, "residents.channels.closed_hotline": 2.5}
DAYS, WARMUP = 35.0, 7.0


def targets_text(observed: dict, **calibration) -> str:
    cal = {"days": DAYS, "warmup_days": WARMUP, "replicates": 2, "root_seed": 3, "design_seed": 4, "waves": 3,
           "points": 16, "profile": 3, "cutoff": 3.0, "discrepancy": 0.02, **calibration}
    lines = [f'scenario = "{SMALL}"', 'name = "recovery"', ""]
    for name, (kpi, value) in observed.items():
        lines += [f"[targets.{name}]", 'observed = "made by the model"', 'source = "the test"', f'kpi = "{kpi}"',
                  f"value = [{value * 0.95!r}, {value * 1.05!r}]", ""]
    lines.append("[calibration]")
    lines += [f"{k} = {v!r}" for k, v in cal.items()]
    lines += ['[calibration.inputs."requests.errand.rate_per_household_year"]', "low = 0.6", "high = 3.0",
              "log = true", '[calibration.inputs."residents.channels.closed_hotline"]', "low = 0.0", "high = 4.0"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def recovery(tmp_path_factory):
    """Data made by the model at KNOWN values (one run, its own seed), calibrated back."""
    truth = with_overrides(load(SMALL), [*KNOWN.items(), ("run.days", DAYS), ("run.warmup_days", WARMUP)])
    s = simulate(truth, seed=987).summary["per_resident_year"]
    tmp = tmp_path_factory.mktemp("recovery")
    path = tmp / "targets.toml"
    path.write_text(targets_text({"demand": ("per_resident_year.requests", s["requests"]),
                                  "calls": ("per_resident_year.hotline_calls", s["hotline_calls"])}))
    out = gridsim("calibrate", "targets.toml", "--results", "res", "--scenario-out", "new/calibrated.toml",   # paths
                  "--workers", "2", "--quiet", "--dpi", "40", cwd=tmp)                     # relative, as typed
    assert out.returncode == 0, out.stdout + out.stderr
    return path, tmp, out


def test_known_values_are_not_ruled_out_and_lie_inside_a_narrower_plausible_set(recovery):
    path, tmp, out = recovery
    targets = load_targets(path)
    with Executor(2) as pool:
        known = evaluate(targets, [KNOWN], tmp / "known", pool)
    assert known["plausible"].all(), known
    plausible, about = read_table(tmp / "res" / "calibrate-recovery", "plausible")
    assert len(plausible) >= 3 and about["cutoff"] == 3.0
    targets = load_targets(path)
    for inp in targets.inputs:
        x = plausible[inp.name]
        assert x.min() <= KNOWN[inp.name] <= x.max(), (inp.name, x.min(), x.max())
        narrowed = inp.unit(x.max()) - inp.unit(x.min())
        assert narrowed < 0.5, (inp.name, narrowed)            # the targets say something about each input
    evaluations, _ = read_table(tmp / "res" / "calibrate-recovery", "evaluations")
    assert (evaluations["I_max"] > 3).any() and set(evaluations["wave"]) == {1, 2, 3, 4}
    profile = evaluations[evaluations["wave"] == 4]     # each input alone across its prior, 3 values, from one point
    assert len(profile) == 2 * 3
    for k, inp in enumerate(targets.inputs):
        mine = profile.iloc[3 * k:3 * k + 3]
        assert mine[inp.name].tolist() == pytest.approx([inp.low, inp.value(0.5), inp.high])
        other = targets.inputs[1 - k].name
        assert mine[other].nunique() == 1
    assert evaluations["plausible"].sum() == len(plausible)


def test_the_calibrated_scenario_extends_the_base_and_marks_each_number(recovery):
    path, tmp, out = recovery
    text = (tmp / "new" / "calibrated.toml").read_text()                 # its folder made by the writer
    assert f'extends = "{os.path.relpath(SMALL, tmp / "new")}"' in text
    assert text.count("\n    # [calibrated] ") == 2
    assert read_table(tmp / "res" / "calibrate-recovery", "plausible")[1]["unconstrained"] == []
    s = load(tmp / "new" / "calibrated.toml")
    plausible, _ = read_table(tmp / "res" / "calibrate-recovery", "plausible")
    rate = s.requests["errand"].rate_per_household_year
    assert plausible["requests.errand.rate_per_household_year"].min() <= rate <= \
        plausible["requests.errand.rate_per_household_year"].max()
    assert s.city.population == 20000                       # everything else from the base scenario
    for name in ("targets", "inputs"):
        for ext in ("png", "svg"):
            assert (tmp / "res" / "calibrate-recovery" / "figures" / f"{name}.{ext}").stat().st_size > 1000
    assert "plausible set:" in out.stdout and "wave 3:" in out.stdout and "profile (each input alone" in out.stdout


def test_an_input_the_targets_leave_free_is_marked_not_constrained(recovery, tmp_path):
    """Plausible values over more than 80% of the prior (on the input's own scale): the targets cannot
    narrow it, and the calibrated scenario says so instead of calling it calibrated."""
    path, tmp, _ = recovery
    targets = load_targets(path)
    errand, hotline = targets.inputs
    rows = [{"wave": 1, "point": k, errand.name: errand.value(u), hotline.name: hotline.value(0.4 + 0.1 * u),
             "I_max": 1.0, "plausible": True, **{f"{t.name}.{x}": 1.0 for t in targets.targets for x in ("mean", "I")}}
            for k, u in enumerate((0.02, 0.5, 0.97))]
    cal = Calibration(targets, tmp_path, pd.DataFrame(rows), pd.DataFrame())
    assert cal.unconstrained() == [errand.name]                   # spans 95% of its prior; the other 10%
    text = calibrated_scenario(cal, tmp_path / "c.toml")
    assert text.count("# [not constrained: the targets leave it free] ") == 1
    assert text.count("# [calibrated] ") == 1
    (tmp_path / "c.toml").write_text(text)
    free = load(tmp_path / "c.toml").uncertain          # what optimise and report check answers across
    assert list(free) == [errand.name] and free[errand.name].log
    assert (free[errand.name].low, free[errand.name].high) == pytest.approx((errand.value(0.02), errand.value(0.97)),
                                                                          rel=1e-3)


def test_targets_on_another_state_of_the_city_rule_out_points_too(recovery, tmp_path):
    """The same residents before a reform: each point runs on both cities, and a target of either
    rules it out."""
    path, tmp, _ = recovery
    before = tmp_path / "before.toml"
    before.write_text(f'extends = "{SMALL}"\n[stations]\ncount = 0\n[roles.building_leader]\nper_building = 0\n')
    text = path.read_text().replace('name = "recovery"', f'name = "two"\n[cities.before]\nscenario = "{before}"')
    two = tmp_path / "two.toml"
    two.write_text(text + '[targets.calls_before]\nobserved = "made up"\nsource = "the test"\ncity = "before"\n'
                          'kpi = "per_resident_year.hotline_calls"\nvalue = [0.0, 0.0001]\n')
    targets = load_targets(two)
    assert list(targets.scenarios()) == ["", "before"] and targets.targets[-1].city == "before"
    with Executor(2) as pool:
        ev = evaluate(targets, [KNOWN], tmp_path / "known", pool)
    assert ev.loc[0, "calls.I"] <= 3 < ev.loc[0, "calls_before.I"] == ev.loc[0, "I_max"]
    assert not ev["plausible"].any()           # plausible after the reform, not before it
    assert (tmp_path / "known" / "check-before" / "runs").is_dir()


def two_cities(recovery, tmp_path, before_calls: tuple[float, float], waves: int) -> tuple:
    """The recovery calibration with a second city (no stations or building leaders) whose 12345
    calls a target bounds, run by the `gridsim calibrate` command: (targets, folder, evaluations)."""
    path, _, _ = recovery
    before = tmp_path / "before.toml"
    before.write_text(f'extends = "{SMALL}"\n[stations]\ncount = 0\n[roles.building_leader]\nper_building = 0\n')
    text = path.read_text().replace('name = "recovery"', f'name = "two"\n[cities.before]\nscenario = "{before}"')
    text = text.replace("waves = 3", f"waves = {waves}").replace("profile = 3", "profile = 0")
    two = tmp_path / "two.toml"
    two.write_text(text + '[targets.calls_before]\nobserved = "made up"\nsource = "the test"\ncity = "before"\n'
                          f'kpi = "per_resident_year.hotline_calls"\nvalue = [{before_calls[0]}, {before_calls[1]}]\n')
    command = ("calibrate", str(two), "--results", str(tmp_path / "res"), "--scenario-out", str(tmp_path / "c.toml"),
               "--workers", "2", "--quiet", "--dpi", "40")
    out = gridsim(*command)
    assert out.returncode in (0, 1), out.stdout + out.stderr         # (1: no plausible point to write)
    folder = tmp_path / "res" / "calibrate-two"
    ev, _ = read_table(folder, "evaluations")
    stored = sorted(p.stat().st_mtime_ns for p in folder.glob("wave*/runs/*.parquet"))
    again = gridsim(*command)                                        # resumed: the same waves, nothing run
    assert again.returncode == out.returncode
    assert sorted(p.stat().st_mtime_ns for p in folder.glob("wave*/runs/*.parquet")) == stored
    pd.testing.assert_frame_equal(read_table(folder, "evaluations")[0], ev)
    return load_targets(two), folder, ev


def ran_on_the_other_city(targets, folder, ev, wave: int) -> tuple[list, list]:
    """(the wave's points run on the second city, those its first city's targets leave)."""
    judged = calibrate.implausibility(tuple(t for t in targets.targets if t.city == ""),
                                      Store(folder / f"wave{wave}").runs(), 0.02, 2)
    ran = sorted(Store(folder / f"wave{wave}-before").runs()["point"].unique().tolist())
    return ran, sorted(judged.loc[judged["I_max"] <= 3.0, "point"].tolist())


def test_after_wave_1_another_city_runs_only_the_points_the_first_leaves(recovery, tmp_path):
    """A point a target of the first city rules out is ruled out whatever the other city says: after
    wave 1 (every point on every city, the prior's picture) the other city runs the rest alone, and
    each point left out keeps its first city's implausibility, above the cut-off."""
    targets, folder, ev = two_cities(recovery, tmp_path, (0.0, 1.0), waves=2)
    for wave in (1, 2):
        mine = ev[(ev["wave"] == wave) & (ev["point"] >= 0)].set_index("point")
        ran, left = ran_on_the_other_city(targets, folder, ev, wave)
        out_first = mine.index.difference(left)
        assert len(out_first) and not mine.loc[out_first, "plausible"].any()
        if wave == 1:
            assert ran == sorted(mine.index)
        else:
            assert ran == left and 0 < len(left) < len(mine)   # it ran some on the other city, and left some out
            assert mine.loc[out_first, "calls_before.I"].isna().all()
            first = [f"{t.name}.I" for t in targets.targets if t.city == ""]
            assert (mine.loc[out_first, "I_max"] == mine.loc[out_first, first].max(axis=1)).all()
    assert ev["plausible"].any() and ev.loc[ev["plausible"], "calls_before.I"].notna().all()


def test_while_fewer_than_2_points_are_plausible_every_point_runs_on_every_city(recovery, tmp_path):
    """The next wave then starts from the least implausible points, which needs every point's
    implausibility on every city: a wave that left points out runs them after all; the last wave,
    with no wave after it, does not."""
    targets, folder, ev = two_cities(recovery, tmp_path, (0.0, 0.0001), waves=3)    # rules out every point
    assert not ev["plausible"].any()
    for wave, everywhere in ((1, True), (2, True), (3, False)):
        ran, left = ran_on_the_other_city(targets, folder, ev, wave)
        mine = sorted(ev.loc[(ev["wave"] == wave) & (ev["point"] >= 0), "point"].tolist())
        assert ran == (mine if everywhere else left) and len(left) < len(mine)


def test_the_calibrated_scenario_keeps_any_description_and_never_replaces_a_good_file(recovery, tmp_path, monkeypatch):
    path, tmp, _ = recovery
    targets = load_targets(path)
    evaluations, _ = read_table(tmp / "res" / "calibrate-recovery", "evaluations")
    odd = 'a "quoted" \\ backslash,\na new line and a tab\t'
    t = dataclasses.replace(targets, scenario=with_overrides(targets.scenario, [("description", odd)]))
    out, = write_calibrated(Calibration(t, tmp, evaluations, pd.DataFrame()), tmp_path / "c.toml")
    assert load(out).description == f"{odd}; calibrated to recovery targets"
    good = out.read_text()
    monkeypatch.setattr(calibrate, "calibrated_scenario", lambda cal, out, city="": 'extends = "nowhere.toml"\n')
    with pytest.raises(ScenarioError, match="the calibrated scenario would not load .* left as it was"):
        write_calibrated(Calibration(t, tmp, evaluations, pd.DataFrame()), out)
    assert out.read_text() == good and [p.name for p in tmp_path.iterdir()] == ["c.toml"]


def test_a_calibrations_runs_store_its_targets_kpis_alone_and_the_same_numbers(recovery):
    """Its runs keep only what its targets read (no other KPI, no extra tables), and those are the
    numbers a full run gives: a calibration pays neither the other tables nor their writing."""
    path, tmp, _ = recovery
    targets = load_targets(path)
    wave = Store(tmp / "res" / "calibrate-recovery" / "wave1")
    runs = wave.runs()
    assert set(runs.columns) - {"point", "replicate"} == {i.name for i in targets.inputs} | \
        {t.kpi for t in targets.targets}
    assert wave.finished() == set(wave.scan().runs)           # none counted as lacking its extras
    assert list(wave.folder.glob("runs/*.parquet")) and not list(wave.folder.glob("_*/p*.parquet"))  # no extras
    spec = wave.manifest()["spec"]
    point = dict(zip(runs.columns, runs.iloc[0]))
    scenario = with_overrides(load(SMALL), [*(o for i in targets.inputs for o in i.overrides(point[i.name])),
                                            ("run.days", DAYS), ("run.warmup_days", WARMUP)])
    full = flatten(simulate(scenario, seed=run_seed(spec["root_seed"], int(point["replicate"]))).summary)
    assert {t.kpi: point[t.kpi] for t in targets.targets} == {t.kpi: full[t.kpi] for t in targets.targets}
    kept = list(dict.fromkeys(t.kpi for t in targets.targets))
    assert kpis_for(wave.manifest(), runs) == kept
    shown = gridsim("compare", str(wave.folder))                 # each kept KPI, its value in one column
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.split()[:1] and line.split()[0] in kept]
    lines = lines[:len(kept)]                                    # the baseline's block
    value_starts = {len(line) - len(line.split(None, 1)[1]) for line in lines}
    assert len(lines) == len(kept) and len(value_starts) == 1, lines


def test_resume_after_sigkill_reaches_the_same_plausible_set(recovery, tmp_path):
    path, tmp, _ = recovery
    cmd = [sys.executable, "-m", "gridsim.cli", "calibrate", str(path), "--results", str(tmp_path),
           "--scenario-out", str(tmp_path / "new" / "c.toml"), "--quiet", "--workers", "1"]
    wave1 = tmp_path / "calibrate-recovery" / "wave1" / "runs"
    kill_after(cmd, wave1, 3)
    partial = len(list(wave1.glob("*.parquet")))
    assert 3 <= partial < 32, "the calibration finished before it could be killed"
    done = gridsim(*cmd[3:-1], "2")               # the same command resumed (here, on 2 workers)
    assert done.returncode == 0, done.stderr[-2000:]
    again, _ = read_table(tmp_path / "calibrate-recovery", "plausible")
    first, _ = read_table(tmp / "res" / "calibrate-recovery", "plausible")
    pd.testing.assert_frame_equal(again, first)
    assert (tmp_path / "new" / "c.toml").read_text().split("\n", 1)[1] == \
        (tmp / "new" / "calibrated.toml").read_text().split("\n", 1)[1]


@pytest.mark.parametrize("edit, where", [
    (lambda t: t.replace('kpi = "per_resident_year.requests"', 'kpi = "requests_per_resident"'),
     "targets.demand.kpi: 'requests_per_resident' is not a KPI"),
    (lambda t: t.replace("value = [", "count = [", 1), "targets.demand.period_years: missing"),
    (lambda t: t.replace("cutoff = 3.0", "cutoff = -1"), "calibration.cutoff: must be > 0"),
    (lambda t: t.replace('"residents.channels.closed_hotline"]', '"residents.channels.hotline_if_closed"]'),
     "calibration.inputs.residents.channels.hotline_if_closed: residents.channels.hotline_if_closed: no such field"),
    (lambda t: t.replace("high = 4.0", "high = 60.0"), "calibration.inputs.residents.channels.closed_hotline.high: 60"),
    (lambda t: t.replace("[calibration]", "[calibration\n"), "TOML syntax error"),
    (lambda t: t + "\nextra = 1\n", "extra: unknown key"),
    (lambda t: t.replace('kpi = "per_resident_year.requests"', 'kpi = "per_resident_year.requests"\ncity = "old"'),
     "targets.demand.city: 'old' is not in [cities] (none)"),
])
def test_a_bad_targets_file_is_one_error_line_naming_file_and_field(tmp_path, edit, where):
    path = tmp_path / "bad.toml"
    path.write_text(edit(targets_text({"demand": ("per_resident_year.requests", 1.0),
                                       "calls": ("per_resident_year.hotline_calls", 0.07)})))
    out = gridsim("calibrate", path, "--results", tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: {path}: ") and where in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_meihekou_targets_load():
    t = load_targets("meihekou")
    assert [x.name for x in t.targets] == ["alliance_problems", "party_member_problems", "two_new_wishes",
                                           "demand_per_resident", "hotline_calls_per_resident",
                                           "demand_per_resident_2018", "hotline_calls_per_resident_2018"]
    alliance = t.targets[0]
    assert (alliance.low, alliance.high) == (163.5, 327.0) and alliance.count == (327, 327)
    assert np.isclose(alliance.variance, (327 - 163.5) ** 2 / 36)
    delays = next(i for i in t.inputs if i.name == "report_delays")
    assert len(delays.scale) == 8 and delays.scenario_value == 1.0
    default = next(i for i in t.inputs if i.name == "requests.hard.rate_per_household_year")
    assert (default.low, default.high, default.log) == (0.00375, 0.015, True)


EXPERIMENT = f"""name = "tiny_stations"
scenario = "{SMALL}"
days = {DAYS}
warmup_days = {WARMUP}
replicates = 2
root_seed = 11
[factors]
"stations.count" = [2, 5]
[baseline]
"stations.count" = 5
"""
CLAIMS = """robust_share = 0.9
[inputs."requests.errand.service.station_head.mean_minutes"]
low = 10.0
high = 30.0
why = "no target speaks to it"
[[claims]]
experiment = "tiny.toml"
point = { "stations.count" = 2 }
kpi = "cost_yuan_per_year"
direction = "lower"
finding = "two stations cost less than five"
[[claims]]
experiment = "tiny.toml"
point = { "stations.count" = 2 }
kpi = "wait_minutes.p90"
direction = "lower"
finding = "two stations shorten the p90 wait"
"""


def test_findings_are_rerun_across_plausible_sets_and_labelled(recovery, tmp_path):
    path, tmp, _ = recovery
    (tmp_path / "tiny.toml").write_text(EXPERIMENT)
    (tmp_path / "claims.toml").write_text(CLAIMS)
    _, about = read_table(tmp / "res" / "calibrate-recovery", "plausible")
    assert about["targets"] == str(path)                 # typed as "targets.toml", recorded resolved
    args = [tmp / "res" / "calibrate-recovery", "--claims", tmp_path / "claims.toml", "--sets", "4", "--results",
            tmp_path / "rob", "--workers", "2", "--quiet"]
    one_line = gridsim("robustness", *args, "--experiment", "E99")
    assert one_line.returncode == 2 and one_line.stderr == (f"error: --experiment E99: no claim of {tmp_path / 'claims.toml'} "
                                                            "is about 'E99' (claims are about: tiny.toml)\n")
    too_big = gridsim("robustness", *args, "--max-requests", "1000")
    assert too_big.returncode == 2 and too_big.stderr.startswith("error: robustness: 24 run(s) would simulate about")
    assert not list((tmp_path / "rob").iterdir())          # proved writable, nothing written
    out = gridsim("robustness", *args, cwd=tmp_path)        # from another folder than the calibration's
    assert out.returncode == 0, out.stderr
    table, meta = read_table(tmp_path / "rob", "robustness")
    assert meta["sets"] == 4 and list(table["sets"]) == [4, 4]
    service = "requests.errand.service.station_head.mean_minutes"
    assert meta["free_inputs"] == [service]          # each set has its own value of the unconstrained input
    cost, wait = table.iloc[0], table.iloc[1]
    assert (cost["holds"], cost["label"]) == (4, "robust") and cost["effect_max"] < 0
    assert (wait["holds"], wait["label"]) == (0, "fragile") and wait["effect_min"] > 0   # two heads, longer queues
    assert wait["input"] in {*KNOWN, service} and "Spearman" in wait["how"]
    effects, _ = read_table(tmp_path / "rob", "effects")
    assert len(effects) == 8 and set(effects["plausible_set"]) == {0, 1, 2, 3}
    assert "holds in 4 of 4 plausible parameter sets: ROBUST" in out.stdout
    report = (tmp_path / "rob" / "robustness.md").read_text()
    assert "| tiny_stations | two stations cost less than five | 4 of 4 | **robust** |" in report
    assert f"each with its own values of 1 input no target constrains ({service})" in report
    bad = tmp_path / "bad.toml"
    bad.write_text(CLAIMS.replace('"stations.count" = 2 }', '"stations.count" = 3 }', 1))
    out = gridsim("robustness", tmp / "res" / "calibrate-recovery", "--claims", bad, "--results", tmp_path / "x")
    assert out.returncode == 2 and out.stderr.startswith(f"error: {bad}: claims[0].point: stations.count = 3 is not")


def test_a_set_where_the_claims_kpi_is_undefined_does_not_support_it():
    """A p90 never reached in a set (too many given up) is not a set where the claim holds: 9 of 10
    judged is robust alone, not with 5 more sets where the percentile is undefined."""
    from gridsim.experiments.inputs import parse_inputs
    from gridsim.experiments.robustness import ClaimTable, _summarise
    from gridsim.scenario import load

    base = load(ROOT / "scenarios" / "validation" / "mmc.toml")
    inputs = parse_inputs({"requests.errand.service.station_head.mean_minutes": {"low": 20.0, "high": 40.0}},
                          base, "inputs")
    sets = pd.DataFrame({"requests.errand.service.station_head.mean_minutes": np.linspace(20, 40, 15)})
    d = pd.Series(np.r_[np.full(9, 5.0), -1.0], index=range(10))
    claim = ClaimTable(experiment="E", point={"x": 1}, kpi="wait_minutes.p90", direction="higher", within=0.0,
                       finding="f")
    holds = d.to_numpy() > 0
    assert _summarise("E", claim, d, holds, sets, inputs, 0.9)["label"] == "robust"
    row = _summarise("E", claim, d, holds, sets, inputs, 0.9, undefined=5)
    assert (row["label"], row["holds"], row["sets"]) == ("fragile", 9, 10)
