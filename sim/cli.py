"""The `gridsim` command: argument parsing and printing, nothing else.

Every user error ends the same way: one line on stderr starting `error:`,
naming the file or argument and the field (as the user typed it), and exit
status 2. Numbers on the command line are read by one factory, `number`, with
their bounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .scenario import ScenarioError

DEFAULT_SCENARIO = "meihekou_2020"
MAX_DAYS = 36_500.0          # 100 simulated years
MAX_SEED = 2**63 - 1
MAX_WORKERS = 1024


class UserError(Exception):
    """Bad input from the user: printed as one `error:` line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we print one line
        raise UserError(f"{self.prog}: {message}")


def number(kind: type = float, *, gt: float | None = None, ge: float | None = None, le: float | None = None,
           what: str = ""):
    """An argparse `type`: a finite int or float within the bounds; errors quote what was typed."""
    noun = what or ("a whole number" if kind is int else "a number")

    def parse(text: str):
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None
        if isinstance(x, float) and not math.isfinite(x):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if ge is not None and le is not None and not ge <= x <= le:
            raise argparse.ArgumentTypeError(f"must be between {ge:g} and {le:g}, got {text!r}")
        if gt is not None and not x > gt:
            raise argparse.ArgumentTypeError(f"must be > {gt:g}, got {text!r}")
        if ge is not None and not x >= ge:
            raise argparse.ArgumentTypeError(f"must be >= {ge:g}, got {text!r}")
        if le is not None and not x <= le:
            raise argparse.ArgumentTypeError(f"must be <= {le:g}, got {text!r}")
        return x

    parse.__name__ = kind.__name__
    return parse


DAYS = number(float, gt=0, le=MAX_DAYS, what="a number of days")
SEED = number(int, ge=0, le=MAX_SEED)
WORKERS = number(int, ge=1, le=MAX_WORKERS)
REPLICATES = number(int, ge=1, le=10_000)
MAX_REQUESTS = number(float, gt=0, what="a number of requests")


def out_folder(text: str) -> Path:
    """`--out DIR`: a folder name (never empty: that would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got ''")
    return Path(text)


def check_out(path: Path) -> Path:
    """Refuse, before any work, an --out folder that could not be written or holds others' files."""
    from .atomic import WriteError, probe
    from .model.outputs import owned

    resolved = path.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise UserError(f"--out {path}: is the current folder or one above it; give a folder of its own")
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a folder")
    if path.is_dir() and not owned(path):
        raise UserError(f"--out {path}: exists and holds files gridsim did not write; give a new folder "
                        "or one an earlier `gridsim run --out` wrote")
    try:
        probe(resolved.parent)
    except WriteError as err:
        raise UserError(f"--out {path}: {err}") from None
    return path


def out_file(path: Path, option: str) -> Path:
    """A file an option names, checked before any work: not a folder, and its folder writable."""
    from .atomic import WriteError, probe
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; name a file")
    try:
        probe(path.parent)
    except WriteError as err:
        raise UserError(f"{option} {path}: {err}") from None
    return path


def results_dir(path: Path, option: str = "--results") -> Path:
    from .atomic import WriteError, probe
    try:
        probe(path)
    except WriteError as err:
        raise UserError(f"{option} {path}: {err}") from None
    return path


def parse_baseline(texts: list[str], factors: list[str]) -> dict:
    """`--baseline KEY=VALUE` arguments -> {factor path: value}; KEY may be a path's last part."""
    from .analysis.compare import resolve_factor
    from .scenario import parse_assignment

    baseline = {}
    for text in texts:
        key, value = parse_assignment(text)
        baseline[resolve_factor(key, factors)] = value
    return baseline


