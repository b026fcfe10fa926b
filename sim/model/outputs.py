"""Write a run's outputs (`gridsim run --out DIR`): Parquet tables and summary.json, as one set, and
for a city drawn on a map its layers for QGIS: grids.gpkg and stations.gpkg."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_folder
from . import spill
from .metrics import finite, visit_cohort
from .run import RunResult

TABLES = ("requests", "visits", "timeseries", "grids", "census")
GPKG = {"grids.gpkg": ("grids",), "stations.gpkg": ("stations", "walk_areas")}
FILES = (*(f"{name}.parquet" for name in TABLES), "summary.json", *GPKG)


def owned(folder: Path) -> bool:
    """True when `folder` holds nothing but files `write_run` writes (so it may be replaced)."""
    return all(p.name in FILES for p in folder.iterdir())


def written(result: RunResult) -> list[str]:
    """The files `write_run` writes for this result."""
    return [*(f"{name}.parquet" for name in TABLES), "summary.json", *(GPKG if result.layers else ())]


def write_run(result: RunResult, out: Path) -> list[Path]:
    """Write every file into a hidden sibling folder, then swap it in for `out` whole.

    `out` then holds this run's files or, if anything fails (a crash, a full
    disk), the previous run's: never a mix. An existing `out` that holds other
    files is refused (`atomic.WriteError`) before anything is written.
    """
    def fill(tmp: Path) -> None:
        for name in TABLES:
            write_parquet(result.tables[name], tmp / f"{name}.parquet")
        (tmp / "summary.json").write_text(json.dumps(finite(result.summary), indent=1, allow_nan=False))
        for file, layers in GPKG.items():
            for layer in layers if result.layers else ():
                result.layers[layer].to_file(tmp / file, layer=layer, driver="GPKG", engine="pyogrio")

    out = write_folder(Path(out), fill, owned)
    return [out / name for name in written(result)]


BATCH_ROWS = 1 << 16


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """`table.to_parquet(path, index=False)`, the same columns, values and schema, written
    BATCH_ROWS rows at a time (a row group each), the pages read going back to a long run's files
    after each (`spill`): to_parquet converts a whole table at once, and a city-year's two tables
    are 181 MB (`gridsim run --out` peaked at 640-667 MiB against 444 MiB without). Arrow's
    allocator (mimalloc) kept 50-61 MB more with parts of 131,072 rows or more, 0-24 MB with these.
    Each column's part goes to Arrow as it is: numbers are not copied, a category's codes and a
    flag are. Dictionary pages for all but the floats, which start a new one in every row group to
    no avail: a city-year's two files 115 MB in 0.65-0.67 s, against to_parquet's 111 MB in
    0.62-0.67 s (130 MB and 0.94-1.06 s with every column's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = pa.Schema.from_pandas(table.iloc[:0], preserve_index=False)
    dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
    with pq.ParquetWriter(path, schema, use_dictionary=dictionary) as writer:
        for lo in range(0, max(len(table), 1), BATCH_ROWS):
            part = table.iloc[lo:lo + BATCH_ROWS]
            writer.write_batch(pa.RecordBatch.from_arrays(
                [pa.array(part[name], type=field.type, from_pandas=True) for name, field in zip(table.columns, schema)],
                schema=schema))
            spill.give_back()


def gis_layers(model, tables: dict[str, pd.DataFrame]) -> dict:
    """A map city's results as GeoDataFrames in the scenario's CRS (empty on the synthetic square):

    - `grids`: each grid's polygon with the per-grid table (households, residents' requests, waits,
      resolution, trust, grid-leader utilisation), its community's name, and the routine home
      visits of the summary's visit completion: those that fell due after the warm-up with the
      next due before the end, and of them those made (`metrics.visit_cohort`);
    - `stations`: each site, its community, grids, households and staff by role, and the share of
      its households within the walking circle of a station;
    - `walk_areas`: where each station's walking circle reaches, and how walking was measured."""
    city, spec = model.city, model.spec
    geo = city.geometry
    if geo is None:
        return {}
    import geopandas as gpd
    grids = tables["grids"].copy()
    grids.insert(2, "community_name", geo.community_names[grids["community"].to_numpy()])
    requests = tables["requests"]
    cohort = visit_cohort(requests, model, spec.run.warmup_days * 1440)
    for name, flags in zip(("home_visits_due", "home_visits_made"), cohort or ()):
        grids[name] = np.bincount(requests["grid"].to_numpy()[flags], minlength=city.grids)
    n = city.stations
    households = np.bincount(city.hh_station[city.hh_station >= 0], minlength=n)
    circle = city.hh_nearest_station_walk_min <= spec.city.walk_circle_minutes
    within = np.bincount(city.hh_station[city.hh_station >= 0], weights=circle[city.hh_station >= 0], minlength=n)
    leaders = model.layout["grid_leader"]
    roles = spec.roles
    stations = pd.DataFrame({
        "station": np.arange(n), "name": geo.station_names, "community": city.station_community,
        "community_name": geo.community_names[city.station_community],
        "grids": np.bincount(city.grid_station[city.grid_station >= 0], minlength=n), "households": households,
        "households_within_circle_share": within / np.maximum(households, 1),
        "grid_leaders": np.bincount(leaders.group, weights=leaders.members, minlength=n).astype(int)
        if len(leaders.group) and n else np.zeros(n, dtype=int),
        "station_heads": roles.station_head.per_station, "police": roles.police.per_station,
        "duty_leaders": roles.duty_leader.per_station})
    walk = pd.DataFrame({"station": np.arange(n), "name": geo.station_names,
                         "minutes": spec.city.walk_circle_minutes, "walk": geo.walk})
    return {"grids": gpd.GeoDataFrame(grids, geometry=geo.grids, crs=geo.crs),
            "stations": gpd.GeoDataFrame(stations, geometry=gpd.points_from_xy(city.station_x, city.station_y),
                                         crs=geo.crs),
            "walk_areas": gpd.GeoDataFrame(walk, geometry=list(geo.walk_areas), crs=geo.crs)}
