"""Peak memory of a run against its horizon: does memory follow open work or the horizon?

    .venv/bin/python benchmarks/memory.py [--scenario meihekou_2020] [--days 30 365] [--seed 0] [--all-on-files]

Each horizon runs in a fresh process (a process's peak never falls), which builds the model,
runs it and derives every output (`run.results`), reporting its peak resident memory after each
of the three (the kernel's high-water mark: what a machine must have), the requests and visits
the run made, and what its result's tables take (`DataFrame.memory_usage`, deep: on their
spill file, `gridsim.model.spill`, not in the process). Printed: one row per horizon, then the
ratio of the longest's peak to the shortest's and the memory each extra request costs (the
difference of peaks over the difference of requests). `--all-on-files`: every horizon's arrays on
files (`spill.FROM_REQUESTS` 0), not only a long run's. docs/PERFORMANCE.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024       # Linux: kilobytes


def one(scenario: str, days: float, seed: int, on_files: bool) -> dict:
    """Build, run and derive the outputs here; the peaks after each."""
    from gridsim.model import GridModel
    from gridsim.model import journey, spill
    from gridsim.model.run import results

    if on_files:
        spill.FROM_REQUESTS = 0

    GridModel("mmc", days=1).run()             # the journey compiled (or loaded) before the measure
    start = peak_mb()
    t0 = time.perf_counter()
    model = GridModel(scenario, rng=seed, days=days)
    built = peak_mb()
    model.run()
    ran = peak_mb()
    requests, visits = int(model.world.count[journey.REQUESTS]), int(model.world.count[journey.VISITS])
    result = results(model, release=True)             # as `gridsim run` derives them (run.simulate)
    peak, seconds = peak_mb(), time.perf_counter() - t0
    tables = sum(t.memory_usage(deep=True).sum() for t in result.tables.values()) / 2**20
    return {"days": days, "requests": requests, "visits": visits, "before_mb": start, "build_mb": built,
            "loop_mb": ran, "peak_mb": peak, "tables_mb": tables, "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="meihekou_2020")
    p.add_argument("--days", type=float, nargs="+", default=[30.0, 365.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--all-on-files", action="store_true", help="every horizon's arrays on files, not only a long run's")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)    # the child's side
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.scenario, a.days[0], a.seed, a.all_on_files)))
        return
    rows = []
    for days in a.days:
        out = subprocess.run([sys.executable, __file__, "--one", "--scenario", a.scenario, "--days", str(days),
                              "--seed", str(a.seed), *(["--all-on-files"] if a.all_on_files else [])],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{a.scenario}, seed {a.seed}: peak resident memory (MB) after each phase, in a fresh process")
    print(f"{'days':>6} {'requests':>11} {'visits':>11} {'start':>7} {'build':>7} {'loop':>7} {'outputs':>8} "
          f"{'tables':>7} {'s':>6}")
    for r in rows:
        print(f"{r['days']:>6g} {r['requests']:>11,} {r['visits']:>11,} {r['before_mb']:>7.0f} {r['build_mb']:>7.0f} "
              f"{r['loop_mb']:>7.0f} {r['peak_mb']:>8.0f} {r['tables_mb']:>7.0f} {r['seconds']:>6.1f}")
    low, high = rows[0], rows[-1]
    extra = (high["peak_mb"] - low["peak_mb"]) * 2**20 / max(high["requests"] - low["requests"], 1)
    print(f"peak {high['days']:g} days / {low['days']:g} days: {high['peak_mb'] / low['peak_mb']:.2f}x; "
          f"each extra request {extra:,.0f} bytes")


if __name__ == "__main__":
    main()
