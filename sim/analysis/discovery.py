"""Scenario discovery: in the inputs no data constrains, where does an option meet its targets?

PRIM, the Patient Rule Induction Method (Friedman and Fisher 1999), as EMA
Workbench uses it for scenario discovery (Bryant and Lempert 2010). Start from
every run, each at its values of the unconstrained inputs; peel off, from one
side of one input at a time, the `alpha` share of the runs still in the box
whose removal most raises the share of the rest that meet the targets
(density); stop when the box would hold fewer than `min_mass` of the runs.
On that trajectory the box reported is the one holding the most of the runs
that meet (coverage) among those whose density reaches `density`: a region
stated in the inputs' own terms ("wherever report_delays is below 1.3"). An
input whose limits were never moved is not part of the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd



@dataclass(frozen=True)
class Box:
    limits: dict[str, tuple[float, float]]   # each restricted input: (above, below), either may be +-inf
    density: float                            # share of the runs in the box that meet
    coverage: float                           # share of the runs that meet which lie in the box
    mass: float                               # share of all runs in the box
    runs: int                                 # runs in the box

    @property
    def everywhere(self) -> bool:
        return not self.limits


def prim(x: pd.DataFrame, meets: np.ndarray, *, alpha: float = 0.05, min_mass: float = 0.05,
         density: float = 0.9) -> Box | None:
    """The box of `x` (one column per input, one row per run) where the runs meet (`meets`): None
    when no box on the peeling trajectory reaches `density` (the option meets in no region)."""
    y = np.asarray(meets, dtype=bool)
    values = {c: x[c].to_numpy(dtype=float) for c in x.columns}
    n, hits = len(y), int(y.sum())
    if n == 0 or hits == 0:
        return None
    inside = np.ones(n, dtype=bool)
    limits = {c: (-math.inf, math.inf) for c in values}
    trajectory = [(dict(limits), inside.copy())]
    while inside.sum() > min_mass * n:
        k = max(1, int(alpha * inside.sum()))
        best = None
        for c, v in values.items():
            here = np.sort(v[inside])
            for side, cut in (("above", here[k - 1]), ("below", here[-k])):
                keep = inside & ((v > cut) if side == "above" else (v < cut))
                if not keep.any() or keep.sum() == inside.sum() or keep.sum() < min_mass * n:
                    continue
                score = (y[keep].mean(), keep.sum())
                if best is None or score > best[0]:
                    best = (score, c, side, cut, keep)
        if best is None:
            break
        _, c, side, cut, inside = best
        low, high = limits[c]
        limits[c] = (max(low, cut), high) if side == "above" else (low, min(high, cut))
        trajectory.append((dict(limits), inside.copy()))
    good = [(y[box].sum() / hits, y[box].mean(), lim, box) for lim, box in trajectory if y[box].mean() >= density]
    if not good:
        return None
    coverage, dens, lim, box = max(good, key=lambda g: (g[0], g[1]))
    restricted = {c: v for c, v in lim.items() if v != (-math.inf, math.inf)}
    return Box(restricted, float(dens), float(coverage), float(box.mean()), int(box.sum()))


def region(box: Box) -> str:
    """The box's limits as a planner reads them: `report_delays below 1.3 and ... above 0.2`."""
    parts = []
    for name, (above, below) in box.limits.items():
        if math.isinf(above):
            parts.append(f"{name} is below {_two(below)}")
        elif math.isinf(below):
            parts.append(f"{name} is above {_two(above)}")
        else:
            parts.append(f"{name} is between {_two(above)} and {_two(below)}")
    return " and ".join(parts)


def _two(v: float) -> str:
    """Two significant digits: a limit found by peeling is no more precise than that."""
    return f"{float(f'{v:.2g}'):,g}"


def sentence(option: str, targets: str, box: Box | None, runs: int, meeting: int) -> str:
    """One sentence: where, across the unconstrained inputs, `option` meets `targets` (its mean over
    replicates at each of `runs` points)."""
    if meeting == 0:
        return f"{option} meets {targets} nowhere in the range of the unconstrained inputs (0 of {runs} points)."
    if box is None:
        return (f"{option} meets {targets} in {meeting} of {runs} points of the unconstrained inputs, in no region "
                f"PRIM can state (no box where at least 90% of the points meet).")
    if box.everywhere:
        return f"{option} meets {targets} across the whole range of the unconstrained inputs ({meeting} of {runs} points)."
    return (f"{option} meets {targets} wherever {region(box)} ({round(box.density * box.runs)} of {box.runs} points "
            f"there; the region holds {box.coverage:.0%} of the {meeting} of {runs} points that meet).")


@dataclass(frozen=True)
class Found:
    """One option across the unconstrained inputs: per point whether its means meet every target."""
    option: str
    points: pd.DataFrame          # one row per point of the inputs: their values and `meets`
    box: Box | None
    sentence: str


def across(runs: pd.DataFrame, given: list[dict], inputs: list[str], objective, option_of: dict[int, str],
           role: dict[str, str] | None = None) -> list[Found]:
    """Each option's verdict at each point of the unconstrained inputs (the mean over its replicates of
    each constrained KPI against its bound), the PRIM box where it meets and the sentence that says
    so. `given[i]` is design point i (input values and what else it set), `option_of[i]` names the
    option it ran; `role` maps an option to what the sentence calls it (the chosen, a runner-up)."""
    means = runs.groupby("point")[[c.kpi for c in objective.constraints]].mean()
    rows = []
    for i, point in enumerate(given):
        if i not in means.index:
            continue
        row = means.loc[i]
        rows.append({"option": option_of[i], **{name: point[name] for name in inputs},
                     "meets": all(c.holds(row[c.kpi]) for c in objective.constraints)})
    table = pd.DataFrame(rows)
    out = []
    for option, mine in table.groupby("option", sort=False):
        box = prim(mine[inputs], mine["meets"].to_numpy())
        name = (role or {}).get(option, option)
        out.append(Found(option, mine.reset_index(drop=True), box,
                         sentence(name, objective.targets(), box, len(mine), int(mine["meets"].sum()))))
    return out
