"""Global sensitivity analysis: which uncertain inputs decide each KPI?

Two standard methods, both SALib's own designs and estimators (Herman and Usher 2017):

- **Sobol (variance-based).** Saltelli's sampling scheme (`SALib.sample.sobol`:
  matrices A, B and, for each input i, A with column i from B; N (D + 2) runs for
  D inputs) and the Saltelli/Jansen estimators (`SALib.analyze.sobol`): the
  first-order index S1 (the share of the KPI's variance an input explains alone)
  and the total index ST (alone and through every interaction), each with a 95%
  bootstrap interval. An input whose ST is near 0 can be fixed anywhere in its
  range without changing the KPI.
- **Morris (elementary effects)** for screening many inputs cheaply (r (D + 1)
  runs): mu* is the mean absolute change of the KPI when an input moves across
  its range one step at a time, sigma the spread of those changes (non-linearity
  or interaction), mu* with a 95% bootstrap interval.

Inputs are those of `inputs.py` (fields, list items, scale factors; ranges on a
linear or log scale); designs are drawn in the unit cube and mapped to each
input's range, so the indices are per input range. Every run goes through the
sweep engine (`PointsSpec` + `run_sweep`: resumable, any executor); every point
of a replicate uses the same random numbers (common random numbers), so the
indices measure the inputs, not the noise between seeds. With several
replicates a point's KPI is their mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis.store import Store, StoreError, write_table
from ..scenario import ScenarioError, read_toml
from ..scenario.fields import build, join
from ..scenario.fields import spec as fspec
from .inputs import Input, base_spec, parse_inputs, points_spec, values
from .spec import MAX_DAYS, MAX_POINTS, MAX_SEED, Spec, apply_set, check_kpi, refusals, scenario_beside, spec_header
from .sweep import run_sweep


# ---------------------------------------------------------------- the analysis (any model, plain arrays)
def problem(names: list[str]) -> dict:
    """SALib's problem over the unit cube (inputs are mapped to their ranges afterwards)."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def sobol_design(names: list[str], n: int, seed: int) -> np.ndarray:
    """Saltelli's scheme (SALib), first and total order only: N (D + 2) rows in the unit cube."""
    from SALib.sample import sobol
    return sobol.sample(problem(names), n, calc_second_order=False, seed=seed)


def sobol_indices(names: list[str], y: np.ndarray, resamples: int = 200, seed: int = 0) -> pd.DataFrame:
    """S1 and ST with 95% bootstrap half-widths, from outputs in the order of `sobol_design`."""
    from SALib.analyze import sobol
    y = np.asarray(y, dtype=float)
    if np.var(y) == 0:            # nothing varies: every index is 0 (SALib would divide by zero)
        zero = np.zeros(len(names))
        return pd.DataFrame({"input": names, "S1": zero, "S1_conf": zero, "ST": zero, "ST_conf": zero})
    r = sobol.analyze(problem(names), y, calc_second_order=False, num_resamples=resamples, conf_level=0.95,
                      seed=seed)
    return pd.DataFrame({"input": names, "S1": r["S1"], "S1_conf": r["S1_conf"], "ST": r["ST"],
                         "ST_conf": r["ST_conf"]})


def morris_design(names: list[str], trajectories: int, levels: int, seed: int) -> np.ndarray:
    """Morris trajectories (SALib): r (D + 1) rows in the unit cube."""
    from SALib.sample import morris
    return morris.sample(problem(names), trajectories, num_levels=levels, seed=seed)


def morris_indices(names: list[str], x: np.ndarray, y: np.ndarray, levels: int, resamples: int = 200,
                   seed: int = 0) -> pd.DataFrame:
    """mu, mu* (with its 95% bootstrap half-width) and sigma of each input's elementary effects."""
    from SALib.analyze import morris
    r = morris.analyze(problem(names), np.asarray(x, dtype=float), np.asarray(y, dtype=float),
                       num_resamples=resamples, conf_level=0.95, num_levels=levels, seed=seed)
    return pd.DataFrame({"input": names, "mu": r["mu"], "mu_star": r["mu_star"],
                         "mu_star_conf": r["mu_star_conf"], "sigma": r["sigma"]})


# ---------------------------------------------------------------- the spec file
@dataclass(frozen=True, kw_only=True)
class SobolTable:
    samples: int = fspec(256, ge=2, le=1_000_000)     # N: N (D + 2) points (64 before the journey was compiled)
    seed: int = fspec(0, ge=0, le=MAX_SEED)
    bootstrap: int = fspec(200, ge=10, le=100_000)


@dataclass(frozen=True, kw_only=True)
class MorrisTable:
    trajectories: int = fspec(20, ge=2, le=100_000)   # r: r (D + 1) points (10 before the journey was compiled)
    levels: int = fspec(4, ge=2, le=100)
    seed: int = fspec(0, ge=0, le=MAX_SEED)
    bootstrap: int = fspec(200, ge=10, le=100_000)

    def check(self, path: str) -> None:
        if self.levels % 2:
            raise ScenarioError(join(path, "levels"), f"must be even (SALib's Morris design), got {self.levels}")


