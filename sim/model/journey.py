"""A request's journey, one small handler per step: the place to learn how the model works, and the
code that runs it (compiled with numba over the model's arrays; NUMBA_DISABLE_JIT=1 runs this very
text as plain Python, to step through).

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

Everything the handlers touch is in `w`, the model's `World` (model.py): its
per-visit and per-request records (`w.visit`, `w.request`, declared in
records.py), units and their queues (`w.unit`, `w.station`), the calendar,
households' trust and what home visits can find, the duty rosters, and the
running counts (`w.count`). A unit's queue is a first-come-first-served list
per priority rank (linked through `visit.in_line`), its routine home visits a
list after every rank, and its free staff a ring of agent ids; the station's
overdue list is linked through `visit.overdue_after`. `advance` runs the
calendar and the requests coming forward up to a time, stopping at each
daily census so the Mesa DataCollector can take it in Python; its handlers
take the world by reference (refs.py), not copied at every call.
"""

from __future__ import annotations

import math

import numpy as np

from . import calendar as cal
from .calendar import COMEBACK, COVER, END, GIVE_UP, MEETING, SAMPLE, SHIFT, STAFF, compiled, inline
from .refs import by_reference
from .routes import HOTLINE, HOTLINE_STAGE, SILENT, VISIT, WALK_IN

INF = np.inf
GOLDEN = 0.6180339887498949       # a repeat's own choices: its original's draws shifted by this (mod 1)

# w.count: the running counts of the run
RESOLVED, ABANDONED, NEXT_ARRIVAL, FOUND, SKIPPED, SILENT_N, REPEATS, REPEATS_SILENT, VISITS, REQUESTS = range(10)
COUNTS = ("resolved", "abandoned", "next_arrival", "found", "skipped", "silent", "repeats", "repeats_silent",
          "visits", "requests")
# what `advance` stopped for
DONE, SAMPLED, FULL = range(3)


# ------------------------------------------------------------------ what residents decide
@inline
def remember(trust, felt, rate):
    """Trust after an experience `felt` (1: resolved on time, `late_experience`: late, 0: let down):
    it moves `rate` of the way towards it (expectation-disconfirmation, exponential smoothing), so
    it stays within [0, 1] and forgets old experiences geometrically."""
    return trust + rate * (felt - trust)


@inline
def weights(rules, a_hotline, a_silent, trust, closed):
    """exp(utility) of 12345 and of silence, the grid's being 1 (`contact_chances`)."""
    e_hotline = e_silent = 0.0
    if a_hotline > -INF:
        e_hotline = math.exp(a_hotline + rules.closed_hotline * closed + rules.distrust_hotline * (1.0 - trust))
    if a_silent > -INF and trust < 1.0:
        e_silent = math.exp(a_silent) * (1.0 - trust) ** rules.distrust_silent
    return e_hotline, e_silent


@inline
def pick(u, e_hotline, e_silent):
    """The upper level's outcome for the request's uniform u and the `weights`: the grid (0),
    HOTLINE or SILENT, in the order of `contact_chances`."""
    total = 1.0 + e_hotline + e_silent
    grid = 1.0 / total
    return 0 if u < grid else (HOTLINE if u < grid + e_hotline / total else SILENT)


@compiled
def contact_chances(w, r, t, unit):
    """Chances of the grid, 12345 and silence for resident r coming forward at t, their first
    stage's handler being `unit`: a logit on the planned utilities (the grid's is the log-sum of
    the ways into it), whether that handler is off duty for longer than the stage expects
    (12345 more likely), and the household's distrust: 12345 rises with it, and silence needs
    some (its utility has log(1 - trust), so at full trust nobody stays silent)."""
    q = w.request
    e_hotline, e_silent = weights(w.rules, np.float64(q.a_hotline[r]), np.float64(q.a_silent[r]),
                                  w.trust[q.household[r]], closed(w, r, t, unit))
    total = 1.0 + e_hotline + e_silent
    return 1.0 / total, e_hotline / total, e_silent / total


