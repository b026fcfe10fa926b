"""A city drawn on a planner's map: households inside the real community polygons, grids as polygons.

The map's files are read and checked by the scenario layer (`scenario.citymap`);
this draws on them, from the same numpy Generator as the synthetic city:

- compounds and buildings: on the building footprints when the map has them
  (compounds then group neighbouring footprints), else compound centres are
  drawn uniformly in the community's polygon and buildings around them, inside
  it; households go to buildings in proportion to footprint area (or a drawn
  capacity), at least one each;
- grids: the synthetic city's rule (the households-per-grid standard within
  each community, by bisecting its households), each grid the part of its
  community's polygon that its cell of the bisection covers, so grids tile the
  community and every household lies in its grid;
- stations: at the sites of a stations file, each taking the grids of its
  community nearest to it (a community without one goes to the nearest
  station); else placed by the synthetic city's rule (adjacent
  grids grouped, sited where the walking circle reaches most households; the
  grids of a community it leaves without one go to the nearest station);
- walking: as the crow flies times the scenario's detour factor, or along the
  streets of a local OpenStreetMap file (`gridsim.city.streets`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..scenario import Scenario
from ..scenario.citymap import Map, scenario_map
from ..scenario.numbers import split_counts
from . import City, CityGeometry, bisect, draw_grids, grid_centres, offices, place_stations, property_modes, \
    straight_walks

SPREAD_M = 60.0         # buildings lie about this far from their compound's centre (as on the synthetic square)


def build_map_city(scenario: Scenario, rng: np.random.Generator) -> City:
    """The scenario's city on its map; the same Generator state gives the same city."""
    import shapely
    c = scenario.city
    m = scenario_map(c)
    n = len(m)
    compounds = _at_least_one(c.compounds, m.compounds, m.households)
    small = np.zeros(c.compounds, dtype=bool)
    small[rng.permutation(c.compounds)[: c.small_compounds]] = True
    compound_community = np.repeat(np.arange(n), compounds)
    if m.footprints is not None:
        bx, by, capacity, building_community = m.footprints.x, m.footprints.y, m.footprints.weight, m.footprints.community
        building_compound = _group_footprints(bx, by, building_community, compounds)
    else:
        per_community = np.maximum(compounds, _at_least_one(c.buildings, m.buildings, m.households))
        per_community = np.minimum(per_community, m.households)
        building_compound = _buildings_of_compounds(per_community, compounds, small, rng)
        bx, by = _building_sites(m, compound_community, building_compound, rng)
        capacity = rng.lognormal(0.0, 0.5, len(bx))
        building_community = compound_community[building_compound]

    per_building = np.empty(len(bx), dtype=np.int64)
    for k in range(n):
        mine = np.flatnonzero(building_community == k)
        w = capacity[mine]
        per_building[mine] = 1 + rng.multinomial(m.households[k] - len(mine), w / w.sum())
    hh_building = np.repeat(np.arange(len(bx)), per_building)
    hh_community = building_community[hh_building]
    size = m.sizes[hh_community] if m.sizes is not None else c.household_size
    hh_size = 1 + rng.poisson(np.asarray(size) - 1, len(hh_building))
    elderly = m.elderly_share[hh_community] if m.elderly_share is not None else c.elderly_share
    hh_elderly = rng.random(len(hh_building)) < elderly
    hh_x, hh_y = bx[hh_building], by[hh_building]
    compound_mode = property_modes(scenario, small, rng)

    community_sub = _sub_districts(m, c.sub_districts)
    boxes = shapely.bounds(m.polygons)
    hh_grid, grid_community, cells = draw_grids(hh_x, hh_y, hh_community, n, scenario.grids.households_per_grid,
                                                boxes)
    grids = _polygonal(shapely.intersection(m.polygons[grid_community], shapely.box(*cells.T)))
    gx, gy, grid_households = grid_centres(hh_grid, hh_x, hh_y, len(grid_community))
    community_x, community_y = offices(hh_x, hh_y, hh_community, n, bx, by)
    if m.stations is not None:
        grid_station = _nearest_station(gx, gy, grid_community, m.stations.x, m.stations.y, m.stations.community)
        station_x, station_y, station_community = m.stations.x, m.stations.y, m.stations.community
        station_names = m.stations.names
    else:
        grid_station, station_x, station_y, station_community = place_stations(
            scenario, gx, gy, grid_community, grid_households, hh_x, hh_y, hh_grid, bx, by, hh_building)
        unserved = np.flatnonzero(grid_station < 0) if len(station_x) else []
        if len(unserved):               # a community the rule gave no station: its grids go to the nearest
            grid_station[unserved] = cKDTree(np.c_[station_x, station_y]).query(np.c_[gx, gy][unserved])[1]
        station_names = np.array([f"station {k + 1}" for k in range(len(station_x))], dtype=object)

    outline = shapely.union_all(m.polygons)
    if m.streets is not None:
        from .streets import street_walks
        base, nearest, areas = street_walks(scenario, m.streets, m.crs, hh_x, hh_y, grid_station[hh_grid],
                                            hh_community, station_x, station_y, community_x, community_y, outline)
        walk = f"along the streets of {m.streets.rsplit('/', 1)[-1]} at {c.walk_speed_m_per_min:g} m/min"
    else:
        base, nearest = straight_walks(scenario, hh_x, hh_y, grid_station[hh_grid], hh_community,
                                       station_x, station_y, community_x, community_y)
        radius = c.walk_circle_minutes * c.walk_speed_m_per_min / c.walk_detour
        areas = shapely.intersection(shapely.buffer(shapely.points(station_x, station_y), radius), outline)
        walk = (f"as the crow flies x {c.walk_detour:g} (detour factor) at {c.walk_speed_m_per_min:g} m/min: "
                f"a {c.walk_circle_minutes:g}-minute circle of {radius:,.0f} m")
    x0, y0, x1, y1 = shapely.bounds(outline)
    return City(
        side_m=float(max(x1 - x0, y1 - y0)), hh_x=hh_x, hh_y=hh_y, hh_size=hh_size, hh_elderly=hh_elderly,
        hh_building=hh_building, hh_grid=hh_grid, building_compound=building_compound,
        compound_mode=compound_mode, compound_community=compound_community,
        grid_community=grid_community, grid_station=grid_station,
        community_sub_district=community_sub, sub_district_district=np.zeros(int(community_sub.max()) + 1, dtype=np.int64),
        community_x=community_x, community_y=community_y,
        station_x=np.asarray(station_x, dtype=float), station_y=np.asarray(station_y, dtype=float),
        station_community=np.asarray(station_community, dtype=np.int64),
        hh_base_walk_min=base, hh_nearest_station_walk_min=nearest,
        geometry=CityGeometry(crs=m.crs, community_names=m.names, communities=m.polygons, grids=grids,
                              walk_areas=np.asarray(areas), circle_minutes=c.walk_circle_minutes,
                              station_names=station_names, walk=walk),
    )