def bars(args) -> bool:
    """Progress bars only on a terminal: redrawn in place there, they would be hundreds of lines in a
    log or a pipe (and never with --quiet)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def json_line(data) -> str:
    """One JSON object; NaN and infinities become null (JSON has no such numbers)."""
    from .model.metrics import finite
    return json.dumps(finite(data), allow_nan=False)


# ---------------------------------------------------------------- run
def add_run(sub) -> None:
    p = sub.add_parser("run", help="run one scenario and print what happened")
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                   help="scenario file or bundled name (default: meihekou_2020)")
    p.add_argument("--days", type=DAYS, help="simulated days (default: the scenario's run.days)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field by its dotted path, e.g. grids.households_per_grid=500; "
                        "a table value merges into the table")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--out", type=out_folder, help="write Parquet tables and summary.json to this folder "
                                                  "(replaced as a whole); a city on a map also grids.gpkg "
                                                  "and stations.gpkg")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse runs expected to draw more requests than this (default 2e9)")
    p.add_argument("--by-district", action="store_true",
                   help="run each district (city.districts) as a city of its own on the workers and add "
                        "their summaries up (implied by --dask)")
    add_engine(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from .experiments import limits
    from .model.outputs import write_run, written
    from .model.run import simulate
    from .scenario import load, resolve_scenario

    days = [("run.days", args.days, f"--days {args.days:g}")] if args.days else []
    scenario = load(resolve_scenario(args.scenario), [*args.overrides, *days])
    split = args.by_district or args.dask
    districts = scenario.city.districts
    whole = "" if split or districts < 2 else f", or run its {districts} districts one by one (--by-district)"
    limits.check(f"gridsim run {args.scenario}", limits.in_parts(scenario, scenario.city.districts, at_once(args))
                 if split else limits.estimate([scenario], 1), args.max_requests,
                 change=f"lower --days or the population{whole}")
    out = check_out(args.out) if args.out is not None else None
    if split:
        return run_by_district(args, scenario, out)
    result = simulate(scenario, seed=args.seed, warn=lambda line: print(f"warning: {line}", file=sys.stderr))
    if out:
        write_run(result, out)
    if args.json:
        print(json_line(result.summary))
    else:
        print(format_summary(result.summary, scenario))
        if out:
            print(f"\nwrote {out}/: {', '.join(written(result))}")
    return 0


def run_by_district(args, scenario, out) -> int:
    """`gridsim run --by-district` / `--dask`: the districts on the workers, the city's summary."""
    from .experiments.districts import by_district

    flag = "--dask" if args.dask else "--by-district"
    if scenario.city.districts < 2:
        raise UserError(f"{flag}: {scenario.name} has one district (city.districts): nothing to split")
    if out is not None:
        raise UserError("--out: a run by district keeps each district's records on its worker "
                        "(run a district alone to write them)")
    city, parts = on_engine(args, lambda pool: by_district(scenario, args.seed, pool), "gridsim run")
    if args.json:
        print(json_line(city))
        return 0
    print(format_summary(city, scenario))
    print(f"\nby district ({len(parts)}, each a city of its own, run on {engine(args).label}):")
    print(f"  {'district':>8} {'households':>11} {'requests':>11} {'in target':>9} {'resolve p90 (h)':>15} "
          f"{'cost (M yuan)':>13}")
    for k, s in enumerate(parts, 1):
        print(f"  {k:>8} {s['city']['households']:>11,} {s['requests']['created']:>11,} "
              f"{_pct(s['sla_met_share']):>9} {_fmt(s['resolution_hours']['p90']):>15} "
              f"{s['cost_yuan_per_year'] / 1e6:>13,.1f}")
    return 0


def _fmt(x, digits=1) -> str:
    return "not reached" if x is None else f"{x:,.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def headline(s: dict, scenario) -> list[str]:
    """The plain answer first: per residents' request type, the share within its service-level target,
    in the KPI table's words (which name the clock it is measured on)."""
    from .model.kpis import lookup

    label = lookup("sla_met_share").label
    lines = [f"{label[:1].upper()}{label[1:]}, by type:"]
    for name, k in s["by_type"].items():
        rt = scenario.requests[name]
        if rt.origin != "resident":
            continue
        created = f"({k['requests']['created']:,} created)"
        if k["sla_met_share"] is None:
            lines.append(f"  {name:<10}{'-':>6}  target {rt.sla_hours:g} h: none fell due by the end   {created}")
        else:
            lines.append(f"  {name:<10}{100 * k['sla_met_share']:>5.0f}%  within {rt.sla_hours:g} h   {created}")
    overall = s["sla_met_share"]
    lines.append(f"  {'all':<10}{'-' if overall is None else f'{100 * overall:.0f}%':>6}")
    return lines


def format_summary(s: dict, scenario) -> str:
    """What a planner reads in a terminal: the headline, then the table and where the time goes."""
    from .model.metrics import TIME_PARTS

    r = s["requests"]
    warm = s["warmup_days"]
    counted = f"the first {warm:g} days are warm-up, not counted" if warm else "every day counted"
    resident = [name for name in s["by_type"] if scenario.requests[name].origin == "resident"]
    lines = [f"gridsim run: {s['scenario']}, seed {s['seed']}, {s['days']:g} days ({counted})", ""]
    lines += headline(s, scenario)
    lines += [
        "",
        "city: " + (f"{scenario.city.districts} districts, " if scenario.city.districts > 1 else "")
        + f"{s['city']['households']:,} households, {s['city']['grids']:,} grids, "
        f"{s['city']['stations']:,} stations; 15-minute walk coverage {100 * s['walk15_coverage_share']:.1f}%",
        f"residents' requests: {r['created']:,} created, {r['resolved']:,} resolved, {r['open']:,} open "
        f"({r['unreported']:,} not yet reported), {r['abandoned']:,} abandoned; "
        f"{_pct(s['hotline_share'])} through 12345, {_pct(s['police110_share'])} handled by 110",
        f"routine home visits made / visits falling due: {_pct(s['visit_completion_share'])}",
        "who residents reach first: " + "; ".join(
            f"{channel.replace('_', ' ')}: " + ", ".join(f"{role.replace('_', ' ')} {_pct(share)}" for role, share
                                                       in sorted(roles.items(), key=lambda kv: -(kv[1] or 0))
                                                       if share and share >= 0.01)
            for channel, roles in s["first_handler_share"].items() if any(roles.values())),
        "clocks: waits, resolution and SLA from the report (when the platform records it); "
        f"time from a problem arising to anyone knowing: mean {_fmt(s['time_to_know_hours']['mean'])} h, "
        f"p90 {_fmt(s['time_to_know_hours']['p90'])} h",
        "",
        f"{'type':<10}{'created':>9}{'wait mean':>11}{'wait p90':>12}{'resolve p50':>13}"
        f"{'resolve p90':>13}{'in target':>10}{'abandon':>9}{'12345':>7}",
        f"{'':<10}{'':>9}{'(min)':>11}{'(min)':>12}{'(h)':>13}{'(h)':>13}{'':>10}{'':>9}{'':>7}",
    ]
    rows = [(name, s["by_type"][name]) for name in resident] + [("residents", s)]
    for name, k in rows:
        w, h = k["wait_minutes"], k["resolution_hours"]
        lines.append(f"{name:<10}{k['requests']['created']:>9,}{_fmt(w['mean']):>11}{_fmt(w['p90']):>12}"
                     f"{_fmt(h['p50']):>13}{_fmt(h['p90']):>13}{_pct(k['sla_met_share']):>10}"
                     f"{_pct(k['abandoned_share']):>9}{_pct(k['hotline_share']):>7}")
    lines += ["(resolution counts every request: abandoned ones are never resolved, open ones are still waiting; "
              "not reached: fewer than that share were resolved by the end)",
              "", "where the time goes: mean hours of a resolved request, by part",
              f"{'type':<10}" + "".join(f"{part.replace('_', ' '):>17}" for part in TIME_PARTS)]
    for name, k in rows:
        lines.append(f"{name:<10}" + "".join(f"{_fmt(k['time_hours'][part], 2):>17}" for part in TIME_PARTS))
    lines += ["", "utilisation by role (busy on shift / time on shift; work after a shift is overtime):"]
    for role, u in s["utilisation"].items():
        notes = []
        over = s["overloaded_units"].get(role, 0)
        if over:
            notes.append(f"{over} unit{'s' * (over > 1)} overloaded (planned work at or above time on duty)")
        growth = s["backlog_growth_per_week"].get(role)
        if growth is not None and growth > 1:
            notes.append(f"backlog grows {growth:,.0f} visits a week")
        overtime = s["overtime_hours_per_year"].get(role) or 0
        if overtime >= 1 and s["staff"]["full_time_people"].get(role):
            notes.append(f"overtime {overtime:,.0f} h a year")
        people = s["staff"]["full_time_people"].get(role)
        staff = f"{s['staff']['posts'][role]:,} posts" + (f", {people:,.0f} people" if people else "")
        lines.append(f"  {role:<18}{'-' if u is None else f'{100 * u:.1f}%':>6}  ({staff})"
                     + (f"  {'; '.join(notes)}" if notes else ""))
    lines.append(f"\nannual cost: {s['cost_yuan_per_year'] / 1e6:,.1f} M yuan "
                 "(pay by hours and premiums, overtime, subsidies, volunteers' coordination, stations, property, "
                 "12345 calls and 110 dispatches, sub-district and community budgets)")
    lines.append(f"scenario hash {s['scenario_hash']} (the same hash: the same inputs)")
    return "\n".join(lines)


