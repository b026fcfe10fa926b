"""A city run district by district (docs/ODD.md, section 3.6): the districts share the city out, their
summaries add up to the city's exactly (counts, shares, Kaplan-Meier over every district's requests),
the executor changes nothing, and a split run agrees with a whole one within their CIs."""

import concurrent.futures as cf
import json

import numpy as np
import pytest
from scipy import stats

from gridsim.city import build_city
from gridsim.experiments.districts import by_district, district_scenarios, district_seed
from gridsim.model import GridModel, metrics
from gridsim.model.requests import stream
from gridsim.scenario import load, staff_counts, with_overrides

from ..conftest import SCENARIOS, gridsim

SMALL = SCENARIOS.parent / "tests" / "data" / "small_city.toml"
SPLIT = ["city.districts=2", "city.sub_districts=2", "run.days=6"]


class Here:
    """An executor that runs each task at once, in this process."""

    def submit(self, fn, *args):
        future = cf.Future()
        future.set_result(fn(*args))
        return future


def test_the_districts_share_out_the_city(meihekou):
    scenario = with_overrides(meihekou, ["city.districts=3"])
    city = build_city(scenario, stream(0, "city"))
    parts = district_scenarios(scenario, city)
    cities = [city.district(d) for d in range(3)]
    assert sum(d.city.population for d in parts) == scenario.city.population
    assert sum(c.households for c in cities) == city.households and sum(c.grids for c in cities) == city.grids
    assert sum(c.stations for c in cities) == city.stations == sum(d.stations.count for d in parts)
    assert sum(d.city.buildings for d in parts) == scenario.city.buildings
    for role in ("community_worker", "volunteer", "alliance", "hotline"):
        assert sum(staff_counts(d)[role] for d in parts) == staff_counts(scenario)[role], role
    for d, c in zip(parts, cities):       # each district's own part of the city, as drawn
        assert d.city.districts == 1 and d.city.compounds == len(c.compound_mode)
        assert (c.grid_station < c.stations).all() and (c.hh_building < len(c.building_compound)).all()
        assert set(c.community_sub_district.tolist()) == set(range(d.city.sub_districts))


def test_a_split_run_adds_up_its_districts_exactly():
    city = with_overrides(load(SMALL), SPLIT)
    summary, parts = by_district(city, 4, Here())
    drawn, runs = build_city(city, stream(4, "city")), []
    for k, d in enumerate(district_scenarios(city, drawn)):
        model = GridModel(d, rng=district_seed(4, k), city=drawn.district(k))
        model.run()
        runs.append((model, *metrics.tables(model)))
    assert [p["requests"] for p in parts] == [metrics.summary(m, r, v)["requests"] for m, v, r in runs]
    for key in ("created", "resolved", "abandoned", "open"):
        assert summary["requests"][key] == sum(p["requests"][key] for p in parts)
    assert summary["cost_yuan_per_year"] == pytest.approx(sum(p["cost_yuan_per_year"] for p in parts))
    # the p50 of resolution: Kaplan-Meier over both districts' residents' requests together
    hours, seen = [], []
    for model, _, requests in runs:
        measured = metrics.residents_measured(model, requests) & requests["reported_minute"].notna().to_numpy()
        h, o = metrics.resolution_hours(requests["outcome"].cat.codes.to_numpy(), requests["reported_minute"].to_numpy(),
                                        requests["ended_minute"].to_numpy(), model.horizon)
        hours.append(h[measured])
        seen.append(o[measured])
    _, t, share = metrics.kaplan_meier(np.concatenate(hours), np.concatenate(seen))
    assert summary["resolution_hours"]["p50"] == t[np.searchsorted(share, 0.5 - 1e-12)]
    assert min(p["resolution_hours"]["p50"] for p in parts) <= summary["resolution_hours"]["p50"] \
        <= max(p["resolution_hours"]["p50"] for p in parts)
    met = [p["sla_met_share"] for p in parts]
    assert min(met) <= summary["sla_met_share"] <= max(met)


