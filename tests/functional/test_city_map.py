"""A planner's own city: communities from a GIS file or a table, grids drawn on the map, results back in
GIS, and one error line for each bad input. Every map here is made by the test (irregular polygons)."""

import json
import warnings

import numpy as np
import pytest

gpd = pytest.importorskip("geopandas", reason="maps need the geo extra: pip install -e '.[geo]'")
shapely = pytest.importorskip("shapely", reason="maps need the geo extra: pip install -e '.[geo]'")

from gridsim.city import build_city  # noqa: E402
from gridsim.city.district import made_up_district, street_file  # noqa: E402
from gridsim.model.requests import stream  # noqa: E402
from gridsim.scenario import ScenarioError, load, scenario_hash, to_data, with_overrides  # noqa: E402

from ..conftest import gridsim  # noqa: E402

UTM = "EPSG:32651"
RULES = """extends = "meihekou_2020"
[stations]
count = {stations}
[roles.community_worker]
count = 20
[roles.volunteer]
count = 100
[roles.two_new_org]
count = 3
[roles.alliance]
count = 2
"""


def scenario_file(folder, map_table: str, stations: int = 8, name: str = "city.toml"):
    path = folder / name
    path.write_text(RULES.format(stations=stations) + "[city.map]\n" + map_table + "\n")
    return path


def odd_shapes() -> gpd.GeoDataFrame:
    """Three communities no bisection of a box would draw: an L, a ring around a courtyard (its hole
    another community) and two islands, in a projected CRS (metres)."""
    ell = shapely.Polygon([(0, 0), (900, 0), (900, 300), (300, 300), (300, 1000), (0, 1000)])
    ring = shapely.Polygon([(1000, 0), (1900, 0), (1900, 900), (1000, 900)],
                           [[(1300, 300), (1600, 300), (1600, 600), (1300, 600)]])
    court = shapely.Polygon([(1300, 300), (1600, 300), (1600, 600), (1300, 600)])
    islands = shapely.MultiPolygon([shapely.box(0, 1100, 600, 1500), shapely.box(800, 1200, 1500, 1600)])
    return gpd.GeoDataFrame({"name": ["L", "Ring", "Court", "Islands"], "households": [1500, 1900, 300, 1200]},
                            geometry=[ell, ring, court, islands], crs=UTM)


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """A made-up district of irregular communities (lon/lat GeoJSON), its scenario and its city."""
    folder = tmp_path_factory.mktemp("district")
    made_up_district(7, 5000, seed=3, households_per_km2=3000).to_file(folder / "communities.geojson")
    scenario = load(scenario_file(folder, 'communities = "communities.geojson"'))
    return folder, scenario, build_city(scenario, stream(0, "city"))


def assert_drawn_by_the_standard(scenario, city):
    geo = city.geometry
    per_community = np.bincount(city.hh_community, minlength=len(geo.communities))
    want = np.maximum(1, np.round(per_community / scenario.grids.households_per_grid))
    assert (np.bincount(city.grid_community, minlength=len(want)) == want).all()
    outside = shapely.area(shapely.difference(geo.grids, geo.communities[city.grid_community]))
    assert (outside <= 1e-6 * shapely.area(geo.grids)).all()                    # every grid inside its community
    parts = shapely.area(shapely.union_all(geo.grids))                          # and the grids tile the city
    assert parts == pytest.approx(shapely.area(shapely.union_all(geo.communities)), rel=1e-6)
    homes = shapely.points(city.hh_x, city.hh_y)
    assert shapely.covers(geo.grids[city.hh_grid], homes).all()                  # every household inside its grid
    assert shapely.covers(geo.communities[city.hh_community], homes).all()


def test_grids_follow_the_standard_inside_irregular_communities(district):
    _, scenario, city = district
    assert city.households == 5000 and scenario.city.communities == 7
    assert any(g.convex_hull.area > 1.05 * g.area for g in city.geometry.communities)   # not convex
    assert_drawn_by_the_standard(scenario, city)
    for per_grid in (120, 400):
        other = with_overrides(scenario, [f"grids.households_per_grid={per_grid}"])
        assert_drawn_by_the_standard(other, build_city(other, stream(0, "city")))


