"""The synthetic city: sub-districts, communities, grids, compounds, buildings,
households and service stations, with coordinates in metres.

Everything is drawn from one numpy Generator so the same seed gives the same
city. Households depend only on the city section of the scenario, not on the
grid standard or the stations, so changing those re-draws the grids and
stations over the same households (and the same arrivals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..scenario import PROPERTY_MODES, Scenario
from ..scenario.numbers import split_counts


@dataclass(frozen=True)
class City:
    """Plain arrays, one row per unit; indices link the levels."""
    side_m: float
    # households
    hh_x: np.ndarray
    hh_y: np.ndarray
    hh_size: np.ndarray
    hh_elderly: np.ndarray
    hh_building: np.ndarray
    hh_grid: np.ndarray
    # buildings and compounds
    building_compound: np.ndarray
    compound_mode: np.ndarray          # index into PROPERTY_MODES
    compound_community: np.ndarray
    # grids, communities, sub-districts, districts
    grid_community: np.ndarray
    grid_station: np.ndarray           # -1 where there are no stations
    community_sub_district: np.ndarray
    sub_district_district: np.ndarray
    community_x: np.ndarray            # the community office
    community_y: np.ndarray
    # stations
    station_x: np.ndarray
    station_y: np.ndarray
    station_community: np.ndarray
    # walking
    hh_base_walk_min: np.ndarray       # one way, from the household's service base
    hh_nearest_station_walk_min: np.ndarray
    geometry: "CityGeometry | None" = None   # the real map's shapes; None on the synthetic square

    @property
    def households(self) -> int:
        return len(self.hh_x)

    @property
    def grids(self) -> int:
        return len(self.grid_community)

    @property
    def stations(self) -> int:
        return len(self.station_x)

    @property
    def hh_compound(self) -> np.ndarray:
        return self.building_compound[self.hh_building]

    @property
    def hh_community(self) -> np.ndarray:
        return self.grid_community[self.hh_grid]

    @property
    def hh_station(self) -> np.ndarray:
        return self.grid_station[self.hh_grid]

    @property
    def hh_sub_district(self) -> np.ndarray:
        return self.community_sub_district[self.hh_community]

    @property
    def sub_districts(self) -> int:
        return int(self.community_sub_district.max()) + 1

    @property
    def hh_district(self) -> np.ndarray:
        return self.sub_district_district[self.hh_sub_district]

    def district(self, d: int) -> "City":
        """District d alone, as a city of its own: its households, buildings, compounds, grids,
        communities, sub-districts and stations, renumbered in their order, where they stood and
        with the walks they had (a household's nearest station may lie across the district's edge).
        A map city's shapes stay with the whole city (`geometry` None)."""
        def kept(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """The rows kept, and every old row's new number (-1: gone)."""
            new = np.full(len(mask) + 1, -1, dtype=np.int64)          # [-1] stays -1
            new[np.flatnonzero(mask)] = np.arange(int(mask.sum()))
            return mask, new

        sub, sub_new = kept(self.sub_district_district == d)
        com, com_new = kept(sub[self.community_sub_district])
        grid, grid_new = kept(com[self.grid_community])
        compound, compound_new = kept(com[self.compound_community])
        building, building_new = kept(compound[self.building_compound])
        station, station_new = kept(com[self.station_community])
        hh = grid[self.hh_grid]
        return City(
            side_m=self.side_m, hh_x=self.hh_x[hh], hh_y=self.hh_y[hh], hh_size=self.hh_size[hh],
            hh_elderly=self.hh_elderly[hh], hh_building=building_new[self.hh_building[hh]],
            hh_grid=grid_new[self.hh_grid[hh]], building_compound=compound_new[self.building_compound[building]],
            compound_mode=self.compound_mode[compound], compound_community=com_new[self.compound_community[compound]],
            grid_community=com_new[self.grid_community[grid]], grid_station=station_new[self.grid_station[grid]],
            community_sub_district=sub_new[self.community_sub_district[com]],
            sub_district_district=np.zeros(int(sub.sum()), dtype=np.int64),
            community_x=self.community_x[com], community_y=self.community_y[com],
            station_x=self.station_x[station], station_y=self.station_y[station],
            station_community=com_new[self.station_community[station]],
            hh_base_walk_min=self.hh_base_walk_min[hh], hh_nearest_station_walk_min=self.hh_nearest_station_walk_min[hh])

    def walk15_share(self, minutes: float) -> float:
        """Share of households within `minutes` walk of a station (0 with none)."""
        return float(np.mean(self.hh_nearest_station_walk_min <= minutes))


def bisect(x: np.ndarray, y: np.ndarray, w: np.ndarray, parts: int) -> np.ndarray:
    """Recursive coordinate bisection: `parts` compact groups of about equal weight.

    Returns a group label per point. Splits along the longer side at the
    weighted quantile that gives each half its share of the parts.
    """
    return bisect_cells(x, y, w, parts)[0]


def bisect_cells(x: np.ndarray, y: np.ndarray, w: np.ndarray, parts: int,
                 box: tuple[float, float, float, float] = (-np.inf, -np.inf, np.inf, np.inf)
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`bisect`'s labels, and each group's cell: the part of `box` (xmin, ymin, xmax, ymax) its cuts
    leave it, one row per group. Each cut lies midway between the last point of one side and the
    first of the other, so the cells tile the box and every point lies in its own group's cell
    (points on a cut, in one building split between two groups, on the edge of both)."""
    labels = np.zeros(len(x), dtype=np.int64)
    cells = np.tile(np.asarray(box, dtype=float), (parts, 1))

    def split(idx: np.ndarray, k: int, first: int, cell: np.ndarray) -> None:
        if k == 1 or len(idx) <= 1:
            labels[idx] = first
            cells[first:first + k] = cell
            return
        k1 = k // 2
        across = 0 if np.ptp(x[idx]) >= np.ptp(y[idx]) else 1
        axis = (x, y)[across]
        order = idx[np.lexsort((idx, axis[idx]))]
        cum = np.cumsum(w[order])
        cut = int(np.searchsorted(cum, cum[-1] * k1 / k))
        cut = min(max(cut, k1), len(order) - (k - k1))  # every part keeps at least one point
        at = (axis[order[cut - 1]] + axis[order[cut]]) / 2
        low, high = cell.copy(), cell.copy()
        low[across + 2], high[across] = at, at
        split(order[:cut], k1, first, low)
        split(order[cut:], k - k1, first + k1, high)

    split(np.arange(len(x)), parts, 0, cells[0].copy())
    return labels, cells


def nested(x: np.ndarray, y: np.ndarray, w: np.ndarray, parent: np.ndarray, parents: int,
           total: int) -> tuple[np.ndarray, np.ndarray]:
    """About `total` compact groups of points inside their parents (communities in sub-districts):
    each parent gets its share of them by weight (at least one) and bisects its points into those.
    Returns each point's group and each group's parent."""
    weight = np.bincount(parent, weights=w, minlength=parents)
    per_parent = np.maximum(1, split_counts(total, weight + 1e-9))
    first = np.concatenate([[0], np.cumsum(per_parent)[:-1]])
    group = np.empty(len(x), dtype=np.int64)
    for p in range(parents):
        idx = np.flatnonzero(parent == p)
        group[idx] = first[p] + bisect(x[idx], y[idx], w[idx], per_parent[p])
    return group, np.repeat(np.arange(parents), per_parent)


def property_modes(scenario: Scenario, small: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each compound's property mode (index into PROPERTY_MODES), the modes' counts as the scenario
    gives them: self-management and "none" go to small compounds first."""
    modes = scenario.roles.property_manager.modes
    order = np.concatenate([np.flatnonzero(small), np.flatnonzero(~small)])
    order = np.concatenate([rng.permutation(order[: small.sum()]), rng.permutation(order[small.sum():])])
    compound_mode = np.empty(len(small), dtype=np.int64)
    start = 0
    for name in ("self_managed", "none", "state_owned", "market"):
        n = modes[name].compounds
        compound_mode[order[start:start + n]] = PROPERTY_MODES.index(name)
        start += n
    return compound_mode


def walk_minutes(dx: np.ndarray, dy: np.ndarray, scenario: Scenario) -> np.ndarray:
    c = scenario.city
    return np.hypot(dx, dy) * c.walk_detour / c.walk_speed_m_per_min


@dataclass(frozen=True, eq=False)
class CityGeometry:
    """A map city's shapes, in its metric CRS (`gridsim.city.gis` draws them)."""
    crs: str                           # WKT
    community_names: np.ndarray
    communities: np.ndarray            # shapely (Multi)Polygons, one per community
    grids: np.ndarray                  # one per grid, each inside its community
    walk_areas: np.ndarray             # per station: where its walking circle reaches, within the city
    circle_minutes: float              # the walking circle those areas are drawn for
    station_names: np.ndarray
    walk: str                          # how walking is measured, in words (for maps and files)


def city_inputs(scenario: Scenario) -> str | None:
    """Everything of a scenario that `build_city` reads, as a key: two scenarios with the same key
    draw the same city from the same seed (`tests/unit/test_city.py` checks that nothing else is
    read). None for a city on a map, whose files may change between runs."""
    if scenario.city.map is not None:
        return None
    modes = scenario.roles.property_manager.modes
    return repr((scenario.city, scenario.grids.households_per_grid, scenario.stations.count,
                 [modes[name].compounds for name in PROPERTY_MODES]))


def build_city(scenario: Scenario, rng: np.random.Generator) -> City:
    """Draw the city for a scenario; the same Generator state gives the same city. A scenario with
    a map (`city.map`) is drawn on it (`gis.build_map_city`), else on a square of its area, from
    what `city_inputs` names alone."""
    c = scenario.city
    if c.map is not None:
        from .gis import build_map_city
        return build_map_city(scenario, rng)
    side = float(np.sqrt(c.area_km2) * 1000.0)

    # Compounds cluster around the sub-district centres; a third spread evenly.
    centres = rng.uniform(0.2 * side, 0.8 * side, size=(c.sub_districts, 2))
    clustered = rng.random(c.compounds) < 2 / 3
    home = rng.integers(0, c.sub_districts, c.compounds)
    cx = np.where(clustered, rng.normal(centres[home, 0], side / 8), rng.uniform(0, side, c.compounds))
    cy = np.where(clustered, rng.normal(centres[home, 1], side / 8), rng.uniform(0, side, c.compounds))
    cx, cy = np.clip(cx, 0, side), np.clip(cy, 0, side)

    # Buildings: small compounds get 1-2, the rest share what is left (at least 1 each).
    small = np.zeros(c.compounds, dtype=bool)
    small[rng.permutation(c.compounds)[: c.small_compounds]] = True
    per_compound = np.ones(c.compounds, dtype=np.int64)
    per_compound[small] = rng.integers(1, 3, small.sum())
    spare = c.buildings - per_compound.sum()
    large = np.flatnonzero(~small) if (~small).any() else np.arange(c.compounds)
    if spare > 0:
        per_compound[large] += rng.multinomial(spare, np.full(len(large), 1 / len(large)))
    elif spare < 0:  # too few buildings for the small compounds' draws: trim them to 1
        over = np.flatnonzero(per_compound > 1)[: -spare]
        per_compound[over] -= 1
    building_compound = np.repeat(np.arange(c.compounds), per_compound)
    bx = np.clip(cx[building_compound] + rng.normal(0, 60, c.buildings), 0, side)
    by = np.clip(cy[building_compound] + rng.normal(0, 60, c.buildings), 0, side)

    # Households: at least one per building, the rest by building capacity.
    households = c.households
    capacity = rng.lognormal(0.0, 0.5, c.buildings)
    per_building = 1 + rng.multinomial(households - c.buildings, capacity / capacity.sum())
    hh_building = np.repeat(np.arange(c.buildings), per_building)
    hh_size = 1 + rng.poisson(c.household_size - 1, households)
    hh_elderly = rng.random(households) < c.elderly_share
    hh_x, hh_y = bx[hh_building], by[hh_building]

    compound_mode = property_modes(scenario, small, rng)

    # Districts, sub-districts and communities partition compounds, each inside the one before;
    # grids partition households.
    compound_households = np.bincount(building_compound[hh_building], minlength=c.compounds).astype(float)
    compound_district = bisect(cx, cy, compound_households, c.districts)
    compound_sub, sub_district = nested(cx, cy, compound_households, compound_district, c.districts,
                                        c.sub_districts)
    compound_community, community_sub = nested(cx, cy, compound_households, compound_sub, len(sub_district),
                                               c.communities)
    n_communities = len(community_sub)
    hh_community = compound_community[building_compound[hh_building]]

    hh_grid, grid_community, _ = draw_grids(hh_x, hh_y, hh_community, n_communities,
                                            scenario.grids.households_per_grid)
    gx, gy, grid_households = grid_centres(hh_grid, hh_x, hh_y, len(grid_community))
    community_x, community_y = offices(hh_x, hh_y, hh_community, n_communities, bx, by)
    grid_station, station_x, station_y, station_community = place_stations(
        scenario, gx, gy, grid_community, grid_households, hh_x, hh_y, hh_grid, bx, by, hh_building)
    base, nearest_station = straight_walks(scenario, hh_x, hh_y, grid_station[hh_grid], hh_community,
                                           station_x, station_y, community_x, community_y)
    return City(
        side_m=side, hh_x=hh_x, hh_y=hh_y, hh_size=hh_size, hh_elderly=hh_elderly,
        hh_building=hh_building, hh_grid=hh_grid, building_compound=building_compound,
        compound_mode=compound_mode, compound_community=compound_community,
        grid_community=grid_community, grid_station=grid_station,
        community_sub_district=community_sub, sub_district_district=sub_district,
        community_x=community_x, community_y=community_y,
        station_x=station_x, station_y=station_y, station_community=station_community,
        hh_base_walk_min=base, hh_nearest_station_walk_min=nearest_station,
    )


def draw_grids(hh_x: np.ndarray, hh_y: np.ndarray, hh_community: np.ndarray, communities: int,
               households_per_grid: int, boxes: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Grids by the households-per-grid standard within each community (at least one), by bisecting
    its households: each household's grid, each grid's community and, given each community's
    bounding box, each grid's cell of it (`bisect_cells`)."""
    hh_grid = np.empty(len(hh_x), dtype=np.int64)
    grid_community, cells = [], []
    for k in range(communities):
        idx = np.flatnonzero(hh_community == k)
        n = max(1, round(len(idx) / households_per_grid)) if len(idx) else 0
        box = (-np.inf, -np.inf, np.inf, np.inf) if boxes is None else tuple(boxes[k])
        labels, cell = bisect_cells(hh_x[idx], hh_y[idx], np.ones(len(idx)), n, box)
        hh_grid[idx] = len(grid_community) + labels
        grid_community += [k] * n
        cells.append(cell)
    grid_community = np.array(grid_community, dtype=np.int64)
    return hh_grid, grid_community, None if boxes is None else np.concatenate(cells)


def grid_centres(hh_grid: np.ndarray, hh_x: np.ndarray, hh_y: np.ndarray, grids: int):
    """Each grid's centre of households, and its households (as floats, for weights)."""
    grid_households = np.bincount(hh_grid, minlength=grids).astype(float)
    gx = np.bincount(hh_grid, weights=hh_x, minlength=grids) / np.maximum(grid_households, 1)
    gy = np.bincount(hh_grid, weights=hh_y, minlength=grids) / np.maximum(grid_households, 1)
    return gx, gy, grid_households


def offices(hh_x: np.ndarray, hh_y: np.ndarray, hh_community: np.ndarray, communities: int,
            bx: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Community offices sit at the building nearest the community's centre of population."""
    community_households = np.bincount(hh_community, minlength=communities)
    comx = np.bincount(hh_community, weights=hh_x, minlength=communities) / np.maximum(community_households, 1)
    comy = np.bincount(hh_community, weights=hh_y, minlength=communities) / np.maximum(community_households, 1)
    _, nearest = cKDTree(np.c_[bx, by]).query(np.c_[comx, comy])
    return bx[nearest], by[nearest]


def straight_walks(scenario: Scenario, hh_x, hh_y, hh_station, hh_community, station_x, station_y,
                   community_x, community_y) -> tuple[np.ndarray, np.ndarray]:
    """Walking minutes as the crow flies times the detour factor: one way from each household's
    service base (its station, else its community office), and to the nearest station (inf: none)."""
    has_station = hh_station >= 0
    base_x = np.where(has_station, station_x[np.maximum(hh_station, 0)] if len(station_x) else 0.0,
                      community_x[hh_community])
    base_y = np.where(has_station, station_y[np.maximum(hh_station, 0)] if len(station_y) else 0.0,
                      community_y[hh_community])
    c = scenario.city
    if len(station_x):
        dist, _ = cKDTree(np.c_[station_x, station_y]).query(np.c_[hh_x, hh_y])
        nearest_station = dist * c.walk_detour / c.walk_speed_m_per_min
    else:
        nearest_station = np.full(len(hh_x), np.inf)
    return walk_minutes(hh_x - base_x, hh_y - base_y, scenario), nearest_station


def place_stations(scenario, gx, gy, grid_community, grid_households, hh_x, hh_y, hh_grid, bx, by, hh_building):
    """Group adjacent grids into stations, then site each station where it reaches most households.

    Each community gets stations in proportion to its grids; its grids are
    bisected into that many compact groups (3-4 grids each in Meihekou), and
    each group's station goes to the building from which the most households
    lie within the walking circle.
    """
    n_grids = len(grid_community)
    grid_station = np.full(n_grids, -1, dtype=np.int64)
    count = scenario.stations.count
    if count == 0:
        empty = np.empty(0)
        return grid_station, empty, empty, np.empty(0, dtype=np.int64)
    communities = int(grid_community.max()) + 1
    grids_per_community = np.bincount(grid_community, minlength=communities)
    per_community = np.minimum(split_counts(count, grids_per_community.astype(float)), grids_per_community)
    while per_community.sum() < count:  # a community was capped at its grid count; give the rest elsewhere
        room = grids_per_community - per_community
        per_community[np.argmax(room / np.maximum(per_community, 1))] += 1
    c = scenario.city
    radius = c.walk_circle_minutes * c.walk_speed_m_per_min / c.walk_detour
    building_households = np.bincount(hh_building, minlength=len(bx)).astype(float)
    # (grid, building) pairs: a building split between two grids is a candidate site for both
    pairs = np.unique(hh_grid * len(bx) + hh_building)
    pair_grid, pair_building = pairs // len(bx), pairs % len(bx)
    building_tree = cKDTree(np.c_[bx, by])
    sx, sy, scom = [], [], []
    for k in range(communities):
        grids = np.flatnonzero(grid_community == k)
        if per_community[k] == 0:
            continue
        groups = bisect(gx[grids], gy[grids], grid_households[grids], per_community[k])
        for g in range(per_community[k]):
            members = grids[groups == g]
            station = len(sx)
            grid_station[members] = station
            sites = pair_building[np.isin(pair_grid, members)]
            reach = building_tree.query_ball_point(np.c_[bx[sites], by[sites]], radius)
            covered = np.array([building_households[r].sum() for r in reach])
            best = sites[np.argmax(covered)]
            sx.append(bx[best])
            sy.append(by[best])
            scom.append(k)
    return grid_station, np.array(sx), np.array(sy), np.array(scom, dtype=np.int64)
