"""What the dashboard does, without the page: levers, runs, paired differences, figures, export.

The page (`gridsim.dash.app`) only lays this out. Every run goes through the
sweep engine, as `gridsim sweep` does: an option is a one-point experiment
(the base scenario with the option's overrides in `[set]`) run into its own
results folder under the dashboard's workspace, named by its content, so an
option run again is read back, not rerun. Replicate r of every option uses
the same seed (`spec.run_seed`), so an option and the baseline are compared
replicate by replicate (common random numbers), as `gridsim compare` does.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import math
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..analysis.compare import mean_ci, no_interval, show_difference
from ..analysis.store import Store
from ..model.kpis import lookup
from ..scenario import Scenario, to_data
from ..scenario.fields import toml_key, toml_value

ROOT_SEED = 2026

# ---------------------------------------------------------------- the levers
PER_GRID = "one per grid"
POLICE_ROTAS = {
    "as in the scenario": None,
    "office hours, weekdays": [{"days": [0, 1, 2, 3, 4], "start_hour": 8.0, "end_hour": 18.0}],
    "every day 8-18": [{"days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 8.0, "end_hour": 18.0}],
    "round the clock": [{"days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 0.0, "end_hour": 24.0}],
}
GRID_LEADER_CHOICES = [PER_GRID, "3", "4", "5", "6"]
DUTY = {   # out-of-hours duty at each station: where, and who pays the hours
    "none": {"per_station": 0},
    "desk, grid leaders' overtime": {"per_station": 1, "where": "desk", "paid_as": "overtime"},
    "desk, hired rota": {"per_station": 1, "where": "desk", "paid_as": "hire"},
    "on call by phone": {"per_station": 1, "where": "phone", "paid_as": "overtime"},
}


@dataclass(frozen=True)
class Levers:
    """One position of every lever; `overrides` turns it into scenario overrides."""
    households_per_grid: int
    grid_leaders: str                  # PER_GRID, or a number per station
    cover: str                         # own, after, station
    police_rota: str                   # a key of POLICE_ROTAS
    volunteers: int
    volunteer_hours: float
    subsidy_yuan: float
    stations: int
    duty: str = "none"                 # a key of DUTY

    @classmethod
    def of(cls, s: Scenario) -> "Levers":
        """The levers where the scenario has them."""
        gl = s.roles.grid_leader
        leaders = str(gl.min_per_station) if gl.per_grid == 0 and str(gl.min_per_station) in GRID_LEADER_CHOICES \
            else PER_GRID
        d = s.roles.duty_leader
        duty = next((k for k, v in DUTY.items() if v == {"per_station": d.per_station, "where": d.where,
                                                          "paid_as": d.paid_as} or v == {"per_station": d.per_station}),
                    "none")
        return cls(s.grids.households_per_grid, leaders, gl.cover, "as in the scenario", s.roles.volunteer.count,
                   s.roles.volunteer.hours_per_week, s.roles.building_leader.subsidy_yuan, s.stations.count, duty)

    def overrides(self, base: Scenario) -> dict[str, Any]:
        """Dotted scenario paths -> values, only where the levers differ from `base`."""
        was = Levers.of(base)
        out: dict[str, Any] = {}
        if self.households_per_grid != was.households_per_grid:
            out["grids.households_per_grid"] = int(self.households_per_grid)
        if self.grid_leaders != was.grid_leaders:
            if self.grid_leaders == PER_GRID:
                out["roles.grid_leader.per_grid"], out["roles.grid_leader.min_per_station"] = 1.0, 0
            else:
                out["roles.grid_leader.per_grid"] = 0.0
                out["roles.grid_leader.min_per_station"] = int(self.grid_leaders)
        if self.cover != was.cover:
            out["roles.grid_leader.cover"] = self.cover
        if POLICE_ROTAS.get(self.police_rota) is not None:
            out["roles.police.shifts"] = POLICE_ROTAS[self.police_rota]
        if self.volunteers != was.volunteers:
            out["roles.volunteer.count"] = int(self.volunteers)
        if not math.isclose(self.volunteer_hours, was.volunteer_hours):
            out["roles.volunteer.hours_per_week"] = float(self.volunteer_hours)
        if not math.isclose(self.subsidy_yuan, was.subsidy_yuan):
            out["roles.building_leader.subsidy_yuan"] = float(self.subsidy_yuan)
        if self.stations != was.stations or "grids.households_per_grid" in out:     # (else they follow the grids)
            out["stations.count"] = int(self.stations)
        if self.duty != was.duty:
            out.update({f"roles.duty_leader.{k}": v for k, v in DUTY[self.duty].items()})
        return out


def describe(overrides: dict[str, Any]) -> str:
    """A short label a planner reads: `5 grid leaders per station, cover station`."""
    if not overrides:
        return "baseline"
    parts = []
    names = {"grids.households_per_grid": "{} households per grid", "roles.grid_leader.cover": "cover {}",
             "roles.volunteer.count": "{:,} volunteers", "roles.volunteer.hours_per_week": "volunteers {:g} h/week",
             "roles.building_leader.subsidy_yuan": "subsidy {:,.0f} yuan", "stations.count": "{} stations"}
    for key, value in overrides.items():
        if key == "roles.grid_leader.min_per_station":
            parts.append(f"{value} grid leaders per station" if value else "one grid leader per grid")
        elif key == "roles.police.shifts":
            parts.append("police " + next((k for k, v in POLICE_ROTAS.items() if v == value), "rota"))
        elif key == "roles.duty_leader.per_station":
            duty = {k.rpartition(".")[2]: v for k, v in overrides.items() if k.startswith("roles.duty_leader.")}
            parts.append("duty: " + next((k for k, v in DUTY.items() if v == duty), f"{value} per station"))
        elif key in names:
            parts.append(names[key].format(value))
    return ", ".join(parts) or "baseline"


# ---------------------------------------------------------------- running an option
KPIS = ("resolution_hours.p90", "sla_met_share", "by_type.care.sla_met_share", "abandoned_share",
        "visit_completion_share", "hotline_share", "cost_yuan_per_year")


def spec_dict(scenario: str, overrides: dict[str, Any], days: float, warmup: float, replicates: int) -> dict:
    """The one-point experiment of an option (what `gridsim sweep` would take as a file)."""
    body = {"scenario": scenario, "set": overrides, "days": float(days), "warmup_days": float(warmup),
            "replicates": int(replicates), "root_seed": ROOT_SEED}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return {"name": f"dash-{digest}", "description": describe(overrides), **body}


def warmup_for(base: Scenario, days: float) -> float:
    """The scenario's warm-up, or 7 days, never more than a quarter of the run."""
    return float(min(base.run.warmup_days or 7.0, days / 4))


