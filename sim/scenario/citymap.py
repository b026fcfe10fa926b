"""A planner's map: the files a scenario's `[city.map]` names, read, checked and projected.

Reading is the scenario layer's because a map decides counts the scenario
holds (population, communities, buildings, compounds, stations) and staffing,
costs and the scenario's own checks read those before any city is drawn.
Drawing households, grids and walking distances on the map is the city
layer's (`gridsim.city.gis`). Needs the [geo] extra (geopandas, pyogrio,
shapely, pyproj).

Everything is projected to one metric CRS: the file's own when it is
projected in metres, else the UTM zone of the data's centroid (lon/lat, or
feet). Every fault of a file is a `MapError`: one line naming the file and the
row (a CSV's data rows, from 1) or feature (in file order, from 1, with its
name where the file gives one).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .fields import ScenarioError, build, convert
from .numbers import split_counts
from .schema import MAP_COLUMNS, POINT_COLUMNS, PROPERTY_MODES, City, CityMap

FILES = ("communities", "stations", "buildings", "streets")
OVERLAP_SHARE = 1e-3          # of the smaller community: slivers from digitising below it are ignored
POLYGONS, POINTS = (3, 6), (0,)   # shapely type ids: Polygon, MultiPolygon; Point


class MapError(ScenarioError):
    """A fault in a map file: '<file>: <row or feature>: <what is wrong>'. It stays attributed to
    that file wherever it surfaces (not to the scenario or the `--set` that named the file)."""

    def __init__(self, source: str, where: str, message: str):
        super().__init__(where, message, source)

    def at(self, source: str) -> "MapError":
        return self


@dataclass(frozen=True, eq=False)
class Sites:
    """Points on the map (stations, or buildings' footprints) and the community each lies in."""
    x: np.ndarray
    y: np.ndarray
    community: np.ndarray
    weight: np.ndarray            # a footprint's area (households are placed in proportion); 1 for points
    names: np.ndarray


@dataclass(frozen=True, eq=False)
class Map:
    """The communities of a map, in one metric CRS, with what the files say about each."""
    source: str
    crs: str                                  # the metric CRS, as WKT
    names: np.ndarray
    polygons: np.ndarray                      # shapely (Multi)Polygons
    households: np.ndarray
    population: int
    household_size: float | None              # city-wide, where the file gives households and population
    sizes: np.ndarray | None                  # each community's mean household size, where the file says
    elderly_share: np.ndarray | None
    buildings: np.ndarray | None              # from the column, or the footprints in each community
    compounds: np.ndarray | None
    sub_district: np.ndarray | None           # a code per community, in order of first appearance
    stations: Sites | None
    footprints: Sites | None
    streets: str | None
    decides: tuple[str, ...]                  # scenario fields the files decide (--set may not change them)

    def __len__(self) -> int:
        return len(self.households)


def split_layer(text: str) -> tuple[str, str | None]:
    """'city.gpkg|layername=stations' -> ('city.gpkg', 'stations'), as QGIS names a layer."""
    path, _, option = text.partition("|")
    key, _, value = option.partition("=")
    return path, (value if key.strip().lower() == "layername" and value else None)


def resolve(settings: dict, folder: Path) -> dict:
    """The map's file names taken relative to `folder` (the scenario file's), as absolute paths."""
    out = dict(settings)
    for key in FILES:
        text = out.get(key)
        if isinstance(text, str):
            path, layer = split_layer(text)
            out[key] = str((folder / path).resolve()) + (f"|layername={layer}" if layer else "")
    return out


# ---------------------------------------------------------------- the scenario's counts from the map
def fill(data: dict) -> dict:
    """Plain scenario data with the counts its map decides written in (a scenario without a map is
    returned as it is). Idempotent: filling filled data changes nothing, so a scenario keeps its
    hash through `to_data` and back."""
    city = data.get("city")
    if not isinstance(city, dict) or city.get("map") is None:
        return data
    m = _map_of(city)
    households = int(m.households.sum())
    own = dict(city)                                  # the scenario's own city, before the map's counts
    before = _households(city) if m.buildings is None or m.compounds is None else 0
    if m.population:
        city["population"] = m.population
        if m.household_size is not None:
            city["household_size"] = m.household_size
    else:
        city["population"] = round(households * _given(city, "household_size", "the file gives households only"))
    city["communities"] = len(m)
    if m.elderly_share is not None:
        city["elderly_share"] = float(np.average(m.elderly_share, weights=m.households))
    city["sub_districts"] = (int(m.sub_district.max()) + 1 if m.sub_district is not None
                             else min(int(_own(own, "sub_districts", "the file gives no sub_district")), len(m)))
    if "city.area_km2" in m.decides:
        city["area_km2"] = float(sum(p.area for p in m.polygons) / 1e6)
    compounds = (int(m.compounds.sum()) if m.compounds is not None
                 else max(len(m), round(households * _own(own, "compounds", "the file gives no compounds") / before)))
    buildings = (int(m.buildings.sum()) if m.buildings is not None
                 else max(compounds, round(households * _own(own, "buildings", "the file gives no buildings") / before)))
    small = _own(own, "small_compounds", "small compounds' share")
    small = round(compounds * small / _own(own, "compounds", "small compounds' share")) if small else 0
    city.update(compounds=compounds, buildings=buildings, small_compounds=small)
    _scale_modes(data, compounds)
    if m.stations is not None:
        data.setdefault("stations", {})["count"] = len(m.stations.x)
    return data


def _given(city: dict, name: str, why: str) -> Any:
    """A number of the scenario's [city] that fills what the file leaves out, checked like the field."""
    field = City.__dataclass_fields__[name]
    if name not in city:
        raise ScenarioError(f"city.{name}", f"missing (required: {why})")
    kind = int if field.type in ("int", int) else float
    return convert(kind, city[name], f"city.{name}", dict(field.metadata))


def _own(city: dict, name: str, why: str) -> Any:
    """A count of the scenario's own city (before the map) that fills what the file leaves out: as
    stated, or as the scenario's standards make it (`City.derive`)."""
    if name in city:
        return _given(city, name, why)
    try:
        return getattr(build(City, {k: v for k, v in city.items() if k != "map"}, "city"), name)
    except ScenarioError as err:
        raise ScenarioError(err.path, f"{err.message} (required: {why})") from None


def _households(city: dict) -> int:
    """The scenario's own households (before the map): what its buildings and compounds are counted on."""
    why = "the scenario's households per building and per compound fill the file's gaps"
    return max(1, round(_given(city, "population", why) / _given(city, "household_size", why)))


def _scale_modes(data: dict, compounds: int) -> None:
    """On a map the property modes' compound counts are shares of the map's compounds."""
    modes = data.get("roles", {}).get("property_manager", {}).get("modes")
    if not isinstance(modes, dict) or set(modes) != set(PROPERTY_MODES) \
            or not all(isinstance(m, dict) for m in modes.values()):
        return                                   # the schema's own check says what is wrong
    path = "roles.property_manager.modes"
    field = "compounds" if all("compounds" in modes[k] for k in PROPERTY_MODES) else "share"     # counts or shares
    counts = np.array([convert(float, modes[k].get(field, 0), f"{path}.{k}.{field}", {"ge": 0})
                       for k in PROPERTY_MODES], dtype=float)
    if counts.sum() == 0:
        raise ScenarioError(path, f"{field} sum to 0: on a map they are the modes' shares of the compounds")
    for name, n in zip(PROPERTY_MODES, split_counts(compounds, counts)):
        modes[name] = {**modes[name], "compounds": int(n)}


def decided(data: dict) -> tuple[str, ...]:
    """The scenario fields the map decides (empty without a map)."""
    city = data.get("city") or {}
    return _map_of(city).decides if city.get("map") is not None else ()


def _map_of(city: dict) -> Map:
    """The map a [city] table names (`map = "file"` is short for `map = { communities = "file" }`),
    with the two numbers of the scenario a map may need: a table of points is drawn over
    `area_km2`, and a population without households is divided by `household_size`."""
    if isinstance(city["map"], str):
        city["map"] = {"communities": city["map"]}
    settings = build(CityMap, city["map"], "city.map")
    area = _own(city, "area_km2", "a table of points is drawn over this area") \
        if split_layer(settings.communities)[0].lower().endswith(".csv") else None
    size = _given(city, "household_size", "a population is divided by it") if "household_size" in city else None
    return read_map(settings, area, size)


def digest(settings: dict) -> dict:
    """The map's settings with each file named by a digest of its content instead of its path: the
    scenario hash follows the data, wherever the files lie."""
    out = dict(settings)
    for key in FILES:
        if isinstance(out.get(key), str):
            path, layer = split_layer(out[key])
            out[key] = _file_digest(Path(path)) + (f"|layername={layer}" if layer else "")
    return out


_DIGESTS: dict = {}              # (path, mtime, size) -> sha256: a file is read once while unchanged


def _file_digest(path: Path) -> str:
    """sha256 of a file and its sidecars (a Shapefile's .dbf, .shx, .prj, .cpg)."""
    h = hashlib.sha256()
    parts = sorted(path.parent.glob(path.stem + ".*")) if path.suffix.lower() == ".shp" else [path]
    for part in parts:
        try:
            key = (str(part), part.stat().st_mtime_ns, part.stat().st_size)
        except OSError:
            h.update(b"missing")
            continue
        if key not in _DIGESTS:
            _DIGESTS[key] = hashlib.sha256(part.read_bytes()).hexdigest()
        h.update(_DIGESTS[key].encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- reading
_CACHE: dict = {}


def read_map(settings: CityMap, area_km2: float | None = None, household_size: float | None = None) -> Map:
    """The map the settings name, read once per process while its files are unchanged. `area_km2`:
    the area a table of points is drawn over (polygons bring their own); `household_size`: what a
    population without households (or a household_size column) is divided by."""
    stamps = []
    for key in FILES:
        text = getattr(settings, key)
        if text is not None:
            path = Path(split_layer(text)[0])
            stamps.append((path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None)
    key = (settings.communities, tuple(sorted(settings.columns.items())), settings.crs, settings.stations,
           settings.buildings, settings.streets, area_km2, household_size, tuple(stamps))
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = _read(settings, area_km2, household_size)
    return _CACHE[key]


def readable() -> bool:
    """Whether maps can be read here: the [geo] extra is installed."""
    import importlib.util
    return importlib.util.find_spec("geopandas") is not None


def _read(settings: CityMap, area_km2: float | None, household_size: float | None) -> Map:
    if not readable():
        raise ScenarioError("city.map", "needs the [geo] extra: pip install 'gridsim-cities[geo]' "
                                        "(or -e '.[geo]' in a clone)")
    import shapely
    source, _ = split_layer(settings.communities)
    frame = _frame(settings.communities, settings.crs, settings.columns, "communities")
    rows = Rows(source, frame, frame.attrs["columns"].get("name"), frame.attrs["is_csv"])
    rows.check_lon_lat()
    c = _counts(rows, household_size)
    metric = _metric_crs(frame)
    if rows.is_csv:
        polygons = _drawn_areas(rows, frame.to_crs(metric), c["households"], area_km2)
    else:
        rows.check_polygons(frame.geometry.to_numpy())
        polygons = frame.to_crs(metric).geometry.to_numpy()
        rows.check_overlaps(polygons)
    decides = ["city.population", "city.communities"] + ([] if rows.is_csv else ["city.area_km2"])
    decides += [f"city.{name}" for name in ("household_size", "elderly_share", "sub_districts", "compounds")
                if c[name] is not None]

    tree = shapely.STRtree(polygons)
    stations = footprints = None
    if settings.stations is not None:
        stations = _sites(settings.stations, settings.crs, metric, tree, polygons, points_only=True)
        decides.append("stations.count")
    if settings.buildings is not None:
        footprints = _sites(settings.buildings, settings.crs, metric, tree, polygons, points_only=False)
        c["buildings"] = np.bincount(footprints.community, minlength=len(polygons))
        name = split_layer(settings.buildings)[0]
        for k in np.flatnonzero(c["buildings"] == 0):
            raise MapError(source, rows.at(k), f"no building of {name} lies inside it")
    for k in np.flatnonzero(c["buildings"] > c["households"]) if c["buildings"] is not None else ():
        raise MapError(source, rows.at(k), f"{c['buildings'][k]} buildings, more than its {c['households'][k]} "
                                           "households")
    for k in np.flatnonzero(c["compounds"] > c["buildings"]) if c["compounds"] is not None \
            and c["buildings"] is not None else ():
        raise MapError(source, rows.at(k), f"{c['compounds'][k]} compounds, more than its {c['buildings'][k]} buildings")
    if c["buildings"] is not None:
        decides.append("city.buildings")
    if settings.streets is not None and not Path(settings.streets).exists():
        raise MapError(settings.streets, "", "no such file")
    return Map(source=source, crs=metric.to_wkt(), names=rows.names, polygons=polygons, households=c["households"],
               population=c["population"], household_size=c["household_size"], sizes=c["sizes"],
               elderly_share=c["elderly_share"], buildings=c["buildings"], compounds=c["compounds"],
               sub_district=c["sub_districts"], stations=stations, footprints=footprints, streets=settings.streets,
               decides=tuple(decides))


def _counts(rows: "Rows", household_size: float | None) -> dict:
    """What the communities file says about each community, checked row by row; a name is None where
    the file does not say. `population` is the total (0: the file gives households only), and
    `household_size` the city-wide mean where the file gives both households and population."""
    import pandas as pd
    cols = rows.frame.attrs["columns"]
    given = {name: name in cols for name in MAP_COLUMNS}
    if not given["households"] and not given["population"]:
        raise MapError(rows.source, "", f"no households or population column (its columns: {_listed(rows.frame)}); "
                                        "name yours in city.map.columns, e.g. columns = { households = \"HH\" }")
    households = rows.counts("households", low=1) if given["households"] else None
    population = rows.counts("population", low=1) if given["population"] else None
    size = rows.numbers("household_size", low=1.0, high=20.0) if given["household_size"] else None
    if households is None:
        if size is None and household_size is None:
            raise ScenarioError("city.household_size", "missing (required: the map gives population only)")
        households = np.maximum(1, np.round(population / (size if size is not None else household_size)))
        households = households.astype(np.int64)
    elif population is None and size is not None:
        population = np.round(households * size).astype(np.int64)
    total = int(population.sum()) if population is not None else 0
    return {"households": households, "population": total,
            "household_size": total / int(households.sum()) if total and given["households"] else None,
            "sizes": size if size is not None else population / households if population is not None else None,
            "elderly_share": rows.numbers("elderly_share", low=0.0, high=1.0) if given["elderly_share"] else None,
            "buildings": rows.counts("buildings", low=1) if given["buildings"] else None,
            "compounds": rows.counts("compounds", low=1) if given["compounds"] else None,
            "sub_districts": pd.factorize(rows.frame[cols["sub_district"]].astype(str))[0].astype(np.int64)
            if given["sub_district"] else None}


class Rows:
    """A file's rows, each named as a planner finds it: 'row 7' in a CSV, 'feature 7 (Xinhua)'."""

    def __init__(self, source: str, frame, name_column: str | None, is_csv: bool, noun: str = "community"):
        self.source, self.frame, self.is_csv = source, frame, is_csv
        self.names = (frame[name_column].astype(str).to_numpy() if name_column
                      else np.array([f"{noun} {k + 1}" for k in range(len(frame))], dtype=object))
        self.named = name_column is not None

    def at(self, k: int) -> str:
        where = f"{'row' if self.is_csv else 'feature'} {k + 1}"
        return f"{where} ({self.names[k]})" if self.named else where

    def numbers(self, name: str, low: float, high: float = np.inf) -> np.ndarray:
        """A column of numbers within [low, high]; the first row outside is the error."""
        import pandas as pd
        column = self.frame.attrs["columns"][name]
        raw = self.frame[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bounds = f"between {low:g} and {high:g}" if np.isfinite(high) else "> 0" if low == 1 else f">= {low:g}"
        for k in np.flatnonzero(~np.isfinite(values) | (values < low) | (values > high)):
            got = raw.iloc[k]
            what = ("is empty" if pd.isna(got) else f"is not a number (got {got!r})" if not np.isfinite(values[k])
                    else f"must be {bounds}, got {values[k]:g}")
            raise MapError(self.source, self.at(k), f"{name} ({column}) {what}")
        return values

    def counts(self, name: str, low: int) -> np.ndarray:
        values = self.numbers(name, low=float(low))
        for k in np.flatnonzero(values != np.round(values)):
            raise MapError(self.source, self.at(k), f"{name} must be a whole number, got {values[k]:g}")
        return values.astype(np.int64)

    def check_lon_lat(self) -> None:
        """Degrees within the globe: metres in a file that says lon/lat (a common slip) would project
        to nowhere. Rows without a geometry are left to the checks that say so."""
        crs = self.frame.crs
        if not crs.is_geographic:
            return
        b = self.frame.geometry.bounds.to_numpy()
        inside = (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)
        for k in np.flatnonzero(np.isfinite(b).all(axis=1) & ~inside)[:1]:
            x0, y0, x1, y1 = b[k]
            spot = (f"lies at ({x0:g}, {y0:g})" if (x0, y0) == (x1, y1)
                    else f"spans x {x0:g} to {x1:g}, y {y0:g} to {y1:g}")
            raise MapError(self.source, self.at(k), f"{spot}, beyond lon/lat's range: are its coordinates in the CRS "
                                                    f"it declares ({crs.name})?")

    def check_polygons(self, geometries: np.ndarray) -> None:
        import shapely
        types = shapely.get_type_id(geometries)
        for k, geom in enumerate(geometries):
            if geom is None or geom.is_empty:
                raise MapError(self.source, self.at(k), "has no geometry")
            if types[k] not in POLYGONS:
                raise MapError(self.source, self.at(k), f"is a {geom.geom_type}, not a polygon (communities as "
                                                        "points go in a CSV with x/y or lon/lat)")
        for k in np.flatnonzero(~shapely.is_valid(geometries)):
            raise MapError(self.source, self.at(k), f"invalid polygon: {shapely.is_valid_reason(geometries[k])} "
                                                    "(QGIS: Vector > Geometry Tools > Fix Geometries)")

    def check_overlaps(self, polygons: np.ndarray) -> None:
        import shapely
        a, b = shapely.STRtree(polygons).query(polygons, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        shared = shapely.area(shapely.intersection(polygons[a], polygons[b]))
        limit = OVERLAP_SHARE * np.minimum(shapely.area(polygons[a]), shapely.area(polygons[b]))
        for i in np.flatnonzero(shared > limit)[:1]:
            raise MapError(self.source, self.at(a[i]), f"overlaps {self.at(b[i])} by {shared[i]:,.0f} m² "
                                                       "(communities must not overlap)")


def _frame(text: str, crs: str | None, columns, what: str):
    """A file as a GeoDataFrame with a CRS; `attrs['columns']` maps gridsim's names to its columns."""
    import pandas as pd
    import pyogrio
    path, layer = split_layer(text)
    if not Path(path).is_file():
        raise MapError(path, "", "no such file")
    if crs is not None:
        _check_crs(crs)
    is_csv = path.lower().endswith(".csv")
    try:
        if is_csv:
            frame = pd.read_csv(path)
        else:
            layers = pyogrio.list_layers(path)
            if layer is None and len(layers) > 1:
                names = ", ".join(str(n) for n in layers[:, 0])
                raise MapError(path, "", f"holds {len(layers)} layers ({names}): name one as "
                                         f"'{Path(path).name}|layername=NAME'")
            frame = pyogrio.read_dataframe(path, layer=layer)
    except MapError:
        raise
    except Exception as err:  # noqa: BLE001 - every reader's failure is the same answer: cannot read
        reason = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        raise MapError(path, "", f"cannot read ({reason})") from None
    if len(frame) == 0:
        raise MapError(path, "", f"holds no {what}")
    found = _columns([c for c in frame.columns if c != "geometry"], columns, path, what)
    if is_csv:
        frame = _points_of(frame, found, crs, path)
    elif frame.crs is None:
        if crs is None:
            raise MapError(path, "", "has no CRS (a Shapefile needs its .prj): give it one in QGIS, or name it "
                                     "in city.map.crs")
        frame = frame.set_crs(crs)
    frame.attrs["columns"], frame.attrs["is_csv"] = found, is_csv
    return frame


def _columns(present: list[str], mapped, path: str, what: str) -> dict[str, str]:
    """gridsim's names -> the file's columns (exact, any case, or as `columns` maps them). A column a
    letter or two off a name gridsim reads is taken for a misspelling: an error, not ignored."""
    wanted = (MAP_COLUMNS if what == "communities" else ("name",)) + POINT_COLUMNS
    lower = {c.lower(): c for c in present}
    found = {}
    for name in wanted:
        if name in mapped:
            if mapped[name] not in present:
                close = difflib.get_close_matches(mapped[name], present, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (its columns: {', '.join(present)})"
                raise MapError(path, "", f"no column {mapped[name]!r} (city.map.columns.{name}){hint}")
            found[name] = mapped[name]
        elif name in lower:
            found[name] = lower[name]
    free = [n for n in wanted if n not in found]
    for column in present:
        if column in found.values():
            continue
        close = [n for n in difflib.get_close_matches(column.lower(), free, n=1, cutoff=0.8)
                 if abs(len(n) - len(column)) <= 2]
        if close:
            raise MapError(path, "", f"column {column!r}: did you mean {close[0]!r}? (rename it, or map it in "
                                     f"city.map.columns)")
    return found


def _listed(frame) -> str:
    return ", ".join(str(c) for c in frame.columns if c != "geometry")


def _points_of(frame, found: dict, crs: str | None, path: str):
    """A CSV's rows as points: lon/lat (WGS 84), or x/y in `crs`."""
    import geopandas as gpd
    import pandas as pd
    if "lon" in found and "lat" in found:
        xs, ys, point_crs = found["lon"], found["lat"], "EPSG:4326"
    elif "x" in found and "y" in found:
        if crs is None:
            raise MapError(path, "", "has x/y but no CRS: name it in city.map.crs (or give lon/lat)")
        xs, ys, point_crs = found["x"], found["y"], crs
    else:
        raise MapError(path, "", f"needs lon and lat (or x and y) columns (its columns: {', '.join(frame.columns)})")
    coords = []
    for column in (xs, ys):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        for k in np.flatnonzero(~np.isfinite(values)):
            raise MapError(path, f"row {k + 1}", f"{column} is not a number (got {frame[column].iloc[k]!r})")
        coords.append(values)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(*coords), crs=point_crs)


def _check_crs(crs: str) -> None:
    """`city.map.crs` names a CRS pyproj knows (EPSG code, WKT or PROJ string)."""
    import pyproj
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as err:
        raise ScenarioError("city.map.crs", f"unknown CRS {crs!r} ({str(err).splitlines()[0]})") from None


def _metric_crs(frame):
    """The file's CRS if it is projected in metres, else the UTM zone of the data's centroid."""
    crs = frame.crs
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    return frame.estimate_utm_crs()


def _drawn_areas(rows: Rows, frame, households: np.ndarray, area_km2: float | None) -> np.ndarray:
    """A table of points as areas: each community the part of its Voronoi cell within a circle that
    holds its share of `area_km2`, so neighbours never overlap and the city covers about that area."""
    import shapely
    points = frame.geometry.to_numpy()
    xy = shapely.get_coordinates(points)
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    for k in np.flatnonzero(first[inverse.ravel()] != np.arange(len(xy))):
        raise MapError(rows.source, rows.at(k), f"lies at the same point as {rows.at(first[inverse.ravel()[k]])}")
    radius = np.sqrt(area_km2 * 1e6 * households / households.sum() / np.pi)
    if len(points) == 1:
        return shapely.buffer(points, radius)
    span = shapely.buffer(shapely.envelope(shapely.multipoints(xy)), 2 * radius.max())
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=span, ordered=True))
    return shapely.intersection(cells, shapely.buffer(points, radius))


def _sites(text: str, crs: str | None, metric, tree, polygons: np.ndarray, points_only: bool) -> Sites:
    """Stations (points) or buildings (footprints or points), each inside a community."""
    import shapely
    path, _ = split_layer(text)
    what = "stations" if points_only else "buildings"
    frame = _frame(text, crs, {}, what)
    rows = Rows(path, frame, frame.attrs["columns"].get("name"), frame.attrs["is_csv"], what[:-1])
    rows.check_lon_lat()
    geoms = frame.to_crs(metric).geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            raise MapError(path, rows.at(k), "has no geometry")
        if types[k] not in (POINTS if points_only else POINTS + POLYGONS):
            raise MapError(path, rows.at(k), f"is a {geom.geom_type}, not a point" + ("" if points_only else
                                                                                     " or a polygon"))
    spot = shapely.point_on_surface(geoms)
    inside, community = tree.query(spot, predicate="within")
    where = np.full(len(geoms), -1, dtype=np.int64)
    where[inside] = community
    if (where < 0).all():
        raise MapError(path, "", f"no {what[:-1]} lies inside the city (the communities' polygons): "
                                 "are both files in the CRS they declare?")
    for k in np.flatnonzero(where < 0)[:1]:
        raise MapError(path, rows.at(k), "lies outside every community")
    xy = shapely.get_coordinates(spot)
    weight = np.where(shapely.get_type_id(geoms) == 0, 1.0, shapely.area(geoms))
    return Sites(xy[:, 0], xy[:, 1], where, np.maximum(weight, 1.0), rows.names)


def scenario_map(city: City) -> Map:
    """The map of a built scenario's [city] (which has one)."""
    csv = split_layer(city.map.communities)[0].lower().endswith(".csv")
    return read_map(city.map, city.area_km2 if csv else None, city.household_size)