@inline
def contact(w, r, t, unit):
    """The upper level of the resident's channel choice: the grid (0), HOTLINE or SILENT, drawn
    with the request's uniform (`pick`) on the `weights` behind `contact_chances`."""
    q = w.request
    a_hotline, a_silent = np.float64(q.a_hotline[r]), np.float64(q.a_silent[r])   # (float32: as float64 whether compiled or not)
    if a_hotline == -INF and a_silent == -INF:
        return 0
    e_hotline, e_silent = weights(w.rules, a_hotline, a_silent, w.trust[q.household[r]], closed(w, r, t, unit))
    return pick(np.float64(q.u_contact[r]), e_hotline, e_silent)


@inline
def closed(w, r, t, unit):
    """Is the first stage's handler off duty for longer than the stage expects to wait?"""
    role = w.unit.role[unit]
    return not w.on_duty[role] and next_on(w, role, t) - t > w.request.first_wait[r]


@inline
def patience(w, r):
    """Minutes the resident waits for a first handler: their draw, shortened as trust falls."""
    q, floor = w.request, w.rules.floor
    if floor == 1.0 or not w.visit.resident[q.first[r]]:
        return q.patience[r]
    return q.patience[r] * (floor + (1.0 - floor) * w.trust[q.household[r]])


# ------------------------------------------------------------------ coming forward
@inline
def come_forward(w, r, t, channel):
    """The resident (or their building leader) reports problem r, unless a home visit found it first."""
    if math.isnan(w.request.reported[r]):
        report(w, r, t, channel)
    else:
        w.count[SKIPPED] += 1


@compiled
def report(w, r, t, channel):
    """Problem r is ripe at t and its resident (or building leader, or a unit's routine work)
    comes forward: a resident chooses between the grid (by the way planned for them), the 12345
    hotline and silence; a building leader brings it to the grid."""
    q = w.request
    first = q.first[r]
    unit = choose(w, first, t)
    choice = contact(w, r, t, unit)             # (one a building leader heard of has no choice to make)
    if choice == SILENT:
        keep_silent(w, r, t)
        return
    if choice == HOTLINE:
        phone(w, r, t)
        return
    q.reported[r], q.channel[r] = t, channel
    w.visit.deadline[first] = t + patience(w, r)
    arrive_at(w, unit, first, t)


@compiled
def found_at_the_door(w, r, t):
    """A home visit finds problem r: the grid leader reports it there and then. Its first visit is
    never a home visit itself (the schema: home visits are staff work, what they find residents'
    problems), so it is placed without looking around in turn."""
    q = w.request
    received_at_the_door(w, r)
    first = q.first[r]
    unit = choose(w, first, t)
    w.count[FOUND] += 1
    q.reported[r], q.channel[r] = t, VISIT
    w.visit.deadline[first] = t + patience(w, r)
    place(w, unit, first, t)


@inline
def received_at_the_door(w, r):
    """A problem a home visit finds is the grid leader's to pass on, at the door, as part of the
    visit: the station head's reception the resident would have walked in to is skipped, or, where
    it would have settled the problem, becomes the grid leader's own triage."""
    q = w.request
    v, plan = q.first[r], original(w, r)
    if q.found_skip[plan]:
        q.first[r] = w.visit.next[v]
    elif q.found_unit[plan] >= 0:
        w.visit.option[v] = -1                      # (the duty leader was an alternative: not at the door)
        w.visit.unit[v], w.visit.duration[v] = q.found_unit[plan], np.float64(q.found_triage[plan])


@inline
def original(w, r):
    """The request a repeat comes back with (itself if not a repeat): its plan is the repeat's."""
    repeat_of = w.request.repeat_of
    while repeat_of[r] >= 0:
        r = repeat_of[r]
    return r


