"""Requests: who asks for what, when; drawn up front, vectorised, from named streams.

Demand is drawn at the time of contact: residents come forward (call, walk
in, message) following their type's daily and weekly profile, so office
demand arrives in office hours. Each problem arose a reporting delay earlier
(exponential). Problems that arose before the run but come forward after it
starts are kept, so reports are stationary from the first minute; problems
that arise before the horizon but would come forward after it are kept too
(unreported at the end), up to a tail of TAIL_DELAYS mean delays.

Routine work owed to every household (the home visits) is drawn on a
regular schedule instead: each household is due one every 365 / (rate x its
weight) days (elderly households more often), from its own random phase.

Every random quantity a request will ever need is drawn here, in creation
order, from its own stream. Two scenarios that differ only in staffing
therefore see the same requests with the same draws: common random numbers
by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ..city import City
from ..scenario import PROPERTY_MODES, Scenario
from ..scenario.schema import Profile, RequestType, Service
from .calendar import compiled
from .order import stable_order

STREAMS = ("city", "arrivals", "service", "routing", "behaviour")
FLAT = Profile(hours=(1.0,) * 24, weekdays=(1.0,) * 7)
TAIL_DELAYS = 10.0     # contacts are drawn this many mean delays past the horizon (e^-10 of problems lost)


def stream(seed: int, process: str, *key: int) -> np.random.Generator:
    """The Generator of one stochastic process (and request type), from one seed.

    Streams are children of `SeedSequence(seed)` addressed by process name
    and type index, so adding a request type or changing how many requests
    one type makes leaves every other stream untouched.
    """
    spawn_key = (STREAMS.index(process), *key)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


# The draws `routes.plan` alone reads, kept by type in the order drawn: the plan reads them type by
# type, and gathering them into request order for every request at once, then again by type, the
# stages it never reads included, was about 14 ms of a calibration's 0.3 s build.
PLANNED = {
    "u_service": "(n, stages) uniforms for each stage's service time",
    "u_pass": "(n, stages) uniforms: is the request passed on after the stage?",
    "u_building_leader": "is the building leader there for it (below the subsidy's share)?",
    "u_neighbours": "do the neighbours know of it (below visit_building_share)?",
    "u_way": "the resident's way into the grid (the lower level of the channel choice)",
    "u_triage": "the receiving grid leader's or station head's triage time",
    "u_settle": "is it settled at triage (below the type's reception_settles)?",
    "e_patience": "standard exponential: patience",
}


class TypeDraws:
    """One type's rows of `Requests` (`rows`) and, as attributes named as in PLANNED, its draws in
    the rows' order, each gathered the first time it is read; `at_stage` gathers one stage's."""

    def __init__(self, rows: np.ndarray, at: np.ndarray, drawn: dict[str, np.ndarray]):
        self.rows, self._at, self._drawn = rows, at, drawn

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in PLANNED:
            raise AttributeError(name)
        value = self._drawn[name][self._at]
        setattr(self, name, value)
        return value

    def at_stage(self, name: str, k: int) -> np.ndarray:
        """Stage `k`'s column of the (n, stages) draw `name`."""
        return self._drawn[name][self._at, k]


@dataclass(frozen=True)
class Requests:
    """One row per request (the request id is the row), in the order residents come forward:
    the event loop then walks its per-request lists nearly in order, which keeps it fast. The
    draws only the plan reads are each type's own (`of_type`)."""
    types: tuple[str, ...]
    type: np.ndarray          # index into `types`
    household: np.ndarray
    created: np.ndarray       # minute the problem arose (negative: before the run)
    contact: np.ndarray       # minute the resident would come forward alone
    u_call: np.ndarray        # the hotline call's duration
    u_contact: np.ndarray     # the grid, 12345 or silence (the upper level, made when they come forward)
    u_repeat: np.ndarray      # does a resident who gave up come back?
    e_repeat: np.ndarray      # standard exponential: after how long
    drawn_as: np.ndarray      # each row's place among its type's draws (`planned`)
    planned: tuple[dict[str, np.ndarray], ...]     # per type, the PLANNED draws in the order drawn

    def __len__(self) -> int:
        return len(self.type)

    def of_type(self, t: int) -> TypeDraws:
        """Type `t`'s rows and the draws the plan reads of them, in the rows' order."""
        rows = np.flatnonzero(self.type == t)
        return TypeDraws(rows, self.drawn_as[rows], self.planned[t])

    def after_planning(self) -> "Drawn":
        """What the model keeps once the routes are planned: most draws are read by `routes.plan`
        alone. Letting them go before the records are made took a city-year's model from 1,121 MB
        after its build to 980 MB (`benchmarks/memory.py`)."""
        return Drawn(self.type, self.household, self.created, self.u_contact, self.u_repeat, self.e_repeat)


