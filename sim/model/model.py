"""GridModel: the Mesa model of one city, driven by a small event calendar.

Nothing is stepped per tick. Requests come forward from a pre-drawn, sorted
stream; the calendar holds the ends of visits, cover checks, shift changes,
alliance meetings and daily samples. Cost grows with the number of requests,
not with agents x time. How a request travels through the model is in
`journey.py`, which is also the code that runs it (compiled); this module
builds the model's state, the `World` the journey works on, and takes Mesa's
census between the journey's stretches of time.
"""

from __future__ import annotations

import gc
import math
import os
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import NamedTuple

import mesa
import numpy as np

from ..city import City, build_city, city_inputs
from ..scenario import ROLES, Scenario, load, resolve_scenario
from . import agents, journey, records, spill
from . import calendar as cal
from .calendar import MEETING, SAMPLE, SHIFT, STAFF, compiled
from .kpis import HEADLINE
from .requests import Requests, Window, draw_requests, stream
from .routes import plan, station_open
from .shifts import Duty, always_on
from .stability import overloaded_units, planned_work
from .units import Layout, layouts, vacant_places

INF = math.inf


def small_pages() -> None:
    """Ask numpy not to request huge pages (madvise) for its large arrays, unless the user set
    NUMPY_MADVISE_HUGEPAGE. On the machine this was measured on (a virtual machine), getting huge
    pages made a run's fresh arrays cost several times their arithmetic, in system time: `gridsim
    run` took 9.9 s with them and 5.9 s without, a process's first city-year 5.6-10.8 s and 4.6-4.8 s
    (docs/PERFORMANCE.md). Memory already touched is a little faster with them; a run's arrays are
    nearly all fresh. Results do not change."""
    core = getattr(np, "_core", None) or np.core            # (numpy 1.x: np.core)
    setter = getattr(core.multiarray, "_set_madvise_hugepage", None)
    if setter is not None and "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        setter(False)


small_pages()


_MODELS: weakref.WeakSet = weakref.WeakSet()   # the models of this process not yet freed


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused (a decorator here). A city's build makes about a
    million long-lived objects (agents, per-visit lists) and its loop a heap tuple per event; none
    is in a reference cycle, yet every full collection walks all of them: 1.2 s of the city-year's
    3 s build. Reference counting still frees everything; the collector resumes after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# Every role's units, one record each (index over all roles, role by role): places, queue lengths
# and the ends of their lists. A unit's queue is a first-come-first-served list per priority rank
# (`World.queue_first`/`queue_last`, linked through the visits' `in_line`), `queued` entries long
# of which `stale` are void; its routine home visits a list of their own; its free staff a ring of
# agent ids in `World.free`.
UNIT = (
    records.Field("role", "int64", 0, "index into ROLES"),
    records.Field("members", "int64", 0, "staff agents"),
    records.Field("servers", "int64", 0, "places: how many of them work at once (fewer while some are vacant)"),
    records.Field("busy", "int64", 0, "places at work now"),
    records.Field("queued", "int64", 0, "entries in its queue, void ones included"),
    records.Field("stale", "int64", 0, "void entries: residents who gave up, requests a colleague took"),
    records.Field("routine", "int64", 0, "routine home visits due"),
    records.Field("routine_first", "int64", -1, "the first of them"),
    records.Field("routine_last", "int64", -1, "the last of them"),
    records.Field("free_first", "int64", 0, "where its ring of free staff starts in `World.free`"),
    records.Field("free_head", "int64", 0, "the longest free, in that ring"),
    records.Field("free_count", "int64", 0, "free staff"),
    records.Field("station", "int64", -1, "its grid leaders' station under the 'after' cover rule (-1: none)"),
    records.Field("first_agent", "int64", -1, "its first staff agent's unique_id (an alliance meets as that one)"),
)
Units = records.record_type("Units", UNIT, __name__)
# a unit's places change (vacancies start or end): the STAFF events' payloads
STAFF_CHANGE = (
    records.Field("unit", "int64", -1, "the unit"),
    records.Field("places", "int64", 0, "its places from then on"),
)
StaffChanges = records.record_type("StaffChanges", STAFF_CHANGE, __name__)


WHO_AND_WHEN = ("type", "household", "created")    # the request records' fields drawn up front


