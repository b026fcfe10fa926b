"""Experiment specs: read a TOML file, validate it, expand its design into runs.

An experiment is a base scenario, factors (dotted scenario paths, each with a
list of values or a range), a design (full factorial, Latin hypercube or Sobol
via `scipy.stats.qmc`), replicates and a root seed. Every error is a
`ScenarioError` whose text is one line: `<spec file>: <field>: <what is wrong>`.

A run's seed derives from (root seed, replicate) alone, so within a replicate
every point sees the same random streams (common random numbers).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np

from ..analysis.compare import OPTION
from ..analysis.objective import Objective, ObjectiveTable, objective_from
from ..data import folder
from ..model.kpis import is_kpi, unknown_part
from ..model.metrics import QUARTER_DAYS, WALK_BAND_NAMES, shortest_visit_interval_days
from ..scenario import (Scenario, ScenarioError, bundled_scenario, load, read_toml, scenario_hash, to_data,
                        with_overrides)
from ..scenario.fields import argument, build, join, show
from ..scenario.fields import spec as fspec


@dataclass(frozen=True)
class Factor:
    path: str                              # dotted scenario path
    values: tuple | None = None            # a list of values, or
    low: float | None = None               # a range [low, high]
    high: float | None = None
    integer: bool = False

    def data(self) -> dict:
        if self.values is not None:
            return {"values": list(self.values)}
        return {"low": self.low, "high": self.high, "integer": self.integer}

    def pick(self, u: float) -> Any:
        """The value at quantile u in [0, 1) of this factor (for lhs/sobol)."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.integer:
            lo, hi = int(self.low), int(self.high)
            return min(lo + int(u * (hi - lo + 1)), hi)
        return float(round(self.low + u * (self.high - self.low), 10))


@dataclass(frozen=True)
class UntilCI:
    metric: str
    half_width: float
    max_replicates: int


