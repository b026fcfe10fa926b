"""Which findings survive the plausible range of the assumptions?

A finding is a claim about one comparison of a study experiment ("option B beats
the baseline on care resolution"). It was measured at the scenario's hand-set
assumptions. Here each comparison is re-run in every one of the calibration's
plausible parameter sets (the inputs' values that no target rules out), each
set also given its own values of the inputs no target speaks to at all (the
claims file's `[inputs]`: availability, service times, shift hours, channel
utilities, routing, over ranges that reach "no effect"; a Latin hypercube, one
row per set): the experiment's points (the option and its baseline only)
crossed with the sets, every point of a replicate on the same random numbers,
so each set's difference is paired over replicates. A claim **holds** in a set
when the mean paired difference has the claimed sign ("higher"/"lower") or lies
within the claimed tolerance ("same"). It is **robust** when it holds in at
least `robust_share` (0.9) of the sets, **fragile** otherwise.

The input that flips it (regional sensitivity analysis, Spear and Hornberger
1980): for a fragile claim, the input whose values differ most between the
sets where it holds and those where it fails (the Kolmogorov-Smirnov distance
of the two samples), with the side on which it fails; for a robust claim, the
input the size of the effect moves with most (Spearman's rank correlation
across the sets), which is what would flip it beyond the plausible range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd

from ..analysis.compare import show_difference
from ..analysis.store import Store, read_table, write_table
from ..model.kpis import lookup, number
from ..scenario import ScenarioError, read_toml
from ..scenario.fields import build, join
from ..scenario.fields import spec as fspec
from . import limits
from .inputs import Input, parse_inputs, points_spec, values
from .reproduce import find
from .spec import Spec, check_kpi, load_spec, refusals
from .sweep import run_sweep
from .targets import load_targets

TAG = "plausible_set"


@dataclass(frozen=True, kw_only=True)
class ClaimTable:
    experiment: str                     # E1 ... E9 (or a study experiment's name)
    point: Mapping[str, Any]            # the compared point: {factor path or "option": value}
    kpi: str
    direction: Literal["higher", "lower", "same"]
    within: float = fspec(0.0, ge=0)    # for "same": the largest difference that counts as none
    finding: str

    def check(self, path: str) -> None:
        if self.direction == "same" and self.within <= 0:
            raise ScenarioError(join(path, "within"), "a 'same' claim needs the difference that counts as none (> 0)")
        if len(self.point) != 1:
            raise ScenarioError(join(path, "point"), "must name one factor or option and its value")


@dataclass(frozen=True, kw_only=True)
class ClaimsFile:
    robust_share: float = fspec(0.9, gt=0, le=1)
    claims: tuple[ClaimTable, ...]
    inputs: Mapping[str, Any] = fspec({})    # inputs no target constrains, varied besides the plausible sets
    design_seed: int = fspec(0, ge=0, le=2**63 - 1)

    def check(self, path: str) -> None:
        if not self.claims:
            raise ScenarioError("claims", "must list at least one claim")


def load_claims(path: str | Path, days: float | None = None,
                replicates: int | None = None) -> tuple[ClaimsFile, dict[str, Spec]]:
    """The claims file and each claim's experiment (with `days` and `replicates` if given), every
    claim's point and KPI checked against its experiment's points and scenario: before any run."""
    path = Path(path)
    data = read_toml(path)[1]
    specs: dict[str, Spec] = {}
    try:
        f = build(ClaimsFile, data)
        for i, c in enumerate(f.claims):
            if c.experiment not in specs:
                try:
                    specs[c.experiment] = load_spec(experiment_file(c.experiment, path.parent), days, replicates)
                except ScenarioError as err:
                    raise ScenarioError(f"claims[{i}].experiment", str(err)) from None
            spec = specs[c.experiment]
            (key, value), = c.point.items()
            if _match(spec.points(), key, value) is None:
                raise ScenarioError(f"claims[{i}].point", f"{key} = {value!r} is not a point of {spec.name}")
            check_kpi(c.kpi, spec.base, f"claims[{i}].kpi")
    except ScenarioError as err:
        raise err.at(str(path)) from None
    return f, specs


def experiment_file(name: str, here: Path) -> Path:
    """A claim's experiment: a study experiment's key or name (E1, E3_building_leaders), or a file
    relative to the claims file."""
    candidate = here / name
    return candidate if name.endswith(".toml") and candidate.exists() else find(name)


def _match(points: list[dict], key: str, value) -> dict | None:
    for p in points:
        if key in p and (p[key] == value or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                             and isinstance(p[key], (int, float)) and math.isclose(p[key], value))):
            return p
    return None


def _baseline(spec) -> dict:
    base = dict(spec.baseline)
    found = next((p for p in spec.points() if all(p.get(k) == v for k, v in base.items())), None)
    if found is None:
        raise ScenarioError("baseline", f"{spec.name} names no baseline point", spec.source)
    return found


def sample_sets(plausible: pd.DataFrame, sets: int, seed: int) -> pd.DataFrame:
    """A deterministic sample of the plausible set (all of it if it has no more than `sets`)."""
    if len(plausible) <= sets:
        return plausible.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    return plausible.iloc[np.sort(rng.choice(len(plausible), sets, replace=False))].reset_index(drop=True)


@dataclass
class Robustness:
    table: pd.DataFrame          # one row per claim
    effects: pd.DataFrame        # one row per claim and set: the paired difference and whether it holds
    sets: pd.DataFrame           # the plausible sets used (input values)


def run(calibration: str | Path, claims_path: str | Path, folder: str | Path, executor, *, sets: int | None = None,
        replicates: int = 3, days: float | None = None, seed: int = 0, experiments: list[str] | None = None,
        progress: bool = False, say=lambda line: None, max_requests: float | None = None,
        at_once: int = 1) -> Robustness:
    """Every claim across the plausible sets (all of them, or a sample of `sets`), each with its own
    values of the claims file's unconstrained [inputs]. Every name, point and scenario is checked,
    and the whole job sized (`limits`), before the first run; a set in which a compared point is
    not a valid scenario (a queue that could never keep up) is left out of that experiment, and
    the table says how many were."""
    calibration, folder = Path(calibration), Path(folder)
    plausible, about = read_table(calibration, "plausible")
    if plausible.empty:
        raise ScenarioError("", "the calibration found no plausible parameter set", str(calibration))
    targets = load_targets(about["targets"])
    claims, specs = load_claims(claims_path, days, replicates)
    for name in experiments or []:
        if name not in specs:
            raise ScenarioError("", f"no claim of {claims_path} is about {name!r} (claims are about: "
                                    f"{', '.join(specs)})", f"--experiment {name}")
    chosen = sample_sets(plausible, sets or len(plausible), seed)
    extra = free_inputs(claims, targets.scenario, claims_path)
    chosen = with_free_values(chosen, extra, claims.design_seed)
    inputs: tuple[Input, ...] = (*targets.inputs, *extra)
    wanted = [c for c in claims.claims if experiments is None or c.experiment in experiments]
    plans = []
    for exp in dict.fromkeys(c.experiment for c in wanted):
        spec = specs[exp]
        mine = [c for c in wanted if c.experiment == exp]
        base_point = _baseline(spec)
        compared = [base_point] + [p for p in (_match(spec.points(), *next(iter(c.point.items()))) for c in mine)
                                   if p is not None and p != base_point]
        compared = list({repr(sorted(p.items())): p for p in compared}.values())
        given = [{TAG: j, **{i.name: _value(i, s[i.name]) for i in inputs}, **p}
                 for j, s in chosen.iterrows() for p in compared]
        ps = points_spec(spec, f"{spec.name}-robustness", inputs, given, tags=(TAG,), kind="robustness")
        errors = refusals(ps, given, progress)
        left_out = sorted({given[k][TAG] for k in errors})
        if left_out:
            k, err = min(errors.items())
            say(f"{spec.name}: {len(left_out)} of {len(chosen)} sets left out: a compared point is not a valid "
                f"scenario there (first: {ps.point_label(given[k])}: {err.path}: {err.message})")
            given = [g for g in given if g[TAG] not in left_out]
            ps = points_spec(spec, f"{spec.name}-robustness", inputs, given, tags=(TAG,), kind="robustness")
        plans.append((spec, mine, compared, ps, len(left_out)))
    limits.check("robustness", limits.estimate([spec.base for spec, _, _, ps, _ in plans for _ in ps.given],
                                               replicates, at_once),
                 max_requests, change="lower --sets, --replicates or --days")
    rows, effects = [], []
    for spec, mine, compared, ps, left_out in plans:
        say(f"{spec.name}: {len(compared)} points x {len(chosen) - left_out} plausible sets x {spec.replicates} "
            f"replicates, {spec.days:g} days")
        report = run_sweep(ps, folder / spec.name, executor, progress=progress,
                           arguments={"calibration": str(calibration.resolve()),
                                      "claims": str(Path(claims_path).resolve())})
        if report.failed:
            first = sorted(report.errors.items())[0]
            raise RuntimeError(f"{spec.name}: {report.failed} runs failed (first {first[0]}: {first[1]})")
        index = {i: (p[TAG], _key(p, compared)) for i, p in enumerate(ps.points())}
        runs = Store(folder / spec.name).runs().copy()      # one block, not many columns
        runs = runs.assign(_set=runs["point"].map(lambda i: index[i][0]),
                           _compared=runs["point"].map(lambda i: index[i][1]))
        for c in mine:
            target = compared.index(_match(compared, *next(iter(c.point.items()))))
            d = _paired(runs, c.kpi, target)
            undefined = len(chosen) - left_out - int(d.notna().sum())   # the KPI never reached, at either point
            d = d.dropna()
            holds = _holds(d, c)
            effects.append(pd.DataFrame({"experiment": spec.name, "finding": c.finding, "kpi": c.kpi,
                                         TAG: d.index, "difference": d.to_numpy(), "holds": holds}))
            rows.append({**_summarise(spec.name, c, d, holds, chosen, inputs, claims.robust_share, undefined),
                         "sets_left_out": left_out, "sets_undefined": undefined})
    table = pd.DataFrame(rows)
    effects = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()
    meta = {"calibration": str(calibration.resolve()), "claims": str(Path(claims_path).resolve()),
            "sets": len(chosen), "replicates": replicates, "robust_share": claims.robust_share,
            "model_commit": about.get("model_commit"), "free_inputs": [i.name for i in extra]}
    write_table(folder, "robustness", table, meta)
    write_table(folder, "effects", effects, meta)
    return Robustness(table, effects, chosen)


def free_inputs(claims: ClaimsFile, scenario, claims_path: str | Path) -> tuple[Input, ...]:
    """The claims file's [inputs], checked against the calibration's scenario."""
    if not claims.inputs:
        return ()
    try:
        return parse_inputs(claims.inputs, scenario, "inputs")
    except ScenarioError as err:
        raise err.at(str(claims_path)) from None


def with_free_values(sets: pd.DataFrame, extra: tuple[Input, ...], seed: int) -> pd.DataFrame:
    """Each plausible set with its own values of the unconstrained inputs: one row of a Latin
    hypercube over their ranges per set."""
    if not extra:
        return sets
    from scipy.stats import qmc
    rows = values(extra, qmc.LatinHypercube(d=len(extra), seed=seed).random(len(sets)))
    return pd.concat([sets.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def _value(inp: Input, x):
    return int(x) if inp.integer else float(x)


def _key(point: dict, compared: list[dict]) -> int:
    rest = {k: v for k, v in point.items() if k in compared[0]}
    return next(i for i, p in enumerate(compared) if p == rest)


def _paired(runs: pd.DataFrame, kpi: str, target: int) -> pd.Series:
    """Per plausible set: mean over replicates of (point - baseline), replicate by replicate."""
    wide = runs.pivot_table(index=["_set", "replicate"], columns="_compared", values=kpi, aggfunc="first")
    diff = (wide[target] - wide[0]).groupby(level="_set").mean()
    return diff.sort_index()


def _holds(d: pd.Series, c: ClaimTable) -> np.ndarray:
    x = d.to_numpy(dtype=float)
    if c.direction == "higher":
        return x > 0
    if c.direction == "lower":
        return x < 0
    return np.abs(x) <= c.within


def _summarise(experiment: str, c: ClaimTable, d: pd.Series, holds: np.ndarray, sets: pd.DataFrame,
               inputs: tuple[Input, ...], share: float, undefined: int = 0) -> dict:
    """A claim's verdict over the sets it was judged in; a set where its KPI is undefined (a percentile
    never reached) does not support it: robust needs `share` of the judged and undefined together."""
    from scipy import stats
    n, k = len(d), int(holds.sum())
    x = sets.loc[d.index]
    flip, how = None, ""
    if 0 < k < n:                       # fragile: which input separates the sets where it fails?
        best = max(inputs, key=lambda i: stats.ks_2samp(x.loc[holds, i.name], x.loc[~holds, i.name]).statistic)
        fail, ok = x.loc[~holds, best.name].median(), x.loc[holds, best.name].median()
        flip = best.name
        how = (f"fails where {best.name} is {'high' if fail > ok else 'low'} (median {number(fail)} where it fails, "
               f"{number(ok)} where it holds)")
    elif n > 2 and np.ptp(d.to_numpy(dtype=float)) > 0:   # robust (or never holds): what moves the effect most
        rho = {i.name: stats.spearmanr(x[i.name], d.to_numpy()).statistic for i in inputs
               if x[i.name].nunique() > 1}
        rho = {name: r for name, r in rho.items() if np.isfinite(r)}
        if rho:
            flip = max(rho, key=lambda name: abs(rho[name]))
            how = f"the effect moves most with {flip} (Spearman {rho[flip]:+.2f})"
    kpi = lookup(c.kpi)
    return {"experiment": experiment, "finding": c.finding, "kpi": c.kpi, "point": repr(dict(c.point)),
            "direction": c.direction, "within": c.within, "sets": n, "holds": k,
            "label": "robust" if k >= share * (n + undefined) else "fragile",
            "effect_median": float(np.median(d)), "effect_min": float(d.min()), "effect_max": float(d.max()),
            "effect_unit": kpi.display_unit if kpi else "", "input": flip or "", "how": how}


def _out_of(row) -> str:
    """The sets a claim could not be judged in: a compared point invalid there, or its KPI undefined
    (a percentile never reached) in every replicate of a point."""
    parts = [f"{n} {why}" for n, why in ((getattr(row, "sets_left_out", 0), "left out"),
                                         (getattr(row, "sets_undefined", 0), "undefined")) if n]
    return f" ({', '.join(parts)})" if parts else ""


def lines(r: Robustness) -> list[str]:
    out = []
    for row in r.table.itertuples():
        show = partial(show_difference, row.kpi)
        out.append(f"{row.experiment}: {row.finding}: holds in {row.holds} of {row.sets} plausible parameter sets"
                   f"{_out_of(row)}: {row.label.upper()}; difference median {show(row.effect_median)} (range "
                   f"{show(row.effect_min)} to {show(row.effect_max)}); {row.how or 'no input separates it'}")
    return out


def markdown(r: Robustness, meta: dict) -> str:
    """The robustness report: one table row per finding."""
    free = meta.get("free_inputs") or []
    head = ["# Robustness of the findings across the plausible parameter sets", "",
            f"{meta.get('sets')} plausible parameter sets from `{meta.get('calibration')}`"
            + (f", each with its own values of {len(free)} input{'s' * (len(free) != 1)} no target constrains "
               f"({', '.join(free)})"
               if free else "")
            + f", {meta.get('replicates')} replicates each with common random numbers; a finding is robust when it "
            f"holds in at least {100 * meta.get('robust_share', 0.9):.0f}% of the sets.", "",
            "| experiment | finding | holds in | label | difference: median (range) | what flips it |",
            "|---|---|---|---|---|---|"]
    for row in r.table.itertuples():
        show = partial(show_difference, row.kpi)
        head.append(f"| {row.experiment} | {row.finding} | {row.holds} of {row.sets}{_out_of(row)} | **{row.label}** | "
                    f"{show(row.effect_median)} ({show(row.effect_min)} to {show(row.effect_max)}) | "
                    f"{row.how or '-'} |")
    return "\n".join(head) + "\n"
