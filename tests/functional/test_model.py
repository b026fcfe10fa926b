"""The model's promises: conservation, determinism, common random numbers, grids, Little's law."""

import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gridsim.analysis.queueing import MMc
from gridsim.city import build_city
from gridsim.model import GridModel
from gridsim.model.requests import stream
from gridsim.model.run import results, simulate
from gridsim.scenario import with_overrides

from ..conftest import ROOT


def test_conservation_holds_at_every_sample(meihekou):
    model = GridModel(meihekou, rng=2, days=10, sample_minutes=180)
    model.run()
    census = model.datacollector.get_model_vars_dataframe()
    assert len(census) == 1 + 10 * 8                     # at construction, then every 3 hours
    parts = census[["resolved", "abandoned", "waiting", "in_service", "unreported"]].sum(axis=1)
    assert (census["created"] == parts).all()
    assert census["resolved"].iloc[-1] > 0 and census["waiting"].max() > 0


def test_outcomes_partition_the_requests(week_run):
    r = week_run.summary["all_requests"]
    req = week_run.tables["requests"]
    assert r["created"] == r["resolved"] + r["open"] + r["abandoned"] == (req["created_minute"] >= 0).sum()
    assert req["outcome"].value_counts().sum() == len(req)


def test_the_tables_are_as_declared_and_the_odd_lists_them(week_run, tmp_path):
    """The output tables' columns and types, in memory and in the Parquet files `--out` writes, are
    records.py's declaration, and docs/ODD.md section 10.1 carries the table made from it."""
    from gridsim.model import records
    week_run.save(tmp_path / "out")
    for name, columns in (("requests", records.REQUESTS), ("visits", records.VISITS)):
        for table in (week_run.tables[name], pd.read_parquet(tmp_path / "out" / f"{name}.parquet")):
            assert list(table.columns) == [c.name for c in columns]
            assert [str(table[c.name].dtype) if c.dtype != "category" else "category" for c in columns] == \
                [c.dtype for c in columns]
    assert records.odd_table() in (ROOT / "docs" / "ODD.md").read_text()


def test_the_loop_and_the_records_agree(mmc):
    """The event loop's own counters match what the records say happened."""
    from gridsim.model import metrics
    impatient = with_overrides(mmc, ["requests.errand.patience_hours=0.3"])
    model = GridModel(impatient, rng=4, days=15)
    model.run()
    visits, requests = metrics.tables(model)
    outcome = requests["outcome"].value_counts()
    assert model.resolved == outcome["resolved"] > 0
    # the loop counts a give-up when it meets it; the records also count those still queued past their deadline
    assert 0 < model.abandoned <= outcome["abandoned"]


def test_same_seed_same_numbers_other_seed_other_numbers(mmc):
    a = simulate(mmc, seed=5, days=20).summary
    b = simulate(mmc, seed=5, days=20).summary
    c = simulate(mmc, seed=6, days=20).summary
    assert a == b
    assert a["wait_minutes"] != c["wait_minutes"]


@pytest.mark.parametrize("per_grid, low, high", [(350, 335, 347), (700, 165, 177), (200, 590, 605)])
def test_grids_are_redrawn_from_the_standard(meihekou, per_grid, low, high):
    s = with_overrides(meihekou, [f"grids.households_per_grid={per_grid}"])
    city = build_city(s, stream(0, "city"))
    assert low <= city.grids <= high
    sizes = np.bincount(city.hh_grid)
    assert abs(np.median(sizes) - per_grid) / per_grid < 0.1
    per_station = np.bincount(city.grid_station, minlength=city.stations)    # stations follow the grids
    assert per_station.min() >= 1 and city.stations == s.stations.count == round(s.grid_count / 3.41)
    assert 3 <= np.median(per_station) <= 4


def test_2018_city_has_162_grids_and_no_stations():
    from gridsim.scenario import load
    from ..conftest import SCENARIOS
    s = load(SCENARIOS / "meihekou_2018.toml")
    city = build_city(s, stream(0, "city"))
    assert 158 <= city.grids <= 166 and city.stations == 0
    assert city.walk15_share(15) == 0.0


def test_walk15_coverage_is_a_share(week_run, meihekou):
    share = week_run.summary["walk15_coverage_share"]
    assert 0.5 < share <= 1.0
    few = with_overrides(meihekou, ["stations.count=40"])
    assert build_city(few, stream(1, "city")).walk15_share(15) < share


def test_littles_law_by_type(week_run):
    """Time-average open requests = arrival rate x mean time in system, per type, over the run
    (each request counted for its time inside [0, horizon], so problems that arose before the
    run and those still open at the end count for the part of their stay inside it)."""
    req, ts = week_run.tables["requests"], week_run.timeseries
    horizon = ts["hour"].iloc[-1] * 60
    for name in req["type"].cat.categories:
        mine = req[req["type"] == name]
        if len(mine) < 200:
            continue
        end = mine["ended_minute"].fillna(horizon).clip(upper=horizon)
        lam = len(mine) / horizon
        w = (end - mine["created_minute"].clip(lower=0)).mean()
        open_ = ts[f"open_{name}"].to_numpy()
        L = open_.mean()  # sampled at the end of each hour
        assert abs(L - lam * w) / (lam * w) < 0.05, name


