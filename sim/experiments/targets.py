"""Calibration targets: what the city reported, as data (`scenarios/targets/*.toml`).

Each target is one observed pattern: what was observed (in the source's words),
the source, the KPI of a run it maps to (a number of the KPI table, e.g.
`resolved_per_year.alliance`), and its uncertainty as a range. A count over a
vague period is written as `count = [low, high]` and `period_years = [low,
high]`; its yearly rate then lies in [count low / period high, count high /
period low]. A bound (hotline volumes bound demand per resident) is written
directly as `value = [low, high]`. A target may be measured on another state of
the city (`city = "before_reform"`, a key of the file's `[cities]`, each naming
its scenario): every point is then run on each city, and a point is ruled out
by any target of any of them. The file's `[calibration]` table says how
to calibrate: the inputs and their ranges, run length, replicates, waves and
points, the implausibility cut-off and the model-discrepancy term.

The file is read with the scenario's field machinery: a bad file gives one
`ScenarioError` line naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from ..data import folder
from ..scenario import Scenario, ScenarioError, load, read_toml
from ..scenario.fields import build, join
from ..scenario.fields import spec as fspec
from .inputs import Input, parse_inputs
from .spec import MAX_DAYS, MAX_SEED, apply_set, check_kpi, lasting, scenario_beside, spec_header


@dataclass(frozen=True, kw_only=True)
class TargetTable:
    observed: str                                    # what the source says was observed
    source: str                                      # where it is written
    kpi: str                                         # the KPI of a run it maps to
    count: tuple[float, ...] | None = fspec(None, ge=0, le=1e12)          # [low, high] over the period
    period_years: tuple[float, ...] | None = fspec(None, gt=0, le=100)    # [low, high]
    value: tuple[float, ...] | None = fspec(None, ge=-1e12, le=1e12)      # [low, high] directly
    quote: str = ""                                  # the source's own words
    mapping: str = ""                                # why this KPI is the model's version of it
    city: str = ""                                   # measured on this [cities] scenario ("": the file's)

    def check(self, path: str) -> None:
        for name in ("count", "period_years", "value"):
            pair = getattr(self, name)
            if pair is not None and (len(pair) != 2 or pair[1] < pair[0]):
                raise ScenarioError(join(path, name), f"must be [low, high] with low <= high, got {list(pair)}")
        if self.value is None and self.count is None:
            raise ScenarioError(path, "give either value = [low, high] or count = [low, high] with period_years")
        if self.value is not None and (self.count is not None or self.period_years is not None):
            raise ScenarioError(join(path, "value"), "give either value or count with period_years, not both")
        if self.count is not None and self.period_years is None:
            raise ScenarioError(join(path, "period_years"), "missing: a count needs the period it was counted over")


@dataclass(frozen=True, kw_only=True)
class CalibrationTable:
    method: Literal["history_matching"] = "history_matching"
    days: float = fspec(gt=0, le=MAX_DAYS)
    warmup_days: float = fspec(ge=0, le=MAX_DAYS)
    replicates: int = fspec(2, ge=2, le=1000)
    root_seed: int = fspec(0, ge=0, le=MAX_SEED)
    design_seed: int = fspec(0, ge=0, le=MAX_SEED)
    waves: int = fspec(3, ge=1, le=20)
    points: int = fspec(100, ge=2, le=100_000)       # points per wave
    profile: int = fspec(0, ge=0, le=50)             # a last wave moving each input alone across its prior from
                                                     # the point nearest the targets, at this many values (0: none)
    cutoff: float = fspec(3.0, gt=0, le=100)         # implausibility cut-off
    discrepancy: float = fspec(0.1, ge=0, le=10)     # model discrepancy sd, a share of each target's midpoint
    set: Mapping[str, Any] = fspec({})               # fixed overrides of the scenario while calibrating
    inputs: Mapping[str, Any] = fspec({})

    def check(self, path: str) -> None:
        if self.warmup_days >= self.days:
            raise ScenarioError(join(path, "warmup_days"), f"must be less than days ({self.days:g})")
        if not self.inputs:
            raise ScenarioError(join(path, "inputs"), "must list at least one input")


@dataclass(frozen=True, kw_only=True)
class CityTable:
    """Another state of the same city (before a reform, say) whose targets constrain the same inputs:
    every point is run on it too."""
    scenario: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class TargetsFile:
    name: str | None = None
    description: str = ""
    scenario: str
    cities: Mapping[str, CityTable] = fspec({})
    targets: Mapping[str, TargetTable]
    calibration: CalibrationTable

    def check(self, path: str) -> None:
        if not self.targets:
            raise ScenarioError("targets", "must list at least one target")
        for name, t in self.targets.items():
            if t.city and t.city not in self.cities:
                raise ScenarioError(join(join("targets", name), "city"),
                                    f"{t.city!r} is not in [cities] ({', '.join(self.cities) or 'none'})")
        unused = sorted(set(self.cities) - {t.city for t in self.targets.values()})
        if unused:
            raise ScenarioError(join("cities", unused[0]), "no target is measured on it")


@dataclass(frozen=True)
class Target:
    name: str
    kpi: str
    low: float            # the range of the yearly (or per-resident) value the KPI is compared with
    high: float
    observed: str
    source: str
    quote: str = ""
    mapping: str = ""
    count: tuple[float, float] | None = None
    period_years: tuple[float, float] | None = None
    city: str = ""                # "": the file's scenario; else a key of Targets.cities

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        """The observation's variance: its range read as the midpoint +- 3 sd, (high - low)^2 / 36."""
        return (self.high - self.low) ** 2 / 36