@inline
def keep_silent(w, r, t):
    """The resident says nothing of problem r: a home visit can still find it, until the resident
    gives up on it too (at the end of their patience)."""
    q = w.request
    q.silent[r] = True
    q.own_report[r] = INF
    q.lapse[r] = t + patience(w, r)
    if q.repeat_of[r] < 0:
        w.count[SILENT_N] += 1
    else:
        w.count[REPEATS_SILENT] += 1


@inline
def phone(w, r, t):
    """The resident calls 12345 about problem r; the call is a visit of its own."""
    w.request.reported[r], w.request.channel[r] = t, HOTLINE
    arrive_at(w, w.rules.hotline_unit, call(w, r), t)


# ------------------------------------------------------------------ what residents remember
@inline
def experience(w, r, felt):
    """The household of request r remembers what it just lived through (`remember`)."""
    h = w.request.household[r]
    w.trust[h] = remember(w.trust[h], felt, w.rules.learning_rate)


@inline
def resolved(w, v, t):
    """The last visit of a resident's request ended: resolved within its service-level target of
    their report or late, they remember it (a repeat is timed from their first report: the
    resident has lived the whole wait)."""
    q = w.request
    r = w.visit.request[v]
    on_time = t - q.reported[original(w, r)] <= q.sla[r]
    experience(w, r, 1.0 if on_time else w.rules.late_experience)


@inline
def gave_up(w, v, t):
    """Nobody started visit v (a resident's first) before their patience ran out: they remember
    it, and may come back later with the same problem."""
    q, rules = w.request, w.rules
    r = w.visit.request[v]
    if not w.visit.resident[v]:
        return
    experience(w, r, 0.0)
    if np.float64(q.u_repeat[r]) < rules.repeat_share:
        back = max(t, w.visit.deadline[v] + np.float64(q.e_repeat[r]) * rules.repeat_delay_hours * 60)
        if q.way[r] == WALK_IN:                    # one who walks in comes when the station is open
            back = station_next_open(w, back)
        if back <= rules.horizon:
            cal.schedule(w.calendar, back, COMEBACK, r)


@compiled
def come_back(w, r, t):
    """COMEBACK: the resident of abandoned request r comes forward again: a new request (a repeat,
    linked to r) with copies of r's stages, whose draws it keeps; its own choices use r's draws
    shifted by the golden ratio (mod 1)."""
    q, vis = w.request, w.visit
    new = w.count[REQUESTS]
    w.count[REQUESTS] = new + 1
    first, last = q.first[r], q.last[r]
    offset = w.count[VISITS] - first            # the repeat's stages lie after every visit so far
    q.type[new], q.household[new], q.created[new], q.own_report[new] = q.type[r], q.household[r], t, t
    q.reported[new], q.channel[new], q.way[new], q.silent[new] = np.nan, q.way[r], q.way[r], False
    q.lapse[new], q.first[new], q.last[new], q.hotline[new] = INF, first + offset, last + offset, -1
    q.call_minutes[new], q.patience[new], q.first_wait[new] = q.call_minutes[r], q.patience[r], q.first_wait[r]
    q.sla[new], q.repeat_of[new], q.a_hotline[new], q.a_silent[new] = q.sla[r], r, q.a_hotline[r], q.a_silent[r]
    q.u_contact[new] = (np.float64(q.u_contact[r]) + GOLDEN) % 1.0
    q.u_repeat[new] = (np.float64(q.u_repeat[r]) + GOLDEN) % 1.0
    q.e_repeat[new] = q.e_repeat[r]
    q.found_skip[new], q.found_unit[new], q.found_triage[new] = False, -1, np.nan
    for v in range(first, last + 1):
        nxt = vis.next[v]
        add_visit(w, new, vis.stage[v], vis.unit[v] if vis.option[v] < 0 else -1, vis.duration[v],
                  nxt + offset if nxt >= 0 else -1, vis.rank[v], vis.option[v])
    w.count[REPEATS] += 1
    report(w, new, t, q.way[r])


