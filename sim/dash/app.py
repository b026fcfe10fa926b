"""The `gridsim dash` page (Solara): levers on the left, options side by side with the baseline.

A front end like the command line: it lays out what `gridsim.dash.levers`
computes and runs nothing itself. A run is a Solara task (a thread of the
server) that hands the runs to the sweep engine's process pool, so the page
stays responsive however long the runs take; its progress bar counts
finished runs.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import solara
import solara.lab

from .. import api
from ..model.run import compile_notice
from ..scenario import bundled_names, citymap
from . import levers as L

WORKSPACE = Path(os.environ.get("GRIDSIM_DASH_WORKSPACE", "results/dash"))
WORKERS = int(os.environ.get("GRIDSIM_DASH_WORKERS", "2"))
START_SCENARIO = os.environ.get("GRIDSIM_DASH_SCENARIO", "meihekou_2020_calibrated")
START_DAYS = int(float(os.environ.get("GRIDSIM_DASH_DAYS", "28")))
START_REPLICATES = int(os.environ.get("GRIDSIM_DASH_REPLICATES", "3"))
TARGETS = ("by_type.dispute.sla_met_share >= 0.95\nby_type.care.sla_met_share >= 0.95\n"
           "by_type.safety.abandoned_share <= 0.01")    # visit completion needs runs of over 37 days (not 28)

_first = L.Levers.of(api.load_scenario(START_SCENARIO))
scenario = solara.reactive(START_SCENARIO)
households_per_grid = solara.reactive(_first.households_per_grid)
grid_leaders = solara.reactive(_first.grid_leaders)
cover = solara.reactive(_first.cover)
police_rota = solara.reactive(_first.police_rota)
volunteers = solara.reactive(_first.volunteers)
volunteer_hours = solara.reactive(float(_first.volunteer_hours))
subsidy = solara.reactive(int(_first.subsidy_yuan))
stations = solara.reactive(_first.stations)
duty = solara.reactive(_first.duty)
days = solara.reactive(START_DAYS)
replicates = solara.reactive(START_REPLICATES)
options = solara.reactive([])              # L.Outcome, the baseline first
setting = solara.reactive(None)            # (scenario, days, replicates) the options on screen were run at
error = solara.reactive("")
compiling = solara.reactive("")            # said while numba compiles the journey (a machine's first run)
targets = solara.reactive(TARGETS)
chosen = solara.reactive([])               # names of the options to export
exported = solara.reactive("")
rests_on = solara.reactive({})             # option name -> where it meets the targets across the free inputs


def set_scenario(name: str) -> None:
    scenario.value = name
    lv = L.Levers.of(api.load_scenario(name))
    households_per_grid.value, grid_leaders.value, cover.value = lv.households_per_grid, lv.grid_leaders, lv.cover
    police_rota.value, volunteers.value = lv.police_rota, lv.volunteers
    volunteer_hours.value, subsidy.value, stations.value = float(lv.volunteer_hours), int(lv.subsidy_yuan), lv.stations
    duty.value = lv.duty


def current() -> L.Levers:
    return L.Levers(households_per_grid.value, grid_leaders.value, cover.value, police_rota.value, volunteers.value,
                    volunteer_hours.value, float(subsidy.value), stations.value, duty.value)


@solara.lab.task
def run(name: str, overrides: dict, n_days: int, reps: int) -> None:
    """The baseline (unless on screen already) and the option, through the sweep engine."""
    error.value = ""
    key = (name, n_days, reps)
    on_screen = list(options.value) if setting.value == key else []
    todo = [] if on_screen else [{}]
    if all(o.overrides != overrides for o in on_screen) and overrides not in todo:
        todo.append(overrides)
    total = max(1, len(todo) * reps)
    finished = 0
    try:
        with compile_notice(compiling.set):
            for k, over in enumerate(todo):
                def tick(done: int, _: int, before=k * reps) -> None:
                    run.progress = 100.0 * (before + done) / total
                out = L.run_option(name, over, n_days, reps, WORKSPACE, WORKERS, tick)
                finished += reps
                on_screen = on_screen + [out]
                setting.value, options.value = key, on_screen
                chosen.value = [o.name for o in on_screen]
    except Exception as err:  # noqa: BLE001 - shown on the page, one line
        error.value = f"{type(err).__name__}: {err}".splitlines()[0]
    compiling.value = ""
    run.progress = 100.0


@solara.lab.task
def check(o: L.Outcome) -> None:
    """The option across the scenario's unconstrained inputs, against the targets on the page."""
    lines = [line.strip() for line in targets.value.splitlines() if line.strip()]
    try:
        said = L.across_assumptions(setting.value[0], o.overrides, setting.value[1], setting.value[2], lines,
                                    WORKSPACE, WORKERS)
    except Exception as err:  # noqa: BLE001 - shown on the page, one line
        said = f"could not check: {type(err).__name__}: {err}".splitlines()[0]
    rests_on.value = {**rests_on.value, o.name: said}