@dataclass(frozen=True)
class Spec:
    name: str
    source: str                            # the spec file, for messages
    scenario_path: Path
    base: Scenario = field(repr=False)     # the base scenario with days and warm-up applied
    factors: tuple[Factor, ...]
    design: str
    samples: int | None
    design_seed: int | None
    replicates: int
    root_seed: int
    days: float
    warmup_days: float
    until_ci: UntilCI | None = None
    description: str = ""
    fixed: tuple = ()                      # the [set] overrides, (path, value) pairs
    options: tuple = ()                    # [options]: (name, ((path, value), ...)) bundles
    quick: tuple = ()                      # [quick]: (days, replicates) for `reproduce --quick`
    baseline: tuple = ()                   # [baseline]: (factor path, value) the options are compared with
    kpis: tuple = ()                       # KPIs this experiment reports beyond the defaults
    labels: tuple = ()                     # [labels]: (factor path or option name, what readers see)
    header: str = ""                       # the comment block at the top of the file
    objective: Objective | None = None     # [objective]: targets on KPIs and what to minimise
    decisions: tuple = ()                  # [decisions]: the factor paths `optimise` may change
    search: tuple = ()                     # [search]: optimise's settings, (key, value) pairs
    keep: tuple = ()                       # the only KPIs each run stores, with no extra tables (a calibration's
                                           # runs keep what its targets read); empty: every KPI and the extras
    from_dict: dict | None = field(default=None, repr=False, compare=False)   # the dict it was given as, if any

    def data(self) -> dict:
        """The plain, hashable form stored in the manifest (paths relative, so folders can move)."""
        return {
            "name": self.name, "description": self.description,
            "scenario": self.scenario_path.name, "scenario_hash": scenario_hash(self.base),
            "design": self.design, "samples": self.samples, "design_seed": self.design_seed,
            "set": {k: v for k, v in self.fixed},
            "factors": {f.path: f.data() for f in self.factors},
            "replicates": self.replicates, "root_seed": self.root_seed,
            "days": self.days, "warmup_days": self.warmup_days,
            "until_ci": None if self.until_ci is None else vars(self.until_ci).copy(),
            "options": {name: dict(bundle) for name, bundle in self.options},
            "quick": list(self.quick),
            "baseline": dict(self.baseline),
            "kpis": list(self.kpis),
            **({"labels": dict(self.labels)} if self.labels else {}),
            **({"objective": self.objective.data()} if self.objective is not None else {}),
            **({"decisions": list(self.decisions)} if self.decisions else {}),
            **({"search": dict(self.search)} if self.search else {}),
            **({"keep": list(self.keep)} if self.keep else {}),
        }

    def hash(self) -> str:
        """What the runs depend on. The objective, the search settings and the KPIs a run keeps are
        left out: runs made for one set of targets are the same runs for another, so a results folder
        keeps them (a stored run lacking a KPI now kept is not counted, and is run again)."""
        data = {k: v for k, v in self.data().items() if k not in ("objective", "search", "keep")}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def points(self) -> list[dict]:
        """The scenario points of the design: each a {dotted path: value} dict, in a fixed order."""
        if not self.factors:
            return [{}]
        if self.design == "factorial":
            return [dict(zip((f.path for f in self.factors), combo))
                    for combo in itertools.product(*(f.values for f in self.factors))]
        from scipy.stats import qmc
        d = len(self.factors)
        if self.design == "lhs":
            u = qmc.LatinHypercube(d=d, seed=self.design_seed).random(self.samples)
        else:
            with warnings.catch_warnings():      # Sobol prefers powers of two; any n is allowed
                warnings.simplefilter("ignore")
                u = qmc.Sobol(d=d, scramble=True, seed=self.design_seed).random(self.samples)
        return [{f.path: _plain(f.pick(float(row[j]))) for j, f in enumerate(self.factors)} for row in u]

    def overrides(self, point: dict) -> list[tuple[str, Any]]:
        """A point's scenario overrides; an `option` expands into its bundle."""
        bundles = dict(self.options)
        out = []
        for key, value in point.items():
            out += list(bundles[value]) if key == OPTION else [(key, value)]
        return out

    def scenario_at(self, point: dict) -> Scenario:
        return with_overrides(self.base, self.overrides(point))

    def point_label(self, point: dict) -> str:
        """What a reader calls a point: the spec's [labels], else the factor's last two path parts
        (`police per station = 1`) and the option's name, with spaces for underscores."""
        labels = dict(self.labels)
        parts = []
        for key, value in point.items():
            if key == OPTION:
                parts.append(labels.get(value, str(value).replace("_", " ")))
                continue
            name = labels.get(key, " ".join(key.split(".")[-2:]).replace("_", " "))
            parts.append(f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}")
        return ", ".join(parts) or "(base)"

    def identity(self, arguments: dict | None = None) -> dict:
        """What a results folder's manifest records: enough for compare and report to need nothing else
        (not the spec file, not guesses): the spec, its points with their labels and overrides, the
        base scenario, the file's header comment and the arguments the sweep was run with."""
        points = self.points()
        return {
            "experiment": self.name, "spec": self.data(), "spec_hash": self.hash(),
            "spec_file": self.source if self.source.startswith("<") else str(Path(self.source).resolve()),
            "factors": [f.path for f in self.factors], "points": points,
            "point_labels": [self.point_label(p) for p in points],
            "point_overrides": [[[k, v] for k, v in self.overrides(p)] for p in points],
            "base_scenario": to_data(self.base), "header": self.header,
            "arguments": dict(arguments or {}),
        }


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def run_seed(root_seed: int, replicate: int) -> int:
    """The seed of every run in `replicate`: depends on (root seed, replicate) only."""
    return int(np.random.SeedSequence([root_seed, replicate]).generate_state(1)[0])