@dataclass(frozen=True)
class Targets:
    name: str
    source: str                       # the targets file, resolved: results record it, read from any folder
    scenario_path: Path
    scenario: Scenario                # the base scenario with the calibration's [set] applied
    targets: tuple[Target, ...]
    calibration: CalibrationTable
    inputs: tuple[Input, ...]
    description: str = ""
    header: str = ""
    fixed: tuple = ()
    cities: Mapping[str, tuple[Path, Scenario]] = field(default_factory=dict)   # besides the file's scenario

    def scenarios(self) -> dict[str, tuple[Path, Scenario]]:
        """Every city the points run on, the file's own ("") first, each with the [set] applied."""
        return {"": (self.scenario_path, self.scenario), **self.cities}


def find_targets(text: str | Path) -> Path:
    """A targets file: a path, or a bundled one by name (`meihekou`)."""
    path = Path(text)
    if path.exists() or path.suffix or path.parent.parts:
        return path
    hit = folder("scenarios") / "targets" / f"{text}.toml"
    if hit.exists():
        return hit
    known = ", ".join(sorted(p.stem for p in (folder("scenarios") / "targets").glob("*.toml")))
    raise ScenarioError("", f"no such file or bundled targets (bundled: {known})", str(text))


def load_targets(path: str | Path) -> Targets:
    """Read and validate a targets file; every error is one line naming the file and the field."""
    path = find_targets(path)
    src = str(path)
    text, data = read_toml(path)
    try:
        return _load(data, path, text)
    except ScenarioError as err:
        raise err.at(err.source or src) from None


def _load(data: dict, path: Path, text: str) -> Targets:
    for key in ("scenario", "targets", "calibration"):
        if key not in data:
            raise ScenarioError(key, "missing (required)")
    f = build(TargetsFile, data)
    scenario_path = scenario_beside(f.scenario, path.parent, "targets file")
    base, fixed = apply_set(load(scenario_path), f.calibration.set, "calibration.set")
    inputs = parse_inputs(f.calibration.inputs, base, "calibration.inputs")
    cities = {}
    for name, c in f.cities.items():
        where = scenario_beside(c.scenario, path.parent, "targets file")
        cities[name] = (where, apply_set(load(where), f.calibration.set, "calibration.set")[0])
    targets = []
    for name, t in f.targets.items():
        if t.value is not None:
            low, high = t.value
        else:
            low, high = t.count[0] / t.period_years[1], t.count[1] / t.period_years[0]
        targets.append(Target(name, t.kpi, float(low), float(high), t.observed, t.source, t.quote, t.mapping,
                              None if t.count is None else tuple(t.count),
                              None if t.period_years is None else tuple(t.period_years), t.city))
    out = Targets(f.name or path.stem, str(path.resolve()), scenario_path, base, tuple(targets), f.calibration,
                  inputs, f.description, spec_header(text), fixed, cities)
    for t in out.targets:
        check_kpi(t.kpi, lasting(out.scenarios()[t.city][1], out.calibration.days, out.calibration.warmup_days),
                  f"targets.{t.name}.kpi")
    return out
