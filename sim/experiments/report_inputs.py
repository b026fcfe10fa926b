"""What `gridsim report` needs beyond the stored runs: the spec's header comment and the
baseline city for the map, rebuilt from the experiment file when it still matches the sweep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.figures import Results, grid_table
from ..analysis.report import MapInput, spec_header
from ..city import build_city
from ..model.requests import stream
from ..scenario import ScenarioError
from .spec import Spec, load_spec, run_seed


@dataclass(frozen=True)
class ReportInputs:
    header: str
    map_input: MapInput | None
    wanted_points: list[int] | None
    problem: str                       # why the map is missing, if it is


def find_spec(results: Path, manifest: dict) -> tuple[Path | None, Spec | None]:
    """The experiment's spec file, wherever it can still be found: (path, Spec) or (None, None)."""
    name = manifest.get("spec_file")
    if not name:
        return None, None
    spec = manifest.get("spec") or {}
    for path in (Path(name), results.resolve().parent.parent / name, results / Path(name).name):
        if path.is_file():
            # as the sweep read it: plain, or a quick look (--days/--replicates); a spec edited since
            # the sweep may describe other points or another city, so only an identical hash counts
            for kw in ({}, {"days": spec.get("days"), "replicates": spec.get("replicates")},
                       {"days": spec.get("days")}, {"replicates": spec.get("replicates")}):
                try:
                    found = load_spec(path, **kw)
                except (ScenarioError, OSError, ValueError, TypeError):
                    return path, None
                if found.hash() == manifest.get("spec_hash"):
                    return path, found
            return path, None
    return None, None



def report_inputs(results: Path, manifest: dict, res: Results) -> ReportInputs:
    path, spec = find_spec(results, manifest)
    header = ""
    if path is not None:
        try:
            header = spec_header(path.read_text())
        except (OSError, UnicodeDecodeError):
            header = ""
    map_input, wanted_points = None, None
    if spec is not None:
        points = spec.points()
        wanted_points = list(range(len(points)))
        if res.baseline_point < len(points):
            try:
                _, replicate = grid_table(res, res.baseline_point)
                scenario = spec.scenario_at(points[res.baseline_point])
                city = build_city(scenario, stream(run_seed(spec.root_seed, replicate), "city"))
                c = scenario.city
                map_input = MapInput(city, c.walk_circle_minutes,
                                     c.walk_circle_minutes * c.walk_speed_m_per_min / c.walk_detour)
            except FileNotFoundError:
                map_input = None
    if spec is None:
        problem = (f"the experiment file {manifest.get('spec_file')} was not found" if path is None else
                   f"the experiment file {path} could not be read or changed since the sweep")
    else:
        problem = "no per-grid table stored for the baseline point"
    return ReportInputs(header, map_input, wanted_points, problem)
