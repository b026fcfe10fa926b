"""Experiment specs: read a TOML file, validate it, expand its design into runs.

An experiment is a base scenario, factors (dotted scenario paths, each with a
list of values or a range), a design (full factorial, Latin hypercube or Sobol
via `scipy.stats.qmc`), replicates and a root seed. Every error is a
`ScenarioError` whose text is one line: `<spec file>: <field>: <what is wrong>`.

A run's seed derives from (root seed, replicate) alone, so within a replicate
every point sees the same random streams (common random numbers).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.compare import OPTION
from ..scenario import Scenario, ScenarioError, load, scenario_hash, with_overrides

DESIGNS = ("factorial", "lhs", "sobol")
TOP_KEYS = ("name", "description", "scenario", "design", "replicates", "root_seed",
            "days", "warmup_days", "set", "factors", "options", "baseline", "kpis", "until_ci", "quick")
RANGE_KEYS = {"low", "high", "integer", "values"}


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
        }

    def hash(self) -> str:
        text = json.dumps(self.data(), sort_keys=True, separators=(",", ":"))
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


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def run_seed(root_seed: int, replicate: int) -> int:
    """The seed of every run in `replicate`: depends on (root seed, replicate) only."""
    return int(np.random.SeedSequence([root_seed, replicate]).generate_state(1)[0])


# ---------------------------------------------------------------- reading and validating
def _err(src: str, path: str, message: str) -> ScenarioError:
    return ScenarioError(path, message, src)


def _int(data: dict, key: str, src: str, default=None, minimum: int = 0) -> int | None:
    v = data.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(src, key, f"must be an integer, got {v!r}")
    if v < minimum:
        raise _err(src, key, f"must be >= {minimum}, got {v}")
    return v


def _number(v: Any, src: str, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
        raise _err(src, path, f"must be a number, got {v!r}")
    return float(v)


def _factors(table: Any, src: str, prefix: str = "") -> list[Factor]:
    """Flatten `[factors]`: quoted ("a.b" = ...) and unquoted (a.b = ...) dotted keys both work."""
    if not isinstance(table, dict):
        raise _err(src, "factors", f"must be a table of dotted scenario paths, got {table!r}")
    out = []
    for key, v in table.items():
        path = f"{prefix}.{key}" if prefix else key
        where = f"factors.{path}"
        if isinstance(v, list):
            v = {"values": v}
        if not isinstance(v, dict):
            raise _err(src, where, f"must be a list of values or a range {{low, high}}, got {v!r}")
        if not v or not set(v) <= RANGE_KEYS:          # a nested table of paths
            if not v:
                raise _err(src, where, "is empty: give a list of values or a range {low, high}")
            out += _factors(v, src, path)
            continue
        if "values" in v:
            extra = set(v) - {"values"}
            if extra:
                raise _err(src, f"{where}.{sorted(extra)[0]}", "give either values or low/high, not both")
            values = v["values"]
            if not isinstance(values, list) or not values:
                raise _err(src, f"{where}.values", f"must be a non-empty list, got {values!r}")
            if len({json.dumps(x, sort_keys=True) for x in values}) != len(values):
                raise _err(src, f"{where}.values", f"has repeated values: {values!r}")
            out.append(Factor(path, values=tuple(values)))
            continue
        for k in ("low", "high"):
            if k not in v:
                raise _err(src, f"{where}.{k}", "missing (a range needs low and high)")
        lo, hi = _number(v["low"], src, f"{where}.low"), _number(v["high"], src, f"{where}.high")
        integer = v.get("integer", False)
        if not isinstance(integer, bool):
            raise _err(src, f"{where}.integer", f"must be true or false, got {integer!r}")
        if hi < lo:
            raise _err(src, f"{where}.high", f"must be >= low ({lo:g}), got {hi:g}")
        if integer and (lo != int(lo) or hi != int(hi)):
            raise _err(src, f"{where}.low", "an integer range needs whole-number bounds")
        out.append(Factor(path, low=lo, high=hi, integer=integer))
    return out


def _leaves(table: dict, prefix: str = ""):
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def load_spec(path: str | Path, days: float | None = None, replicates: int | None = None) -> Spec:
    """Read and validate an experiment file; `days`/`replicates` override the file (quick look).

    Every point's scenario is built (overrides applied and validated) here,
    so a bad factor path or value is reported before anything runs.
    """
    path = Path(path)
    src = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _err(src, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _err(src, "", f"cannot read ({err.__class__.__name__}: {err})") from None
    except tomllib.TOMLDecodeError as err:
        raise _err(src, "", f"TOML syntax error: {err}") from None
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise _err(src, unknown[0], f"unknown key (expected one of: {', '.join(TOP_KEYS)})")

    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name) \
            or name.startswith("."):
        raise _err(src, "name", f"must be a folder-safe name (letters, digits, - _ .), got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _err(src, "description", f"must be a string, got {description!r}")

    if "scenario" not in data:
        raise _err(src, "scenario", "missing (required): the base scenario file, relative to this file")
    if not isinstance(data["scenario"], str):
        raise _err(src, "scenario", f"must be a file name, got {data['scenario']!r}")
    scenario_path = (path.parent / data["scenario"]).resolve()
    if not scenario_path.exists():
        raise _err(src, "scenario", f"no such file {data['scenario']} (paths are relative to the experiment file)")
    base = load(scenario_path)
    fixed = data.get("set", {})
    if not isinstance(fixed, dict):
        raise _err(src, "set", f"must be a table of dotted scenario paths and values, got {fixed!r}")
    for key, value in _leaves(fixed):
        try:
            base = with_overrides(base, [(key, value)])
        except ScenarioError as err:
            raise _err(src, f"set.{key}", f"{err.path}: {err.message}") from None

    design, samples, design_seed = data.get("design", "factorial"), None, None
    if isinstance(design, dict):
        d = design
        bad = sorted(set(d) - {"kind", "samples", "seed"})
        if bad:
            raise _err(src, f"design.{bad[0]}", "unknown key (expected one of: kind, samples, seed)")
        design = d.get("kind", "factorial")
        samples = d.get("samples")
        design_seed = d.get("seed")
        for key, v in (("samples", samples), ("seed", design_seed)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "samples" else 0)):
                raise _err(src, f"design.{key}", f"must be a whole number >= {1 if key == 'samples' else 0}, got {v!r}")
    if design not in DESIGNS:
        raise _err(src, "design", f"must be one of {', '.join(DESIGNS)}, got {design!r}")

    factors = _factors(data.get("factors", {}), src)
    options = data.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) and v for v in options.values()):
        raise _err(src, "options", "must be tables of dotted scenario paths and values, one per named option")
    if options:
        if any(f.path == OPTION for f in factors):
            raise _err(src, f"factors.{OPTION}", "is set by the [options] tables; do not list it")
        factors.append(Factor(OPTION, values=tuple(options)))
    baseline = dict(_leaves(data.get("baseline", {}))) if isinstance(data.get("baseline", {}), dict) else None
    if baseline is None:
        raise _err(src, "baseline", "must be a table {factor path = value}")
    for key, value in baseline.items():
        factor = next((f for f in factors if f.path == key), None)
        if factor is None:
            raise _err(src, f"baseline.{key}", f"is not a factor (factors: {', '.join(f.path for f in factors)})")
        if factor.values is not None and value not in factor.values:
            raise _err(src, f"baseline.{key}", f"{value!r} is not one of the factor's values {list(factor.values)!r}")
    kpis = data.get("kpis", [])
    if not isinstance(kpis, list) or not all(isinstance(k, str) and k for k in kpis):
        raise _err(src, "kpis", f"must be a list of KPI column names such as 'by_type.safety.sla_met_share', got {kpis!r}")
    quick = data.get("quick", {})
    if not isinstance(quick, dict) or set(quick) - {"days", "replicates"}:
        raise _err(src, "quick", "must be a table {days, replicates} (the settings of `reproduce --quick`)")
    quick_settings = ()
    if quick:
        quick_settings = (_number(quick.get("days", 7), src, "quick.days"), _int(quick, "replicates", src, default=2, minimum=2))
    if design == "factorial":
        for f in factors:
            if f.values is None:
                raise _err(src, f"factors.{f.path}", "a factorial design needs a list of values, not a range")
        if samples is not None:
            raise _err(src, "design.samples", "only lhs and sobol designs take a sample count")
    elif samples is None:
        raise _err(src, "design.samples", f"missing (required for design {design!r})")

    root_seed = _int(data, "root_seed", src, default=0)
    n_rep = _int(data, "replicates", src, default=1, minimum=1)
    if replicates is not None:
        n_rep = replicates
    if design_seed is None:
        design_seed = root_seed

    days_v = data.get("days", base.run.days) if days is None else days
    warm = data.get("warmup_days", base.run.warmup_days)
    days_v, warm = _number(days_v, src, "days"), _number(warm, src, "warmup_days")
    if days_v <= 0:
        raise _err(src, "days", f"must be > 0, got {days_v:g}")
    if days is not None and warm >= days_v:
        raise _err(src, "", f"--days {days_v:g} must be more than the experiment's warmup_days ({warm:g})")
    if not 0 <= warm < days_v:
        raise _err(src, "warmup_days", f"must be >= 0 and less than days ({days_v:g}), got {warm:g}")

    until = data.get("until_ci")
    until_ci = None
    if until is not None and replicates is None:     # a quick look (--replicates) runs exactly that many
        if not isinstance(until, dict):
            raise _err(src, "until_ci", f"must be a table {{metric, half_width, max_replicates}}, got {until!r}")
        bad = sorted(set(until) - {"metric", "half_width", "max_replicates"})
        if bad:
            raise _err(src, f"until_ci.{bad[0]}", "unknown key (expected one of: metric, half_width, max_replicates)")
        metric = until.get("metric")
        if not isinstance(metric, str) or not metric:
            raise _err(src, "until_ci.metric", f"must be a KPI column name such as 'resolution_hours.p90', got {metric!r}")
        hw = _number(until.get("half_width"), src, "until_ci.half_width")
        if hw <= 0:
            raise _err(src, "until_ci.half_width", f"must be > 0, got {hw:g}")
        mx = until.get("max_replicates", max(20, n_rep))
        if isinstance(mx, bool) or not isinstance(mx, int) or mx < max(n_rep, 2):
            raise _err(src, "until_ci.max_replicates", f"must be an integer >= replicates ({n_rep}) and >= 2, got {mx!r}")
        until_ci = UntilCI(metric, hw, mx)

    try:
        base = with_overrides(base, [("run.warmup_days", 0.0), ("run.days", days_v), ("run.warmup_days", warm)])
    except ScenarioError as err:
        raise _err(src, "days", f"{err.path}: {err.message}") from None

    spec = Spec(name=name, source=src, scenario_path=scenario_path, base=base, factors=tuple(factors),
                design=design, samples=samples, design_seed=design_seed, replicates=n_rep,
                root_seed=root_seed, days=days_v, warmup_days=warm, until_ci=until_ci,
                description=description, fixed=tuple(_leaves(fixed)),
                options=tuple((name, tuple(_leaves(bundle))) for name, bundle in options.items()),
                quick=quick_settings, baseline=tuple(baseline.items()), kpis=tuple(kpis))
    check_points(spec)
    return spec


def check_points(spec: Spec) -> list[Scenario]:
    """Apply every point's overrides now: a bad path or value fails before any run starts."""
    out = []
    for point in spec.points():
        for key, value in point.items():
            where = f"options.{value}" if key == OPTION else f"factors.{key}"
            try:
                spec.scenario_at({key: value})
            except ScenarioError as err:
                raise _err(spec.source, where, f"value {value!r}: {err.path}: {err.message}") from None
        try:
            out.append(spec.scenario_at(point))
        except ScenarioError as err:
            combo = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise _err(spec.source, "factors", f"point {combo}: {err.path}: {err.message}") from None
    return out
