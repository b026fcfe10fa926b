"""Benchmark: a 400,000-resident city built from a communities file, beside Meihekou's synthetic square.

    .venv/bin/python benchmarks/city_from_map.py [--repeat 5] [--communities 60] [--streets]

Makes a district of `--communities` irregular communities holding Meihekou's
population (gridsim.city.district, in a GeoPackage in a temporary folder),
then times, `--repeat` times each and in turns so the machine's drift falls
on both alike: loading the scenario (reading and checking the file, filling
the city's counts) plus drawing the city (households, grids as polygons,
stations, walking), from a cold cache each time; and building Meihekou 2020's
synthetic city from its scenario. `--streets` adds a street file (a footpath
every 150 m over the district) walked along with osmnx and Dijkstra. Prints
each run and the medians. Target (docs/PERFORMANCE.md): at most 10 s.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from gridsim.city import build_city
from gridsim.city import streets as street_cache
from gridsim.city.district import made_up_district, street_file
from gridsim.model.requests import stream
from gridsim.scenario import citymap, load

ROOT = Path(__file__).resolve().parent.parent
RULES = """extends = "meihekou_2020"
[city.map]
communities = "communities.gpkg"
"""


def timed(build) -> float:
    t0 = time.perf_counter()
    build()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--communities", type=int, default=60)
    ap.add_argument("--streets", action="store_true", help="walk along a street file too")
    args = ap.parse_args()
    meihekou = ROOT / "scenarios" / "meihekou_2020.toml"
    households = load(meihekou).city.households
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame = made_up_district(args.communities, households, seed=2020, households_per_km2=2300.0)
        frame.to_file(folder / "communities.gpkg")
        table = RULES
        if args.streets:
            street_file(frame, folder / "streets.osm")
            table += 'streets = "streets.osm"\n'
        (folder / "city.toml").write_text(table)

        def from_map():
            citymap._CACHE.clear()
            street_cache._GRAPHS.clear()
            city = build_city(load(folder / "city.toml"), stream(0, "city"))
            assert city.households == households

        def synthetic():
            build_city(load(meihekou), stream(0, "city"))

        print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
              f"{households:,} households in {args.communities} communities"
              f"{', walking along streets' if args.streets else ''}")
        runs = {"from the map": [], "synthetic square": []}
        for k in range(args.repeat):
            runs["from the map"].append(timed(from_map))
            runs["synthetic square"].append(timed(synthetic))
            print(f"run {k + 1}: " + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in runs.items()))
        for name, times in runs.items():
            print(f"median {name}: {statistics.median(times):.2f} s (range {min(times):.2f}-{max(times):.2f})")
        for graph in street_cache._GRAPHS.values():
            print(f"street graph: {len(graph.x):,} nodes, {graph.lengths.nnz // 2:,} street segments")


if __name__ == "__main__":
    main()
