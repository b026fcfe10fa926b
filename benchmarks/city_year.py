"""Benchmark: a full Meihekou city-year, and the degenerate M/M/c case against a bare heapq loop.

    .venv/bin/python benchmarks/city_year.py [--days 365] [--seed 0] [--in-memory]

Prints requests simulated, wall time (build, event loop, metrics) of each of
`--repeat` runs and their median, requests per second and peak memory for the
default scenario (this machine's speed for the city's working set changes
from one run to the next: the same loop took 5.2 to 9.0 s within minutes on
2026-11-29, so read the range, not one run);
then, `--repeat` times, runs the M/M/4 validation scenario through the same
model code at a volume like the city's and times a bare heapq M/M/c loop on
the same volume right after it, as the reference for what plain Python can
do: the ratio of each pair, and the median pair's. Targets (docs/PERFORMANCE.md): city-year <= 10 s
and <= 1.5 GB; the degenerate case's event loop faster than the bare loop, and
its build, loop and metrics together within 1.5x of it. `--in-memory`: every run's
arrays in memory, as a short run's (`gridsim.model.spill`), not on files as a long run's.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import platform
import random
import resource
import time
from pathlib import Path

from gridsim.model import GridModel, spill
from gridsim.model.run import results
from gridsim.scenario import load, with_overrides

ROOT = Path(__file__).resolve().parent.parent


def bare_mmc(n: int, arrival_rate: float, service_rate: float, servers: int, seed: int = 1) -> tuple[float, float]:
    """The reference: a plain heapq M/M/c loop for `n` arrivals. Returns (seconds, mean wait)."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    heap = [(rng.expovariate(arrival_rate), 0, 0)]  # (time, seq, kind: 0 arrival, 1 departure)
    queue: list[float] = []
    head = busy = arrived = seq = 0
    total_wait = 0.0
    while heap:
        t, _, kind = heapq.heappop(heap)
        if kind == 0:
            arrived += 1
            if arrived < n:
                seq += 1
                heapq.heappush(heap, (t + rng.expovariate(arrival_rate), seq, 0))
            if busy < servers:
                busy += 1
                seq += 1
                heapq.heappush(heap, (t + rng.expovariate(service_rate), seq, 1))
            else:
                queue.append(t)
        elif head < len(queue):
            total_wait += t - queue[head]
            head += 1
            seq += 1
            heapq.heappush(heap, (t + rng.expovariate(service_rate), seq, 1))
        else:
            busy -= 1
    return time.perf_counter() - t0, total_wait / n


def timed_run(scenario, seed: int, days: float | None = None) -> dict:
    """One run's build, loop and outputs, timed from a process the earlier runs have left: their
    models are collected first, as a fresh `gridsim run` has none to collect (a model's build
    collects only while an earlier one is alive: 60-90 ms here of walking every object)."""
    gc.collect()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    model = GridModel(scenario, rng=seed, days=days)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    result = results(model, release=True)   # every output, as `gridsim run` derives them (run.simulate)
    t3 = time.perf_counter()
    return {"model": model, "summary": result.summary, "build": t1 - t0, "loop": t2 - t1, "metrics": t3 - t2,
            "cpu": time.process_time() - cpu0,
            "requests": len(result.tables["requests"]), "visits": len(result.tables["visits"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3,
                        help="city-year runs, and M/M/4 pairs (the median is the figure)")
    parser.add_argument("--in-memory", action="store_true", help="every run's arrays in memory, not on files")
    args = parser.parse_args()
    if args.in_memory:
        spill.FROM_REQUESTS = 1 << 62
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")

    city = load(ROOT / "scenarios" / "meihekou_2020.toml")
    runs = []
    for k in range(args.repeat):
        load_before = os.getloadavg()[0]
        r = timed_run(city, args.seed, args.days)
        r["total"] = r["build"] + r["loop"] + r["metrics"]
        runs.append(r)
        print(f"  run {k + 1}: build {r['build']:.2f} s, event loop {r['loop']:.2f} s, metrics {r['metrics']:.2f} s, "
              f"total {r['total']:.2f} s, CPU time {r['cpu']:.2f} s, load average before {load_before:.2f}")
        del r["model"]
    r = sorted(runs, key=lambda x: x["total"])[len(runs) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nMeihekou 2020, {args.days:g} days: {r['requests']:,} requests, {r['visits']:,} visits")
    print(f"  median of {len(runs)}: build {r['build']:.2f} s, event loop {r['loop']:.2f} s, "
          f"metrics {r['metrics']:.2f} s, total {r['total']:.2f} s (range {min(x['total'] for x in runs):.2f}"
          f"-{max(x['total'] for x in runs):.2f} s)")
    print(f"  {r['requests'] / r['total']:,.0f} requests/s overall, {r['requests'] / r['loop']:,.0f} in the loop; "
          f"peak memory {peak:,.0f} MB")

    n = r["requests"]
    base = load(ROOT / "scenarios" / "validation" / "mmc.toml")
    per_day = 6 * 24
    mmc = with_overrides(base, [("run.days", n / per_day + 10)])
    print(f"\nM/M/4 (rho 0.75), through the same model code, then a bare heapq loop over as many requests, "
          f"{args.repeat} pairs:")
    pairs = []
    for k in range(args.repeat):
        d = timed_run(mmc, args.seed)
        del d["model"]
        bare_s, bare_wait = bare_mmc(d["requests"], 6 / 60, 1 / 30, 4)
        d["bare"], d["total"] = bare_s, d["build"] + d["loop"] + d["metrics"]
        pairs.append(d)
        print(f"  pair {k + 1}: build {d['build']:.2f} s, event loop {d['loop']:.2f} s, metrics {d['metrics']:.2f} s; "
              f"bare loop {bare_s:.2f} s; (build + loop + metrics) / bare loop {d['total'] / bare_s:.2f}x")
    d = sorted(pairs, key=lambda x: x["total"] / x["bare"])[len(pairs) // 2]
    ratios = [x["total"] / x["bare"] for x in pairs]
    print(f"  {d['requests']:,} requests; mean wait {d['summary']['wait_minutes']['mean']:.2f} min "
          f"(bare loop {bare_wait:.2f} min)")
    print(f"  median pair: event loop {d['loop']:.2f} s ({d['requests'] / d['loop']:,.0f} requests/s), "
          f"bare heapq loop {d['bare']:.2f} s ({d['requests'] / d['bare']:,.0f} requests/s)")
    print(f"  ratio event loop / bare loop: {d['loop'] / d['bare']:.2f}x; "
          f"(build + loop) / bare loop: {(d['build'] + d['loop']) / d['bare']:.2f}x; "
          f"(build + loop + metrics) / bare loop: {d['total'] / d['bare']:.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}x)")

if __name__ == "__main__":
    main()
