"""How much of a run is open at once: what a windowed run would have to hold (issue 18, item 3).

    .venv/bin/python benchmarks/open_work.py [--scenario meihekou_2020] [--days 365] [--seed 0]

Runs the scenario once and reads its requests' table: each request lives from its problem
arising (or the run's start) to its end (resolved or abandoned; open ones to the horizon). Prints
how many are open at the start of each day (median and most), and how long requests live, overall
and by type. Then what a run whose records go by window would hold at a window's end: the
requests not yet ended whose problems have arisen by the next window's end plus `--ahead` days
(a home visit finds a problem from when it arises, so the records must hold those drawn ahead),
and their visits, for windows of `--window` days. docs/PERFORMANCE.md quotes it.
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
    p.add_argument("--window", type=float, default=30.0, help="days of a window")
    p.add_argument("--ahead", type=float, default=30.0,
                   help="days drawn ahead (the longest reporting delay the draws keep: 10 mean delays)")
    a = p.parse_args()
    horizon = a.days * 1440
    result = simulate(a.scenario, seed=a.seed, days=a.days)
    requests, visits = result.tables["requests"], result.tables["visits"]
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
    created = requests["created_minute"].to_numpy()
    per_request = np.bincount(visits["request"].to_numpy(), minlength=len(requests))
    held = []
    for end in np.arange(a.window, a.days + 1e-9, a.window) * 1440:
        keep = (created < end + (a.window + a.ahead) * 1440) & (ended > end)
        held.append((int(keep.sum()), int(per_request[keep].sum())))
    most_requests, most_visits = max(held)
    print(f"records by window ({a.window:g} days, drawn {a.ahead:g} days ahead): at most {most_requests:,} requests "
          f"({most_requests / len(requests):.1%}) and {most_visits:,} visits ({most_visits / len(visits):.1%}) "
          f"held at a window's end")


if __name__ == "__main__":
    main()
