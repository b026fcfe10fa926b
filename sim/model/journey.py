"""A request's journey, one small handler per step: the place to learn how the model works.

    problem arises ──(reporting delay)──> comes forward ──> stage 1 ──> stage 2 ... ──> resolved
         │                                   │   │             │
         │  a home visit finds it first ─────┘   │             └─ nobody started before the
         │  (household, or building if the       │                resident's patience ran out:
         │   neighbours know)                    │                abandoned
         │                                       └─ handler off duty: some residents call
         └─ the building leader hears sooner        12345, which hands it to the grid for
            (if the subsidy buys their time)        its next working period

At each stage, `arrive` chooses the handler among the stage's roles by who
is on duty (`choose`); a free handler on duty `start`s at once, otherwise the
visit `wait`s in the unit's queue (by priority, then first come first
served). When a visit `end`s, the request is `hand`ed `on` to its next stage
or resolved, and the handler takes the `next_in_line`: from its own queue,
or, under the "after" cover rule, the oldest resident's request that has
waited `cover_after` minutes on duty at a colleague's grid (the station's
overdue list), when it is more urgent than their own next visit. A waiting
resident whose patience runs out `give`s `up` at that moment (their trust
falls then, even if the office is shut); their entry in the queue is void
and skipped when met. A grid leader's routine home visit `look`s
`around` when it starts and reports what it finds.

`GridModel.advance` runs the same steps with the two hot paths (a request
coming forward, a visit ending) written inline for speed; a test runs both
on the same scenario and compares every visit record. The handlers here work
on the model's flat per-visit and per-request lists (`routes.Plan` holds the
static part of each journey).
"""

from __future__ import annotations

from heapq import heappop, heappush
from math import exp, isnan

from .calendar import COMEBACK, COVER, END, GIVE_UP, MEETING, SAMPLE, SHIFT, STAFF, ShiftChange, StaffChange
from .routes import HOTLINE, HOTLINE_STAGE, SILENT, VISIT, WALK_IN

INF = float("inf")


def remember(trust: float, felt: float, rate: float) -> float:
    """Trust after an experience `felt` (1: resolved on time, `late_experience`: late, 0: let down):
    it moves `rate` of the way towards it (expectation-disconfirmation, exponential smoothing), so
    it stays within [0, 1] and forgets old experiences geometrically."""
    return trust + rate * (felt - trust)


def weights(channels, a_hotline: float, a_silent: float, trust: float, closed: bool) -> tuple[float, float]:
    """exp(utility) of 12345 and of silence, the grid's being 1 (`Journey.contact_chances`)."""
    e_hotline = e_silent = 0.0
    if a_hotline > -INF:
        e_hotline = exp(a_hotline + channels.closed_hotline * closed + channels.distrust_hotline * (1.0 - trust))
    if a_silent > -INF and trust < 1.0:
        e_silent = exp(a_silent) * (1.0 - trust) ** channels.distrust_silent
    return e_hotline, e_silent


def pick(u: float, e_hotline: float, e_silent: float) -> int:
    """The upper level's outcome for the request's uniform u and the `weights`: the grid (0),
    HOTLINE or SILENT, in the order of `Journey.contact_chances`."""
    total = 1.0 + e_hotline + e_silent
    grid = 1.0 / total
    return 0 if u < grid else (HOTLINE if u < grid + e_hotline / total else SILENT)


