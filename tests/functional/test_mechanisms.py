"""The model's mechanisms: each lever reaches residents the way a grid worker would recognise it."""

import gc

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gridsim.analysis.compare import mean_ci
from gridsim.model import GridModel, metrics
from gridsim.model.run import simulate, summarised
from gridsim.scenario import ScenarioError, with_overrides
from gridsim.scenario.schema import ALWAYS, ROLES, Costs


def records(scenario, seed=1, days=21):
    model = GridModel(scenario, rng=seed, days=days)
    model.run()
    return (model, *metrics.tables(model))


def test_handlers_start_only_while_on_duty(meihekou):
    model, visits, _ = records(meihekou, days=14)
    started = visits.dropna(subset=["start_minute"])
    for role, group in started.groupby("role", observed=True):
        if role == "alliance":
            continue
        start = group["start_minute"].to_numpy()
        assert np.array_equal(model.duty[role].next_on(start), start), role


def test_grid_leaders_own_their_grids_so_bigger_grids_wait_longer(meihekou):
    """At the same grid-leader hours, 737 households per grid instead of 350 lengthens the wait of
    residents whose first handler is a grid leader (paired over replicates, common random numbers)."""
    def gl_first_wait(per_grid, seed):
        s = with_overrides(meihekou, [f"grids.households_per_grid={per_grid}", "run.warmup_days=7"])
        _, visits, req = records(s, seed=seed, days=21)
        first = visits[(visits["stage"] == 0) & (visits["role"] == "grid_leader")]
        first = first[(req["origin"].to_numpy()[first["request"]] == "resident")
                      & (req["created_minute"].to_numpy()[first["request"]] >= 7 * 1440)]
        return float((first["start_minute"] - first["queued_minute"]).mean())
    diffs = [gl_first_wait(737, seed) - gl_first_wait(350, seed) for seed in range(3)]
    mean, half = mean_ci(diffs)
    assert mean - half > 0, diffs


def test_night_safety_incidents_go_to_110_and_are_rarely_abandoned(week_run):
    req, vis = week_run.tables["requests"], week_run.tables["visits"]
    safety = req[(req["type"] == "safety") & req["reported_minute"].notna()]
    hour = (safety["reported_minute"] % 1440) / 60
    night = safety[(hour < 6) | (hour >= 22)]
    first = vis[(vis["stage"] == 0)].set_index("request")["role"]
    assert len(night) > 50
    assert (first.loc[night.index] == "police110").all()
    assert week_run.summary["by_type"]["safety"]["abandoned_share"] < 0.02


def test_shorter_patience_never_improves_the_reported_p90(meihekou):
    """Censored percentiles: losing more requests cannot look like faster resolution (taken over the
    resolved alone, as before, the p90 would improve)."""
    def dispute(patience):
        s = with_overrides(meihekou, [f"requests.dispute.patience_hours={patience}", "run.warmup_days=7"])
        r = simulate(s, seed=2, days=28)
        req = r.tables["requests"]
        req = req[(req["type"] == "dispute") & (req["created_minute"] >= 7 * 1440)]
        done = req[req["outcome"] == "resolved"]
        resolved_only = np.percentile((done["ended_minute"] - done["created_minute"]) / 60, 90)
        return r.summary["by_type"]["dispute"]["resolution_hours"]["p90"], resolved_only
    (patient, patient_old), (impatient, impatient_old) = dispute(72.0), dispute(4.0)
    assert impatient is None or impatient >= patient
    assert impatient_old < patient_old


def test_home_visits_find_problems_before_residents_report_them(meihekou):
    def delay(rate):
        s = with_overrides(meihekou, [f"requests.visit.rate_per_household_year={rate}", "run.warmup_days=7"])
        r = simulate(s, seed=4, days=28)
        req = r.tables["requests"]
        req = req[(req["origin"] == "resident") & (req["created_minute"] >= 7 * 1440)]
        findable = req["type"].isin([t for t, rt in s.requests.items() if rt.visit_finds != "nothing"])
        return float((req["reported_minute"] - req["created_minute"])[findable].mean()), r.summary
    with_visits, summary = delay(4.0)
    without, summary_off = delay(0.0)
    assert without > with_visits
    assert summary["channel_share"]["visit"] > 0.02 and summary_off["channel_share"]["visit"] == 0


