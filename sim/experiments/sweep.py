"""Run an experiment's runs on a `concurrent.futures`-style executor and store each one.

One code path serves every executor: a local process pool (default) or a Dask
distributed client's `get_executor()` (a scheduler address, or a LocalCluster).
Workers only compute; the parent process writes each finished run to the store
as it arrives, so what is stored does not depend on who ran it or in what order.

At most a few runs more than there are workers are in flight at a time. If a
local worker process dies (killed, out of memory), the pool breaks and every
run in flight fails with it; those runs are then retried one at a time, so the
run that kills its worker again fails alone and the others finish. Workers
watch the process that started them and exit when it is gone, so killing a
sweep (even with SIGKILL) leaves no workers behind.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import ctypes
import gc
import math
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.store import Problem, Store, flatten, run_id
from ..scenario import from_data, to_data
from .spec import Spec, run_seed


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
    moved: Path | None = None                           # where --fresh moved old results
    quarantined: list[Problem] = field(default_factory=list)   # stored files not counted, run again


# ---------------------------------------------------------------- the worker side
_worker = {"pool": False, "runs": 0}       # in a process pool's worker (`_worker_init`), and its runs so far


def execute(task: dict) -> dict:
    """Run one (point, replicate): returns {"ok": True, "row": ...} or {"ok": False, "error": ...}.
    With `keep` (`Spec.keep`), the row holds only those KPIs and the run makes no extra tables."""
    from ..model import metrics
    from ..model.run import simulate, summarised
    if _worker["pool"] and _worker["runs"] == 1:
        # what a pool worker's first run loaded lazily (numba's kernels, pandas' parts, the cities it
        # keeps) lives as long as the worker too: frozen with the imports (`_worker_init`), the full
        # collection each model starts with walks the latest run's objects alone (14.6 -> 2.9 ms a
        # run of Meihekou). Here, not after the first run, whose objects are gone by now.
        gc.collect()
        gc.freeze()
    _worker["runs"] += 1
    t0 = time.perf_counter()
    try:
        scenario = from_data(task["scenario"], f"point {task['point']}")
        keep = task.get("keep")
        t1 = time.perf_counter()
        extras = {}
        if keep:                  # (a KPI this run has no value of, such as a type it never drew: NaN)
            kpis = flatten(summarised(scenario, seed=task["seed"], only=keep))
            sim_seconds = time.perf_counter() - t1
            kpis = {k: kpis.get(k, math.nan) for k in keep}
        else:
            result = simulate(scenario, seed=task["seed"])
            sim_seconds = time.perf_counter() - t1
            kpis = flatten(result.summary)
            t_warm = scenario.run.warmup_days * 1440
            extras = {"series": metrics.daily_series(result.timeseries, result.census),
                      "quantiles": metrics.resolution_quantiles(result.tables["requests"], t_warm,
                                                                scenario.run.days * 1440),
                      "grids": result.grids}
        row = {"point": task["point"], "replicate": task["replicate"]}
        for key, value in task["factors"].items():
            row[key] = value if isinstance(value, (int, float, str, bool)) else repr(value)
        clash = sorted(set(kpis) & set(row))
        if clash:
            raise ValueError(f"factor column {clash[0]!r} has the name of a summary KPI")
        row.update(kpis)
        return {"ok": True, "row": row, "extras": extras,
                "seconds": time.perf_counter() - t0, "sim_seconds": sim_seconds}
    except Exception as err:  # noqa: BLE001 - a failed run is recorded, not fatal
        return {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - t0}


STATUS_LOST = 255        # multiprocessing/popen_forkserver.py: a worker whose exit status could not be read


def died(executor, err: BaseException) -> str:
    """Why a run's worker process ended, as far as its exit status tells (a pool that cannot say: killed)."""
    statuses = executor.ended() if hasattr(executor, "ended") else []
    if statuses and all(s > 0 for s in statuses):
        how = (f"exited with status {statuses[0]}" if statuses[0] != STATUS_LOST else
               "exited, its status lost (Python's forkserver reports 255 for a status it could not read)")
        return (f"its worker process {how}: its own error, printed above; a script must call gridsim under "
                "`if __name__ == \"__main__\":`, as Python's process pools import the script in every worker")
    signal_number = next((-s for s in statuses if s < 0), None)
    how = f"killed by signal {signal_number}" if signal_number else "killed"
    return f"its worker process died ({how}, or out of memory): {err}"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def watch_parent(main_pid: int, parent_pid: int, every: float = 0.5) -> None:
    """Exit this process as soon as the one that started it is gone (whatever killed it): a sweep's
    workers, the dashboard's server."""
    while True:
        time.sleep(every)
        if os.getppid() != parent_pid or _gone(main_pid):
            os._exit(1)


