"""Uncertain inputs and explicit designs: what calibration, sensitivity analysis and the
robustness check vary, and how their points run through the ordinary sweep engine.

An **input** is one [assumption] of a scenario with a range: a dotted field path
(`requests.hard.rate_per_household_year`, `requests.wish.stages[0].pass_on`)
whose value is drawn in [low, high], or a named **scale** that multiplies
several fields at once (`report_delays`: every type's reporting delay times a
factor in [0.5, 2]). A range left out is the stated default for rates and times:
x0.5 to x2 of the scenario's value, drawn on a log scale (so halving and
doubling are equally likely).

A `PointsSpec` is an experiment `Spec` whose points are given explicitly (a
design made elsewhere: a history-matching wave, SALib's Saltelli or Morris
samples, plausible parameter sets crossed with an experiment's options). It
runs through `sweep.run_sweep` like any experiment: the same executors, the
same resumable store, the same seeds from (root seed, replicate), so every
point of a replicate sees the same random numbers (common random numbers).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..analysis.compare import OPTION
from ..scenario import Scenario, ScenarioError, get_path, to_data, with_overrides
from ..scenario.fields import build, join
from ..scenario.fields import spec as fspec
from .spec import Spec, load_spec, unstable

DEFAULT_FACTOR = 2.0        # a range left out: x1/2 to x2 of the scenario's value, log scale


@dataclass(frozen=True, kw_only=True)
class InputTable:
    """One input as written in a targets or sensitivity file."""
    low: float | None = fspec(None, ge=-1e300, le=1e300)
    high: float | None = fspec(None, ge=-1e300, le=1e300)
    log: bool | None = None           # draw on a log scale (default: true for a default range)
    integer: bool = False
    scale: tuple[str, ...] = ()       # a named factor multiplying these fields
    why: str = ""                     # what the input is and why this range

    def check(self, path: str) -> None:
        if (self.low is None) != (self.high is None):
            raise ScenarioError(join(path, "high" if self.high is None else "low"),
                                "missing: give both low and high, or neither (default x0.5 to x2)")
        if self.low is not None and self.high <= self.low:
            raise ScenarioError(join(path, "high"), f"must be > low ({self.low:g}), got {self.high:g}")
        if self.log and self.low is not None and self.low <= 0:
            raise ScenarioError(join(path, "low"), f"must be > 0 on a log scale, got {self.low:g}")
        if self.integer and self.scale:
            raise ScenarioError(join(path, "integer"), "a scale factor is not an integer")


@dataclass(frozen=True)
class Input:
    """An uncertain input: a field (or, with `scale`, a factor on several fields) and its range."""
    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False
    scale: tuple[str, ...] = ()       # the fields a scale input multiplies
    base: tuple[float, ...] = ()      # their values in the scenario (or the field's own value)
    why: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        return self.scale or (self.name,)

    @property
    def scenario_value(self) -> float:
        """The input's value in the scenario as written: 1 for a scale, else the field's value."""
        return 1.0 if self.scale else self.base[0]

    def value(self, u: float) -> float | int:
        """The value at u in [0, 1] of the range (log or linear); integers round to the nearest."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(max(round(x), math.ceil(self.low)), math.floor(self.high)))
        return float(round(x, 12))

    def unit(self, x: float) -> float:
        """The inverse of `value`: where x lies in the range, in [0, 1] when inside it. On a log
        scale a value of 0 or less (a scenario's own 0, say) lies below any range: -inf."""
        if self.log:
            if x <= 0:
                return -math.inf
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def overrides(self, x: float) -> list[tuple[str, Any]]:
        """The scenario fields this input sets at value x."""
        if not self.scale:
            return [(self.name, x)]
        out = []
        for path, b in zip(self.scale, self.base):
            v = b * x
            out.append((path, int(round(v)) if isinstance(b, int) and not isinstance(b, bool) else float(v)))
        return out

    def data(self) -> dict:
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log,
                "integer": self.integer, "scale": list(self.scale), "base": list(self.base)}