# ---------------------------------------------------------------- the file's schema
# The experiment file is checked by the scenario's own field machinery
# (`fields.build`): types, bounds and unknown keys give the same one-line errors
# as a scenario file, with the dotted path of the field at fault.
MAX_POINTS = 100_000           # points of one design: more is a typo, or a job for a cluster scheduler
MAX_REPLICATES = 10_000
MAX_DAYS = 36_500.0            # 100 simulated years
MAX_SEED = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class DesignTable:
    kind: Literal["factorial", "lhs", "sobol"] = "factorial"
    samples: int | None = fspec(None, ge=1, le=MAX_POINTS)
    seed: int | None = fspec(None, ge=0, le=MAX_SEED)


@dataclass(frozen=True, kw_only=True)
class UntilCITable:
    metric: str
    half_width: float = fspec(gt=0)
    max_replicates: int | None = fspec(None, ge=2, le=MAX_REPLICATES)


@dataclass(frozen=True, kw_only=True)
class QuickTable:
    days: float = fspec(7.0, gt=0, le=MAX_DAYS)
    replicates: int = fspec(2, ge=2, le=MAX_REPLICATES)


@dataclass(frozen=True, kw_only=True)
class ValuesTable:
    values: tuple[Any, ...]

    def check(self, path: str) -> None:
        if not self.values:
            raise ScenarioError(join(path, "values"), "must be a non-empty list")
        seen: dict[str, Any] = {}
        for x in self.values:
            key = json.dumps(_as_compared(x), sort_keys=True)
            if key in seen:
                raise ScenarioError(join(path, "values"), f"repeats a value: {show(seen[key])} and {show(x)} are "
                                                          "the same choice")
            seen[key] = x


def _as_compared(x: Any) -> Any:
    """A value as repeats are found: 1 and 1.0 set a field to the same number, so are one choice."""
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) <= 2**53:
        return float(x)
    if isinstance(x, (list, tuple)):
        return [_as_compared(v) for v in x]
    if isinstance(x, Mapping):
        return {str(k): _as_compared(v) for k, v in x.items()}
    return x


@dataclass(frozen=True, kw_only=True)
class RangeTable:
    low: float = fspec(ge=-1e300, le=1e300)
    high: float = fspec(ge=-1e300, le=1e300)
    integer: bool = False

    def check(self, path: str) -> None:
        if self.high < self.low:
            raise ScenarioError(join(path, "high"), f"must be >= low ({self.low:g}), got {self.high:g}")
        if self.integer and (self.low != int(self.low) or self.high != int(self.high)):
            raise ScenarioError(join(path, "low"), "an integer range needs whole-number bounds")


@dataclass(frozen=True, kw_only=True)
class DecisionRange:
    """A decision over a range: low, low + step, ... up to high (whole numbers unless step says otherwise)."""
    low: float = fspec(ge=-1e15, le=1e15)
    high: float = fspec(ge=-1e15, le=1e15)
    step: float | None = fspec(None, gt=0, le=1e15)

    def check(self, path: str) -> None:
        if self.high < self.low:
            raise ScenarioError(join(path, "high"), f"must be >= low ({self.low:g}), got {self.high:g}")
        if self.step is None and (self.low != int(self.low) or self.high != int(self.high)):
            raise ScenarioError(join(path, "low"), "a range without a step takes whole numbers (give a step)")
        n = math.floor((self.high - self.low) / (self.step or 1) + 1e-9) + 1
        if n > MAX_POINTS:
            raise ScenarioError(path, f"has {n:,} values, more than {MAX_POINTS:,}; give a larger step")

    def values(self) -> tuple:
        step = self.step or 1
        n = math.floor((self.high - self.low) / step + 1e-9) + 1
        whole = self.low == int(self.low) and step == int(step)
        return tuple(int(self.low) + k * int(step) if whole else float(round(self.low + k * step, 10))
                     for k in range(n))


