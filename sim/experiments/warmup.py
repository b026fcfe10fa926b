"""`gridsim warmup`: run a scenario from empty for several replicates and measure its run-in.

Daily series, averaged over replicates: requests waiting in queues (the
census), residents' requests open (reported or not), grid leaders busy, and
households' mean trust (which starts from the scenario's initial state).
Each gets its MSER truncation point (weekly batches) (`analysis.warmup`); the recommended
warm-up is the largest of them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..analysis.warmup import mser
from ..model import metrics
from ..model.run import simulate
from ..scenario import Scenario

SERIES = ("waiting_in_queues", "residents_open", "grid_leaders_busy", "trust")


def daily_series(scenario: Scenario, seed: int) -> pd.DataFrame:
    """One run from empty: the three series, one row per day."""
    result = simulate(scenario, seed=seed)
    census = result.census[result.census["time"] > 0]      # each day's end (not the construction's row)
    daily = metrics.daily_series(result.timeseries)
    resident = [f"open_{name}" for name, t in scenario.requests.items() if t.origin == "resident"]
    days = np.arange(1, len(census) + 1)
    return pd.DataFrame({
        "day": days,
        "waiting_in_queues": census["waiting"].to_numpy(),
        "residents_open": daily[resident].sum(axis=1).to_numpy()[: len(days)],
        "grid_leaders_busy": daily["busy_grid_leader"].to_numpy()[: len(days)],
        "trust": census["trust"].to_numpy(),
    })


def measure(scenario: Scenario, replicates: int, seed: int = 0,
            tick: Callable[[], None] = lambda: None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Daily means over `replicates` runs (seeds seed, seed+1, ...) and each series' truncation."""
    runs = []
    for r in range(replicates):
        runs.append(daily_series(scenario, seed + r))
        tick()
    daily = pd.concat(runs).groupby("day", as_index=False).mean()
    return daily, {name: mser(daily[name].to_numpy()) for name in SERIES}