def test_a_districts_tallies_travel_unsorted_and_a_summary_lets_its_sorted_clocks_go():
    """What a district's worker sends back holds its clocks' columns, not their sorted forms (a
    third of the size); its summary, finished twice (sorting again), is the same, and the same as
    the district's own run's."""
    city = with_overrides(load(SMALL), SPLIT)
    drawn = build_city(city, stream(4, "city"))
    model = GridModel(district_scenarios(city, drawn)[0], rng=district_seed(4, 0), city=drawn.district(0))
    model.run()
    visits, requests = metrics.tables(model)
    sent = metrics.tally(model, requests, visits).compact()
    assert all(clock._sorted is None for clock in sent.pooled.clocks)
    first = metrics.finish(sent)
    assert all(clock._sorted is None for clock in sent.pooled.clocks)
    assert json.dumps(metrics.finish(sent)) == json.dumps(first)
    assert json.dumps(first) == json.dumps(metrics.summary(model, requests, visits))      # as a whole run's


def test_the_executor_changes_nothing_and_bad_requests_are_one_line():
    args = ["run", SMALL, *[a for s in SPLIT[:2] for a in ("--set", s)], "--days", "3", "--json", "--workers", "2"]
    local, dask = gridsim(*args, "--by-district"), gridsim(*args, "--dask", "local")
    assert local.returncode == dask.returncode == 0, local.stderr + dask.stderr
    assert json.loads(local.stdout) == json.loads(dask.stdout)
    for extra, text in ((["--by-district"], "has one district"), (["--set", "city.districts=2", "--set",
                        "city.sub_districts=2", "--by-district", "--out", "somewhere"], "--out: a run by district")):
        out = gridsim("run", SMALL, "--days", "2", *extra)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and text in lines[0]


@pytest.mark.slow
def test_a_split_and_a_whole_run_of_meihekou_agree():
    """Five replicates of 35 days (7 of warm-up), Meihekou whole and as two districts: every KPI's
    95% confidence intervals overlap."""
    city = with_overrides(load(SCENARIOS / "meihekou_2020.toml"), ["city.districts=2", "run.days=35",
                                                                    "run.warmup_days=7"])
    kpis = ("sla_met_share", "resolution_hours.p50", "resolution_hours.p90", "wait_minutes.mean",
            "wait_minutes.p90", "abandoned_share", "hotline_share", "time_to_know_hours.mean",
            "utilisation.grid_leader", "utilisation.station_head", "utilisation.hotline", "cost_yuan_per_year",
            "requests.created")
    whole, split = [], []
    for seed in range(5):
        model = GridModel(city, rng=seed)
        model.run()
        visits, requests = metrics.tables(model)
        whole.append(metrics.summary(model, requests, visits))
        split.append(by_district(city, seed, Here())[0])

    def interval(values):
        values = np.asarray(values, dtype=float)
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        return values.mean() - half, values.mean() + half

    for name in kpis:
        (a_lo, a_hi), (b_lo, b_hi) = interval([_get(s, name) for s in whole]), interval([_get(s, name) for s in split])
        assert a_lo <= b_hi and b_lo <= a_hi, (name, (a_lo, a_hi), (b_lo, b_hi))


def _get(summary: dict, dotted: str):
    value = summary
    for part in dotted.split("."):
        value = value[part]
    return value


def test_a_city_run_by_district_is_sized_as_its_districts():
    from gridsim.experiments import limits
    megacity = load(SCENARIOS / "megacity.toml")
    with pytest.raises(limits.TooLarge, match="one run would need about"):
        limits.check("whole", limits.estimate([megacity], 1), memory=24e9)
    limits.check("by district", limits.in_parts(megacity, megacity.city.districts, 2), memory=24e9)
    with pytest.raises(limits.TooLarge, match="or use fewer --workers"):
        limits.check("by district", limits.in_parts(megacity, megacity.city.districts, 16), memory=24e9)


def test_a_city_too_large_to_run_whole_is_told_to_run_by_district(capsys, monkeypatch):
    from gridsim.cli import main
    from gridsim.experiments import limits
    monkeypatch.setattr(limits, "physical_memory", lambda: 24e9)
    assert main(["run", "megacity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "run its 16 districts one by one (--by-district)" in err[0]