def _at_least_one(total: int, given: np.ndarray | None, households: np.ndarray) -> np.ndarray:
    """Per community: the file's counts, else `total` split by households with at least one each."""
    if given is not None:
        return given
    return 1 + split_counts(total - len(households), households.astype(float))


def _buildings_of_compounds(per_community: np.ndarray, compounds: np.ndarray, small: np.ndarray,
                            rng: np.random.Generator) -> np.ndarray:
    """Each building's compound: within each community, small compounds get one building, the
    others share the rest evenly."""
    out, first = [], 0
    for b, k in zip(per_community, compounds):
        mine = np.arange(first, first + k)
        large = mine[~small[mine]] if (~small[mine]).any() else mine
        per = np.ones(k, dtype=np.int64)
        per[np.searchsorted(mine, large)] += rng.multinomial(b - k, np.full(len(large), 1 / len(large)))
        out.append(np.repeat(mine, per))
        first += k
    return np.concatenate(out)


def _building_sites(m: Map, compound_community: np.ndarray, building_compound: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Compound centres uniformly in their community's polygon, buildings around them inside it."""
    import shapely
    cx, cy = _uniform_in(m.polygons, compound_community, rng)
    home = compound_community[building_compound]
    bx = cx[building_compound] + rng.normal(0, SPREAD_M, len(building_compound))
    by = cy[building_compound] + rng.normal(0, SPREAD_M, len(building_compound))
    outside = ~shapely.contains_xy(m.polygons[home], bx, by)
    if outside.any():                      # near the edge: drawn again anywhere in the community
        bx[outside], by[outside] = _uniform_in(m.polygons, home[outside], rng)
    return bx, by


def _uniform_in(polygons: np.ndarray, which: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A point drawn uniformly inside polygons[which[i]] for each i (rejection in the bounding box)."""
    import shapely
    x, y = np.empty(len(which)), np.empty(len(which))
    todo = np.arange(len(which))
    bounds = shapely.bounds(polygons)
    while len(todo):
        b = bounds[which[todo]]
        tx, ty = rng.uniform(b[:, 0], b[:, 2]), rng.uniform(b[:, 1], b[:, 3])
        hit = shapely.contains_xy(polygons[which[todo]], tx, ty)
        x[todo[hit]], y[todo[hit]] = tx[hit], ty[hit]
        todo = todo[~hit]
    return x, y


def _group_footprints(bx: np.ndarray, by: np.ndarray, community: np.ndarray, compounds: np.ndarray) -> np.ndarray:
    """Each footprint's compound: a community's footprints bisected into its compounds (neighbours
    together), at most one compound per footprint."""
    out = np.empty(len(bx), dtype=np.int64)
    first = 0
    for k, count in enumerate(compounds):
        mine = np.flatnonzero(community == k)
        count = min(int(count), len(mine))
        out[mine] = first + bisect(bx[mine], by[mine], np.ones(len(mine)), count)
        first += int(compounds[k])
    return out


def _sub_districts(m: Map, count: int) -> np.ndarray:
    """Each community's sub-district: the file's, else communities bisected into `count` groups."""
    if m.sub_district is not None:
        return m.sub_district.astype(np.int64)
    import shapely
    centre = shapely.get_coordinates(shapely.point_on_surface(m.polygons))
    return bisect(centre[:, 0], centre[:, 1], m.households.astype(float), count)


def _nearest_station(gx, gy, grid_community, sx, sy, station_community) -> np.ndarray:
    """Each grid goes to the station of its own community nearest its households' centre; where its
    community has none, to the nearest station of any (every grid's leaders work from a station)."""
    _, out = cKDTree(np.c_[sx, sy]).query(np.c_[gx, gy])
    for k in np.unique(station_community):
        grids, stations = np.flatnonzero(grid_community == k), np.flatnonzero(station_community == k)
        _, j = cKDTree(np.c_[sx[stations], sy[stations]]).query(np.c_[gx[grids], gy[grids]])
        out[grids] = stations[j]
    return out.astype(np.int64)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the areas of each geometry (a clip may leave a stray line or point where shapes touch)."""
    import shapely
    out = geoms.copy()
    for k in np.flatnonzero(~np.isin(shapely.get_type_id(geoms), (3, 6))):
        parts = shapely.get_parts(geoms[k])
        out[k] = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), (3, 6))])
    return out
