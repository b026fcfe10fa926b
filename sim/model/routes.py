"""The static part of every request's journey, fixed before the run from its pre-drawn numbers.

What can be known in advance is: how the resident would reach the grid (the
lower level of their channel choice, which depends only on where they live,
when they come forward and who they are), and so at which stage the journey
starts; which stages it then passes through (its pass-on draws, and the
roles nobody staffs for its household); how long each possible handler would
take (service draw, walking or driving); when the resident or their building
leader would report it; and which home visits could find it first. What
cannot, because it depends on who is on duty, how long the queues are and
what the household has lived through, is left to the journey
(`journey.py`): whether the resident goes to the grid, calls 12345 or stays
silent (the upper level, which depends on trust), which of a stage's roles
takes it, when, and whether the resident gives up.

Visits are numbered in request order, each request's stages together; a
call to 12345 is a visit added when the resident makes it (`Journey.call`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..city import City
from ..scenario import PROPERTY_MODES, ROLES, Scenario, ScenarioError
from .calendar import compiled
from .requests import Window, regular_interval, service_minutes
from .shifts import Duty
from .units import Layout

# how a request first reached someone
WALK_IN, MESSAGE, BUILDING_LEADER, DIRECT, VISIT, HOTLINE, SILENT, ROUTINE = range(8)
CHANNELS = ("walk_in", "message", "building_leader", "direct", "visit", "hotline", "silent", "routine")
WAYS = ("walk_in", "message", "building_leader")     # the lower level: ways into the grid
REPORTED_BY = ("walk_in", "message", "building_leader", "visit", "hotline")   # how a resident's problem reaches
                                                                               # someone (first_handler_share)
WAY_ROLE = {"walk_in": "station_head", "message": "grid_leader", "building_leader": "building_leader"}
HOTLINE_STAGE = -1        # the visit of a call to 12345
RECEPTION_STAGE = -2      # the receiving grid leader's or station head's triage, before the type's stages


@dataclass(frozen=True)
class Plan:
    # per visit
    request: np.ndarray
    stage: np.ndarray          # index in the type's stages; HOTLINE_STAGE for the 12345 call
    pool: np.ndarray           # pool index, or -1 where the stage has several possible roles
    duration: np.ndarray       # minutes the handler is occupied, walking included (nan with options)
    next: np.ndarray           # the request's next visit, -1 after its last
    options: dict              # visit -> (group, row): where its stage allows several roles
    option_groups: list        # group -> (wait minutes, [(role, pools, durations), ...]): per row, the
                               # pool index (-1: not staffed for this household) and duration of each role
    # per request
    first: np.ndarray          # its first stage's visit
    last: np.ndarray           # its last stage's visit (its stages' visits lie between)
    call_minutes: np.ndarray   # how long a call to 12345 would take
    report: np.ndarray         # when it comes forward unprompted (resident or building leader)
    channel: np.ndarray        # the way it reaches the grid at `report` (WAYS, DIRECT, or ROUTINE for staff work)
    a_hotline: np.ndarray      # upper level, relative to the grid: 12345's utility before trust and a closed
    a_silent: np.ndarray       # office (-inf: not open to this request), and silence's before trust
    patience: np.ndarray       # minutes the resident waits for a first handler once they have asked
    sla: np.ndarray            # minutes from the report within which it should be resolved
    first_wait: np.ndarray     # minutes the first stage expects a resident to wait for its handler to come on
    findable: np.ndarray       # a home visit to its household finds it while unreported
    neighbours_know: np.ndarray   # a home visit anywhere in its building finds it while unreported (a findable one)
    # found on a home visit, the grid leader at the door passes it on as part of the visit: the station
    # head's reception the resident would have walked in to is skipped (found_skip), or, where that
    # reception would have settled it, the grid leader settles it with a triage of their own (found_pool,
    # found_triage minutes; -1 and nan elsewhere)
    found_skip: np.ndarray
    found_pool: np.ndarray
    found_triage: np.ndarray
    # the likely unit and duration of each visit, had every stage been reached when the resident
    # came forward and nobody given up: for the stability check before the run
    likely_pool: np.ndarray
    likely_duration: np.ndarray


def travel_minutes(scenario: Scenario, city: City, role: str, household: np.ndarray,
                   stage_roles: tuple[str, ...] = ()) -> np.ndarray:
    """There and back: walking from the household's station (or community office), or 110's drive.
    The duty leader travels as the role of the stage it stands in for (none at a reception), plus the
    phone's response when on call."""
    if role == "duty_leader":
        duty = scenario.roles.duty_leader
        base = next((r for r in stage_roles if r in duty.stands_in_for()), None)
        there = travel_minutes(scenario, city, base, household) if base else np.zeros(len(household))
        return there + (duty.response_minutes if duty.where == "phone" else 0.0)
    cfg = getattr(scenario.roles, role)
    if role == "police110":
        return np.full(len(household), 2 * cfg.response_minutes)
    if cfg.travel:
        return 2 * city.hh_base_walk_min[household]
    return np.zeros(len(household))