@dataclass(frozen=True, kw_only=True)
class SearchTable:
    """How `gridsim optimise` searches (see gridsim.experiments.optimise)."""
    budget: int = fspec(500, ge=1, le=MAX_POINTS)          # candidates screened at most
    max_replicates: int = fspec(20, ge=2, le=MAX_REPLICATES)  # per candidate, in ranking and selection
    finalists: int = fspec(3, ge=1, le=100)                # the chosen and its runners-up, brought to max_replicates
    assumption_points: int = fspec(20, ge=2, le=10_000)     # points of the scenario's [uncertain] inputs each
                                                            # finalist is checked across


@dataclass(frozen=True, kw_only=True)
class SpecFile:
    name: str | None = None
    description: str = ""
    scenario: str
    design: Literal["factorial", "lhs", "sobol"] | DesignTable = "factorial"
    replicates: int = fspec(1, ge=1, le=MAX_REPLICATES)
    root_seed: int = fspec(0, ge=0, le=MAX_SEED)
    days: float | None = fspec(None, gt=0, le=MAX_DAYS)
    warmup_days: float | None = fspec(None, ge=0, le=MAX_DAYS)
    set: Mapping[str, Any] = fspec({})
    factors: Mapping[str, Any] = fspec({})
    options: Mapping[str, Mapping[str, Any]] = fspec({})
    baseline: Mapping[str, Any] = fspec({})
    kpis: tuple[str, ...] = ()
    labels: Mapping[str, str] = fspec({})
    until_ci: UntilCITable | None = None
    quick: QuickTable | None = None
    objective: ObjectiveTable | None = None
    decisions: Mapping[str, Any] = fspec({})
    search: SearchTable | None = None

    def check(self, path: str) -> None:
        name = self.name
        if name is not None and (not name or name.startswith(".")
                                 or not all(c.isalnum() or c in "-_." for c in name)):
            raise ScenarioError("name", f"must be a folder-safe name (letters, digits, - _ .), got {name!r}")
        for option, bundle in self.options.items():
            if not bundle:
                raise ScenarioError(f"options.{option}", "must set at least one dotted scenario path")


def leaves(table: Mapping, prefix: str = ""):
    """Flatten nested tables: quoted ("a.b" = ...) and unquoted (a.b = ...) dotted keys both work."""
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path)
        else:
            yield path, value


def scenario_beside(name: str, folder: Path, what: str) -> Path:
    """A file's `scenario`: a path relative to the file's folder, else a bundled scenario's name."""
    path = (folder / name).resolve()
    if path.exists():
        return path
    named = bundled_scenario(name)
    if named is None:
        raise ScenarioError("scenario", f"no such file {name} (paths are relative to the {what})")
    return named


def apply_set(base: Scenario, table: Mapping, where: str = "set") -> tuple[Scenario, tuple]:
    """A file's [set] table on its base scenario, all changes together (one may need another: a
    rate and its staff); an error names the first key that fails alone, if one does."""
    fixed = tuple(leaves(table))
    try:
        return (with_overrides(base, fixed) if fixed else base), fixed
    except ScenarioError as err:
        for key, value in fixed:
            try:
                with_overrides(base, [(key, value)])
            except ScenarioError as alone:
                raise ScenarioError(f"{where}.{key}", f"{alone.path}: {alone.message}") from None
        raise ScenarioError(where, f"{err.path}: {err.message}") from None


def _factors(table: Mapping) -> list[Factor]:
    """`[factors]`: each leaf a list of values, a table {values}, or a range {low, high, integer}."""
    def from_range(v: dict, path: str, where: str) -> Factor:
        r = build(RangeTable, v, where)
        return Factor(path, low=r.low, high=r.high, integer=r.integer)
    return _leaves(table, "factors", ("low", "high", "integer"), "values", "{low, high}", from_range)


