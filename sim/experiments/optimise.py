"""`gridsim optimise`: the cheapest point of an experiment's decisions that meets its objective.

An experiment for `optimise` declares decision variables in `[decisions]`
(dotted scenario paths, each a list of choices or an integer range
`{low, high, step}`; an `[options]` table adds the choice between its named
bundles) and an `[objective]` (targets on KPIs, what to minimise: annual cost
by default; see `gridsim.analysis.objective`). The candidates are the
combinations of the decisions' values.

**The method** (fit for a noisy simulation):

1. *Queueing bounds.* A candidate the scenario check refuses (a queue whose
   offered load is at or above its capacity) is infeasible and never run.
   Where a decision is the number of servers of a station role
   (`roles.<role>.per_station`) whose residents' requests go first to that
   role alone, on duty round the clock with exponential service, and the
   objective bounds their wait (`wait_within_target_share >= p` with the
   types' `wait_target_minutes`, or `wait_minutes.mean <= W`, overall or by
   type), each station is an M/M/c queue and the inverse of Erlang C
   (`analysis.queueing.servers_for_wait`) gives the fewest servers c* that
   meet it. The search starts there: candidates below the floor (the
   decision's largest value below c*, whatever its step) are not screened
   unless the candidate at the floor is not shown to fail, in which case the
   floor walks down one value at a time. So the bound saves runs but never
   decides alone: the simulation must show that the next value down fails.
2. *Screening.* Every remaining candidate is run with the experiment's
   `replicates` (r0) under common random numbers (replicate r of every
   candidate uses the same seed, `spec.run_seed`), on the sweep engine. The
   space must fit `[search] budget` (default 500 candidates): the search is
   exhaustive, so no cheaper candidate is left unexamined.
3. *Ranking and selection.* Candidates are judged by the objective's rule
   (one-sided confidence bounds of each KPI's mean; `analysis.objective`):
   those shown to fail are dropped; the rest are ranked by the mean of the
   minimised KPI. Every undecided candidate cheaper than the cheapest one
   that meets gets its replicates doubled (up to `[search] max_replicates`,
   default 20), `finalists` at a time, until each is decided or at the cap;
   then the chosen one and its runners-up (the next cheapest candidates not
   shown to fail, `finalists` in all, default 3) are brought to
   `max_replicates` replicates, and the ranking is redone until it is stable.

4. *What the answer rests on.* Where the scenario names inputs no data
   constrains (its `[uncertain]` table, written by `gridsim calibrate` for the
   inputs the targets leave free), the chosen candidate (or the closest) and
   its runners-up are run at `[search] assumption_points` points of those
   inputs (a Latin hypercube over their ranges, the experiment's replicates,
   common random numbers), each point judged by the means of the constrained
   KPIs; scenario discovery (PRIM, `analysis.discovery`) states in one sentence
   the region of the inputs where each meets the targets. These runs are a
   results folder of their own, `<folder>-assumptions/`.

**The guarantee.** The chosen point meets every constraint by the rule: the
one-sided 95% (the objective's `confidence`) bound of each constrained KPI's
mean over its replicates clears the target. Every candidate with a lower
mean of the minimised KPI was run and either shown to fail a target (the
bound on the other side misses it) or left undecided at `max_replicates`
replicates (then named in the output), or was refused by the scenario check,
or lies below a queueing bound whose floor candidate was shown to fail. The
confidence is per candidate and per target: with many candidates near a
target, one of them may be misjudged.

Every decision depends only on stored runs (each candidate's first n
replicates, n as decided so far), so a search killed at any moment and run
again repeats the same decisions and reaches the same answer; the runs are a
results folder (`results/<name>-optimise/`) that `compare` and `report` read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..analysis.discovery import Found, across
from ..analysis.objective import FAILS, MEETS, Judgement, judge
from ..analysis.queueing import UnstableQueueError, servers_for_wait
from ..analysis.store import Store, run_id
from ..scenario import Scenario, to_data
from ..scenario.schema import ALWAYS
from .inputs import Input, parse_inputs, points_spec, values
from .spec import MAX_POINTS, Spec, refusals, unstable
from .sweep import run_sweep, sweep

COMMAND = "optimise"
STATION_ROLES = ("station_head", "police")


class OptimiseError(ValueError):
    """The experiment cannot be optimised as written; one line."""


@dataclass(frozen=True)
class Settings:
    budget: int = 500
    max_replicates: int = 20
    finalists: int = 3
    assumption_points: int = 20


def settings(spec: Spec) -> Settings:
    return Settings(**dict(spec.search))


@dataclass(frozen=True)
class Bound:
    """A queueing-theory floor on one decision: fewer than `servers` cannot meet the objective in
    M/M/c; the search screens from the decision's largest value below it upwards (`search_floor`)."""
    path: str
    servers: int
    why: str


