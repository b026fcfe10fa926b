"""GridModel as Mesa's own tools use it: construction, step, running, the time-centric API, batch_run."""

import mesa
import pytest

from gridsim.model import GridModel
from gridsim.model.kpis import HEADLINE
from gridsim.model.run import simulate

from ..conftest import ROOT

NEW_MESA = hasattr(mesa.Model, "run_for")          # the time-centric API: Mesa 3.5 and later


def test_data_is_collected_at_construction(mmc):
    census = GridModel(mmc, rng=1, days=12).datacollector.get_model_vars_dataframe()
    assert len(census) == 1 and census["time"].iloc[0] == 0 and census["created"].iloc[0] == 0


def test_steps_are_days_and_running_turns_false_at_the_horizon(mmc):
    model = GridModel(mmc, rng=1, days=12)
    steps = 0
    while model.running:
        model.step()
        steps += 1
    assert steps == 12 and model.now == model.horizon
    census = model.datacollector.get_model_vars_dataframe()
    assert list(census["time"]) == [day * 1440 for day in range(13)] + [model.horizon]   # the last: the KPIs
    assert census[list(HEADLINE)].iloc[:-1].isna().all().all()     # not known before the horizon
    last = census.iloc[-1]
    run = simulate(mmc, seed=1, days=12)
    assert last["requests.created"] == run.summary["requests"]["created"] > 0
    assert last["wait_minutes.p90"] == pytest.approx(run.summary["wait_minutes"]["p90"])
    model.step()                                                   # past the horizon: nothing changes
    assert len(model.datacollector.get_model_vars_dataframe()) == 14 and not model.running


def test_a_scenario_may_be_named():
    assert GridModel("mmc", rng=1, days=11).spec.name == "mmc"


def test_a_run_shorter_than_its_warmup_says_so_when_it_reaches_the_horizon():
    model = GridModel("mmc", rng=1, days=2)
    model.step()
    with pytest.raises(ValueError, match=r"days=2: must be more than the scenario's warmup_days \(10\)"):
        model.step()


@pytest.mark.skipif(not NEW_MESA, reason=f"Mesa {mesa.__version__} has no time-centric API (3.5+)")
def test_time_centric_api_counts_days(mmc):
    model = GridModel(mmc, rng=1, days=12)
    model.run_for(2)
    assert model.time == 2 and model.now == 2 * 1440 and model.running
    model.run_until(20)
    assert model.now == model.horizon and not model.running and model.result is not None


@pytest.mark.skipif(not hasattr(mesa, "batch_run"), reason=f"Mesa {mesa.__version__} has no batch_run")
def test_batch_run_over_scenarios_and_seeds_stops_at_the_horizon(mmc):
    scenarios = {"scenario": ["mmc", str(ROOT / "scenarios" / "validation" / "mmc.toml")], "days": 12}
    if NEW_MESA:                     # seeds go in batch_run's own `rng`, which it hands to the model
        rows = mesa.batch_run(GridModel, scenarios, rng=[1, 2], number_processes=1, display_progress=False)
    else:
        rows = mesa.batch_run(GridModel, {**scenarios, "rng": [1, 2]}, number_processes=1, display_progress=False)
    assert len(rows) == 4 and {r["rng"] for r in rows} == {1, 2}
    if NEW_MESA:                     # it reads the last row collected: the one with the KPIs
        created = {r["rng"]: r["requests.created"] for r in rows}
        assert created == {seed: simulate(mmc, seed=seed, days=12).summary["requests"]["created"]
                           for seed in (1, 2)}
        assert all(r["wait_minutes.p90"] is not None for r in rows)
    else:   # Mesa 3.3 reads the row of step N - 1 (mesa#2514): the census a day before the horizon
        assert all(r["Step"] == 11 and r["time"] == 11 * 1440 and r["created"] > 0 for r in rows)