@dataclass
class Outcome:
    """One option's finished runs: the per-replicate KPI rows, daily series and per-grid tables."""
    name: str
    label: str
    overrides: dict
    runs: pd.DataFrame
    series: list[pd.DataFrame] = field(default_factory=list)
    grids: pd.DataFrame | None = None          # replicate 0
    city: Any = None                           # replicate 0's City, where it is drawn on a map


_POOL_LOCK = threading.Lock()
_POOL = None


def pool(workers: int):
    """The dashboard's one process pool (the sweep engine's Executor), started on first use and
    closed as the process exits, its runs in flight stopped: left to the interpreter's teardown,
    its manager's callback could fail on the way out ("Exception ignored ... has no attribute
    'util'", at the end of the suite's runs)."""
    global _POOL
    from ..experiments.sweep import Executor
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = Executor(workers).__enter__()
            atexit.register(_POOL.close, cancel=True)
        return _POOL


def option_spec(scenario: str, overrides: dict, days: float, replicates: int):
    """The one-point experiment an option runs as, validated (ScenarioError if it cannot run)."""
    from .. import api
    base = api.load_scenario(scenario)
    return api.experiment(spec_dict(scenario, overrides, days, warmup_for(base, days), replicates))


def problem(scenario: str, overrides: dict[str, Any], days: float, replicates: int) -> str:
    """Why the levers' option cannot run ("" when it can), said on the page before anything runs:
    the scenario check's refusal (most often a queue that could never keep up: too few staff for
    the work) or a job too large for this machine (the option and the baseline)."""
    from ..experiments import limits
    from ..scenario import ScenarioError
    try:
        spec = option_spec(scenario, overrides, days, replicates)
        limits.check("this option and the baseline", limits.estimate([spec.base], 2 * replicates), None,
                     change="fewer days or replicates", anyway=False)
    except ScenarioError as err:
        return f"{err.path}: {err.message}"
    except limits.TooLarge as err:
        return str(err)
    return ""


