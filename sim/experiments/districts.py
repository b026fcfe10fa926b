"""A city run district by district: the city drawn once, each district run as a city of its own on
a worker (a local process or a Dask cluster), their summaries' tallies added up to the city's.

What the model couples across a city (docs/ODD.md, section 3.6): sub-districts, and with them 110's
patrols and the alliances, lie inside one district, as do communities, stations and grids; residents
remember only their own requests. The one city-wide unit is 12345, whose operators a split run
apportions to the districts by households. So the city is drawn as a whole run draws it, and district
d runs on its part of it (`City.district`) with the scenario of that part (`district_scenarios`),
from its own seed (the city's seed and d: the same in every scenario point, so paired comparisons
keep common random numbers). The city's summary is the finish of the districts' `metrics.Tallies`
added in district order: counts and sums add, shares and means add their parts, percentiles pool
every district's durations (Kaplan-Meier over all of them), and no district's records leave its
worker. Which executor ran them changes nothing.
"""

from __future__ import annotations

import numpy as np

from ..city import City, build_city
from ..model import GridModel, metrics
from ..model.requests import stream
from ..scenario import PROPERTY_MODES, Scenario, ScenarioError, from_data, scenario_hash, split_counts, to_data, \
    with_overrides

STAFF = ("community_worker", "volunteer", "two_new_org", "alliance")     # counted by the city, not drawn


def district_seed(seed: int, district: int) -> int:
    """District `district`'s seed: from the city's seed and the district alone."""
    return int(np.random.SeedSequence([seed, district]).generate_state(1)[0])


def district_scenarios(scenario: Scenario, city: City) -> list[Scenario]:
    """Each district of the drawn city as a scenario of its own: the city's residents and area in
    proportion to its households, the counts of its part of the city as drawn, and its share of
    the staff and 12345 operators the scenario counts rather than draws (largest remainder by
    households)."""
    households = np.bincount(city.hh_district, minlength=scenario.city.districts)
    people = split_counts(scenario.city.population, households.astype(float))
    r = scenario.roles
    staff = {f"roles.{role}.count": split_counts(getattr(r, role).count, households.astype(float)) for role in STAFF}
    staff["roles.hotline.operators"] = split_counts(r.hotline.operators, households.astype(float))
    out = []
    for d in range(scenario.city.districts):
        part = city.district(d)
        modes = np.bincount(part.compound_mode, minlength=len(PROPERTY_MODES))
        compounds = len(part.compound_mode)
        overrides = [
            ("city.population", int(people[d])), ("city.districts", 1),
            ("city.area_km2", scenario.city.area_km2 * households[d] / households.sum()),
            ("city.sub_districts", part.sub_districts), ("city.communities", len(part.community_x)),
            ("city.buildings", len(part.building_compound)), ("city.compounds", compounds),
            ("city.small_compounds", min(compounds, round(scenario.city.small_compounds * households[d]
                                                          / households.sum()))),
            ("stations.count", part.stations), *((path, int(share[d])) for path, share in staff.items()),
            *((f"roles.property_manager.modes.{m}.compounds", int(k)) for m, k in zip(PROPERTY_MODES, modes))]
        try:
            out.append(with_overrides(scenario, overrides))
        except ScenarioError as err:
            raise err.at(f"{scenario.name}, district {d + 1} of {scenario.city.districts}") from None
    return out


def run_district(data: dict, city: City, seed: int) -> metrics.Tallies:
    """One district's run (a worker's task): its summary's tallies, its records left behind."""
    model = GridModel(from_data(data), rng=seed, city=city)
    model.run()
    visits, requests = metrics.tables(model, release=True)     # (the tally's peak is then lower)
    return metrics.tally(model, requests, visits).compact()


def by_district(scenario: Scenario, seed: int, executor) -> tuple[dict, list[dict]]:
    """The city's summary from its districts' runs on `executor`, and each district's own."""
    city = build_city(scenario, stream(seed, "city"))              # as a whole run of this seed draws it
    futures = [executor.submit(run_district, to_data(part), city.district(d), district_seed(seed, d))
               for d, part in enumerate(district_scenarios(scenario, city))]
    del city                                         # (its districts are copies: the whole can go)
    tallies = [f.result() for f in futures]           # in district order: the sums are the same every time
    summary = {**metrics.finish(metrics.Tallies.total(tallies)), "scenario": scenario.name,
               "scenario_hash": scenario_hash(scenario), "seed": seed}
    return summary, [metrics.finish(t) for t in tallies]