# ---------------------------------------------------------------- validate
RATE = number(float, gt=0, le=10_000)
MINUTES = number(float, gt=0, le=100_000)
SERVERS = number(int, ge=1, le=10_000)
PROBABILITY = number(float, ge=0, le=1, what="a probability in [0, 1]")
REPLICATIONS = number(int, ge=2, le=1_000)


_CASE_OPTIONS = ("arrivals_per_hour", "service_minutes", "servers", "escalation",
                 "service_minutes_2", "servers_2", "days", "replications")


def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check the model against queueing theory (Erlang C, Jackson, Little)",
                       description="With no case: every built-in case and a pass/fail table. "
                                   "Exit 1 if any check fails.")
    p.add_argument("case", nargs="?", choices=["mmc", "tandem"],
                   help="one case from the arguments below (default: all built-in cases)")
    p.add_argument("--arrivals-per-hour", type=RATE, help="Poisson arrival rate (default 6)")
    p.add_argument("--service-minutes", type=MINUTES, help="mean service time at station 1 (default 30)")
    p.add_argument("--servers", type=SERVERS, help="servers at station 1 (default 4)")
    p.add_argument("--escalation", type=PROBABILITY, help="tandem: share escalated to station 2 (default 0.1)")
    p.add_argument("--service-minutes-2", type=MINUTES, help="tandem: mean service time at station 2 (default 120)")
    p.add_argument("--servers-2", type=SERVERS, help="tandem: servers at station 2 (default 2)")
    p.add_argument("--days", type=DAYS, help="simulated days per replication (default 200)")
    p.add_argument("--replications", type=REPLICATIONS, help="replications (default 10)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the first replication (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse a case expected to draw more requests than this (default 2e9)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from tqdm import tqdm

    from .analysis.queueing import UnstableQueueError
    from .experiments import validate as v

    given = [f"--{k.replace('_', '-')}" for k in _CASE_OPTIONS if getattr(args, k) is not None]
    if args.case is None and given:
        raise UserError(f"validate: {given[0]} needs a case: `gridsim validate mmc ...` or `... tandem ...`")
    if args.case == "mmc" and any(g in given for g in ("--escalation", "--service-minutes-2", "--servers-2")):
        raise UserError("validate mmc: --escalation, --service-minutes-2 and --servers-2 are for `validate tandem`")
    pick = lambda name, default: default if getattr(args, name) is None else getattr(args, name)  # noqa: E731
    common = dict(arrivals_per_hour=pick("arrivals_per_hour", 6.0), service_minutes=pick("service_minutes", 30.0),
                  servers=pick("servers", 4), days=pick("days", 200.0), replications=pick("replications", 10))
    if args.case is not None:
        from .experiments import limits
        requests = common["arrivals_per_hour"] * 24 * common["days"] * common["replications"]
        if requests > (args.max_requests or limits.MAX_REQUESTS):
            raise UserError(f"validate {args.case}: {common['replications']} replications of {common['days']:g} days "
                            f"at {common['arrivals_per_hour']:g} an hour would simulate about {requests:.3g} requests, "
                            f"more than the bound of {args.max_requests or limits.MAX_REQUESTS:.3g}; lower --days, "
                            f"--replications or --arrivals-per-hour, or pass --max-requests {requests:.2g}")
    try:
        if args.case == "mmc":
            cases = [v.MMcCase(**common)]
        elif args.case == "tandem":
            cases = [v.TandemCase(**common, escalation=pick("escalation", 0.1),
                                  service_minutes_2=pick("service_minutes_2", 120.0), servers_2=pick("servers_2", 2))]
        else:
            cases = v.builtin_cases()
    except (UnstableQueueError, ValueError) as err:
        raise UserError(f"validate {args.case}: {err}") from None

    bar = None

    def progress(total: int):
        nonlocal bar
        bar = tqdm(total=total, desc="validate", unit="run", file=sys.stderr, disable=args.json or not bars(args), leave=False)
        return lambda: bar.update(1)

    try:
        checks = v.run_cases(cases, seed=args.seed, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(v.as_json(checks), allow_nan=False))
    else:
        print(v.format_table(checks))
    return 0 if all(c.passed for c in checks) else 1


# ---------------------------------------------------------------- where runs go
def add_engine(p) -> None:
    """--workers, --dask and --dask-timeout: every command that runs the model through the sweep engine."""
    p.add_argument("--workers", type=WORKERS, help="worker processes (default: the core count)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler (tcp://host:8786) or 'local'")
    p.add_argument("--dask-timeout", type=number(float, gt=0, le=3600), default=10.0, metavar="SECONDS",
                   help="give up on a scheduler that does not answer within this time (default 10)")


def at_once(args) -> int:
    """Runs held in memory at once on this machine: the local workers (none with --dask)."""
    return 1 if args.dask else args.workers or os.cpu_count() or 1


def engine(args):
    """The executor the engine options name."""
    from .experiments.sweep import Executor
    return Executor(args.workers or os.cpu_count() or 1, args.dask, timeout=args.dask_timeout)


def on_engine(args, work, what: str):
    """`work(pool)` on the command's executor. An executor that cannot start, or a failure `work`
    raises (RuntimeError), is one error line; Ctrl-C keeps the finished runs and returns None."""
    from .experiments.sweep import ExecutorError, Interrupted
    try:
        with engine(args) as pool:
            return work(pool)
    except ExecutorError as err:
        raise UserError(str(err)) from None
    except Interrupted:
        print("interrupted: finished runs are kept; rerun the same command to resume", file=sys.stderr)
        return None
    except RuntimeError as err:
        raise UserError(f"{what}: {err}") from None


# ---------------------------------------------------------------- sweep
def add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run an experiment's runs (resumable), store them as Parquet")
    p.add_argument("experiment", help="experiment file, or a bundled one by name (E3, grid_size)")
    add_engine(p)
    p.add_argument("--days", type=DAYS, help="quick look: simulated days instead of the file's")
    p.add_argument("--replicates", type=REPLICATES, help="quick look: exactly this many replicates (ignores until_ci)")
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="where experiment folders go (default: ./results)")
    p.add_argument("--fresh", action="store_true",
                   help="start over: move existing results for this experiment aside")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse jobs expected to draw more requests than this in all (default 2e9)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from .experiments import limits
    from .experiments.spec import check_points, load_spec
    from .experiments.sweep import Executor, ExecutorError, Interrupted, run_sweep

    spec = load_spec(args.experiment, days=args.days, replicates=args.replicates, check=False)
    try:                                 # every point (every combination of decisions) built before any run
        scenarios = check_points(spec, progress=not args.quiet)
    except ScenarioError as err:
        raise err.at(spec.source) from None
    # a quick look is a different experiment: it gets its own folder, never mixed with the full one
    suffix = (f"-days{args.days:g}" if args.days else "") + (f"-reps{args.replicates}" if args.replicates else "")
    workers = args.workers or os.cpu_count() or 1
    points = spec.points()
    replicates = spec.until_ci.max_replicates if spec.until_ci else spec.replicates
    limits.check(f"{spec.source}", limits.estimate(scenarios, replicates, at_once(args)),
                 args.max_requests, change="narrow the design, lower --days or --replicates")
    folder = results_dir(args.results) / f"{spec.name}{suffix}"
    executor = Executor(workers, args.dask, timeout=args.dask_timeout)

    def announce() -> None:
        print(f"{spec.name}: {len(points)} points x {spec.replicates} replicates"
              f"{' (more until the CI is narrow enough)' if spec.until_ci else ''}, {spec.days:g} days each, "
              f"on {executor.label} -> {folder}/", file=sys.stderr)

    try:
        with executor as pool:
            report = run_sweep(spec, folder, pool, fresh=args.fresh, progress=bars(args),
                               arguments={"days": args.days, "replicates": args.replicates}, on_start=announce)
    except ExecutorError as err:
        raise UserError(str(err)) from None
    except Interrupted as stop:
        r = stop.report
        print(f"interrupted: {r.done} runs finished now, {r.skipped} before, kept in {folder}/; "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    if report.moved:
        print(f"moved the old results to {report.moved}", file=sys.stderr)
    for problem in report.quarantined:
        print(f"warning: quarantined {problem} (run again)", file=sys.stderr)
    print(f"{report.done} runs done, {report.skipped} skipped (already stored), {report.failed} failed "
          f"in {report.seconds:.1f} s; results in {folder}/ (pandas.read_parquet('{folder}'))")
    if report.failed:
        for rid, error in sorted(report.errors.items())[:5]:
            print(f"  failed {rid}: {error}", file=sys.stderr)
        print(f"error: {report.failed} runs failed (details in {folder}/_failed/); "
              "rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- compare
def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="paired differences between sweep points, with 95%% CIs")
    p.add_argument("results", type=Path, help="a sweep results folder, e.g. results/grid_size")
    p.add_argument("--baseline", action="append", default=[], metavar="FACTOR=VALUE",
                   help="the baseline point, e.g. households_per_grid=350 (repeat for several factors; "
                        "default: the experiment's [baseline])")
    p.add_argument("--kpi", action="append", default=[], metavar="NAME",
                   help="KPI to compare (repeatable; default: the headline KPIs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from . import api
    from .analysis.compare import format_table

    stored = api.load_results(args.results)
    manifest = stored.manifest
    baseline = parse_baseline(args.baseline, manifest.get("factors", [])) if args.baseline else None
    table = api.compare(stored, baseline, args.kpi or None)
    baseline = baseline if baseline is not None else dict((manifest.get("spec") or {}).get("baseline") or {})
    warnings = stored.incomplete()
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    judged = api.judge(stored) if (manifest.get("spec") or {}).get("objective") else None
    if args.json:
        records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                   for row in table.to_dict("records")]
        print(json_line({"experiment": manifest.get("experiment"), "results": str(args.results),
                         "baseline": baseline, "level": 0.95, "paired_over": "replicate",
                         "incomplete": warnings, "comparisons": records,
                         **({"objective": judged.records()} if judged is not None else {})}))
    else:
        print(f"{manifest.get('experiment')}: paired differences over replicates (common random numbers), "
              "95% t intervals")
        print(format_table(table))
        if judged is not None:
            print("\nJudged by the experiment's [objective]:")
            print(judged.format())
    return 0


# ---------------------------------------------------------------- optimise
def add_optimise(sub) -> None:
    p = sub.add_parser("optimise", help="the cheapest point of an experiment's [decisions] that meets its "
                                        "[objective] (resumable)",
                       description="Screens every candidate of the experiment's [decisions] (a queueing-theory "
                                   "floor first where one applies), then adds replicates to the cheapest until "
                                   "the choice is decided. Exit 0 when the search finished, whether an option "
                                   "meets the targets (the chosen point) or none does (\"No option meets ...\" "
                                   "and the closest; --json says \"found\": false): both are answers. Exit 1 "
                                   "when runs failed, 2 on bad input, 130 when interrupted.")
    p.add_argument("experiment", help="experiment file with [decisions] and [objective], or a bundled name")
    add_engine(p)
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="where the runs go: DIR/<experiment>-optimise/ (default: ./results)")
    p.add_argument("--fresh", action="store_true", help="start over: move earlier runs of this search aside")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse searches expected to draw more requests than this in all (default 2e9)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bars or round lines")
    p.set_defaults(func=cmd_optimise)


