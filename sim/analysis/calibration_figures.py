"""Figures of a calibration and a sensitivity analysis (PNG and SVG, no timestamps).

These take plain tables (what `experiments.calibrate` and
`experiments.sensitivity` computed) and only draw: each target against the
model's predictive interval before and after calibration, the inputs' plausible
ranges, and per KPI the Sobol indices with their bootstrap intervals and the
Morris screening plane.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..model.kpis import lookup
from .figures import save

GROUPS = (("prior", "before: inputs over their whole ranges (wave 1)", "#bbbbbb"),
          ("scenario", "before: the scenario as written", "#1f77b4"),
          ("plausible", "after: plausible set", "#ff7f0e"),
          ("central", "after: the calibrated scenario", "#d62728"))


def _save(fig, stem: Path, dpi: int) -> list[Path]:
    import matplotlib.pyplot as plt
    try:
        return save(fig, stem, dpi)
    finally:
        plt.close(fig)


def targets_figure(values: pd.DataFrame, targets: list[dict], stem: Path, dpi: int = 150) -> list[Path]:
    """One panel per target: the target's range (shaded) and the 5-95% interval and median of the
    runs' values in each group (`values`: columns target, group, value)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(targets), 1, figsize=(8, 1.5 + 1.25 * len(targets)), squeeze=False)
    for ax, t in zip(axes[:, 0], targets):
        ax.axvspan(t["low"], t["high"], color="#2ca02c", alpha=0.2, label="target range")
        for k, (group, label, colour) in enumerate(GROUPS):
            x = values.loc[(values["target"] == t["name"]) & (values["group"] == group), "value"].dropna()
            if x.empty:
                continue
            lo, med, hi = np.percentile(x, [5, 50, 95])
            y = len(GROUPS) - 1 - k
            ax.plot([lo, hi], [y, y], color=colour, lw=3, solid_capstyle="butt", label=label)
            ax.plot([med], [y], "o", color=colour, ms=5)
        kpi = lookup(t["kpi"])
        ax.set_ylim(-0.7, len(GROUPS) - 0.3)
        ax.set_yticks([])
        ax.set_title(f"{t['name']}: {kpi.label if kpi else t['kpi']}", fontsize=9, loc="left")
        ax.set_xlabel(kpi.display_unit if kpi else "", fontsize=8)
        ax.tick_params(labelsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Targets against the model's 90% predictive intervals (runs), before and after calibration",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.12 if len(targets) < 4 else 0.08, 1, 0.97))
    return _save(fig, stem, dpi)


def ranges_figure(ranges: pd.DataFrame, plausible_units: np.ndarray, stem: Path, dpi: int = 150) -> list[Path]:
    """Each input's prior range as [0, 1], its plausible points, plausible range, the scenario's
    value and the calibrated (central) value; ends labelled in the input's own units."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(ranges)
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.55 * n))
    rng = np.random.default_rng(0)
    for k, row in enumerate(ranges.itertuples()):
        y = n - 1 - k
        ax.plot([0, 1], [y, y], color="#dddddd", lw=8, solid_capstyle="butt")
        if len(plausible_units):
            u = plausible_units[:, k]
            ax.plot(u, y + rng.uniform(-0.18, 0.18, len(u)), ".", color="#ff7f0e", ms=3, alpha=0.6)
            ax.plot([u.min(), u.max()], [y - 0.3, y - 0.3], color="#ff7f0e", lw=2)
        for value, marker, colour in ((row.scenario_unit, "|", "#1f77b4"), (row.central_unit, "D", "#d62728")):
            if np.isfinite(value):
                ax.plot([value], [y], marker, color=colour, ms=9 if marker == "|" else 5, mew=2)
        ax.text(-0.02, y, f"{row.input}\n{row.low:.3g}", ha="right", va="center", fontsize=7)
        ax.text(1.02, y, f"{row.high:.3g}", ha="left", va="center", fontsize=7)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_yticks([])
    ax.set_xlabel("position in the input's prior range (log scale where the input is)", fontsize=8)
    ax.set_title("Inputs: prior range (grey), plausible points and range (orange),\n"
                 "scenario as written (blue |), calibrated (red)", fontsize=9)
    fig.subplots_adjust(left=0.3, right=0.93, top=1 - 0.45 / fig.get_figheight(), bottom=0.5 / fig.get_figheight())
    return _save(fig, stem, dpi)


def sobol_figure(table: pd.DataFrame, kpi: str, stem: Path, dpi: int = 150) -> list[Path]:
    """First-order and total Sobol indices of one KPI with their bootstrap 95% intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = table.sort_values("ST", ascending=True)
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.4 * len(t)))
    ax.barh(y + 0.2, t["ST"], 0.4, xerr=t["ST_conf"], color="#1f77b4", label="total (ST)", capsize=2)
    ax.barh(y - 0.2, t["S1"], 0.4, xerr=t["S1_conf"], color="#ff7f0e", label="first order (S1)", capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels(t["input"], fontsize=8)
    ax.axvline(0, color="black", lw=0.5)
    k = lookup(kpi)
    ax.set_xlabel("share of the variance (95% bootstrap intervals)", fontsize=8)
    ax.set_title(f"Sobol indices: {k.label if k else kpi}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, stem, dpi)


def morris_figure(table: pd.DataFrame, kpi: str, stem: Path, dpi: int = 150) -> list[Path]:
    """Morris screening: mu* (mean absolute elementary effect) against sigma, each input labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.errorbar(table["mu_star"], table["sigma"], xerr=table["mu_star_conf"], fmt="o", color="#1f77b4",
                ms=4, capsize=2)
    for row in table.itertuples():
        ax.annotate(row.input, (row.mu_star, row.sigma), fontsize=7, xytext=(3, 3), textcoords="offset points")
    k = lookup(kpi)
    unit = k.display_unit if k else ""
    ax.set_xlabel(f"mu* (mean |elementary effect|, {unit} per input range)", fontsize=8)
    ax.set_ylabel(f"sigma (spread of the effects, {unit})", fontsize=8)
    ax.set_title(f"Morris screening: {k.label if k else kpi}", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem, dpi)