def remove(name: str) -> None:
    options.value = [o for o in options.value if o.name != name or not o.overrides]
    chosen.value = [c for c in chosen.value if c != name]


def export() -> None:
    on_screen = [o for o in options.value if o.name in chosen.value]
    base = api.load_scenario(scenario.value)
    taken: set[str] = set()
    bundles = {}
    for o in on_screen:
        key = "baseline" if not o.overrides else L.option_key(o.label, taken | {"baseline"})
        taken.add(key)
        bundles[key] = o.overrides
    lines = [line.strip() for line in targets.value.splitlines() if line.strip()]
    n_days, reps = setting.value[1], setting.value[2]
    text = L.export_spec(setting.value[0], base, bundles, n_days, L.warmup_for(base, n_days), reps, lines)
    problem = L.export_problem(text)
    exported.value = text if problem is None else f"cannot export: {problem}"


@solara.component
def Prose(text: str, classes: list[str] | None = None):
    """HTML text. Not solara.Markdown: it loads KaTeX from a CDN path that a page served from this
    machine does not have (six requests answering 404)."""
    solara.HTML(tag="div", unsafe_innerHTML=text, classes=classes or [], style="white-space: normal")


@solara.component
def Levers():
    names = bundled_names(maps=citymap.readable())
    solara.Select("Scenario", values=names, value=scenario.value, on_value=set_scenario)
    solara.SliderInt(f"Households per grid: {households_per_grid.value}", value=households_per_grid,
                     min=150, max=900, step=25)
    solara.Text("Grid leaders per station")
    solara.ToggleButtonsSingle(value=grid_leaders, values=L.GRID_LEADER_CHOICES, classes=["lever-grid-leaders"])
    solara.Text("Cover rule: who steps in for a busy grid leader")
    solara.ToggleButtonsSingle(value=cover, values=["own", "after", "station"], classes=["lever-cover"])
    solara.Select("Police rota", values=list(L.POLICE_ROTAS), value=police_rota)
    solara.Select("Out-of-hours duty at each station", values=list(L.DUTY), value=duty)
    solara.SliderInt(f"Volunteers: {volunteers.value:g}", value=volunteers, min=0, max=8000, step=250)
    solara.SliderFloat(f"Volunteer hours/week: {volunteer_hours.value:g}", value=volunteer_hours, min=0.5, max=8.0, step=0.5)
    solara.SliderInt(f"Building-leader subsidy: {subsidy.value:g} yuan", value=subsidy, min=0, max=20000, step=1000)
    solara.SliderInt(f"Stations: {stations.value:g}", value=stations, min=20, max=200, step=5)
    solara.SliderInt(f"Days: {days.value:g}", value=days, min=7, max=182, step=7)
    solara.SliderInt(f"Replicates: {replicates.value:g}", value=replicates, min=1, max=10)


@solara.component
def KpiCards(o: L.Outcome, baseline: L.Outcome | None):
    colours = {"better": "#2ca02c", "worse": "#d62728", "same": "#777777", "changed": "#1f77b4", "": "#333333"}
    for c in L.cards(o, baseline):
        with solara.Div(classes=["kpi-card"], style={"padding": "2px 6px", "margin": "2px 0", "font-size": "13px",
                                                     "line-height": "1.25",
                                                     "border-left": f"4px solid {colours[c.verdict]}"}):
            Prose(f"<b>{escape(c.title)}</b>: {escape(c.value)}"
                  + (f"<br/>vs baseline {escape(c.diff)} <i>{c.verdict}</i>" if c.diff else ""))