def _decisions(table: Mapping) -> list[Factor]:
    """`[decisions]`: each leaf a list of choices, a table {values}, or a range {low, high, step}."""
    def from_range(v: dict, path: str, where: str) -> Factor:
        return Factor(path, values=build(DecisionRange, v, where).values())
    return _leaves(table, "decisions", ("low", "high", "step"), "choices", "{low, high, step}", from_range)


def _leaves(table: Mapping, section: str, range_keys: tuple[str, ...], items: str, range_text: str,
            from_range, prefix: str = "") -> list[Factor]:
    """The leaves of `[factors]` or `[decisions]` (nested tables of dotted paths), each a Factor."""
    out = []
    for key, v in table.items():
        path = f"{prefix}.{key}" if prefix else key
        where = f"{section}.{path}"
        if isinstance(v, list):
            v = {"values": v}
        if not isinstance(v, Mapping):
            raise ScenarioError(where, f"must be a list of {items} or a range {range_text}, got {v!r}")
        if not v:
            raise ScenarioError(where, f"is empty: give a list of {items} or a range {range_text}")
        if not set(v) <= {*range_keys, "values"}:       # a nested table of paths
            out += _leaves(v, section, range_keys, items, range_text, from_range, path)
            continue
        if "values" in v:
            extra = sorted(set(v) - {"values"})
            if extra:
                raise ScenarioError(f"{where}.{extra[0]}", "give either values or low/high, not both")
            out.append(Factor(path, values=build(ValuesTable, dict(v), where).values))
            continue
        for k in ("low", "high"):
            if k not in v:
                raise ScenarioError(f"{where}.{k}", "missing (a range needs low and high)")
        out.append(from_range(dict(v), path, where))
    return out


def unstable(err: ScenarioError) -> bool:
    """Is this the scenario check refusing a queue that could never keep up (too few staff)?
    Such a candidate is infeasible, not a mistake in the experiment file."""
    return err.path.startswith("roles.") and err.message.startswith("offered load is")


def spec_header(text: str) -> str:
    """The comment block at the top of a spec file, without the `#`s."""
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            lines.append(s[1:][1:] if s[1:].startswith(" ") else s[1:])
        elif s:
            break
        else:
            lines.append("")
    return "\n".join(lines).strip()


def find_experiment(text: str | Path) -> Path:
    """An experiment file: a path, or a bundled experiment by name (`E3`, `E3_building_leaders`, `grid_size`)."""
    path = Path(text)
    if path.exists() or path.suffix:
        return path
    places = (folder("experiments"), folder("experiments") / "maps")    # maps/: on a map city, the [geo] extra
    hits = sorted(h for place in places for h in place.glob(f"{text}_*.toml")) + \
        sorted(h for place in places for h in place.glob(f"{text}.toml"))
    if len(hits) == 1 or (hits and hits[-1].stem == str(text)):
        return hits[-1]
    known = ", ".join(sorted(p.stem for place in places for p in place.glob("*.toml")))
    raise ScenarioError("", f"no such file or bundled experiment (bundled: {known})", str(text))


def load_spec(path: str | Path | Mapping, days: float | None = None, replicates: int | None = None, *,
              check: bool = True) -> Spec:
    """Read and validate an experiment (a file, a bundled name, or a dict of the file's keys);
    `days`/`replicates` override the file (a quick look).

    Every point's scenario is built (overrides applied and validated) here, so
    a bad factor path or value is reported before anything runs; a caller that
    builds them itself (to size the job, with a progress bar: `check_points`)
    passes `check=False`. Paths in a dict (its `scenario`) are relative to the
    current folder; a bundled scenario may be named without `.toml`.
    """
    days = None if days is None else argument(float, days, "days", gt=0, le=MAX_DAYS)
    replicates = None if replicates is None else argument(int, replicates, "replicates", ge=1, le=MAX_REPLICATES)
    if isinstance(path, Mapping):
        data, src, where, header = copy.deepcopy(dict(path)), "<experiment dict>", Path.cwd(), ""
        stem = None
    else:
        path = find_experiment(path)
        src = str(path)
        text, data = read_toml(path)
        where, header, stem = path.parent, spec_header(text), path.stem
    try:
        spec = _load(data, src, where, header, stem, days, replicates, check)
        return spec if stem else replace(spec, from_dict=copy.deepcopy(dict(path)))   # a dict: kept to derive from
    except ScenarioError as err:
        raise err.at(err.source or src) from None
    except RecursionError:
        raise ScenarioError("", "nested too deeply to read", src) from None