class Stations(NamedTuple):
    """Grid leaders' units by station (`units[first_unit[s]:first_unit[s + 1]]`, colleagues under
    the "after" rule) and each station's overdue list (linked through the visits' `overdue_after`)."""
    first_unit: np.ndarray
    units: np.ndarray
    overdue_first: np.ndarray
    overdue_last: np.ndarray


class Rosters(NamedTuple):
    """Each role's on-duty intervals (`starts[first[r]:first[r + 1]]`, with the minutes on duty
    before each) and when the station is open to walk-ins: `shifts.Duty`, as the journey reads it."""
    starts: np.ndarray
    ends: np.ndarray
    before: np.ndarray
    first: np.ndarray
    open_starts: np.ndarray
    open_ends: np.ndarray


class Options(NamedTuple):
    """For each visit whose stage allows several roles (its `option` row): the stage's wait and each
    alternative in order, its role (-1: no more), unit (-1: not staffed for the household) and
    duration."""
    wait: np.ndarray
    role: np.ndarray
    unit: np.ndarray
    duration: np.ndarray


def joined(parts: list[Options]) -> Options:
    """The windows' rows of alternative roles, one after another (widths made equal: -1 and nan)."""
    if len(parts) == 1:
        return parts[0]
    width = max(o.role.shape[1] for o in parts)

    def wide(a: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)
    return Options(np.concatenate([o.wait for o in parts]), np.concatenate([wide(o.role, -1) for o in parts]),
                   np.concatenate([wide(o.unit, -1) for o in parts]),
                   np.concatenate([wide(o.duration, np.nan) for o in parts]))


class Arrivals(NamedTuple):
    """Requests coming forward unprompted, in order of time: when, which, by which channel."""
    time: np.ndarray
    request: np.ndarray
    channel: np.ndarray


class Findable(NamedTuple):
    """What home visits can find, per household (or building): the requests in order of arising,
    each group ended by a sentinel that never arises, a pointer per group to the first request a
    visit has not yet looked at, and when that one arises (`due`: one look tells a visit that finds
    nothing)."""
    request: np.ndarray
    created: np.ndarray
    next: np.ndarray
    due: np.ndarray

    @classmethod
    def of(cls, arising: np.ndarray, group: np.ndarray, created: np.ndarray, groups: int) -> "Findable":
        """The requests `arising` (in order of arising) by their `group` (per request), each group's
        in that order: placed by a count of each group's, not sorted by group and arising (numpy's
        lexsort made a calibration's build of the world 6 ms slower, 56 against 50 ms)."""
        counts = np.bincount(group[arising], minlength=groups)
        starts = np.cumsum(counts + 1) - (counts + 1)          # each group has one more slot: its sentinel
        ids = np.full(len(arising) + groups, -1, dtype=np.int64)
        when = np.full(len(arising) + groups, np.inf)
        by_group(arising, group, created, starts.copy(), ids, when)
        return cls(ids, when, starts.astype(np.int64), when[starts])


@compiled
def by_group(arising, group, created, place, ids, when):
    """Each request of `arising` to its group's next place (`place`: each group's first)."""
    for r in arising:
        g = group[r]
        ids[place[g]], when[place[g]] = r, created[r]
        place[g] += 1


class Rules(NamedTuple):
    """The scenario's numbers the journey reads, and the model's fixed facts."""
    horizon: float
    cover_after: float
    meeting_capacity: int
    hotline_unit: int               # -1: no 12345 operators
    duty_leader_role: int
    routine_rank: int
    floor: float                    # residents.patience_trust_floor
    learning_rate: float
    late_experience: float
    repeat_share: float
    repeat_delay_hours: float
    closed_hotline: float
    distrust_hotline: float
    distrust_silent: float
    new_visits: int                 # the most visits one event can add (a repeat's stages and its call)