def cmd_optimise(args) -> int:
    from .experiments import limits
    from .experiments import optimise as opt
    from .experiments.spec import load_spec
    from .experiments.sweep import Executor, ExecutorError

    spec = load_spec(args.experiment)
    try:
        space = opt.check_size(spec)
    except opt.OptimiseError as err:
        raise UserError(str(err)) from None
    workers = args.workers or os.cpu_count() or 1
    cap = max(opt.settings(spec).max_replicates, spec.replicates)
    limits.check(spec.source, limits.estimate([spec.base], space * spec.replicates + 3 * cap, at_once(args)),
                 args.max_requests, change="narrow the decisions, lower days or replicates")
    folder = results_dir(args.results) / f"{spec.name}-optimise"
    executor = Executor(workers, args.dask, timeout=args.dask_timeout)
    say = (lambda line: None) if args.quiet or args.json else (lambda line: print(line, file=sys.stderr))

    def announce() -> None:
        say(f"{spec.name}: {space} candidates, {spec.replicates} replicates each to screen, up to {cap} to decide; "
            f"{spec.days:g} days each, on {executor.label} -> {folder}/")

    try:
        with executor as pool:
            out = opt.run(spec, folder, pool, progress=bars(args) and not args.json, fresh=args.fresh, say=say,
                          on_start=announce)
    except ExecutorError as err:
        raise UserError(str(err)) from None
    except opt.OptimiseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1 if "runs failed" in str(err) else 2
    if args.json:
        data = out.judgement.records()
        data.update({"results": str(folder), "space": out.space, "screened": len(out.screened),
                     "refused": {out.judgement.label(i) if i in out.judgement.labels else str(i): why
                                 for i, why in out.refused.items()},
                     "below_bound": len(out.below_bound),
                     "bounds": [vars(b) for b in out.bounds], "runners_up": out.runners_up(),
                     "replicates": {str(k): v for k, v in out.replicates.items()},
                     "found": opt.met(out),
                     "rests_on": {"unconstrained": [i.data() for i in out.free],
                                  "options": [{"option": f.option, "sentence": f.sentence,
                                               "points": len(f.points), "meeting": int(f.points["meets"].sum()),
                                               "region": None if f.box is None else
                                               {k: [None if abs(v) == float("inf") else v for v in lim]
                                                for k, lim in f.box.limits.items()}}
                                              for f in out.assumptions]}})
        print(json_line(data))
    else:
        print(opt.describe(out, spec))
    return 0


