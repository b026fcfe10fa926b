"""How long a run must be discarded before its figures describe the steady state: MSER.

The model starts with every queue empty. MSER (White 1997; White, Cobb and
Spratt 2000) batches a series into means of b observations and picks the
truncation d (at most half the batches) that minimises the squared standard
error of the mean of what is left, sum((Y_i - mean)^2) / (n - d)^2: cutting
more removes the initial bias, cutting too much leaves too little to average.
MSER-5 is the usual choice; the series here are daily with a strong weekly
cycle (offices close at weekends), so the batches are weeks (b = 7) and the
answer is in days.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .figures import save

BATCH = 7        # daily series: batch by whole weeks, which removes the weekly cycle
MIN_BATCHES = 4  # fewer batches than this cannot tell a transient from noise
MIN_DAYS = MIN_BATCHES * BATCH


def longest(n: int, batch: int = BATCH) -> int:
    """The largest truncation MSER can give for `n` observations (half the batches): an answer
    this large means the series may still be drifting, and a longer run would tell."""
    return (n // batch) // 2 * batch


def mser(series: np.ndarray, batch: int = BATCH) -> int:
    """The MSER-`batch` truncation point, in observations of `series` (a multiple of `batch`);
    ValueError for a series of fewer than MIN_BATCHES batches (no answer, rather than 0)."""
    y = np.asarray(series, dtype=float)
    n = len(y) // batch
    if n < MIN_BATCHES:
        raise ValueError(f"MSER needs at least {MIN_BATCHES} batches of {batch}, got {len(y)} observations")
    means = y[: n * batch].reshape(n, batch).mean(axis=1)
    best, best_d = np.inf, 0
    for d in range(longest(len(y), batch) // batch + 1):
        rest = means[d:]
        value = ((rest - rest.mean()) ** 2).sum() / len(rest) ** 2
        if value < best:
            best, best_d = value, d
    return best_d * batch


def describe(truncation: dict[str, int], days: int) -> list[str]:
    """Each series' truncation and the warm-up needed (the largest), for a run of `days` daily
    observations; an answer at MSER's limit (`longest`) says the run is too short to tell more."""
    cap = longest(days)
    lines = [f"  {name.replace('_', ' '):<22}{d:>5} days" + ("  (still drifting: at MSER's limit)" if d >= cap else "")
             for name, d in truncation.items()]
    needed = max(truncation.values())
    lines.append(f"warm-up needed: {needed} days" + (f" or more: MSER cannot tell more than half of a {days}-day "
                                                     "run; run longer to see" if needed >= cap else ""))
    return lines


def figure(daily: pd.DataFrame, truncation: dict[str, int], out: Path, dpi: int = 120) -> list[Path]:
    """One panel per series: the daily mean over replicates, and its MSER truncation point."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(truncation)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        ax.plot(daily["day"], daily[name], color="#1f77b4", lw=1.2)
        ax.axvline(truncation[name], color="#d62728", ls="--", lw=1)
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        ax.text(truncation[name], ax.get_ylim()[1], f" MSER-{BATCH}: {truncation[name]} days", color="#d62728",
                va="top", fontsize=8)
    axes[-1, 0].set_xlabel("day of the run (the model starts with every queue empty)")
    fig.tight_layout()
    try:
        return save(fig, out, dpi)
    finally:
        plt.close(fig)
