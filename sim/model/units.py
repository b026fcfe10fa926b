"""Units: which group of staff serves each household at each role.

A unit is one queue with a number of places (servers): the leader(s) of a
grid, the head of a station, the leader of a building, the volunteers of a
community on duty at once, the city's hotline operators. Its queue and places
while the run goes on are the model's `Units` arrays. Grid leaders own
their grids: each grid (or, with fewer leaders than grids, each patch of
adjacent grids) is a unit of its own, and the station's other grid leaders
are its colleagues, who may step in by the scenario's cover rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..city import City
from ..scenario import PROPERTY_MODES, Scenario, split_counts


@dataclass(frozen=True)
class Layout:
    """For one role: each household's unit (-1: none), and each unit's head count and places.

    `group` is, for grid leaders, each unit's station (or community office): units of the
    same group are colleagues."""
    hh_unit: np.ndarray
    members: np.ndarray
    servers: np.ndarray
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _by_community(total: int, share: float, city: City) -> tuple[np.ndarray, np.ndarray]:
    """Split a community-level head count by households; servers are the share on duty."""
    households = np.bincount(city.hh_community, minlength=len(city.community_x)).astype(float)
    members = split_counts(total, households) if total else np.zeros(len(households), dtype=np.int64)
    servers = np.where(members > 0, np.maximum(1, np.round(members * share)), 0).astype(np.int64)
    return members, servers


def grid_leader_layout(scenario: Scenario, city: City) -> Layout:
    """Grid leaders by station (or community office, before stations), then by grid.

    A station of g grids has max(round(per_grid x g), min_per_station) leaders.
    Under the "station" rule they share one queue. Otherwise each grid is a
    unit with one leader; leaders beyond one a grid join the station's largest
    grids, one each in turn; with fewer leaders than grids, each leader takes a
    patch of adjacent grids (consecutive in the bisection order).
    """
    gl = scenario.roles.grid_leader
    if city.stations:
        grid_group, groups, floor = city.grid_station, city.stations, gl.min_per_station
    else:
        grid_group, groups, floor = city.grid_community, len(city.community_x), 0
    grid_households = np.bincount(city.hh_grid, minlength=city.grids)
    grid_unit = np.full(city.grids, -1, dtype=np.int64)
    members, group = [], []
    for g in range(groups):
        grids = np.flatnonzero(grid_group == g)
        leaders = max(int(round(gl.per_grid * len(grids))), floor)
        if leaders == 0 or len(grids) == 0:
            continue
        if gl.cover == "station":
            parts = [grids]
            counts = [leaders]
        elif leaders >= len(grids):
            parts = [np.array([x]) for x in grids]
            counts = [1] * len(grids)
            largest = np.argsort(-grid_households[grids], kind="stable")
            for k in range(leaders - len(grids)):
                counts[largest[k % len(grids)]] += 1
        else:
            parts = np.array_split(grids, leaders)
            counts = [1] * leaders
        for part, n in zip(parts, counts):
            grid_unit[part] = len(members)
            members.append(n)
            group.append(g)
    members = np.array(members, dtype=np.int64)
    return Layout(grid_unit[city.hh_grid], members, members, np.array(group, dtype=np.int64))


def layouts(scenario: Scenario, city: City) -> dict[str, Layout]:
    """Every role's layout, keyed by role name."""
    r = scenario.roles
    none = np.full(city.households, -1, dtype=np.int64)
    out = {}

    def per_unit(count: int, hh_unit: np.ndarray, units: int) -> Layout:
        n = np.full(units, count, dtype=np.int64)
        return Layout(hh_unit if count else none, n, n)

    out["building_leader"] = per_unit(r.building_leader.per_building, city.hh_building, len(city.building_compound))
    out["grid_leader"] = grid_leader_layout(scenario, city)
    out["station_head"] = per_unit(r.station_head.per_station, city.hh_station, city.stations)
    out["police"] = per_unit(r.police.per_station, city.hh_station, city.stations)
    out["duty_leader"] = per_unit(r.duty_leader.per_station, city.hh_station, city.stations)
    for role in ("community_worker", "volunteer", "two_new_org"):
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
    out["hotline"] = per_unit(r.hotline.operators, np.zeros(city.households, dtype=np.int64), 1)
    out["police110"] = per_unit(r.police110.patrols_per_sub_district, city.hh_sub_district, city.sub_districts)
    return out


def vacant_places(places: np.ndarray, share: float) -> np.ndarray:
    """Places each unit loses while `share` of a role's places are vacant, spread evenly over its
    units in order (a unit of one place is vacant outright: e.g. every fifth grid for a 20% cut)."""
    edges = np.r_[0, np.cumsum(places)]
    return np.diff(np.floor(edges * share + 1e-9)).astype(np.int64)


def capacity_minutes(model, role: str, t0: float, t1: float) -> np.ndarray:
    """Per unit of a role: places x minutes on duty in [t0, t1), less the places left vacant."""
    places, duty = model.layout[role].servers, model.duty[role]
    capacity = places * duty.minutes(t0, t1)
    for period in getattr(getattr(model.spec.roles, role), "vacancies", ()):
        a, b = max(period.from_day * 1440, t0), min(period.to_day * 1440, t1)
        if b > a:
            capacity = capacity - vacant_places(places, period.share) * duty.minutes(a, b)
    return capacity


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
