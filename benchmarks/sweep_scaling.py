"""Sweep scaling: 16 short Meihekou runs on 1 and on 2 worker processes.

Reports the speed-up of 2 workers over 1 (target >= 1.8x on a 2-core machine)
and the per-run overhead of the executor and results store against running
the same 16 runs directly in one process with `simulate()` (target < 5% of a
30-day Meihekou run).

    .venv/bin/python benchmarks/sweep_scaling.py [--days 30] [--runs 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsim.experiments.spec import load_spec, run_seed  # noqa: E402
from gridsim.experiments.sweep import Executor, run_sweep  # noqa: E402
from gridsim.model.run import simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2, help="take the fastest of this many rounds")
    args = ap.parse_args()
    reps = args.runs // 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec_file = tmp / "bench.toml"
        spec_file.write_text(f'''name = "bench"
scenario = "{ROOT / 'scenarios' / 'meihekou_2020.toml'}"
replicates = {reps}
root_seed = 1
days = {args.days}
warmup_days = 0
[factors]
"roles.grid_leader.min_per_station" = [0, 4]
''')
        spec = load_spec(spec_file)
        points = spec.points()
        n = len(points) * reps

        load_before = os.getloadavg()[0]
        direct, timings = float("inf"), {1: float("inf"), 2: float("inf")}
        inner = float("inf")         # executor + store overhead inside the 1-worker sweep
        for k in range(args.repeat):
            # direct: the same runs, one process, no executor, no store
            t0 = time.perf_counter()
            for p in points:
                scenario = spec.scenario_at(p)
                for r in range(reps):
                    simulate(scenario, seed=run_seed(spec.root_seed, r))
            direct = min(direct, time.perf_counter() - t0)
            for workers in (1, 2):
                t0 = time.perf_counter()
                with Executor(workers) as pool:
                    report = run_sweep(spec, tmp / f"w{workers}-{k}", pool)
                wall = time.perf_counter() - t0
                timings[workers] = min(timings[workers], wall)
                if workers == 1:
                    inner = min(inner, (wall - report.sim_seconds) / n)
                assert report.done == n and report.failed == 0, report

    per_run = direct / n
    overhead = (timings[1] - direct) / n
    print(f"{n} runs of Meihekou 2020, {args.days:g} days each; {os.cpu_count()} cores; "
          f"fastest of {args.repeat} rounds; load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(f"direct simulate(), 1 process : {direct:7.1f} s  ({per_run:.2f} s per run)")
    print(f"sweep, 1 worker              : {timings[1]:7.1f} s")
    print(f"sweep, 2 workers             : {timings[2]:7.1f} s")
    print(f"speed-up 2 vs 1 workers      : {timings[1] / timings[2]:.2f}x  (target >= 1.8x)")
    print(f"overhead per run (1 worker)  : {inner * 1000:.0f} ms = {100 * inner / per_run:.1f}% of a run "
          "(target < 5%): sweep wall time minus time inside simulate(), per run")
    print(f"  vs direct simulate() loop  : {overhead * 1000:.0f} ms = {100 * overhead / per_run:.1f}% of a run "
          "(includes any difference in simulate() itself between a worker process and this one)")


if __name__ == "__main__":
    main()