class World(NamedTuple):
    """Everything the journey reads and writes (journey.py), as arrays."""
    visit: records.Visits
    request: records.Requests
    unit: Units
    queue_first: np.ndarray         # per unit and priority rank
    queue_last: np.ndarray
    free: np.ndarray                # the units' rings of free staff (agent ids)
    staff: StaffChanges
    station: Stations
    calendar: cal.Calendar
    arrival: Arrivals
    trust: np.ndarray               # per household
    building: np.ndarray            # per household
    by_household: Findable
    by_building: Findable
    duty: Rosters
    option: Options
    rules: Rules
    count: np.ndarray               # journey.COUNTS
    on_duty: np.ndarray             # per role
    role_first: np.ndarray          # each role's first unit (and one past the last)
    handed_over: np.ndarray         # per priority rank: a queue the duty leader hands over (`journey.hand_over`)


_DRAWN: OrderedDict[tuple[str, int], City] = OrderedDict()    # the last cities drawn in this process
KEEP_CITIES, KEEP_HOUSEHOLDS = 4, 2_000_000


def drawn_city(scenario: Scenario, seed: int) -> City:
    """The scenario's city from `seed`, drawn once for the last few asked for in this process: a
    sweep's worker runs every point of a replicate on the same city (common random numbers), and
    drawing Meihekou's took 0.07 s of a 0.63 s 63-day run. Kept cities' arrays are read-only, so
    no run can change the next one's; cities over KEEP_HOUSEHOLDS, or on a map, are not kept."""
    inputs = city_inputs(scenario)
    if inputs is None:
        return build_city(scenario, stream(seed, "city"))
    key = (inputs, seed)
    if key in _DRAWN:
        _DRAWN.move_to_end(key)
        return _DRAWN[key]
    city = build_city(scenario, stream(seed, "city"))
    if city.households <= KEEP_HOUSEHOLDS:
        for value in vars(city).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        _DRAWN[key] = city
        while len(_DRAWN) > KEEP_CITIES:
            _DRAWN.popitem(last=False)
    return city


