"""The Python API: what a notebook needs, on the same code as the `gridsim` command.

    import gridsim
    s = gridsim.load_scenario("meihekou_2020", {"grids.households_per_grid": 500})
    result = gridsim.simulate(s, seed=1, days=28)
    result.summary["resolution_hours"]["p90"], result.requests, result.visits

    spec = gridsim.experiment({"name": "police", "scenario": "meihekou_2020", "days": 21,
                               "warmup_days": 7, "replicates": 3,
                               "factors": {"roles.police.per_station": [0, 1]}})
    runs = gridsim.sweep(spec, "results", workers=2)          # or dask="local" / "tcp://host:8786"
    gridsim.compare("results/police", {"roles.police.per_station": 1})

Every failure raises: a bad scenario or experiment raises `ScenarioError`
(one line naming the field), a sweep with failed runs raises `SweepError`
carrying the runs' errors, and reading results that hold no counted run
raises `StoreError`; nothing returns an empty table instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Iterable, Mapping

import pandas as pd

from .analysis import store as _store
from .analysis.compare import CompareError, kpis_for
from .analysis.compare import compare as _compare
from .analysis.objective import Judgement
from .analysis.store import StoreError, Stored
from .experiments import limits
from .experiments.limits import TooLarge
from .experiments.spec import MAX_SEED, Spec, load_spec
from .experiments.sweep import Executor, Report, run_sweep
from .model.run import RunResult, headline
from .model.run import simulate as _simulate
from .scenario import Scenario, ScenarioError, load, resolve_scenario, with_overrides
from .scenario.fields import argument

__all__ = ["load_scenario", "simulate", "experiment", "sweep", "load_results", "compare", "judge", "optimise",
           "report", "SweepError", "SweepResult", "OptimiseResult", "ScenarioError", "StoreError", "CompareError", "TooLarge", "Scenario", "RunResult", "Spec"]


class SweepError(RuntimeError):
    """Runs of a sweep failed; `errors` maps each failed run to its error, the message shows the first."""

    def __init__(self, folder: Path, errors: dict[str, str], total: int):
        first = sorted(errors.items())[0]
        super().__init__(f"{len(errors)} of {total} runs failed in {folder} (first: {first[0]}: {first[1]}; "
                         f"tracebacks in {folder}/_failed/)")
        self.folder, self.errors = folder, errors


def _overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> list:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [(key, value, f"overrides[{key!r}]") for key, value in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def _not_in_a_worker(what: str) -> None:
    """Python's process pools import the main script again in every worker; a script that calls
    gridsim without the `__main__` guard would start a sweep there. Say so, in the worker's error."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") != "__mp_main__":
        frame = frame.f_back
    if frame is not None:
        raise RuntimeError(f"gridsim.{what} was called in a worker process, which imports your script: "
                           'in a script, put the call under `if __name__ == "__main__":`')