def _durations(scenario: Scenario, city: City, name: str, role: str, households: np.ndarray,
               u: np.ndarray, stage_roles: tuple[str, ...] = ()) -> np.ndarray:
    """Minutes a handler of `role` is occupied by each request of type `name`: service and travel. The
    duty leader takes the service time of the role it stands in for (the first of the stage's)."""
    if role == "alliance":
        return np.zeros(len(households))
    duty = scenario.roles.duty_leader
    served = role if role != "duty_leader" else next(r for r in stage_roles if r in duty.stands_in_for())
    minutes = service_minutes(scenario.requests[name].service[served], u)
    if served == "property_manager":
        factor = np.array([scenario.roles.property_manager.modes[m].service_factor for m in PROPERTY_MODES])
        minutes = minutes * factor[city.compound_mode[city.hh_compound[households]]]
    return minutes + travel_minutes(scenario, city, role, households, stage_roles)


def _likely(alternatives: list, wait: float, times: np.ndarray, duties: dict[str, Duty]) -> tuple:
    """The pool and duration `journey.choose` would pick at `times`, vectorised over rows."""
    chosen = np.full(len(times), -1)
    duration = np.full(len(times), np.nan)
    soonest = np.full(len(times), np.inf)
    fallback = np.full(len(times), -1)
    fallback_duration = np.full(len(times), np.nan)
    for role, pools, minutes in alternatives:
        staffed = pools >= 0
        at = np.where(staffed, duties[ROLES[role]].next_on(times), np.inf)
        take = (chosen < 0) & staffed & (at - times <= wait)
        chosen[take], duration[take] = pools[take], minutes[take]
        sooner = staffed & (at < soonest)
        soonest[sooner], fallback[sooner], fallback_duration[sooner] = at[sooner], pools[sooner], minutes[sooner]
    rest = chosen < 0
    chosen[rest], duration[rest] = fallback[rest], fallback_duration[rest]
    return chosen, duration


def station_open(scenario: Scenario, duties: dict[str, Duty]) -> Duty:
    """When a resident can walk into the station: its head's hours, and the duty leader's at the desk."""
    if "station_head" in scenario.roles.duty_leader.stands_in_for():
        return duties["station_head"].union(duties["duty_leader"])
    return duties["station_head"]


def with_stand_ins(scenario: Scenario, roles: tuple[str, ...]) -> tuple[str, ...]:
    """A stage's roles with the station's duty leader after those it stands in for (out of hours)."""
    stand_in = scenario.roles.duty_leader.stands_in_for()
    out = [r for role in roles for r in ((role, "duty_leader") if role in stand_in else (role,))]
    return tuple(dict.fromkeys(out))


def entry_stage(rt, way: str | None) -> int:
    """Where a resident's journey starts: at the building leader's stage if they told the building
    leader and the type has one; otherwise at the first stage without a building leader (a walk-in's
    or a message's receiver passes it to the first stage from there on with a handler for the
    household, `_first_staffed`)."""
    for k, stage in enumerate(rt.stages):
        if way == "building_leader" and stage.roles == ("building_leader",):
            return k
    return next((k for k, stage in enumerate(rt.stages) if "building_leader" not in stage.roles), 0)


