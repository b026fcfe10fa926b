"""Where a calibration's wall time goes: its runs, or the parent's work around them.

    .venv/bin/python benchmarks/calibration_phases.py FOLDER [--targets meihekou]

Runs `gridsim calibrate TARGETS --results FOLDER --quiet` in this process (FOLDER should not hold
an earlier calibration, which would resume) and times each sweep from the parent. Printed: the
wall time from the command's start (after this script's imports), the time inside sweeps, and the
runs' own time (`Report.sim_seconds`: each run's model, summed over the workers) over the
workers; what is left is the parent's (imports, probes, reading the stored runs, the evaluation,
the figures) and the sweeps' edges (a worker's first runs, the last run of a sweep on one worker
while the other waits). docs/PERFORMANCE.md quotes it.
"""

from __future__ import annotations

import argparse
import time

from gridsim.experiments import sweep as sweeps

log: list[dict] = []
timed = sweeps.sweep


def sweep(*args, **kwargs):
    start = time.perf_counter()
    report = timed(*args, **kwargs)
    log.append({"start": start, "end": time.perf_counter(), "runs": report.done, "sim": report.sim_seconds})
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--targets", default="meihekou")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    sweeps.sweep = sweep                 # run_sweep looks the name up when it runs
    from gridsim.cli import main as gridsim
    t0 = time.perf_counter()
    try:
        gridsim(["calibrate", a.targets, "--results", a.folder, "--scenario-out", f"{a.folder}/calibrated.toml",
                 "--workers", str(a.workers), "--quiet"])
    except SystemExit as done:
        if done.code:
            raise
    wall = time.perf_counter() - t0
    inside = sum(s["end"] - s["start"] for s in log)
    runs = sum(s["sim"] for s in log) / a.workers
    print(f"wall {wall:.1f} s: {len(log)} sweeps {inside:.1f} s ({sum(s['runs'] for s in log)} runs, their own time "
          f"{runs:.1f} s on {a.workers} workers, the sweeps' edges {inside - runs:.1f} s), outside them {wall - inside:.1f} s")
    gaps = [b["start"] - e["end"] for e, b in zip(log, log[1:])]
    print(f"  before the first sweep {log[0]['start'] - t0:.1f} s, between sweeps {sum(gaps):.1f} s "
          f"({min(gaps):.2f}-{max(gaps):.2f} s each), after the last {t0 + wall - log[-1]['end']:.1f} s")
    print("  each sweep, wall (runs' own time on the workers): "
          + ", ".join(f"{s['end'] - s['start']:.1f} ({s['sim'] / a.workers:.1f})" for s in log))


if __name__ == "__main__":
    main()