# ---------------------------------------------------------------- dash
def add_dash(sub) -> None:
    p = sub.add_parser("dash", help="a what-if dashboard in the browser (needs the [viz] extra)",
                       description="Starts a local web server: move the levers, run replicates in the background, "
                                   "see options side by side with the baseline, export them as an experiment.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=number(int, ge=1, le=65535), default=8765, help="port (default 8765)")
    p.add_argument("--scenario", default="meihekou_2020_calibrated",
                   help="the scenario the page opens with (default: the calibrated 2020 city, as planner.md)")
    p.add_argument("--days", type=number(int, ge=7, le=3650, what="a whole number of days"), default=28,
                   help="days per run the page starts with (default 28)")
    p.add_argument("--replicates", type=number(int, ge=1, le=100), default=3,
                   help="replicates the page starts with (default 3)")
    p.add_argument("--workers", type=WORKERS, default=2, help="worker processes for the runs (default 2)")
    p.add_argument("--results", type=Path, default=Path("results") / "dash", metavar="DIR",
                   help="where the runs are kept, one folder per option (default: ./results/dash)")
    p.set_defaults(func=cmd_dash)


def cmd_dash(args) -> int:
    from .dash import DashError, serve
    from .scenario import bundled_names, resolve_scenario

    resolve_scenario(args.scenario)                       # a bad name: one error line now, not in the page
    if Path(args.scenario).suffix:
        raise UserError(f"--scenario {args.scenario}: the dashboard takes a bundled scenario by name "
                        f"({', '.join(bundled_names())})")
    folder = results_dir(args.results, "--results")
    try:
        return serve(args.host, args.port, folder, args.workers, args.scenario, args.days, args.replicates,
                     announce=lambda url: print(f"gridsim dash: open {url} (Ctrl-C stops it)", file=sys.stderr))
    except DashError as err:
        raise UserError(str(err)) from None


# ---------------------------------------------------------------- reproduce
def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="re-run study experiments at reference settings and check them")
    p.add_argument("experiments", nargs="*", metavar="EN", help="E1 ... E9 (or the experiment's name)")
    p.add_argument("--all", action="store_true", help="every study experiment")
    p.add_argument("--quick", action="store_true", help="the short settings, checked against their own reference")
    p.add_argument("--workers", type=WORKERS, help="worker processes (default: the core count)")
    p.add_argument("--results", type=Path, default=Path("results") / "reproduce", metavar="DIR",
                   help="where the re-runs go (default: ./results/reproduce)")
    p.add_argument("--update", action="store_true",
                   help="write these runs as the new reference (after a deliberate model change)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    from .experiments import reproduce as rp
    from .experiments.sweep import Executor

    keys = list(rp.study_experiments()) if args.all else args.experiments
    specs, references = rp.plan(keys, args.quick, args.update)
    results = results_dir(args.results)
    failures = 0
    with Executor(args.workers or os.cpu_count() or 1) as pool:
        for out in rp.reproduce(specs, references, args.quick, args.update, results, pool,
                                progress=bars(args)):
            name, r = out.spec.name, out.report
            if r.failed:
                print(f"error: {name}: {r.failed} runs failed (see {out.folder}/_failed/)", file=sys.stderr)
                return 1
            if out.written:
                print(f"{name}: wrote {out.written} ({r.done} runs in {r.seconds:.0f} s)")
                continue
            if out.changed_hash:
                print(f"FAIL  {name}: the experiment file changed since its reference was made "
                      f"(spec hash {out.changed_hash[0]} -> {out.changed_hash[1]})")
            for line in out.lines:
                print(f"{name}  {line}")
            bad = sum(not line.passed for line in out.lines)
            print(f"{name}: {len(out.lines) - bad} of {len(out.lines)} KPIs within the reference's 95% CI "
                  f"({r.done} runs in {r.seconds:.0f} s)")
            failures += out.failures
    return 1 if failures else 0


# ---------------------------------------------------------------- report
def add_report(sub) -> None:
    p = sub.add_parser("report", help="figures (PNG, SVG) and report.md for a sweep results folder",
                       description="Writes RESULTS/_report/: report.md and the figures. The same results "
                                   "give the same files.")
    p.add_argument("results", type=Path, help="a sweep results folder, e.g. results/E3_building_leaders")
    p.add_argument("--baseline", action="append", default=[], metavar="FACTOR=VALUE",
                   help="the baseline point (default: the experiment's [baseline]), e.g. option=none")
    p.add_argument("--dpi", type=number(int, ge=30, le=1200), default=150,
                   help="resolution of the PNG figures in dots per inch (default 150)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from . import api
    from .analysis.compare import CompareError
    from .analysis.store import read_manifest

    manifest = read_manifest(args.results)
    try:
        baseline = parse_baseline(args.baseline, manifest.get("factors", [])) if args.baseline else None
        report = api.report(args.results, baseline=baseline, dpi=args.dpi)
    except CompareError as err:
        raise UserError(str(err)) from None
    out = report.parent
    print(f"wrote {report} and {len(sorted(out.glob('*.png')))} figures (PNG and SVG) in {out}/")
    for line in api.load_results(args.results).incomplete():
        print(f"warning: {line}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- warmup
def add_warmup(sub) -> None:
    p = sub.add_parser("warmup", help="measure how long a scenario takes to reach its steady state (MSER, weekly batches)",
                       description="Runs the scenario from empty for several replicates and prints, for daily "
                                   "series of queues, open requests and busy grid leaders, the MSER "
                                   "truncation point: the warm-up its figures need.")
    p.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                   help="scenario file or bundled name (default: meihekou_2020)")
    p.add_argument("--days", type=DAYS, default=182.0,
                   help="simulated days per replicate, at least 28 (four weekly batches; default 182)")
    p.add_argument("--replicates", type=REPLICATES, default=5, help="replicates (default 5)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the first replicate (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field by its dotted path")
    p.add_argument("--figure", type=out_folder, metavar="STEM",
                   help="also draw the series and their truncation points to STEM.png and STEM.svg")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse jobs expected to draw more requests than this in all (default 2e9)")
    p.set_defaults(func=cmd_warmup)


def cmd_warmup(args) -> int:
    from tqdm import tqdm

    from .analysis.warmup import MIN_DAYS, describe, figure
    from .experiments import limits, warmup
    from .scenario import load, resolve_scenario

    if args.days < MIN_DAYS:
        raise UserError(f"--days {args.days:g}: MSER needs at least four weekly batches: give --days {MIN_DAYS} "
                        "or more (and about twice the warm-up you expect)")
    scenario = load(resolve_scenario(args.scenario),
                    [*args.overrides, ("run.warmup_days", 0.0, "--days"),
                     ("run.days", args.days, f"--days {args.days:g}")])
    limits.check(f"gridsim warmup {args.scenario}", limits.estimate([scenario], args.replicates), args.max_requests,
                 change="lower --days or --replicates")
    if args.figure:
        for path in (args.figure.with_suffix(".png"), args.figure.with_suffix(".svg")):
            out_file(path, "--figure")
    with tqdm(total=args.replicates, desc="warmup", unit="run", file=sys.stderr, leave=False,
              disable=not bars(args)) as bar:
        daily, truncation = warmup.measure(scenario, args.replicates, args.seed, tick=lambda: bar.update(1))
    print(f"{scenario.name}: {args.replicates} replicates of {args.days:g} days from empty; MSER truncation (weekly batches) "
          "of the daily mean over replicates")
    print("\n".join(describe(truncation, len(daily))))
    if args.figure:
        for path in figure(daily, truncation, args.figure):
            print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------- calibrate
def add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="history matching to what the city reported (a targets file)",
                       description="Runs waves of model runs over the targets file's [calibration.inputs], "
                                   "rules out the points whose implausibility exceeds the cut-off, and writes "
                                   "the plausible set, the calibrated scenario and figures. Resumable.")
    p.add_argument("targets", help="targets file, or a bundled one by name (meihekou)")
    add_engine(p)
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="where the calibration's folder goes (default: ./results)")
    p.add_argument("--scenario-out", type=out_folder, metavar="FILE",
                   help="the calibrated scenario (default: <base scenario>_calibrated.toml beside it)")
    p.add_argument("--fresh", action="store_true", help="start over: move stored waves aside")
    p.add_argument("--dpi", type=number(int, ge=30, le=1200), default=150, help="PNG resolution (default 150)")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse calibrations expected to draw more requests than this in all (default 2e9)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    from .experiments import calibrate as cb
    from .experiments import limits
    from .experiments.spec import lasting
    from .experiments.targets import load_targets

    targets = load_targets(args.targets)
    cal = targets.calibration
    points = cal.waves * cal.points + cal.profile * len(targets.inputs)     # each run on every city
    cities = [lasting(s, cal.days, cal.warmup_days) for _, s in targets.scenarios().values()]
    limits.check(f"calibrate {targets.name}", limits.estimate(cities * points, cal.replicates, at_once(args)),
                 args.max_requests, change="lower [calibration] waves, points, profile, replicates or days")
    folder = results_dir(args.results) / f"calibrate-{targets.name}"
    results_dir(folder / "figures")
    beside = targets.scenario_path.with_name(f"{targets.scenario_path.stem}_calibrated.toml")
    out = out_file(args.scenario_out or beside, "--scenario-out")
    say = (lambda line: print(line, file=sys.stderr)) if not args.quiet else (lambda line: None)

    def work(pool):
        say(f"calibrate {targets.name}: {len(targets.targets)} targets, {len(targets.inputs)} inputs, "
            f"{targets.calibration.waves} waves of {targets.calibration.points} points x "
            f"{targets.calibration.replicates} replicates on {pool.label} -> {folder}/")
        return cb.calibrate(targets, folder, pool, progress=bars(args), fresh=args.fresh, say=say)

    cal = on_engine(args, work, f"calibrate {targets.name}")
    if cal is None:
        return 130
    print("\n".join(cb.summary_lines(cal)))
    figures = cb.figures(cal, folder / "figures", dpi=args.dpi)
    print(f"\nwrote {folder}/plausible.parquet ({len(cal.plausible)} points), {folder}/evaluations.parquet, "
          f"{len(figures) // 2} figures in {folder}/figures/")
    if cal.plausible.empty:
        print(f"error: no point is plausible: every point is ruled out, by a target or before running (see {folder}/"
              "evaluations.parquet); widen the inputs' ranges, add inputs or revisit the targets", file=sys.stderr)
        return 1
    print(f"wrote {', '.join(map(str, cb.write_calibrated(cal, out)))}")
    return 0


