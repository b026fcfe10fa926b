"""`gridsim validate`: the real model against queueing theory.

Each case builds a degenerate scenario from `scenarios/validation/mmc.toml`
with `with_overrides` (the same code path as every scenario: no separate
little simulator), runs the model for R replications and compares the mean of
each measured quantity with its analytic value (Erlang C, a Jackson tandem, or
Little's law on the Meihekou scenario).

Measurement window. The model starts empty, so the first WARMUP_SHARE of the
horizon is discarded; requests created in the last COOLDOWN_SHARE are not
measured either, so that almost every measured request has finished its wait
before the horizon (the few that have not count with their wait so far).

Pass rule, the same for every case: the analytic value lies inside the 95%
confidence interval of the replication means (Student t, R - 1 degrees of
freedom), widened on each side by TOLERANCE x |analytic| for what is left of
the warm-up bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..analysis.compare import mean_ci as t_interval
from ..data import folder
from ..analysis.queueing import MMc, UnstableQueueError, tandem
from ..model.run import simulate
from ..scenario import Scenario, load, to_data, with_overrides

SCENARIOS = folder("scenarios")
MMC_SCENARIO = SCENARIOS / "validation" / "mmc.toml"
MEIHEKOU_SCENARIO = SCENARIOS / "meihekou_2020.toml"

TOLERANCE = 0.03        # relative widening of every CI, for residual warm-up bias
WARMUP_SHARE = 0.10     # first 10% of the horizon discarded
COOLDOWN_SHARE = 0.05   # requests created in the last 5% are not measured
LEVEL = 0.95
SEED_STRIDE = 1000      # case k, replication r: seed + 1000 k + r
HOUSEHOLDS = 1000       # mmc.toml: 1,000 one-person households, one station

__all__ = ["Check", "MMcCase", "TandemCase", "LittleCase", "builtin_cases", "run_cases",
           "format_table", "as_json", "TOLERANCE", "UnstableQueueError"]


@dataclass(frozen=True)
class Check:
    """One compared quantity: analytic value, replication mean, its CI, and the verdict."""
    name: str
    quantity: str
    analytic: float
    simulated: float
    ci95: tuple[float, float]
    passed: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "quantity": self.quantity, "analytic": self.analytic,
                "simulated": self.simulated, "ci95": list(self.ci95), "passed": self.passed}


def mean_ci(values: Iterable[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval (unbounded with one value)."""
    m, half = t_interval(list(values), level)
    half = math.inf if math.isnan(half) else half
    return m, m - half, m + half


def judge(name: str, quantity: str, analytic: float, values: Iterable[float],
          level: float = LEVEL, tolerance: float = TOLERANCE) -> Check:
    m, lo, hi = mean_ci(values, level)
    slack = tolerance * abs(analytic)
    return Check(name, quantity, float(analytic), m, (lo, hi), bool(lo - slack <= analytic <= hi + slack))


# ---------------------------------------------------------------- measuring one run
def window(days: float) -> tuple[float, float, float]:
    """(t0, t1, horizon) in minutes: measured requests are those created in [t0, t1)."""
    horizon = days * 1440.0
    return WARMUP_SHARE * horizon, (1.0 - COOLDOWN_SHARE) * horizon, horizon


def queue_measures(result, t0: float, t1: float, horizon: float) -> dict:
    """Mean queueing time over all stages, P(wait at the first stage), time-average number in system."""
    req, vis = result.tables["requests"], result.tables["visits"]
    n = len(req)
    queued, start = vis["queued_minute"].to_numpy(), vis["start_minute"].to_numpy()
    reached = ~np.isnan(queued)
    wait_v = np.where(np.isnan(start), horizon, start) - queued      # still waiting: wait so far
    wait = np.bincount(vis["request"].to_numpy()[reached], weights=wait_v[reached], minlength=n)
    created = req["created_minute"].to_numpy()
    mine = (created >= t0) & (created < t1)
    first_wait = req["started_minute"].to_numpy() - req["reported_minute"].to_numpy()
    first_wait = np.where(np.isnan(first_wait), 1.0, first_wait)     # unstarted: it waits
    # number in system: each request is in from report to end (open at horizon: to the horizon)
    into = np.clip(req["reported_minute"].to_numpy(), t0, t1)
    ended = req["ended_minute"].to_numpy()
    out = np.clip(np.where(np.isnan(ended), horizon, ended), t0, t1)
    return {"mean_wait": float(wait[mine].mean()), "p_wait": float((first_wait[mine] > 0).mean()),
            "mean_in_system": float(np.clip(out - into, 0, None).sum() / (t1 - t0))}


# ---------------------------------------------------------------- cases
def _rate_per_household_year(arrivals_per_hour: float) -> float:
    return arrivals_per_hour * 8760 / HOUSEHOLDS