class Journey:
    def __init__(self, model):
        self.m = model
        self.handlers = {END: self.end, COVER: self.cover, SHIFT: self.shift, MEETING: self.meeting,
                         SAMPLE: self.sample, COMEBACK: self.come_back, STAFF: self.staff,
                         GIVE_UP: self.give_up}
        self.residents = model.spec.residents
        self.channels = model.spec.residents.channels

    # ------------------------------------------------------------------ coming forward
    def come_forward(self, r: int, t: float, channel: int) -> None:
        """The resident (or their building leader) reports problem r, unless a home visit found it first."""
        m = self.m
        if isnan(m.r_reported[r]):
            self.report(r, t, channel)
        else:
            m.skipped += 1

    def report(self, r: int, t: float, channel: int) -> None:
        """Problem r is ripe at t. A resident coming forward themselves chooses between the grid (by
        the way planned for them), the 12345 hotline and silence; a building leader or a home visit
        brings it to the grid."""
        m = self.m
        if channel == VISIT:
            self.received_at_the_door(r)
        first = m.r_first[r]
        pool = self.choose(first, t)
        if channel != VISIT:                           # (one a building leader heard of has no choice to make)
            choice = self.contact(r, t, pool)
            if choice == SILENT:
                self.keep_silent(r, t)
                return
            if choice == HOTLINE:
                self.phone(r, t)
                return
        else:
            m.found += 1
        m.r_reported[r], m.r_channel[r] = t, channel
        m.v_deadline[first] = t + self.patience(r)
        self.arrive_at(pool, first, t)

    def received_at_the_door(self, r: int) -> None:
        """A problem a home visit finds is the grid leader's to pass on, at the door, as part of the
        visit: the station head's reception the resident would have walked in to is skipped, or, where
        it would have settled the problem, becomes the grid leader's own triage."""
        m = self.m
        v, plan = m.r_first[r], self.original(r)
        if m.found_skip[plan]:
            nxt = m.v_next[v]
            m.r_first[r] = nxt if nxt >= 0 else -2 - nxt
            m.skipped_visits.append(v)
        elif m.found_pool[plan] >= 0:
            m.v_options.pop(v, None)                  # (the duty leader was an alternative: not at the door)
            m.v_pool[v], m.v_duration[v] = m.pools[m.found_pool[plan]], float(m.found_triage[plan])

    def original(self, r: int) -> int:
        """The request a repeat comes back with (itself if not a repeat): its plan is the repeat's."""
        r_repeat_of = self.m.r_repeat_of
        while r_repeat_of[r] >= 0:
            r = r_repeat_of[r]
        return r

    def contact(self, r: int, t: float, pool) -> int:
        """The upper level of the resident's channel choice: the grid (0), HOTLINE or SILENT, drawn
        with the request's uniform (`pick`) on the `weights` behind `contact_chances`."""
        m = self.m
        a_hotline, a_silent = m.r_a_hotline[r], m.r_a_silent[r]
        if a_hotline == -INF and a_silent == -INF:
            return 0
        return pick(m.r_u_contact[r], *weights(self.channels, a_hotline, a_silent, m.trust[m.r_household[r]],
                                               self.closed(r, t, pool)))

    def keep_silent(self, r: int, t: float) -> None:
        """The resident says nothing of problem r: a home visit can still find it, until the resident
        gives up on it too (at the end of their patience)."""
        m = self.m
        m.r_silent[r] = 1
        m.r_own_report[r] = INF
        m.r_lapse[r] = t + self.patience(r)
        if m.r_repeat_of[r] < 0:
            m.silent += 1
        else:
            m.repeats_silent += 1

    def phone(self, r: int, t: float) -> None:
        """The resident calls 12345 about problem r; the call is a visit of its own."""
        m = self.m
        m.r_reported[r], m.r_channel[r] = t, HOTLINE
        self.arrive_at(m.hotline_pool, self.call(r), t)

    def contact_chances(self, r: int, t: float, pool) -> tuple[float, float, float]:
        """Chances of the grid, 12345 and silence for resident r coming forward at t, their first
        stage's handler being `pool`: a logit on the planned utilities (the grid's is the log-sum of
        the ways into it), whether that handler is off duty for longer than the stage expects
        (12345 more likely), and the household's distrust: 12345 rises with it, and silence needs
        some (its utility has log(1 - trust), so at full trust nobody stays silent)."""
        m = self.m
        e_hotline, e_silent = weights(self.channels, m.r_a_hotline[r], m.r_a_silent[r],
                                      m.trust[m.r_household[r]], self.closed(r, t, pool))
        total = 1.0 + e_hotline + e_silent
        return 1.0 / total, e_hotline / total, e_silent / total

    def closed(self, r: int, t: float, pool) -> bool:
        """Is the first stage's handler off duty for longer than the stage expects to wait?"""
        m = self.m
        return not m.on_duty[pool.role] and m.next_on(pool.role, t) - t > m.r_first_wait[r]

    def patience(self, r: int) -> float:
        """Minutes the resident waits for a first handler: their draw, shortened as trust falls."""
        m, floor = self.m, self.residents.patience_trust_floor
        if floor == 1.0 or not m.v_resident[m.r_first[r]]:
            return m.r_patience[r]
        return m.r_patience[r] * (floor + (1.0 - floor) * m.trust[m.r_household[r]])

    # ------------------------------------------------------------------ what residents remember
    def experience(self, r: int, felt: float) -> None:
        """The household of request r remembers what it just lived through (`remember`)."""
        trust, h = self.m.trust, self.m.r_household[r]
        trust[h] = remember(trust[h], felt, self.residents.learning_rate)

    def resolved(self, v: int, t: float) -> None:
        """The last visit of a resident's request ended: resolved within its service-level target of
        their report or late, they remember it (a repeat is timed from their first report: the
        resident has lived the whole wait)."""
        m = self.m
        r = m.v_request[v]
        on_time = t - self.reported_at(self.original(r)) <= m.r_sla[r]
        self.experience(r, 1.0 if on_time else self.residents.late_experience)

    def reported_at(self, r: int) -> float:
        """When request r reached someone: the journey's record, else (work the fast loop reported
        without a choice to make) its planned time."""
        t = self.m.r_reported[r]
        return self.m.r_own_report[r] if isnan(t) else t

    def gave_up(self, v: int, t: float) -> None:
        """Nobody started visit v (a resident's first) before their patience ran out: they remember
        it, and may come back later with the same problem."""
        m = self.m
        r = m.v_request[v]
        if not m.v_resident[v]:
            return
        self.experience(r, 0.0)
        if m.r_u_repeat[r] < self.residents.repeat_share:
            back = max(t, m.v_deadline[v] + m.r_e_repeat[r] * self.residents.repeat_delay_hours * 60)
            if m.r_way[r] == WALK_IN:                  # one who walks in comes when the station is open
                back = float(m.station_open.next_on(back))
            if back <= m.horizon:
                m.calendar.schedule(back, COMEBACK, r)

    def come_back(self, r: int, t: float) -> None:
        """COMEBACK: the resident of abandoned request r comes forward again: a new request (a repeat,
        linked to r) with copies of r's stages, whose draws it keeps; its own choices use r's draws
        shifted by the golden ratio (mod 1)."""
        m = self.m
        new = len(m.r_created)
        shift = 0.6180339887498949
        first, last = m.r_first[r], m.r_last[r]
        for name, value in (("r_reported", float("nan")), ("r_channel", m.r_way[r]), ("r_way", m.r_way[r]),
                            ("r_silent", 0), ("r_own_report", t), ("r_patience", m.r_patience[r]),
                            ("r_first_wait", m.r_first_wait[r]), ("r_created", t), ("r_type", m.r_type[r]),
                            ("r_household", m.r_household[r]), ("r_sla", m.r_sla[r]), ("r_repeat_of", r),
                            ("r_a_hotline", m.r_a_hotline[r]), ("r_a_silent", m.r_a_silent[r]),
                            ("r_u_contact", (m.r_u_contact[r] + shift) % 1.0),
                            ("r_u_repeat", (m.r_u_repeat[r] + shift) % 1.0), ("r_e_repeat", m.r_e_repeat[r]),
                            ("r_call_minutes", m.r_call_minutes[r]), ("r_hotline", -1), ("r_lapse", INF),
                            ("r_first", len(m.v_request)), ("r_last", len(m.v_request) + last - first)):
            getattr(m, name).append(value)
        offset = len(m.v_request) - first            # the repeat's stages lie after every visit so far
        for v in range(first, last + 1):
            nxt = m.v_next[v]
            self.add_visit(new, m.v_stage[v], None if v in m.v_options else m.v_pool[v], m.v_duration[v],
                           nxt + offset if nxt >= 0 else (nxt if nxt == -1 else nxt - offset), v)
        m.repeats += 1
        self.report(new, t, m.r_way[r])

    def call(self, r: int) -> int:
        """The visit of resident r's call to 12345, added when they make it: after the call the
        hotline hands the request to its first stage."""
        m = self.m
        call = len(m.v_request)
        self.add_visit(r, HOTLINE_STAGE, m.hotline_pool, m.r_call_minutes[r], -2 - m.r_first[r])
        m.r_hotline[r] = call
        return call

    def add_visit(self, r: int, stage: int, pool, duration: float, nxt: int, like: int | None = None) -> None:
        """Append a visit of request r (a copy of visit `like`'s priority and stage options, if given)."""
        m = self.m
        m.v_request.append(r)
        m.v_stage.append(stage)
        m.v_pool.append(pool)
        m.v_duration.append(duration)
        m.v_next.append(nxt)
        m.v_priority.append(m.v_priority[like] if like is not None else m.v_priority[m.r_first[r]])
        m.v_home.append(-1)
        m.v_resident.append(True)
        m.v_deadline.append(INF)
        m.v_start.append(float("nan"))
        m.v_agent.append(None)
        if like is not None and like in m.v_options:
            m.v_options[len(m.v_request) - 1] = m.v_options[like]

    def look_around(self, h: int, t: float) -> None:
        """A home visit to household h finds its unreported problems, and those of its building
        that the neighbours know of: each is reported now, through the grid leader."""
        m = self.m
        household, building = m.hh_findable, m.building_findable
        if household.due[h] <= t:                     # (most visits find nothing: checked first)
            self.find(household, h, t)
        b = m.hh_building[h]
        if building.due[b] <= t:
            self.find(building, b, t)

    def find(self, found, key: int, t: float) -> None:
        """Report group `key`'s problems that have arisen by t and not yet come to anyone (nor been
        given up on in silence), and move its pointer past them."""
        m = self.m
        i, arose = found.next[key], found.created
        while arose[i] <= t:                           # each group ends with a sentinel that never arises
            r = found.request[i]
            if isnan(m.r_reported[r]) and m.r_own_report[r] >= t and m.r_lapse[r] >= t:
                self.report(r, t, VISIT)
            i += 1
        found.next[key], found.due[key] = i, arose[i]

    # ------------------------------------------------------------------ a stage
    def choose(self, v: int, t: float):
        """The unit that takes visit v: where its stage allows several roles, the first staffed for
        the household and on duty now or within the stage's wait, else the one on duty soonest."""
        m = self.m
        option = m.v_options.get(v)
        if option is None:
            return m.v_pool[v]
        group, row = option
        wait, alternatives = m.option_groups[group]
        chosen, soonest = None, INF
        for role, pools, durations in alternatives:
            if pools[row] < 0:
                continue
            at = t if m.on_duty[role] else m.next_on(role, t)
            if at - t <= wait:
                chosen = (pools[row], durations[row])
                break
            if chosen is None or at < soonest:
                chosen, soonest = (pools[row], durations[row]), at
        pool = m.pools[chosen[0]]
        m.v_pool[v], m.v_duration[v] = pool, chosen[1]
        return pool

    def arrive(self, v: int, t: float) -> None:
        """Visit v reaches its stage: its handler starts now if free and on duty, else it waits."""
        self.arrive_at(self.choose(v, t), v, t)

    def arrive_at(self, pool, v: int, t: float) -> None:
        if pool.busy < pool.servers and self.m.on_duty[pool.role]:
            pool.busy += 1
            self.start(pool.free.popleft(), v, t)
        else:
            self.wait(pool, v, t)

    def wait(self, pool, v: int, t: float) -> None:
        """Visit v joins its unit's queue (by priority, then first come), or, a routine home visit,
        the unit's routine list, which comes after everything else."""
        m = self.m
        if m.v_home[v] >= 0:
            pool.routine.append(v)
            return
        heappush(pool.queue, (m.v_priority[v], next(m.calendar.seq), v))
        if pool.colleagues and m.v_resident[v]:
            m.calendar.schedule(m.cover_time(pool.role, t), COVER, v)
        if m.v_deadline[v] <= m.horizon:             # (only a first visit has a deadline)
            m.calendar.schedule(m.v_deadline[v], GIVE_UP, v)

    def start(self, agent, v: int, t: float) -> None:
        m = self.m
        m.v_start[v], m.v_agent[v] = t, agent
        m.calendar.schedule(t + m.v_duration[v], END, v)
        if m.v_home[v] >= 0:
            self.look_around(m.v_home[v], t)

    def end(self, v: int, t: float) -> None:
        """END: visit v is done; the request goes on (or is resolved), its handler takes the next."""
        m = self.m
        self.hand_on(v, t)
        self.next_in_line(m.v_pool[v], m.v_agent[v], t)

    def hand_on(self, v: int, t: float) -> None:
        m = self.m
        nxt = m.v_next[v]
        if nxt == -1:
            m.resolved += 1
            if m.v_resident[v]:
                self.resolved(v, t)
            return
        if nxt < -1:
            nxt = -2 - nxt
        if m.v_pool[v].role == m.hotline_role:   # 12345 logs it for the grid's next working period
            pool = self.choose(nxt, t)
            m.v_deadline[nxt] = m.next_on(pool.role, t) + self.patience(m.v_request[nxt])
        self.arrive(nxt, t)

    # ------------------------------------------------------------------ a handler's queue
    def take(self, pool, t: float) -> int | None:
        """The next visit in pool's queue whose resident is still waiting (skipping void entries:
        residents who gave up, requests a colleague took), else the first routine visit still due."""
        m = self.m
        queue = pool.queue
        while queue:
            v = heappop(queue)[2]
            if m.v_deadline[v] > t:
                return v
            pool.stale -= 1
        routine = pool.routine
        while routine:
            v = routine.popleft()
            if m.v_deadline[v] >= t:
                return v
            m.abandoned += 1                      # not made before the next one fell due: dropped
        return None

    def take_from_colleague(self, pool, t: float, before: float = INF) -> int | None:
        """The oldest of the station's overdue requests (waited `cover_after` minutes on duty at a
        colleague's grid) whose resident is still waiting, if it is more urgent than `before`
        (the priority of pool's own next visit); it moves to `pool`."""
        m = self.m
        overdue = pool.overdue
        while overdue:
            v = overdue[0]
            if not isnan(m.v_start[v]) or m.v_deadline[v] <= t:
                overdue.popleft()                 # started by its own leader, or given up
            elif m.v_priority[v] < before:
                overdue.popleft()
                self.move(v, pool)
                return v
            else:
                return None
        return None

    def next_for(self, pool, t: float) -> int | None:
        """What a free handler of `pool` takes next: a colleague's overdue request if it is more
        urgent than their own next (a resident before a routine visit), else their own next."""
        if pool.overdue:
            m, queue, routine = self.m, pool.queue, pool.routine
            while queue and m.v_deadline[queue[0][2]] <= t:     # void entries first: not their next
                heappop(queue)
                pool.stale -= 1
            while routine and m.v_deadline[routine[0]] < t:
                routine.popleft()
                m.abandoned += 1
            own = queue[0][0] if queue else (m.routine_priority if routine else INF)
            v = self.take_from_colleague(pool, t, own)
            if v is not None:
                return v
        return self.take(pool, t)

    def move(self, v: int, pool) -> None:
        """A colleague's unit takes waiting visit v: its entry in its own queue becomes void."""
        m = self.m
        m.v_pool[v].stale += 1
        m.v_deadline[v] = -INF
        m.v_pool[v] = pool

    def next_in_line(self, pool, agent, t: float) -> None:
        if self.m.on_duty[pool.role] and pool.busy <= pool.servers:      # (fewer places: a vacancy began)
            v = self.next_for(pool, t)
            if v is not None:
                self.start(agent, v, t)
                return
        pool.busy -= 1
        pool.free.append(agent)

    def fill(self, pool, t: float, take) -> None:
        """Start as many waiting visits as pool has free places (`take` picks them)."""
        while pool.busy < pool.servers:
            v = take(pool, t)
            if v is None:
                return
            pool.busy += 1
            self.start(pool.free.popleft(), v, t)

    # ------------------------------------------------------------------ calendar events
    def cover(self, v: int, t: float) -> None:
        """COVER: visit v has waited `cover_after` minutes on duty; a free colleague takes it, or it
        goes on the station's overdue list for the next colleague to come free."""
        m = self.m
        if not isnan(m.v_start[v]) or m.v_deadline[v] <= t:
            return
        pool = m.v_pool[v]
        if m.on_duty[pool.role]:            # (always, as the wait is counted on duty; kept for clarity)
            for other in pool.colleagues:
                if other.busy < other.servers:
                    self.move(v, other)
                    other.busy += 1
                    self.start(other.free.popleft(), v, t)
                    return
        pool.overdue.append(v)

    def give_up(self, v: int, t: float) -> None:
        """GIVE_UP: waiting visit v's deadline has come; if nobody has started it (nor taken it to
        another unit, which voids the deadline), the resident gives up now: abandoned, and its
        entry in the queue is void."""
        m = self.m
        if m.v_deadline[v] != t or not isnan(m.v_start[v]):
            return
        m.abandoned += 1
        m.v_pool[v].stale += 1
        self.gave_up(v, t)

    def shift(self, change: ShiftChange, t: float) -> None:
        """SHIFT: a role goes on duty (its units start on their queues and colleagues' overdue requests)
        or off."""
        m = self.m
        m.on_duty[change.role] = change.on
        if change.on:
            for pool in m.pools_by_role[change.role]:
                if pool.queue or pool.routine or pool.overdue:
                    self.fill(pool, t, self.next_for)
        elif change.role == m.duty_leader_role:
            for pool in m.pools_by_role[change.role]:
                if pool.queue:
                    self.hand_over(pool, t)

    def hand_over(self, pool, t: float) -> None:
        """The duty leader's shift ends: what they have not started goes to whoever of its stage's
        roles comes on duty first (the household's grid leader or the station head in the morning;
        on a Friday or Saturday evening, the duty leader again the next day)."""
        m = self.m
        waiting = sorted(pool.queue)                   # by priority, then first come
        pool.queue.clear()
        pool.stale = 0
        for _, _, v in waiting:
            if m.v_deadline[v] <= t:                    # void: the resident gave up, or a colleague took it
                continue
            there = self.choose(v, t)
            heappush(there.queue, (m.v_priority[v], next(m.calendar.seq), v))
            if there.colleagues and m.v_resident[v]:
                m.calendar.schedule(m.cover_time(there.role, t), COVER, v)
            if m.on_duty[there.role]:
                self.fill(there, t, self.next_for)

    def meeting(self, pool, t: float) -> None:
        """MEETING: an alliance settles up to its capacity of hard problems at once."""
        m = self.m
        for _ in range(m.meeting_capacity):
            v = self.take(pool, t)
            if v is None:
                return
            m.v_start[v], m.v_agent[v] = t, pool.members[0]
            m.resolved += 1
            self.resolved(v, t)

    def staff(self, change: StaffChange, t: float) -> None:
        """STAFF: a unit's places change as vacancies start or end. With fewer, handlers finish what
        they started and the surplus stop; with more, the new ones start on the queue."""
        pool = change.pool
        pool.servers = change.places
        if self.m.on_duty[pool.role] and (pool.queue or pool.routine or pool.overdue):
            self.fill(pool, t, self.next_for)

    def sample(self, _, t: float) -> None:
        m = self.m
        m.now = t
        m.datacollector.collect(m)

    # ------------------------------------------------------------------ the loop
    def run(self, until: float) -> None:
        """Handle every event and every request coming forward up to `until` (calendar first on ties)."""
        m = self.m
        calendar = m.calendar
        while True:
            i = m.next_arrival
            t_arrival = m.arrival_time[i] if i < len(m.arrival_time) else INF
            limit = min(t_arrival, until)
            while calendar.next_time() <= limit:
                t, kind, payload = calendar.pop()
                self.handlers[kind](payload, t)
            if t_arrival > until:
                break
            m.next_arrival = i + 1
            self.come_forward(m.arrival_request[i], t_arrival, m.arrival_channel[i])
        m.now = until
