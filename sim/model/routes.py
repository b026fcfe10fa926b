"""The static part of every request's journey, fixed before the run from its pre-drawn numbers.

What can be known in advance is: which stages a request will pass through
(its pass-on draws, and the roles nobody staffs for its household), how long
each possible handler would take (service draw, walking or driving), when
the resident or their building leader would report it, and which home
visits could find it first. What cannot, because it depends on who is on
duty and how long the queues are, is left to the journey (`journey.py`):
which of a stage's roles takes it, when, and whether the resident gives up.

Visits are numbered in request order; a request's hotline call, if it would
make one, comes just before its first stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..city import City
from ..scenario import PROPERTY_MODES, ROLES, Scenario, ScenarioError
from .requests import Requests, regular_interval, service_minutes
from .shifts import Duty
from .units import Layout

OWN, BUILDING_LEADER, VISIT, HOTLINE = range(4)
CHANNELS = ("own", "building_leader", "visit", "hotline")   # how a request first reached someone
HOTLINE_STAGE = -1


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
    hotline: np.ndarray        # its hotline call's visit, -1 if it would never call
    report: np.ndarray         # when it comes forward unprompted (resident or building leader)
    channel: np.ndarray        # OWN or BUILDING_LEADER: who reports it at `report`
    patience: np.ndarray       # minutes the resident waits for a first handler once they have asked
    sla: np.ndarray            # minutes from arising within which it should be resolved
    first_wait: np.ndarray     # minutes the first stage expects a resident to wait for its handler to come on
    findable: np.ndarray       # a home visit to its household finds it while unreported
    neighbours_know: np.ndarray   # a home visit anywhere in its building finds it while unreported
    # the likely unit and duration of each visit, had every stage been reached when the resident
    # came forward and nobody given up: for the stability check before the run (-1: call not made)
    likely_pool: np.ndarray
    likely_duration: np.ndarray


def travel_minutes(scenario: Scenario, city: City, role: str, household: np.ndarray) -> np.ndarray:
    """There and back: walking from the household's station (or community office), or 110's drive."""
    cfg = getattr(scenario.roles, role)
    if role == "police110":
        return np.full(len(household), 2 * cfg.response_minutes)
    if cfg.travel:
        return 2 * city.hh_base_walk_min[household]
    return np.zeros(len(household))


def _durations(scenario: Scenario, city: City, name: str, role: str, households: np.ndarray,
               u: np.ndarray) -> np.ndarray:
    if role == "alliance":
        return np.zeros(len(households))
    minutes = service_minutes(scenario.requests[name].service[role], u)
    if role == "property_manager":
        factor = np.array([scenario.roles.property_manager.modes[m].service_factor for m in PROPERTY_MODES])
        minutes = minutes * factor[city.compound_mode[city.hh_compound[households]]]
    return minutes + travel_minutes(scenario, city, role, households)


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


def plan(scenario: Scenario, city: City, requests: Requests, layout: dict[str, Layout],
         pool_offset: dict[str, int], duties: dict[str, Duty], horizon: float) -> Plan:
    """Every request's stages, handlers' durations, report time and findability (vectorised by type)."""
    n = len(requests)
    sc = scenario
    hotline_pool = pool_offset["hotline"] if layout["hotline"].members.sum() else -1
    call_share = sc.residents.hotline_when_closed if hotline_pool >= 0 else 0.0
    bl = sc.roles.building_leader
    bl_duty = duties["building_leader"]

    report = requests.contact.copy()
    channel = np.full(n, OWN, dtype=np.int8)
    patience = np.full(n, np.inf)
    sla = np.full(n, np.inf)
    first_wait = np.zeros(n)
    findable = np.zeros(n, dtype=bool)
    neighbours = np.zeros(n, dtype=bool)
    calls = np.zeros(n, dtype=bool)
    pieces = []      # (request, stage, pool, duration) per visit; options separately
    options: list[tuple[np.ndarray, np.ndarray, tuple]] = []   # (request, stage, alternatives) per row group

    for t, (name, rt) in enumerate(sc.requests.items()):
        rows = np.flatnonzero(requests.type == t)
        if not len(rows):
            continue
        hh = requests.household[rows]
        if rt.schedule == "regular":        # due within its interval, dropped when the next falls due
            patience[rows] = sla[rows] = regular_interval(sc, city, name)[hh]
        else:
            sla[rows] = rt.sla_hours * 60
            if rt.patience_hours is not None:
                draw = 1.0 if rt.patience_dist == "fixed" else requests.e_patience[rows]
                patience[rows] = draw * rt.patience_hours * 60
        if rt.origin == "resident":
            calls[rows] = requests.u_hotline[rows] < call_share
        reached = np.ones(len(rows), dtype=bool)
        visited_any = np.zeros(len(rows), dtype=bool)
        waits = np.zeros(len(rows))
        engaged = np.zeros(len(rows), dtype=bool)
        for k, stage in enumerate(rt.stages):
            staffed = [(role, layout[role].hh_unit[hh]) for role in stage.roles]
            staffed = [(role, unit) for role, unit in staffed if (unit >= 0).any()]
            has = np.zeros(len(rows), dtype=int)
            for _, unit in staffed:
                has += unit >= 0
            visit = reached & (has > 0)
            if stage.roles == ("building_leader",):
                visit &= requests.u_building_leader[rows] < bl.share_available
                engaged |= visit
            u = requests.u_service[rows, k]
            durations = {role: _durations(sc, city, name, role, hh, u) for role, _ in staffed}
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
            reached &= ~visit | (requests.u_pass[rows, k] < stage.pass_on)
        if not visited_any.all():
            lost = int((~visited_any).sum())
            raise ScenarioError(f"requests.{name}.stages",
                                f"{lost} of {len(rows)} requests found no staffed handler "
                                f"(end the journey with a role every household has)")
        first_wait[rows] = waits
        calls[rows[engaged]] = False        # the resident waits for their building leader, not 12345
        if engaged.any():   # the building leader hears of it sooner, in their hours
            r = rows[engaged]
            heard = bl_duty.next_on(requests.created[r] + bl.report_delay_factor * (requests.contact[r]
                                                                                     - requests.created[r]))
            sooner = heard < requests.contact[r]
            report[r[sooner]] = heard[sooner]
            channel[r[sooner]] = BUILDING_LEADER
        if rt.visit_finds != "nothing":
            findable[rows[~engaged]] = True    # a building leader's problem is already in hand
            if rt.visit_finds == "building":
                neighbours[rows[~engaged]] = requests.u_neighbours[rows[~engaged]] < rt.visit_building_share

    # options become visits of pool -1 in the flat arrays; their alternatives go in a dict
    for r, k, wait, alts in options:
        pieces.append((r, k, np.full(len(r), -1), np.full(len(r), np.nan),
                       *_likely(alts, wait, requests.contact[r], duties)))
    pieces = [piece if len(piece) == 6 else (*piece, piece[2], piece[3]) for piece in pieces]
    hot = np.flatnonzero(calls)
    if len(hot):
        call_minutes = service_minutes(sc.roles.hotline.call, requests.u_call[hot])
        pieces.append((hot, np.full(len(hot), HOTLINE_STAGE), np.full(len(hot), hotline_pool), call_minutes,
                       np.full(len(hot), hotline_pool), call_minutes))
    empty = (np.zeros(0, dtype=np.int64),) * 3 + (np.zeros(0),) + (np.zeros(0, dtype=np.int64), np.zeros(0))
    request, stage, pool, duration, likely_pool, likely_duration = (
        np.concatenate([*c, e]) for c, e in zip(zip(*pieces) if pieces else [()] * 6, empty))
    order = np.lexsort((stage, request))
    request, stage, pool, duration = request[order], stage[order], pool[order], duration[order]
    likely_pool, likely_duration = likely_pool[order], likely_duration[order]
    count = np.bincount(request, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    hotline = np.where(calls, start, -1)
    first = start + calls
    nxt = np.arange(1, len(request) + 1)
    nxt[start + count - 1] = -1
    # a call is made only if the first stage's handler is off duty for longer than the stage expects
    if len(hot):
        role_of_pool = np.repeat(np.arange(len(ROLES)), [len(layout[role].members) for role in ROLES])
        first_role = role_of_pool[likely_pool[first[hot]]]
        at = requests.contact[hot]
        closed = np.zeros(len(hot), dtype=bool)
        for rr in np.unique(first_role):
            mine = first_role == rr
            closed[mine] = duties[ROLES[rr]].next_on(at[mine]) - at[mine] > first_wait[hot[mine]]
        likely_pool[hotline[hot][~closed]] = -1

    slot_options, groups = {}, []
    stride = len(ROLES) + 1          # more than any type's stages: a role is in one stage at most
    key = request * stride + stage + 1      # ascending: requests in order, each hotline call first
    for g, (r, k, wait, alts) in enumerate(options):
        slots = np.searchsorted(key, r * stride + k + 1).tolist()
        slot_options.update(zip(slots, zip([g] * len(slots), range(len(slots)))))
        groups.append((wait, [(role, p.tolist(), d.tolist()) for role, p, d in alts]))
    return Plan(request=request, stage=stage, pool=pool, duration=duration, next=nxt, options=slot_options,
                option_groups=groups,
                first=first, hotline=hotline, report=report, channel=channel, patience=patience,
                first_wait=first_wait, sla=sla,
                findable=findable, neighbours_know=neighbours, likely_pool=likely_pool,
                likely_duration=likely_duration)
