"""Residents as agents: how they report, what they remember, when they go round the grid."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridsim.city import build_city
from gridsim.model import GridModel, metrics
from gridsim.model.agents import Household
from gridsim.model import journey
from gridsim.model.journey import remember
from gridsim.model.requests import stream
from gridsim.model.routes import WAYS, _ways
from gridsim.model.units import capacity_minutes, layouts, vacant_places
from gridsim.model.shifts import Duty
from gridsim.scenario import ROLES, with_overrides


def run(scenario, seed=2, days=28):
    model = GridModel(scenario, rng=seed, days=days)
    model.run()
    return (model, *metrics.tables(model))


def test_a_station_next_door_draws_more_walk_ins_than_one_forty_minutes_away(meihekou):
    city = build_city(meihekou, stream(0, "city"))
    lay = layouts(meihekou, city)
    duties = {role: Duty.of(getattr(meihekou.roles, role).shifts, 7 * 1440) for role in ROLES if role != "alliance"}
    hh = np.arange(0, city.households, 7)
    at = np.full(len(hh), 2 * 1440 + 10 * 60.0)                 # Wednesday 10:00, the station open
    u = np.random.default_rng(1).random(len(hh))                # the same draws for both
    shares = []
    for minutes in (1.0, 40.0):
        near = dataclasses.replace(city, hh_nearest_station_walk_min=np.full(city.households, minutes))
        way, logsum = _ways(meihekou, near, lay, duties, hh, at, u)
        shares.append(((way == WAYS.index("walk_in")).mean(), logsum.mean()))
    assert shares[0][0] > 2 * shares[1][0] > 0
    assert shares[0][1] > shares[1][1]          # the grid as a whole is more attractive with the station near


def test_contact_chances_sum_to_one_and_full_trust_silences_nobody(meihekou):
    model = GridModel(meihekou, rng=1, days=3)
    w, t = model.world, 3 * 1440 + 600.0
    rows = np.flatnonzero(np.isfinite(w.request.a_silent[:model.world.count[journey.REQUESTS]]))[:2000]
    for r in rows.tolist():
        for trust in (0.0, 0.4, 1.0):
            model.trust[w.request.household[r]] = trust
            chances = journey.contact_chances(w, r, t, journey.choose(w, w.request.first[r], t))
            assert sum(chances) == pytest.approx(1.0) and min(chances) >= 0
            assert (chances[2] == 0.0) == (trust == 1.0)
    trusting = with_overrides(meihekou, ["residents.initial_trust=1.0", "residents.learning_rate=0"])
    _, _, req = run(trusting, days=14)
    assert not req["silent"].any() and (req["channel"] == "hotline").any()


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.lists(st.sampled_from([0.0, 0.4, 1.0]), max_size=60))
def test_trust_stays_within_bounds_whatever_happens(start, rate, felt):
    trust = start
    for x in felt:
        trust = remember(trust, x, rate)
        assert 0.0 <= trust <= 1.0


@given(st.floats(0.01, 1), st.floats(0.01, 1), st.integers(1, 30))
def test_let_down_households_end_with_less_trust_than_well_served_ones(start, rate, n):
    let_down = served = start
    for _ in range(n):
        let_down, served = remember(let_down, 0.0, rate), remember(served, 1.0, rate)
    assert let_down < served


def test_trust_lives_on_the_household_agents_and_follows_experience(meihekou):
    model, _, req = run(meihekou, days=28)
    households = model.agents_by_type[Household]
    assert households.agg("trust", np.mean) == pytest.approx(model.mean_trust)
    res = req[(req["origin"] == "resident") & (req["repeat_of"] < 0)]
    let_down = set(res.loc[res["outcome"] == "abandoned", "household"])
    served = set(res.loc[res["outcome"] == "resolved", "household"]) - let_down
    trust = model.trust
    assert trust[list(let_down)].mean() < trust[list(served)].mean()
    assert 0.0 <= trust.min() and trust.max() <= 1.0


def test_agents_are_made_when_asked_for_and_the_run_does_not_depend_on_it(meihekou):
    """Households and staff become Mesa agents only when someone asks for the model's agents; the
    staff's ids, which the visit records carry, are known before: each unit's run from its first."""
    looked, unlooked = GridModel(meihekou, rng=3, days=3), GridModel(meihekou, rng=3, days=3)
    households = looked.agents_by_type[Household]
    assert len(households) == looked.city.households
    staff = [a for kind, agents in looked._agents_by_type.items() if kind is not Household for a in agents]
    assert sorted(a.unique_id for a in staff) == list(range(1, len(staff) + 1))
    assert min(households.get("unique_id")) == len(staff) + 1
    members = np.concatenate([looked.layout[role].members for role in ROLES])
    assert all(0 <= a.unique_id - looked.first_agent[a.unit] < members[a.unit] for a in staff)
    for model in (looked, unlooked):
        model.run()
    assert not unlooked._agents_by_type                                  # nobody asked: none was made
    visits = metrics.tables(looked)[0]
    assert visits.equals(metrics.tables(unlooked)[0])                    # the visits, handlers' ids included
    by_id = {a.unique_id: a for a in staff}
    handled = visits[visits["agent"] >= 0]
    assert len(handled) > 1000
    assert all(by_id[agent].role == role for agent, role in zip(handled["agent"], handled["role"].astype(str)))


def test_repeats_come_back_from_abandoned_requests_and_count_once(meihekou):
    strained = with_overrides(meihekou, ["roles.grid_leader.per_grid=0.5", "residents.repeat_share=1.0"])
    model, _, req = run(strained, days=28)
    repeats = req[req["repeat_of"] >= 0]
    assert len(repeats) > 50
    original = req.loc[repeats["repeat_of"]]
    assert (original["outcome"] == "abandoned").all()
    assert (original["household"].to_numpy() == repeats["household"].to_numpy()).all()
    assert (original["created_minute"].to_numpy() < repeats["created_minute"].to_numpy()).all()
    census = model.datacollector.get_model_vars_dataframe().iloc[-1]
    parts = census[["resolved", "abandoned", "waiting", "in_service", "unreported"]].sum()
    assert census["created"] == parts == (req["created_minute"] <= model.horizon).sum()
    summary = metrics.summary(model, req, metrics.tables(model)[0])
    mine = req[(req["origin"] == "resident") & (req["created_minute"] >= 0)]
    assert summary["repeat_share"] == pytest.approx((mine["repeat_of"] >= 0).mean())


def test_vacancies_empty_places_for_their_period_and_cost_less(meihekou):
    cut = with_overrides(meihekou, ["roles.grid_leader.vacancies=[{from_day=2, to_day=5, share=0.2}]"])
    model = GridModel(cut, rng=1, days=8)
    model.advance(3 * 1440)
    places = model.world.unit.servers[model.units_of("grid_leader").start:model.units_of("grid_leader").stop]
    empty = int((places == 0).sum())
    assert abs(empty - 0.2 * len(places)) <= 1
    model.advance(6 * 1440)
    assert (places > 0).all()
    pay = [metrics.costs(m, None, v, 0.0, {}, metrics.busy_by_unit(m, v, 0.0))["pay_grid_leader"]
           for m in (run(meihekou, days=8)[0], run(cut, days=8)[0]) for v in [metrics.tables(m)[0]]]
    assert pay[1] == pytest.approx(pay[0] * (1 - 0.2 * 3 / 8), rel=0.01)
    duty = model.duty["grid_leader"]
    vacant = vacant_places(model.layout["grid_leader"].servers, 0.2)
    assert vacant.sum() == empty
    full = model.layout["grid_leader"].servers * duty.minutes(0, 8 * 1440)
    assert capacity_minutes(model, "grid_leader", 0, 8 * 1440) == pytest.approx(
        full - vacant * duty.minutes(2 * 1440, 5 * 1440))


def test_residents_give_up_at_their_deadline_even_where_nobody_comes_free(meihekou):
    """With every grid-leader post vacant and no cover, nobody ever takes a grid leader's queue:
    residents still give up at their deadlines, remember it and come back."""
    vacant = with_overrides(meihekou, ['roles.grid_leader.cover="own"', "residents.repeat_share=1.0",
                                       "residents.repeat_delay_hours=1", "roles.grid_leader.vacancies=[{from_day=0, to_day=30, share=1.0}]"])
    model, _, req = run(vacant, days=14)
    residents = req[req["origin"] == "resident"]
    gave_up = residents[(residents["outcome"] == "abandoned") & residents["reported_minute"].notna()]
    assert model.abandoned == len(gave_up) > 0          # each counted once, at its deadline
    back = gave_up[gave_up["ended_minute"] < model.horizon - 4 * 1440]      # (walk-ins: after a weekend)
    assert set(back.index) <= set(residents["repeat_of"])   # all who gave up early enough came back
    trust = model.trust
    assert trust[gave_up["household"].unique()].mean() < 0.85   # each let-down moves 0.95 towards 0 by 30%