def load_scenario(scenario: str | Path | Scenario = "meihekou_2020",
                  overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Scenario:
    """A scenario from a file or a bundled name, with overrides applied and validated together.

    `overrides` maps dotted paths to values (`{"roles.police.per_station": 0}`);
    a table value merges into the table there (`{"roles.police": {"per_station": 0}}`).
    `KEY=VALUE` strings, as on the command line, work too.
    """
    base = scenario if isinstance(scenario, Scenario) else load(resolve_scenario(scenario))
    items = _overrides(overrides)
    return with_overrides(base, items) if items else base


def simulate(scenario: str | Path | Scenario = "meihekou_2020", *, seed: int = 0, days: float | None = None,
             overrides: Mapping[str, Any] | Iterable[str] | None = None,
             max_requests: float | None = None, start: str | pd.Timestamp = "2020-01-06") -> RunResult:
    """Run one scenario once: a `RunResult` (`.kpis`, `.requests`, `.home_visits`, `.visits`,
    `.summary`, ..., `.save(folder)`), its times as timestamps from `start` (a Monday 00:00).
    Refuses (`limits.TooLarge`) a run that would not fit in memory. `seed` and `days` are checked
    like fields (`seed=None` or `days=True` is a `ScenarioError`): a run is reproducible from its
    summary's seed."""
    seed = argument(int, seed, "seed", ge=0, le=MAX_SEED)
    items = _overrides(overrides)
    if days is not None:
        items.append(("run.days", days, f"days={days!r}"))
    s = load_scenario(scenario, items)
    limits.check("simulate", limits.estimate([s], 1), max_requests, change="lower days or the population")
    return _simulate(s, seed=seed, start=start)


def experiment(spec: str | Path | Mapping | Spec, *, days: float | None = None,
               replicates: int | None = None) -> Spec:
    """An experiment from a file, a bundled name (`"E3"`) or a dict with the file's keys; validated,
    every point's scenario built. `days`/`replicates` make a quick look, as on the command line."""
    if isinstance(spec, Spec):
        if days is None and replicates is None:
            return spec
        return load_spec(spec.from_dict if spec.from_dict is not None else spec.source, days, replicates)
    return load_spec(spec, days=days, replicates=replicates)


@dataclass(repr=False)
class SweepResult:
    """A sweep's results: `folder` (the store), `report` (what the sweep did), `runs` (one row per
    counted run: point, replicate, seed, factors, every KPI); for reading, `kpis` (each option's
    mean and 95% CI of the experiment's KPIs), `compare()` and `save(folder)`."""
    folder: Path
    report: Report | None
    runs: pd.DataFrame

    @property
    def kpis(self) -> pd.DataFrame:
        """One row per option and KPI: option, name, label, unit, mean, ci_low, ci_high (95%), n."""
        from .analysis.compare import kpi_means
        stored = load_results(self.folder)
        labels = dict(enumerate(stored.manifest.get("point_labels") or []))
        return kpi_means(stored.runs, kpis_for(stored.manifest, stored.runs), labels)

    def compare(self, baseline: Mapping[str, Any] | None = None, kpis: Iterable[str] | None = None) -> pd.DataFrame:
        """`gridsim.compare` of these results."""
        return compare(self.folder, baseline, kpis)

    def save(self, folder: str | Path | None = None, *, baseline: Mapping[str, Any] | None = None,
             dpi: int = 150) -> Path:
        """Write what `gridsim report` writes (report.md and the figures) into `folder` (default: the
        results' own `_report/`); returns report.md's path."""
        return report(self.folder, folder, baseline=baseline, dpi=dpi)

    def _counts(self) -> str:
        points, reps = self.runs["point"].nunique(), self.runs.groupby("point")["replicate"].nunique()
        each = f"{reps.iloc[0]}" if reps.nunique() == 1 else f"{reps.min()}-{reps.max()}"
        return f"{points} option{'s' * (points != 1)} x {each} replicates ({len(self.runs)} runs) in {self.folder}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._counts()}; .kpis .runs .compare() .save(folder)>"

    def _table_html(self) -> str:
        kpis = {k.name: k for k in headline()}
        table = self.kpis
        table = table[table["name"].isin(list(kpis))]
        shown = [f"{kpis[n].show(m)} [{kpis[n].show(lo)}, {kpis[n].show(hi)}]" if count > 1 else kpis[n].show(m)
                 for n, m, lo, hi, count in table[["name", "mean", "ci_low", "ci_high", "n"]].itertuples(index=False)]
        wide = table.assign(shown=shown, title=[kpis[n].title for n in table["name"]])
        wide = wide.pivot(index="option", columns="title", values="shown")
        return wide[[k.title for k in kpis.values() if k.title in wide.columns]].to_html()

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(type(self).__name__)}</b>: {html.escape(self._counts())}; means with 95% "
                f"confidence intervals over replicates{self._table_html()}</div>")