def _load(data: dict, src: str, where: Path, header: str, stem: str | None,
          days: float | None, replicates: int | None, check: bool) -> Spec:
    if "scenario" not in data:
        raise ScenarioError("scenario", "missing (required): the base scenario file, relative to this file")
    f = build(SpecFile, data)
    name = f.name or stem
    if not name:
        raise ScenarioError("name", "missing (required for an experiment given as a dict)")
    scenario_path = scenario_beside(f.scenario, where, "experiment file")
    base, fixed = apply_set(load(scenario_path), f.set)

    if isinstance(f.design, DesignTable):
        design, samples, design_seed = f.design.kind, f.design.samples, f.design.seed
    else:
        design, samples, design_seed = f.design, None, None
    factors = _factors(f.factors)
    decisions = _decisions(f.decisions)
    if decisions:
        if factors:
            raise ScenarioError("decisions", "give [decisions] (what optimise may change) or [factors], not both")
        if design != "factorial":
            raise ScenarioError("design", "an experiment with [decisions] searches their combinations: "
                                          "leave the design out (factorial)")
        factors = decisions
    if f.search is not None and not decisions and not f.options and not factors:
        raise ScenarioError("search", "there is nothing to search: give [decisions]")
    if f.options:
        if any(x.path == OPTION for x in factors):
            raise ScenarioError(f"factors.{OPTION}", "is set by the [options] tables; do not list it")
        factors.append(Factor(OPTION, values=tuple(f.options)))
    baseline = dict(leaves(f.baseline))
    for key, value in baseline.items():
        factor = next((x for x in factors if x.path == key), None)
        if factor is None:
            raise ScenarioError(f"baseline.{key}", f"is not a factor (factors: {', '.join(x.path for x in factors)})")
        if factor.values is not None and value not in factor.values:
            raise ScenarioError(f"baseline.{key}", f"{value!r} is not one of the factor's values {list(factor.values)!r}")
    labelled = {x.path for x in factors} | set(f.options)
    for key in f.labels:
        if key not in labelled:
            raise ScenarioError(f"labels.{key}", "is neither a factor path nor an option name")
    if decisions:
        if baseline and set(baseline) != {x.path for x in factors}:
            lacking = sorted({x.path for x in factors} - set(baseline))
            raise ScenarioError(f"baseline.{lacking[0]}", "missing: with [decisions] the baseline names a value "
                                                          "of every decision (it is one candidate)")
    objective = None if f.objective is None else objective_from(to_data(f.objective))
    quick_settings = () if f.quick is None else (f.quick.days, f.quick.replicates)
    if design == "factorial" and not decisions:
        for x in factors:
            if x.values is None:
                raise ScenarioError(f"factors.{x.path}", "a factorial design needs a list of values, not a range")
    if design == "factorial":
        if samples is not None:
            raise ScenarioError("design.samples", "only lhs and sobol designs take a sample count")
        n_points = math.prod(len(x.values) for x in factors)
        if n_points > MAX_POINTS:
            raise ScenarioError("factors", f"the full factorial has {n_points:,} points, more than gridsim runs in "
                                           f"one experiment ({MAX_POINTS:,}); use fewer values or an lhs/sobol design")
    elif samples is None:
        raise ScenarioError("design.samples", f"missing (required for design {design!r})")

    n_rep = f.replicates if replicates is None else replicates
    if design_seed is None:
        design_seed = f.root_seed

    days_v = (f.days if f.days is not None else base.run.days) if days is None else days
    warm = f.warmup_days if f.warmup_days is not None else base.run.warmup_days
    if days is not None and warm >= days_v:
        raise ScenarioError("", f"--days {days_v:g} must be more than the experiment's warmup_days ({warm:g})")
    if not 0 <= warm < days_v:
        raise ScenarioError("warmup_days", f"must be >= 0 and less than days ({days_v:g}), got {warm:g}")

    until_ci = None
    if f.until_ci is not None and replicates is None:     # a quick look (--replicates) runs exactly that many
        mx = f.until_ci.max_replicates if f.until_ci.max_replicates is not None else max(20, n_rep)
        if mx < max(n_rep, 2):
            raise ScenarioError("until_ci.max_replicates",
                                f"must be an integer >= replicates ({n_rep}) and >= 2, got {mx!r}")
        until_ci = UntilCI(f.until_ci.metric, f.until_ci.half_width, mx)

    try:
        written = None if days is None else lasting(base, f.days or base.run.days, warm)
        base = lasting(base, days_v, warm)
    except ScenarioError as err:
        raise ScenarioError("days", f"{err.path}: {err.message}") from None
    for i, k in enumerate(f.kpis):          # for the run the file describes: a quick look reports those it has
        check_kpi(k, written or base, f"kpis[{i}]")
    named = [] if f.until_ci is None else [(f.until_ci.metric, "until_ci.metric")]
    if objective is not None:
        named += [(c.kpi, f"objective.constraints[{i}]") for i, c in enumerate(objective.constraints)]
        named.append((objective.minimise, "objective.minimise"))
    for kpi, where_named in named:         # what decides the runs must be in every run
        check_kpi(kpi, base, where_named)

    spec = Spec(name=name, source=src, scenario_path=scenario_path, base=base, factors=tuple(factors),
                design=design, samples=samples, design_seed=design_seed, replicates=n_rep,
                root_seed=f.root_seed, days=days_v, warmup_days=warm, until_ci=until_ci,
                description=f.description, fixed=tuple(fixed),
                options=tuple((o, tuple(leaves(bundle))) for o, bundle in f.options.items()),
                quick=quick_settings, baseline=tuple(baseline.items()), kpis=tuple(f.kpis),
                labels=tuple(f.labels.items()), header=header, objective=objective,
                decisions=tuple(x.path for x in decisions),
                search=() if f.search is None else tuple(to_data(f.search).items()))
    if decisions:
        check_decisions(spec)
    elif check:
        check_points(spec)
    return spec


