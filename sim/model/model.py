"""GridModel: the Mesa model of one city, driven by a small event calendar.

Nothing is stepped per tick. Requests come forward from a pre-drawn, sorted
stream; the calendar holds the ends of visits, cover checks, shift changes,
alliance meetings and daily samples. Cost grows with the number of requests,
not with agents x time. How a request travels through the model is in
`journey.py`; this module builds the model's state and runs the fast loop.
"""

from __future__ import annotations

import gc
import math
from array import array
from contextlib import contextmanager
from functools import partial
from collections import deque
from bisect import bisect_left, bisect_right
from heapq import heappop, heappush
from operator import attrgetter

import mesa
import numpy as np

from ..city import City, build_city
from ..scenario import ROLES, Scenario, load, resolve_scenario
from . import agents
from .calendar import COVER, END, GIVE_UP, MEETING, SAMPLE, SHIFT, STAFF, Calendar, ShiftChange, StaffChange
from .journey import Journey, pick, weights
from .kpis import HEADLINE
from .requests import Requests, draw_requests, stream
from .routes import HOTLINE, Plan, plan, station_open
from .shifts import Duty, always_on
from .stability import overloaded_units
from .units import Pool, layouts, vacant_places

INF = math.inf


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

    `fast=False` runs the readable journey (`journey.Journey.run`) instead of
    the inlined loop; both give the same records.
    """

    @collector_paused()
    def __init__(self, scenario: Scenario | str = "meihekou_2020", rng: int | None = 0, days: float | None = None,
                 sample_minutes: float = 1440.0, fast: bool = True):
        # earlier models first: a model and its agents refer to each other, so only the collector
        # frees them, and it is paused while this one is built (a sweep's worker would hold two)
        gc.collect()
        # the seed every random stream is spawned from (Mesa's `rng`; None: a fresh one, kept in `seed`)
        seed = int(np.random.SeedSequence().generate_state(1)[0]) if rng is None else int(rng)
        super().__init__(rng=seed)
        if not isinstance(scenario, Scenario):
            scenario = load(resolve_scenario(scenario))
        self.spec, self.seed, self.fast = scenario, seed, fast
        self.days = scenario.run.days if days is None else days
        self.horizon = self.days * 1440.0
        self.now = 0.0
        self.city: City = build_city(scenario, stream(seed, "city"))
        requests = draw_requests(scenario, self.city, seed, self.horizon)
        self.layout = layouts(scenario, self.city)
        self.calendar = Calendar()
        self._build_agents()
        self.duty = {role: Duty.of(getattr(scenario.roles, role).shifts, self.horizon)
                     for role in ROLES if role != "alliance"}
        self.station_open = station_open(scenario, self.duty)     # when residents can walk in
        routes = plan(scenario, self.city, requests, self.layout, self.pool_offset, self.duty, self.horizon)
        self.overloaded = overloaded_units(self, routes)
        self._init_state(routes, requests)
        self._schedule_shifts_and_meetings()
        for t in np.arange(0.0, self.horizon + 1e-9, sample_minutes)[1:]:
            self.calendar.schedule(float(t), SAMPLE)
        self.calendar.fix()
        self.journey = Journey(self)
        self.resolved = self.abandoned = 0
        self.result = None                    # the run's outputs, once `step` has reached the horizon
        self.datacollector = mesa.DataCollector(model_reporters={
            "time": "now", "created": "created", "resolved": "resolved", "abandoned": "abandoned",
            "waiting": "waiting", "in_service": "in_service", "unreported": "unreported",
            "trust": "mean_trust", **{name: partial(_kpi, name=name) for name in HEADLINE}})
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ build
    def _build_agents(self) -> None:
        """Households, then one pool per unit of each role, staffed by that role's agents."""
        for i in range(self.city.households):
            agents.Household(self, i)
        self.pools: list[Pool] = []
        self.pools_by_role: list[list[Pool]] = [[] for _ in ROLES]
        self.pool_offset: dict[str, int] = {}
        for r, role in enumerate(ROLES):
            lay = self.layout[role]
            self.pool_offset[role] = len(self.pools)
            cls = agents.ROLE_AGENTS[role]
            for unit, (members, servers) in enumerate(zip(lay.members.tolist(), lay.servers.tolist())):
                pool = Pool(len(self.pools), r, unit, servers)
                pool.members = [cls(self, pool) for _ in range(members)]
                pool.free.extend(pool.members)
                self.pools.append(pool)
                self.pools_by_role[r].append(pool)
        gl = self.spec.roles.grid_leader
        if gl.cover == "after":
            mine = self.pools_by_role[ROLES.index("grid_leader")]
            group = self.layout["grid_leader"].group
            for g in np.unique(group):
                station, overdue = [mine[u] for u in np.flatnonzero(group == g)], deque()
                for pool in station:
                    pool.colleagues = tuple(p for p in station if p is not pool)
                    pool.overdue = overdue
        self.cover_after = gl.cover_after_minutes
        self.meeting_capacity = self.spec.roles.alliance.capacity_per_meeting
        self.hotline_role, self.station_head_role = ROLES.index("hotline"), ROLES.index("station_head")
        self.duty_leader_role = ROLES.index("duty_leader")
        self.hotline_pool = self.pools[self.pool_offset["hotline"]] if self.layout["hotline"].members.sum() else None
        self.routine_priority = max((t.priority for t in self.spec.requests.values() if t.home_visit), default=INF)

    def _init_state(self, p: Plan, req: Requests) -> None:
        """The flat per-visit and per-request lists the journey reads and writes.

        Two encodings let the fast loop tell the common case by one number:
        `v_next[v]` is the next visit (>= 0), -1 after the last, or -2 - next
        where the journey must hand it on (a stage of several roles, or a
        hotline call); `arrival_first[i]` is the first visit of the i-th
        request to come forward, or -1 - it where the journey must report it
        (a resident's choice of channel or trust-dependent patience, or a stage
        of several roles).
        `v_deadline` is when nobody will start the visit any more (the
        resident gives up: a GIVE_UP event), -inf once a colleague has taken
        it from this queue; a queue entry whose deadline has come is void.
        `v_start` and `r_reported` are nan until set; `r_reported` is set whenever
        the journey's `report` handles a request; the fast loop reports the rest
        (routine work) at their planned time without writing it.

        Per-request lists are arrays that grow: a resident who gave up and comes
        back is a new request (a repeat) appended with copies of its original's
        visits (`Journey.come_back`).
        """
        sc = self.spec
        types = list(sc.requests.values())
        by_visit = req.type[p.request]
        pools = np.empty(len(self.pools) + 1, dtype=object)
        pools[:-1] = self.pools                       # index -1: None, chosen when the stage is reached
        n, m = len(p.request), len(req)
        journey_decides = p.pool == -1                # stages of several roles
        nxt = p.next.copy()
        slow = (nxt >= 0) & journey_decides[np.maximum(nxt, 0)]
        nxt[slow] = -2 - nxt[slow]
        deadline = np.full(n, INF)
        deadline[p.first] = p.report + p.patience
        resident_type = np.array([t.origin == "resident" for t in types], dtype=bool)
        self.v_pool = pools[p.pool].tolist()
        self.v_duration = _array("d", p.duration)
        self.v_next = _array("q", nxt)
        self.v_request = _array("q", p.request)
        self.v_stage = _array("q", p.stage)
        self.v_options, self.option_groups = p.options, p.option_groups
        self.v_priority = np.array([t.priority for t in types])[by_visit].tolist()
        home = np.array([t.home_visit for t in types], dtype=bool)[by_visit]
        self.v_home = _array("q", np.where(home, req.household[p.request], -1))   # the household visited
        self.v_resident = resident_type[by_visit].tolist()
        self.v_deadline = _array("d", deadline)
        self.v_start = _array("d", np.full(n, np.nan))     # nan until started
        self.v_agent: list = [None] * n
        self.r_reported = _array("d", np.full(m, np.nan))  # nan until the journey reports it
        self.r_channel = p.channel.tolist()
        self.r_way = _array("b", p.channel)                # the way planned for the resident (kept for repeats)
        self.r_silent = _array("b", np.zeros(m))          # chose to say nothing when the problem was ripe
        self.r_lapse = _array("d", np.full(m, INF))       # a silent problem: when its resident gives up on it
        self.r_own_report = _array("d", p.report)
        self.r_first, self.r_last = _array("q", p.first), _array("q", p.last)
        self.r_hotline = _array("q", np.full(m, -1))     # the visit of its call to 12345, once made
        self.r_call_minutes = _array("f", p.call_minutes)
        self.r_patience = _array("d", p.patience)
        self.r_first_wait = _array("d", p.first_wait)
        self.r_created = _array("d", req.created)
        self.r_household = _array("q", req.household)
        self.r_sla = _array("d", p.sla)
        self.r_repeat_of = _array("q", np.full(m, -1))   # for a repeat: the request its resident gave up on
        self.r_a_hotline, self.r_a_silent = _array("f", p.a_hotline), _array("f", p.a_silent)
        self.r_u_contact, self.r_u_repeat = _array("f", req.u_contact), _array("f", req.u_repeat)
        self.r_e_repeat = _array("f", req.e_repeat)
        self.r_type = _array("b", req.type)
        self.found_skip, self.found_pool, self.found_triage = p.found_skip, p.found_pool, p.found_triage
        self.skipped_visits: list[int] = []               # receptions a home visit made unnecessary
        self._created_sorted = _array("d", np.sort(req.created))
        # requests come forward in this order; what the loop needs of each is laid out in that order too
        order = np.argsort(p.report, kind="stable")
        first = p.first[order]
        resident = self.spec.residents
        choosing = (np.isfinite(p.a_hotline) | np.isfinite(p.a_silent)
                    | (resident_type[req.type] & (resident.patience_trust_floor < 1)))[order]
        decides = journey_decides[first] | choosing
        self.arrival_time = _array("d", p.report[order])
        self.arrival_request = _array("q", order)
        self.arrival_first = _array("q", np.where(decides, -1 - first, first))
        self.arrival_channel = p.channel[order].tolist()
        self.next_arrival = self.found = self.skipped = self.silent = self.repeats = self.repeats_silent = 0
        # what residents remember: one trust a household (read through the Household agents)
        self.trust = _array("d", np.full(self.city.households, resident.initial_trust))
        # what a home visit can find: per household, and per building, requests in order of arising
        self.hh_building = _array("q", self.city.hh_building)
        self.hh_findable = _Findable.of(np.flatnonzero(p.findable), req.household, req.created,
                                        self.city.households)
        self.building_findable = _Findable.of(np.flatnonzero(p.neighbours_know), self.city.hh_building[req.household],
                                              req.created, len(self.city.building_compound))

    def _schedule_shifts_and_meetings(self) -> None:
        self.on_duty = [True] * len(ROLES)
        self._duty_starts, self._duty_ends = [[] for _ in ROLES], [[] for _ in ROLES]
        self._duty_before = [[] for _ in ROLES]        # minutes on duty before each interval starts
        for r, role in enumerate(ROLES):
            if role == "alliance":
                continue
            shifts = getattr(self.spec.roles, role).shifts
            duty = self.duty[role]
            self._duty_starts[r], self._duty_ends[r] = duty.starts.tolist(), duty.ends.tolist()
            self._duty_before[r] = np.r_[0.0, np.cumsum(duty.ends - duty.starts)][:-1].tolist()
            if always_on(shifts):
                continue
            self.on_duty[r] = False
            for start, end in zip(self._duty_starts[r], self._duty_ends[r]):
                self.calendar.schedule(start, SHIFT, ShiftChange(r, True))
                self.calendar.schedule(end, SHIFT, ShiftChange(r, False))
        for r, role in enumerate(ROLES):
            self._schedule_vacancies(role)
        al = self.spec.roles.alliance
        first = self.pool_offset["alliance"]
        for a in range(al.count):
            # meetings are staggered so the alliances do not all sit on the same day
            t = (a + 1) * al.meeting_interval_days * 1440 / al.count
            while t <= self.horizon:
                self.calendar.schedule(t, MEETING, self.pools[first + a])
                t += al.meeting_interval_days * 1440

    def _schedule_vacancies(self, role: str) -> None:
        """Each vacancy period of a role empties its share of the role's places (`vacant_places`)."""
        vacancies = getattr(getattr(self.spec.roles, role), "vacancies", ())
        if not vacancies:
            return
        pools = self.pools_by_role[ROLES.index(role)]
        places = np.array([p.servers for p in pools])
        for period in vacancies:
            vacant = vacant_places(places, period.share)
            start, end = period.from_day * 1440, period.to_day * 1440
            for pool, full, gone in zip(pools, places.tolist(), vacant.tolist()):
                if gone and start < self.horizon:
                    self.calendar.schedule(start, STAFF, StaffChange(pool, full - gone))
                    if end < self.horizon:
                        self.calendar.schedule(end, STAFF, StaffChange(pool, full))

    def cover_time(self, role: int, t: float) -> float:
        """When a request queued at t will have waited `cover_after` minutes while `role` was on duty."""
        starts, ends, before = self._duty_starts[role], self._duty_ends[role], self._duty_before[role]
        i = bisect_right(starts, t)
        done = 0.0 if i == 0 else before[i - 1] + min(t - starts[i - 1], ends[i - 1] - starts[i - 1])
        target = done + self.cover_after
        j = bisect_left(before, target) - 1            # the interval in which the target is reached
        if j >= len(starts) or target > before[j] + ends[j] - starts[j]:
            return INF
        return starts[j] + (target - before[j])

    def next_on(self, role: int, t: float) -> float:
        """The first moment at or after t when `role` is on duty (inf: not before the horizon)."""
        ends = self._duty_ends[role]
        i = bisect_right(ends, t)
        return INF if i == len(ends) else max(t, self._duty_starts[role][i])

    # ------------------------------------------------------------------ census
    @property
    def created(self) -> int:
        return bisect_right(self._created_sorted, self.now) + self.repeats

    @property
    def waiting(self) -> int:
        """Visits waiting in any queue or routine list (each pool's lists are never replaced, so
        the census sums them in C: a day's sample would otherwise cost a Python pass over 2,000 pools)."""
        pools = self.pools
        return (sum(map(len, map(attrgetter("queue"), pools))) - sum(map(attrgetter("stale"), pools))
                + sum(map(len, map(attrgetter("routine"), pools))))

    @property
    def in_service(self) -> int:
        return sum(map(attrgetter("busy"), self.pools))

    @property
    def reported(self) -> int:
        """Arrivals that reached someone (not found earlier, not silent), problems found on visits,
        and repeats that reached someone."""
        return self.next_arrival - self.skipped - self.silent + self.found + self.repeats - self.repeats_silent

    @property
    def mean_trust(self) -> float:
        return float(np.frombuffer(self.trust, dtype=np.float64).mean())

    @property
    def unreported(self) -> int:
        return self.created - self.reported

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

    @collector_paused()
    def advance(self, until: float) -> None:
        """Handle every event and every request coming forward up to `until` (minutes).

        The journey's two hot paths, a request coming forward and a visit
        ending, are written out inline (its `report`/`contact`/`arrive`/`start`
        and `end`/`next_in_line`, and `look_around`'s first look); everything
        rarer (12345, silence, a stage of several roles, a home visit that
        finds something) calls the journey's own handlers. At a million
        requests a year the calls alone would cost a third of the loop.
        `tests/functional/test_mechanisms.py` pins this loop to `Journey.run`
        record for record.
        """
        if not self.fast:
            self.journey.run(until)
            self.running = until < self.horizon
            return
        J = self.journey
        calendar = self.calendar
        heap, seq, fixed = calendar.heap, calendar.seq, calendar.fixed
        push, pop = heappush, heappop
        arrival_time, arrival_request, arrival_first = self.arrival_time, self.arrival_request, self.arrival_first
        n_arrivals = len(arrival_time)
        v_pool, v_duration, v_priority, v_next = self.v_pool, self.v_duration, self.v_priority, self.v_next
        v_deadline, v_start, v_agent = self.v_deadline, self.v_start, self.v_agent
        v_home, v_resident, r_reported = self.v_home, self.v_resident, self.r_reported
        on_duty, cover_time, next_on, handlers, horizon = (
            self.on_duty, self.cover_time, self.next_on, J.handlers, self.horizon)
        i, resolved, abandoned = self.next_arrival, self.resolved, self.abandoned
        v_request, r_repeat_of, r_household, r_own_report, r_sla = (
            self.v_request, self.r_repeat_of, self.r_household, self.r_own_report, self.r_sla)
        trust, learning_rate = self.trust, self.spec.residents.learning_rate
        v_options, arrival_channel, r_channel = self.v_options, self.arrival_channel, self.r_channel
        r_a_hotline, r_a_silent, r_u_contact, r_first_wait = (
            self.r_a_hotline, self.r_a_silent, self.r_u_contact, self.r_first_wait)
        r_patience, floor, channels = self.r_patience, self.spec.residents.patience_trust_floor, J.channels
        hh_due, building_due, hh_building = self.hh_findable.due, self.building_findable.due, self.hh_building
        late_experience = self.spec.residents.late_experience

        while True:
            t_arrival = arrival_time[i] if i < n_arrivals else INF
            limit = t_arrival if t_arrival < until else until
            while heap and heap[0][0] <= limit:      # the calendar first: ties go to it
                t, s, kind, v = pop(heap)
                if kind != END:
                    if s < fixed:                     # from the timetable: its next one joins the heap
                        calendar.feed()
                    if (kind == GIVE_UP or kind == COVER) and v_start[v] == v_start[v]:
                        continue                      # started meanwhile: nobody to cover, nobody gives up
                    self.next_arrival, self.resolved, self.abandoned = i, resolved, abandoned
                    handlers[kind](v, t)
                    resolved, abandoned = self.resolved, self.abandoned
                    continue
                pool, agent, nxt = v_pool[v], v_agent[v], v_next[v]
                if nxt >= 0:                          # `hand_on` and `arrive`, inlined
                    there = v_pool[nxt]
                    if there.busy < there.servers and on_duty[there.role]:
                        there.busy += 1
                        v_start[nxt], v_agent[nxt] = t, there.free.popleft()
                        push(heap, (t + v_duration[nxt], next(seq), END, nxt))
                    else:                             # (a later stage: no deadline)
                        push(there.queue, (v_priority[nxt], next(seq), nxt))
                        if there.colleagues and v_resident[nxt]:
                            push(heap, (cover_time(there.role, t), next(seq), COVER, nxt))
                elif nxt == -1:
                    resolved += 1
                    if v_resident[v]:
                        r = v_request[v]
                        if r_repeat_of[r] < 0:        # `resolved` and `remember`, inlined (not a repeat)
                            h, told = r_household[r], r_reported[r]
                            if told != told:          # (reported by the loop without a choice: as planned)
                                told = r_own_report[r]
                            felt = 1.0 if t - told <= r_sla[r] else late_experience
                            trust[h] = trust[h] + learning_rate * (felt - trust[h])
                        else:
                            J.resolved(v, t)
                else:
                    J.hand_on(v, t)
                if not on_duty[pool.role] or pool.busy > pool.servers:     # off duty, or a vacancy began
                    pool.busy -= 1
                    pool.free.append(agent)
                elif pool.overdue:                    # colleagues' overdue requests: the journey
                    self.abandoned = abandoned
                    J.next_in_line(pool, agent, t)
                    abandoned = self.abandoned
                else:                                 # `next_in_line`, inlined
                    queue = pool.queue
                    while queue:
                        w = pop(queue)[2]
                        if v_deadline[w] <= t:        # void: the resident gave up, or a colleague took it
                            pool.stale -= 1
                            continue
                        v_start[w], v_agent[w] = t, agent
                        push(heap, (t + v_duration[w], next(seq), END, w))
                        h = v_home[w]
                        if h >= 0 and (hh_due[h] <= t or building_due[hh_building[h]] <= t):   # finds something
                            J.look_around(h, t)
                        break
                    else:
                        routine = pool.routine        # `take`'s routine visits, inlined
                        while routine:
                            w = routine.popleft()
                            if v_deadline[w] < t:
                                abandoned += 1        # not made before the next one fell due: dropped
                                continue
                            v_start[w], v_agent[w] = t, agent
                            push(heap, (t + v_duration[w], next(seq), END, w))
                            h = v_home[w]
                            if hh_due[h] <= t or building_due[hh_building[h]] <= t:
                                J.look_around(h, t)
                            break
                        else:
                            pool.busy -= 1
                            pool.free.append(agent)
            if t_arrival > until:
                break
            r, v = arrival_request[i], arrival_first[i]
            i += 1
            if r_reported[r] == r_reported[r]:        # not nan: a home visit found it first
                self.skipped += 1
                continue
            if v < 0:                                 # `report`, inlined where the grid is chosen
                v, channel = -1 - v, arrival_channel[i - 1]
                if v in v_options:                    # a stage of several roles: the journey chooses
                    self.next_arrival = i
                    J.report(r, t_arrival, channel)
                    continue
                pool, h = v_pool[v], r_household[r]
                a_hotline, a_silent = r_a_hotline[r], r_a_silent[r]
                if a_hotline != -INF or a_silent != -INF:     # `contact`: the grid, 12345 or silence
                    closed = (a_hotline != -INF and not on_duty[pool.role]
                              and next_on(pool.role, t_arrival) - t_arrival > r_first_wait[r])
                    choice = pick(r_u_contact[r], *weights(channels, a_hotline, a_silent, trust[h], closed))
                    if choice:                        # 12345 or silence: the journey
                        self.next_arrival = i
                        (J.phone if choice == HOTLINE else J.keep_silent)(r, t_arrival)
                        continue
                r_reported[r], r_channel[r] = t_arrival, channel
                v_deadline[v] = t_arrival + (r_patience[r] if floor == 1.0 or not v_resident[v]   # `patience`
                                             else r_patience[r] * (floor + (1.0 - floor) * trust[h]))
            pool = v_pool[v]
            if pool.busy < pool.servers and on_duty[pool.role]:     # `report` and `arrive`, inlined
                pool.busy += 1
                v_start[v], v_agent[v] = t_arrival, pool.free.popleft()
                push(heap, (t_arrival + v_duration[v], next(seq), END, v))
                h = v_home[v]
                if h >= 0 and (hh_due[h] <= t_arrival or building_due[hh_building[h]] <= t_arrival):
                    J.look_around(h, t_arrival)
            elif v_home[v] >= 0:                      # `wait`: a routine visit goes on the routine list
                pool.routine.append(v)
            else:
                push(pool.queue, (v_priority[v], next(seq), v))
                if pool.colleagues and v_resident[v]:
                    push(heap, (cover_time(pool.role, t_arrival), next(seq), COVER, v))
                if v_deadline[v] <= horizon:
                    push(heap, (v_deadline[v], next(seq), GIVE_UP, v))
        self.next_arrival, self.resolved, self.abandoned = i, resolved, abandoned
        self.now = until
        self.running = until < self.horizon


