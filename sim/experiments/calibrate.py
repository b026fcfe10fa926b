"""Calibration by history matching: which values of the uncertain inputs are not ruled out
by what the city reported?

Method (Craig et al. 1997; Vernon, Goldstein and Bower 2010; for stochastic
models Andrianakis et al. 2015, 2017). Few targets and many uncertain inputs
call for ruling out rather than fitting: a point x of the inputs is ruled out
(implausible) when, for some target k,

    I_k(x) = |z_k - m_k(x)| / sqrt(V_obs,k + V_md,k + V_s,k(x) (1 + 1/R))  >  cut-off (3)

where z_k is the target's midpoint; V_obs,k its variance (a range [a, b] is
read as z +- 3 sd: (b - a)^2 / 36, so a perfect, deterministic model keeps
exactly the range); V_md,k the model discrepancy ((discrepancy x z_k)^2: what
the model leaves out); m_k(x) the mean over R replicates (common random
numbers) and V_s,k(x) their variance, the larger of the point's own and the
median over the wave's points run on the target's city (two replicates
estimate a variance poorly); the extra V_s / R
is the uncertainty of the mean itself.

Waves, without an emulator: wave 1 is the scenario as written plus a Latin
hypercube over the inputs' ranges; each later wave draws three quarters of its
points around the points not yet ruled out (a random one of them, moved by a
normal step whose sd is their spread in each input, at least 0.05 of the range,
reflected into the range) and a quarter afresh over the whole ranges, so runs
concentrate where the answer is without losing regions missed so far. The **plausible set** is every point run, in any wave,
that no target rules out. The **calibrated** (central) point is the plausible
point whose means lie nearest the targets' ranges (the sum over targets of the
squared distance outside each range, in range widths: 0 when every mean is
inside), then nearest their midpoints (the sum of squared implausibilities):
itself a point that was run and not ruled out. (The set's medoid in input
space was tried first: with count targets as loose as these it can sit where
a target's mean is outside its range, a poor scenario to hand on.)

Where targets are measured on several states of the city (before and after a
reform), any target of any of them rules a point out: the residents' inputs are
the same people's either side of the reform. Wave 1 runs every point on each
(the prior's picture of every city); later waves run a city only on the points
the cities before it leave, since a point one target rules out is ruled out
whatever the others say (a city's model variance is then pooled over the
points it ran). While fewer than 2 points are plausible, the next wave starts
from the least implausible ones, which takes every point on every city: such
a wave then runs the points it left out too, so the designs are the ones
running everything gives.

Refocused waves cluster around their seeds, so a last **profile** wave (the
targets file's `profile` values per input) moves each input alone across its
whole prior range from the point nearest the targets: an input along which
that point stays plausible shows its whole range in the plausible set.

An input whose plausible values span more than UNCONSTRAINED (80%) of its prior
range is one the targets cannot narrow: the calibrated scenario marks it
`[not constrained]`, not `[calibrated]`, and the findings are checked across it.

Every wave is an ordinary sweep (`sweep.run_sweep`) into its own results folder;
each wave's design depends only on the stored results of the waves before it
and on the design seed, so a calibration killed at any moment (even SIGKILL)
resumes with the same command to the same plausible set.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import __version__
from ..analysis.store import Store, StoreError, read_table, write_table
from ..scenario import ScenarioError, get_path, load, to_data, with_overrides
from ..scenario.fields import toml_comment, toml_key, toml_value
from .inputs import base_spec, points_spec, unit_rows, values
from .spec import lasting, refusals
from .sweep import Report, run_sweep
from .targets import Target, Targets

ID = ("wave", "point")
FLOOR = 0.05          # smallest step of a refocused wave, in each input's unit range
FEW_SEEDS_SD = 0.15   # the step while no more points than inputs are left to refocus on
UNCONSTRAINED = 0.8   # plausible values spanning more of the prior range (in its own scale): not constrained


class CalibrationError(RuntimeError):
    """Runs of a wave failed; the message names the first."""


@dataclass
class Calibration:
    targets: Targets
    folder: Path
    evaluations: pd.DataFrame         # one row per point run (or refused): inputs, means, I per target
    runs: pd.DataFrame                # one row per run: wave, point, replicate, the targets' KPIs
    reports: list[Report] = field(default_factory=list)

    @property
    def plausible(self) -> pd.DataFrame:
        return self.evaluations[self.evaluations["plausible"]].reset_index(drop=True)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.targets.inputs]

    def central(self) -> pd.Series | None:
        """The calibrated point: of the plausible points, the one whose means lie nearest the
        targets' ranges (sum over targets of the squared distance outside the range, in range
        widths; 0 when every mean is inside), then nearest their midpoints (sum of squared
        implausibilities); None if none is plausible."""
        return nearest(self.plausible, self.targets)

    def scenario_point(self) -> pd.Series:
        """The scenario as written (wave 1's first candidate; refused, I = inf, where a queue of it
        could never keep up)."""
        return self.evaluations[self.evaluations["as_written"]].iloc[0]

    def ranges(self) -> pd.DataFrame:
        """Per input: its prior range, the plausible set's range and 5-95% band, the central value,
        and whether the targets constrain it (plausible values span at most UNCONSTRAINED of the
        prior, measured on the input's own scale)."""
        p, c = self.plausible, self.central()
        rows = []
        for inp in self.targets.inputs:
            x = p[inp.name].astype(float) if len(p) else pd.Series(dtype=float)
            span = inp.unit(x.max()) - inp.unit(x.min()) if len(x) else math.nan
            rows.append({"input": inp.name, "low": inp.low, "high": inp.high, "scenario": inp.scenario_value,
                         "plausible_min": x.min() if len(x) else math.nan,
                         "plausible_max": x.max() if len(x) else math.nan,
                         "plausible_p05": x.quantile(0.05) if len(x) else math.nan,
                         "plausible_p95": x.quantile(0.95) if len(x) else math.nan,
                         "central": float(c[inp.name]) if c is not None else math.nan,
                         "span": span, "constrained": bool(span <= UNCONSTRAINED)})
        return pd.DataFrame(rows)

    def unconstrained(self) -> list[str]:
        """The inputs the targets could not narrow."""
        r = self.ranges()
        return r.loc[~r["constrained"], "input"].tolist()


# ---------------------------------------------------------------- implausibility
def implausibility(targets: tuple[Target, ...], runs: pd.DataFrame | dict[str, pd.DataFrame], discrepancy: float,
                   replicates: int) -> pd.DataFrame:
    """Per point of one wave (rows of `runs` grouped by point; runs by city where targets are
    measured on several): each target's model mean and variance over replicates and its
    implausibility, and the largest."""
    if isinstance(runs, dict):
        parts = [implausibility(tuple(t for t in targets if t.city == city), r, discrepancy, replicates)
                 for city, r in runs.items() if any(t.city == city for t in targets)]
        out = parts[0].drop(columns="I_max")
        for part in parts[1:]:
            out = out.merge(part.drop(columns="I_max"), on="point", how="outer")
        # (a city that ran only the points the cities before it left has none of the others: their
        # largest implausibility is over the targets they were judged on, already above the cut-off)
        out["I_max"] = out[[f"{t.name}.I" for t in targets]].max(axis=1)
        return out
    points = sorted(runs["point"].unique())
    out = pd.DataFrame({"point": points})
    worst = np.zeros(len(points))
    for t in targets:
        if t.kpi not in runs.columns:
            raise StoreError(f"no KPI column {t.kpi!r} in the runs (a model older than the targets?)")
        g = runs.groupby("point")[t.kpi]
        mean = g.mean().reindex(points).to_numpy(dtype=float)
        var = g.var(ddof=1).reindex(points).to_numpy(dtype=float)
        n = g.count().reindex(points).to_numpy()
        pooled = np.nanmedian(var) if np.isfinite(var).any() else 0.0
        v_s = np.fmax(np.nan_to_num(var, nan=pooled), pooled)
        denom = np.sqrt(t.variance + (discrepancy * t.mid) ** 2 + v_s * (1 + 1 / np.maximum(n, 1)))
        with np.errstate(divide="ignore", invalid="ignore"):
            imp = np.where(denom > 0, np.abs(t.mid - mean) / denom, np.where(np.abs(t.mid - mean) > 0, np.inf, 0.0))
        imp = np.where(np.isnan(mean) | (n < replicates), np.inf, imp)
        out[f"{t.name}.mean"], out[f"{t.name}.var"], out[f"{t.name}.I"] = mean, var, imp
        worst = np.fmax(worst, imp)
    out["I_max"] = worst
    return out


# ---------------------------------------------------------------- designs
def nearest(points: pd.DataFrame, targets: Targets) -> pd.Series | None:
    """Of evaluated points, the one whose means lie nearest the targets' ranges (sum over targets of
    the squared distance outside the range, in range widths; 0 when every mean is inside), then
    nearest their midpoints (sum of squared implausibilities); None if there is none."""
    if points.empty:
        return None
    outside = sum((np.fmax(0, np.fmax(t.low - points[f"{t.name}.mean"], points[f"{t.name}.mean"] - t.high))
                   / max(t.high - t.low, 1e-12)) ** 2 for t in targets.targets)
    near = sum(points[f"{t.name}.I"] ** 2 for t in targets.targets)
    order = np.lexsort((near.to_numpy(), np.round(outside.to_numpy(), 12)))
    return points.iloc[int(order[0])]


def profile_design(targets: Targets, before: pd.DataFrame) -> np.ndarray:
    """The profile wave: from the point nearest the targets so far (plausible if any is), each input
    alone moved across its whole prior range (`profile` evenly spaced values). Where a point stays
    plausible all the way, the targets cannot narrow that input: its plausible range then spans its
    prior, and it is marked not constrained; refocused waves alone cluster around their seeds and
    would understate that."""
    ins, k = targets.inputs, targets.calibration.profile
    ok = before[before["plausible"]]
    centre = nearest(ok if len(ok) else before[np.isfinite(before["I_max"])], targets)
    base = unit_rows(ins, [centre.to_dict()])[0].clip(0.0, 1.0)
    rows = []
    for i in range(len(ins)):
        for u in np.linspace(0.0, 1.0, k):
            row = base.copy()
            row[i] = u
            rows.append(row)
    return np.array(rows)


def wave_design(targets: Targets, wave: int, before: pd.DataFrame) -> np.ndarray:
    """The unit-cube rows of wave `wave` (1-based): deterministic in the design seed and the
    evaluations of the waves before it; after the last wave, the profile (`profile_design`)."""
    cal, ins = targets.calibration, targets.inputs
    if wave > cal.waves:
        return profile_design(targets, before)
    d, n = len(ins), cal.points
    from scipy.stats import qmc
    rng = np.random.default_rng([cal.design_seed, wave])
    if wave == 1:
        scenario = np.array([[min(max(i.unit(i.scenario_value), 0.0), 1.0) for i in ins]])
        return np.vstack([scenario, qmc.LatinHypercube(d=d, seed=rng).random(n - 1)])
    ok = before[before["plausible"]]
    if len(ok) < 2:                          # nothing (or one point) left: refocus on the least implausible
        ok = before[np.isfinite(before["I_max"])].nsmallest(max(2, len(before) // 10), ["I_max", "wave", "point"])
    if ok.empty:                             # every point so far refused (could never keep up): the whole box again
        return qmc.LatinHypercube(d=d, seed=rng).random(n)
    seeds = unit_rows(ins, ok[[i.name for i in ins]].to_dict("records"))
    fresh = max(1, n // 4)                   # a quarter anywhere in the ranges: regions missed so far
    sd = np.maximum(seeds.std(axis=0, ddof=1), FLOOR) if len(seeds) > d else np.full(d, FEW_SEEDS_SD)
    u = seeds[rng.integers(len(seeds), size=n - fresh)] + rng.normal(0.0, 1.0, (n - fresh, d)) * sd
    u = np.abs(u)
    u = np.where(u > 1, 2 - u, u)            # reflect at both ends of the range
    return np.vstack([np.clip(u, 0.0, 1.0), qmc.LatinHypercube(d=d, seed=rng).random(fresh)])


# ---------------------------------------------------------------- running
def calibrate(targets: Targets, folder: str | Path, executor, *, progress: bool = False, fresh: bool = False,
              say: Callable[[str], None] = lambda line: None) -> Calibration:
    """Run the waves into `folder/waveN/` (resuming what is stored) and evaluate every point."""
    folder = Path(folder)
    cal = targets.calibration
    bases = _bases(targets)
    names = [i.name for i in targets.inputs]
    evaluations, all_runs, reports = [], [], []
    before = pd.DataFrame(columns=[*ID, *names, "I_max", "plausible"])
    for wave in range(1, cal.waves + 1 + (cal.profile > 0)):        # the waves, then the profile
        rows = wave_design(targets, wave, before)
        candidates = values(targets.inputs, rows)
        errors = {}
        for city, base in bases.items():                 # a point invalid on any city is ruled out
            for i, err in refusals(points_spec(base, "probe", targets.inputs, candidates), candidates,
                                   progress).items():
                errors.setdefault(i, ScenarioError(err.path, err.message + (f" (on {city})" if city else "")))
        kept = [i for i in range(len(candidates)) if i not in errors]        # point k of the wave is candidate kept[k]
        name = f"wave {wave}" if wave <= cal.waves else "profile"
        say(f"{name}: {len(kept)} points x {cal.replicates} replicates"
            + (f" on {len(bases)} cities" if len(bases) > 1 else "")
            + (f" ({len(errors)} ruled out before running: not a valid scenario, e.g. a queue that could "
               "never keep up)" if errors else ""))
        frames = []
        if kept:
            def run_city(city: str, ids: list[int]) -> pd.DataFrame:
                """The wave's points `ids` run on one city (its folder's spec holds all the wave's points)."""
                spec = points_spec(bases[city], f"{targets.name}-{wave_folder(wave, city)}", targets.inputs,
                                   [candidates[i] for i in kept], kind="history_matching", keep=_kept(targets))
                where = folder / wave_folder(wave, city)
                report = run_sweep(spec, where, executor, fresh=fresh, progress=progress,
                                   arguments={"calibration": targets.source, "wave": wave, "city": city},
                                   wanted={k: spec.replicates for k in ids})
                reports.append(report)
                if report.failed:
                    first = sorted(report.errors.items())[0]
                    raise CalibrationError(f"{wave_folder(wave, city)}: {report.failed} runs failed (first "
                                           f"{first[0]}: {first[1]}); details in {where}/_failed/, rerun to retry")
                stored = Store(where).runs()
                return stored[stored["point"].isin(ids)]

            runs: dict[str, pd.DataFrame] = {}
            left_out = False
            for city in bases:
                # after wave 1 (the prior's picture of every city), a city runs only the points the
                # cities before it leave: any target rules a point out, whatever the others say
                ids = _not_ruled_out(targets, runs, len(kept)) if wave > 1 else list(range(len(kept)))
                if len(ids) < len(kept):
                    left_out = True
                    say(f"{name}, {city}: the {len(ids)} points the cities before leave")
                runs[city] = run_city(city, ids)
            ev = implausibility(targets.targets, runs, cal.discrepancy, cal.replicates)
            if (left_out and wave < cal.waves + (cal.profile > 0)
                    and int(before["plausible"].sum() + (ev["I_max"] <= cal.cutoff).sum()) < 2):
                # the next wave starts from the least implausible points (`wave_design`, `profile_design`),
                # which takes every point's implausibility on every city: the points left out run now
                say(f"{name}: fewer than 2 points not ruled out in all waves, so every point runs on every city")
                runs = {city: run_city(city, list(range(len(kept)))) for city in bases}
                ev = implausibility(targets.targets, runs, cal.discrepancy, cal.replicates)
            pts = pd.DataFrame([candidates[kept[k]] for k in ev["point"]])
            frames.append(pd.concat([pd.DataFrame({"wave": wave, "point": ev["point"]}), pts[names],
                                     ev.drop(columns="point")], axis=1).assign(candidate=[kept[k] for k in ev["point"]]))
            keep = ["point", "replicate", *[t.kpi for t in targets.targets]]
            all_runs += [r[[c for c in dict.fromkeys(keep) if c in r.columns]].assign(wave=wave, city=city)
                         for city, r in runs.items()]
        if errors:
            bad = pd.DataFrame([candidates[i] for i in errors])[names]
            bad.insert(0, "point", -1 - np.arange(len(errors)))
            bad.insert(0, "wave", wave)
            bad["I_max"], bad["candidate"] = np.inf, list(errors)
            bad["refused"] = [f"{e.path}: {e.message}" for e in errors.values()]
            frames.append(bad)
        ev = pd.concat(frames, ignore_index=True)
        ev["as_written"] = (wave == 1) & (ev.pop("candidate") == 0)      # wave 1's first candidate: the scenario
        ev["plausible"] = ev["I_max"] <= cal.cutoff
        evaluations.append(ev)
        before = pd.concat(evaluations, ignore_index=True)
        say(f"{name}: {int(ev['plausible'].sum())} of {len(ev)} points not ruled out "
            f"({int(before['plausible'].sum())} in all waves)")
    evaluation = pd.concat(evaluations, ignore_index=True)
    if "refused" not in evaluation:
        evaluation["refused"] = None
    kpis = list(_kept(targets))
    runs = pd.concat(all_runs, ignore_index=True) if all_runs else pd.DataFrame(columns=["point", "replicate", *kpis,
                                                                                          "wave"])
    result = Calibration(targets, folder, evaluation, runs, reports)
    about = {"targets": targets.source, "inputs": names, "cutoff": cal.cutoff, "gridsim": __version__,
             "model_commit": model_commit(), "unconstrained": result.unconstrained() if len(result.plausible) else []}
    write_table(folder, "evaluations", evaluation.astype({"refused": "string"}), about)
    write_table(folder, "plausible", result.plausible.drop(columns=["refused", "as_written"]), about)
    return result


def evaluate(targets: Targets, points: list[dict], folder: str | Path, executor, name: str = "check") -> pd.DataFrame:
    """Run given points (input name -> value) with the calibration's settings into `folder/<name>/`
    and return their implausibilities (the same seeds as every wave: common random numbers)."""
    cal = targets.calibration
    runs = {}
    for city, base in _bases(targets).items():
        where = Path(folder) / (f"{name}-{city}" if city else name)
        spec = points_spec(base, f"{targets.name}-{where.name}", targets.inputs, points, kind="history_matching",
                           keep=_kept(targets))
        report = run_sweep(spec, where, executor)
        if report.failed:
            raise CalibrationError(f"{where.name}: {report.failed} runs failed: {sorted(report.errors.items())[0]}")
        runs[city] = Store(where).runs()
    ev = implausibility(targets.targets, runs, cal.discrepancy, cal.replicates)
    ev["plausible"] = ev["I_max"] <= cal.cutoff
    return ev


def _not_ruled_out(targets: Targets, runs: dict[str, pd.DataFrame], points: int) -> list[int]:
    """The wave's points (0 .. points - 1) no target of the cities already run (`runs`) rules out:
    all a further city needs to run, since a point any target rules out is ruled out (docs/PERFORMANCE.md:
    on Meihekou the 2020 city leaves 4-40 of a wave's 80 or 50 points for the 2018 city)."""
    cal, judged = targets.calibration, tuple(t for t in targets.targets if t.city in runs)
    if not judged:
        return list(range(points))
    ev = implausibility(judged, runs, cal.discrepancy, cal.replicates)
    return sorted(ev.loc[ev["I_max"] <= cal.cutoff, "point"].astype(int))


def _kept(targets: Targets) -> tuple[str, ...]:
    """The KPIs a calibration's runs store: its targets' (a run's other KPIs and tables go unread)."""
    return tuple(dict.fromkeys(t.kpi for t in targets.targets))


def wave_folder(wave: int, city: str = "") -> str:
    """A wave's results folder: `wave2`, or `wave2-before_reform` for another city's runs."""
    return f"wave{wave}" + (f"-{city}" if city else "")


def _bases(targets: Targets) -> dict:
    """Per city, the one-point spec the waves are built on: the scenario with the calibration's [set]
    and its run length, replicates and seeds."""
    import dataclasses
    cal, out = targets.calibration, {}
    for city, (path, scenario) in targets.scenarios().items():
        spec = base_spec(targets.name, str(path), days=cal.days, warmup_days=cal.warmup_days,
                         replicates=cal.replicates, root_seed=cal.root_seed)
        out[city] = dataclasses.replace(spec, base=lasting(scenario, cal.days, cal.warmup_days))
    return out


def load_plausible(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """The plausible set a calibration wrote (its inputs' values), and what it was made from."""
    return read_table(folder, "plausible")


def model_commit() -> str | None:
    """The git commit of the source tree gridsim runs from, if it is one (None from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


# ---------------------------------------------------------------- the calibrated scenario
def _number(v: Any) -> str:
    """A number as the comments show it (4 significant digits); the values themselves are exact."""
    if isinstance(v, bool) or isinstance(v, int):
        return str(v)
    s = f"{float(v):.4g}"
    return s if any(c in s for c in ".eEn") else s + ".0"


def calibrated_scenario(cal: Calibration, out: Path, city: str = "") -> str:
    """The text of the central calibrated scenario of one city (the targets file's own by default):
    it extends that city's scenario and lists every changed number, each marked [calibrated] with its
    plausible range, or [not constrained] where the targets could not narrow it."""
    c = cal.central()
    if c is None:
        raise ScenarioError("", "no plausible point: nothing to write (see the evaluations)", str(out))
    t = cal.targets
    ranges = cal.ranges().set_index("input")
    scenario_path, scenario = t.scenarios()[city]
    data = to_data(scenario, derived=True)
    changes: dict[str, tuple[Any, Any, str]] = {}      # field path -> (old, new, note)
    for inp in t.inputs:
        r = ranges.loc[inp.name]
        x = c[inp.name]
        x = int(x) if inp.integer else float(x)
        span = (f"plausible {_number(r.plausible_min)}-{_number(r.plausible_max)} "
                f"(5-95%: {_number(r.plausible_p05)}-{_number(r.plausible_p95)}) of {_number(inp.low)}-{_number(inp.high)}")
        label = "[calibrated]" if r.constrained else "[not constrained: the targets leave it free]"
        for path, value in inp.overrides(x):
            old = get_path(data, path)
            note = (f"{label} {inp.name} x{_number(x)}: {span}; was {_number(old)}" if inp.scale
                    else f"{label} {span}; was {_number(old)} [assumption]")
            changes[path] = (old, value, note)
    calibrated = with_overrides(scenario, [(p, v) for p, (_, v, _) in changes.items()])
    new = to_data(calibrated)
    n_all = int(np.isfinite(cal.evaluations["I_max"]).sum())
    head = [f"{scenario.name}, calibrated: written by `gridsim calibrate {Path(t.source).name}` "
            f"(gridsim {__version__}, model {model_commit() or 'unknown commit'}).",
            "",
            f"History matching to {len(t.targets)} targets ({', '.join(x.name for x in t.targets)}) over "
            f"{len(t.inputs)} inputs: {len(cal.plausible)} of {n_all} points run in {cal.targets.calibration.waves} "
            f"waves are not ruled out (implausibility <= {cal.targets.calibration.cutoff:g}).",
            "Each number below is the calibrated point (the plausible point whose means lie nearest the targets'",
            "ranges, then their midpoints) and is marked [calibrated] with the plausible set's range (min-max,",
            "and 5-95%) within the input's prior range and the value the base scenario assumed; an input whose",
            f"plausible values span more than {UNCONSTRAINED:.0%} of its prior is marked [not constrained] instead: the "
            "targets", "leave it free, and answers that depend on it say so. Everything else is as in the base scenario."]
    lines = [toml_comment(line).rstrip() for line in head]
    lines += ["", f"extends = {toml_value(_relative(scenario_path, out.parent))}",
              f"description = {toml_value(f'{scenario.description}; calibrated to {t.name} targets')}", ""]
    groups: dict[str, list[tuple[str, Any, str]]] = {}
    lists: dict[str, list[str]] = {}
    for path, (_, value, note) in changes.items():
        if "[" in path:
            root = path[:path.index("[")]
            lists.setdefault(root, []).append(f"{path[len(root):]} {note}")
            continue
        table, _, leaf = path.rpartition(".")
        groups.setdefault(table, []).append((leaf, value, note))
    for root, notes in lists.items():
        table, _, leaf = root.rpartition(".")
        groups.setdefault(table, []).append((leaf, get_path(new, root), "; ".join(notes)))
    for table in sorted(groups):
        lines.append(f"[{'.'.join(toml_key(p) for p in table.split('.'))}]" if table else "")
        for leaf, value, note in groups[table]:
            lines.append(f"{toml_key(leaf)} = {toml_value(value)}")
            lines.append("    " + toml_comment(note))
        lines.append("")
    free = [inp for inp in t.inputs if not ranges.loc[inp.name].constrained]
    if free:
        lines += ["# The inputs the targets leave free, over their plausible range: optimise, report and the",
                  "# dashboard check every answer across them and say where it holds. A scale's range is relative",
                  "# to the values above (the plausible range of the factor on the base scenario, divided by the",
                  "# calibrated factor).", ""]
    for inp in free:
        r = ranges.loc[inp.name]
        per = float(c[inp.name]) if inp.scale else 1.0      # a scale multiplies this file's (calibrated) values
        table = {"low": float(r.plausible_min) / per, "high": float(r.plausible_max) / per, "log": inp.log,
                 **({"integer": True} if inp.integer else {}), **({"scale": list(inp.scale)} if inp.scale else {}),
                 **({"why": inp.why} if inp.why else {})}
        lines += [f"[uncertain.{toml_key(inp.name)}]", *(f"{k} = {toml_value(v)}" for k, v in table.items()), ""]
    return "\n".join(lines)


def _relative(target: Path, start: Path) -> str:
    import os
    return os.path.relpath(Path(target).resolve(), Path(start).resolve())


def write_calibrated(cal: Calibration, out: Path) -> list[Path]:
    """Write the calibrated scenario of each city (the targets file's own to `out`, the others beside
    it as `<their scenario>_calibrated.toml`) through the atomic writer, loading each before it
    replaces anything: a file that would not load never takes the place of one that does."""
    from ..atomic import write_file
    written = []
    for city, (path, _) in cal.targets.scenarios().items():
        where = out if not city else out.with_name(f"{path.stem}_calibrated.toml")
        text = calibrated_scenario(cal, where, city)

        def fill(tmp: Path, text: str = text, where: Path = where) -> None:
            tmp.write_text(text, encoding="utf-8")
            try:
                load(tmp)
            except ScenarioError as err:
                raise ScenarioError("", f"the calibrated scenario would not load ({err.path}: {err.message}); "
                                        "the file was left as it was", str(where)) from None
        written.append(write_file(where, fill))
    return written


# ---------------------------------------------------------------- figures and the report
def predictive_values(cal: Calibration) -> pd.DataFrame:
    """Every run's value of every target's KPI, grouped: prior (wave 1), the scenario as written,
    plausible points, the central point. Columns: target, group, value."""
    runs, ev = cal.runs, cal.evaluations
    keys = list(zip(runs["wave"], runs["point"]))
    ok = set(zip(ev.loc[ev["plausible"], "wave"], ev.loc[ev["plausible"], "point"]))
    c = cal.central()
    groups = {"prior": runs["wave"].eq(1).to_numpy(),
              "scenario": (runs["wave"].eq(1) & runs["point"].eq(cal.scenario_point()["point"])).to_numpy(),
              "plausible": np.array([k in ok for k in keys], dtype=bool),
              "central": (np.array([k == (int(c["wave"]), int(c["point"])) for k in keys], dtype=bool)
                          if c is not None else np.zeros(len(runs), dtype=bool))}
    frames = []
    for t in cal.targets.targets:
        here = (runs["city"] == t.city).to_numpy() if "city" in runs else np.ones(len(runs), dtype=bool)
        for group, mask in groups.items():
            frames.append(pd.DataFrame({"target": t.name, "group": group,
                                        "value": runs.loc[mask & here, t.kpi].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def figures(cal: Calibration, out: Path, dpi: int = 150) -> list[Path]:
    from ..analysis.calibration_figures import ranges_figure, targets_figure
    t = cal.targets
    paths = targets_figure(predictive_values(cal), [{"name": x.name, "kpi": x.kpi, "low": x.low, "high": x.high}
                                                     for x in t.targets], out / "targets", dpi)
    ranges = cal.ranges()
    ranges["scenario_unit"] = [i.unit(i.scenario_value) for i in t.inputs]
    ranges["central_unit"] = [i.unit(v) if np.isfinite(v) else np.nan for i, v in zip(t.inputs, ranges["central"])]
    p = cal.plausible
    units = unit_rows(t.inputs, p[cal.names].to_dict("records")) if len(p) else np.zeros((0, len(t.inputs)))
    return paths + ranges_figure(ranges, units, out / "inputs", dpi)


def summary_lines(cal: Calibration) -> list[str]:
    """What a reader needs first: per wave how many points survive, each target before and after,
    each input's plausible range and calibrated value."""
    from ..model.kpis import number
    t, ev = cal.targets, cal.evaluations
    lines = [f"history matching: {len(t.targets)} targets, {len(t.inputs)} inputs, cut-off I <= "
             f"{t.calibration.cutoff:g}, model discrepancy {t.calibration.discrepancy:g} x target"]
    for w, g in ev.groupby("wave"):
        name = f"wave {w}" if w <= t.calibration.waves else "profile (each input alone across its prior)"
        lines.append(f"  {name}: {int(g['plausible'].sum())} of {len(g)} points not ruled out")
    lines.append(f"plausible set: {len(cal.plausible)} points")
    values = predictive_values(cal)
    lines.append("")
    lines.append(f"{'target':<28}{'range':>22}{'as written':>14}{'plausible 5-95%':>24}{'calibrated':>14}")
    for x in t.targets:
        def band(group: str, point: bool = False) -> str:
            v = values.loc[(values["target"] == x.name) & (values["group"] == group), "value"].dropna()
            if v.empty:
                return "-"
            return number(v.mean()) if point else f"{number(v.quantile(0.05))}-{number(v.quantile(0.95))}"
        lines.append(f"{x.name:<28}{number(x.low) + '-' + number(x.high):>22}{band('scenario', True):>14}"
                     f"{band('plausible'):>24}{band('central', True):>14}")
    sp = cal.scenario_point()
    if isinstance(sp.get("refused"), str):
        lines.append(f"the scenario as written is ruled out before running: {sp['refused']}")
    else:
        worst = [f"{x.name} (I = {sp[x.name + '.I']:.1f})" for x in t.targets
                 if sp[x.name + ".I"] > t.calibration.cutoff]
        lines.append("the scenario as written is " + (f"ruled out by {', '.join(worst)}" if worst else "not ruled out"))
    lines.append("")
    lines.append(f"{'input':<44}{'prior range':>20}{'plausible range':>22}{'as written':>12}{'calibrated':>12}")
    for r in cal.ranges().itertuples():
        lines.append(f"{r.input:<44}{number(r.low) + '-' + number(r.high):>20}"
                     f"{number(r.plausible_min) + '-' + number(r.plausible_max):>22}{number(r.scenario):>12}"
                     f"{number(r.central):>12}" + ("" if r.constrained else "  not constrained"))
    return lines