@inline
def call(w, r):
    """The visit of resident r's call to 12345, added when they make it: after the call the
    hotline hands the request to its first stage."""
    q = w.request
    v = add_visit(w, r, HOTLINE_STAGE, w.rules.hotline_unit, np.float64(q.call_minutes[r]), q.first[r],
                  w.visit.rank[q.first[r]], -1)
    q.hotline[r] = v
    return v


@inline
def add_visit(w, r, stage, unit, duration, nxt, rank, option):
    """Append a visit of request r; returns its number."""
    vis = w.visit
    v = w.count[VISITS]
    w.count[VISITS] = v + 1
    vis.request[v], vis.stage[v], vis.unit[v], vis.duration[v], vis.next[v] = r, stage, unit, duration, nxt
    vis.option[v], vis.rank[v], vis.home[v], vis.resident[v] = option, rank, -1, True
    vis.deadline[v], vis.queued[v], vis.start[v], vis.agent[v] = INF, np.nan, np.nan, -1
    vis.in_line[v], vis.overdue_after[v] = -1, -1
    return v


@inline
def look_around(w, h, t):
    """A home visit to household h finds its unreported problems, and those of its building
    that the neighbours know of: each is reported now, through the grid leader."""
    if w.by_household.due[h] <= t:                # (most visits find nothing: checked first)
        find(w, w.by_household, h, t)
    b = w.building[h]
    if w.by_building.due[b] <= t:
        find(w, w.by_building, b, t)


@compiled
def find(w, found, key, t):
    """Report group `key`'s problems that have arisen by t and not yet come to anyone (nor been
    given up on in silence), and move its pointer past them."""
    q = w.request
    i, arose = found.next[key], found.created
    while arose[i] <= t:                           # each group ends with a sentinel that never arises
        r = found.request[i]
        if math.isnan(q.reported[r]) and q.own_report[r] >= t and q.lapse[r] >= t:
            found_at_the_door(w, r, t)
        i += 1
    found.next[key], found.due[key] = i, arose[i]


# ------------------------------------------------------------------ a stage
@inline
def choose(w, v, t):
    """The unit that takes visit v: where its stage allows several roles, the first staffed for
    the household and on duty now or within the stage's wait, else the one on duty soonest."""
    vis, alt = w.visit, w.option
    row = vis.option[v]
    if row < 0:
        return vis.unit[v]
    chosen, soonest = -1, INF
    for a in range(alt.role.shape[1]):
        role, unit = alt.role[row, a], alt.unit[row, a]
        if role < 0:
            break
        if unit < 0:
            continue
        at = t if w.on_duty[role] else next_on(w, role, t)
        if at - t <= alt.wait[row]:
            chosen = a
            break
        if chosen < 0 or at < soonest:
            chosen, soonest = a, at
    vis.unit[v], vis.duration[v] = alt.unit[row, chosen], alt.duration[row, chosen]
    return vis.unit[v]


@inline
def arrive(w, v, t):
    """Visit v reaches its stage: its handler starts now if free and on duty, else it waits."""
    arrive_at(w, choose(w, v, t), v, t)


@inline
def arrive_at(w, unit, v, t):
    """Visit v reaches `unit`: `place`d, and, a home visit that starts, it looks around."""
    if place(w, unit, v, t) and w.visit.home[v] >= 0:
        look_around(w, w.visit.home[v], t)


@inline
def place(w, unit, v, t):
    """Visit v starts now if the unit has a free place on duty (True), else it waits."""
    u = w.unit
    w.visit.queued[v] = t
    if u.busy[unit] < u.servers[unit] and w.on_duty[u.role[unit]]:
        u.busy[unit] += 1
        begin(w, free_agent(w, unit), v, t)
        return True
    wait(w, unit, v, t)
    return False


