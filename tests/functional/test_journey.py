"""The journey's properties on tiny cities (hypothesis): whatever the seed and the levers, requests
are conserved at every daily census, nobody starts a visit off duty, and no unit serves more at
once than its places."""

from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridsim.model import GridModel, metrics
from gridsim.scenario import load, with_overrides

MEIHEKOU = Path(__file__).resolve().parent.parent.parent / "scenarios" / "meihekou_2020.toml"
LEVERS = {
    "cover": [["roles.grid_leader.cover='station'"], ["roles.grid_leader.cover='own'"],
              ["roles.grid_leader.cover='after'"]],
    "trust": [["residents.initial_trust=1.0"], ["residents.initial_trust=0.6"], ["residents.initial_trust=0.2"]],
    "duty": [["roles.duty_leader.per_station=0"], ["roles.duty_leader.per_station=1"],
             ["roles.duty_leader.per_station=1", "roles.duty_leader.where='phone'"]],
    "staff": [["roles.grid_leader.per_grid=1"], ["roles.grid_leader.vacancies=[{from_day=1, to_day=3, share=0.5}]"]],
}


@lru_cache(maxsize=1)
def tiny():
    """Meihekou's standards for 4,000 residents: three grids, one station (repeats come back soon)."""
    return with_overrides(load(MEIHEKOU), ["city.population=4000", "residents.repeat_delay_hours=2"])


levers = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in LEVERS.items()})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), chosen=levers, days=st.integers(2, 6))
def test_the_journey_keeps_its_promises_on_a_tiny_city(seed, chosen, days):
    scenario = with_overrides(tiny(), [o for lever in chosen.values() for o in lever])
    model = GridModel(scenario, rng=seed, days=days, sample_minutes=360)
    places = model.world.unit.servers.copy()                 # (vacancies only take places away)
    while model.running:
        model.step()
        open_now = model.created - model.resolved - model.abandoned
        assert 0 <= model.waiting + model.in_service <= open_now    # conservation at every census
        assert (model.world.unit.busy <= places).all()
    census = model.datacollector.get_model_vars_dataframe()
    assert (census["created"] >= census["resolved"] + census["abandoned"]).all()
    visits, requests = metrics.tables(model)
    outcome = requests["outcome"].value_counts()
    assert outcome.sum() == len(requests) and model.resolved == outcome["resolved"]
    started = visits.dropna(subset=["start_minute"])
    for role, group in started.groupby("role", observed=True):        # nobody starts off duty
        if role != "alliance":
            start = group["start_minute"].to_numpy()
            assert np.array_equal(model.duty[role].next_on(start), start), role
    begun = started[started["role"] != "alliance"]           # at most its places at once, unit by unit
    end = begun["end_minute"].fillna(model.horizon).to_numpy()
    offset = np.array([model.unit_offset[r] for r in begun["role"].astype(str)])
    unit = offset + begun["unit"].to_numpy()
    for u in np.unique(unit):
        mine = unit == u
        t = np.r_[begun["start_minute"].to_numpy()[mine], end[mine]]
        step = np.r_[np.ones(mine.sum()), -np.ones(mine.sum())]
        order = np.lexsort((step, t))                       # at a tie, one ends before the next starts
        assert np.cumsum(step[order]).max() <= places[u]