def test_holes_islands_and_concave_shapes_from_a_geopackage(tmp_path, meihekou):
    odd_shapes().to_file(tmp_path / "odd.gpkg", layer="communities")
    scenario = load(scenario_file(tmp_path, 'communities = "odd.gpkg"', stations=4))
    city = build_city(scenario, stream(1, "city"))
    m, c = meihekou.city, scenario.city                  # a file of households only: the rest at Meihekou's ratios
    assert (c.households, c.compounds, c.buildings) == (4900, round(4900 * m.compounds / m.households),
                                                        round(4900 * m.buildings / m.households))
    again = with_overrides(scenario, ["grids.households_per_grid=300"])
    assert (again.city.compounds, again.city.buildings) == (c.compounds, c.buildings)   # filling again keeps them
    assert city.geometry.crs == gpd.GeoSeries(crs=UTM).crs.to_wkt()          # projected in metres: kept
    assert_drawn_by_the_standard(scenario, city)


def test_the_map_decides_the_city_counts_and_keeps_the_hash(district):
    folder, scenario, _ = district
    frame = gpd.read_file(folder / "communities.geojson")
    c = scenario.city
    assert c.population == frame["population"].sum() and c.households == frame["households"].sum()
    assert (c.buildings, c.compounds, c.sub_districts) == (frame["buildings"].sum(), frame["compounds"].sum(), 3)
    assert sum(m.compounds for m in scenario.roles.property_manager.modes.values()) == c.compounds
    again = with_overrides(with_overrides(scenario, ["grids.households_per_grid=500"]),
                           ["grids.households_per_grid=350"])
    assert scenario_hash(again) == scenario_hash(scenario)                      # filling again changes nothing
    out = gridsim("run", folder / "city.toml", "--days", "3", "--set", "city.population=9")
    assert out.returncode == 2 and "city.population: comes from the map" in out.stderr


def test_a_scenario_without_a_map_has_the_same_plain_form_as_before(meihekou):
    assert "map" not in to_data(meihekou)["city"]


def test_a_table_of_points_with_stations_and_footprints(tmp_path, district):
    """Communities as lon/lat points in a CSV; station sites and building footprints from GIS files."""
    folder, _, city = district
    frame = gpd.read_file(folder / "communities.geojson")
    centre = frame.to_crs(frame.estimate_utm_crs()).representative_point().to_crs("EPSG:4326")
    table = frame.drop(columns="geometry").assign(lon=centre.x, lat=centre.y)
    table.to_csv(tmp_path / "communities.csv", index=False)
    points = scenario_file(tmp_path, 'communities = "communities.csv"')
    on_points = load(points)
    assert_drawn_by_the_standard(on_points, build_city(on_points, stream(0, "city")))

    g = city.geometry
    sites = gpd.GeoDataFrame({"name": ["North", "South", "East"]},
                             geometry=shapely.point_on_surface(g.communities[:3]), crs=g.crs)
    sites.to_file(tmp_path / "stations.gpkg")
    first = np.unique(city.hh_building, return_index=True)[1]                   # a footprint at every building
    footprints = shapely.buffer(shapely.points(city.hh_x[first], city.hh_y[first]), 6)
    footprints = footprints[shapely.covers(shapely.union_all(g.communities), footprints)]
    gpd.GeoDataFrame(geometry=footprints, crs=g.crs).to_file(tmp_path / "buildings.gpkg")
    (tmp_path / "communities.geojson").write_bytes((folder / "communities.geojson").read_bytes())
    path = scenario_file(tmp_path, 'communities = "communities.geojson"\nstations = "stations.gpkg"\n'
                                   'buildings = "buildings.gpkg"', name="sited.toml")
    sited = load(path)
    built = build_city(sited, stream(0, "city"))
    assert sited.stations.count == 3 and list(built.geometry.station_names) == ["North", "South", "East"]
    assert_drawn_by_the_standard(sited, built)
    spots = shapely.points(built.hh_x, built.hh_y)
    assert shapely.covers(shapely.union_all(footprints), spots).all()           # households on the footprints
    sited_community = np.isin(built.grid_community, built.station_community)   # a grid's station is in its community
    assert (built.station_community[built.grid_station[sited_community]] == built.grid_community[sited_community]).all()
    assert (built.grid_station >= 0).all()                                       # or the nearest, where it has none


def test_walking_along_the_streets_of_a_local_osm_file(tmp_path, district):
    folder, scenario, crow = district
    street_file(gpd.read_file(folder / "communities.geojson"), tmp_path / "streets.osm", spacing_m=100)
    along = with_overrides(scenario, [f"city.map.streets={tmp_path / 'streets.osm'}"])
    city = build_city(along, stream(0, "city"))
    assert (city.grid_station == crow.grid_station).all()
    straight = np.hypot(city.hh_x - city.station_x[city.hh_station], city.hh_y - city.station_y[city.hh_station])
    street_metres = city.hh_base_walk_min * along.city.walk_speed_m_per_min
    assert (street_metres >= straight - 1e-6).all()                             # never shorter than a straight line
    assert np.median(street_metres / np.maximum(straight, 1)) > 1.05           # and around the blocks
    assert "along the streets of streets.osm" in city.geometry.walk
    osmium = pytest.importorskip("osmium", reason="a .pbf extract needs pyosmium (the geo extra)")
    with osmium.SimpleWriter(str(tmp_path / "streets.osm.pbf")) as writer:
        for obj in osmium.FileProcessor(str(tmp_path / "streets.osm")):
            writer.add(obj)
    pbf = with_overrides(scenario, [f"city.map.streets={tmp_path / 'streets.osm.pbf'}"])
    assert np.allclose(build_city(pbf, stream(0, "city")).hh_base_walk_min, city.hh_base_walk_min)


