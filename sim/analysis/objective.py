"""Objectives: targets on KPIs and what to minimise, and the verdict on each option.

An experiment's `[objective]` table states what a planner asks for:

    [objective]
    constraints = ["by_type.care.sla_met_share >= 0.90",
                   "by_type.safety.abandoned_share <= 0.01",
                   "visit_completion_share >= 0.95"]
    minimise = "cost_yuan_per_year"          # the default
    confidence = 0.95                        # the default

Every name is a KPI of the KPI table (`gridsim.model.kpis`); shares are
fractions (0.90 = 90%).

**The rule.** An option *meets* a constraint when the one-sided confidence
bound (at `confidence`, a t bound over its replicates) of the KPI's mean
clears the target: for `kpi >= b` the lower bound `mean - t s / sqrt(n)` is
at least b; for `kpi <= b` the upper bound is at most b. It *fails* a
constraint when the bound on the other side misses it (for `>=`, the upper
bound is below b): the data say it falls short. Otherwise it is *undecided*:
more replicates would tell. An option meets the objective when it meets
every constraint; it fails when it fails any; otherwise it is undecided. An
option with fewer than 2 replicates has no interval and is undecided. A
replicate whose KPI is not defined (no request of that type came due) counts
as missing the target, and an option with such a replicate cannot meet it.
The cheapest option is the one with the lowest mean of the minimised KPI
among those that meet the objective. When none does, the *closest* is the one
with the smallest summed relative shortfall of its means (each constraint's
`max(0, b - mean) / |b|` for `>=`, the mirror for `<=`), the cheaper first on
a tie.

The guarantee is per option and per constraint: an option said to meet a
constraint would, if its true mean missed the target, show so with
probability at most 1 - confidence. No correction is made for judging many
options; `optimise` adds replicates to the options it chooses between so
that the choice rests on narrow intervals.

This module reads the runs table the results store gives it; it never reads
files and never runs a model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from ..model.kpis import is_kpi, lookup, number
from .compare import mean_ci
from ..scenario.fields import ScenarioError, build, join
from ..scenario.fields import spec as fspec

DEFAULT_MINIMISE = "cost_yuan_per_year"
DEFAULT_CONFIDENCE = 0.95
OPERATORS = (">=", "<=")
MEETS, FAILS, UNDECIDED = "meets", "fails", "undecided"
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(>=|<=|=>|=<|>|<|==|=)\s*(.*?)\s*$")
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
          10: "ten"}


@dataclass(frozen=True)
class Constraint:
    """`kpi op bound`, op one of >=, <=."""
    kpi: str
    op: str
    bound: float

    @property
    def source(self) -> str:
        return f"{self.kpi} {self.op} {self.bound:g}"

    def describe(self) -> str:
        """What a reader calls it: `care: requests resolved within ... >= 90%`."""
        k = lookup(self.kpi)
        return f"{k.label} {'at least' if self.op == '>=' else 'at most'} {k.show(self.bound)}"

    def holds(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def shortfall(self, value: float) -> float:
        """How far `value` is from meeting the bound, relative to the bound (0 when it holds)."""
        if value is None or math.isnan(value):
            return math.inf
        gap = self.bound - value if self.op == ">=" else value - self.bound
        return max(0.0, gap) / (abs(self.bound) or 1.0)


def parse_constraint(text: Any, path: str) -> Constraint:
    """`"by_type.care.sla_met_share >= 0.9"` -> Constraint; ScenarioError naming `path` otherwise."""
    if not isinstance(text, str):
        raise ScenarioError(path, f"must be a string like \"visit_completion_share >= 0.95\", got {text!r}")
    m = _CONSTRAINT.match(text)
    if m is None:
        raise ScenarioError(path, f"{text!r} is not `KPI >= number` or `KPI <= number`")
    kpi, op, raw = m.groups()
    if op not in OPERATORS:
        raise ScenarioError(path, f"{text!r}: the comparison must be >= or <=, got {op!r}")
    if not is_kpi(kpi):
        raise ScenarioError(path, f"{kpi!r} is not a KPI (see gridsim.model.kpis; e.g. 'by_type.care.sla_met_share')")
    try:
        bound = float(raw)
    except ValueError:
        raise ScenarioError(path, f"{text!r}: the bound must be a number (shares are fractions: 0.90), "
                                  f"got {raw!r}") from None
    if not math.isfinite(bound):
        raise ScenarioError(path, f"{text!r}: the bound must be a finite number")
    if lookup(kpi).unit == "share" and not 0 <= bound <= 1:
        raise ScenarioError(path, f"{text!r}: {kpi} is a share, a fraction from 0 to 1 (0.90 = 90%)")
    return Constraint(kpi, op, bound)


@dataclass(frozen=True, kw_only=True)
class ObjectiveTable:
    """The `[objective]` table of an experiment file, checked by the scenario's field machinery."""
    constraints: tuple[str, ...] = ()
    minimise: str = DEFAULT_MINIMISE
    confidence: float = fspec(DEFAULT_CONFIDENCE, ge=0.5, le=0.999)

    def check(self, path: str) -> None:
        seen = set()
        for i, text in enumerate(self.constraints):
            c = parse_constraint(text, join(join(path, "constraints"), i))
            if (c.kpi, c.op) in seen:
                raise ScenarioError(join(join(path, "constraints"), i), f"a second {c.kpi} {c.op} bound")
            seen.add((c.kpi, c.op))
        if not is_kpi(self.minimise):
            raise ScenarioError(join(path, "minimise"), f"{self.minimise!r} is not a KPI (e.g. 'cost_yuan_per_year')")