@dataclass(frozen=True)
class MMcCase:
    """One station, c station heads, Poisson arrivals, exponential service."""
    arrivals_per_hour: float
    service_minutes: float
    servers: int
    days: float = 200.0
    replications: int = 10
    name: str = ""

    def __post_init__(self):
        self.analytic()   # unstable or invalid parameters fail here, before any run

    def analytic(self) -> MMc:
        return MMc(self.arrivals_per_hour / 60.0, 1.0 / self.service_minutes, self.servers)

    @property
    def label(self) -> str:
        return self.name or f"M/M/{self.servers} rho={self.analytic().utilisation:.2f}"

    def scenario(self, base: Scenario) -> Scenario:
        t0, _, _ = window(self.days)
        return with_overrides(base, [
            ("run.days", float(self.days)), ("run.warmup_days", t0 / 1440.0),
            ("roles.station_head.per_station", int(self.servers)),
            ("requests.errand.service.station_head", {"mean_minutes": float(self.service_minutes),
                                                      "dist": "exponential"}),
            ("requests.errand.rate_per_household_year", _rate_per_household_year(self.arrivals_per_hour)),
        ])

    def expected(self) -> dict:
        q = self.analytic()
        return {"mean_wait": q.mean_wait, "p_wait": q.p_wait, "mean_in_system": q.mean_in_system}

    QUANTITIES = {"mean_wait": "mean wait (min)", "p_wait": "P(wait > 0)",
                  "mean_in_system": "mean number in system"}


@dataclass(frozen=True)
class TandemCase:
    """Station heads (c1) then, with probability p, community workers (c2): a Jackson tandem."""
    arrivals_per_hour: float
    service_minutes: float
    servers: int
    escalation: float
    service_minutes_2: float
    servers_2: int
    days: float = 200.0
    replications: int = 10
    name: str = ""

    def __post_init__(self):
        self.analytic()

    def analytic(self):
        return tandem(self.arrivals_per_hour / 60.0, 1.0 / self.service_minutes, self.servers,
                      self.escalation, 1.0 / self.service_minutes_2, self.servers_2)

    @property
    def label(self) -> str:
        return self.name or (f"tandem M/M/{self.servers}->M/M/{self.servers_2} p={self.escalation:g}")

    def scenario(self, base: Scenario) -> Scenario:
        t0, _, _ = window(self.days)
        return with_overrides(base, [
            ("run.days", float(self.days)), ("run.warmup_days", t0 / 1440.0),
            ("roles.station_head.per_station", int(self.servers)),
            ("roles.community_worker.count", int(self.servers_2)),
            ("requests.errand", {
                **to_data(base)["requests"]["errand"],
                "stages": [{"roles": ["station_head"], "pass_on": float(self.escalation)},
                           {"roles": ["community_worker"]}],
                "service": {"station_head": {"mean_minutes": float(self.service_minutes), "dist": "exponential"},
                            "community_worker": {"mean_minutes": float(self.service_minutes_2),
                                                 "dist": "exponential"}},
                "rate_per_household_year": _rate_per_household_year(self.arrivals_per_hour)}),
        ])

    def expected(self) -> dict:
        q = self.analytic()
        return {"mean_wait": q.mean_wait, "mean_in_system": q.mean_in_system}

    QUANTITIES = {"mean_wait": "mean wait, both stages (min)", "mean_in_system": "mean number in system"}


@dataclass(frozen=True)
class LittleCase:
    """Little's law by request type on a full scenario: time-average open requests L vs lambda W.

    L is the mean of the hourly count of open requests (created, not yet ended)
    over the window [warm-up, warm-up + days); lambda and W are the arrival
    rate and mean time from creation to end of the requests created in that
    window (the run goes on for `cooldown_days` more so that almost all of them
    end). The analytic column is lambda W, averaged over replications.
    """
    scenario_path: Path = MEIHEKOU_SCENARIO
    days: float = 56.0          # whole weeks, so the weekly profile averages out
    warmup_days: float = 7.0
    cooldown_days: float = 28.0
    replications: int = 3
    types: tuple[str, ...] = ()  # default: every type with at least 500 requests in the window

    @property
    def label(self) -> str:
        return f"Little {Path(self.scenario_path).stem}"


def builtin_cases() -> list:
    """The default set: M/M/c at c in {1, 4, 10} x utilisation {0.5, 0.8, 0.95}, a tandem, Little's law.

    Horizons grow with the relaxation time of the queue (roughly 1/(mu (1 - sqrt rho)^2)),
    so each case reaches a similar relative precision; the full set takes about a minute.
    """
    days = {0.5: 200.0, 0.8: 800.0, 0.95: 6000.0}
    cases: list = []
    for c in (1, 4, 10):
        for rho, d in days.items():
            scale = 1.0 if c == 1 else (0.5 if c == 4 else 0.25)   # more servers: less variance per day
            cases.append(MMcCase(arrivals_per_hour=rho * c * 2.0, service_minutes=30.0, servers=c,
                                 days=d * scale, replications=10))
    cases.append(TandemCase(arrivals_per_hour=6.0, service_minutes=30.0, servers=4, escalation=0.1,
                            service_minutes_2=120.0, servers_2=2, days=500.0, replications=10))
    cases.append(LittleCase())
    return cases