@dataclass(frozen=True)
class Drawn:
    """The draws the records start from and the journey decides with as it runs (`Requests`)."""
    type: np.ndarray
    household: np.ndarray
    created: np.ndarray
    u_contact: np.ndarray
    u_repeat: np.ndarray
    e_repeat: np.ndarray

    def __len__(self) -> int:
        return len(self.type)


def household_weights(scenario: Scenario, city: City, name: str) -> np.ndarray:
    """Relative request rate of each household for one request type."""
    rt = scenario.requests[name]
    w = (city.hh_size / scenario.city.household_size) ** rt.size_elasticity
    w = w * np.where(city.hh_elderly, rt.elderly_multiplier, 1.0)
    if rt.property_sensitive:
        modes = scenario.roles.property_manager.modes
        mult = np.array([modes[m].rate_multiplier for m in PROPERTY_MODES])
        w = w * mult[city.compound_mode[city.hh_compound]]
    return w


def hourly_intensity(profile: Profile, hours: int) -> np.ndarray:
    """Relative intensity for each hour from Monday 00:00, mean 1 over a week."""
    h = np.asarray(profile.hours, float)
    d = np.asarray(profile.weekdays, float)
    week = (d[:, None] / d.mean() * h[None, :] / h.mean()).ravel()
    return week[np.arange(hours) % len(week)]


def _poisson_contacts(scenario: Scenario, city: City, name: str, rng: np.random.Generator,
                      horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Contact times (non-homogeneous Poisson, hour by hour) and households of one type."""
    rt = scenario.requests[name]
    end = horizon + TAIL_DELAYS * rt.report_delay_hours * 60
    hours = int(np.ceil(end / 60))
    bin_minutes = np.minimum(60.0, end - 60.0 * np.arange(hours))
    w = household_weights(scenario, city, name)
    total = w.sum()
    per_minute = rt.rate_per_household_year * total / (365 * 1440)
    profile = scenario.profiles.get(rt.profile, FLAT)
    counts = rng.poisson(per_minute * bin_minutes * hourly_intensity(profile, hours))
    n = int(counts.sum())
    contact = np.repeat(60.0 * np.arange(hours), counts) + rng.random(n) * np.repeat(bin_minutes, counts)
    household = drawn_households(rng, w / total, n) if n else np.zeros(0, dtype=np.int64)
    return contact, household


def drawn_households(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """`n` households drawn with probabilities `p`: numpy's `rng.choice(len(p), n, p=p)` (the same
    uniforms, the same households, bit for bit), each uniform placed in the distribution through a
    table of where each 1/K-th of [0, 1) begins rather than a bisection of all of it (1.24 million
    draws over 119,403 households: 0.15 -> 0.02 s)."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    u = rng.random(n)
    buckets = 1 << max(len(cdf) - 1, 1).bit_length()      # a power of 2: u * K and b / K are exact
    out = np.empty(n, dtype=np.int64)
    place_in(cdf, u, np.empty(buckets + 1, dtype=np.int64), out)
    return out


@compiled
def place_in(cdf, u, first, out):
    """out[j] = np.searchsorted(cdf, u[j], "right") for each u[j] in [0, 1), cdf sorted: with K =
    len(first) - 1, first[b] = how many of cdf are <= b / K, so u[j]'s answer lies between
    first[b] and first[b + 1] for b = floor(u[j] * K), and is bisected there."""
    n, k = len(cdf), len(first) - 1
    i = 0
    for b in range(k + 1):
        while i < n and cdf[i] <= b / k:
            i += 1
        first[b] = i
    for j in range(len(u)):
        b = int(u[j] * k)
        lo, hi = first[b], first[b + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if cdf[mid] <= u[j]:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo


def regular_interval(scenario: Scenario, city: City, name: str) -> np.ndarray:
    """Minutes between a household's regular tasks of a type: 365 days / (rate x its weight)."""
    rate = scenario.requests[name].rate_per_household_year * household_weights(scenario, city, name)
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, 365 * 1440 / rate, np.inf)