def run_option(scenario: str, overrides: dict, days: float, replicates: int, workspace: Path, workers: int,
               progress: Callable[[int, int], None] = lambda done, total: None) -> Outcome:
    """Run (or read back) one option through the sweep engine; `progress(done, total)` as runs finish."""
    from ..experiments.sweep import run_sweep
    spec = option_spec(scenario, overrides, days, replicates)
    folder = Path(workspace) / spec.name
    result: dict = {}

    def work() -> None:
        try:
            result["report"] = run_sweep(spec, folder, pool(workers), progress=False)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = err

    thread = threading.Thread(target=work, daemon=True, name="gridsim-dash-run")
    thread.start()
    while thread.is_alive():
        thread.join(0.4)
        if Store(folder).manifest() is not None:
            progress(len(Store(folder).finished()), replicates)
    if "error" in result:
        raise result["error"]
    if result["report"].failed:
        raise RuntimeError("; ".join(f"{k}: {v}" for k, v in sorted(result["report"].errors.items())[:2]))
    progress(replicates, replicates)
    return read_option(folder, spec.name, overrides, map_city(spec.base))


def read_option(folder: Path, name: str, overrides: dict, city: Any = None) -> Outcome:
    store = Store(folder)
    scan = store.scan()
    runs = store.runs(scan)
    series = [df for _, df in store.extras("series", 0, scan)]
    grids = store.extras("grids", 0, scan)
    return Outcome(name, describe(overrides), dict(overrides), runs, series, grids[0][1] if grids else None, city)


def map_city(scenario: Scenario) -> Any:
    """Replicate 0's city of an option whose scenario is drawn on a map (its grids' polygons for the
    page's map); None on the synthetic square, whose grids the page draws from their centres."""
    if scenario.city.map is None:
        return None
    from ..experiments.report_inputs import run_city
    return run_city(scenario, ROOT_SEED, 0)


# ---------------------------------------------------------------- what an answer rests on
ASSUMPTION_POINTS = 8


def free_inputs(scenario: str) -> tuple:
    """The scenario's inputs no data constrains ([uncertain]), parsed as the analyses take them."""
    from .. import api
    from ..experiments.inputs import parse_inputs
    base = api.load_scenario(scenario)
    return parse_inputs(to_data(base.uncertain), base, "uncertain") if base.uncertain else ()


def across_assumptions(scenario: str, overrides: dict, days: float, replicates: int, targets: list[str],
                       workspace: Path, workers: int, points: int = ASSUMPTION_POINTS) -> str:
    """The option at `points` points of the scenario's unconstrained inputs (a Latin hypercube, the
    same seeds as every option), judged against `targets`: where it meets them, in one sentence."""
    from scipy.stats import qmc
    from .. import api
    from ..analysis.discovery import across
    from ..analysis.objective import objective_from
    from ..experiments.inputs import points_spec, values
    from ..experiments.sweep import run_sweep
    inputs = free_inputs(scenario)
    objective = objective_from({"constraints": targets}, "targets")
    base = api.load_scenario(scenario)
    spec = api.experiment(spec_dict(scenario, overrides, days, warmup_for(base, days), replicates))
    design = values(inputs, qmc.LatinHypercube(d=len(inputs), seed=ROOT_SEED).random(points))
    given = [{"assumption_point": k, **design[k]} for k in range(points)]
    ps = points_spec(spec, f"{spec.name}-assumptions", inputs, given, tags=("assumption_point",), kind="assumptions")
    folder = Path(workspace) / ps.name
    report = run_sweep(ps, folder, pool(workers))
    if report.failed:
        raise RuntimeError("; ".join(f"{k}: {v}" for k, v in sorted(report.errors.items())[:2]))
    found = across(Store(folder).runs(), given, [i.name for i in inputs], objective,
                   {k: describe(overrides) for k in range(points)})
    return found[0].sentence


# ---------------------------------------------------------------- comparing with the baseline
@dataclass(frozen=True)
class Card:
    kpi: str
    title: str
    value: str
    diff: str                 # paired difference from the baseline with its 95% CI, or ""
    verdict: str              # "better", "worse", "same" (CI covers 0), "" (the baseline itself)