def lasting(scenario: Scenario, days: float, warmup: float) -> Scenario:
    """`scenario` run for `days` after `warmup` days (set in the order that keeps warm-up < days)."""
    return with_overrides(scenario, [("run.warmup_days", 0.0), ("run.days", days), ("run.warmup_days", warmup)])


def check_kpi(name: str, scenario: Scenario, where: str) -> None:
    """A KPI that runs of `scenario` report: a name of the KPI table (whose families check their
    roles and channels), of a request type, walking band and quarter the scenario's runs have. Every name a file gives (objective, claim,
    target, sensitivity KPI) is checked here before the first run, not looked for after the last."""
    if not is_kpi(name):
        part = unknown_part(name.split(".", 2)[2] if name.startswith("by_type.") and name.count(".") > 1 else name)
        raise ScenarioError(where, f"{name!r}: {part}" if part else
                            f"{name!r} is not a KPI (see gridsim.model.kpis; e.g. 'resolution_hours.p90')")
    parts = name.split(".")
    if parts[0] == "by_type":
        if parts[1] not in scenario.requests:
            raise ScenarioError(where, f"{name!r}: the scenario has no request type {parts[1]!r} "
                                       f"(types: {', '.join(scenario.requests)})")
        parts = parts[2:]
    if parts[0] == "by_walk_band" and parts[1] not in WALK_BAND_NAMES:
        raise ScenarioError(where, f"{name!r}: no walking band {parts[1]!r} (bands: {', '.join(WALK_BAND_NAMES)})")
    if name == "visit_completion_share":
        every, run = shortest_visit_interval_days(scenario), scenario.run
        if every is not None and run.days - run.warmup_days <= every:
            raise ScenarioError(where, f"{name!r}: a run of {run.days:g} days after {run.warmup_days:g} of warm-up "
                                       f"sees no routine visit's next one fall due (the most frequent are every "
                                       f"{every:.1f} days): run more than {run.warmup_days + every:.0f} days")
    if parts[0] == "by_quarter":
        n = int((scenario.run.days - scenario.run.warmup_days) // QUARTER_DAYS)
        if parts[1] not in [f"q{k + 1}" for k in range(n)]:
            have = f"q1 to q{n}" if n > 1 else "q1" if n else "none"
            run = scenario.run
            raise ScenarioError(where, f"{name!r}: a run of {run.days:g} days after {run.warmup_days:g} of warm-up "
                                       f"has {n} whole quarter(s) of {QUARTER_DAYS} days ({have})")


def check_decisions(spec: Spec) -> None:
    """Apply each decision's every value alone to the base: a bad path or value fails now. A value
    the scenario check refuses as unstable (too few staff for the work) is allowed: optimise
    counts that candidate infeasible. Combinations are checked when optimise reaches them."""
    for factor in spec.factors:
        ok = 0
        for value in factor.values:
            key = OPTION if factor.path == OPTION else factor.path
            where = f"options.{value}" if key == OPTION else f"decisions.{key}"
            try:
                spec.scenario_at({key: value})
                ok += 1
            except ScenarioError as err:
                if not unstable(err):
                    raise ScenarioError(where, f"value {value!r}: {err.path}: {err.message}") from None
        if not ok:
            raise ScenarioError(f"decisions.{factor.path}", "every value leaves a queue that could never keep up "
                                                           "(the scenario check refuses each): widen the range")


PROGRESS_AFTER = 1.0    # seconds: checking points that takes longer shows a bar; a quick check prints nothing


def checking(points: list[dict], progress: bool):
    """`points` with a progress bar on stderr once checking them has taken PROGRESS_AFTER seconds
    (a design of thousands of points takes minutes: never silence; a quick check, or its error
    line, stays alone)."""
    from tqdm import tqdm
    return tqdm(points, desc="checking points", unit="point", disable=not progress, leave=False,
                delay=PROGRESS_AFTER)


def refusals(spec: Spec, points: list[dict], progress: bool = False) -> dict[int, ScenarioError]:
    """Every point's scenario built before any run: the points the scenario check refuses, by
    index, with its error."""
    out = {}
    for i, point in enumerate(checking(points, progress)):
        try:
            spec.scenario_at(point)
        except ScenarioError as err:
            out[i] = err
    return out


def check_points(spec: Spec, progress: bool = False) -> list[Scenario]:
    """Every point's scenario, built now (`checking`: a progress bar for a large design): a bad path
    or value fails before any run starts, naming the factor when it fails alone, else the point."""
    out = []
    for point in checking(spec.points(), progress):
        try:
            out.append(spec.scenario_at(point))
            continue
        except ScenarioError as err:
            together = err
        for key, value in point.items():
            where = (f"options.{value}" if key == OPTION else
                     f"decisions.{key}" if key in spec.decisions else f"factors.{key}")
            try:
                spec.scenario_at({key: value})
            except ScenarioError as err:
                raise ScenarioError(where, f"value {value!r}: {err.path}: {err.message}") from None
        combo = ", ".join(f"{k}={v!r}" for k, v in point.items())
        raise ScenarioError("factors", f"point {combo}: {together.path}: {together.message}") from None
    return out