@inline
def wait(w, unit, v, t):
    """Visit v joins its unit's queue (by priority, then first come), or, a routine home visit,
    the unit's routine list, which comes after everything else."""
    vis = w.visit
    if vis.home[v] >= 0:
        join_routine(w, unit, v)
        return
    join_queue(w, unit, v)
    if has_colleagues(w, unit) and vis.resident[v]:
        cal.schedule(w.calendar, cover_time(w, w.unit.role[unit], t), COVER, v)
    if vis.deadline[v] <= w.rules.horizon:        # (only a first visit has a deadline)
        cal.schedule(w.calendar, vis.deadline[v], GIVE_UP, v)


@inline
def start(w, agent, v, t):
    """`agent` starts visit v; a home visit looks around."""
    begin(w, agent, v, t)
    if w.visit.home[v] >= 0:
        look_around(w, w.visit.home[v], t)


@inline
def begin(w, agent, v, t):
    vis = w.visit
    vis.start[v], vis.agent[v] = t, agent
    cal.schedule(w.calendar, t + vis.duration[v], END, v)


@inline
def end(w, v, t):
    """END: visit v is done; the request goes on (or is resolved), its handler takes the next."""
    hand_on(w, v, t)
    next_in_line(w, w.visit.unit[v], w.visit.agent[v], t)


@inline
def hand_on(w, v, t):
    vis = w.visit
    nxt = vis.next[v]
    if nxt < 0:
        w.count[RESOLVED] += 1
        if vis.resident[v]:
            resolved(w, v, t)
        return
    if vis.unit[v] == w.rules.hotline_unit:     # 12345 logs it for the grid's next working period
        unit = choose(w, nxt, t)
        vis.deadline[nxt] = next_on(w, w.unit.role[unit], t) + patience(w, vis.request[nxt])
    arrive(w, nxt, t)


# ------------------------------------------------------------------ a handler's queue
@inline
def take(w, unit, t):
    """The next visit in the unit's queue whose resident is still waiting (skipping void entries:
    residents who gave up, requests a colleague took), else the first routine visit still due
    (-1: none)."""
    u, deadline = w.unit, w.visit.deadline
    while u.queued[unit] > 0:
        v = leave_queue(w, unit)
        if deadline[v] > t:
            return v
        u.stale[unit] -= 1
    while u.routine[unit] > 0:
        v = leave_routine(w, unit)
        if deadline[v] >= t:
            return v
        w.count[ABANDONED] += 1                   # not made before the next one fell due: dropped
    return -1


@inline
def take_from_colleague(w, unit, t, before):
    """The oldest of the station's overdue requests (waited `cover_after` minutes on duty at a
    colleague's grid) whose resident is still waiting, if it is more urgent than `before`
    (the priority rank of the unit's own next visit); it moves to `unit` (-1: none)."""
    vis, station = w.visit, w.unit.station[unit]
    while w.station.overdue_first[station] >= 0:
        v = w.station.overdue_first[station]
        if not math.isnan(vis.start[v]) or vis.deadline[v] <= t:
            leave_overdue(w, station)             # started by its own leader, or given up
        elif vis.rank[v] < before:
            leave_overdue(w, station)
            move(w, v, unit)
            return v
        else:
            return -1
    return -1


@inline
def next_for(w, unit, t):
    """What a free handler of the unit takes next: a colleague's overdue request if it is more
    urgent than their own next (a resident before a routine visit), else their own next."""
    u, deadline = w.unit, w.visit.deadline
    if overdue_waiting(w, unit):
        while u.queued[unit] > 0 and deadline[queue_head(w, unit)] <= t:     # void entries first: not their next
            leave_queue(w, unit)
            u.stale[unit] -= 1
        while u.routine[unit] > 0 and deadline[u.routine_first[unit]] < t:
            leave_routine(w, unit)
            w.count[ABANDONED] += 1
        own = w.visit.rank[queue_head(w, unit)] if u.queued[unit] > 0 else (
            w.rules.routine_rank if u.routine[unit] > 0 else 1 << 30)
        v = take_from_colleague(w, unit, t, own)
        if v >= 0:
            return v
    return take(w, unit, t)