def cards(option: Outcome, baseline: Outcome | None) -> list[Card]:
    """A card per KPI: the option's mean, and its paired difference from the baseline with 95% CI."""
    out = []
    for kpi in KPIS:
        if kpi not in option.runs.columns:
            continue
        info = lookup(kpi)
        x = option.runs.set_index("replicate")[kpi].astype(float)
        m, _ = mean_ci(x)
        diff, verdict = "", ""
        if baseline is not None and baseline.name != option.name and kpi in baseline.runs.columns:
            y = baseline.runs.set_index("replicate")[kpi].astype(float)
            common = x.index.intersection(y.index)
            d = (x[common] - y[common]).dropna()
            dm, hw = mean_ci(d)
            if len(d) >= 2 and not math.isnan(hw):
                same = dm - hw <= 0 <= dm + hw
                sign = dm < 0 if info.better == "lower" else dm > 0
                verdict = "same" if same else ("better" if sign else "worse") if info.better else "changed"
                diff = f"{show_difference(kpi, dm)} [{show_difference(kpi, dm - hw)}, {show_difference(kpi, dm + hw)}]"
            elif len(d):
                diff = f"{show_difference(kpi, dm)} ({no_interval(len(d), len(common))})"
        out.append(Card(kpi, info.title, info.show(m), diff, verdict))
    return out


# ---------------------------------------------------------------- figures (PNG bytes)
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return buf.getvalue()


def map_png(option: Outcome, vmax: float | None = None) -> bytes:
    """The city's grids as areas coloured by the grid's p90 wait: on a map their own polygons on the
    real outline, else each the part of the city nearer its households' centre than any other grid's."""
    from matplotlib.collections import PolyCollection

    from ..analysis.figures import map_of_grids, new_figure
    g = option.grids
    if g is None or g.empty:
        fig = new_figure((4.2, 3.8))
        fig.subplots().text(0.5, 0.5, "no per-grid table", ha="center", transform=fig.axes[0].transAxes)
        return _png(fig)
    wait = g["wait_p90_minutes"].to_numpy(float) / 60
    top = vmax if vmax else float(np.nanpercentile(wait, 98)) if np.isfinite(wait).any() else 1.0
    if option.city is not None:
        by_grid = np.full(option.city.grids, np.nan)
        by_grid[g["grid"].to_numpy(int)] = wait
        fig = map_of_grids(option.city, by_grid, "grid's p90 wait (h)", (4.2, 3.8), top)
        fig.axes[0].get_legend().remove()
        fig.axes[0].set_title(textwrap.fill(option.label, 48), fontsize=9)
        return _png(fig)
    fig = new_figure((4.2, 3.8))
    ax = fig.subplots()
    centres = g[["x", "y"]].to_numpy(float) / 1000
    cells = PolyCollection(grid_cells(centres), array=np.nan_to_num(wait, nan=top), cmap="viridis",
                           edgecolors="white", linewidths=0.3)
    cells.set_clim(0, max(top, 1e-6))
    ax.add_collection(cells)
    ax.autoscale_view()
    fig.colorbar(cells, ax=ax, shrink=0.85, extend="max").set_label("grid's p90 wait (h)")
    ax.set_aspect("equal")
    ax.set_xlabel("km")
    ax.set_title(textwrap.fill(option.label, 48), fontsize=9)
    return _png(fig)


def grid_cells(centres: np.ndarray) -> list[np.ndarray]:
    """Each grid's area on the map: the Voronoi cell of its households' centre, within the box the
    centres span (grids are contiguous, so the cells draw them as areas, not dots)."""
    from scipy.spatial import Voronoi
    lo, hi = centres.min(axis=0), centres.max(axis=0)
    pad = 0.04 * float(max(hi - lo)) + 1e-6
    lo, hi = lo - pad, hi + pad
    if len(centres) < 3:
        return [np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])] * len(centres)
    span = float(max(hi - lo)) * 10
    far = np.array([[lo[0] - span, lo[1] - span], [hi[0] + span, lo[1] - span], [hi[0] + span, hi[1] + span],
                    [lo[0] - span, hi[1] + span]])
    v = Voronoi(np.vstack([centres, far]))           # the far points close every cell of a real centre
    return [_clip(v.vertices[v.regions[v.point_region[i]]], lo, hi) for i in range(len(centres))]


