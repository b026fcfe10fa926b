"""gridsim's engine against SimPy, Ciw and a bare heapq event loop.

The same network for every engine: 341 independent M/M/4 stations at
utilisation 0.85 with a 30-minute mean service time (6.8 arrivals per hour per
station, 55,651 requests a day in all). Issue 4 says "one simulated year
(about 1.2 million requests)", which does not add up (a year is ~20 M
requests); the default horizon is the one that gives ~1.2 M requests:
21.5 days. Run it with `python benchmarks/peers.py` (needs the [bench] extra:
simpy, ciw).

Engines
  bare loop   plain Python: arrivals and service times drawn with numpy, then a
              heapq of departures and a FIFO deque per station, all stations in
              one loop. The reference for "plain Python".
  gridsim     the real model (GridModel), one city built from
              `scenarios/validation/mmc.toml`: 341 grids of 1,000 households,
              one station of 4 station heads each, 6.8 arrivals/h per station;
              building the model (city, pre-drawn requests, routes, Mesa
              agents) and its event loop run() are timed separately.
  SimPy       one Environment, 341 Resources of capacity 4, a process per request.
  Ciw         each station a separate Simulation (341 runs); and the 341
              stations as one Ciw network on a shorter horizon, extrapolated
              linearly per request and labelled so.

Reported: wall time, requests per second, time per request relative to the
bare loop, and the mean wait (requests created after a 2-day warm-up) against
Erlang C.
"""

from __future__ import annotations

import argparse
import heapq
import platform
import random
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsim.analysis.queueing import MMc  # noqa: E402

STATIONS, SERVERS, RHO, SERVICE_MIN = 341, 4, 0.85, 30.0
LAM = RHO * SERVERS / SERVICE_MIN          # arrivals per minute per station
WARMUP_MIN = 2 * 1440.0


def mean_wait(created, wait):
    created, wait = np.asarray(created, float), np.asarray(wait, float)
    keep = (created >= WARMUP_MIN) & ~np.isnan(wait)
    return float(wait[keep].mean())


# ---------------------------------------------------------------- engines
def bare_loop(stations: int, horizon: float, seed: int) -> dict:
    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = rng.poisson(LAM * horizon, stations)
    station = np.repeat(np.arange(stations), counts)
    arrive = rng.uniform(0.0, horizon, counts.sum())
    order = np.argsort(arrive, kind="stable")
    arrive, station = arrive[order].tolist(), station[order].tolist()
    service = rng.exponential(SERVICE_MIN, len(arrive)).tolist()
    n = len(arrive)
    wait = [float("nan")] * n
    free = [SERVERS] * stations
    queues = [deque() for _ in range(stations)]
    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    for i in range(n):
        t, s = arrive[i], station[i]
        while heap and heap[0][0] <= t:
            tf, s2 = pop(heap)
            q = queues[s2]
            if q:
                j = q.popleft()
                wait[j] = tf - arrive[j]
                push(heap, (tf + service[j], s2))
            else:
                free[s2] += 1
        if free[s]:
            free[s] -= 1
            wait[i] = 0.0
            push(heap, (t + service[i], s))
        else:
            queues[s].append(i)
    while heap and heap[0][0] <= horizon:      # finish the horizon
        tf, s2 = pop(heap)
        q = queues[s2]
        if q:
            j = q.popleft()
            wait[j] = tf - arrive[j]
            push(heap, (tf + service[j], s2))
    wall = time.perf_counter() - t_start
    return {"requests": n, "wall": wall, "wait": mean_wait(arrive, wait)}


def gridsim_city(stations: int, horizon: float, seed: int) -> tuple[dict, dict]:
    """One model: a city of `stations` grids of 1,000 households, one station (4 heads) each."""
    from gridsim.model import journey
    from gridsim.model.model import GridModel
    from gridsim.scenario import load, with_overrides

    base = load(ROOT / "scenarios" / "validation" / "mmc.toml")
    scenario = with_overrides(base, [
        ("city.population", stations * 1000), ("city.area_km2", float(stations)),
        ("city.buildings", stations), ("grids.households_per_grid", 1000), ("stations.count", stations),
        ("run.warmup_days", 0.0), ("run.days", horizon / 1440.0),
        ("roles.station_head.per_station", SERVERS),
        ("requests.errand.service.station_head", {"mean_minutes": SERVICE_MIN, "dist": "exponential"}),
        ("requests.errand.rate_per_household_year", LAM * 60 * 8760 / 1000),
    ])
    t0 = time.perf_counter()
    model = GridModel(scenario, rng=seed, sample_minutes=horizon)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    n = int(model.world.count[journey.REQUESTS])
    q = model.world.request
    start = model.world.visit.start[q.first[:n]]
    w = mean_wait(q.created[:n], start - q.own_report[:n])
    return ({"requests": n, "wall": t2 - t1, "wait": w},
            {"requests": n, "wall": t2 - t0, "wait": w})