@dataclass(repr=False)
class OptimiseResult(SweepResult):
    """`optimise`'s answer: `chosen` (a point index, None when no option meets the targets),
    `judgement` (`.answer()`, `.options`, `.checks`), `runners_up()`, and the runs, as a sweep's."""
    outcome: Any = None

    @property
    def chosen(self) -> int | None:
        return self.outcome.chosen

    @property
    def judgement(self) -> Judgement:
        return self.outcome.judgement

    def runners_up(self, k: int = 2) -> list[int]:
        return self.outcome.runners_up(k)

    def __repr__(self) -> str:
        return f"<OptimiseResult: {self.judgement.answer().replace('**', '')}>"

    def _repr_html_(self) -> str:
        answer = html.escape(self.judgement.answer()).replace("**", "")
        return f"<div><p>{answer}</p>{self._table_html()}</div>"


def report(results: str | Path, folder: str | Path | None = None, *, baseline: Mapping[str, Any] | None = None,
           dpi: int = 150) -> Path:
    """Write `gridsim report`'s files for a results folder into `folder` (default RESULTS/_report):
    report.md and the figures, PNG and SVG. Returns report.md's path."""
    from .analysis.figures import load_results as figure_results
    from .analysis.report import write_report
    from .experiments.report_inputs import report_inputs
    res = figure_results(results, dict(baseline) if baseline is not None else None)
    inputs = report_inputs(res)
    out = Path(results) / "_report" if folder is None else Path(folder)
    return write_report(res, out, inputs.map_input, inputs.problem, dpi=dpi)


def sweep(spec: str | Path | Mapping | Spec, results: str | Path = "results", *, workers: int | None = None,
          dask: str | None = None, executor: cf.Executor | None = None, fresh: bool = False,
          days: float | None = None, replicates: int | None = None, progress: bool = False,
          max_requests: float | None = None) -> SweepResult:
    """Run an experiment into `results/<name>/` (resuming what is stored) on local processes
    (`workers`), on Dask (`dask="local"` or a scheduler address) or on any concurrent.futures
    executor you pass. Raises `SweepError` if any run fails, with the runs' errors."""
    _not_in_a_worker("sweep")
    spec = experiment(spec, days=days, replicates=replicates)
    suffix = (f"-days{days:g}" if days else "") + (f"-reps{replicates}" if replicates else "")
    folder = Path(results) / f"{spec.name}{suffix}"
    n = workers or os.cpu_count() or 1
    reps = spec.until_ci.max_replicates if spec.until_ci else spec.replicates
    limits.check(spec.name, limits.estimate([spec.scenario_at(p) for p in spec.points()], reps,
                                            1 if dask or executor else n), max_requests)
    arguments = {"days": days, "replicates": replicates}
    if executor is not None:
        report = run_sweep(spec, folder, executor, fresh=fresh, progress=progress, arguments=arguments)
    else:
        with Executor(n, dask) as pool:
            report = run_sweep(spec, folder, pool, fresh=fresh, progress=progress, arguments=arguments)
    if report.failed:
        raise SweepError(folder, report.errors, report.done + report.skipped + report.failed)
    stored = load_results(folder)
    return SweepResult(folder, report, stored.runs)


def load_results(folder: str | Path) -> Stored:
    """A sweep's results folder through the store's checks: `.runs` (one row per counted run),
    `.manifest`, `.incomplete()` (failed runs, files not counted, runs lacking extras).
    Raises `StoreError` if it holds no counted run."""
    stored = _store.read(folder)
    if stored.runs.empty:
        lines = stored.incomplete()
        raise StoreError(f"{folder}: no finished runs" + (f" ({'; '.join(lines)})" if lines else ""))
    return stored