# ---------------------------------------------------------------- running
def _run_queue_case(case, base: Scenario, seed: int, level: float, tolerance: float,
                    tick: Callable[[], None]) -> list[Check]:
    scenario = case.scenario(base)
    t0, t1, horizon = window(case.days)
    measured: dict[str, list[float]] = {k: [] for k in case.QUANTITIES}
    for r in range(case.replications):
        m = queue_measures(simulate(scenario, seed=seed + r), t0, t1, horizon)
        for k in measured:
            measured[k].append(m[k])
        tick()
    expected = case.expected()
    return [judge(case.label, label, expected[k], measured[k], level, tolerance)
            for k, label in case.QUANTITIES.items()]


def _run_little_case(case: LittleCase, seed: int, level: float, tolerance: float,
                     tick: Callable[[], None]) -> list[Check]:
    base = load(case.scenario_path)
    total = case.warmup_days + case.days + case.cooldown_days
    scenario = with_overrides(base, [("run.days", float(total)), ("run.warmup_days", float(case.warmup_days))])
    t0, t1 = case.warmup_days * 1440.0, (case.warmup_days + case.days) * 1440.0
    L: dict[str, list[float]] = {}
    LW: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for r in range(case.replications):
        res = simulate(scenario, seed=seed + r)
        ts, req = res.timeseries, res.tables["requests"]
        minutes = ts["hour"].to_numpy() * 60.0
        inside = (minutes > t0) & (minutes <= t1)
        created = req["created_minute"].to_numpy()
        ended = req["ended_minute"].to_numpy()
        sojourn = np.where(np.isnan(ended), scenario.run.days * 1440.0, ended) - created
        mine = (created >= t0) & (created < t1)
        codes = req["type"].cat.codes.to_numpy()
        for t, name in enumerate(req["type"].cat.categories):
            sel = mine & (codes == t)
            counts[name] = counts.get(name, 0) + int(sel.sum())
            if not sel.any():
                continue
            lam = sel.sum() / (t1 - t0)
            L.setdefault(name, []).append(float(ts[f"open_{name}"].to_numpy()[inside].mean()))
            LW.setdefault(name, []).append(float(lam * sojourn[sel].mean()))
        tick()
    names = case.types or tuple(n for n in L if counts[n] / case.replications >= 500
                                and len(L[n]) == case.replications)
    return [judge(f"{case.label} {n}", "open requests L vs lambda W", float(np.mean(LW[n])), L[n],
                  level, tolerance) for n in names]


def run_cases(cases: list, seed: int = 0, level: float = LEVEL, tolerance: float = TOLERANCE,
              progress: Callable[[int], Callable[[], None]] | None = None) -> list[Check]:
    """Run every case; `progress(total_runs)` may return a callback ticked after each model run."""
    tick = progress(sum(c.replications for c in cases)) if progress else (lambda: None)
    base = load(MMC_SCENARIO)
    checks: list[Check] = []
    for k, case in enumerate(cases):
        # case k, replication r runs with seed + SEED_STRIDE k + r: no two runs share a seed,
        # so the cases' errors are independent
        first = seed + SEED_STRIDE * k
        if isinstance(case, LittleCase):
            checks += _run_little_case(case, first, level, tolerance, tick)
        else:
            checks += _run_queue_case(case, base, first, level, tolerance, tick)
    return checks


# ---------------------------------------------------------------- output
def as_json(checks: list[Check]) -> dict:
    return {"cases": [c.as_dict() for c in checks], "passed": all(c.passed for c in checks)}


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4f}" if abs(x) < 10 else f"{x:,.2f}"


def format_table(checks: list[Check], level: float = LEVEL, tolerance: float = TOLERANCE) -> str:
    w = max([len(c.name) for c in checks] + [4])
    q = max([len(c.quantity) for c in checks] + [8])
    lines = [f"{'case':<{w}}  {'quantity':<{q}}  {'analytic':>10}  {'simulated':>10}  "
             f"{f'{level:.0%} CI':^23}  pass"]
    for c in checks:
        ci = f"[{_num(c.ci95[0])}, {_num(c.ci95[1])}]"
        lines.append(f"{c.name:<{w}}  {c.quantity:<{q}}  {_num(c.analytic):>10}  {_num(c.simulated):>10}  "
                     f"{ci:^23}  {'yes' if c.passed else 'NO'}")
    failed = sum(not c.passed for c in checks)
    lines += ["",
              f"pass rule: the analytic value lies in the {level:.0%} t-interval over replications, widened by "
              f"{tolerance:.0%} of the analytic value for warm-up bias (the same for every case);",
              f"warm-up: first {WARMUP_SHARE:.0%} of each horizon discarded; requests created in the last "
              f"{COOLDOWN_SHARE:.0%} not measured (Little: a 7-day warm-up, 56 days measured, 28 more to finish).",
              f"{len(checks) - failed} of {len(checks)} checks passed" + (f", {failed} FAILED" if failed else "")]
    return "\n".join(lines)
