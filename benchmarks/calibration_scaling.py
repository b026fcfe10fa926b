"""Runs per minute of a calibration wave on Dask with 1 and 2 workers (and the local pool).

    .venv/bin/python benchmarks/calibration_scaling.py [--points 8] [--replicates 2]

Runs the first `--points` points of wave 1 of the Meihekou calibration (the
targets file's run length: 100 days, 35 of warm-up) on a Dask LocalCluster of
1 and of 2 worker processes, and on the local process pool of 2, each into a
fresh folder, and prints wall time and runs per minute. The waves of
`gridsim calibrate` are exactly such sweeps (each run keeping only the targets'
KPIs), so a calibration's time is its number of runs over these rates. The load average (other users' jobs) is
printed beside each, since this machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from gridsim.experiments.calibrate import _bases, _kept, wave_design
from gridsim.experiments.inputs import points_spec, values
from gridsim.experiments.sweep import Executor, run_sweep
from gridsim.experiments.targets import load_targets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--replicates", type=int, default=2)
    args = ap.parse_args()
    t = load_targets("meihekou")
    cal = t.calibration
    base = dataclasses.replace(_bases(t)[""], replicates=args.replicates)      # the 2020 city, as wave 1
    import pandas as pd
    points = values(t.inputs, wave_design(t, 1, pd.DataFrame())[: args.points])
    spec = points_spec(base, "bench", t.inputs, points, kind="history_matching", keep=_kept(t))
    runs = args.points * args.replicates
    print(f"{runs} runs of {cal.days:g} days (Meihekou 2020, calibration wave 1), {os.cpu_count()} cores")
    for label, workers, dask in (("Dask, 1 worker", 1, "local"), ("Dask, 2 workers", 2, "local"),
                                 ("process pool, 2 workers", 2, None)):
        folder = Path(tempfile.mkdtemp(prefix="gridsim-bench-"))
        try:
            load0 = os.getloadavg()[0]
            with Executor(workers, dask) as pool:
                t0 = time.perf_counter()
                report = run_sweep(spec, folder / "w", pool)
                wall = time.perf_counter() - t0
            assert report.done == runs, report
            print(f"{label:<26} {wall:7.1f} s  {60 * runs / wall:6.1f} runs/min  "
                  f"(load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