@dataclass(frozen=True)
class Objective:
    constraints: tuple[Constraint, ...]
    minimise: str = DEFAULT_MINIMISE
    confidence: float = DEFAULT_CONFIDENCE

    def data(self) -> dict:
        """The plain form an experiment's spec (and so a results manifest) records."""
        return {"constraints": [c.source for c in self.constraints], "minimise": self.minimise,
                "confidence": self.confidence}

    @property
    def kpis(self) -> list[str]:
        return [c.kpi for c in self.constraints] + [self.minimise]

    def targets(self) -> str:
        """`all three targets`, `both targets`, `the target`."""
        n = len(self.constraints)
        if n == 1:
            return "the target"
        if n == 2:
            return "both targets"
        return f"all {_WORDS.get(n, str(n))} targets"

    def rule(self) -> str:
        return (f"an option meets a target when the one-sided {100 * self.confidence:g}% confidence bound of "
                "its mean over replicates clears it")


def objective_from(data: Any, path: str = "objective") -> Objective:
    """Build and check an `[objective]` table (or its recorded plain form)."""
    table = build(ObjectiveTable, dict(data) if isinstance(data, Mapping) else data, path)
    cons = tuple(parse_constraint(t, join(join(path, "constraints"), i)) for i, t in enumerate(table.constraints))
    return Objective(cons, table.minimise, table.confidence)


def from_manifest(manifest: Mapping) -> Objective | None:
    """The objective a results folder's experiment stated, or None."""
    data = (manifest.get("spec") or {}).get("objective")
    return None if not data else objective_from(data)


# ---------------------------------------------------------------- judging options
def one_sided(values: np.ndarray, confidence: float) -> tuple[float, float, float, int]:
    """(mean, lower bound, upper bound, n): one-sided t bounds at `confidence` (nan when n < 2)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, 1
    with np.errstate(invalid="ignore"):
        sd = float(x.std(ddof=1))
    hw = float(stats.t.ppf(confidence, n - 1) * sd / math.sqrt(n)) if sd > 0 else 0.0
    return m, m - hw, m + hw, n


def verdict(c: Constraint, lower: float, upper: float, missing: int) -> str:
    """One constraint's verdict from the one-sided bounds of the mean (and replicates with no value)."""
    clears, misses = (lower, upper) if c.op == ">=" else (upper, lower)
    if math.isnan(clears):
        return UNDECIDED
    if c.op == ">=":
        if clears >= c.bound and not missing:
            return MEETS
        return FAILS if misses < c.bound else UNDECIDED
    if clears <= c.bound and not missing:
        return MEETS
    return FAILS if misses > c.bound else UNDECIDED


