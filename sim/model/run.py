"""Run one scenario once and collect everything a user reads from it."""

from __future__ import annotations

import html
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterator

import pandas as pd

from ..scenario import Scenario
from . import metrics, spill
from .kpis import HEADLINE, KPI, lookup
from .model import GridModel
from .stability import describe

# The model's minute 0 is a Monday 00:00 (shifts.py); scenarios carry no calendar date, so a
# run's timestamps start from this Monday unless `simulate` is given another.
START = pd.Timestamp("2020-01-06")


@dataclass(repr=False)
class RunResult:
    """One run: `summary` (a nested dict) and `tables`, exactly what `gridsim run --out` writes
    (`requests` there holds every request, the grid leaders' routine home visits included).

    For reading in a notebook: `kpis` (one row per KPI, from the KPI table),
    `requests` (residents' requests only), `home_visits` (the routine home
    visits), `visits` (one row per handler visit), each with timestamps from
    `start`; `timeseries`, `grids` and `census` as written; `save(folder)`.
    A city drawn on a map also has `layers`: GeoDataFrames `grids`, `stations`
    and `walk_areas` in the scenario's CRS (`outputs.gis_layers`)."""
    summary: dict
    tables: dict[str, pd.DataFrame]
    home_visit: str | None = None      # the request type that is the routine home visit
    start: pd.Timestamp = START
    layers: dict = field(default_factory=dict)

    def kpi(self, name: str) -> float | None:
        """The value of a KPI by its dotted name (`by_type.care.sla_met_share`); None if absent."""
        value: object = self.summary
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def kpis(self) -> pd.DataFrame:
        """Every KPI the summary holds, overall, by role and by request type: name, label, unit
        (of `value`), value, and `shown` (the value as reports print it)."""
        rows = []
        for name in _paths(self.summary):
            value, info = self.kpi(name), lookup(name)
            if value is not None and info is not None:
                rows.append({"name": name, "label": info.label, "unit": info.unit, "value": float(value),
                             "shown": info.show(value)})
        return pd.DataFrame(rows, columns=["name", "label", "unit", "value", "shown"])

    @property
    def requests(self) -> pd.DataFrame:
        """Residents' requests, one row each, times as timestamps."""
        table = self.tables["requests"]
        return timestamped(table[table["origin"] == "resident"].reset_index(drop=True), self.start)

    @property
    def home_visits(self) -> pd.DataFrame:
        """The grid leaders' routine home visits (入户走访), one row each, times as timestamps."""
        table = self.tables["requests"]
        return timestamped(table[table["type"] == self.home_visit].reset_index(drop=True), self.start)

    @property
    def visits(self) -> pd.DataFrame:
        """One row per handler visit (a stage of a request: who, when), times as timestamps."""
        return timestamped(self.tables["visits"], self.start)

    @property
    def timeseries(self) -> pd.DataFrame:
        return self.tables["timeseries"]

    @property
    def grids(self) -> pd.DataFrame:
        return self.tables["grids"]

    @property
    def census(self) -> pd.DataFrame:
        return self.tables["census"]

    def save(self, folder: str | Path) -> list[Path]:
        """Write the files `gridsim run --out FOLDER` writes (the folder is replaced as a whole)."""
        from .outputs import write_run
        return write_run(self, Path(folder))

    def __repr__(self) -> str:
        s = self.summary
        return (f"<RunResult {s['scenario']}, seed {s['seed']}, {s['days']:g} days: "
                f"{s['requests']['created']:,} residents' requests; .kpis .requests .home_visits .visits "
                ".timeseries .grids .census .save(folder)>")

    def _repr_html_(self) -> str:
        s = self.summary
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(k.title)}</td>"
                       f"<td style='text-align:right'>{html.escape(k.show(self.kpi(k.name)))}</td></tr>"
                       for k in headline())
        return (f"<div><b>gridsim run</b>: {html.escape(s['scenario'])}, seed {s['seed']}, {s['days']:g} days "
                f"(the first {s['warmup_days']:g} not counted)<table>{rows}</table>"
                "<small>All KPIs: <code>.kpis</code>; tables: <code>.requests</code>, <code>.home_visits</code>, "
                "<code>.visits</code>, <code>.timeseries</code>, <code>.grids</code>, <code>.census</code>; "
                "<code>.save(folder)</code> writes them.</small></div>")


def headline() -> list[KPI]:
    """The KPI table's headline KPIs, in its order."""
    return [k for k in map(lookup, HEADLINE) if k is not None]


def _paths(summary: dict, prefix: str = "") -> list[str]:
    """The dotted path of every number in the nested summary, in its order."""
    out = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        out += _paths(value, name + ".") if isinstance(value, dict) else [name]
    return out