@dataclass
class Outcome:
    folder: Path
    judgement: Judgement
    space: int                                  # candidates in the decision space
    screened: list[int]                         # candidates run
    refused: dict[int, str]                     # candidate -> why the scenario check refused it
    below_bound: list[int]                      # candidates not run: below a queueing floor
    bounds: list[Bound]
    replicates: dict[int, int]                  # candidate -> replicates decided on
    runs_done: int = 0
    runs_skipped: int = 0
    seconds: float = 0.0
    rounds: int = 0
    notes: list[str] = field(default_factory=list)
    free: tuple[Input, ...] = ()                # the scenario's [uncertain] inputs
    assumptions: list[Found] = field(default_factory=list)   # the finalists across them

    @property
    def chosen(self) -> int | None:
        return self.judgement.chosen

    def runners_up(self, k: int = 2) -> list[int]:
        """The next cheapest candidates not shown to fail, after the chosen one."""
        rows = self.judgement.options
        out = [int(p) for p, v in zip(rows["point"], rows["verdict"]) if v != FAILS and int(p) != self.chosen]
        if self.chosen is not None:
            cost = self.judgement.row(self.chosen)["minimise_mean"]
            out = [p for p in out if self.judgement.row(p)["minimise_mean"] >= cost]
        return out[:k]


# ---------------------------------------------------------------- queueing bounds
def queueing_bounds(spec: Spec) -> tuple[list[Bound], list[str]]:
    """The Erlang C floors that apply to this experiment's decisions, and why others do not apply."""
    bounds, notes = [], []
    obj = spec.objective
    if obj is None:
        return bounds, notes
    for factor in spec.factors:
        parts = factor.path.split(".")
        if len(parts) != 3 or parts[0] != "roles" or parts[2] != "per_station" or parts[1] not in STATION_ROLES:
            continue
        role = parts[1]
        try:
            bound = _erlang_floor(spec.base, role, obj)
        except _NotApplicable as why:
            notes.append(f"{factor.path}: no Erlang C floor ({why})")
            continue
        if bound is not None:
            bounds.append(Bound(factor.path, bound[0], bound[1]))
    return bounds, notes


class _NotApplicable(Exception):
    pass


def _erlang_floor(base: Scenario, role: str, obj) -> tuple[int, str] | None:
    cfg = getattr(base.roles, role)
    if cfg.shifts != ALWAYS:
        raise _NotApplicable(f"{role} is not on duty round the clock")
    if cfg.travel:
        raise _NotApplicable(f"{role} walks to households (service is not one exponential time)")
    stations = base.stations.count
    if stations < 1:
        raise _NotApplicable("the scenario has no stations")
    best = None
    for c in obj.constraints:
        parts = c.kpi.split(".")
        kind = parts[1] if parts[0] == "by_type" else None
        kpi = ".".join(parts[2:]) if kind else c.kpi
        if (kpi, c.op) not in (("wait_within_target_share", ">="), ("wait_minutes.mean", "<=")):
            continue
        types = [kind] if kind else [t for t, rt in base.requests.items() if rt.origin == "resident"]
        lam, work, targets = 0.0, 0.0, set()
        for t in types:
            rt = base.requests[t]
            first = rt.stages[0]
            if first.roles != (role,):
                raise _NotApplicable(f"{t}'s first stage is not {role} alone")
            svc = rt.service[role]
            if svc.dist != "exponential" or rt.profile != "flat" or rt.patience_hours is not None \
                    or rt.schedule != "poisson":
                raise _NotApplicable(f"{t} is not Poisson arrivals, exponential service, flat profile, no "
                                     "giving up")
            rate = rt.rate_per_household_year * (1 + base.city.elderly_share * (rt.elderly_multiplier - 1)) \
                * base.city.households / stations / (365 * 1440)
            lam += rate
            work += rate * svc.mean_minutes
            targets.add(rt.wait_target_minutes)
        if lam <= 0:
            continue
        mu = lam / work                          # per minute, the mix's mean service
        if kpi == "wait_within_target_share":
            if len(targets) != 1 or None in targets:
                raise _NotApplicable("the types do not share one wait_target_minutes")
            target = targets.pop()
            try:
                n = servers_for_wait(lam, mu, within=target, probability=c.bound)
            except (UnstableQueueError, ValueError) as err:
                raise _NotApplicable(str(err)) from None
            why = (f"Erlang C: {lam * 60:.3g} arrivals an hour per station, {1 / mu:.3g}-minute service: "
                   f"P(wait <= {target:g} min) >= {c.bound:g} needs {n} servers")
        else:
            try:
                n = servers_for_wait(lam, mu, mean_wait=c.bound)
            except (UnstableQueueError, ValueError) as err:
                raise _NotApplicable(str(err)) from None
            why = (f"Erlang C: {lam * 60:.3g} arrivals an hour per station, {1 / mu:.3g}-minute service: "
                   f"a mean wait <= {c.bound:g} min needs {n} servers")
        if best is None or n > best[0]:
            best = (n, why)
    return best