@dataclass
class Judgement:
    """Every option judged by an objective: `options` (one row per option, cheapest first) and
    `checks` (one row per option and constraint)."""
    objective: Objective
    options: pd.DataFrame
    checks: pd.DataFrame
    chosen: int | None = None              # the cheapest option that meets every constraint
    closest: int | None = None             # when none does: the one nearest to meeting them
    labels: dict = field(default_factory=dict)

    def label(self, p: int) -> str:
        return self.labels.get(p, f"point {p}")

    def row(self, p: int) -> pd.Series:
        return self.options.set_index("point").loc[p]

    def meeting(self) -> list[int]:
        """Options that meet the objective, cheapest first."""
        return [int(p) for p in self.options.loc[self.options["verdict"] == MEETS, "point"]]

    def undecided(self) -> list[int]:
        return [int(p) for p in self.options.loc[self.options["verdict"] == UNDECIDED, "point"]]

    def _cost(self, p: int) -> str:
        return lookup(self.objective.minimise).show(self.row(p)["minimise_mean"])

    def _misses(self, p: int) -> str:
        """`care: ... 86.0% (target at least 90%)`, for the constraints option p does not meet."""
        block = self.checks[(self.checks["point"] == p) & (self.checks["verdict"] != MEETS)]
        parts = []
        for _, r in block.iterrows():
            k = lookup(r["kpi"])
            parts.append(f"{k.label} {k.show(r['mean'])} (target {'at least' if r['op'] == '>=' else 'at most'} "
                         f"{k.show(r['bound'])}{'' if r['verdict'] == FAILS else ', undecided'})")
        return "; ".join(parts)

    def _them(self) -> str:
        return "it" if len(self.objective.constraints) == 1 else "them"

    def answer(self) -> str:
        """The answer in one plain paragraph."""
        o = self.objective
        what = o.targets()
        listed = "; ".join(c.describe() for c in o.constraints) or "no constraints"
        undecided = self.undecided()
        if self.chosen is not None:
            p = self.chosen
            r = self.row(p)
            text = (f"The cheapest option that meets {what} ({listed}) is **{self.label(p)}**, at "
                    f"{self._cost(p)}; "
                    f"it meets {self._them()} in {int(r['replicates_meeting'])} of {int(r['n'])} replicates "
                    f"({o.rule()}).")
            others = [q for q in self.meeting() if q != p]
            if others:
                q = others[0]
                diff = self.row(q)["minimise_mean"] - r["minimise_mean"]
                text += (f" The next cheapest that meets {self._them()} is {self.label(q)}, at {self._cost(q)} "
                         f"({'+' if diff >= 0 else ''}{lookup(o.minimise).show(diff)}).")
            else:
                text += f" No other option meets {self._them()}."
            cheaper = [q for q in undecided if self.row(q)["minimise_mean"] < r["minimise_mean"]]
            if cheaper:
                text += (" Cheaper but undecided (more replicates would tell): "
                         + ", ".join(f"{self.label(q)} ({self._misses(q)})" for q in cheaper[:3]) + ".")
            return text
        if self.closest is None:
            return f"No option has results to judge against {what}."
        p = self.closest
        r = self.row(p)
        text = (f"No option meets {what} ({listed}). The closest is **{self.label(p)}**, at {self._cost(p)}: "
                f"{self._misses(p)}; it meets {self._them()} in {int(r['replicates_meeting'])} of {int(r['n'])} "
                f"replicates ({o.rule()}).")
        if undecided:
            text += (" Undecided (more replicates would tell): "
                     + ", ".join(self.label(q) for q in undecided[:3]) + ".")
        return text

    def format(self) -> str:
        """Plain text for the terminal: the answer, then each option's verdict, cheapest first."""
        o = self.objective
        k = lookup(o.minimise)
        lines = [self.answer().replace("**", ""), "",
                 f"{'option':<44}{'n':>4}{k.label[:22]:>24}  verdict    replicates meeting all"]
        for _, r in self.options.iterrows():
            lines.append(f"{self.label(int(r['point']))[:43]:<44}{int(r['n']):>4}{k.show(r['minimise_mean']):>24}  "
                         f"{r['verdict']:<10} {int(r['replicates_meeting'])} of {int(r['n'])}")
        lines += ["", f"targets ({o.rule()}):"]
        for c in o.constraints:
            lines.append(f"  {c.source:<46} {c.describe()}")
        return "\n".join(lines)

    def records(self) -> dict:
        """JSON-able: the objective, the answer and every option's verdict and constraint bounds."""
        def plain(v):
            return v.item() if hasattr(v, "item") else v
        return {"objective": self.objective.data(), "rule": self.objective.rule(),
                "chosen": self.chosen, "closest": self.closest, "answer": self.answer().replace("**", ""),
                "options": [{k: plain(v) for k, v in r.items()} for r in self.options.to_dict("records")],
                "checks": [{k: plain(v) for k, v in r.items()} for r in self.checks.to_dict("records")]}


