"""A made-up district of irregular communities: the bundled example, the tests' and the benchmark's maps.

Nothing in it is real. An irregular outline is cut into Voronoi cells of
random seeds (relaxed so cells are of like size); the smallest community is
merged with its smallest neighbour until as many remain as asked, so most
communities are not convex. Households follow area with some spread, and the
other counts follow households. Streets, where asked for, are a jittered grid
of footpaths written as an OpenStreetMap file. Needs the [geo] extra.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scenario.numbers import split_counts

NAMES = ("Dongfeng", "Xinhua", "Heping", "Jianshe", "Minzhu", "Chaoyang", "Shengli", "Tuanjie", "Wenhua",
         "Xingfu", "Yong'an", "Changqing", "Hongqi", "Qianjin", "Guangming", "Xiangyang", "Fuqiang", "Kangle")
CENTRE = (124.5, 43.2)        # lon, lat: an arbitrary point; the district only needs to be somewhere


def made_up_district(communities: int, households: int, seed: int, households_per_km2: float = 5000.0,
                     sub_districts: int = 3):
    """A GeoDataFrame (lon/lat, EPSG:4326) of `communities` irregular polygons holding `households`,
    with name, sub_district, households, population, elderly_share, compounds and buildings."""
    import geopandas as gpd
    import shapely
    rng = np.random.default_rng(seed)
    utm = gpd.GeoSeries(shapely.points([CENTRE]), crs="EPSG:4326").estimate_utm_crs()
    cx, cy = gpd.GeoSeries(shapely.points([CENTRE]), crs="EPSG:4326").to_crs(utm).get_coordinates().iloc[0]
    outline = _outline(rng, cx, cy, np.sqrt(households / households_per_km2 * 1e6 / np.pi))
    cells = _cells(rng, outline, 2 * communities)
    while len(cells) > communities:
        cells = _merge_smallest(cells)
    area = shapely.area(cells)
    hh = split_counts(households, area * rng.lognormal(0, 0.3, len(cells)))
    size = rng.uniform(2.5, 3.2, len(cells))
    buildings = np.maximum(1, np.round(hh / rng.uniform(40, 90, len(cells)))).astype(int)
    compounds = np.clip(np.round(buildings / rng.uniform(3, 8, len(cells))), 1, buildings).astype(int)
    centre = shapely.get_coordinates(shapely.centroid(cells))
    band = np.argsort(np.argsort(np.arctan2(centre[:, 1] - cy, centre[:, 0] - cx))) * sub_districts // len(cells)
    names = [NAMES[k % len(NAMES)] + ("" if k < len(NAMES) else f" {k // len(NAMES) + 1}") for k in range(len(cells))]
    frame = gpd.GeoDataFrame({
        "name": names, "sub_district": [f"Sub-district {'ABCDEFGH'[b % 8]}" for b in band],
        "households": hh, "population": np.round(hh * size).astype(int),
        "elderly_share": np.round(rng.uniform(0.12, 0.32, len(cells)), 3),
        "compounds": compounds, "buildings": buildings}, geometry=cells, crs=utm)
    return frame.to_crs("EPSG:4326")


def _outline(rng, cx: float, cy: float, radius: float):
    """An irregular blob of about the area of a circle of `radius`."""
    import shapely
    theta = np.linspace(0, 2 * np.pi, 97)[:-1]
    wobble = sum(a * np.sin(k * theta + rng.uniform(0, 2 * np.pi)) for k, a in ((2, 0.16), (3, 0.1), (5, 0.05)))
    r = radius * (1 + wobble)
    return shapely.polygons(np.c_[cx + r * np.cos(theta), cy + r * np.sin(theta)])


def _cells(rng, outline, n: int) -> np.ndarray:
    """`n` Voronoi cells of seeds in the outline, clipped to it, relaxed twice (Lloyd)."""
    import shapely
    x0, y0, x1, y1 = outline.bounds
    seeds = np.empty((0, 2))
    while len(seeds) < n:
        xy = rng.uniform((x0, y0), (x1, y1), (4 * n, 2))
        seeds = np.vstack([seeds, xy[shapely.contains_xy(outline, xy[:, 0], xy[:, 1])]])[:n]
    for _ in range(3):
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=outline,
                                                           ordered=True))
        cells = shapely.intersection(cells, outline)
        seeds = shapely.get_coordinates(shapely.centroid(cells))
    return cells


def _merge_smallest(cells: np.ndarray) -> np.ndarray:
    """The smallest cell merged with the smallest neighbour it shares an edge with."""
    import shapely
    k = int(np.argmin(shapely.area(cells)))
    shared = shapely.length(shapely.intersection(shapely.boundary(cells), shapely.buffer(cells[k], 0.5)))
    shared[k] = 0
    touching = np.flatnonzero(shared > 1.0)
    j = touching[np.argmin(shapely.area(cells[touching]))]
    return np.concatenate([np.delete(cells, [k, j]), [shapely.union(cells[k], cells[j])]])


def street_file(frame, path: str | Path, spacing_m: float = 150.0, seed: int = 0) -> Path:
    """A jittered grid of footpaths over the district, written as an OpenStreetMap XML file."""
    import geopandas as gpd
    rng = np.random.default_rng(seed)
    utm = frame.estimate_utm_crs()
    x0, y0, x1, y1 = frame.to_crs(utm).total_bounds
    xs = np.arange(x0 - spacing_m, x1 + 2 * spacing_m, spacing_m)
    ys = np.arange(y0 - spacing_m, y1 + 2 * spacing_m, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + rng.normal(0, spacing_m / 8, gx.shape)
    gy = gy + rng.normal(0, spacing_m / 8, gy.shape)
    lonlat = gpd.GeoSeries(gpd.points_from_xy(gx.ravel(), gy.ravel()), crs=utm).to_crs("EPSG:4326").get_coordinates()
    ids = np.arange(1, gx.size + 1).reshape(gx.shape)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="gridsim made_up_district">']
    lines += [f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>'
              for i, lon, lat in zip(ids.ravel(), lonlat["x"], lonlat["y"])]
    for way, run in enumerate([*ids, *ids.T], start=1):          # each row and column of the grid one street
        refs = "".join(f'<nd ref="{i}"/>' for i in run)
        lines.append(f'<way id="{way}" version="1">{refs}<tag k="highway" v="footway"/></way>')
    lines.append("</osm>")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


EXAMPLE = {"communities": 16, "households": 30000, "seed": 19, "households_per_km2": 2500.0}


def write_example(folder: str | Path) -> list[Path]:
    """The bundled example district, as shipped in scenarios/maps/: its communities (GeoJSON,
    lon/lat) and its streets (OSM XML). `python -c "from gridsim.city.district import write_example;
    write_example('scenarios/maps')"` writes them again, the same."""
    folder = Path(folder)
    frame = made_up_district(**EXAMPLE)
    communities = folder / "example_district.geojson"
    communities.unlink(missing_ok=True)
    frame.to_file(communities, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=7)
    return [communities, street_file(frame, folder / "example_district_streets.osm", seed=EXAMPLE["seed"])]