def parse_inputs(table: Mapping[str, Any], base: Scenario, where: str) -> tuple[Input, ...]:
    """The `inputs` table of a targets or sensitivity file -> Inputs, each checked at both ends of
    its range against the scenario (a bad path or an out-of-bounds value fails here, naming it)."""
    data = to_data(base, derived=True)
    out = []
    for name, raw in table.items():
        path = join(where, name)
        t = build(InputTable, dict(raw) if isinstance(raw, Mapping) else raw, path)
        paths = t.scale or (name,)
        base_values = []
        for p in paths:
            try:
                v = get_path(data, p)
            except ScenarioError as err:
                raise ScenarioError(path if not t.scale else join(path, "scale"), f"{err.path}: {err.message}") from None
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(path, f"{p} is not a number in the scenario ({v!r})")
            base_values.append(v)
        if t.low is None:
            ref = 1.0 if t.scale else float(base_values[0])
            if ref <= 0:
                raise ScenarioError(join(path, "low"), f"missing: the scenario's value is {ref:g}, so x0.5 to x2 "
                                                       "is no range; give low and high")
            low, high, log = ref / DEFAULT_FACTOR, ref * DEFAULT_FACTOR, True if t.log is None else t.log
        else:
            low, high, log = t.low, t.high, bool(t.log)
        if t.scale and (low <= 0):
            raise ScenarioError(join(path, "low"), f"a scale factor must be > 0, got {low:g}")
        if t.integer and math.ceil(low) > math.floor(high):
            raise ScenarioError(path, f"an integer input's range {low:g} to {high:g} holds no whole number")
        inp = Input(name, float(low), float(high), log, t.integer, tuple(t.scale), tuple(base_values), t.why)
        for end in ("low", "high"):
            try:
                with_overrides(base, inp.overrides(inp.value(0.0 if end == "low" else 1.0)))
            except ScenarioError as err:
                if unstable(err):      # a corner that cannot keep up: its points are ruled out, not the job
                    continue
                raise ScenarioError(join(path, end), f"{getattr(inp, end):g}: {err.path}: {err.message}") from None
        out.append(inp)
    if not out:
        raise ScenarioError(where, "must list at least one input")
    names = [i.name for i in out]
    fields = [p for i in out for p in i.paths]
    twice = sorted({p for p in fields if fields.count(p) > 1})
    if twice:
        raise ScenarioError(where, f"{twice[0]} is varied by two inputs")
    assert len(set(names)) == len(names)
    return tuple(out)


def values(inputs: tuple[Input, ...], unit_rows: np.ndarray) -> list[dict]:
    """Rows of the unit cube -> points {input name: value}."""
    return [{inp.name: inp.value(u) for inp, u in zip(inputs, row)} for row in np.atleast_2d(unit_rows)]


def unit_rows(inputs: tuple[Input, ...], points: list[Mapping]) -> np.ndarray:
    """Points -> their coordinates in the unit cube of the inputs' ranges."""
    return np.array([[inp.unit(float(p[inp.name])) for inp in inputs] for p in points], dtype=float)


# ---------------------------------------------------------------- explicit designs through the sweep engine
@dataclass(frozen=True)
class PointsSpec(Spec):
    """An experiment whose points are given: {input name, factor path or `option`: value}.
    Keys in `tags` only label a point (a plausible set's number) and set nothing."""
    inputs: tuple[Input, ...] = ()
    given: tuple = ()                   # points, each a tuple of (key, value) pairs
    tags: tuple[str, ...] = ()
    kind: str = "points"                # what made the design (for the manifest)

    def points(self) -> list[dict]:
        return [dict(p) for p in self.given]

    def overrides(self, point: dict) -> list[tuple[str, Any]]:
        """Inputs first, then the experiment's [set] again (an experiment's own settings win over
        a plausible value), then its factors and options."""
        by_name = {i.name: i for i in self.inputs}
        out, rest = [], {}
        for key, value in point.items():
            if key in by_name:
                out += by_name[key].overrides(value)
            elif key not in self.tags:
                rest[key] = value
        return out + list(self.fixed) + Spec.overrides(self, rest)

    def point_label(self, point: dict) -> str:
        if OPTION in point or any(k not in {i.name for i in self.inputs} and k not in self.tags for k in point):
            rest = {k: v for k, v in point.items() if k not in self.tags and k not in {i.name for i in self.inputs}}
            tag = ", ".join(f"{t} {point[t]}" for t in self.tags if t in point)
            return ", ".join(x for x in (tag, Spec.point_label(self, rest)) if x)
        return ", ".join(f"{k} {v}" for k, v in point.items() if k in self.tags) or "point"

    def data(self) -> dict:
        return {**Spec.data(self), "design": self.kind, "inputs": [i.data() for i in self.inputs],
                "given": [dict(p) for p in self.given], "tags": list(self.tags)}


def points_spec(base: Spec, name: str, inputs: tuple[Input, ...], points: list[Mapping], *,
                tags: tuple[str, ...] = (), kind: str = "points", keep: tuple[str, ...] = ()) -> PointsSpec:
    """`base`'s scenario, run length, replicates, seeds, [set], options and labels, with these points;
    `keep`: the only KPIs each run stores (`Spec.keep`)."""
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Spec)}
    fields.update(name=name, design=kind, samples=len(points), until_ci=None, keep=tuple(keep))
    given = tuple(tuple((k, _plain(v)) for k, v in p.items()) for p in points)
    return PointsSpec(**fields, inputs=tuple(inputs), given=given, tags=tuple(tags), kind=kind)


def base_spec(name: str, scenario: str, *, days: float, warmup_days: float, replicates: int,
              root_seed: int) -> Spec:
    """An experiment of one point (the scenario as it is) to build explicit designs on."""
    return load_spec({"name": name, "scenario": scenario, "days": days, "warmup_days": warmup_days,
                      "replicates": replicates, "root_seed": root_seed})


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