# ---------------------------------------------------------------- the search
def identity(spec: Spec) -> dict:
    return spec.identity({"command": COMMAND})


def check_size(spec: Spec) -> int:
    """Candidates in the space; OptimiseError when the experiment cannot be optimised as written."""
    if spec.objective is None:
        raise OptimiseError(f"{spec.source}: objective: missing: optimise needs an [objective] table "
                            "(constraints and what to minimise)")
    if not spec.factors:
        raise OptimiseError(f"{spec.source}: decisions: missing: declare what optimise may change in "
                            "[decisions] (or [options])")
    if spec.design != "factorial":
        raise OptimiseError(f"{spec.source}: design: optimise searches combinations of choices; use [decisions]")
    n = math.prod(len(f.values) for f in spec.factors)
    budget = settings(spec).budget
    if n > min(budget, MAX_POINTS):
        raise OptimiseError(f"{spec.source}: decisions: {n:,} candidates, more than search.budget ({budget:,}): "
                            "optimise screens every candidate; narrow the decisions (fewer values, larger "
                            "steps) or raise [search] budget")
    return n


def run(spec: Spec, folder: str | Path, executor, *, progress: bool = False, fresh: bool = False,
        say: Callable[[str], None] = lambda line: None, on_start: Callable[[], None] | None = None) -> Outcome:
    """Search `spec`'s decisions on `executor`, storing every run in `folder` (resumable)."""
    t0 = time.perf_counter()
    n_space = check_size(spec)
    s = settings(spec)
    obj = spec.objective
    r0 = spec.replicates
    cap = max(s.max_replicates, r0)
    points = spec.points()
    labels = {i: spec.point_label(p) for i, p in enumerate(points)}
    store = Store(folder)
    bounds, notes = queueing_bounds(spec)
    out = Outcome(Path(folder), judge(_empty(obj), obj), n_space, [], {}, [], bounds, {}, notes=notes)
    for i, err in refusals(spec, points, progress).items():       # every candidate built before the store opens
        if not unstable(err):
            raise OptimiseError(f"{spec.source}: candidate {labels[i]}: {err.path}: {err.message}")
        out.refused[i] = f"{err.path}: {err.message}"
    with store.lock():
        store.open(identity(spec), fresh=fresh)
        store.quarantine()
        initial = store.finished()
        if on_start is not None:
            on_start()
        values = {f.path: list(f.values) for f in spec.factors}
        floors = {b.path: search_floor(values[b.path], b.servers) for b in bounds}
        for b in bounds:
            say(f"start: {b.path} >= {floors[b.path]} ({b.why}; the search checks {floors[b.path]} too: the "
                "simulation must show that it fails)")
        for note in notes:
            say(f"note: {note}")

        wanted: dict[int, int] = {}

        def evaluate(want: dict[int, int], what: str) -> None:
            nonlocal wanted
            wanted = {**wanted, **want}
            if not want:
                return
            out.rounds += 1
            say(f"round {out.rounds}: {what}")
            rep = sweep(spec, store, executor, progress=progress, wanted=wanted, desc=f"round {out.rounds}")
            out.runs_done += rep.done
            if rep.failed:
                first = sorted(rep.errors.items())[0]
                raise OptimiseError(f"{rep.failed} runs failed in {folder} (first: {first[0]}: {first[1]}; "
                                    f"tracebacks in {folder}/_failed/); run the same command again to retry them")

        # ------------------------------------------------ 1. bounds and refusals
        feasible = [i for i in range(len(points)) if i not in out.refused]

        def above(i: int) -> bool:
            return all(points[i][path] >= floor for path, floor in floors.items())

        screened: set[int] = set()
        while True:
            batch = [i for i in feasible if i not in screened and above(i)]
            evaluate({i: r0 for i in batch}, f"screening {len(batch)} candidate(s) with {r0} replicates")
            screened.update(batch)
            j = judge(store.runs(), obj, labels, {i: wanted[i] for i in screened})
            verdicts = j.options.set_index("point")["verdict"].to_dict()
            lowered = False
            for path, floor in list(floors.items()):
                at_floor = [i for i in screened if points[i][path] == floor]
                lower = [v for v in values[path] if v < floor]
                if lower and any(verdicts.get(i) != FAILS for i in at_floor):
                    floors[path] = max(lower)
                    say(f"the floor of {path} at {floor} was not shown to fail: screening {max(lower)} too")
                    lowered = True
            if not lowered:
                break
        out.below_bound = [i for i in feasible if i not in screened]

        # ------------------------------------------------ 2. ranking and selection
        while True:
            j = judge(store.runs(), obj, labels, {i: wanted[i] for i in screened})
            order = [int(p) for p, v in zip(j.options["point"], j.options["verdict"]) if v != FAILS]
            chosen = j.chosen
            need = []
            for p in order:
                if p == chosen:
                    break
                if wanted[p] < cap:
                    need.append(p)
            need = need[:s.finalists]
            what = "more replicates for cheaper undecided candidates"
            if not need and chosen is not None:
                cost = j.row(chosen)["minimise_mean"]
                finalists = [chosen] + [p for p in order if p != chosen
                                        and j.row(p)["minimise_mean"] >= cost][:s.finalists - 1]
                need = [p for p in finalists if wanted[p] < cap]
                what = "the chosen candidate and its runners-up to more replicates"
            if not need:
                break
            evaluate({p: min(cap, 2 * wanted[p]) for p in need},
                     f"{what}: " + ", ".join(f"{labels[p]} ({min(cap, 2 * wanted[p])})" for p in need))
        out.judgement = j
        out.screened = sorted(screened)
        out.replicates = {i: wanted[i] for i in sorted(screened)}
        out.runs_skipped = len({run_id(i, r) for i, n in wanted.items() for r in range(n)} & initial)
    across_assumptions(spec, out, executor, progress=progress, fresh=fresh, say=say)
    out.seconds = time.perf_counter() - t0
    return out


