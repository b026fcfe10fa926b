"""Run an experiment's runs on a `concurrent.futures`-style executor and store each one.

One code path serves every executor: a local process pool (default) or a Dask
distributed client's `get_executor()` (a scheduler address, or a LocalCluster).
Workers only compute; the parent process writes each finished run to the store
as it arrives, so what is stored does not depend on who ran it or in what order.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import signal
import time
import traceback
from dataclasses import dataclass, field

from ..scenario import from_data, to_data
from .spec import Spec, run_seed
from .store import Store, flatten, run_id


class ExecutorError(Exception):
    """The executor could not be started (e.g. Dask missing or the scheduler unreachable)."""


class Interrupted(Exception):
    """Ctrl-C: finished runs are kept; the report says how many."""

    def __init__(self, report: "Report"):
        super().__init__("interrupted")
        self.report = report


@dataclass
class Report:
    folder: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: dict = field(default_factory=dict)
    replicates: dict = field(default_factory=dict)     # point -> replicates wanted (until_ci)
    seconds: float = 0.0
    sim_seconds: float = 0.0                            # time inside simulate(), summed over runs done


# ---------------------------------------------------------------- the worker side
def execute(task: dict) -> dict:
    """Run one (point, replicate): returns {"ok": True, "row": ...} or {"ok": False, "error": ...}."""
    from ..model import metrics
    from ..model.run import simulate
    t0 = time.perf_counter()
    try:
        scenario = from_data(task["scenario"], f"point {task['point']}")
        t1 = time.perf_counter()
        result = simulate(scenario, seed=task["seed"])
        sim_seconds = time.perf_counter() - t1
        row = {"point": task["point"], "replicate": task["replicate"]}
        for key, value in task["factors"].items():
            row[key] = value if isinstance(value, (int, float, str, bool)) else repr(value)
        kpis = flatten(result.summary)
        clash = sorted(set(kpis) & set(row))
        if clash:
            raise ValueError(f"factor column {clash[0]!r} has the name of a summary KPI")
        row.update(kpis)
        t_warm = scenario.run.warmup_days * 1440
        extras = {"series": metrics.daily_series(result.timeseries),
                  "quantiles": metrics.resolution_quantiles(result.requests, t_warm, scenario.run.days * 1440),
                  "grids": result.grids}
        return {"ok": True, "row": row, "extras": extras,
                "seconds": time.perf_counter() - t0, "sim_seconds": sim_seconds}
    except Exception as err:  # noqa: BLE001 - a failed run is recorded, not fatal
        return {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - t0}


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle


# ---------------------------------------------------------------- executors
def _mp_context():
    """Fork worker processes from a server that has already imported the model.

    Importing mesa forces the global start method to "spawn" (mesa.batchrunner
    calls set_start_method("spawn", force=True)), so every worker would re-import
    numpy, pandas, scipy and mesa: about a second each. A forkserver with the
    model preloaded starts workers in milliseconds, without fork's thread hazards.
    """
    import multiprocessing as mp
    if "forkserver" not in mp.get_all_start_methods():
        return None                                   # Windows: the default (spawn)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["gridsim.experiments.sweep", "gridsim.model.run"])
    return ctx


class Executor:
    """A context manager around a concurrent.futures.Executor, whichever backend."""

    def __init__(self, workers: int | None = None, dask: str | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.dask = dask
        self.client = self.cluster = None
        self.pool: cf.Executor | None = None

    @property
    def label(self) -> str:
        if self.dask == "local":
            return f"Dask LocalCluster, {self.workers} workers"
        if self.dask:
            return f"Dask scheduler {self.dask}"
        return f"{self.workers} local processes"

    def __enter__(self) -> cf.Executor:
        if self.dask is None:
            self.pool = cf.ProcessPoolExecutor(max_workers=self.workers, initializer=_ignore_sigint,
                                               mp_context=_mp_context())
            return self.pool
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--dask needs Dask: pip install 'gridsim-cities[dask]'") from None
        try:
            if self.dask == "local":
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
            else:
                self.client = Client(self.dask, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            self.close()
            raise ExecutorError(f"--dask {self.dask}: cannot connect ({err})") from None
        self.pool = self.client.get_executor(pure=False)
        return self.pool

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None and self.dask is None:
            if cancel:
                for proc in list(getattr(self.pool, "_processes", {}).values()):
                    proc.terminate()            # runs in flight are lost; finished ones are stored
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.pool = self.client = self.cluster = None

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


# ---------------------------------------------------------------- the sweep
def _needed(values, target: float, cap: int) -> int:
    """Replicates needed so the 95% t half-width falls below `target` (at least one more)."""
    from ..analysis.compare import mean_ci
    n = len(values)
    _, hw = mean_ci(values)
    if n >= cap or (not math.isnan(hw) and hw <= target):
        return n
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    from scipy.stats import t
    guess = math.ceil((t.ppf(0.975, max(n - 1, 1)) * sd / target) ** 2) if sd == sd and sd > 0 else n + 1
    return int(min(cap, max(n + 1, guess)))


def sweep(spec: Spec, store: Store, executor: cf.Executor, progress: bool = True) -> Report:
    """Run every missing run of `spec` on `executor`, storing each as it finishes.

    With `until_ci`, rounds continue: after each round every point whose CI of the
    metric is still too wide gets more replicates (up to the maximum). Decisions
    use only stored values, so they are the same on any executor and on resume.
    """
    from tqdm.auto import tqdm
    t0 = time.perf_counter()
    points = spec.points()
    scen = [to_data(spec.scenario_at(p)) for p in points]
    wanted = {i: spec.replicates for i in range(len(points))}
    report = Report(folder=str(store.folder))
    finished = store.finished()
    before = set(finished)
    bar = tqdm(total=0, unit="run", disable=not progress, dynamic_ncols=True)
    failed_now: set[str] = set()
    try:
        while True:
            todo = []
            report.skipped = 0
            for i, n in wanted.items():
                for r in range(n):
                    rid = run_id(i, r)
                    if rid in before:
                        report.skipped += 1          # finished by an earlier, interrupted sweep
                    elif rid not in finished and rid not in failed_now:
                        todo.append((rid, i, r))
            bar.total = report.skipped + report.done + report.failed + len(todo)
            bar.n = report.skipped + report.done + report.failed
            bar.set_postfix(done=report.done, skipped=report.skipped, failed=report.failed)
            futures = {}
            for rid, i, r in todo:
                task = {"point": i, "replicate": r, "seed": run_seed(spec.root_seed, r),
                        "factors": points[i], "scenario": scen[i]}
                futures[executor.submit(execute, task)] = rid
            for fut in cf.as_completed(futures):
                rid = futures[fut]
                try:
                    out = fut.result()
                except Exception as err:  # noqa: BLE001 - a dead worker fails this run only
                    out = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": ""}
                if out["ok"]:
                    report.sim_seconds += out["sim_seconds"]
                    store.write_run(rid, out["row"], out.get("extras", {}))
                    finished.add(rid)
                    report.done += 1
                else:
                    store.write_failure(rid, {"run": rid, "error": out["error"], "traceback": out["traceback"]})
                    failed_now.add(rid)
                    report.errors[rid] = out["error"]
                    report.failed += 1
                bar.set_postfix(done=report.done, skipped=report.skipped, failed=report.failed, refresh=False)
                bar.update(1)
            if spec.until_ci is None or failed_now:
                break
            more = _more_replicates(spec, store, wanted)
            if more == wanted:
                break
            wanted = more
    except KeyboardInterrupt:
        bar.close()
        report.seconds = time.perf_counter() - t0
        raise Interrupted(report) from None
    bar.close()
    report.total = report.done + report.skipped + report.failed
    report.replicates = wanted
    report.seconds = time.perf_counter() - t0
    return report


def _more_replicates(spec: Spec, store: Store, wanted: dict) -> dict:
    uc = spec.until_ci
    table = store.table()
    if uc.metric not in table.columns:
        from ..scenario import ScenarioError
        raise ScenarioError("until_ci.metric", f"no KPI column {uc.metric!r} in the results", spec.source)
    out = dict(wanted)
    for i, n in wanted.items():
        values = table.loc[(table["point"] == i) & (table["replicate"] < n), uc.metric].dropna()
        out[i] = max(n, _needed(values, uc.half_width, uc.max_replicates))
    return out
