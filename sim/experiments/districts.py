"""A city run district by district: each district a city of its own on a worker (a local process or a
Dask cluster), their summaries' tallies added up to the city's.

What the model couples across a city (docs/ODD.md, section 3.6): sub-districts, and with them 110's
patrols and the alliances, lie inside one district, as do communities, stations and grids; residents
remember only their own requests. The one city-wide unit is 12345, whose operators a split run
apportions to the districts by their residents (each district's share of the scenario's standard).
So district d runs `scenario.districts(scenario)[d]` from its own seed (the city's seed and d, the
same in every scenario point: paired comparisons keep common random numbers), and the city's summary
is the finish of the districts' `metrics.Tallies` added in district order: counts and sums add,
shares and means add their parts, percentiles pool every district's durations (Kaplan-Meier over
all of them), so no district's records leave its worker. Which executor ran them changes nothing.
"""

from __future__ import annotations

import numpy as np

from ..model import GridModel, metrics
from ..scenario import Scenario, districts, from_data, scenario_hash, to_data


def district_seed(seed: int, district: int) -> int:
    """District `district`'s seed: from the city's seed and the district alone."""
    return int(np.random.SeedSequence([seed, district]).generate_state(1)[0])


def run_district(data: dict, seed: int) -> metrics.Tallies:
    """One district's run (a worker's task): its summary's tallies, its records left behind."""
    model = GridModel(from_data(data), rng=seed)
    model.run()
    visits, requests = metrics.tables(model)
    return metrics.tally(model, requests, visits)


def by_district(scenario: Scenario, seed: int, executor) -> tuple[dict, list[dict]]:
    """The city's summary from its districts' runs on `executor`, and each district's own."""
    parts = districts(scenario)
    futures = [executor.submit(run_district, to_data(d), district_seed(seed, k)) for k, d in enumerate(parts)]
    tallies = [f.result() for f in futures]           # in district order: the sums are the same every time
    city = {**metrics.finish(metrics.Tallies.total(tallies)), "scenario": scenario.name, "scenario_hash": scenario_hash(scenario),
            "seed": seed}
    return city, [metrics.finish(t) for t in tallies]