class GridModel(mesa.Model):
    """One city under one scenario (a `Scenario` or a bundled name or file), for `days` days, from one
    seed (`rng`, as Mesa names it).

    As Mesa expects: the DataCollector takes the census at construction and at
    every sample, `step()` simulates one day (Mesa's unit of time here, so on
    Mesa 3.5+ `model.time` counts days and `run_for`/`run_until` take days),
    and `running` turns False at the horizon. The step that reaches it derives
    the run's outputs (`result`, a `run.RunResult`) and takes one more row
    whose headline KPI columns (`kpis.HEADLINE`) are filled, so
    `mesa.batch_run` can return them. `run()` goes to the horizon at once and
    leaves the outputs to its caller (`run.simulate`).

    Households and staff are Mesa agents (made when the model's agents are first asked for); what
    the journey changes of them (trust, who is free) lives in the `world`'s arrays at their index.

    `check_load`: False leaves out the stability check (`overloaded` is then None) unless the
    scenario refuses overloaded runs: a calibration's run, whose targets never read it (17 ms of its
    0.3 s build).
    """

    @collector_paused()
    def __init__(self, scenario: Scenario | str = "meihekou_2020", rng: int | None = 0, days: float | None = None,
                 sample_minutes: float = 1440.0, city: City | None = None, check_load: bool = True):
        # earlier models first: a model refers to itself (Mesa's step), so only the collector frees
        # it, and it is paused while this one is built (a sweep's worker would hold two; a released
        # one still holds 20-25 MB, a 60-day Meihekou's). Only if there is one: a full collection
        # walks every object of the process, 60-90 ms of a first run's build for nothing to free
        if _MODELS:
            gc.collect()
        _MODELS.add(self)
        # the seed every random stream is spawned from (Mesa's `rng`; None: a fresh one, kept in `seed`)
        seed = int(np.random.SeedSequence().generate_state(1)[0]) if rng is None else int(rng)
        super().__init__(rng=seed)
        if not isinstance(scenario, Scenario):
            scenario = load(resolve_scenario(scenario))
        self.spec, self.seed = scenario, seed
        self.days = scenario.run.days if days is None else days
        self.horizon = self.days * 1440.0
        self.now = 0.0
        self._given_back = 0          # requests come forward when the records last went back to their file (`spill`)
        # (a city already drawn: a district of one, run as a city of its own, experiments.districts)
        self.city: City = drawn_city(scenario, seed) if city is None else city
        self.layout = layouts(scenario, self.city)
        self.unit_offset = dict(zip(ROLES, np.r_[0, np.cumsum([len(self.layout[r].members) for r in ROLES])].tolist()))
        self._number_agents()
        self._agents_waiting = True
        self.duty = {role: Duty.of(getattr(scenario.roles, role).shifts, self.horizon)
                     for role in ROLES if role != "alliance"}
        self.station_open = station_open(scenario, self.duty)     # when residents can walk in
        hotline = self.unit_offset["hotline"] if self.layout["hotline"].members.sum() else None
        check = check_load or scenario.run.refuse_overloaded
        # (the requests held by `_world` alone, which lets their draws go as it goes)
        self.world, planned = self._world(draw_requests(scenario, self.city, seed, self.horizon), hotline,
                                          sample_minutes, check)
        self.overloaded = overloaded_units(self, *planned) if planned is not None else None
        created = self.world.request.created[:self._count(journey.REQUESTS)]
        self._created_sorted, = spill.filed(np.sort(created), on_file=spill.pays(len(created)))
        spill.give_back(heap=spill.pays(len(created)))     # (what the build freed goes: a long run's loop needs less)
        self.result = None                    # the run's outputs, once `step` has reached the horizon
        self.datacollector = mesa.DataCollector(model_reporters={
            "time": "now", "created": "created", "resolved": "resolved", "abandoned": "abandoned",
            "waiting": "waiting", "in_service": "in_service", "unreported": "unreported",
            "trust": "mean_trust", **{name: partial(_kpi, name=name) for name in HEADLINE}})
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ build
    # The agents, made the first time anyone asks for the model's agents. The journey reads and
    # writes households and staff as arrays (`city`, `trust`, the units' free staff by id) and
    # never needs the objects: making Meihekou's 119,403 households was a third of a 63-day run
    # (0.945 s with, 0.63 s without), and its 6,500 staff 25 ms of a calibration's 0.6 s run, which
    # a sweep or a calibration paid on every run and never read. Staff come first, unit by unit
    # in the roles' order, so their ids (the visit records' `agent`) are consecutive from 1 and
    # known before any is made: `first_agent`.
    def _number_agents(self) -> None:
        """Each unit's first staff agent's id (-1: a unit without staff), as `_agents_made` gives them."""
        members = np.concatenate([self.layout[role].members for role in ROLES]).astype(np.int64)
        self.first_agent = np.where(members > 0, 1 + np.cumsum(members) - members, -1)

    @property
    def agents(self):
        self._agents_made()
        return super().agents

    @property
    def agents_by_type(self):
        self._agents_made()
        return super().agents_by_type

    @property
    def agent_types(self):
        self._agents_made()
        return super().agent_types

    def _agents_made(self) -> None:
        if self.__dict__.get("_agents_waiting"):
            self._agents_waiting = False
            unit = 0
            for role in ROLES:
                cls = agents.ROLE_AGENTS[role]
                for members in self.layout[role].members.tolist():
                    staff = [cls(self, unit) for _ in range(members)]
                    if staff and staff[0].unique_id != self.first_agent[unit]:
                        raise RuntimeError(f"Mesa numbered agent {staff[0].unique_id} where gridsim expected "
                                           f"{self.first_agent[unit]}: the visit records' agent ids would be wrong")
                    unit += 1
            for i in range(self.city.households):
                agents.Household(self, i)

    def units_of(self, role: str) -> range:
        """The role's units, as indices into the world's `unit` arrays."""
        return range(self.unit_offset[role], self.unit_offset[role] + len(self.layout[role].members))

    def _world(self, req: Requests, hotline: int | None, sample_minutes: float,
               check: bool) -> tuple[World, tuple[np.ndarray, np.ndarray] | None]:
        """The world the journey starts from, and each unit's planned work and visits (`stability`,
        if `check`). The requests are planned and recorded a window at a time (`Requests.windows`):
        their draws and plan are a window's, not the horizon's, at any one time (`benchmarks/memory.py`)."""
        sc = self.spec
        types = list(sc.requests.values())
        m = len(req)
        ranks = sorted({t.priority for t in types})
        rank = np.array([ranks.index(t.priority) for t in types], dtype=np.int8)
        home_types = [t.priority for t in types if t.home_visit]
        resident_type = np.array([t.origin == "resident" for t in types], dtype=bool)
        home_type = np.array([t.home_visit for t in types], dtype=bool)
        new_visits = max(len(t.stages) for t in types) + 2
        # room for every visit the plan could make (a reception and each stage a request): address
        # space, not memory, until written
        most = int(np.bincount(req.type, minlength=len(types)) @ np.array([len(t.stages) + 1 for t in types]))
        request_room = m + m // 8 + 256
        on_file = spill.pays(m)               # (a long run's records on a file, `spill`)
        visit = records.allocate(records.Visits, records.VISIT, 0, most + m // 4 + 1024 + new_visits, on_file)
        request = records.allocate(records.Requests, records.REQUEST, 0, request_room, on_file)
        # who and when, drawn up front, are the request records' own from here on, not a copy of them
        for name in WHO_AND_WHEN:
            spill.put(getattr(request, name)[:m], getattr(req, name))
        req = replace(req, type=request.type[:m], household=request.household[:m], created=request.created[:m])
        findable, neighbours = np.zeros(m, dtype=bool), np.zeros(m, dtype=bool)
        options: list[Options] = []
        load, n, given_back = None, 0, 0
        for window in req.windows():
            plan_ = plan(sc, self.city, window, self.layout, self.unit_offset, self.duty, self.horizon)
            window.planned()
            if check:
                work = planned_work(self, plan_, hotline)
                load = work if load is None else (load[0] + work[0], load[1] + work[1])
            p = dict(vars(plan_))      # held by this dict alone, so each goes once recorded
            del plan_, p["likely_pool"], p["likely_duration"]       # (the stability check's, done)
            n = self._recorded(p, window, n, visit, request, options, rank, home_type, resident_type)
            if window.hi - given_back >= spill.GIVE_BACK_EVERY or window.hi == m:
                spill.give_back()          # (what is recorded stays on the records' file)
                given_back = window.hi
            findable[window.lo:window.hi], neighbours[window.lo:window.hi] = p.pop("findable"), p.pop("neighbours_know")
            if p:
                raise TypeError(f"the plan's {sorted(p)} made no part of the world")
        del window
        req = replace(req, sections=())        # (the draws kept whole for the windows, done)
        visit = records.Visits(*(field[:n + m // 4 + 1024 + new_visits] for field in visit))  # the journey's room
        findable = np.flatnonzero(findable)       # what a home visit can find, in order of arising (a
        arising = findable[np.argsort(req.created[findable], kind="stable")]   # neighbour's among them)
        neighbours_know = arising[neighbours[arising]]
        del findable, neighbours
        visit_room = len(visit.request)
        report = request.own_report[:m]
        order = np.argsort(report, kind="stable")
        residents = sc.residents
        rules = Rules(
            horizon=self.horizon, cover_after=float(sc.roles.grid_leader.cover_after_minutes),
            meeting_capacity=int(sc.roles.alliance.capacity_per_meeting),
            hotline_unit=-1 if hotline is None else hotline, duty_leader_role=ROLES.index("duty_leader"),
            routine_rank=ranks.index(max(home_types)) if home_types else 1 << 30,
            floor=float(residents.patience_trust_floor), learning_rate=float(residents.learning_rate),
            late_experience=float(residents.late_experience), repeat_share=float(residents.repeat_share),
            repeat_delay_hours=float(residents.repeat_delay_hours),
            closed_hotline=float(residents.channels.closed_hotline),
            distrust_hotline=float(residents.channels.distrust_hotline),
            distrust_silent=float(residents.channels.distrust_silent), new_visits=new_visits)
        units, free, stations, changes, staff = self._units()
        events, on_duty = self._timetable(changes, sample_minutes)
        heap_room = cal.ENTRIES_PER_VISIT * visit_room + cal.ENTRIES_PER_REQUEST * request_room + 1
        role_first = np.array([self.unit_offset[r] for r in ROLES] + [len(units.role)], dtype=np.int64)
        rosters = self._rosters()
        count = np.zeros(len(journey.COUNTS), dtype=np.int64)
        count[journey.VISITS], count[journey.REQUESTS] = n, m
        option = joined(options)
        return World(
            visit=visit, request=request, unit=units, queue_first=np.full((len(units.role), len(ranks)), -1, dtype=np.int64),
            queue_last=np.full((len(units.role), len(ranks)), -1, dtype=np.int64), free=free, staff=staff, station=stations, calendar=cal.timetable(events, heap_room),
            arrival=Arrivals(*spill.filed(report[order], order.astype(np.int64), request.channel[order], on_file=on_file)),
            trust=np.full(self.city.households, residents.initial_trust), building=self.city.hh_building.astype(np.int64),
            by_household=Findable.of(arising, req.household, req.created, self.city.households),
            by_building=Findable.of(neighbours_know, self.city.hh_building[req.household],
                                    req.created, len(self.city.building_compound)),
            duty=rosters, option=option, rules=rules, count=count, on_duty=on_duty, role_first=role_first,
            handed_over=np.full(len(ranks), -1, dtype=np.int64)), load

    def _recorded(self, p: dict, window: Window, n: int, visit: records.Visits, request: records.Requests,
                  options: list, rank: np.ndarray, home_type: np.ndarray, resident_type: np.ndarray) -> int:
        """A window's plan (`p`, by `routes.Plan`'s fields, its visits and requests numbered within
        it) written into the records from visit `n` on, each of its arrays let go once written;
        its rows of alternative roles added to `options`. Returns the visits recorded."""
        lo, visits = window.lo, len(p["request"])
        by_visit = window.type[p["request"]]
        alternatives, keyed = self._options(p.pop("options"), p.pop("option_groups"))
        option = np.full(visits, -1, dtype=np.int32)
        option[keyed] = sum(len(o.wait) for o in options) + np.arange(len(keyed))
        options.append(alternatives)
        deadline = np.full(visits, INF)
        deadline[p["first"]] = p["report"] + p["patience"]
        home = np.where(home_type[by_visit], window.household[p["request"]], -1)
        nxt = p.pop("next")
        records.written(
            visit, records.VISIT, n, visits, option=option, rank=rank[by_visit], home=home,
            resident=resident_type[by_visit], deadline=deadline, request=p.pop("request") + lo, stage=p.pop("stage"),
            unit=p.pop("pool"), duration=p.pop("duration"), next=np.where(nxt >= 0, nxt + n, -1))
        del option, deadline, by_visit, home, nxt
        records.written(
            request, records.REQUEST, lo, len(window), kept=WHO_AND_WHEN, u_contact=window.u_contact,
            u_repeat=window.u_repeat, e_repeat=window.e_repeat,
            channel=p["channel"], first=p.pop("first") + n, last=p.pop("last") + n,
            **{field: p.pop(name) for field, name in (
                ("own_report", "report"), ("way", "channel"), ("call_minutes", "call_minutes"),
                ("patience", "patience"), ("first_wait", "first_wait"), ("sla", "sla"), ("a_hotline", "a_hotline"),
                ("a_silent", "a_silent"), ("found_skip", "found_skip"), ("found_unit", "found_pool"),
                ("found_triage", "found_triage"))})
        return n + visits

    @staticmethod
    def _options(by_visit: dict, groups: list) -> tuple[Options, np.ndarray]:
        """`Plan.options` (visit -> (group, row)) and `Plan.option_groups` as one row per such visit,
        and those visits."""
        rows = len(by_visit)
        width = max((len(alts) for _, alts in groups), default=1)
        out = Options(np.zeros(rows), np.full((rows, width), -1, dtype=np.int64),
                      np.full((rows, width), -1, dtype=np.int64), np.full((rows, width), np.nan))
        visits = np.fromiter(by_visit.keys(), dtype=np.int64, count=rows)
        if not rows:
            return out, visits
        keyed = np.array(list(by_visit.values()), dtype=np.int64).reshape(-1, 2)
        for g, (wait, alternatives) in enumerate(groups):
            mine = np.flatnonzero(keyed[:, 0] == g)
            row = keyed[mine, 1]
            out.wait[mine] = wait
            for a, (role, pools, durations) in enumerate(alternatives):
                out.role[mine, a] = role
                out.unit[mine, a] = np.asarray(pools, dtype=np.int64)[row]
                out.duration[mine, a] = np.asarray(durations, dtype=np.float64)[row]
        return out, visits

    def _units(self) -> tuple[Units, np.ndarray, Stations, list, StaffChanges]:
        """Every unit's places and empty queues, their free staff, the stations of colleagues, and
        the vacancies' changes of places ((time, change) and the changes), in the order they were
        always scheduled."""
        lay: dict[str, Layout] = self.layout
        members = np.concatenate([lay[r].members for r in ROLES]).astype(np.int64)
        count = len(members)
        first_agent = self.first_agent
        free = np.concatenate([np.arange(k) + a for k, a in zip(members.tolist(), first_agent.tolist())]
                              + [np.zeros(0)]).astype(np.int64)
        station = np.full(count, -1, dtype=np.int64)
        first_unit, station_units = [0], []
        if self.spec.roles.grid_leader.cover == "after":
            group = lay["grid_leader"].group
            for g in np.unique(group):
                mine = self.unit_offset["grid_leader"] + np.flatnonzero(group == g)
                station[mine] = len(first_unit) - 1
                station_units += mine.tolist()
                first_unit.append(len(station_units))
        changes, places, places_of = [], [], []
        for r in ROLES:
            full = lay[r].servers
            for period in getattr(getattr(self.spec.roles, r), "vacancies", ()):
                vacant = vacant_places(full, period.share)
                start, end = period.from_day * 1440, period.to_day * 1440
                for unit, (n, gone) in enumerate(zip(full.tolist(), vacant.tolist())):
                    if gone and start < self.horizon:
                        changes.append((start, len(places)))
                        places.append(n - gone)
                        places_of.append(self.unit_offset[r] + unit)
                        if end < self.horizon:
                            changes.append((end, len(places)))
                            places.append(n)
                            places_of.append(self.unit_offset[r] + unit)
        units = records.allocate(
            Units, UNIT, count, count, role=np.repeat(np.arange(len(ROLES)), [len(lay[r].members) for r in ROLES]),
            members=members, servers=np.concatenate([lay[r].servers for r in ROLES]),
            free_first=np.cumsum(members) - members, free_count=members, station=station, first_agent=first_agent)
        staff = records.allocate(StaffChanges, STAFF_CHANGE, len(places), len(places), unit=np.array(places_of, dtype=np.int64),
                                 places=np.array(places, dtype=np.int64))
        stations = Stations(np.array(first_unit, dtype=np.int64), np.array(station_units, dtype=np.int64),
                            np.full(len(first_unit) - 1, -1, dtype=np.int64),
                            np.full(len(first_unit) - 1, -1, dtype=np.int64))
        return units, free, stations, changes, staff

    def _timetable(self, changes: list, sample_minutes: float) -> tuple[list, np.ndarray]:
        """Events known before the run, in the order they are scheduled (which breaks ties): shift
        changes role by role, vacancies, alliance meetings, daily samples; and who is on duty at 0."""
        events = []
        on_duty = np.ones(len(ROLES), dtype=np.bool_)
        for r, role in enumerate(ROLES):
            if role == "alliance" or always_on(getattr(self.spec.roles, role).shifts):
                continue
            on_duty[r] = False
            duty = self.duty[role]
            for start, end in zip(duty.starts.tolist(), duty.ends.tolist()):
                events += [(start, SHIFT, 2 * r + 1), (end, SHIFT, 2 * r)]
        events += [(t, STAFF, k) for t, k in changes]
        al = self.spec.roles.alliance
        first = self.unit_offset["alliance"]
        for a in range(al.count):
            # meetings are staggered so the alliances do not all sit on the same day
            t = (a + 1) * al.meeting_interval_days * 1440 / al.count
            while t <= self.horizon:
                events.append((t, MEETING, first + a))
                t += al.meeting_interval_days * 1440
        events += [(float(t), SAMPLE, 0) for t in np.arange(0.0, self.horizon + 1e-9, sample_minutes)[1:]]
        return events, on_duty

    def _rosters(self) -> Rosters:
        starts, ends, before, first = [], [], [], [0]
        for role in ROLES:
            duty = self.duty.get(role, Duty(np.zeros(0), np.zeros(0)))
            starts.append(duty.starts)
            ends.append(duty.ends)
            before.append(np.r_[0.0, np.cumsum(duty.ends - duty.starts)][:-1])
            first.append(first[-1] + len(duty.starts))
        return Rosters(np.concatenate(starts).astype(np.float64), np.concatenate(ends).astype(np.float64),
                       np.concatenate(before).astype(np.float64), np.array(first, dtype=np.int64),
                       self.station_open.starts.astype(np.float64), self.station_open.ends.astype(np.float64))

    def _make_room(self) -> None:
        """The records are nearly full (repeats and calls to 12345 added more than their headroom):
        twice the room, and the calendar's with it."""
        w = self.world
        visits, requests = int(w.count[journey.VISITS]), int(w.count[journey.REQUESTS])
        visit_room, request_room = 2 * len(w.visit.request), 2 * len(w.request.type)
        self.world = w._replace(
            visit=records.grown(w.visit, visits, visit_room), request=records.grown(w.request, requests, request_room),
            calendar=cal.grown(w.calendar, cal.ENTRIES_PER_VISIT * visit_room
                               + cal.ENTRIES_PER_REQUEST * request_room + 1))

    # ------------------------------------------------------------------ census
    def _count(self, k: int) -> int:
        return int(self.world.count[k])

    @property
    def trust(self) -> np.ndarray:
        """Each household's trust (what residents remember)."""
        return self.world.trust

    @property
    def resolved(self) -> int:
        return self._count(journey.RESOLVED)

    @property
    def abandoned(self) -> int:
        return self._count(journey.ABANDONED)

    @property
    def created(self) -> int:
        return int(np.searchsorted(self._created_sorted, self.now, side="right")) + self._count(journey.REPEATS)

    @property
    def waiting(self) -> int:
        """Visits waiting in any queue or routine list."""
        u = self.world.unit
        return int(u.queued.sum() - u.stale.sum() + u.routine.sum())

    @property
    def in_service(self) -> int:
        return int(self.world.unit.busy.sum())

    @property
    def reported(self) -> int:
        """Arrivals that reached someone (not found earlier, not silent), problems found on visits,
        and repeats that reached someone."""
        c = self.world.count
        return int(c[journey.NEXT_ARRIVAL] - c[journey.SKIPPED] - c[journey.SILENT_N] + c[journey.FOUND]
                   + c[journey.REPEATS] - c[journey.REPEATS_SILENT])

    @property
    def mean_trust(self) -> float:
        return float(self.world.trust.mean())

    @property
    def unreported(self) -> int:
        return self.created - self.reported

    def release_records(self) -> None:
        """Let the visit and request records go as their tables are made (`metrics.tables` with
        `release`): they and the tables are a city-year's 250 MB each, and the summary's tallies come
        after (`run.simulate`, whose model goes when it returns). What only the journey reads goes
        with them: its calendar (the pages its heap ever used), the arrivals and what home visits
        can find (30 MB of a city-year's). The census still reads the units and the counts. The
        model makes no tables, and takes no step, after."""
        self.world = self.world._replace(visit=None, request=None, calendar=None, arrival=None, by_household=None,
                                         by_building=None)

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        """Run to the horizon."""
        self.advance(self.horizon)

    def step(self) -> None:
        """Simulate one day; the step that reaches the horizon also derives the run's outputs and
        collects the row that carries its KPIs (later steps change nothing)."""
        self.advance(min(self.horizon, self.now + 1440.0))
        if not self.running and self.result is None:
            from .run import results          # here: run.py imports this module
            self.result = results(self)
            self.datacollector.collect(self)

    def advance(self, until: float) -> None:
        """Handle every event and every request coming forward up to `until` (minutes): the
        journey's compiled loop, stopping for each daily census (taken here, by Mesa's
        DataCollector) and when its records need more room."""
        while True:
            stopped, t = journey.advance(self.world, min(until, self.now + spill.CHECK_DAYS * 1440))
            came = int(self.world.count[journey.NEXT_ARRIVAL])
            if came - self._given_back >= spill.GIVE_BACK_EVERY:
                spill.give_back()
                self._given_back = came
            if stopped == journey.SAMPLED:
                self.now = t
                self.datacollector.collect(self)
            elif stopped == journey.FULL:
                self._make_room()
            elif t < until:
                self.now = t
            else:
                break
        self.now = until
        self.running = until < self.horizon


def _kpi(model: GridModel, name: str) -> float | None:
    """A headline KPI of the finished run (None before the horizon): a DataCollector reporter."""
    return None if model.result is None else model.result.kpi(name)