def test_run_out_writes_grids_and_stations_for_qgis(tmp_path, district):
    folder, scenario, _ = district
    out = gridsim("run", folder / "city.toml", "--days", "40", "--out", tmp_path / "out")   # a month's visits
    assert out.returncode == 0, out.stderr
    assert "grids.gpkg, stations.gpkg" in out.stdout
    grids = gpd.read_file(tmp_path / "out" / "grids.gpkg")
    table = gpd.pd.read_parquet(tmp_path / "out" / "grids.parquet")
    kpis = {"households", "requests", "wait_mean_minutes", "wait_p90_minutes", "resolution_p90_hours",
            "grid_leader_utilisation", "home_visits_due", "home_visits_made", "community_name"}
    assert kpis <= set(grids.columns) and len(grids) == len(table)
    assert grids.crs.is_projected and grids.crs.utm_zone == "51N" and set(grids.geom_type) <= {"Polygon", "MultiPolygon"}
    stations = gpd.read_file(tmp_path / "out" / "stations.gpkg", layer="stations")
    areas = gpd.read_file(tmp_path / "out" / "stations.gpkg", layer="walk_areas")
    assert len(stations) == len(areas) == scenario.stations.count and stations.crs == grids.crs
    assert {"grid_leaders", "station_heads", "police", "households_within_circle_share"} <= set(stations.columns)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["city"]["grids"] == len(grids)
    assert grids["home_visits_due"].sum() > 0                                   # the summary's cohort, by grid
    assert grids["home_visits_made"].sum() / grids["home_visits_due"].sum() == summary["visit_completion_share"]


def test_the_reports_map_draws_grid_polygons(tmp_path, district):
    from matplotlib.collections import PatchCollection

    from gridsim.analysis.figures import city_map, load_results
    from gridsim.experiments.report_inputs import report_inputs
    folder, _, _ = district
    (tmp_path / "e.toml").write_text(f'name = "e"\nscenario = "{folder / "city.toml"}"\nreplicates = 1\n'
                                     'days = 6.0\nwarmup_days = 1.0\n[factors]\n"grids.households_per_grid" = [350]\n')
    assert gridsim("sweep", tmp_path / "e.toml", "--results", tmp_path, "--quiet", "--workers", "1").returncode == 0
    res = load_results(tmp_path / "e")
    inputs = report_inputs(res)
    fig = city_map(res, inputs.map_input.city, tmp_path / "map")
    drawn = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection)]
    assert len(drawn[0].get_paths()) == inputs.map_input.city.grids             # one polygon a grid
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_the_dashboards_draw_a_map_citys_grids_as_polygons(district, monkeypatch):
    """The planner's page (`gridsim dash`) and Mesa's SolaraViz page both draw a map city's grids as their
    polygons, one a grid, not as dots or Voronoi cells."""
    from matplotlib.collections import PatchCollection

    from gridsim.dash import levers
    from gridsim.model import GridModel
    from gridsim.model.run import simulate
    _, scenario, city = district
    result = simulate(scenario, seed=0, days=3)
    monkeypatch.setattr(levers, "_png", lambda fig: fig)                     # the figure, not its bytes
    option = levers.Outcome("baseline", "baseline", {}, gpd.pd.DataFrame(), grids=result.grids, city=city)
    fig = levers.map_png(option)
    drawn = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection)]
    assert len(drawn[0].get_paths()) == city.grids
    pytest.importorskip("solara", reason="Mesa's page needs the viz extra")
    pytest.importorskip("mesa_geo", reason="its map is drawn from the GeoSpace (the geo extra)")
    from gridsim.dash.viz import grid_map
    fig = grid_map(GridModel(scenario, rng=0, days=3))
    assert max(len(c.get_paths()) for c in fig.axes[0].collections) == city.grids


