"""One run's time by phase, as a calibration's worker makes it: where a run's time goes.

    .venv/bin/python benchmarks/run_phases.py [--scenario meihekou_2020] [--days 100] [--warmup 35] [--runs 6]

Builds, runs and summarises the scenario `--runs` times in one process (seeds 1 and 2 in turn,
after one run of each to compile and to draw the two cities a sweep's worker keeps), as
`run.summarised` does for a calibration (`only` the targets' KPIs), and prints each phase's
median: the build (`GridModel`), the journey (`run`), the tables of visits and requests, and the
summary of the targets' KPIs (`--all`: every KPI, as `simulate` makes it, its clocks and busy time
timed apart). The defaults are the Meihekou calibration's runs (100 days, 35 of warm-up); the 2018
city is `--scenario meihekou_2018`. docs/PERFORMANCE.md quotes it.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time

from gridsim.experiments.calibrate import _kept
from gridsim.experiments.targets import load_targets
from gridsim.model import GridModel, metrics
from gridsim.scenario import load, resolve_scenario, with_overrides


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="meihekou_2020")
    p.add_argument("--days", type=float, default=100.0)
    p.add_argument("--warmup", type=float, default=35.0)
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--all", action="store_true", help="every KPI, as simulate's summary")
    a = p.parse_args()
    only = None if a.all else _kept(load_targets("meihekou"))
    scenario = with_overrides(load(resolve_scenario(a.scenario)), [("run.days", a.days), ("run.warmup_days", a.warmup)])
    gc.freeze()                      # the imports' objects out of every collection, as in a long-lived worker
    phases: dict[str, list[float]] = {}

    def one(seed: int) -> None:
        laps = [time.perf_counter()]
        model = GridModel(scenario, rng=seed, sample_minutes=1440.0 if metrics.reads_census(only) else math.inf,
                          check_load=metrics.reads_load(only))
        laps.append(time.perf_counter())
        model.run()
        laps.append(time.perf_counter())
        visits, requests = metrics.tables(model, release=True)
        laps.append(time.perf_counter())
        timed = busy = None
        if only is None:
            timed = metrics.measured_clocks(model, requests)
            busy = metrics.busy_by_unit(model, visits, a.warmup * 1440)
            laps.append(time.perf_counter())
        metrics.summary(model, requests, visits, timed, busy, only)
        laps.append(time.perf_counter())
        names = ("build", "journey", "tables", *(["clocks and busy time"] if only is None else []), "summary")
        for name, t0, t1 in zip(names, laps, laps[1:]):
            phases.setdefault(name, []).append(t1 - t0)

    one(1), one(2)
    phases.clear()
    for i in range(a.runs):
        one(1 + i % 2)
    kept = "every KPI" if only is None else "the targets' KPIs"
    print(f"{a.scenario}, {a.days:g} days ({a.warmup:g} of warm-up), {kept}:"
          f" median of {a.runs} runs, one process")
    total = 0.0
    for name, times in phases.items():
        total += statistics.median(times)
        print(f"  {name:<22}{1000 * statistics.median(times):8.0f} ms")
    print(f"  {'a run':<22}{1000 * total:8.0f} ms")


if __name__ == "__main__":
    main()
