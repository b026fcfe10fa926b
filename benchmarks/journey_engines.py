"""The journey's hot path compiled two ways, numba and Cython, on the same events (the choice in
docs/PERFORMANCE.md rests on this).

    .venv/bin/pip install -e '.[bench]'        # adds Cython (numba is a dependency)
    .venv/bin/python benchmarks/journey_engines.py [--repeat 5]

The events are those of benchmarks/peers.py: 341 independent M/M/4 stations at utilisation 0.85,
30-minute mean service, 21.5 days (about 1.2 million requests), drawn once with numpy. The hot
path is what the journey does most: a request arrives at its unit (start if a place is free, else
join the unit's first-come-first-served queue) and a visit ends (the freed place takes the next in
line), with the ends of visits on a binary heap ordered by (time, sequence). It is written three
times over the same arrays: the bare heapq loop in plain Python (tuples on the heap, a deque per
unit), `engines/kernel_numba.py` (@njit, arrays for the heap and linked lists for the queues) and
`engines/kernel_cython.pyx` (the same algorithm, typed), compiled here with cythonize into a
temporary folder. Every engine must give the same start times. Printed: the first call (numba
compiles then, or loads its cache), the median of `--repeat` timed calls, and the kernel run as
plain Python (NUMBA_DISABLE_JIT's speed: the numba text, not compiled).
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STATIONS, SERVERS, RHO, SERVICE_MIN, DAYS = 341, 4, 0.85, 30.0, 21.5


def events(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    horizon = DAYS * 1440
    counts = rng.poisson(RHO * SERVERS / SERVICE_MIN * horizon, STATIONS)
    pool = np.repeat(np.arange(STATIONS), counts)
    arrive = rng.uniform(0.0, horizon, counts.sum())
    order = np.argsort(arrive, kind="stable")
    return arrive[order], pool[order].astype(np.int64), rng.exponential(SERVICE_MIN, len(arrive)), horizon


def bare(arrive, pool, duration, servers, pools, horizon):
    """Plain Python: the peers benchmark's bare loop with the ends' sequence numbers kept."""
    arrive_l, pool_l, duration_l = arrive.tolist(), pool.tolist(), duration.tolist()
    n = len(arrive_l)
    start = [float("nan")] * n
    busy = [0] * pools
    queues = [deque() for _ in range(pools)]
    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    for i in range(n + 1):
        t = arrive_l[i] if i < n else horizon
        while heap and heap[0][0] <= t:
            tf, _, v = pop(heap)
            p = pool_l[v]
            q = queues[p]
            if q:
                w = q.popleft()
                start[w] = tf
                push(heap, (tf + duration_l[w], seq, w))
                seq += 1
            else:
                busy[p] -= 1
        if i == n:
            break
        p = pool_l[i]
        if busy[p] < servers:
            busy[p] += 1
            start[i] = t
            push(heap, (t + duration_l[i], seq, i))
            seq += 1
        else:
            queues[p].append(i)
    return np.array(start)


def cython_kernel():
    """kernel_cython.pyx compiled into a temporary folder and imported (None, with the reason, if
    Cython or a C compiler is missing)."""
    build = Path(tempfile.mkdtemp(prefix="gridsim-cython-"))
    (build / "kernel_cython.pyx").write_text((HERE / "engines" / "kernel_cython.pyx").read_text())
    (build / "setup.py").write_text(
        "from setuptools import setup\nfrom Cython.Build import cythonize\nimport numpy\n"
        "setup(ext_modules=cythonize('kernel_cython.pyx'), include_dirs=[numpy.get_include()])\n")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=build,
                          capture_output=True, text=True)
    if done.returncode:
        return None, done.stderr.strip().splitlines()[-1], 0.0
    compile_s = time.perf_counter() - t0
    built = next(build.glob("kernel_cython*.so"))
    spec = importlib.util.spec_from_file_location("kernel_cython", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run, None, compile_s


def timed(fn, args, repeat):
    t0 = time.perf_counter()
    first_result = fn(*args)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), min(times), max(times), first_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    arrive, pool, duration, horizon = events()
    call = (arrive, pool, duration, SERVERS, STATIONS, horizon)
    print(f"{len(arrive):,} requests at {STATIONS} M/M/{SERVERS} units, {DAYS} days; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    first, median, lo, hi, reference = timed(bare, call, args.repeat)
    rows.append(("bare heapq loop (plain Python)", first, median, lo, hi))
    sys.path.insert(0, str(HERE / "engines"))
    import kernel_numba
    first, median, lo, hi, got = timed(kernel_numba.run, call, args.repeat)
    assert np.array_equal(got, reference, equal_nan=True)
    rows.append(("numba @njit (first call: compile or cache)", first, median, lo, hi))
    plain = kernel_numba.run.py_func
    for name in ("_push", "_pop"):                       # the kernel's helpers as plain Python too
        setattr(kernel_numba, name, getattr(kernel_numba, name).py_func)
    first, median, lo, hi, got = timed(plain, call, 1)
    assert np.array_equal(got, reference, equal_nan=True)
    rows.append(("numba's text as plain Python (NUMBA_DISABLE_JIT)", first, median, lo, hi))
    run, why, compile_s = cython_kernel()
    if run is None:
        print(f"Cython: not built ({why})")
    else:
        first, median, lo, hi, got = timed(run, call, args.repeat)
        assert np.array_equal(got, reference, equal_nan=True)
        rows.append((f"Cython (built in {compile_s:.1f} s beforehand)", first, median, lo, hi))
    bare_median = rows[0][2]
    print(f"{'engine':<52} {'first':>7} {'median':>7} {'range':>15} {'vs bare':>8}")
    for name, first, median, lo, hi in rows:
        print(f"{name:<52} {first:7.3f} {median:7.3f} {lo:7.3f}-{hi:<7.3f} {median / bare_median:8.3f}")


if __name__ == "__main__":
    main()