def missing_columns(objective: Objective, runs: pd.DataFrame) -> list[str]:
    return [k for k in objective.kpis if k not in runs.columns]


def judge(runs: pd.DataFrame, objective: Objective, labels: Mapping[int, str] | None = None,
          replicates: Mapping[int, int] | None = None) -> Judgement:
    """Judge every point of a runs table (point, replicate, KPI columns) by the objective.

    `replicates` (point -> n) limits each point to its first n replicates (what `optimise`
    has decided on so far); by default every stored replicate counts.
    """
    missing = missing_columns(objective, runs)
    if missing:
        raise ValueError(f"objective: no KPI column {missing[0]!r} in these results")
    labels = dict(labels or {})
    rows, checks = [], []
    for p, block in runs.groupby("point", sort=True):
        p = int(p)
        if replicates is not None:
            if p not in replicates:
                continue
            block = block[block["replicate"] < replicates[p]]
        if block.empty:
            continue
        n = int(block["replicate"].nunique())
        m_mean, _, _, _ = one_sided(block[objective.minimise].to_numpy(float), objective.confidence)
        _, m_hw = mean_ci(block[objective.minimise].to_numpy(float))
        every = np.ones(len(block), dtype=bool)
        verdicts, shortfall = [], 0.0
        for c in objective.constraints:
            values = block[c.kpi].to_numpy(float)
            missing_n = int(np.isnan(values).sum())
            mean, lower, upper, _ = one_sided(values, objective.confidence)
            v = FAILS if missing_n == len(values) else verdict(c, lower, upper, missing_n)
            verdicts.append(v)
            every &= np.array([c.holds(x) for x in values])
            shortfall += c.shortfall(mean)
            checks.append({"point": p, "label": labels.get(p, f"point {p}"), "kpi": c.kpi, "op": c.op,
                           "bound": c.bound, "n": n, "mean": mean, "lower": lower, "upper": upper,
                           "missing": missing_n, "verdict": v})
        overall = FAILS if FAILS in verdicts else (UNDECIDED if UNDECIDED in verdicts else MEETS)
        rows.append({"point": p, "label": labels.get(p, f"point {p}"), "n": n, "minimise_mean": m_mean,
                     "minimise_half_width": m_hw, "verdict": overall,
                     "replicates_meeting": int(every.sum()), "shortfall": shortfall})
    options = pd.DataFrame(rows, columns=["point", "label", "n", "minimise_mean", "minimise_half_width", "verdict",
                                          "replicates_meeting", "shortfall"])
    options = options.sort_values(["minimise_mean", "point"], kind="stable", na_position="last").reset_index(drop=True)
    checks_df = pd.DataFrame(checks, columns=["point", "label", "kpi", "op", "bound", "n", "mean", "lower", "upper",
                                              "missing", "verdict"])
    meets = options[options["verdict"] == MEETS]
    chosen = int(meets.iloc[0]["point"]) if len(meets) else None
    closest = None
    if chosen is None and len(options):
        ranked = options.sort_values(["shortfall", "minimise_mean", "point"], kind="stable")
        closest = int(ranked.iloc[0]["point"])
    return Judgement(objective, options, checks_df, chosen, closest, labels)


def show_bound(c: Constraint) -> str:
    return f"{'>=' if c.op == '>=' else '<='} {number(c.bound)}"