@inline
def move(w, v, unit):
    """A colleague's unit takes waiting visit v: its entry in its own queue becomes void."""
    vis = w.visit
    w.unit.stale[vis.unit[v]] += 1
    vis.deadline[v] = -INF
    vis.unit[v] = unit


@inline
def next_in_line(w, unit, agent, t):
    u = w.unit
    if w.on_duty[u.role[unit]] and u.busy[unit] <= u.servers[unit]:      # (fewer places: a vacancy began)
        v = next_for(w, unit, t)
        if v >= 0:
            start(w, agent, v, t)
            return
    u.busy[unit] -= 1
    free(w, unit, agent)


@compiled
def fill(w, unit, t):
    """Start as many waiting visits as the unit has free places (`next_for` picks them)."""
    u = w.unit
    while u.busy[unit] < u.servers[unit]:
        v = next_for(w, unit, t)
        if v < 0:
            return
        u.busy[unit] += 1
        start(w, free_agent(w, unit), v, t)


@inline
def work_waiting(w, unit):
    """Anything for the unit to take: its queue (void entries too), routine list or the station's overdue list."""
    return w.unit.queued[unit] > 0 or w.unit.routine[unit] > 0 or overdue_waiting(w, unit)


# ------------------------------------------------------------------ calendar events
@inline
def cover(w, v, t):
    """COVER: visit v has waited `cover_after` minutes on duty; a free colleague takes it, or it
    goes on the station's overdue list for the next colleague to come free."""
    vis, u = w.visit, w.unit
    if not math.isnan(vis.start[v]) or vis.deadline[v] <= t:
        return
    unit = vis.unit[v]
    station = u.station[unit]
    if w.on_duty[u.role[unit]]:            # (always, as the wait is counted on duty; kept for clarity)
        for k in range(w.station.first_unit[station], w.station.first_unit[station + 1]):
            other = w.station.units[k]
            if other != unit and u.busy[other] < u.servers[other]:
                move(w, v, other)
                u.busy[other] += 1
                start(w, free_agent(w, other), v, t)
                return
    join_overdue(w, station, v)


@inline
def give_up(w, v, t):
    """GIVE_UP: waiting visit v's deadline has come; if nobody has started it (nor taken it to
    another unit, which voids the deadline), the resident gives up now: abandoned, and its
    entry in the queue is void."""
    vis = w.visit
    if vis.deadline[v] != t or not math.isnan(vis.start[v]):
        return
    w.count[ABANDONED] += 1
    w.unit.stale[vis.unit[v]] += 1
    gave_up(w, v, t)


@compiled
def shift(w, role, on, t):
    """SHIFT: a role goes on duty (its units start on their queues and colleagues' overdue requests)
    or off."""
    w.on_duty[role] = on
    for unit in range(w.role_first[role], w.role_first[role + 1]):
        if on:
            if work_waiting(w, unit):
                fill(w, unit, t)
        elif role == w.rules.duty_leader_role and w.unit.queued[unit] > 0:
            hand_over(w, unit, t)


@compiled
def hand_over(w, unit, t):
    """The duty leader's shift ends: what they have not started goes to whoever of its stage's
    roles comes on duty first (the household's grid leader or the station head in the morning;
    on a Friday or Saturday evening, the duty leader again the next day)."""
    u, vis = w.unit, w.visit
    heads = w.handed_over                           # the queue, by priority, then first come
    for k in range(len(heads)):
        heads[k] = w.queue_first[unit, k]
        w.queue_first[unit, k] = w.queue_last[unit, k] = -1
    u.queued[unit] = 0
    u.stale[unit] = 0
    for k in range(len(heads)):
        v = heads[k]
        while v >= 0:
            after = vis.in_line[v]                  # (read first: joining a queue relinks it)
            if vis.deadline[v] > t:                 # else void: the resident gave up, or a colleague took it
                there = choose(w, v, t)
                join_queue(w, there, v)
                if has_colleagues(w, there) and vis.resident[v]:
                    cal.schedule(w.calendar, cover_time(w, u.role[there], t), COVER, v)
                if w.on_duty[u.role[there]]:
                    fill(w, there, t)
            v = after