def _clip(polygon: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A convex polygon cut to a box (Sutherland-Hodgman, one side at a time)."""
    for axis, bound, keep_below in ((0, lo[0], False), (0, hi[0], True), (1, lo[1], False), (1, hi[1], True)):
        out = []
        for a, b in zip(polygon, np.roll(polygon, -1, axis=0)):
            a_in = a[axis] <= bound if keep_below else a[axis] >= bound
            b_in = b[axis] <= bound if keep_below else b[axis] >= bound
            if a_in:
                out.append(a)
            if a_in != b_in:
                t = (bound - a[axis]) / (b[axis] - a[axis])
                out.append(a + t * (b - a))
        polygon = np.array(out) if out else np.zeros((0, 2))
    return polygon


def map_scale(options: list[Outcome]) -> float:
    """One colour scale for every map on screen: the 98th percentile of all grids' p90 waits (h)."""
    waits = np.concatenate([o.grids["wait_p90_minutes"].to_numpy(float) / 60 for o in options
                            if o.grids is not None and len(o.grids)] or [np.array([1.0])])
    waits = waits[np.isfinite(waits)]
    return float(np.percentile(waits, 98)) if len(waits) else 1.0


def backlog_svg(options: list[Outcome], resident_types: list[str]) -> str:
    """Residents' open requests per day, mean over replicates, one line per option (SVG, each line's
    group id `backlog-<option name>`): the baseline a broad grey band underneath, the options thin on
    top, so an option equal to the baseline does not hide it."""
    from ..analysis.figures import new_figure, palette
    fig = new_figure((7.5, 3.0))
    ax = fig.subplots()
    for colour, o in zip(palette(len(options)), options):
        if not o.series:
            continue
        frames = [df.set_index("day")[[f"open_{t}" for t in resident_types if f"open_{t}" in df]].sum(axis=1)
                  for df in o.series]
        mean = pd.concat(frames, axis=1).mean(axis=1)
        style = (dict(color="0.55", linewidth=5, alpha=0.45, zorder=1) if not o.overrides
                 else dict(color=colour, linewidth=1.6, zorder=2))
        line, = ax.plot(mean.index, mean.to_numpy(), label=o.label, **style)
        line.set_gid(f"backlog-{o.name}")
    ax.set_xlabel("day")
    ax.set_ylabel("residents' open requests")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


# ---------------------------------------------------------------- export
def _at(data: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def export_spec(scenario: str, base: Scenario, options: dict[str, dict], days: float, warmup: float,
                replicates: int, constraints: list[str] | None = None, name: str = "dashboard_options") -> str:
    """The options on screen as an experiment file: `[options]` bundles with the baseline among them,
    `[baseline]`, and the targets as `[objective]`; `gridsim sweep` and `gridsim optimise` take it."""
    lines = [f"# Options exported from `gridsim dash`: {len(options)} option(s) on {scenario}.",
             "#   gridsim sweep FILE && gridsim report results/NAME     (every option, paired with the baseline)",
             "#   gridsim optimise FILE                                 (the cheapest option meeting the targets)",
             "", f"name = {toml_value(name)}",
             f"description = {toml_value('Options compared in the dashboard: ' + '; '.join(options))}",
             f"scenario = {toml_value(scenario)}", f"days = {float(days)!r}", f"warmup_days = {float(warmup)!r}",
             f"replicates = {int(replicates)}", f"root_seed = {ROOT_SEED}", ""]
    plain = to_data(base, derived=True)
    changed = list(dict.fromkeys(k for bundle in options.values() for k in bundle)) or ["grids.households_per_grid"]
    for key, bundle in options.items():
        lines.append(f"[options.{key}]")
        if not bundle:          # the baseline: restate the base values of what the others change
            bundle = {k: _at(plain, k) for k in changed}
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in bundle.items()] + [""]
    if "baseline" in options:
        lines += ["[baseline]", 'option = "baseline"', ""]
    if constraints:
        lines += ["[objective]", "constraints = [" + ", ".join(toml_value(c) for c in constraints) + "]",
                  'minimise = "cost_yuan_per_year"', ""]
    return "\n".join(lines)


def export_problem(text: str) -> str | None:
    """Why an exported experiment would not load (a target its runs cannot measure, say), or None:
    the page shows the one line instead of a file that sweep and optimise would refuse."""
    import tomllib

    from ..experiments.spec import load_spec
    from ..scenario import ScenarioError
    try:
        load_spec(tomllib.loads(text), check=False)
    except ScenarioError as err:
        return f"{err.path}: {err.message}"
    return None


def option_key(label: str, taken: set[str]) -> str:
    """A TOML-safe option name from a label."""
    base = "_".join("".join(c if c.isalnum() else " " for c in label.lower()).split()) or "option"
    key, k = base, 2
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    return key


def resident_types(base: Scenario) -> list[str]:
    return [t for t, rt in base.requests.items() if rt.origin == "resident"]