# ---------------------------------------------------------------- sensitivity
def add_sensitivity(sub) -> None:
    p = sub.add_parser("sensitivity", help="global sensitivity of KPIs to uncertain inputs (Sobol, Morris; SALib)",
                       description="Runs SALib's Saltelli (Sobol) and/or Morris design over the spec's inputs "
                                   "and prints, per KPI, the inputs ranked by total index or mu*; writes the "
                                   "tables (Parquet) and a figure per KPI. Resumable.")
    p.add_argument("spec", type=Path, help="sensitivity spec (TOML), e.g. experiments/sensitivity/meihekou.toml")
    add_engine(p)
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="where the analysis's folder goes (default: ./results)")
    p.add_argument("--fresh", action="store_true", help="start over: move stored runs aside")
    p.add_argument("--dpi", type=number(int, ge=30, le=1200), default=150, help="PNG resolution (default 150)")
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse analyses expected to draw more requests than this in all (default 2e9)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sensitivity)


def cmd_sensitivity(args) -> int:
    from .experiments import limits
    from .experiments import sensitivity as sa

    sens = sa.load_sensitivity(args.spec)
    limits.check(f"sensitivity {sens.name}", limits.estimate([sens.base.base], sum(map(sens.size, sens.methods()))
                                                             * sens.file.replicates, at_once(args)),
                 args.max_requests, change="lower samples, trajectories, replicates or days")
    folder = results_dir(args.results) / f"sensitivity-{sens.name}"
    results_dir(folder / "figures")
    say = (lambda line: print(line, file=sys.stderr)) if not args.quiet else (lambda line: None)
    results = on_engine(args, lambda pool: sa.run(sens, folder, pool, progress=bars(args), fresh=args.fresh,
                                                  say=say), f"sensitivity {sens.name}")
    if results is None:
        return 130
    print(f"{sens.name}: {len(sens.inputs)} inputs, KPIs {', '.join(sens.file.kpis)}")
    print("\n".join(sa.table_lines(results)))
    figures = sa.figures(results, folder / "figures", dpi=args.dpi)
    print(f"\nwrote {', '.join(f'{folder}/{r.method}.parquet' for r in results)} and {len(figures) // 2} "
          f"figures in {folder}/figures/")
    return 0


