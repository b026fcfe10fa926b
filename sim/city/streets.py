"""Walking along streets: a local OpenStreetMap extract, read with osmnx (nothing is downloaded).

osmnx reads OSM XML; a .pbf extract is first written out as XML by pyosmium.
Ways a pedestrian cannot use (motorways, trunk roads, ways under
construction) and ways that are not streets (buildings, land use) are left
out, and every street is walkable both ways. Households and stations join the
network at their nearest node, that last stretch walked as the crow flies.
Edges are measured in the city's CRS, as the straight lines are, so a street
walk is never shorter than the straight line. Distances are shortest paths
(scipy's Dijkstra over the street graph); a
household whose node cannot reach its station (a separate piece of the
network) walks as the crow flies times the detour factor instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..scenario import Scenario
from ..scenario.citymap import MapError
from . import straight_walks

NOT_FOR_WALKING = {"motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway",
                   "bus_guideway", "abandoned", "platform"}
CHUNK = 32            # stations whose distances are held at once


class StreetGraph:
    """Street nodes (x, y in the city's CRS) and a sparse matrix of street lengths in metres."""

    def __init__(self, x: np.ndarray, y: np.ndarray, lengths: csr_matrix):
        self.x, self.y, self.lengths = x, y, lengths
        self.tree = cKDTree(np.c_[x, y])

    def join(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's nearest node, and the straight distance to it."""
        dist, node = self.tree.query(np.c_[px, py])
        return node, dist


_GRAPHS: dict = {}


def street_graph(path: str, crs: str) -> StreetGraph:
    """The walkable streets of an OSM file, projected to `crs`; read once per process while unchanged."""
    p = Path(path)
    key = (str(p), p.stat().st_mtime_ns, p.stat().st_size, crs)
    if key not in _GRAPHS:
        _GRAPHS.clear()
        _GRAPHS[key] = _read(p, crs)
    return _GRAPHS[key]


def _read(path: Path, crs: str) -> StreetGraph:
    import osmnx
    try:
        if path.suffix.lower() == ".pbf":
            with tempfile.TemporaryDirectory() as tmp:
                graph = osmnx.graph_from_xml(_as_xml(path, Path(tmp) / "streets.osm"), bidirectional=True,
                                             simplify=False, retain_all=True)
        else:
            graph = osmnx.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except Exception as err:  # noqa: BLE001 - the XML parser's and osmnx's many failures: cannot read
        reason = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        raise MapError(str(path), "", f"cannot read as an OpenStreetMap extract ({reason})") from None
    edges = [(u, v) for u, v, d in graph.edges(data=True)
             if d.get("highway") and not set(np.atleast_1d(d["highway"])) & NOT_FOR_WALKING]
    if not edges:
        raise MapError(str(path), "", "holds no walkable streets (ways tagged highway)")
    graph = osmnx.project_graph(graph, to_crs=crs)
    ids = {node: k for k, node in enumerate(graph.nodes)}
    x = np.array([graph.nodes[n]["x"] for n in graph.nodes])
    y = np.array([graph.nodes[n]["y"] for n in graph.nodes])
    u = np.array([ids[a] for a, b in edges] + [ids[b] for a, b in edges])
    v = np.array([ids[b] for a, b in edges] + [ids[a] for a, b in edges])
    length = np.hypot(x[u] - x[v], y[u] - y[v])        # unsimplified: each edge is one straight segment
    order = np.lexsort((length, v, u))                   # parallel ways: keep the shortest
    u, v, length = u[order], v[order], length[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
    used = np.unique(np.r_[u, v])                        # nodes on no walkable way are left out
    index = np.full(len(x), -1)
    index[used] = np.arange(len(used))
    lengths = csr_matrix((np.maximum(length[first], 1e-3), (index[u[first]], index[v[first]])),
                         shape=(len(used), len(used)))
    return StreetGraph(x[used], y[used], lengths)


def _as_xml(pbf: Path, out: Path) -> Path:
    """A .pbf extract written out as OSM XML (what osmnx reads)."""
    import osmium
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(pbf)):
            writer.add(obj)
    return out


def street_walks(scenario: Scenario, path: str, crs: str, hh_x, hh_y, hh_station, hh_community,
                 station_x, station_y, community_x, community_y, outline):
    """Walking minutes along the streets: one way from each household's service base (its station,
    else its community office), to the nearest station, and each station's walk area (the streets
    it reaches within the walking circle, widened by what is left of the time to walk off them)."""
    import shapely
    c = scenario.city
    g = street_graph(path, crs)
    crow_base, crow_nearest = straight_walks(scenario, hh_x, hh_y, hh_station, hh_community, station_x, station_y,
                                             community_x, community_y)
    node, off = g.join(hh_x, hh_y)
    has = hh_station >= 0
    base = np.where(has, hh_station, len(station_x) + hh_community)
    site_x, site_y = np.r_[station_x, community_x], np.r_[station_y, community_y]
    site_node, site_off = g.join(site_x, site_y)
    metres = np.full(len(hh_x), np.inf)
    nearest = np.full(len(hh_x), np.inf)
    budget = c.walk_circle_minutes * c.walk_speed_m_per_min
    areas = []
    for start in range(0, len(site_x), CHUNK):
        sites = np.arange(start, min(start + CHUNK, len(site_x)))
        dist = dijkstra(g.lengths, indices=site_node[sites], limit=np.inf)
        for row, s in enumerate(sites):
            mine = base == s
            metres[mine] = dist[row, node[mine]] + off[mine] + site_off[s]
            if s < len(station_x):
                nearest = np.minimum(nearest, dist[row, node] + off + site_off[s])
                left = budget - dist[row] - site_off[s]
                reach = np.flatnonzero(left > 0)
                areas.append(shapely.union_all(shapely.buffer(shapely.points(g.x[reach], g.y[reach]),
                                                              left[reach], quad_segs=4)))
    base_minutes = np.where(np.isfinite(metres), metres / c.walk_speed_m_per_min, crow_base)
    nearest_minutes = np.where(np.isfinite(nearest), nearest / c.walk_speed_m_per_min, crow_nearest)
    return base_minutes, nearest_minutes, shapely.intersection(np.array(areas, dtype=object), outline)