@dataclass(frozen=True, kw_only=True)
class SensitivityFile:
    name: str | None = None
    description: str = ""
    scenario: str
    days: float = fspec(gt=0, le=MAX_DAYS)
    warmup_days: float = fspec(0.0, ge=0, le=MAX_DAYS)
    replicates: int = fspec(1, ge=1, le=1000)
    root_seed: int = fspec(0, ge=0, le=MAX_SEED)
    kpis: tuple[str, ...] = ()
    set: Mapping[str, Any] = fspec({})
    inputs: Mapping[str, Any] = fspec({})
    sobol: SobolTable | None = None
    morris: MorrisTable | None = None

    def check(self, path: str) -> None:
        if self.warmup_days >= self.days:
            raise ScenarioError("warmup_days", f"must be less than days ({self.days:g})")
        if not self.kpis:
            raise ScenarioError("kpis", "must list at least one KPI")
        if self.sobol is None and self.morris is None:
            raise ScenarioError("sobol", "give a [sobol] table, a [morris] table or both")


UNITS = {"sobol": "Saltelli blocks", "morris": "Morris trajectories"}     # what a design is made of


@dataclass(frozen=True)
class Sensitivity:
    name: str
    source: str                       # the spec file, resolved (as results record it)
    scenario_path: Path
    file: SensitivityFile
    inputs: tuple[Input, ...]
    base: Spec                        # the scenario with the spec's days, warm-up and [set]
    header: str = ""

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def block(self, method: str) -> int:
        """Rows of one unit of the design the estimator needs whole: a Saltelli block (A, B and
        A with each column from B: D + 2 rows) or a Morris trajectory (D + 1 rows)."""
        return len(self.inputs) + (2 if method == "sobol" else 1)

    def size(self, method: str) -> int:
        """Points of the method's design: N (D + 2) for Sobol, r (D + 1) for Morris."""
        table = getattr(self.file, method)
        return (table.samples if method == "sobol" else table.trajectories) * self.block(method)

    def methods(self) -> list[str]:
        return [m for m in ("sobol", "morris") if getattr(self.file, m) is not None]


def load_sensitivity(path: str | Path) -> Sensitivity:
    """Read and validate a sensitivity spec; errors are one line naming the file and the field.
    Its KPIs are checked against the scenario and its designs sized here, before anything runs."""
    path = Path(path)
    src = str(path)
    text, data = read_toml(path)
    try:
        for key in ("scenario", "days", "inputs", "kpis"):
            if key not in data:
                raise ScenarioError(key, "missing (required)")
        f = build(SensitivityFile, data)
        scenario_path = scenario_beside(f.scenario, path.parent, "sensitivity spec")
        base = _base(f, f.name or path.stem, scenario_path)
        for i, kpi in enumerate(f.kpis):
            check_kpi(kpi, base.base, f"kpis[{i}]")
        inputs = parse_inputs(f.inputs, base.base, "inputs")
        sens = Sensitivity(f.name or path.stem, str(path.resolve()), scenario_path, f, inputs, base, spec_header(text))
        for method in sens.methods():
            if sens.size(method) > MAX_POINTS:
                what = "samples" if method == "sobol" else "trajectories"
                raise ScenarioError(f"{method}.{what}", f"{getattr(getattr(f, method), what):,} {what} of "
                                                        f"{len(inputs)} inputs make {sens.size(method):,} points, more "
                                                        f"than gridsim runs in one design ({MAX_POINTS:,})")
    except ScenarioError as err:
        raise err.at(err.source or src) from None
    return sens


def _base(f: SensitivityFile, name: str, scenario_path: Path):
    import dataclasses

    base = base_spec(name, str(scenario_path), days=f.days, warmup_days=f.warmup_days,
                     replicates=f.replicates, root_seed=f.root_seed)
    scenario, fixed = apply_set(base.base, f.set)
    return dataclasses.replace(base, base=scenario, fixed=fixed)


# ---------------------------------------------------------------- running
@dataclass
class Result:
    method: str                     # "sobol" or "morris"
    table: pd.DataFrame             # kpi, input, and the method's indices
    runs: pd.DataFrame
    skipped: dict[str, str]         # KPI -> why it could not be analysed
    left_out: str = ""              # design units left out, and why


