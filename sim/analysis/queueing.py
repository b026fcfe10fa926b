"""Analytic queueing results used to validate the simulator.

In the degenerate case (Poisson arrivals, exponential service, one role, no
travel) a station is an M/M/c queue and the simulated waits must match Erlang C;
with escalation two stations form a Jackson network. Rates are per unit time in
any unit, as long as arrival and service rates use the same one.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

_TINY = 1e-12


class UnstableQueueError(ValueError):
    """The queue has no steady state (utilisation >= 1) or its inputs are invalid."""


def _check_servers(servers: int) -> int:
    try:
        c = operator.index(servers)  # accepts int and numpy ints, rejects 2.5 and "2"
    except TypeError:
        raise UnstableQueueError(f"servers must be an integer >= 1, got {servers!r}") from None
    if c < 1:
        raise UnstableQueueError(f"servers must be an integer >= 1, got {c}")
    return c


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise UnstableQueueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of M/M/c/c (Erlang B).

    Uses the recursion B(k) = a B(k-1) / (k + a B(k-1)), which stays in [0, 1]
    and never forms a^c or c!, so it is stable for thousands of servers.
    """
    c = _check_servers(servers)
    a = _check_positive("offered load", offered_load)
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C), via Erlang B.

    C = c B / (c - a (1 - B)); requires a < c, else there is no steady state.
    """
    c = _check_servers(servers)
    a = _check_positive("offered load", offered_load)
    if a >= c:
        raise UnstableQueueError(
            f"unstable queue: utilisation {a / c:.6g} >= 1 (offered load {a:g}, {c} servers)"
        )
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


@dataclass(frozen=True)
class MMc:
    """A stable M/M/c queue: Poisson arrivals, exponential service, c servers, FCFS."""

    arrival_rate: float
    service_rate: float
    servers: int

    def __post_init__(self) -> None:
        lam = _check_positive("arrival rate", self.arrival_rate)
        mu = _check_positive("service rate", self.service_rate)
        c = _check_servers(self.servers)
        if lam >= c * mu:
            raise UnstableQueueError(
                f"unstable queue: utilisation {lam / (c * mu):.6g} >= 1 "
                f"(arrival rate {lam:g}, {c} servers x service rate {mu:g})"
            )

    @property
    def offered_load(self) -> float:
        """a = λ/μ, the mean number of busy servers (Erlangs)."""
        return self.arrival_rate / self.service_rate

    @property
    def utilisation(self) -> float:
        """ρ = a/c, the long-run share of time each server is busy."""
        return self.offered_load / self.servers

    @property
    def p_wait(self) -> float:
        """P(an arrival finds all servers busy) = Erlang C."""
        return erlang_c(self.servers, self.offered_load)

    @property
    def _drain_rate(self) -> float:
        # cμ - λ: the rate of the exponential tail of the conditional wait.
        return self.servers * self.service_rate - self.arrival_rate

    @property
    def mean_wait(self) -> float:
        """Wq = C / (cμ - λ), mean time in queue before service starts."""
        return self.p_wait / self._drain_rate

    @property
    def mean_response(self) -> float:
        """W = Wq + 1/μ, mean time in system."""
        return self.mean_wait + 1.0 / self.service_rate

    @property
    def mean_in_queue(self) -> float:
        """Lq = λ Wq (Little's law on the queue)."""
        return self.arrival_rate * self.mean_wait

    @property
    def mean_in_system(self) -> float:
        """L = λ W (Little's law on the whole system)."""
        return self.arrival_rate * self.mean_response

    def wait_exceeds(self, t: float) -> float:
        """P(Wq > t) = C exp(-(cμ - λ) t); the wait is 0 with probability 1 - C."""
        if t < 0:
            return 1.0
        return self.p_wait * math.exp(-self._drain_rate * t)

    def wait_quantile(self, q: float) -> float:
        """The q-quantile of Wq, 0 <= q < 1: the inverse of wait_exceeds."""
        if not 0.0 <= q < 1.0:
            raise ValueError(f"quantile must be in [0, 1), got {q!r}")
        c = self.p_wait
        if q <= 1.0 - c:
            return 0.0
        return math.log(c / (1.0 - q)) / self._drain_rate


MAX_SERVERS = 1_000_000


def servers_for_wait(arrival_rate: float, service_rate: float, *, within: float | None = None,
                     probability: float | None = None, mean_wait: float | None = None,
                     max_servers: int = MAX_SERVERS) -> int:
    """The inverse of Erlang C: the smallest number of servers c for which M/M/c meets every target
    given, P(Wq <= within) >= probability and/or mean Wq <= mean_wait (times in the rates' unit).

    Both are monotone in c (more servers, shorter waits), so the search walks up from the
    smallest stable c = floor(a) + 1 (a = λ/μ) and stops at the first c that meets them.
    """
    lam = _check_positive("arrival rate", arrival_rate)
    mu = _check_positive("service rate", service_rate)
    if (within is None) != (probability is None):
        raise ValueError("a waiting-time target needs both `within` and `probability`")
    if within is None and mean_wait is None:
        raise ValueError("give a target: within and probability, or mean_wait")
    if within is not None:
        if not (isinstance(within, numbers.Real) and math.isfinite(within) and within >= 0):
            raise ValueError(f"within must be a finite time >= 0, got {within!r}")
        if not (isinstance(probability, numbers.Real) and 0 < probability < 1):
            raise ValueError(f"probability must lie strictly between 0 and 1 (an M/M/c wait is never "
                             f"certain to be short), got {probability!r}")
    if mean_wait is not None:
        _check_positive("mean_wait", mean_wait)
    c = math.floor(lam / mu) + 1
    while c <= max_servers:
        q = MMc(lam, mu, c)
        ok = within is None or 1.0 - q.wait_exceeds(within) >= probability - 1e-12
        if ok and (mean_wait is None or q.mean_wait <= mean_wait * (1 + 1e-12)):
            return c
        c += 1
    raise UnstableQueueError(f"no number of servers up to {max_servers:,} meets the target")


@dataclass(frozen=True)
class Tandem:
    """Two M/M/c stations in a Jackson network; station 2 is None when escalation is 0."""

    station_1: MMc
    station_2: MMc | None
    escalation: float

    @property
    def mean_wait(self) -> float:
        """Mean queueing time per request: Wq1 + p Wq2 (only escalated requests queue twice)."""
        return self.station_1.mean_wait + (
            self.escalation * self.station_2.mean_wait if self.station_2 else 0.0
        )

    @property
    def mean_response(self) -> float:
        """Mean time in the network per request: W1 + p W2."""
        return self.station_1.mean_response + (
            self.escalation * self.station_2.mean_response if self.station_2 else 0.0
        )

    @property
    def mean_in_system(self) -> float:
        """Mean number of requests in the network: L1 + L2."""
        return self.station_1.mean_in_system + (
            self.station_2.mean_in_system if self.station_2 else 0.0
        )


def tandem(
    arrival_rate: float,
    service_rate_1: float,
    servers_1: int,
    escalation: float,
    service_rate_2: float,
    servers_2: int,
) -> Tandem:
    """Station 1 serves every request; a completion escalates to station 2 with probability p.

    By Jackson's theorem each station behaves as an independent M/M/c, station 2
    with arrival rate p λ.
    """
    if not (isinstance(escalation, numbers.Real) and 0.0 <= escalation <= 1.0):
        raise ValueError(f"escalation must be a probability in [0, 1], got {escalation!r}")
    try:
        s1 = MMc(arrival_rate, service_rate_1, servers_1)
    except UnstableQueueError as exc:
        raise UnstableQueueError(f"station 1: {exc}") from None
    try:
        if escalation > 0:
            s2 = MMc(escalation * arrival_rate, service_rate_2, servers_2)
        else:  # nothing reaches station 2, but its parameters must still be valid
            _check_positive("service rate", service_rate_2)
            _check_servers(servers_2)
            s2 = None
    except UnstableQueueError as exc:
        raise UnstableQueueError(f"station 2: {exc}") from None
    return Tandem(s1, s2, float(escalation))


def littles_law_gap(mean_in_system: float, arrival_rate: float, mean_time: float) -> float:
    """Relative gap |L - λW| / L, for checking Little's law on simulated output."""
    return abs(mean_in_system - arrival_rate * mean_time) / max(mean_in_system, _TINY)