def test_communities_grids_and_stations_as_mesa_geo_agents(district):
    pytest.importorskip("mesa_geo", reason="GeoAgents need mesa-geo (the geo extra)")
    from gridsim.model import GridModel
    from gridsim.model.geo import Community, Grid, Station, geospace
    _, scenario, _ = district
    model = GridModel(scenario, rng=0, days=3)
    space = geospace(model)
    assert space is model.space and geospace(model) is space
    grids = space.get_agents_as_GeoDataFrame(Grid)
    assert len(grids) == model.city.grids and grids["households"].sum() == model.city.households
    assert len(space.get_agents_as_GeoDataFrame(Community)) == 7
    assert len(space.get_agents_as_GeoDataFrame(Station)) == model.city.stations
    model.run()                                                                  # the run never reads the space


def test_the_bundled_example_is_what_the_project_makes(tmp_path):
    from gridsim.city.district import write_example
    from gridsim.data import folder
    shipped = folder("scenarios") / "maps"
    for made in write_example(tmp_path):
        if made.suffix == ".geojson":
            a, b = gpd.read_file(made), gpd.read_file(shipped / made.name)
            assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
            assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-6).all()
        else:
            assert made.read_text() == (shipped / made.name).read_text()


def test_every_bundled_map_experiment_loads():
    from gridsim.data import folder
    from gridsim.experiments.spec import load_spec
    for path in sorted((folder("experiments") / "maps").glob("*.toml")):
        assert load_spec(path).base.city.map is not None
    for name in ("example_district", "example_district_streets"):
        assert load(folder("scenarios") / "maps" / f"{name}.toml").city.communities == 16


# ---------------------------------------------------------------- bad input: one error line each
def bad(folder, frame, table: str = 'communities = "bad.gpkg"', file: str = "bad.gpkg", **write):
    if frame is not None:
        frame.to_file(folder / file, **write) if hasattr(frame, "to_file") else frame.to_csv(folder / file,
                                                                                              index=False)
    with warnings.catch_warnings(record=True) as warned:      # the real command would print them too
        warnings.simplefilter("always")
        out = gridsim("run", scenario_file(folder, table), "--days", "3")
    assert not warned, [str(w.message) for w in warned]
    assert out.returncode == 2 and out.stdout == "", out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def test_missing_and_misspelled_columns(tmp_path):
    shapes = odd_shapes()
    line = bad(tmp_path, shapes.rename(columns={"households": "hh_2020"}))
    assert "bad.gpkg: no households or population column (its columns: name, hh_2020)" in line
    line = bad(tmp_path, shapes.rename(columns={"households": "housholds"}))
    assert "bad.gpkg: column 'housholds': did you mean 'households'?" in line
    line = bad(tmp_path, shapes, 'communities = "bad.gpkg"\ncolumns = { households = "HH" }')
    assert "bad.gpkg: no column 'HH' (city.map.columns.households)" in line
    mapped = shapes.rename(columns={"households": "HH_2020"})
    mapped.to_file(tmp_path / "mapped.gpkg")
    assert load(scenario_file(tmp_path, 'communities = "mapped.gpkg"\ncolumns = { households = "HH_2020" }')) \
        .city.households == 4900


def test_no_crs(tmp_path):
    odd_shapes().to_file(tmp_path / "bad.shp")
    (tmp_path / "bad.prj").unlink()
    line = bad(tmp_path, None, 'communities = "bad.shp"')
    assert "bad.shp: has no CRS (a Shapefile needs its .prj)" in line
    assert load(scenario_file(tmp_path, f'communities = "bad.shp"\ncrs = "{UTM}"')).city.communities == 4
    assert "city.map.crs: unknown CRS 'EPSG:99999'" in bad(tmp_path, None, 'communities = "bad.shp"\ncrs = "EPSG:99999"')
    table = gpd.pd.DataFrame({"x": [1.0, 2000.0], "y": [1.0, 3000.0], "households": [500, 600]})
    line = bad(tmp_path, table, 'communities = "bad.csv"', "bad.csv")
    assert "bad.csv: has x/y but no CRS: name it in city.map.crs" in line


def test_invalid_and_overlapping_polygons(tmp_path):
    shapes = odd_shapes()
    bowtie = shapes.copy()
    bowtie.loc[1, "geometry"] = shapely.Polygon([(1000, 0), (1900, 900), (1900, 0), (1000, 900)])
    assert "bad.gpkg: feature 2 (Ring): invalid polygon: Self-intersection" in bad(tmp_path, bowtie)
    overlapping = shapes.copy()
    overlapping.loc[3, "geometry"] = shapely.box(0, 800, 600, 1500)
    assert "bad.gpkg: feature 1 (L): overlaps feature 4 (Islands) by 60,000 m²" in bad(tmp_path, overlapping)
    points = shapes.copy()
    points.loc[2, "geometry"] = shapely.Point(1400, 400)
    assert "bad.gpkg: feature 3 (Court): is a Point, not a polygon" in bad(tmp_path, points)