@compiled
def meeting(w, unit, t):
    """MEETING: an alliance settles up to its capacity of hard problems at once."""
    for _ in range(w.rules.meeting_capacity):
        v = take(w, unit, t)
        if v < 0:
            return
        w.visit.start[v], w.visit.agent[v] = t, w.unit.first_agent[unit]
        w.count[RESOLVED] += 1
        resolved(w, v, t)


@compiled
def staff(w, change, t):
    """STAFF: a unit's places change as vacancies start or end. With fewer, handlers finish what
    they started and the surplus stop; with more, the new ones start on the queue."""
    unit = w.staff.unit[change]
    w.unit.servers[unit] = w.staff.places[change]
    if w.on_duty[w.unit.role[unit]] and work_waiting(w, unit):
        fill(w, unit, t)


@inline
def handle(w, t, kind, payload):
    """One event off the calendar, to its handler."""
    if kind == END:
        end(w, payload, t)
    elif kind == GIVE_UP:
        give_up(w, payload, t)
    elif kind == COVER:
        cover(w, payload, t)
    elif kind == SHIFT:
        shift(w, payload >> 1, (payload & 1) == 1, t)
    elif kind == COMEBACK:
        come_back(w, payload, t)
    elif kind == MEETING:
        meeting(w, payload, t)
    elif kind == STAFF:
        staff(w, payload, t)


# ------------------------------------------------------------------ the loop
@compiled
def advance(world, until):
    """Handle every event and every request coming forward up to `until` (the calendar first on
    ties). Returns (SAMPLED, t) at a daily census (the caller takes it and calls again), (FULL, t)
    when the records have no room left for what one more event may add (the caller grows them),
    else (DONE, until). The handlers take the world by reference (`refs`)."""
    w = by_reference(world)
    arrivals, c, calendar = w.arrival, w.count, w.calendar
    n_arrivals = len(arrivals.time)
    room_visits, room_requests = len(w.visit.request) - w.rules.new_visits, len(w.request.type) - 1
    while True:
        i = c[NEXT_ARRIVAL]
        t_arrival = arrivals.time[i] if i < n_arrivals else INF
        limit = t_arrival if t_arrival < until else until
        while cal.next_time(calendar) <= limit:
            if c[VISITS] > room_visits or c[REQUESTS] > room_requests:
                return FULL, cal.next_time(calendar)
            t, kind, payload = cal.pop(calendar)
            if kind == SAMPLE:
                return SAMPLED, t
            handle(w, t, kind, payload)
        if t_arrival > until:
            return DONE, until
        if c[VISITS] > room_visits:
            return FULL, t_arrival
        c[NEXT_ARRIVAL] = i + 1
        come_forward(w, arrivals.request[i], t_arrival, arrivals.channel[i])


# ------------------------------------------------------------------ queues as linked lists
@inline
def join_queue(w, unit, v):
    u, rank = w.unit, w.visit.rank[v]
    w.visit.in_line[v] = -1
    last = w.queue_last[unit, rank]
    if last < 0:
        w.queue_first[unit, rank] = v
    else:
        w.visit.in_line[last] = v
    w.queue_last[unit, rank] = v
    u.queued[unit] += 1


@inline
def queue_head(w, unit):
    """The queue's next entry: the first of the most urgent rank that has any."""
    first = w.queue_first
    for k in range(first.shape[1]):
        if first[unit, k] >= 0:
            return first[unit, k]
    return -1


