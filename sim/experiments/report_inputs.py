"""What `gridsim report` needs beyond the stored runs: the baseline city for the map.

The manifest records the base scenario and each point's overrides, so the
city of the baseline point is rebuilt from the results folder alone (the
experiment file may have moved or changed since the sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.figures import Results, grid_table
from ..analysis.report import MapInput
from ..city import City, build_city
from ..model.requests import stream
from ..scenario import Scenario, ScenarioError, from_data, with_overrides
from .spec import run_seed


@dataclass(frozen=True)
class ReportInputs:
    map_input: MapInput | None
    problem: str                       # why the map is missing, if it is


def report_inputs(res: Results) -> ReportInputs:
    m = res.manifest
    base, overrides = m.get("base_scenario"), m.get("point_overrides")
    if not isinstance(base, dict) or not isinstance(overrides, list) or res.baseline_point >= len(overrides):
        return ReportInputs(None, "the results' manifest does not record the scenarios (a sweep made by an "
                                  "older gridsim: rerun it with --fresh)")
    try:
        _, replicate = grid_table(res, res.baseline_point)
    except FileNotFoundError as err:
        return ReportInputs(None, str(err))
    try:
        scenario = with_overrides(from_data(base, "the manifest's base_scenario"),
                                  [tuple(kv) for kv in overrides[res.baseline_point]])
    except ScenarioError as err:
        return ReportInputs(None, f"the baseline scenario cannot be rebuilt with this gridsim ({err})")
    city = run_city(scenario, int((m.get("spec") or {}).get("root_seed", 0)), replicate)
    c = scenario.city
    return ReportInputs(MapInput(city, c.walk_circle_minutes,
                                 c.walk_circle_minutes * c.walk_speed_m_per_min / c.walk_detour), "")


def run_city(scenario: Scenario, root_seed: int, replicate: int) -> City:
    """The city a sweep's run of `scenario` drew in `replicate` (the same seed, the same city)."""
    return build_city(scenario, stream(run_seed(root_seed, replicate), "city"))