def test_residents_call_12345_far_more_when_the_office_is_closed(meihekou):
    """The upper level of the channel choice: 12345 is chosen much more often when the first stage's
    handler is off duty; a call always comes before the grid's first stage."""
    model, vis, req = records(meihekou, seed=1, days=14)
    grid = vis[vis["stage"] >= 0].drop_duplicates("request").set_index("request")
    came = req[req["channel"].isin(["walk_in", "message", "hotline"])]
    came = came[came.index.isin(grid.index)]
    at = came["reported_minute"].to_numpy()
    role = grid.loc[came.index, "role"].astype(str).to_numpy()
    closed = np.array([model.duty[r].next_on(np.array([t]))[0] > t for r, t in zip(role, at)])
    called = (came["channel"] == "hotline").to_numpy()
    assert called[closed].mean() > 3 * called[~closed].mean() > 0
    calls = vis[vis["role"] == "hotline"]
    assert (calls["stage"] == -1).all() and calls["request"].isin(req.index[req["channel"] == "hotline"]).all()


def test_a_round_the_clock_post_costs_what_it_costs(meihekou):
    assert Costs(full_time_hours_per_week=40).full_time_equivalents(ALWAYS) == pytest.approx(4.2)
    office = meihekou.roles.grid_leader.shifts
    assert meihekou.costs.paid_hours_per_week(office) == pytest.approx(40.0)          # no premium hours
    rota = with_overrides(meihekou, ["roles.police.shifts=[{days=[0,1,2,3,4,5,6], start_hour=0, end_hour=24}]"])
    c = meihekou.costs
    base = simulate(meihekou, seed=1, days=7).summary["cost_breakdown"]["pay_police"]
    round_the_clock = simulate(rota, seed=1, days=7).summary["cost_breakdown"]["pay_police"]
    weighted = 168 + 7 * 4 * c.evening_premium + 7 * 8 * c.night_premium + 48 * c.weekend_premium
    assert round_the_clock == pytest.approx(100 * 48000 * weighted / 40)
    assert round_the_clock > 2.4 * base


def test_cover_rules_decide_who_takes_a_grid_leaders_requests(meihekou):
    def served_elsewhere(cover):
        s = with_overrides(meihekou, [f"roles.grid_leader.cover='{cover}'"])
        model, visits, req = records(s, seed=5, days=21)
        gl = visits[(visits["role"] == "grid_leader") & visits["start_minute"].notna()]
        own = model.layout["grid_leader"].hh_unit[req["household"].to_numpy()[gl["request"]]]
        moved = gl[gl["unit"].to_numpy() != own]
        return moved, req, model
    moved, _, _ = served_elsewhere("own")
    assert moved.empty
    moved, req, model = served_elsewhere("after")
    assert len(moved) > 20
    assert (req["origin"].to_numpy()[moved["request"]] == "resident").all()        # routine visits never
    waited = moved["start_minute"] - moved["queued_minute"]
    assert (waited >= model.world.rules.cover_after - 1e-6).all()


def test_overloaded_units_are_named_before_the_run_or_refused(meihekou):
    big = with_overrides(meihekou, ["grids.households_per_grid=737"])
    lines = []
    simulate(big, seed=1, days=2, warn=lines.append)
    assert len(lines) == 1 and lines[0].startswith("grid_leader:") and "overloaded (planned work at or above" in lines[0]
    strict = with_overrides(big, ["run.refuse_overloaded=true"])
    with pytest.raises(ScenarioError, match="roles.grid_leader: .*run.refuse_overloaded is true"):
        GridModel(strict, rng=1, days=2)
    assert gc.isenabled()       # the build pauses the garbage collector, and gives it back even when it fails
    # a run whose KPIs do not read the check leaves it out, but still refuses where the scenario says so
    assert GridModel(big, rng=1, days=2, check_load=False).overloaded is None
    with pytest.raises(ScenarioError, match="run.refuse_overloaded is true"):
        GridModel(strict, rng=1, days=2, check_load=False)
    two_days = with_overrides(big, ["run.days=2", "run.warmup_days=1"])
    assert summarised(two_days, seed=1, only=["overloaded_units.grid_leader"])["overloaded_units"]["grid_leader"] > 0