def simpy_network(stations: int, horizon: float, seed: int) -> dict:
    import simpy

    t_start = time.perf_counter()
    env = simpy.Environment()
    created, waits = [], []

    def customer(res, rng, t_arr):
        with res.request() as req:
            yield req
            created.append(t_arr)
            waits.append(env.now - t_arr)
            yield env.timeout(rng.expovariate(1.0 / SERVICE_MIN))

    counter = [0]

    def counted_source(res, rng):
        while True:
            yield env.timeout(rng.expovariate(LAM))
            counter[0] += 1
            env.process(customer(res, rng, env.now))

    for s in range(stations):
        env.process(counted_source(simpy.Resource(env, capacity=SERVERS), random.Random(seed * 100_003 + s)))
    env.run(until=horizon)
    wall = time.perf_counter() - t_start
    return {"requests": counter[0], "wall": wall, "wait": mean_wait(created, waits)}


def ciw_separate(stations: int, horizon: float, seed: int) -> dict:
    import ciw

    t_start = time.perf_counter()
    n = 0
    created, waits = [], []
    for s in range(stations):
        net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(LAM)],
                                 service_distributions=[ciw.dists.Exponential(1.0 / SERVICE_MIN)],
                                 number_of_servers=[SERVERS])
        ciw.seed(seed * 100_003 + s)
        q = ciw.Simulation(net)
        q.simulate_until_max_time(horizon)
        recs = q.get_all_records()
        n += len(recs) + sum(len(nd.all_individuals) for nd in q.transitive_nodes)
        created += [r.arrival_date for r in recs]
        waits += [r.waiting_time for r in recs]
    wall = time.perf_counter() - t_start
    return {"requests": n, "wall": wall, "wait": mean_wait(created, waits)}


def ciw_network(stations: int, horizon: float, seed: int) -> dict:
    import ciw

    t_start = time.perf_counter()
    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(LAM) for _ in range(stations)],
        service_distributions=[ciw.dists.Exponential(1.0 / SERVICE_MIN) for _ in range(stations)],
        number_of_servers=[SERVERS] * stations,
        routing=[[0.0] * stations for _ in range(stations)])
    ciw.seed(seed)
    q = ciw.Simulation(net)
    q.simulate_until_max_time(horizon)
    recs = q.get_all_records()
    n = len(recs) + sum(len(nd.all_individuals) for nd in q.transitive_nodes)
    wall = time.perf_counter() - t_start
    created = [r.arrival_date for r in recs]
    waits = [r.waiting_time for r in recs]
    w = mean_wait(created, waits) if horizon > WARMUP_MIN else float(np.mean(waits)) if waits else float("nan")
    return {"requests": n, "wall": wall, "wait": w}


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=float, default=21.5, help="simulated days (default 21.5: ~1.2 M requests)")
    p.add_argument("--stations", type=int, default=STATIONS)
    p.add_argument("--ciw-network-days", type=float, default=0.5,
                   help="horizon of the one-network Ciw run, extrapolated (default 0.5)")
    p.add_argument("--engines", default="bare,gridsim,simpy,ciw,ciw-network")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    horizon = args.days * 1440.0
    engines = args.engines.split(",")
    erlang = MMc(LAM, 1.0 / SERVICE_MIN, SERVERS).mean_wait
    expected = LAM * horizon * args.stations
    print(f"{args.stations} independent M/M/{SERVERS} stations, utilisation {RHO}, mean service "
          f"{SERVICE_MIN:g} min, {args.days:g} simulated days (~{expected / 1e6:.2f} M requests); "
          f"mean wait after a 2-day warm-up vs Erlang C {erlang:.2f} min")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}", flush=True)
    rows = []

    def record(label, r, note=""):
        rows.append((label, r, note))
        print(f"  done: {label}  {r['wall']:.2f} s", file=sys.stderr, flush=True)

    if "bare" in engines:
        record("bare heapq loop", bare_loop(args.stations, horizon, args.seed))
    if "gridsim" in engines:
        run, total = gridsim_city(args.stations, horizon, args.seed)
        record("gridsim run() (event loop)", run, f"one city of {args.stations} stations")
        record("gridsim build + run()", total, "build: city, requests, routes, agents")
    if "simpy" in engines:
        import simpy
        record(f"SimPy {simpy.__version__}", simpy_network(args.stations, horizon, args.seed), "one Environment")
    if "ciw" in engines:
        import ciw
        record(f"Ciw {ciw.__version__} (separate)", ciw_separate(args.stations, horizon, args.seed),
               f"{args.stations} Simulations")
    if "ciw-network" in engines:
        import ciw
        r = ciw_network(args.stations, args.ciw_network_days * 1440.0, args.seed)
        per = r["wall"] / max(r["requests"], 1)
        ext = {"requests": int(expected), "wall": per * expected, "wait": r["wait"]}
        record(f"Ciw {ciw.__version__} (one network)", ext,
               f"EXTRAPOLATED from {args.ciw_network_days:g} days ({r['requests']:,} requests, "
               f"{r['wall']:.1f} s); wait not warmed up")

    bare = next((r for label, r, _ in rows if label.startswith("bare")), None)
    bare_per = bare["wall"] / bare["requests"] if bare else None
    print()
    print("| engine | requests | wall (s) | requests/s | x bare loop | mean wait (min) | Erlang C (min) | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, r, note in rows:
        per = r["wall"] / max(r["requests"], 1)
        ratio = f"{per / bare_per:.2f}" if bare_per else "-"
        print(f"| {label} | {r['requests']:,} | {r['wall']:.2f} | {r['requests'] / r['wall']:,.0f} | {ratio} "
              f"| {r['wait']:.2f} | {erlang:.2f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