def _regular_contacts(scenario: Scenario, city: City, name: str, rng: np.random.Generator,
                      horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Every household at even intervals of 365 / (rate x its weight) days, from a random phase."""
    interval = regular_interval(scenario, city, name)
    phase = rng.random(city.households) * np.where(np.isinf(interval), 0.0, interval)
    per_household = np.maximum(0, np.ceil((horizon - phase) / interval)).astype(np.int64)
    household = np.repeat(np.arange(city.households), per_household)
    first = np.cumsum(per_household) - per_household
    k = np.arange(len(household)) - np.repeat(first, per_household)
    return phase[household] + k * interval[household], household


def draw_requests(scenario: Scenario, city: City, seed: int, horizon: float) -> Requests:
    """Every request whose problem arises before `horizon` minutes, with all its draws."""
    stages = max(len(rt.stages) for rt in scenario.requests.values())
    parts, planned = [], []
    for t, (name, rt) in enumerate(scenario.requests.items()):
        rng = stream(seed, "arrivals", t)
        draw = _regular_contacts if rt.schedule == "regular" else _poisson_contacts
        contact, household = draw(scenario, city, name, rng, horizon)
        n = len(contact)
        service, routing, behaviour = (stream(seed, p, t) for p in ("service", "routing", "behaviour"))
        created = contact - behaviour.standard_exponential(n) * rt.report_delay_hours * 60
        u_service, u_call, u_triage = own_stages(service.random((n, stages)), rt), service.random(n), service.random(n)
        u_pass, u_building_leader, u_neighbours, u_settle = (own_stages(routing.random((n, stages)), rt),
                                                             routing.random(n), routing.random(n), routing.random(n))
        e_patience, u_way, u_contact = (behaviour.standard_exponential(n), behaviour.random(n),
                                        behaviour.random(n))
        # in the types the records keep them in (the draws u_ and e_ rounded to float32 here or
        # there are the same numbers): a city-year's draws 32 MB less
        parts.append(dict(type=np.full(n, t, dtype=np.int8), household=household.astype(np.int32), created=created,
                          contact=contact, u_call=u_call, u_contact=u_contact.astype(np.float32),
                          u_repeat=behaviour.random(n).astype(np.float32),
                          e_repeat=behaviour.standard_exponential(n).astype(np.float32),
                          drawn_as=np.arange(n, dtype=np.int32)))
        planned.append(dict(u_service=u_service, u_pass=u_pass, u_building_leader=u_building_leader,
                            u_neighbours=u_neighbours, u_way=u_way, u_triage=u_triage, u_settle=u_settle,
                            e_patience=e_patience))
    # each draw joined across the types one at a time, the types' own let go as it is (a city-year's
    # draws are 207 MB); one type's as they are, not copied into a concatenation of one (the M/M/4
    # case's draws 30 ms faster)
    def column(k: str) -> np.ndarray:
        return np.concatenate([p.pop(k) for p in parts]) if len(parts) > 1 else parts[0].pop(k)
    created, contact = column("created"), column("contact")
    kept = np.flatnonzero(created <= horizon)
    order = kept[stable_order(contact[kept])]
    columns = {"created": created[order], "contact": contact[order]}
    del created, contact
    for k in list(parts[0]):
        columns[k] = column(k)[order]
    return Requests(types=tuple(scenario.requests), planned=tuple(planned), **columns)


def own_stages(drawn: np.ndarray, rt: RequestType) -> np.ndarray:
    """The columns of a (n, stages) draw that the type's own stages read. Every type draws as many
    columns as the scenario's longest type, so adding a stage to one type leaves the others'
    streams alone; the columns past its own are never read (a city-year's routine home visits, one
    stage, kept 3 of every 4 uniforms for nothing: 35 MB of its draws)."""
    return np.ascontiguousarray(drawn[:, :len(rt.stages)])


def service_minutes(service: Service, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF service times, so one uniform per stage gives any distribution."""
    if service.dist == "fixed":
        return np.full(len(u), service.mean_minutes)
    if service.dist == "exponential":
        return -service.mean_minutes * np.log1p(-u)
    sigma = np.sqrt(np.log1p(service.cv ** 2))
    mu = np.log(service.mean_minutes) - sigma ** 2 / 2
    return np.exp(mu + sigma * ndtri(u))