# ---------------------------------------------------------------- robustness
def add_robustness(sub) -> None:
    p = sub.add_parser("robustness", help="re-run the findings' comparisons across the plausible parameter sets",
                       description="Each claim (an option against its experiment's baseline on one KPI) is "
                                   "re-run in every one of a calibration's plausible parameter sets (each with its "
                                   "own values of the claims file's unconstrained [inputs]) and labelled robust or "
                                   "fragile, with the input that flips it. Resumable.")
    p.add_argument("calibration", type=Path, help="a calibration's results folder, e.g. results/calibrate-meihekou")
    p.add_argument("--claims", type=Path, default=Path("experiments") / "robustness" / "claims.toml",
                   help="the claims file (default: experiments/robustness/claims.toml)")
    p.add_argument("--sets", type=number(int, ge=2, le=10_000),
                   help="a sample of this many plausible parameter sets (default: every one)")
    p.add_argument("--replicates", type=REPLICATES, default=3, help="replicates per set and point (default 3)")
    p.add_argument("--days", type=DAYS, help="simulated days instead of each experiment's")
    p.add_argument("--experiment", action="append", metavar="EN", help="only these experiments' claims (repeatable)")
    add_engine(p)
    p.add_argument("--max-requests", type=MAX_REQUESTS, metavar="N",
                   help="refuse jobs expected to draw more requests than this in all (default 2e9)")
    p.add_argument("--results", type=Path, help="where the runs go (default: <calibration>/robustness)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_robustness)


def cmd_robustness(args) -> int:
    from .analysis.store import read_table
    from .atomic import write_text
    from .experiments import robustness as rb

    folder = args.results or args.calibration / "robustness"
    results_dir(folder, "--results")
    say = (lambda line: print(line, file=sys.stderr)) if not args.quiet else (lambda line: None)
    r = on_engine(args, lambda pool: rb.run(args.calibration, args.claims, folder, pool, sets=args.sets,
                                            replicates=args.replicates, days=args.days,
                                            experiments=args.experiment, progress=bars(args), say=say,
                                            max_requests=args.max_requests, at_once=at_once(args)),
                  "robustness")
    if r is None:
        return 130
    print("\n".join(rb.lines(r)))
    _, meta = read_table(folder, "robustness")
    report = write_text(folder / "robustness.md", rb.markdown(r, meta))
    print(f"\nwrote {report}, {folder}/robustness.parquet and {folder}/effects.parquet")
    return 0


# ---------------------------------------------------------------- entry point
COMMANDS = [add_run, add_validate, add_sweep, add_optimise, add_compare, add_reproduce, add_report, add_warmup,
            add_dash, add_calibrate, add_sensitivity, add_robustness]


def build_parser() -> Parser:
    parser = Parser(prog="gridsim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gridsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def _terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C, so temporary files are cleaned up
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from .analysis.compare import CompareError
    from .analysis.store import StoreError
    from .atomic import WriteError
    from .experiments.limits import TooLarge

    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        from .model.run import compile_notice
        with compile_notice(lambda line: print(line, file=sys.stderr, flush=True)):
            return args.func(args)
    except (UserError, ScenarioError, StoreError, CompareError, TooLarge, WriteError) as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory (lower --days, the population or --workers)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def one_line(text: str) -> str:
    """An error as one line however it was made: line breaks and other characters that do not print,
    in what the user typed, shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
