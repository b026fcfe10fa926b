"""Run one scenario once and collect everything a user reads from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ..scenario import Scenario
from . import metrics
from .model import GridModel
from .stability import describe


@dataclass
class RunResult:
    summary: dict
    requests: pd.DataFrame
    visits: pd.DataFrame
    timeseries: pd.DataFrame
    grids: pd.DataFrame
    census: pd.DataFrame


def simulate(scenario: Scenario, seed: int = 0, days: float | None = None,
             warn: Callable[[str], None] | None = None) -> RunResult:
    """Build the model, run it to the horizon and derive every output from its records.

    `warn` hears, before the run, one line naming the units whose planned work is at or
    above their time on duty (their queues will grow for as long as the run lasts)."""
    model = GridModel(scenario, seed=seed, days=days)
    if warn is not None and model.overloaded:
        warn(describe(model.overloaded))
    model.run()
    visits, requests = metrics.tables(model)
    timed = metrics.measured_clocks(model, requests)
    return RunResult(
        summary=metrics.summary(model, requests, visits, timed),
        requests=requests, visits=visits,
        timeseries=metrics.timeseries(model, requests, visits),
        grids=metrics.grid_table(model, requests, visits, timed),
        census=model.datacollector.get_model_vars_dataframe(),
    )