def search_floor(values: list, servers: int):
    """Where the search starts on a decision with an Erlang C bound of `servers`: its largest
    value below the bound (the simulation must show that this one fails), or its smallest value
    when none lies below: never a value the decision does not have, so a step that skips
    `servers - 1` cannot leave the candidate below the bound unrun."""
    below = [v for v in values if v < servers]
    return max(below) if below else min(values)


ASSUMPTION = "assumption_point"


def assumptions_folder(folder: Path) -> Path:
    return folder.with_name(f"{folder.name}-assumptions")


def across_assumptions(spec: Spec, out: Outcome, executor, *, progress: bool = False, fresh: bool = False,
                       say: Callable[[str], None] = lambda line: None) -> None:
    """Step 4: the finalists at points of the scenario's unconstrained inputs, and where each meets."""
    from scipy.stats import qmc
    j = out.judgement
    first = j.chosen if j.chosen is not None else j.closest
    if not spec.base.uncertain or first is None:
        return
    out.free = parse_inputs(to_data(spec.base.uncertain), spec.base, "uncertain")
    n = settings(spec).assumption_points
    design = values(out.free, qmc.LatinHypercube(d=len(out.free), seed=spec.root_seed).random(n))
    finalists = [first, *out.runners_up()]
    points = spec.points()
    given = [{ASSUMPTION: k, **design[k], **points[p]} for p in finalists for k in range(n)]
    ps = points_spec(spec, f"{spec.name}-assumptions", out.free, given, tags=(ASSUMPTION,), kind="assumptions")
    folder = assumptions_folder(out.folder)
    say(f"what the answer rests on: {len(finalists)} option(s) x {n} points of {len(out.free)} unconstrained "
        f"input(s) ({', '.join(i.name for i in out.free)}) x {spec.replicates} replicates -> {folder}/")
    report = run_sweep(ps, folder, executor, progress=progress, fresh=fresh, arguments={"command": COMMAND})
    out.runs_done += report.done
    if report.failed:
        first_error = sorted(report.errors.items())[0]
        raise OptimiseError(f"{report.failed} runs failed in {folder} (first: {first_error[0]}: {first_error[1]}); "
                            "run the same command again to retry them")
    option_of = {i: j.label(finalists[i // n]) for i in range(len(given))}
    role = {j.label(p): (("the chosen " if j.chosen is not None else "the closest ") if k == 0
                         else f"runner-up {k} ") + j.label(p) for k, p in enumerate(finalists)}
    out.assumptions = across(Store(folder).runs(), given, [i.name for i in out.free], spec.objective,
                             option_of, role)


def _empty(obj):
    import pandas as pd
    return pd.DataFrame(columns=["point", "replicate", *obj.kpis])


# ---------------------------------------------------------------- what the command prints
def describe(out: Outcome, spec: Spec) -> str:
    """The chosen point, its KPIs with confidence intervals, the runners-up; or the closest."""
    from ..analysis.compare import mean_ci
    from ..model.kpis import lookup
    j = out.judgement
    obj = spec.objective
    lines = [j.answer().replace("**", ""), ""]
    lines.append(f"searched {out.space} candidate(s): {len(out.screened)} run, {len(out.refused)} refused by the "
                 f"scenario check (a queue that could never keep up), {len(out.below_bound)} below a queueing "
                 f"floor; {out.runs_done} runs now ({out.runs_skipped} already stored) in {out.seconds:.0f} s")
    runs = Store(out.folder).runs()

    def block(p: int, title: str) -> None:
        row = j.row(p)
        lines.append(f"{title}: {j.label(p)}  ({row['verdict']}; {int(row['replicates_meeting'])} of "
                     f"{int(row['n'])} replicates meet every target)")
        mine = runs[(runs["point"] == p) & (runs["replicate"] < out.replicates.get(p, 0))]
        for k in dict.fromkeys([obj.minimise, *(c.kpi for c in obj.constraints)]):
            m, hw = mean_ci(mine[k].to_numpy(float))
            info = lookup(k)
            lo, hi = (m - hw, m + hw) if info.unit != "share" else (max(m - hw, 0.0), min(m + hw, 1.0))
            ci = "" if math.isnan(hw) else f"  95% CI [{info.show(lo)}, {info.show(hi)}]"   # a share stays in [0, 1]
            target = next((f"  target {c.op} {info.show(c.bound)}" for c in obj.constraints if c.kpi == k), "")
            lines.append(f"  {k:<40}{info.show(m):>24}{ci}{target}")

    if j.chosen is not None:
        lines.append("")
        block(j.chosen, "chosen")
        for k, p in enumerate(out.runners_up(), 1):
            lines.append("")
            block(p, f"runner-up {k}")
    elif j.closest is not None:
        lines.append("")
        block(j.closest, "closest")
    for p in j.undecided():
        if out.replicates.get(p, 0) >= max(settings(spec).max_replicates, spec.replicates) and (
                j.chosen is None or j.row(p)["minimise_mean"] < j.row(j.chosen)["minimise_mean"]):
            lines.append(f"note: {j.label(p)} is cheaper and still undecided after {out.replicates[p]} replicates")
    lines += [""] + rests_on(out, spec)
    lines.append("")
    lines.append(f"results: {out.folder}/ (gridsim compare / gridsim report read it)")
    return "\n".join(lines)


def rests_on(out: Outcome, spec: Spec) -> list[str]:
    """What the answer rests on: the scenario's unconstrained inputs and, for each finalist, the
    region of them where it meets the targets."""
    if not out.free:
        return ["what the answer rests on: the scenario names no unconstrained inputs ([uncertain]); its "
                "assumptions are as written"]
    lines = [f"what the answer rests on: {len(out.free)} input(s) no data constrains, over their plausible ranges:"]
    lines += [f"  {i.name} {i.low:.3g}-{i.high:.3g}" + (f" ({i.why})" if i.why else "") for i in out.free]
    n = settings(spec).assumption_points
    lines.append(f"across {n} points of them ({spec.replicates} replicates each, judged by the means):")
    lines += [f"  {found.sentence}" for found in out.assumptions]
    return lines


def met(out: Outcome) -> bool:
    return out.judgement.chosen is not None and out.judgement.row(out.judgement.chosen)["verdict"] == MEETS


__all__ = ["run", "describe", "queueing_bounds", "check_size", "OptimiseError", "Outcome"]