def test_zero_negative_or_missing_households(tmp_path):
    for value, what in ((0, "must be > 0, got 0"), (-3, "must be > 0, got -3"), (12.5, "must be a whole number")):
        shapes = odd_shapes()
        shapes["households"] = shapes["households"].astype(float)
        shapes.loc[2, "households"] = value
        assert "bad.gpkg: feature 3 (Court): households" in (line := bad(tmp_path, shapes)) and what in line
    table = gpd.pd.DataFrame({"lon": [124.5, 124.51, 124.52], "lat": [43.2, 43.2, 43.21], "households": [500, "", 40]})
    line = bad(tmp_path, table, 'communities = "bad.csv"', "bad.csv")
    assert "bad.csv: row 2: households (households) is empty" in line


def test_stations_outside_the_city(tmp_path):
    shapes = odd_shapes()
    shapes.to_file(tmp_path / "odd.gpkg")
    sites = gpd.GeoDataFrame({"name": ["A", "B"]}, geometry=[shapely.Point(100, 100), shapely.Point(5000, 5000)],
                             crs=UTM)
    line = bad(tmp_path, sites, 'communities = "odd.gpkg"\nstations = "stations.gpkg"', "stations.gpkg")
    assert "stations.gpkg: feature 2 (B): lies outside every community" in line
    zone50 = sites.copy().set_crs("EPSG:32650", allow_override=True)        # coordinates in the wrong CRS
    line = bad(tmp_path, zone50, 'communities = "odd.gpkg"\nstations = "wrong.gpkg"', "wrong.gpkg")
    assert "wrong.gpkg: no station lies inside the city" in line
    footprints = gpd.GeoDataFrame(geometry=[shapely.box(100, 100, 120, 120), shapely.box(3000, 3000, 3020, 3020)],
                                  crs=UTM)
    line = bad(tmp_path, footprints, 'communities = "odd.gpkg"\nbuildings = "fp.gpkg"', "fp.gpkg")
    assert "fp.gpkg: feature 2: lies outside every community" in line


def test_metres_in_a_file_that_says_lon_lat(tmp_path):
    """Projected coordinates labelled WGS 84 (a common slip) would project to nowhere: the first feature
    or row beyond lon/lat's range is named, in communities, points and stations alike."""
    metres = odd_shapes().set_crs("EPSG:4326", allow_override=True)
    line = bad(tmp_path, metres, 'communities = "metres.gpkg"', "metres.gpkg")
    assert "metres.gpkg: feature 1 (L): spans x 0 to 900, y 0 to 1000, beyond lon/lat's range" in line
    table = gpd.pd.DataFrame({"lon": [124.5, 500.0], "lat": [43.2, 43.3], "households": [300, 400]})
    line = bad(tmp_path, table, 'communities = "points.csv"', "points.csv")
    assert "points.csv: row 2: lies at (500, 43.3), beyond lon/lat's range" in line
    odd_shapes().to_file(tmp_path / "odd.gpkg")
    sites = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.Point(100, 100)], crs="EPSG:4326")
    line = bad(tmp_path, sites, 'communities = "odd.gpkg"\nstations = "sites.gpkg"', "sites.gpkg")
    assert "sites.gpkg: feature 1 (A): lies at (100, 100), beyond lon/lat's range" in line


def test_unreadable_or_missing_files(tmp_path):
    (tmp_path / "bad.gpkg").write_bytes(b"\x00not a geopackage" * 50)
    assert "bad.gpkg: cannot read (" in bad(tmp_path, None)
    assert "nowhere.gpkg: no such file" in bad(tmp_path, None, 'communities = "nowhere.gpkg"')
    odd_shapes().to_file(tmp_path / "odd.gpkg")
    (tmp_path / "streets.osm").write_text("<osm><way id='1'>")
    line = bad(tmp_path, None, 'communities = "odd.gpkg"\nstreets = "streets.osm"')
    assert "streets.osm: cannot read as an OpenStreetMap extract" in line


def test_errors_name_the_map_file_not_the_scenario(tmp_path):
    shapes = odd_shapes()
    shapes.loc[0, "households"] = 0
    shapes.to_file(tmp_path / "zero.gpkg")
    with pytest.raises(ScenarioError) as caught:
        load(scenario_file(tmp_path, 'communities = "zero.gpkg"'))
    assert str(caught.value).startswith(str(tmp_path / "zero.gpkg") + ": feature 1 (L)")
