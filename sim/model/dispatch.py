"""Dispatch: which pool of staff serves a household at each role, and each request's route.

A pool is one queue with a number of servers: the grid leaders of a station,
the head of a station, the leader of a building, the volunteers of a
community on duty at once. A request's route through the pools is fixed when
it is drawn: its handler chain, minus the roles nobody staffs for its
household, cut where a handler settles it instead of passing it on. Only
queueing, shifts and patience are left to the event loop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..city import City, split_counts
from ..scenario import PROPERTY_MODES, ROLES, Scenario, ScenarioError
from .requests import Requests, service_minutes


class Pool:
    """One queue, `servers` places, and the staff agents who take turns at them."""
    __slots__ = ("role", "unit", "servers", "busy", "queue", "free", "members")

    def __init__(self, role: int, unit: int, servers: int):
        self.role, self.unit, self.servers = role, unit, servers
        self.busy = 0
        self.queue: list = []      # heap of (priority, seq, visit)
        self.free: deque = deque()
        self.members: list = []


@dataclass(frozen=True)
class Layout:
    """For one role: each household's unit (-1: none), and each unit's head count and servers."""
    hh_unit: np.ndarray
    members: np.ndarray
    servers: np.ndarray


def _by_community(total: int, share: float, city: City) -> tuple[np.ndarray, np.ndarray]:
    """Split a community-level head count by households; servers are the share on duty."""
    households = np.bincount(city.hh_community, minlength=len(city.community_x)).astype(float)
    members = split_counts(total, households) if total else np.zeros(len(households), dtype=np.int64)
    servers = np.where(members > 0, np.maximum(1, np.round(members * share)), 0).astype(np.int64)
    return members, servers


def layouts(scenario: Scenario, city: City) -> dict[str, Layout]:
    r = scenario.roles
    none = np.full(city.households, -1, dtype=np.int64)
    out = {}

    def station_role(per_station: int) -> Layout:
        n = np.full(city.stations, per_station, dtype=np.int64)
        return Layout(city.hh_station if per_station else none, n, n)

    n_bl = np.full(len(city.building_compound), r.building_leader.per_building, dtype=np.int64)
    out["building_leader"] = Layout(city.hh_building if r.building_leader.per_building else none, n_bl, n_bl)

    if city.stations:
        unit, grids = city.hh_station, np.bincount(city.grid_station, minlength=city.stations)
        floor = r.grid_leader.min_per_station
    else:  # before stations existed, grid leaders worked out of the community office
        unit, grids = city.hh_community, np.bincount(city.grid_community, minlength=len(city.community_x))
        floor = 0
    n_gl = np.maximum(np.round(r.grid_leader.per_grid * grids), floor).astype(np.int64)
    out["grid_leader"] = Layout(np.where(n_gl[unit] > 0, unit, -1), n_gl, n_gl)

    out["station_head"] = station_role(r.station_head.per_station)
    out["police"] = station_role(r.police.per_station)
    for role in ("community_worker", "volunteer"):
        cfg = getattr(r, role)
        members, servers = _by_community(cfg.count, cfg.share_on_duty, city)
        out[role] = Layout(np.where(servers[city.hh_community] > 0, city.hh_community, -1), members, servers)

    modes = r.property_manager.modes
    staff = np.array([modes[m].staff for m in PROPERTY_MODES])[city.compound_mode]
    hh_compound = city.hh_compound
    out["property_manager"] = Layout(np.where(staff[hh_compound] > 0, hh_compound, -1), staff, staff)

    n_all = r.alliance.count
    out["alliance"] = Layout(_alliance_of(city, n_all)[city.hh_community] if n_all else none,
                             np.ones(n_all, dtype=np.int64), np.zeros(n_all, dtype=np.int64))
    return out


def _alliance_of(city: City, count: int) -> np.ndarray:
    """The alliance each community takes hard problems to: one of its sub-district's, in turn."""
    subs = city.community_sub_district
    alliance_sub = np.arange(count) % (subs.max() + 1)
    out = np.empty(len(subs), dtype=np.int64)
    for k, s in enumerate(subs):
        mine = np.flatnonzero(alliance_sub == s)
        mine = mine if len(mine) else np.arange(count)
        out[k] = mine[np.sum(subs[:k] == s) % len(mine)]
    return out


@dataclass(frozen=True)
class Routes:
    """Every visit of every request, in request order; a visit is one stage at one pool."""
    request: np.ndarray
    stage: np.ndarray        # index in the type's handler chain
    role: np.ndarray         # index into ROLES
    unit: np.ndarray
    duration: np.ndarray     # minutes the handler is occupied, walking included
    first: np.ndarray        # per request: its first visit
    count: np.ndarray        # per request: how many visits it will need


def plan_routes(scenario: Scenario, city: City, requests: Requests, layout: dict[str, Layout]) -> Routes:
    """Fix each request's route from its pre-drawn uniforms (vectorised, type by type)."""
    share_bl = scenario.roles.building_leader.share_available
    modes = scenario.roles.property_manager.modes
    mode_factor = np.array([modes[m].service_factor for m in PROPERTY_MODES])
    walk = 2 * city.hh_base_walk_min
    parts = []
    for t, (name, rt) in enumerate(scenario.requests.items()):
        rows = np.flatnonzero(requests.type == t)
        hh = requests.household[rows]
        reached = np.ones(len(rows), dtype=bool)
        visited_any = np.zeros(len(rows), dtype=bool)
        for k, role in enumerate(rt.handlers):
            unit = layout[role].hh_unit[hh]
            visit = reached & (unit >= 0)
            if role == "building_leader":
                visit &= requests.u_available[rows] < share_bl
            if role == "alliance":
                duration = np.zeros(len(rows))
            else:
                duration = service_minutes(rt.service[role], requests.u_service[rows, k])
                if role == "property_manager":
                    duration = duration * mode_factor[city.compound_mode[city.hh_compound[hh]]]
                if getattr(scenario.roles, role).travel:
                    duration = duration + walk[hh]
            parts.append((rows[visit], np.full(visit.sum(), k), np.full(visit.sum(), ROLES.index(role)),
                          unit[visit], duration[visit]))
            visited_any |= visit
            if k < len(rt.escalation):
                reached &= ~visit | (requests.u_escalate[rows, k] < rt.escalation[k])
        if not visited_any.all():
            lost = int((~visited_any).sum())
            raise ScenarioError(f"requests.{name}.handlers",
                                f"{lost} of {len(rows)} requests found no staffed handler "
                                f"(end the chain with a role every household has)")
    request, stage, role, unit, duration = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((stage, request))
    request = request[order]
    count = np.bincount(request, minlength=len(requests))
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    return Routes(request=request, stage=stage[order], role=role[order], unit=unit[order],
                  duration=duration[order], first=first, count=count)