@solara.component
def Option(o: L.Outcome, baseline: L.Outcome | None, scale: float):
    title = "Baseline" if not o.overrides else o.label
    with solara.Card(classes=["option-card"], style={"min-width": "330px", "max-width": "420px"}):
        Prose(f"<div class='option-title' style='font-size:18px;font-weight:500;white-space:normal;"
              f"overflow-wrap:anywhere'>{escape(title)}</div><div style='color:#666'>{len(o.runs)} replicates</div>")
        KpiCards(o, baseline)
        if L.free_inputs(setting.value[0]):
            if o.name in rests_on.value:
                Prose(f"<i>{escape(rests_on.value[o.name])}</i>", classes=["rests-on"])
            else:
                solara.Button("Check across the free inputs", on_click=lambda: check(o), disabled=check.pending,
                              text=True, small=True, classes=["check-button"])
        solara.Image(L.map_png(o, scale), classes=["city-map"])
        if o.overrides:
            solara.Button("Remove", on_click=lambda: remove(o.name), text=True, small=True)


@solara.component
def Page():
    solara.Title("gridsim: what if")
    with solara.Columns([2, 5]):
        with solara.Column(classes=["levers"]):
            Levers()
            Controls()
        with solara.Column(classes=["options"]):
            Options()


@solara.component
def Controls():
    over = current().overrides(api.load_scenario(scenario.value))
    Prose(f"This option: <b>{escape(L.describe(over))}</b>")
    why = L.problem(scenario.value, over, days.value, replicates.value)
    if why:
        Prose(f"<b>This option cannot run:</b> {escape(why)}", classes=["option-problem"])
    solara.Button("Run this option", on_click=lambda: run(scenario.value, over, days.value, replicates.value),
                  disabled=run.pending or bool(why), color="primary", classes=["run-button"])
    if run.pending:
        solara.ProgressLinear(run.progress or True, classes=["run-progress"])
        solara.Text(f"running: {run.progress or 0:.0f}% of the runs done"
                    + (f"; {compiling.value}" if compiling.value else ""), classes=["run-status"])
    if error.value:
        with solara.Div(classes=["run-error"], style={"color": "#d62728"}):
            Prose(f"<b>Error:</b> {escape(error.value)}")


@solara.component
def Options():
    Prose("<h2>Options side by side with the baseline</h2>"
          "<p>Each card: the option's mean over its replicates and, against the baseline, the paired "
          "difference (replicate by replicate, common random numbers) with its 95% interval, shares in "
          "percentage points (pp); green better, red worse, grey not distinguishable from zero. Maps: each "
          "grid's area coloured by its p90 wait before first contact, one colour scale for all.</p>")
    if not options.value:
        Prose("<i>Move the levers and press \"Run this option\": the baseline runs first, then the option.</i>")
        return
    base = options.value[0]
    scale = L.map_scale(options.value)
    free = L.free_inputs(setting.value[0])
    if free:
        Prose("<b>What these answers rest on.</b> The scenario leaves " + f"{len(free)} input(s) free (no data "
              "constrains them): " + "; ".join(escape(f"{i.name} {i.low:.3g}-{i.high:.3g}") for i in free)
              + f". The cards hold at the values written; \"Check across the free inputs\" runs an option at "
              f"{L.ASSUMPTION_POINTS} points of them and says where it meets the targets below.",
              classes=["rests-on-note"])
    with solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}):
        for o in options.value:
            Option(o, base, scale)
    base_scenario = api.load_scenario(setting.value[0])
    Prose("<h3>Backlog over time</h3>")
    solara.HTML(tag="div", unsafe_innerHTML=L.backlog_svg(options.value, L.resident_types(base_scenario)),
                classes=["backlog"])
    with solara.Card(title="Export the options as an experiment", classes=["export-card"]):
        Prose("The options ticked below, with the baseline, as an experiment file: <code>gridsim sweep FILE</code> "
              "runs them all, <code>gridsim optimise FILE</code> picks the cheapest that meets the targets.")
        for o in options.value:
            solara.Checkbox(label=o.label, value=o.name in chosen.value,
                            on_value=lambda on, n=o.name: chosen.set([c for c in chosen.value if c != n]
                                                                     + ([n] if on else [])))
        Prose("Targets: one KPI <code>&gt;=</code> or <code>&lt;=</code> a bound per line; shares are fractions "
              "(0.9 = 90%)", classes=["targets-label"])
        solara.InputTextArea("", value=targets, rows=3)
        solara.Button("Export", on_click=export, classes=["export-button"])
        if exported.value:
            solara.HTML(tag="pre", unsafe_innerHTML=escape(exported.value), classes=["exported"])
            solara.FileDownload(exported.value.encode(), filename="dashboard_options.toml",
                                label="Download dashboard_options.toml")
