"""Requests: who asks for what, when, from named streams: who and when up front, the rest by window.

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

Every random quantity a request will ever need comes from its type's own
streams, in creation order: who and when up front, the rest a window of
requests at a time as the build plans them (`Section`, the same numbers as
drawn at once). Two scenarios that differ only in staffing therefore see the
same requests with the same draws: common random numbers by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy.special import ndtri

from ..city import City
from ..scenario import PROPERTY_MODES, Scenario
from ..scenario.schema import Profile, Service
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


# The draws `routes.plan` alone reads, and those the records start from: made a window at a time
# (`Requests.windows`), each from its section of its type's streams (`Section`).
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
RECORDED = {
    "u_call": "the hotline call's duration",
    "u_contact": "the grid, 12345 or silence (the upper level, made when they come forward)",
    "u_repeat": "does a resident who gave up come back?",
    "e_repeat": "standard exponential: after how long",
}
WINDOW_DAYS = 30.0    # the build draws and plans the requests coming forward in this many days at a time
CHUNK = 1 << 16       # rows a section is drawn in at a time when it is passed through
SCATTERED = 4         # a window's rows this sparse over the stretch of a section they span: drawn whole


def generator(state: dict) -> np.random.Generator:
    """A Generator whose PCG64 stands at `state`."""
    bits = np.random.PCG64()
    bits.state = state
    return np.random.Generator(bits)


class Section:
    """One kind of draw of one request type: its rows' numbers, each `width` wide, drawn one after
    the other from one stream, reached for any rows without drawing the others again. Uniforms
    take one 64-bit draw each, so their first row is the stream's state at `start` moved on
    (`PCG64.advance`); standard exponentials take a varying number, so a pass through them keeps
    the state at every CHUNK-th row (`passed`). The numbers are those of drawing the whole section
    at once (`benchmarks/window_draws.py` checks each way). A section read at rows scattered over
    it (the routine home visits are drawn household by household, so a window's are spread over
    all their rows) is drawn whole the first time and kept for the windows after: one pass, not
    one a window (a city-year's build 0.1 s faster, for 6 MB a column kept)."""

    def __init__(self, start: dict, rows: int, width: int | None = None, saved: list[dict] | None = None):
        self.start, self.rows, self.width, self.saved = start, rows, width, saved     # width None: a column
        self._whole: np.ndarray | None = None

    @classmethod
    def passed(cls, g: np.random.Generator, rows: int) -> "Section":
        """The section of `rows` standard exponentials `g` draws next, passed through (`g` moves on)."""
        saved = []
        for lo in range(0, rows, CHUNK):
            saved.append(g.bit_generator.state)
            g.standard_exponential(min(CHUNK, rows - lo))
        return cls({}, rows, None, saved)

    def take(self, wanted: np.ndarray, order: np.ndarray, columns: int | None = None) -> np.ndarray:
        """The numbers of rows `wanted` (distinct, ascending), placed by `order` (`out[order]`): a
        column, or a block's first `columns` (all: None)."""
        if len(wanted) and self._whole is None and wanted[-1] + 1 - wanted[0] > SCATTERED * len(wanted):
            self._whole = self._drawn(np.arange(self.rows), columns)
        got = self._whole[wanted] if self._whole is not None else self._drawn(wanted, columns)
        out = np.empty_like(got)
        out[order] = got
        return out

    def _drawn(self, wanted: np.ndarray, columns: int | None) -> np.ndarray:
        """Rows `wanted` (distinct, ascending), drawn from the first of them to the last."""
        keep = self.width if columns is None else columns
        got = np.empty((len(wanted),) if self.width is None else (len(wanted), keep))
        if not len(wanted):
            return got
        lo, hi = int(wanted[0]), int(wanted[-1]) + 1
        if self.saved is None:
            g = generator(self.start)
            g.bit_generator.advance(lo * (self.width or 1))
            row = lo
        else:
            row = lo - lo % CHUNK
            g = generator(self.saved[row // CHUNK])
        j = 0
        while row < hi:
            size = min(CHUNK, hi - row)
            drawn = (g.standard_exponential(size) if self.saved is not None
                     else g.random(size) if self.width is None else g.random((size, self.width))[:, :keep])
            k = int(np.searchsorted(wanted, row + size))
            got[j:k] = drawn[wanted[j:k] - row]
            j, row = k, row + size
        return got


def sections(g: np.random.Generator, rows: int, kinds: tuple[tuple[str, int | None], ...]) -> dict[str, Section]:
    """Consecutive sections of uniforms, (name, width: None for a column) each, from where `g`
    stands (`g` moves past them)."""
    out = {}
    for name, width in kinds:
        out[name] = Section(g.bit_generator.state, rows, width)
        g.bit_generator.advance(rows * (width or 1))
    return out


class TypeDraws:
    """One type's rows of a window (`rows`) and, as attributes named as in PLANNED, their draws in
    the rows' order, each drawn the first time it is read; `at_stage` is one stage's column."""

    def __init__(self, rows: np.ndarray, at: np.ndarray, drawn: dict[str, Section], stages: int):
        self.rows, self._drawn, self._stages = rows, drawn, stages
        self._order = np.argsort(at)          # the rows in the order of their draws (distinct: any sort)
        self._wanted = at[self._order]

    def drawn(self, name: str) -> np.ndarray:
        """The draws of section `name` (PLANNED or RECORDED) for the rows, in the rows' order; of a
        block of stages, the type's own stages' columns."""
        return self._drawn[name].take(self._wanted, self._order, self._stages)

    def forget(self) -> None:
        """Let the PLANNED draws read so far go."""
        for name in PLANNED:
            self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in PLANNED:
            raise AttributeError(name)
        value = self.drawn(name)
        setattr(self, name, value)
        return value

    def at_stage(self, name: str, k: int) -> np.ndarray:
        """Stage `k`'s column of the (n, stages) draw `name`."""
        return getattr(self, name)[:, k]


@dataclass(frozen=True)
class Requests:
    """One row per request (the request id is the row), in the order residents come forward:
    the event loop then walks its per-request lists nearly in order, which keeps it fast. Drawn
    up front: who, when, and where each row stands among its type's draws (`drawn_as`); the draws
    of PLANNED and RECORDED are made a window at a time (`windows`), from each type's `sections`."""
    types: tuple[str, ...]
    stages: tuple[int, ...]   # per type, its stages
    type: np.ndarray          # index into `types`
    household: np.ndarray
    created: np.ndarray       # minute the problem arose (negative: before the run)
    contact: np.ndarray       # minute the resident would come forward alone
    drawn_as: np.ndarray      # each row's place among its type's draws
    sections: tuple[dict[str, Section], ...]

    def __len__(self) -> int:
        return len(self.type)

    def windows(self) -> Iterator["Window"]:
        """The requests in windows of WINDOW_DAYS of coming forward (the last: all after), one at a
        time: each window's draws, made as they are read, go with it."""
        minutes = WINDOW_DAYS * 1440
        ends = np.searchsorted(self.contact, np.arange(minutes, self.contact[-1] if len(self) else 0, minutes))
        cuts = [0, *ends.tolist(), len(self)]
        if len(self) == 0:
            yield Window(self, 0, 0)
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            if hi > lo:
                yield Window(self, lo, hi)


class Window:
    """The requests `lo` to `hi` (rows of `Requests`) as `routes.plan` reads them, their draws made
    for them alone: `of_type` (PLANNED) and, as attributes, RECORDED (float64; the records keep
    some as float32, rounded as they are written)."""

    def __init__(self, requests: Requests, lo: int, hi: int):
        self.all, self.lo, self.hi = requests, lo, hi
        self.type, self.household = requests.type[lo:hi], requests.household[lo:hi]
        self.created, self.contact = requests.created[lo:hi], requests.contact[lo:hi]
        self._of_type: dict[int, TypeDraws] = {}

    def __len__(self) -> int:
        return self.hi - self.lo

    def of_type(self, t: int) -> TypeDraws:
        """Type `t`'s rows of the window and the draws the plan reads of them, in the rows' order."""
        if t not in self._of_type:
            rows = np.flatnonzero(self.type == t)
            self._of_type[t] = TypeDraws(rows, self.all.drawn_as[self.lo + rows], self.all.sections[t],
                                         self.all.stages[t])
        return self._of_type[t]

    def planned(self) -> None:
        """The plan has read its draws: they go (the records' are drawn after)."""
        for drawn in self._of_type.values():
            drawn.forget()

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in RECORDED:
            raise AttributeError(name)
        value = np.empty(len(self))
        for t in range(len(self.all.types)):
            drawn = self.of_type(t)
            value[drawn.rows] = drawn.drawn(name)
        setattr(self, name, value)
        return value


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
    """Every request whose problem arises before `horizon` minutes: who, when, and where its
    draws stand in its type's streams (drawn a window at a time, `Requests.windows`)."""
    stages = max(len(rt.stages) for rt in scenario.requests.values())
    parts, drawn = [], []
    for t, (name, rt) in enumerate(scenario.requests.items()):
        rng = stream(seed, "arrivals", t)
        draw = _regular_contacts if rt.schedule == "regular" else _poisson_contacts
        contact, household = draw(scenario, city, name, rng, horizon)
        n = len(contact)
        service, routing, behaviour = (stream(seed, p, t) for p in ("service", "routing", "behaviour"))
        created = contact - behaviour.standard_exponential(n) * rt.report_delay_hours * 60
        # each section where it stands in its stream, in the order the streams are drawn. Every type
        # draws as many stage columns as the scenario's longest type, so adding a stage to one type
        # leaves the others' streams alone (a type reads its own stages' columns, `TypeDraws`)
        kinds = sections(service, n, (("u_service", stages), ("u_call", None), ("u_triage", None)))
        kinds |= sections(routing, n, (("u_pass", stages), ("u_building_leader", None), ("u_neighbours", None),
                                       ("u_settle", None)))
        kinds["e_patience"] = Section.passed(behaviour, n)
        kinds |= sections(behaviour, n, (("u_way", None), ("u_contact", None), ("u_repeat", None)))
        kinds["e_repeat"] = Section.passed(behaviour, n)
        drawn.append(kinds)
        parts.append(dict(type=np.full(n, t, dtype=np.int8), household=household.astype(np.int32), created=created,
                          contact=contact, drawn_as=np.arange(n, dtype=np.int32)))

    # each column joined across the types one at a time, the types' own let go as it is; one type's
    # as they are, not copied into a concatenation of one (the M/M/4 case's draws 30 ms faster)
    def column(k: str) -> np.ndarray:
        return np.concatenate([p.pop(k) for p in parts]) if len(parts) > 1 else parts[0].pop(k)
    created, contact = column("created"), column("contact")
    kept = np.flatnonzero(created <= horizon)
    order = kept[stable_order(contact[kept])]
    columns = {"created": created[order], "contact": contact[order]}
    del created, contact
    for k in list(parts[0]):
        columns[k] = column(k)[order]
    return Requests(types=tuple(scenario.requests),
                    stages=tuple(len(rt.stages) for rt in scenario.requests.values()), sections=tuple(drawn), **columns)


def service_minutes(service: Service, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF service times, so one uniform per stage gives any distribution."""
    if service.dist == "fixed":
        return np.full(len(u), service.mean_minutes)
    if service.dist == "exponential":
        return -service.mean_minutes * np.log1p(-u)
    sigma = np.sqrt(np.log1p(service.cv ** 2))
    mu = np.log(service.mean_minutes) - sigma ** 2 / 2
    return np.exp(mu + sigma * ndtri(u))