# glibc's mallopt parameters, and the values a worker runs with (`keep_freed_memory`)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 512 << 20


def keep_freed_memory() -> bool:
    """Keep what a run frees for the next run, not hand it back to the system (glibc only; False
    elsewhere, or when the environment sets glibc's own MALLOC_*_THRESHOLD_: the user's, or Dask's,
    whose LocalCluster leaves MALLOC_TRIM_THRESHOLD_ in the environment of the process that starts it).

    A worker runs the same size of model again and again. glibc's defaults give each run's arrays
    fresh pages: an array over its (moving) mmap threshold is mapped and unmapped, and a heap whose
    free top passes twice that threshold is trimmed, so the next run faults the same pages in
    again, which is dear on this kind of machine (system time). Arrays up to 32 MB from the heap and
    the heap trimmed only past 512 MB free: a calibration's run 665-671 ms against 701-722 ms at one
    hour (`benchmarks/run_phases.py --runs 16`, system time 0.4-0.5 s against 1.0-1.2 s of 14.5 s),
    as long either way at another (the system time still down by two thirds, the user time up as
    much); the process's peak 545-557 MB against 517-522 MB (docs/PERFORMANCE.md)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    # the mmap threshold first: setting either turns off glibc's moving thresholds, and the trim
    # threshold alone would leave every array over 128 kB mapped afresh (run_phases: 0.92 s a run)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _worker_init(main_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle
    keep_freed_memory()
    # what the worker has imported lives as long as it does: the full collection each model starts
    # with (`GridModel`) then walks only the runs' objects, not the libraries' (66 ms a run less)
    gc.freeze()
    _worker["pool"] = True
    threading.Thread(target=watch_parent, args=(main_pid, os.getppid()), daemon=True,
                     name="gridsim-watch-parent").start()


# ---------------------------------------------------------------- executors
PRELOAD = ("gridsim.experiments.sweep", "gridsim.model.run")    # imported once by the forkserver


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
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


class Executor:
    """A context manager around a concurrent.futures.Executor, whichever backend.

    `submit` passes through; `restart` replaces a local pool that a dead worker
    broke; `capacity` is how many runs to keep in flight.
    """

    def __init__(self, workers: int | None = None, dask: str | None = None, timeout: float = 10.0):
        self.workers = workers or os.cpu_count() or 1
        self.dask = dask
        self.timeout = timeout
        self.client = self.cluster = None
        self.pool: cf.Executor | None = None

    @property
    def label(self) -> str:
        if self.dask == "local":
            return f"Dask LocalCluster, {self.workers} workers"
        if self.dask:
            return f"Dask scheduler {self.dask}"
        return f"{self.workers} local processes"

    @property
    def capacity(self) -> int:
        if self.client is not None and self.dask != "local":
            try:
                return max(1, sum(self.client.nthreads().values())) + 1
            except Exception:  # noqa: BLE001 - a scheduler that cannot say: assume one worker's worth
                return 2
        return self.workers + 1

    def _local_pool(self) -> cf.Executor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init,
                                      initargs=(os.getpid(),), mp_context=_mp_context())

    def __enter__(self) -> "Executor":
        if self.dask in (None, "local"):        # this machine's workers: compiled once, here (compile_kernels)
            from ..model.run import compile_kernels
            compile_kernels()
        if self.dask is None:
            self.pool = self._local_pool()
            return self
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
                self.client = _connect(Client, self.dask, self.timeout)
        except (OSError, TimeoutError, ValueError) as err:
            self.close()
            raise ExecutorError(f"--dask {self.dask}: cannot connect ({err})") from None
        self.pool = self.client.get_executor(pure=False)
        return self

    def submit(self, fn, *args, **kwargs) -> cf.Future:
        return self.pool.submit(fn, *args, **kwargs)

    def ended(self) -> list[int]:
        """Exit statuses of the local pool's workers that have ended: why a broken pool broke."""
        processes = getattr(self.pool, "_processes", None) or {}
        return [p.exitcode for p in list(processes.values()) if p.exitcode is not None]

    def restart(self) -> None:
        """A local pool broken by a dead worker: replace it (the old one has already stopped its workers)."""
        if self.dask is None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._local_pool()

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


