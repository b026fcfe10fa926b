"""What the dashboard computes, without a browser: levers to overrides, paired cards, the export
that `gridsim sweep` and `gridsim optimise` take."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.dash import levers as L
from gridsim.experiments import optimise as opt
from gridsim.experiments.spec import load_spec
from gridsim.scenario import load, with_overrides

from ..conftest import SCENARIOS


def test_levers_at_the_scenario_change_nothing_and_moves_are_overrides():
    base = load(SCENARIOS / "meihekou_2020.toml")
    here = L.Levers.of(base)
    assert here.overrides(base) == {}
    moved = L.Levers(**{**vars(here), "grid_leaders": "3", "cover": "station", "police_rota": "round the clock",
                        "subsidy_yuan": 10000.0})
    over = moved.overrides(base)
    assert over["roles.grid_leader.per_grid"] == 0.0 and over["roles.grid_leader.min_per_station"] == 3
    assert over["roles.grid_leader.cover"] == "station" and over["roles.building_leader.subsidy_yuan"] == 10000.0
    assert over["roles.police.shifts"][0]["end_hour"] == 24.0
    assert L.describe(over).startswith("3 grid leaders per station, cover station, police round the clock")
    duty = L.Levers(**{**vars(here), "duty": "on call by phone"}).overrides(base)
    assert duty == {"roles.duty_leader.per_station": 1, "roles.duty_leader.where": "phone",
                    "roles.duty_leader.paid_as": "overtime"}
    assert L.describe(duty) == "duty: on call by phone"
    assert L.Levers.of(with_overrides(base, list(duty.items()))).duty == "on call by phone"


def test_export_is_an_experiment_sweep_and_optimise_take(tmp_path):
    base = load(SCENARIOS / "meihekou_2020.toml")
    options = {"baseline": {}, "gl4": {"roles.grid_leader.per_grid": 0.0, "roles.grid_leader.min_per_station": 4},
               "rota": {"roles.police.shifts": L.POLICE_ROTAS["round the clock"]}}
    targets = ["by_type.care.sla_met_share >= 0.9", "visit_completion_share >= 0.95"]
    short = L.export_spec("meihekou_2020", base, options, 28, 7, 3, targets)       # no visit falls due twice
    assert L.export_problem(short) == ("objective.constraints[1]: 'visit_completion_share': a run of 28 days after "
                                       "7 of warm-up sees no routine visit's next one fall due (the most frequent "
                                       "are every 30.4 days): run more than 37 days")
    text = L.export_spec("meihekou_2020", base, options, 42, 7, 3, targets)
    assert L.export_problem(text) is None
    path = tmp_path / "exported.toml"
    path.write_text(text)
    spec = load_spec(path)
    assert [p["option"] for p in spec.points()] == ["baseline", "gl4", "rota"]
    assert dict(spec.baseline) == {"option": "baseline"} and spec.replicates == 3 and spec.days == 42
    assert spec.scenario_at({"option": "baseline"}).roles.grid_leader.per_grid == base.roles.grid_leader.per_grid
    assert spec.scenario_at({"option": "gl4"}).roles.grid_leader.min_per_station == 4
    assert len(spec.objective.constraints) == 2
    assert opt.check_size(spec) == 3           # optimise takes it: the options are its choice


def test_cards_pair_replicates_with_the_baseline():
    def outcome(name, over, p90):
        runs = pd.DataFrame({"replicate": [0, 1, 2], "resolution_hours.p90": p90, "cost_yuan_per_year": [5.0] * 3})
        return L.Outcome(name, L.describe(over), over, runs)
    base = outcome("a", {}, [60.0, 70.0, 80.0])
    better = outcome("b", {"stations.count": 120}, [59.0, 69.1, 78.9])     # 1 h less in every replicate
    cards = {c.kpi: c for c in L.cards(better, base)}
    assert cards["resolution_hours.p90"].verdict == "better"
    assert cards["resolution_hours.p90"].diff.startswith("-1.00 h")
    assert cards["cost_yuan_per_year"].verdict == "same"
    assert all(c.diff == "" for c in L.cards(base, base))


def test_an_option_is_checked_across_the_inputs_the_scenario_leaves_free(tmp_path):
    mmc = SCENARIOS / "validation" / "mmc.toml"
    free = tmp_path / "free.toml"
    free.write_text(f'extends = "{mmc}"\n[requests.errand]\nwait_target_minutes = 10.0\n'
                    '[uncertain."requests.errand.service.station_head.mean_minutes"]\nlow = 20.0\nhigh = 38.0\n')
    assert [i.name for i in L.free_inputs(str(free))] == ["requests.errand.service.station_head.mean_minutes"]
    assert L.free_inputs(str(mmc)) == ()
    said = L.across_assumptions(str(free), {"roles.station_head.per_station": 5}, 8, 2,
                                ["wait_within_target_share >= 0.8"], tmp_path / "ws", 2, points=6)
    assert "meets the target" in said and "of 6 points" in said        # 5 servers: wherever service is short


def test_grid_cells_are_areas_that_hold_their_own_centre_and_tile_the_map():
    from matplotlib.path import Path as Polygon

    from gridsim.dash.levers import grid_cells
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 7, size=(60, 2))
    cells = grid_cells(centres)
    assert len(cells) == 60 and all(len(c) >= 3 for c in cells)
    assert all(Polygon(c).contains_point(p) for c, p in zip(cells, centres))
    area = sum(0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1))) for c in cells)
    (x0, y0), (x1, y1) = centres.min(axis=0), centres.max(axis=0)
    pad = 0.04 * max(x1 - x0, y1 - y0)
    assert area == pytest.approx((x1 - x0 + 2 * pad) * (y1 - y0 + 2 * pad), rel=1e-6)


def test_an_exported_option_keeps_its_whole_name():
    from gridsim.dash.levers import option_key
    long = "5 grid leaders per station, cover station, 2,000 volunteers, subsidy 10,000 yuan"
    assert option_key(long, set()) == "5_grid_leaders_per_station_cover_station_2_000_volunteers_subsidy_10_000_yuan"
    assert option_key(long, {option_key(long, set())}).endswith("_2")