def test_kaplan_meier_agrees_with_scipy_and_never_resolves_the_abandoned():
    rng = np.random.default_rng(0)
    duration = rng.exponential(10.0, 400).round(1)
    observed = rng.random(400) < 0.7
    _, times, share = metrics.kaplan_meier(duration, observed)
    reference = stats.ecdf(stats.CensoredData(uncensored=duration[observed], right=duration[~observed]))
    assert np.allclose(share, reference.cdf.evaluate(times))
    lost = np.r_[duration, np.full(100, np.inf)]
    _, _, share_lost = metrics.kaplan_meier(lost, np.r_[observed, np.zeros(100, dtype=bool)])
    assert share_lost.max() < share.max() and share_lost.max() <= 0.8 + 1e-9
    groups = np.r_[np.zeros(400, dtype=int), np.ones(400, dtype=int), np.full(50, -1)]   # -1: left out
    clock = metrics.Censored(np.r_[duration, duration * 2, np.zeros(50)], np.r_[observed, observed, np.ones(50, bool)])
    both = clock.quantiles(groups, 2)
    assert np.allclose(both[1], 2 * both[0])
    alone = metrics.Censored(duration, observed).quantiles(np.zeros(400, dtype=int), 1)
    assert np.array_equal(both[0], alone[0])


def test_where_the_time_goes_adds_up(week_run):
    req = week_run.tables["requests"]
    res = req[(req["origin"] == "resident") & (req["outcome"] == "resolved") & (req["created_minute"] >= 0)]
    s = week_run.summary
    total = sum(s["time_hours"].values())
    assert total == pytest.approx(((res["ended_minute"] - res["created_minute"]) / 60).mean(), rel=1e-6)
    assert s["time_hours"]["waiting_off_duty"] > 0 and s["time_hours"]["reporting"] > 0


def test_staffing_only_changes_keep_common_random_numbers(meihekou):
    """Staffing changes leave what residents bring identical: the same problems, households, times
    and draws; only who serves them, and when, differs."""
    from gridsim.city import build_city
    from gridsim.model.requests import draw_requests, stream
    more = with_overrides(meihekou, ["roles.grid_leader.cover='station'", "roles.police.per_station=2",
                                     "roles.volunteer.count=1000", "roles.grid_leader.min_per_station=4"])
    a, b = (draw_requests(s, build_city(s, stream(3, "city")), 3, 5 * 1440) for s in (meihekou, more))
    for field in ("type", "household", "created", "contact"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    wa, wb = next(a.windows()), next(b.windows())
    assert np.array_equal(wa.u_contact, wb.u_contact, equal_nan=True)
    for t in range(len(a.types)):
        da, db = wa.of_type(t), wb.of_type(t)
        assert np.array_equal(da.rows, db.rows) and np.array_equal(da.e_patience, db.e_patience)
        for k in range(len(meihekou.requests[a.types[t]].stages)):
            assert np.array_equal(da.at_stage("u_service", k), db.at_stage("u_service", k))
            assert np.array_equal(da.at_stage("u_pass", k), db.at_stage("u_pass", k))
    ma, mb = GridModel(meihekou, rng=3, days=5), GridModel(more, rng=3, days=5)
    assert mb.layout["grid_leader"].members.sum() > ma.layout["grid_leader"].members.sum()
    assert set(ROLES) == set(ma.layout) == set(mb.layout)


def test_behaviour_diverges_only_after_households_live_through_different_things(meihekou):
    """A staffing cut changes what households experience, hence their trust, hence later choices
    (12345, silence). Every resident who comes forward before their household has had any
    experience in either run makes the same choice in both; later ones may not."""
    doubtful = with_overrides(meihekou, ["residents.initial_trust=0.6"])     # choices more sensitive to trust
    cut = with_overrides(doubtful, ["roles.grid_leader.per_grid=0.3"])
    runs = [records(s, seed=6, days=21) for s in (doubtful, cut)]
    reqs = [req for _, _, req in runs]
    res = [r[r["origin"] == "resident"] for r in reqs]
    base = res[0].index.intersection(res[1].index)
    base = base[(res[0].loc[base, "repeat_of"] < 0).to_numpy()]
    lived = []
    for r in res:
        done = r.dropna(subset=["ended_minute"])
        lived.append(done.groupby("household")["ended_minute"].min())
    first_experience = pd.concat(lived, axis=1).min(axis=1)
    came = res[0].loc[base]
    before = came["reported_minute"].to_numpy() < came["household"].map(first_experience).fillna(np.inf).to_numpy()
    # the resident's own decision (home visits, a mechanism, may find a problem first in one run only)
    decision = [np.where(r.loc[base, "silent"], "silent", np.where(r.loc[base, "channel"] == "hotline", "hotline",
                                                                   "grid")) for r in res]
    found = (res[0].loc[base, "channel"] == "visit").to_numpy() | (res[1].loc[base, "channel"] == "visit").to_numpy()
    before &= ~found
    assert before.sum() > 1000
    assert (decision[0][before] == decision[1][before]).all()
    after = ~before & ~found
    assert (decision[0][after] != decision[1][after]).any()