def _first_staffed(sc: Scenario, rt, layout: dict[str, Layout], hh: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """For each request, the first stage from its entry on with a handler staffed for its household
    (a compound without a property manager starts at the grid leader's)."""
    staffed = np.column_stack([np.any([layout[r].hh_unit[hh] >= 0 for r in with_stand_ins(sc, st.roles)], axis=0)
                               for st in rt.stages])
    later = staffed & (np.arange(len(rt.stages))[None, :] >= entry[:, None])
    return np.where(later.any(axis=1), later.argmax(axis=1), entry)


def _receivers(sc: Scenario, rt, way: np.ndarray | None, engaged: np.ndarray,
               start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Who receives each request first (index into ROLES, -1: nobody): the grid leader of a resident
    who messages, the station head of one who walks in, where the scenario gives that role a triage
    time; nobody for staff work or an emergency (no way), nor one a building leader took up.
    `pinned`: the receiver where they are also a handler of `start` (the first stage with a handler
    for the household), which they then take themselves (-1 elsewhere)."""
    n = len(start)
    receiver, pinned = np.full(n, -1), np.full(n, -1)
    if way is None:
        return receiver, pinned
    for w, name in enumerate(WAYS):
        role = WAY_ROLE[name]
        if sc.residents.reception.triage(role) is None:
            continue
        mine = (way == w) & ~engaged
        receiver[mine] = ROLES.index(role)
        handles = np.array([role in stage.roles for stage in rt.stages])[start]
        pinned[mine & handles] = ROLES.index(role)
    return receiver, pinned


def _pin(sc: Scenario, unit: np.ndarray, pinned: np.ndarray, here: np.ndarray, role: str) -> np.ndarray:
    """A role's units at a stage, with the rows whose receiver takes this stage themselves (`pinned`
    here) left to that receiver alone (and whoever stands in for them out of hours)."""
    mine = [ROLES.index(r) for r in ROLES if role in with_stand_ins(sc, (r,))]
    other = here & (pinned >= 0) & ~np.isin(pinned, mine)
    return np.where(other, -1, unit) if other.any() else unit


def _ways(scenario: Scenario, city: City, layout: dict[str, Layout], duties: dict[str, Duty], hh: np.ndarray,
          at: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lower level of the channel choice for residents of households `hh` coming forward at `at`:
    the way each takes (index into WAYS, -1: none open to them) and the log-sum of the ways' utilities."""
    c = scenario.residents.channels
    elderly = city.hh_elderly[hh]
    with np.errstate(divide="ignore"):
        bl_share = np.log(scenario.roles.building_leader.share_available)
    walk_in = (c.walk_in + c.walk_per_minute * city.hh_nearest_station_walk_min[hh]
               + c.walk_per_closed_hour * (station_open(scenario, duties).next_on(at) - at) / 60
               + c.elderly_walk_in * elderly)
    message = c.message + c.elderly_message * elderly
    n = len(hh)
    shifted, top = np.empty((n, len(WAYS))), np.empty(n)
    way_utilities(walk_in, message, c.building_leader + bl_share, hh,
                  *(layout[WAY_ROLE[w]].hh_unit for w in WAYS), shifted, top)
    with np.errstate(invalid="ignore"):
        weight = np.exp(shifted)
    way, total = np.empty(n, dtype=np.int64), np.empty(n)
    choose_ways(weight, u, way, total)
    with np.errstate(divide="ignore"):
        logsum = np.where(total > 0, np.log(np.where(total > 0, total, 1.0)) + top, 0.0)
    return way, logsum


# The ways' logit, a request a row, in two compiled passes around numpy's exp and log (whose
# results they keep to the bit): numpy's reductions along a row of three took 0.15 s of the
# M/M/4 validation case's 1.24 million requests (docs/PERFORMANCE.md).
@compiled
def way_utilities(walk_in, message, building_leader, hh, walk_in_unit, message_unit, building_leader_unit,
                  shifted, top):
    """Each way's utility (-inf where the household's role has no unit), less the largest (top,
    nan if any is; a top that is not finite is not taken off)."""
    for i in range(len(hh)):
        h = hh[i]
        shifted[i, 0] = walk_in[i] if walk_in_unit[h] >= 0 else -math.inf
        shifted[i, 1] = message[i] if message_unit[h] >= 0 else -math.inf
        shifted[i, 2] = building_leader if building_leader_unit[h] >= 0 else -math.inf
        t = -math.inf
        for k in range(shifted.shape[1]):
            v = shifted[i, k]
            if t == t and (v != v or v > t):
                t = v
        top[i] = t
        if math.isfinite(t):
            for k in range(shifted.shape[1]):
                shifted[i, k] -= t


@compiled
def choose_ways(weight, u, way, total):
    """The way whose share of the weights' running sum the uniform u reaches (at most the last;
    -1 where no way is open), and the weights' total."""
    last = weight.shape[1] - 1
    for i in range(len(u)):
        s = weight[i, 0]
        for k in range(1, last + 1):
            s += weight[i, k]
        total[i] = s
        if s > 0:
            running, reached = 0.0, 0
            for k in range(last + 1):
                running = weight[i, k] if k == 0 else running + weight[i, k]
                reached += u[i] >= running / s
            way[i] = min(reached, last)
        else:
            way[i] = -1


@compiled
def hold(held, count, request, stage):
    """Each request's stages as the bits (stage + 2) of its `held`, and how many it has."""
    for i in range(len(request)):
        held[request[i]] |= np.int64(1) << (stage[i] + 2)
        count[request[i]] += 1


@compiled
def place(first, held, at, request, stage, pool, duration, likely_pool, likely_duration,
          to_request, to_stage, to_pool, to_duration, to_likely_pool, to_likely_duration):
    """Visits written to their places (`at`): their request's first, plus its stages before theirs."""
    for i in range(len(request)):
        r = request[i]
        below, before = held[r] & ((np.int64(1) << (stage[i] + 2)) - 1), 0
        while below:
            below &= below - 1
            before += 1
        a = at[i] = first[r] + before
        to_request[a], to_stage[a], to_pool[a] = r, stage[i], pool[i]
        to_duration[a], to_likely_pool[a], to_likely_duration[a] = duration[i], likely_pool[i], likely_duration[i]


def plan(scenario: Scenario, city: City, requests: Window, layout: dict[str, Layout],
         pool_offset: dict[str, int], duties: dict[str, Duty], horizon: float) -> Plan:
    """Every request's entry, stages, handlers' durations, report time and findability (vectorised by
    type), for a window of the requests (`Requests.windows`): its rows and visits numbered within it."""
    n = len(requests)
    sc = scenario
    c = sc.residents.channels
    hotline_pool = pool_offset["hotline"] if layout["hotline"].members.sum() else -1
    bl = sc.roles.building_leader
    bl_duty = duties["building_leader"]

    report = requests.contact.copy()
    channel = np.full(n, ROUTINE, dtype=np.int8)
    a_hotline = np.full(n, -np.inf)
    a_silent = np.full(n, -np.inf)
    patience = np.full(n, np.inf)
    sla = np.full(n, np.inf)
    first_wait = np.zeros(n)
    findable = np.zeros(n, dtype=bool)
    neighbours = np.zeros(n, dtype=bool)
    found_skip = np.zeros(n, dtype=bool)
    found_pool = np.full(n, -1, dtype=np.int32)
    found_triage = np.full(n, np.nan, dtype=np.float32)
    reception = sc.residents.reception
    pieces = []      # (request, stage, pool, duration) per visit; options separately
    options: list[tuple[np.ndarray, np.ndarray, tuple]] = []   # (request, stage, alternatives) per row group

    for t, (name, rt) in enumerate(sc.requests.items()):
        drawn = requests.of_type(t)
        rows = drawn.rows
        if not len(rows):
            continue
        hh = requests.household[rows]
        entry = np.zeros(len(rows), dtype=np.int64)
        engaged = np.zeros(len(rows), dtype=bool)
        way = None                           # staff work: nobody chooses a way
        if rt.schedule == "regular":        # due within its interval, dropped when the next falls due
            patience[rows] = sla[rows] = regular_interval(sc, city, name)[hh]
        else:
            sla[rows] = rt.sla_hours * 60
            if rt.patience_hours is not None:
                draw = 1.0 if rt.patience_dist == "fixed" else drawn.e_patience
                patience[rows] = draw * rt.patience_hours * 60
        if rt.origin == "resident":
            # a building leader who takes the problem up hears of it first; the others choose a way in
            bl_stage = next((k for k, st in enumerate(rt.stages) if st.roles == ("building_leader",)), None)
            if bl_stage is not None:
                engaged = (layout["building_leader"].hh_unit[hh] >= 0) & (drawn.u_building_leader
                                                                          < bl.share_available)
            way, logsum = _ways(sc, city, layout, duties, hh, requests.contact[rows], drawn.u_way)
            if rt.emergency:                  # they call the police straight away, whatever the hour
                way = np.full(len(rows), -1)
            entry = np.array([entry_stage(rt, None)] + [entry_stage(rt, w) for w in WAYS])[way + 1]
            channel[rows] = np.where(way >= 0, way, DIRECT)
            walk_in = way == WAYS.index("walk_in")            # the station may open later than they come
            report[rows[walk_in]] = station_open(sc, duties).next_on(requests.contact[rows[walk_in]])
            if bl_stage is not None:
                entry[engaged] = bl_stage
                channel[rows[engaged]] = BUILDING_LEADER
            grid = c.nest * logsum
            if hotline_pool >= 0:
                a_hotline[rows] = c.hotline + rt.hotline_bias - grid
            if c.silent is not None:
                a_silent[rows] = c.silent + rt.silent_bias - grid
            a_hotline[rows[engaged]] = a_silent[rows[engaged]] = -np.inf
        start = _first_staffed(sc, rt, layout, hh, entry)
        receiver, pinned = _receivers(sc, rt, way, engaged, start)
        triaged = (receiver >= 0) & (pinned < 0)
        # (draws read only where they decide something: a window's draws are made as they are read)
        settled = triaged & (drawn.u_settle < rt.reception_settles) if triaged.any() else triaged
        for role in sorted({ROLES[i] for i in receiver[triaged]}):
            mine = np.flatnonzero(triaged & (receiver == ROLES.index(role)))
            minutes = service_minutes(reception.triage(role), drawn.u_triage[mine])
            alternatives = [(ROLES.index(r), np.where(layout[r].hh_unit[hh[mine]] >= 0,
                                                      pool_offset[r] + layout[r].hh_unit[hh[mine]], -1),
                             minutes + (travel_minutes(sc, city, r, hh[mine]) if r == "duty_leader" else 0.0))
                            for r in with_stand_ins(sc, (role,))]
            several = np.zeros(len(mine), dtype=bool)
            for _, pools, _ in alternatives[1:]:
                several |= pools >= 0
            pieces.append((rows[mine[~several]], np.full((~several).sum(), RECEPTION_STAGE),
                           alternatives[0][1][~several], minutes[~several]))
            if several.any():
                options.append((rows[mine[several]], np.full(several.sum(), RECEPTION_STAGE), 0.0,
                                [(r, pools[several], d[several]) for r, pools, d in alternatives]))
        walked_in = triaged & (receiver == ROLES.index("station_head"))
        found_skip[rows[walked_in & ~settled]] = True
        point = walked_in & settled & (layout["grid_leader"].hh_unit[hh] >= 0)
        if reception.grid_leader is not None and point.any():
            found_pool[rows[point]] = pool_offset["grid_leader"] + layout["grid_leader"].hh_unit[hh[point]]
            found_triage[rows[point]] = service_minutes(reception.grid_leader, drawn.u_triage[point])
        reached = ~settled
        visited_any = np.zeros(len(rows), dtype=bool)
        waits = np.zeros(len(rows))
        for k, stage in enumerate(rt.stages):
            roles = stage.roles if rt.home_visit else with_stand_ins(sc, stage.roles)   # (visits: own households)
            staffed = [(role, _pin(sc, layout[role].hh_unit[hh], pinned, start == k, role)) for role in roles]
            staffed = [(role, unit) for role, unit in staffed if (unit >= 0).any()]
            has = np.zeros(len(rows), dtype=int)
            for _, unit in staffed:
                has += unit >= 0
            visit = reached & (has > 0) & (entry <= k)
            if stage.roles == ("building_leader",):
                visit &= entry == k                  # a building leader is only ever the first handler
            u = drawn.at_stage("u_service", k)
            durations = {role: _durations(sc, city, name, role, hh, u, stage.roles) for role, _ in staffed}
            single = visit & (has == 1)
            for role, unit in staffed:
                mine = single & (unit >= 0)
                pieces.append((rows[mine], np.full(mine.sum(), k), pool_offset[role] + unit[mine],
                               durations[role][mine]))
            several = np.flatnonzero(visit & (has > 1))
            if len(several):
                alternatives = [(ROLES.index(role), np.where(unit[several] >= 0, pool_offset[role] + unit[several], -1),
                                 durations[role][several]) for role, unit in staffed]
                options.append((rows[several], np.full(len(several), k), stage.wait_hours * 60, alternatives))
            waits[visit & ~visited_any] = stage.wait_hours * 60
            visited_any |= visit
            if k < len(rt.stages) - 1:
                reached &= (entry > k) | ~visit | (drawn.at_stage("u_pass", k) < stage.pass_on)
        if not (visited_any | settled).all():
            lost = int((~(visited_any | settled)).sum())
            raise ScenarioError(f"requests.{name}.stages",
                                f"{lost} of {len(rows)} requests found no staffed handler "
                                f"(end the journey with a role every household has)")
        # a receiver's resident expects the wait of the stage the receiver passes it to
        first_wait[rows] = np.where(triaged, np.array([st.wait_hours * 60 for st in rt.stages])[start], waits)
        if engaged.any():   # the building leader hears of it sooner, in their hours
            r = rows[engaged]
            heard = bl_duty.next_on(requests.created[r] + bl.report_delay_factor * (requests.contact[r]
                                                                                     - requests.created[r]))
            report[r] = np.minimum(heard, requests.contact[r])
        if rt.visit_finds != "nothing":
            findable[rows[~engaged]] = True    # a building leader's problem is already in hand
            if rt.visit_finds == "building":
                neighbours[rows[~engaged]] = drawn.u_neighbours[~engaged] < rt.visit_building_share

    # options become visits of pool -1 in the flat arrays; their alternatives go in a dict
    for r, k, wait, alts in options:
        pieces.append((r, k, np.full(len(r), -1), np.full(len(r), np.nan),
                       *_likely(alts, wait, requests.contact[r], duties)))
    pieces = [piece if len(piece) == 6 else (*piece, piece[2], piece[3]) for piece in pieces]
    # visits in request order, each request's stages in order: a request's stages are the bits of one
    # integer (stage + 2: a role is in one stage at most), and a visit's place is its request's first
    # place plus the bits below its own, written there once (joining the pieces, then sorting and
    # copying them, made a calibration's plan about 5 ms slower, of 135 ms)
    held, count = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for r, k, *_ in pieces:
        hold(held, count, r, k)
    # (in the types the records keep them in: int32 indices, int8 stages; a city-year's plan 45 MB less,
    # by its arrays' sizes)
    first = (np.cumsum(count) - count).astype(np.int32)
    visits = int(count.sum())
    columns = [np.empty(visits, dtype=dtype) for dtype in (np.int32, np.int8, np.int32, np.float64, np.int32, np.float64)]
    places = [np.empty(len(piece[0]), dtype=np.int64) for piece in pieces]
    for at in places:
        place(first, held, at, *pieces.pop(0), *columns)    # each piece let go once placed
    request, stage, pool, duration, likely_pool, likely_duration = columns
    last = (first + count - 1).astype(np.int32)
    nxt = np.arange(1, visits + 1, dtype=np.int32)
    nxt[last] = -1

    slot_options, groups = {}, []                     # the options' pieces are the last
    for g, ((_, _, wait, alts), at) in enumerate(zip(options, places[len(pieces) - len(options):])):
        slots = at.tolist()
        slot_options.update(zip(slots, zip([g] * len(slots), range(len(slots)))))
        groups.append((wait, [(role, p.tolist(), d.tolist()) for role, p, d in alts]))
    return Plan(request=request, stage=stage, pool=pool, duration=duration, next=nxt, options=slot_options,
                option_groups=groups,
                first=first, last=last,
                call_minutes=service_minutes(sc.roles.hotline.call, requests.u_call),
                report=report, channel=channel, a_hotline=a_hotline,
                a_silent=a_silent, patience=patience, first_wait=first_wait, sla=sla,
                findable=findable, neighbours_know=neighbours, found_skip=found_skip, found_pool=found_pool,
                found_triage=found_triage, likely_pool=likely_pool, likely_duration=likely_duration)