def run(sens: Sensitivity, folder: str | Path, executor, *, progress: bool = False, fresh: bool = False,
        say=lambda line: None) -> list[Result]:
    """Run each method's design (resumable) into folder/<method>/ and analyse every KPI.

    A design point that is not a valid scenario (most often a corner of the box where a queue
    could never keep up) has no KPI to measure, and both estimators need whole design units: every
    Saltelli block or Morris trajectory holding such a point is left out, the indices are those
    of the units left, and the output says how many were left out and why."""
    folder = Path(folder)
    f = sens.file
    out = []
    for method in sens.methods():
        table = getattr(f, method)
        if method == "sobol":
            unit = sobol_design(sens.names, table.samples, table.seed)
        else:
            unit = morris_design(sens.names, table.trajectories, table.levels, table.seed)
        points = values(sens.inputs, unit)
        errors = refusals(points_spec(sens.base, "probe", sens.inputs, points), points, progress)
        size = sens.block(method)
        units = len(points) // size
        kept = [b for b in range(units) if not any(i in errors for i in range(b * size, (b + 1) * size))]
        left_out = ""
        if errors:
            first = errors[min(errors)]
            left_out = (f"{units - len(kept)} of {units} {UNITS[method]} left out: a point of each is not a valid "
                        f"scenario (first: {first.path}: {first.message})")
            if len(kept) < 2:
                raise ScenarioError("inputs", f"{method}: {left_out}; fewer than 2 are left: narrow the ranges",
                                    sens.source)
            rows = [i for b in kept for i in range(b * size, (b + 1) * size)]
            unit, points = unit[rows], [points[i] for i in rows]
            say(f"{method}: {left_out}")
        spec = points_spec(sens.base, f"{sens.name}-{method}", sens.inputs, points, kind=method)
        say(f"{method}: {len(points)} points x {f.replicates} replicate(s), {f.days:g} days each")
        report = run_sweep(spec, folder / method, executor, fresh=fresh, progress=progress,
                           arguments={"sensitivity": sens.source})
        if report.failed:
            first = sorted(report.errors.items())[0]
            raise RuntimeError(f"{method}: {report.failed} runs failed (first {first[0]}: {first[1]}); "
                               f"see {folder / method}/_failed/, rerun to retry")
        runs = Store(folder / method).runs()
        frames, skipped = [], {}
        for kpi in f.kpis:
            if kpi not in runs.columns:
                raise StoreError(f"{folder / method}: no KPI column {kpi!r} in the stored runs (made by an older "
                                 "model?); rerun with --fresh")
            y = runs.groupby("point")[kpi].mean().reindex(range(len(points))).to_numpy(dtype=float)
            if not np.isfinite(y).all():
                skipped[kpi] = f"{int((~np.isfinite(y)).sum())} of {len(y)} points have no value (a percentile never reached?)"
                continue
            if method == "sobol":
                t = sobol_indices(sens.names, y, table.bootstrap, table.seed)
            else:
                t = morris_indices(sens.names, unit, y, table.levels, table.bootstrap, table.seed)
            t.insert(0, "kpi", kpi)
            t["kpi_sd"] = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
            frames.append(t)
        result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        write_table(folder, method, result, {"spec": sens.source, "inputs": sens.names, "runs": len(runs),
                                             "points": len(points), "skipped": skipped, "left_out": left_out})
        out.append(Result(method, result, runs, skipped, left_out))
    return out


def figures(results: list[Result], out: Path, dpi: int = 150) -> list[Path]:
    from ..analysis.calibration_figures import morris_figure, sobol_figure
    paths = []
    for r in results:
        for kpi, t in r.table.groupby("kpi", sort=False) if len(r.table) else []:
            draw = sobol_figure if r.method == "sobol" else morris_figure
            paths += draw(t, kpi, out / f"{r.method}_{kpi.replace('.', '_')}", dpi)
    return paths


def table_lines(results: list[Result]) -> list[str]:
    """Per method and KPI, the inputs ranked by their total index (Sobol) or mu* (Morris)."""
    from ..model.kpis import lookup, number
    lines = []
    for r in results:
        if r.left_out:
            lines.append(f"{r.method}: {r.left_out}")
        for kpi, why in r.skipped.items():
            lines.append(f"{r.method} {kpi}: not analysed: {why}")
        if not len(r.table):
            continue
        for kpi, t in r.table.groupby("kpi", sort=False):
            k = lookup(kpi)
            lines.append("")
            if r.method == "sobol":
                lines.append(f"Sobol indices: {k.label} (sd over the design {k.show(t['kpi_sd'].iloc[0])}); "
                             "95% bootstrap intervals")
                lines.append(f"  {'input':<44}{'S1':>16}{'ST':>16}")
                for row in t.sort_values("ST", ascending=False).itertuples():
                    lines.append(f"  {row.input:<44}{row.S1:>9.3f} ±{row.S1_conf:<5.3f}{row.ST:>9.3f} ±{row.ST_conf:<5.3f}")
            else:
                lines.append(f"Morris screening: {k.label} (effects in {k.display_unit} across each input's range)")
                lines.append(f"  {'input':<44}{'mu*':>20}{'mu':>12}{'sigma':>12}")
                for row in t.sort_values("mu_star", ascending=False).itertuples():
                    lines.append(f"  {row.input:<44}{number(row.mu_star):>12} ±{number(row.mu_star_conf):<6}"
                                 f"{number(row.mu):>12}{number(row.sigma):>12}")
    return lines
