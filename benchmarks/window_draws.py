"""Can a run's draws be made a window at a time and still be, bit for bit, the draws made at once?

    .venv/bin/python benchmarks/window_draws.py [--rows 765000] [--stages 4] [--windows 12]

Item 3 of issue 18 (memory with open work, not horizon) needs the requests drawn a window at a
time; the build now does (`requests.Section`, which takes the first two ways below, and draws a
scattered section whole once instead of the third). Each type's draws are sections of one stream
per process (`requests.stream`): uniforms, an
(n, stages) block of them, and standard exponentials. This checks, on a stream as `stream` makes
it, the three ways a window's rows could be reached without changing one number, and times them:

- uniforms: a copy of the stream moved on (`PCG64.advance`) to the section's start plus the
  window's first row (one 64-bit draw a uniform, so the place is known);
- exponentials (a variable number of 64-bit draws each, numpy's ziggurat): the stream's state
  saved at each window's first row in one pass through the section, then drawn from there;
- rows scattered over a section (the routine home visits are drawn household by household, not in
  time order, so a window's are spread over all of it): one pass through the section a window,
  keeping its rows. docs/PERFORMANCE.md quotes the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gridsim.model.requests import stream


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=765_000, help="rows of one type (a city-year's home visits)")
    p.add_argument("--stages", type=int, default=4, help="columns of its (rows, stages) block")
    p.add_argument("--windows", type=int, default=12)
    a = p.parse_args()
    n, stages = a.rows, a.stages
    cuts = np.linspace(0, n, a.windows + 1).astype(int).tolist()
    windows = list(zip(cuts[:-1], cuts[1:]))

    def fresh() -> np.random.Generator:
        return stream(0, "service", 8)

    def at(draws: int) -> np.random.Generator:
        g = fresh()
        g.bit_generator.advance(draws)
        return g

    whole = fresh()
    block, after = whole.random((n, stages)), whole.random(n)
    t = time.perf_counter()
    same = all(np.array_equal(at(lo * stages).random((hi - lo, stages)), block[lo:hi])
               and np.array_equal(at(n * stages + lo).random(hi - lo), after[lo:hi]) for lo, hi in windows)
    print(f"uniforms, each window from the stream moved on: equal {same}; "
          f"{(time.perf_counter() - t) / len(windows) * 1e3:.1f} ms a window for both sections")

    whole = fresh()
    first, second = whole.standard_exponential(n), whole.standard_exponential(n)
    t = time.perf_counter()
    g, saved = fresh(), []
    for lo, hi in windows:
        saved.append(g.bit_generator.state)
        g.standard_exponential(hi - lo)
    saved_after = g.bit_generator.state
    pass_ms = (time.perf_counter() - t) * 1e3

    def from_state(state: dict) -> np.random.Generator:
        h = np.random.Generator(np.random.PCG64())
        h.bit_generator.state = state
        return h
    same = all(np.array_equal(from_state(s).standard_exponential(hi - lo), first[lo:hi])
               for s, (lo, hi) in zip(saved, windows))
    same &= np.array_equal(from_state(saved_after).standard_exponential(n), second)
    print(f"exponentials, each window from a state saved in one pass: equal {same}; the pass {pass_ms:.1f} ms")

    rows = np.sort(np.random.default_rng(1).choice(n, n // a.windows, replace=False))
    t = time.perf_counter()
    g, out, chunk, j = fresh(), np.empty(len(rows)), 1 << 16, 0
    for lo in range(0, n, chunk):
        drawn = g.random(min(chunk, n - lo))
        k = int(np.searchsorted(rows, lo + len(drawn)))
        out[j:k] = drawn[rows[j:k] - lo]
        j = k
    ms = (time.perf_counter() - t) * 1e3
    print(f"a window's {len(rows):,} rows scattered over a section of {n:,} uniforms, by a pass through it: "
          f"equal {np.array_equal(out, fresh().random(n)[rows])}; {ms:.1f} ms a section a window")


if __name__ == "__main__":
    main()