def _kpi(model: GridModel, name: str) -> float | None:
    """A headline KPI of the finished run (None before the horizon): a DataCollector reporter."""
    return None if model.result is None else model.result.kpi(name)


class _Findable:
    """What home visits can find, per household (or building): the requests in order of arising,
    each group ended by a sentinel that never arises, a pointer per group to the first request a
    visit has not yet looked at, and when that one arises (`due`: one look tells a visit that finds
    nothing). Arrays, not lists, and each request's time of arising stored beside its id: home
    visits jump around the city, and contiguous memory keeps that fast."""
    __slots__ = ("request", "created", "next", "due")

    def __init__(self, request: array, created: array, next: array, due: array):
        self.request, self.created, self.next, self.due = request, created, next, due

    @classmethod
    def of(cls, rows: np.ndarray, key: np.ndarray, created: np.ndarray, groups: int) -> "_Findable":
        k = key[rows]
        order = np.lexsort((created[rows], k))
        counts = np.bincount(k, minlength=groups)
        starts = np.cumsum(counts + 1) - (counts + 1)          # each group has one more slot: its sentinel
        ids = np.full(len(rows) + groups, -1, dtype=np.int64)
        when = np.full(len(rows) + groups, np.inf)
        position = np.repeat(starts, counts) + (np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts))
        ids[position], when[position] = rows[order], created[rows[order]]
        return cls(_array("q", ids), _array("d", when), _array("q", starts), _array("d", when[starts]))


_DTYPES = {"q": np.int64, "d": np.float64, "f": np.float32, "b": np.int8}


def _array(kind: str, values: np.ndarray) -> array:
    """A numpy array as a Python `array` ("q": int64, "d": float64, "b": int8): contiguous, and far
    quicker to build and lighter than a list of a million Python numbers, at the same indexing speed
    ("f": float32, for numbers a choice compares with, where the last digits do not matter)."""
    out = array(kind)
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=_DTYPES[kind])).cast("B"))   # one copy, not two
    return out