def compare(results: str | Path | Stored | SweepResult, baseline: Mapping[str, Any] | None = None,
            kpis: Iterable[str] | None = None) -> pd.DataFrame:
    """Paired differences against the baseline (default: the experiment's [baseline]) with 95% CIs,
    one row per point and KPI; the same numbers as `gridsim compare`."""
    if isinstance(results, SweepResult):
        results = results.folder
    stored = results if isinstance(results, Stored) else load_results(results)
    m = stored.manifest
    base = dict(baseline) if baseline is not None else dict((m.get("spec") or {}).get("baseline") or {})
    if not base and m.get("factors") and (m.get("arguments") or {}).get("command") == "optimise":
        first = stored.runs.loc[stored.runs["point"] == stored.runs["point"].min()].iloc[0]
        base = {f: (first[f].item() if hasattr(first[f], "item") else first[f]) for f in m["factors"]}
    if not base and m.get("factors"):
        raise CompareError("compare: give the baseline (--baseline FACTOR=VALUE; from Python, a dict "
                           "{factor path: value}): the experiment names no [baseline]")
    labels = dict(enumerate(m.get("point_labels") or []))
    return _compare(stored.runs, m.get("factors", []), base, list(kpis or kpis_for(m, stored.runs)), labels)


def judge(results: str | Path | Stored | SweepResult, objective: Mapping[str, Any] | None = None) -> Judgement:
    """Every option judged by the experiment's `[objective]` (or the `objective` given, a dict with the
    table's keys): which meet every constraint, in how many replicates, at what cost; `.answer()`
    is the report's opening paragraph, `.options` and `.checks` the tables. Raises `CompareError`
    when there is no objective to judge by."""
    from .analysis.objective import from_manifest, objective_from
    from .analysis.objective import judge as _judge
    if isinstance(results, SweepResult):
        results = results.folder
    stored = results if isinstance(results, Stored) else load_results(results)
    m = stored.manifest
    try:
        obj = objective_from(dict(objective), "objective") if objective is not None else from_manifest(m)
    except ScenarioError as err:
        raise CompareError(str(err)) from None
    if obj is None:
        raise CompareError(f"{stored.folder}: the experiment states no [objective] to judge by")
    try:
        return _judge(stored.runs, obj, dict(enumerate(m.get("point_labels") or [])))
    except ValueError as err:
        raise CompareError(str(err)) from None


def optimise(spec: str | Path | Mapping | Spec, results: str | Path = "results", *, workers: int | None = None,
             dask: str | None = None, executor: cf.Executor | None = None, fresh: bool = False,
             progress: bool = False, max_requests: float | None = None) -> OptimiseResult:
    """The cheapest point of the experiment's `[decisions]` that meets its `[objective]`, searched as
    `gridsim optimise` does (see `gridsim.experiments.optimise`), into `results/<name>-optimise/`
    (resuming what is stored). Returns an `OptimiseResult`: `.chosen` (a point index, None when no
    option meets the targets), `.judgement` (`.answer()`, `.options`, `.checks`), `.runners_up()`,
    and, as a sweep's, `.folder` (which `compare` and `load_results` read), `.runs`, `.kpis`, `.save()`. Raises `ScenarioError` for a bad experiment and
    `CompareError` when it cannot be optimised as written (no objective, too many candidates)."""
    from .experiments import optimise as opt
    _not_in_a_worker("optimise")
    spec = experiment(spec)
    try:
        space = opt.check_size(spec)
    except opt.OptimiseError as err:
        raise CompareError(str(err)) from None
    n = workers or os.cpu_count() or 1
    cap = max(opt.settings(spec).max_replicates, spec.replicates)
    limits.check(spec.name, limits.estimate([spec.base], space * spec.replicates + 3 * cap,
                                            1 if dask or executor else n), max_requests)
    folder = Path(results) / f"{spec.name}-optimise"
    try:
        if executor is not None:
            outcome = opt.run(spec, folder, executor, progress=progress, fresh=fresh)
        else:
            with Executor(n, dask) as pool:
                outcome = opt.run(spec, folder, pool, progress=progress, fresh=fresh)
    except opt.OptimiseError as err:
        raise CompareError(str(err)) from None
    return OptimiseResult(folder, None, load_results(folder).runs, outcome)