def test_mmc_mean_wait_agrees_with_erlang_c(mmc):
    """Pooled over replicates, the 95% CI of the mean wait covers the Erlang C value."""
    waits = [simulate(mmc, seed=seed, days=120).summary["wait_minutes"]["mean"] for seed in range(6)]
    theory = MMc(arrival_rate=6 / 60, service_rate=1 / 30, servers=4).mean_wait
    mean, sem = np.mean(waits), stats.sem(waits)
    half = stats.t.ppf(0.975, len(waits) - 1) * sem
    assert mean - half <= theory <= mean + half, (waits, theory)


def test_simulate_lets_the_records_go_and_gives_the_outputs_of_a_model_that_keeps_them(meihekou, monkeypatch):
    """`simulate` drops its model's records once their tables are made (a city-year's 250 MB at the
    outputs' peak): the outputs are those of the same run whose model keeps them."""
    kept = GridModel(meihekou, rng=3, days=21)
    kept.run()
    whole = results(kept)
    assert kept.world.visit is not None
    models = []
    release = GridModel.release_records
    monkeypatch.setattr(GridModel, "release_records", lambda self: (models.append(self), release(self)))
    released = simulate(meihekou, seed=3, days=21)
    assert len(models) == 1 and models[0].world.visit is None and models[0].world.request is None
    assert released.summary == whole.summary
    for name, table in whole.tables.items():
        pd.testing.assert_frame_equal(released.tables[name], table, check_exact=True)


def test_the_build_holds_one_windows_plan_at_a_time(meihekou, monkeypatch):
    """The build never holds the whole plan: each window's is made once the one before has gone
    entirely, and its arrays of visits are gone by the time its request records are written; once
    built, none of any plan's arrays is left."""
    from gridsim.model import model as built, records, requests
    monkeypatch.setattr(requests, "WINDOW_DAYS", 2.0)
    plans: list[dict] = []
    plan, written = built.plan, records.written

    def alive(refs: dict) -> set:
        return {name for name, r in refs.items() if r() is not None}

    def planned(*a):
        assert not any(alive(refs) for refs in plans)
        p = plan(*a)
        plans.append({name: weakref.ref(v) for name, v in vars(p).items() if isinstance(v, np.ndarray)})
        return p

    def recorded(kind, *a, **values):
        if type(kind).__name__ == "Requests" and plans:        # (not the allocation before the first)
            assert not alive(plans[-1]) & {"request", "stage", "pool", "duration", "next", "likely_pool",
                                            "likely_duration"}
        return written(kind, *a, **values)
    monkeypatch.setattr(built, "plan", planned)
    monkeypatch.setattr(records, "written", recorded)
    model = GridModel(meihekou, rng=3, days=7)
    assert len(plans) >= 4 and not any(alive(refs) for refs in plans)
    assert model.world.visit.request[0] >= 0


def test_released_records_go_while_the_tables_are_made(meihekou, monkeypatch):
    """With `release`, nothing holds a record's field past its last reading: when the requests' table
    is begun every visit field is gone, and every request field but those that table reads (so a
    city-year's outputs peak lower: `benchmarks/memory.py`)."""
    from gridsim.model import metrics
    model = GridModel(meihekou, rng=3, days=21)
    model.run()
    visit, request = model.world.visit, model.world.request
    refs = {("visit", name): weakref.ref(a) for name, a in zip(visit._fields, visit)}
    refs |= {("request", name): weakref.ref(a) for name, a in zip(request._fields, request)}
    del visit, request
    alive = []
    make = metrics._requests
    monkeypatch.setattr(metrics, "_requests", lambda *a: (alive.extend(k for k, r in refs.items() if r() is not None), make(*a))[1])
    metrics.tables(model, release=True)
    assert sorted(alive) == sorted(("request", name) for name in metrics.TABLES_READ_REQUEST
                                   if name not in ("first", "last", "lapse"))


def test_models_do_not_leak(mmc):
    refs = []
    for seed in range(3):
        model = GridModel(mmc, rng=seed, days=2)
        model.run()
        refs.append(weakref.ref(model))
        del model
    gc.collect()
    assert all(r() is None for r in refs)


def test_a_build_frees_the_models_let_go_before_it(mmc):
    """A model is in a reference cycle (Mesa's step), so only the collector frees it: the next
    build collects while an earlier one is alive, and a sweep's worker never holds two."""
    gc.collect()
    earlier = GridModel(mmc, rng=0, days=2)
    earlier.run()
    was = weakref.ref(earlier)
    del earlier
    assert was() is not None            # (the cycle: freed by the collector alone)
    GridModel(mmc, rng=1, days=2)
    assert was() is None


def test_saturated_units_are_flagged(mmc):
    """A station at 95% load is reported as saturated; the validation case at 75% is not."""
    calm = simulate(mmc, seed=1, days=30).summary
    busy = simulate(with_overrides(mmc, ["requests.errand.rate_per_household_year=66.5"]), seed=1, days=30).summary
    assert calm["saturated_units"]["station_head"] == 0
    assert busy["saturated_units"]["station_head"] == 1
    assert busy["utilisation"]["station_head"] > 0.9
