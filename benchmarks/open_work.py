"""How much of a run is open at once: what a windowed run would have to hold (issue 18, item 3).

    .venv/bin/python benchmarks/open_work.py [--scenario meihekou_2020] [--days 365] [--seed 0]

Runs the scenario once and reads its requests' table: each request lives from its problem
arising (or the run's start) to its end (resolved or abandoned; open ones to the horizon). Prints
how many are open at the start of each day (median and most), and how long requests live, overall
and by type. docs/PERFORMANCE.md quotes it.
"""

from __future__ import annotations

import argparse

import numpy as np

from gridsim.model.run import simulate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="meihekou_2020")
    p.add_argument("--days", type=float, default=365.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    horizon = a.days * 1440
    requests = simulate(a.scenario, seed=a.seed, days=a.days).tables["requests"]
    begun = np.maximum(requests["created_minute"].to_numpy(), 0.0)
    ended = requests["ended_minute"].fillna(horizon).to_numpy()
    days = (ended - begun) / 1440
    starts = np.arange(0.0, horizon, 1440.0)
    open_then = (np.searchsorted(np.sort(begun), starts, side="right")
                 - np.searchsorted(np.sort(ended), starts, side="right"))
    print(f"{a.scenario}, {a.days:g} days, seed {a.seed}: {len(requests):,} requests, "
          f"{int(requests['ended_minute'].isna().sum()):,} open at the horizon")
    print(f"open at a day's start: median {np.median(open_then):,.0f}, most {open_then.max():,} "
          f"({open_then.max() / len(requests):.1%} of the run's)")
    q = np.percentile(days, [50, 90, 99])
    print(f"days a request lives: median {q[0]:.2f}, p90 {q[1]:.2f}, p99 {q[2]:.1f}, longest {days.max():.1f}")
    kind = requests["type"].to_numpy()
    for name in requests["type"].cat.categories:
        mine = days[kind == name]
        if len(mine):
            print(f"  {name:<12} {len(mine):>9,} requests   p99 {np.percentile(mine, 99):6.1f} days   "
                  f"longest {mine.max():6.1f}")


if __name__ == "__main__":
    main()