@inline
def leave_queue(w, unit):
    u = w.unit
    v = queue_head(w, unit)
    rank = w.visit.rank[v]
    w.queue_first[unit, rank] = w.visit.in_line[v]
    if w.queue_first[unit, rank] < 0:
        w.queue_last[unit, rank] = -1
    u.queued[unit] -= 1
    return v


@inline
def join_routine(w, unit, v):
    u = w.unit
    w.visit.in_line[v] = -1
    if u.routine_last[unit] < 0:
        u.routine_first[unit] = v
    else:
        w.visit.in_line[u.routine_last[unit]] = v
    u.routine_last[unit] = v
    u.routine[unit] += 1


@inline
def leave_routine(w, unit):
    u = w.unit
    v = u.routine_first[unit]
    u.routine_first[unit] = w.visit.in_line[v]
    if u.routine_first[unit] < 0:
        u.routine_last[unit] = -1
    u.routine[unit] -= 1
    return v


@inline
def has_colleagues(w, unit):
    station = w.unit.station[unit]
    return station >= 0 and w.station.first_unit[station + 1] - w.station.first_unit[station] > 1


@inline
def overdue_waiting(w, unit):
    station = w.unit.station[unit]
    return station >= 0 and w.station.overdue_first[station] >= 0


@inline
def join_overdue(w, station, v):
    s = w.station
    w.visit.overdue_after[v] = -1
    if s.overdue_last[station] < 0:
        s.overdue_first[station] = v
    else:
        w.visit.overdue_after[s.overdue_last[station]] = v
    s.overdue_last[station] = v


@inline
def leave_overdue(w, station):
    s = w.station
    v = s.overdue_first[station]
    s.overdue_first[station] = w.visit.overdue_after[v]
    if s.overdue_first[station] < 0:
        s.overdue_last[station] = -1


@inline
def free_agent(w, unit):
    """The unit's longest-free member (agent id) leaves the ring of free staff."""
    u = w.unit
    k = u.free_head[unit]
    agent = w.free[u.free_first[unit] + k]
    u.free_head[unit] = (k + 1) % u.members[unit]
    u.free_count[unit] -= 1
    return agent


@inline
def free(w, unit, agent):
    u = w.unit
    k = (u.free_head[unit] + u.free_count[unit]) % u.members[unit]
    w.free[u.free_first[unit] + k] = agent
    u.free_count[unit] += 1


# ------------------------------------------------------------------ duty rosters
@inline
def next_on(w, role, t):
    """The first moment at or after t when `role` is on duty (inf: not before the horizon)."""
    d = w.duty
    a, b = d.first[role], d.first[role + 1]
    i = np.searchsorted(d.ends[a:b], t, side="right")
    return INF if i == b - a else max(t, d.starts[a + i])


@inline
def station_next_open(w, t):
    """When a resident can next walk into the station (its head's hours, a desk duty leader's)."""
    i = np.searchsorted(w.duty.open_ends, t, side="right")
    return max(t, w.duty.open_starts[i]) if i < len(w.duty.open_starts) else INF


@inline
def cover_time(w, role, t):
    """When a request queued at t will have waited `cover_after` minutes while `role` was on duty."""
    d = w.duty
    a, b = d.first[role], d.first[role + 1]
    starts, ends, before = d.starts[a:b], d.ends[a:b], d.before[a:b]
    i = np.searchsorted(starts, t, side="right")
    done = 0.0 if i == 0 else before[i - 1] + min(t - starts[i - 1], ends[i - 1] - starts[i - 1])
    target = done + w.rules.cover_after
    j = np.searchsorted(before, target, side="left") - 1       # the interval in which the target is reached
    if j >= len(starts) or target > before[j] + ends[j] - starts[j]:
        return INF
    return starts[j] + (target - before[j])
