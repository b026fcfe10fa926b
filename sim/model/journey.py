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
overdue list), when it is more urgent than their own next visit. Residents who gave up are dropped when their turn
comes (lazy abandonment). A grid leader's routine home visit `look`s
`around` when it starts and reports what it finds.

`GridModel.advance` runs the same steps with the two hot paths (a request
coming forward, a visit ending) written inline for speed; a test runs both
on the same scenario and compares every visit record. The handlers here work
on the model's flat per-visit and per-request lists (`routes.Plan` holds the
static part of each journey).
"""

from __future__ import annotations

from heapq import heappop, heappush
from math import isnan

from .calendar import COVER, END, MEETING, SAMPLE, SHIFT, ShiftChange
from .routes import HOTLINE, OWN, VISIT

INF = float("inf")


class Journey:
    def __init__(self, model):
        self.m = model
        self.handlers = {END: self.end, COVER: self.cover, SHIFT: self.shift,
                         MEETING: self.meeting, SAMPLE: self.sample}

    # ------------------------------------------------------------------ coming forward
    def come_forward(self, r: int, t: float, channel: int) -> None:
        """The resident (or their building leader) reports problem r, unless a home visit found it first."""
        m = self.m
        if isnan(m.r_reported[r]):
            self.report(r, t, channel)
        else:
            m.skipped += 1

    def report(self, r: int, t: float, channel: int) -> None:
        """Problem r reaches the grid system at t. A resident who comes forward to find the first
        stage's handler off duty for longer than the stage expects them to wait may call 12345."""
        m = self.m
        m.r_reported[r] = t
        if channel == VISIT:
            m.found += 1
        first, call = m.r_first[r], m.r_hotline[r]
        if channel == OWN and call >= 0 and m.next_on(self.choose(first, t).role, t) - t > m.r_first_wait[r]:
            m.r_channel[r] = HOTLINE
            self.arrive(call, t)
            return
        m.r_channel[r] = channel
        m.v_deadline[first] = t + m.r_patience[r]
        self.arrive(first, t)

    def look_around(self, h: int, t: float) -> None:
        """A home visit to household h finds its unreported problems, and those of its building
        that the neighbours know of: each is reported now, through the grid leader."""
        m = self.m
        for found, key in ((m.hh_findable, h), (m.building_findable, m.hh_building[h])):
            i, arose = found.next[key], found.created
            while arose[i] <= t:                       # each group ends with a sentinel that never arises
                r = found.request[i]
                if isnan(m.r_reported[r]) and m.r_own_report[r] >= t:
                    self.report(r, t, VISIT)
                i += 1
            found.next[key] = i

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
        pool = self.choose(v, t)
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
            return
        if nxt < -1:
            nxt = -2 - nxt
        if m.v_pool[v].role == m.hotline_role:   # 12345 logs it for the grid's next working period
            pool = self.choose(nxt, t)
            m.v_deadline[nxt] = m.next_on(pool.role, t) + m.r_patience[m.v_request[nxt]]
        self.arrive(nxt, t)

    # ------------------------------------------------------------------ a handler's queue
    def take(self, pool, t: float) -> int | None:
        """The next visit in pool's queue whose resident is still waiting (dropping those who gave
        up, and entries a colleague has taken: their deadline is void)."""
        m = self.m
        queue = pool.queue
        while queue:
            v = heappop(queue)[2]
            if m.v_deadline[v] >= t:
                return v
            if isnan(m.v_start[v]):
                m.abandoned += 1
            else:
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
            if not isnan(m.v_start[v]) or m.v_deadline[v] < t:
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
            own = pool.queue[0][0] if pool.queue else (self.m.routine_priority if pool.routine else INF)
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
        if self.m.on_duty[pool.role]:
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
        if not isnan(m.v_start[v]) or m.v_deadline[v] < t:
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

    def shift(self, change: ShiftChange, t: float) -> None:
        """SHIFT: a role goes on duty (its units start on their queues and colleagues' overdue requests)
        or off."""
        m = self.m
        m.on_duty[change.role] = change.on
        if change.on:
            for pool in m.pools_by_role[change.role]:
                if pool.queue or pool.routine or pool.overdue:
                    self.fill(pool, t, self.next_for)

    def meeting(self, pool, t: float) -> None:
        """MEETING: an alliance settles up to its capacity of hard problems at once."""
        m = self.m
        for _ in range(m.meeting_capacity):
            v = self.take(pool, t)
            if v is None:
                return
            m.v_start[v], m.v_agent[v] = t, pool.members[0]
            m.resolved += 1

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