def timestamped(table: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """`table` with each `<when>_minute` column (minutes from the start) as a timestamp `<when>`."""
    out = table.copy()
    for column in [c for c in table.columns if c.endswith("_minute")]:
        out.insert(list(out.columns).index(column), column.removesuffix("_minute"),
                   start + pd.to_timedelta(table[column].to_numpy(), unit="min"))
        del out[column]
    return out


def _tables(model: GridModel, release: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables of visits and requests, what every output is made from. `release`: the model's
    records are let go as they are made (`metrics.tables`)."""
    if model.days <= model.spec.run.warmup_days:
        raise ValueError(f"days={model.days:g}: must be more than the scenario's warmup_days "
                         f"({model.spec.run.warmup_days:g}) for a run to have outputs")
    return metrics.tables(model, release)


def results(model: GridModel, start: pd.Timestamp = START, *, release: bool = False) -> RunResult:
    """Every output of a model that has reached its horizon, derived from its records. `release`:
    the model is not used after (`simulate`), so its records are let go once their tables are made
    (`GridModel.release_records`)."""
    visits, requests = _tables(model, release)
    # each step's pages of the tables go back to their file after it (`spill`): the outputs' peak is a step's
    timed = metrics.measured_clocks(model, requests)                # shared by the summary and the grid table
    spill.give_back()
    busy = metrics.busy_by_unit(model, visits, model.spec.run.warmup_days * 1440)
    spill.give_back()
    series = metrics.timeseries(model, requests, visits)
    spill.give_back()
    tables = {"requests": requests, "visits": visits, "timeseries": series,
              "grids": metrics.grid_table(model, requests, visits, timed, busy),
              "census": model.datacollector.get_model_vars_dataframe().drop(columns=list(HEADLINE))}
    spill.give_back(heap=spill.pays(len(requests)))
    home = next((name for name, t in model.spec.requests.items() if t.home_visit), None)
    from .outputs import gis_layers
    return RunResult(metrics.summary(model, requests, visits, timed, busy), tables, home, pd.Timestamp(start),
                     gis_layers(model, tables))


def summarised(scenario: Scenario, seed: int = 0, only: Collection[str] | None = None) -> dict:
    """`simulate(scenario, seed).summary` alone, the same numbers without the other tables; `only`:
    the KPIs wanted, the summary's figures under none of them left out (`metrics.tally`). What a
    calibration's run keeps: its targets' KPIs. Without a daily census or the stability check where
    they do not read them (Mesa's DataCollector took 20 ms of a calibration's 0.6 s run, the check
    17 ms): the journey is the same."""
    model = GridModel(scenario, rng=seed, sample_minutes=1440.0 if metrics.reads_census(only) else math.inf,
                      check_load=metrics.reads_load(only))
    model.run()
    visits, requests = _tables(model, release=True)
    return metrics.summary(model, requests, visits, only=only)


def simulate(scenario: Scenario, seed: int = 0, days: float | None = None,
             warn: Callable[[str], None] | None = None, start: pd.Timestamp | str = START) -> RunResult:
    """Build the model, run it to the horizon and derive every output from its records.

    `warn` hears, before the run, one line naming the units whose planned work is at or
    above their time on duty (their queues will grow for as long as the run lasts).
    `start`: the date and time of the model's minute 0, a Monday 00:00 as the shifts assume."""
    start = pd.Timestamp(start)
    if start.weekday() != 0 or start != start.normalize():
        raise ValueError(f"start={start}: must be a Monday 00:00 (the model's week starts then)")
    model = GridModel(scenario, rng=seed, days=days)
    if warn is not None and model.overloaded:
        warn(describe(model.overloaded))
    model.run()
    return results(model, start, release=True)


COMPILING = ("compiling the simulation for this machine (its first run, and the first after its code "
             "changes: about a minute; later runs load it from numba's cache)")


@contextmanager
def compile_notice(say: Callable[[str], None]) -> Iterator[None]:
    """While inside, `say(COMPILING)` once, when numba first starts to compile in this process: a
    machine's first run is otherwise silent for most of a minute (docs/PERFORMANCE.md)."""
    from numba.core import event

    class Notice(event.Listener):
        said = False

        def on_start(self, ev: event.Event) -> None:
            if not self.said:
                self.said = True
                say(COMPILING)

        def on_end(self, ev: event.Event) -> None:
            pass

    notice = Notice()
    event.register("numba:compile", notice)
    try:
        yield
    finally:
        event.unregister("numba:compile", notice)


def compile_kernels() -> None:
    """The journey's and the metrics' compiled kernels made ready in this process: compiled on a
    machine's first run, else loaded from numba's cache (a 11-day M/M/c run, about 0.3 s). A process
    pool calls it before it starts its workers, so they load the kernels from the cache rather than
    each compile them at once, silently, where no command can say so."""
    from numba.core import config
    if not getattr(config, "DISABLE_JIT"):      # set from NUMBA_DISABLE_JIT at import, unseen by mypy
        model = GridModel("mmc", rng=0, days=11)
        model.run()
        results(model)

