"""Back tests: re-run a study experiment at its reference settings and check it against
the committed reference numbers in results/reference/.

A reference holds, per point, each KPI's mean over replicates with its 95%
CI half-width. Seeds derive from the spec, so an unchanged model reproduces
the reference exactly; a KPI passes while its new mean lies within the
reference's CI, so a change to the model shows up as the KPIs it moves.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from ..analysis.compare import kpis_for, mean_ci, point_label
from ..analysis.store import Store, StoreError
from ..atomic import write_text
from ..data import folder
from ..scenario import ScenarioError
from .spec import Spec, load_spec
from .sweep import Report, run_sweep

SLACK = 1e-9          # relative: what a different machine's last floating-point bits may move


def study_experiments() -> dict[str, Path]:
    """'E1' -> the bundled E1_grid_size.toml, for every study experiment."""
    return {p.name.split("_", 1)[0]: p for p in sorted(folder("experiments").glob("E[0-9]*_*.toml"))}


def find(key: str) -> Path:
    known = study_experiments()
    if key in known:
        return known[key]
    by_name = {p.stem: p for p in known.values()}
    if key in by_name:
        return by_name[key]
    raise ScenarioError("", f"unknown experiment (known: {', '.join(known)})", key)


def spec_for(path: Path, quick: bool) -> Spec:
    spec = load_spec(path)
    if not quick:
        return spec
    if not spec.quick:
        raise ScenarioError("quick", "missing: this experiment has no quick settings", str(path))
    days, replicates = spec.quick
    return load_spec(path, days=days, replicates=replicates)


def reference_file(spec: Spec, quick: bool) -> Path:
    return folder("reference") / f"{spec.name}{'.quick' if quick else ''}.json"
def summarise(spec: Spec, runs: pd.DataFrame) -> dict:
    """The reference form of a finished sweep: per point, each KPI's mean, CI half-width and n."""
    factors = [f.path for f in spec.factors]
    points = []
    for p, group in runs.groupby("point", sort=True):
        kpis = {}
        for k in kpis_for({"spec": spec.data()}):
            if k in group:
                m, hw = mean_ci(group[k].astype(float))
                kpis[k] = {"mean": m, "half_width": hw, "n": int(group[k].notna().sum())}
        points.append({"point": int(p), "label": point_label(group.iloc[0], factors), "kpis": kpis})
    return {"experiment": spec.name, "spec_hash": spec.hash(), "days": spec.days,
            "replicates": spec.replicates, "root_seed": spec.root_seed, "points": points}


@dataclass(frozen=True)
class Line:
    label: str
    kpi: str
    reference: float
    half_width: float
    now: float
    passed: bool

    def __str__(self) -> str:
        band = "" if math.isnan(self.half_width) else f" ± {self.half_width:.4g}"
        return (f"{'pass' if self.passed else 'FAIL'}  {self.label:<32} {self.kpi:<26} "
                f"reference {self.reference:.6g}{band}  now {self.now:.6g}")


def check(reference: dict, current: dict) -> list[Line]:
    """One line per point and KPI: does the new mean lie within the reference's CI?"""
    now = {p["point"]: p for p in current["points"]}
    lines = []
    for ref in reference["points"]:
        here = now.get(ref["point"], {"kpis": {}})
        for k, r in ref["kpis"].items():
            value = here["kpis"].get(k, {}).get("mean", math.nan)
            both_nan = math.isnan(r["mean"]) and math.isnan(value)
            band = 0.0 if math.isnan(r["half_width"]) else r["half_width"]
            ok = both_nan or abs(value - r["mean"]) <= band + SLACK * max(1.0, abs(r["mean"]))
            lines.append(Line(ref["label"], k, r["mean"], r["half_width"], value, bool(ok)))
    return lines


def write_reference(spec: Spec, quick: bool, runs: pd.DataFrame) -> Path:
    path = reference_file(spec, quick)
    try:
        return write_text(path, json.dumps(summarise(spec, runs), indent=1, sort_keys=True, allow_nan=True) + "\n")
    except OSError as err:
        raise StoreError(str(err)) from None


def read_reference(spec: Spec, quick: bool) -> dict:
    path = reference_file(spec, quick)
    if not path.exists():
        raise ScenarioError("", "no reference yet: run `gridsim reproduce ... --update` to make one", str(path))
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise ScenarioError("", f"unreadable reference ({type(err).__name__})", str(path)) from None


def rerun(spec: Spec, folder: Path, executor, progress: bool = False) -> tuple[Report, pd.DataFrame]:
    """Run every run of `spec` afresh into `folder` (a back test never reuses stored runs)."""
    report = run_sweep(spec, folder, executor, discard=True, progress=progress)
    return report, Store(folder).runs()


@dataclass
class Outcome:
    """One experiment's back test: its KPI lines, or the reference it wrote, or why it could not run."""
    spec: Spec
    report: Report
    folder: Path
    lines: list[Line] = field(default_factory=list)
    changed_hash: tuple[str, str] | None = None     # (reference's, now) when the experiment file changed
    written: Path | None = None

    @property
    def failures(self) -> int:
        return sum(not line.passed for line in self.lines) + (self.changed_hash is not None)


def plan(keys: list[str], quick: bool, update: bool) -> tuple[list[Spec], dict[str, dict]]:
    """The specs to re-run and their references (read up front, so a missing one fails before any run)."""
    if not keys:
        raise ScenarioError("", "name experiments (E1 ... E9) or give --all", "gridsim reproduce")
    specs = [spec_for(find(key), quick) for key in keys]
    references = {} if update else {s.name: read_reference(s, quick) for s in specs}
    return specs, references


def reproduce(specs: list[Spec], references: dict[str, dict], quick: bool, update: bool, results: Path,
              executor, progress: bool = False) -> Iterator[Outcome]:
    """Re-run each experiment and check it (or, with `update`, write its reference), one at a time."""
    for spec in specs:
        where = Path(results) / f"{spec.name}{'-quick' if quick else ''}"
        report, runs = rerun(spec, where, executor, progress=progress)
        out = Outcome(spec, report, where)
        if report.failed:
            yield out
            return
        if update:
            out.written = write_reference(spec, quick, runs)
        else:
            reference = references[spec.name]
            if reference["spec_hash"] != spec.hash():
                out.changed_hash = (reference["spec_hash"], spec.hash())
            out.lines = check(reference, summarise(spec, runs))
        yield out