def _connect(client_cls, address: str, timeout: float):
    """A Dask client of the scheduler at `address`, or TimeoutError after `timeout` seconds.

    Client(timeout=...) bounds the TCP connect, but a listener that accepts and
    then says nothing (anything that is not a Dask scheduler) can hold the
    handshake forever; so the connection is made in a daemon thread and given
    up on at the deadline.
    """
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = client_cls(address, timeout=f"{timeout}s")
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            box["error"] = err

    thread = threading.Thread(target=connect, daemon=True, name="gridsim-dask-connect")
    thread.start()
    thread.join(timeout + 1)
    if thread.is_alive():
        raise TimeoutError(f"no Dask scheduler answered within {timeout:g} s: is it one?")
    if "error" in box:
        err = box["error"]
        if isinstance(err, (OSError, TimeoutError, ValueError)):
            raise err
        raise OSError(f"{type(err).__name__}: {err}")
    return box["client"]


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


def _failure(err: BaseException) -> dict:
    return {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": ""}


def sweep(spec: Spec, store: Store, executor, progress: bool = True, wanted: dict[int, int] | None = None,
          desc: str | None = None) -> Report:
    """Run every missing run of `spec` on `executor`, storing each as it finishes.

    The caller holds `store.lock()` and has opened the store for `spec`
    (`run_sweep` does both). With `until_ci`, rounds continue: after each round
    every point whose CI of the metric is still too wide gets more replicates
    (up to the maximum). Decisions use only stored values, so they are the same
    on any executor and on resume. `wanted` (point -> replicates) runs only those
    points, replicates 0 .. n-1 (what `optimise` asks for); a point's scenario is
    built when its first run is sent.
    """
    from tqdm.auto import tqdm
    t0 = time.perf_counter()
    points = spec.points()
    scen = _Scenarios(spec, points)
    wanted = dict(wanted) if wanted is not None else {i: spec.replicates for i in range(len(points))}
    report = Report(folder=str(store.folder))
    finished = store.finished()
    before = set(finished)
    bar = tqdm(total=0, unit="run", disable=not progress, dynamic_ncols=True, desc=desc)
    failed_now: set[str] = set()
    limit = getattr(executor, "capacity", None) or 1_000_000
    restart = getattr(executor, "restart", None)

    def record(rid: str, i: int, r: int, out: dict) -> None:
        if out["ok"]:
            report.sim_seconds += out["sim_seconds"]
            store.write_run(i, r, out["row"], out.get("extras", {}))
            finished.add(rid)
            report.done += 1
        else:
            store.write_failure(rid, {"run": rid, "error": out["error"], "traceback": out["traceback"]})
            failed_now.add(rid)
            report.errors[rid] = out["error"]
            report.failed += 1
        bar.set_postfix(done=report.done, skipped=report.skipped, failed=report.failed, refresh=False)
        bar.update(1)

    try:
        while True:
            todo = collections.deque()
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
            alone: collections.deque = collections.deque()   # in flight when a worker died: one at a time
            inflight: dict = {}
            while todo or alone or inflight:
                broke = False
                try:
                    if alone:
                        if not inflight:
                            task = alone[0]
                            inflight[executor.submit(execute, _task(spec, task, points, scen))] = (task, True)
                            alone.popleft()
                    else:
                        while todo and len(inflight) < limit:
                            task = todo[0]
                            inflight[executor.submit(execute, _task(spec, task, points, scen))] = (task, False)
                            todo.popleft()
                except cf.BrokenExecutor:
                    if restart is None:
                        raise
                    broke = True                      # broken before this run started: it is not suspect
                if inflight and not broke:
                    done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
                else:
                    done = set()
                for fut in done:
                    (rid, i, r), was_alone = inflight.pop(fut)
                    try:
                        out = fut.result()
                    except cf.BrokenExecutor as err:
                        broke = True
                        if was_alone or restart is None:     # it broke the pool on its own: its run fails
                            record(rid, i, r, {**_failure(err), "error": died(executor, err)})
                        else:
                            alone.append((rid, i, r))
                    except Exception as err:  # noqa: BLE001 - a failed run is recorded, not fatal
                        record(rid, i, r, _failure(err))
                    else:
                        record(rid, i, r, out)
                if broke and restart is not None:
                    cf.wait(inflight)                 # the rest of the broken pool's runs: done or failed
                    for fut, ((rid, i, r), was_alone) in list(inflight.items()):
                        if fut.exception() is None:
                            record(rid, i, r, fut.result())
                        elif was_alone:
                            record(rid, i, r, {**_failure(fut.exception()), "error": died(executor, fut.exception())})
                        else:
                            alone.append((rid, i, r))
                    inflight.clear()
                    restart()
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


class _Scenarios:
    """Each point's scenario as plain data, built on first use."""

    def __init__(self, spec: Spec, points: list):
        self.spec, self.points, self.built = spec, points, {}

    def __getitem__(self, i: int) -> dict:
        if i not in self.built:
            self.built[i] = to_data(self.spec.scenario_at(self.points[i]))
        return self.built[i]


def _task(spec: Spec, task: tuple, points: list, scen: _Scenarios) -> dict:
    _, i, r = task
    return {"point": i, "replicate": r, "seed": run_seed(spec.root_seed, r), "factors": points[i],
            "scenario": scen[i], "keep": list(spec.keep)}


def run_sweep(spec: Spec, folder: str | Path, executor, *, fresh: bool = False, discard: bool = False,
              progress: bool = False, arguments: dict | None = None, on_start=None,
              wanted: dict[int, int] | None = None) -> Report:
    """Sweep `spec` into `folder`: take the folder's lock, open it for this spec (`fresh`: move
    old results aside; `discard`: delete them), quarantine stored files that do not count, run
    what is missing (of `wanted` alone, point -> replicates, if given: `sweep`).

    `arguments` (e.g. the quick-look days and replicates) go into the manifest so
    that `gridsim report` can rebuild what it needs without guessing. `on_start()`
    is called once the folder is open, just before the first run.
    """
    store = Store(folder)
    with store.lock():
        moved = store.open(spec.identity(arguments or {}), fresh=fresh, discard=discard)
        quarantined = store.quarantine()
        if on_start is not None:
            on_start()
        report = sweep(spec, store, executor, progress=progress, wanted=wanted)
    report.moved, report.quarantined = moved, quarantined
    return report


def _more_replicates(spec: Spec, store: Store, wanted: dict) -> dict:
    uc = spec.until_ci
    table = store.runs()
    if uc.metric not in table.columns:
        from ..scenario import ScenarioError
        raise ScenarioError("until_ci.metric", f"no KPI column {uc.metric!r} in the results", spec.source)
    out = dict(wanted)
    for i, n in wanted.items():
        values = table.loc[(table["point"] == i) & (table["replicate"] < n), uc.metric].dropna()
        out[i] = max(n, _needed(values, uc.half_width, uc.max_replicates))
    return out
