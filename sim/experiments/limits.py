"""Job size: refuse before starting what would not fit in memory or exceeds a stated bound.

A run's cost grows with its requests, and its expected count is known before
anything runs: households x requests per household a year x days / 365. From
it come two checks, each one line naming what the user can change:

- memory: the largest run's estimated peak (BYTES_PER_REQUEST per request,
  or BYTES_PER_REQUEST_ON_FILES for a long run whose files the temporary
  directory has room for, BYTES_PER_HOUSEHOLD per household, plus the
  interpreter) times the runs held at once must fit in this machine's
  physical memory;
- size: the whole job's requests (points x replicates x days x population,
  in effect) must stay under a bound, MAX_REQUESTS unless the user passes a
  larger one (`--max-requests`).

The per-request figures are measured (`benchmarks/memory.py`: what each request
past a 30-day run adds to a Meihekou city-year's peak) and doubled, or more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterable

from ..model import spill
from ..scenario import Scenario
from ..scenario.fields import argument

# a run's arrays in memory (a short run's, `spill.pays`): 299 bytes a request measured (a city-year
# held in memory, docs/PERFORMANCE.md, "Records and tables on a file"; 1,500 until then, from a
# city-year that peaked at 1.1 GB)
BYTES_PER_REQUEST = 600
# a long run's, its records and tables on files: 72-75 bytes a request measured, and the files in
# the temporary directory: 413 MB reserved for a city-year's 1.24 million requests at the end of its
# build, its tables' 179 MB to come (docs/PERFORMANCE.md, "Records and tables on a file")
BYTES_PER_REQUEST_ON_FILES = 200
DISK_PER_REQUEST = 500
BYTES_PER_HOUSEHOLD = 2_000
BASE_BYTES = 300e6                  # Python, numpy, pandas, mesa loaded
MAX_REQUESTS = 2e9                  # about 2,000 Meihekou city-years: several hours on a laptop
MEMORY_SHARE = 0.9                  # of physical memory the runs held at once may use


class TooLarge(ValueError):
    """A job refused before it starts; one line with the estimate and what to change."""


def expected_requests(scenario: Scenario) -> float:
    """Requests one run is expected to draw (residents' and staff's, before any is resolved)."""
    elderly = scenario.city.elderly_share
    rate = sum(rt.rate_per_household_year * (1 + elderly * (rt.elderly_multiplier - 1))
               for rt in scenario.requests.values())
    return scenario.city.households * rate * scenario.run.days / 365.0


def run_bytes(scenario: Scenario, at_once: int = 1, parts: int = 1) -> float:
    """The peak of one run of `scenario` (of one of its `parts`, a district's), `at_once` such runs
    sharing the temporary directory: a long run keeps its records and tables on files if they
    all have room there, else in memory (`spill`)."""
    requests = expected_requests(scenario) / parts
    on_files = spill.pays(int(requests)) and DISK_PER_REQUEST * requests * at_once <= temporary_room()
    return (BASE_BYTES + (BYTES_PER_REQUEST_ON_FILES if on_files else BYTES_PER_REQUEST) * requests
            + BYTES_PER_HOUSEHOLD * scenario.city.households / parts)


def temporary_room() -> float:
    """Free bytes in the temporary directory, where a long run's files go (0 if it cannot be read)."""
    try:
        return float(shutil.disk_usage(tempfile.gettempdir()).free)
    except OSError:
        return 0.0


def physical_memory() -> float | None:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 1e12 else f"{x / 1e12:,.0f} TB"


def _count(x: float) -> str:
    if x >= 1e9:
        return f"{x / 1e9:,.1f} billion"
    if x >= 1e6:
        return f"{x / 1e6:,.1f} million"
    return f"{x:,.0f}"


@dataclass(frozen=True)
class Estimate:
    runs: int
    requests: float                 # over the whole job
    largest_run_bytes: float
    at_once: int                    # runs held in memory at the same time


def estimate(scenarios: Iterable[Scenario], replicates: int, at_once: int = 1) -> Estimate:
    """The job of running each scenario `replicates` times, `at_once` runs at a time."""
    scenarios = list(scenarios)
    requests = sum(expected_requests(s) for s in scenarios) * replicates
    at_once = max(1, min(at_once, len(scenarios) * replicates))
    largest = max((run_bytes(s, at_once) for s in scenarios), default=0.0)
    return Estimate(len(scenarios) * replicates, requests, largest, at_once)


def in_parts(scenario: Scenario, parts: int, at_once: int) -> Estimate:
    """One run of `scenario` as `parts` runs of an equal share of it (a city district by district,
    experiments.districts), `at_once` at a time."""
    at_once = max(1, min(at_once, parts))
    return Estimate(parts, expected_requests(scenario), run_bytes(scenario, at_once, parts), at_once)


def check(what: str, est: Estimate, max_requests: float | None = None, memory: float | None = None,
          change: str = "lower the days or the population", anyway: bool = True) -> None:
    """Raise TooLarge if the job would not fit in memory or exceeds the bound on requests (`anyway`:
    say how to raise the bound, where the user can: `--max-requests`)."""
    memory = physical_memory() if memory is None else memory
    if memory and est.largest_run_bytes * est.at_once > MEMORY_SHARE * memory:
        held = f" ({est.at_once} runs at once: {_gb(est.largest_run_bytes * est.at_once)})" if est.at_once > 1 else ""
        raise TooLarge(f"{what}: one run would need about {_gb(est.largest_run_bytes)} of memory{held}, and this "
                       f"machine has {_gb(memory)}; {change}" + (" or use fewer --workers" if est.at_once > 1 else ""))
    bound = MAX_REQUESTS if max_requests is None else argument(float, max_requests, "max_requests", gt=0)
    if est.requests > bound:
        raise TooLarge(f"{what}: {est.runs:,} run(s) would simulate about {_count(est.requests)} requests, more "
                       f"than the bound of {_count(bound)}; {change}"
                       + (f", or pass --max-requests {est.requests:.2g} to run it anyway" if anyway else ""))
