"""The `gridsim` command: argument parsing and printing, nothing else.

Every user error ends the same way: one line on stderr starting `error:`,
naming the file or argument and the field, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .scenario import ScenarioError

from .data import folder

SCENARIOS = folder("scenarios")
DEFAULT_SCENARIO = SCENARIOS / "meihekou_2020.toml"


class UserError(Exception):
    """Bad input from the user: printed as one `error:` line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we print one line
        raise UserError(f"{self.prog}: {message}")


def scenario_path(text: str) -> Path:
    """A path, or the name of a file in the bundled scenarios/ folder."""
    path = Path(text)
    if not path.exists() and not path.suffix:
        return next(iter(sorted(SCENARIOS.rglob(f"{text}.toml"))), path)
    return path


def positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days, got {text!r}") from None
    if not days > 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return days


def seed_value(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return seed


def writable_dir(path: Path) -> Path:
    """Create `path` if needed and prove it can be written, before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gridsim-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"--out {path}: cannot write there ({err.strerror or err})") from None
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


# ---------------------------------------------------------------- run
def add_run(sub) -> None:
    p = sub.add_parser("run", help="run one scenario and print what happened")
    p.add_argument("scenario", nargs="?", default=str(DEFAULT_SCENARIO),
                   help="scenario file or bundled name (default: meihekou_2020)")
    p.add_argument("--days", type=positive_days, help="simulated days (default: the scenario's run.days)")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field by its dotted path, e.g. grids.households_per_grid=500")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--out", type=Path, help="write Parquet tables and summary.json to this folder")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from .model.outputs import write_run
    from .model.run import simulate
    from .scenario import load
    from .model.metrics import finite

    days = [("run.days", args.days)] if args.days else []
    scenario = load(scenario_path(args.scenario), [*args.overrides, *days])
    out = writable_dir(args.out) if args.out else None
    result = simulate(scenario, seed=args.seed, warn=lambda line: print(f"warning: {line}", file=sys.stderr))
    if out:
        write_run(result, out)
    if args.json:
        print(json.dumps(finite(result.summary), allow_nan=False))
    else:
        print(format_summary(result.summary))
        if out:
            print(f"\nwrote {out}/: summary.json, requests/visits/timeseries/grids/census .parquet")
    return 0


def _fmt(x, digits=1) -> str:
    return "n.r." if x is None else f"{x:,.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def format_summary(s: dict) -> str:
    """A compact table a planner can read in a terminal."""
    from .model.metrics import SATURATED, TIME_PARTS

    r = s["requests"]
    lines = [
        f"gridsim  {s['scenario']}  (hash {s['scenario_hash']}, seed {s['seed']}, {s['days']:g} days, "
        f"measured after {s['warmup_days']:g})",
        f"city: {s['city']['households']:,} households, {s['city']['grids']} grids, "
        f"{s['city']['stations']} stations; 15-minute walk coverage {100 * s['walk15_coverage_share']:.1f}%",
        f"residents' requests: {r['created']:,} created, {r['resolved']:,} resolved, {r['open']:,} open "
        f"({r['unreported']:,} not yet reported), {r['abandoned']:,} abandoned; "
        f"{_pct(s['hotline_share'])} through 12345, {_pct(s['police110_share'])} handled by 110",
        f"routine home visits made / visits falling due: {_pct(s['visit_completion_share'])}",
        "",
        f"{'type':<10}{'created':>9}{'wait mean':>11}{'wait p90':>10}{'resolve p50':>12}"
        f"{'resolve p90':>12}{'in SLA':>8}{'abandon':>9}{'12345':>7}",
        f"{'':<10}{'':>9}{'(min)':>11}{'(min)':>10}{'(h)':>12}{'(h)':>12}{'':>8}{'':>9}{'':>7}",
    ]
    rows = list(s["by_type"].items()) + [("residents", s)]
    for name, k in rows:
        w, h = k["wait_minutes"], k["resolution_hours"]
        lines.append(f"{name:<10}{k['requests']['created']:>9,}{_fmt(w['mean']):>11}{_fmt(w['p90']):>10}"
                     f"{_fmt(h['p50']):>12}{_fmt(h['p90']):>12}{_pct(k['sla_met_share']):>8}"
                     f"{_pct(k['abandoned_share']):>9}{_pct(k['hotline_share']):>7}")
    lines += ["(resolution counts every request: abandoned ones are never resolved, open ones censored; "
              "n.r.: that share was never resolved)",
              "", "where the time goes: mean hours of a resolved request, by part",
              f"{'type':<10}" + "".join(f"{part.replace('_', ' '):>17}" for part in TIME_PARTS)]
    for name, k in rows:
        lines.append(f"{name:<10}" + "".join(f"{_fmt(k['time_hours'][part], 2):>17}" for part in TIME_PARTS))
    lines += ["", "utilisation by role (busy / time on duty):"]
    for role, u in s["utilisation"].items():
        notes = []
        hot = s["saturated_units"].get(role, 0)
        if hot:
            notes.append(f"{hot} unit{'s' * (hot > 1)} above {SATURATED:.0%} busy: queues grow long there")
        growth = s["backlog_growth_per_week"].get(role)
        if growth is not None and growth > 1:
            notes.append(f"backlog grows {growth:,.0f} visits a week")
        people = s["staff"]["full_time_people"].get(role)
        staff = f"{s['staff']['posts'][role]:,} posts" + (f", {people:,.0f} people" if people else "")
        lines.append(f"  {role:<18}{'-' if u is None else f'{100 * u:.1f}%':>6}  ({staff})"
                     + (f"  {'; '.join(notes)}" if notes else ""))
    lines.append(f"\nannual cost: {s['cost_yuan_per_year'] / 1e6:,.1f} M yuan "
                 "(pay by hours and premiums, subsidies, volunteers' coordination, stations, property, "
                 "12345 calls and 110 dispatches, sub-district and community budgets)")
    return "\n".join(lines)


# ---------------------------------------------------------------- validate
def _positive_number(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return x


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text!r}")
        return n
    return parse


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return p


_CASE_OPTIONS = ("arrivals_per_hour", "service_minutes", "servers", "escalation",
                 "service_minutes_2", "servers_2", "days", "replications")


def add_validate(sub) -> None:
    p = sub.add_parser("validate", help="check the model against queueing theory (Erlang C, Jackson, Little)",
                       description="With no case: every built-in case and a pass/fail table. "
                                   "Exit 1 if any check fails.")
    p.add_argument("case", nargs="?", choices=["mmc", "tandem"],
                   help="one case from the arguments below (default: all built-in cases)")
    p.add_argument("--arrivals-per-hour", type=_positive_number, help="Poisson arrival rate (default 6)")
    p.add_argument("--service-minutes", type=_positive_number, help="mean service time at station 1 (default 30)")
    p.add_argument("--servers", type=_count(1), help="servers at station 1 (default 4)")
    p.add_argument("--escalation", type=_probability, help="tandem: share escalated to station 2 (default 0.1)")
    p.add_argument("--service-minutes-2", type=_positive_number,
                   help="tandem: mean service time at station 2 (default 120)")
    p.add_argument("--servers-2", type=_count(1), help="tandem: servers at station 2 (default 2)")
    p.add_argument("--days", type=positive_days, help="simulated days per replication (default 200)")
    p.add_argument("--replications", type=_count(2), help="replications (default 10)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the first replication (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
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
        bar = tqdm(total=total, desc="validate", unit="run", file=sys.stderr, disable=args.json, leave=False)
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


# ---------------------------------------------------------------- sweep
def worker_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return n


def add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run an experiment's runs (resumable), store them as Parquet")
    p.add_argument("experiment", type=Path, help="experiment file, e.g. experiments/grid_size.toml")
    p.add_argument("--workers", type=worker_count, help="worker processes (default: the core count)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler (tcp://host:8786) or 'local'")
    p.add_argument("--days", type=positive_days, help="quick look: simulated days instead of the file's")
    p.add_argument("--replicates", type=worker_count, help="quick look: exactly this many replicates (ignores until_ci)")
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="where experiment folders go (default: ./results)")
    p.add_argument("--fresh", action="store_true",
                   help="start over: move existing results for this experiment aside")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    import os

    from .experiments.spec import load_spec
    from .experiments.store import Store
    from .experiments.sweep import Executor, ExecutorError, Interrupted, sweep

    spec = load_spec(args.experiment, days=args.days, replicates=args.replicates)
    # a quick look is a different experiment: it gets its own folder, never mixed with the full one
    suffix = (f"-days{args.days:g}" if args.days else "") + (f"-reps{args.replicates}" if args.replicates else "")
    folder = writable_dir(args.results) / f"{spec.name}{suffix}"
    store = Store(folder)
    moved = store.open(spec, fresh=args.fresh)
    if moved:
        print(f"moved the old results to {moved}", file=sys.stderr)
    n_points = len(spec.points())
    workers = args.workers or os.cpu_count() or 1
    executor = Executor(workers, args.dask)
    print(f"{spec.name}: {n_points} points x {spec.replicates} replicates"
          f"{' (more until the CI is narrow enough)' if spec.until_ci else ''}, {spec.days:g} days each, "
          f"on {executor.label} -> {folder}/", file=sys.stderr)
    try:
        with executor as pool:
            report = sweep(spec, store, pool, progress=not args.quiet)
    except ExecutorError as err:
        raise UserError(str(err)) from None
    except Interrupted as stop:
        r = stop.report
        print(f"interrupted: {r.done} runs finished now, {r.skipped} before, kept in {folder}/; "
              "rerun the same command to resume", file=sys.stderr)
        return 130
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
    p = sub.add_parser("compare", help="paired differences between sweep points, with 95% CIs")
    p.add_argument("results", type=Path, help="a sweep results folder, e.g. results/grid_size")
    p.add_argument("--baseline", action="append", default=[], metavar="FACTOR=VALUE", required=True,
                   help="the baseline point, e.g. households_per_grid=350 (repeat for several factors)")
    p.add_argument("--kpi", action="append", default=[], metavar="NAME",
                   help="KPI column to compare (repeatable; default: the headline KPIs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    import math

    from .analysis.compare import CompareError, compare, format_table, kpis_for, read_manifest, read_runs

    try:
        manifest = read_manifest(args.results)
        factors = manifest.get("factors", [])
        baseline = parse_baseline(args.baseline, factors)
        runs = read_runs(args.results)
        if runs.empty:
            raise CompareError(f"{args.results}: no finished runs yet")
        table = compare(runs, factors, baseline, args.kpi or kpis_for(manifest, runs))
    except CompareError as err:
        raise UserError(str(err)) from None
    if args.json:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        records = [{k: clean(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                   for row in table.to_dict("records")]
        print(json.dumps({"experiment": manifest.get("experiment"), "results": str(args.results),
                          "baseline": baseline, "level": 0.95, "paired_over": "replicate",
                          "comparisons": records}, allow_nan=False))
    else:
        print(f"{manifest.get('experiment')}: paired differences over replicates (common random numbers), "
              "95% t intervals")
        print(format_table(table))
    return 0


# ---------------------------------------------------------------- reproduce
def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="re-run study experiments at reference settings and check them")
    p.add_argument("experiments", nargs="*", metavar="EN", help="E1 ... E7 (or the experiment's name)")
    p.add_argument("--all", action="store_true", help="every study experiment")
    p.add_argument("--quick", action="store_true", help="the short settings, checked against their own reference")
    p.add_argument("--workers", type=worker_count, help="worker processes (default: the core count)")
    p.add_argument("--results", type=Path, default=Path("results") / "reproduce", metavar="DIR",
                   help="where the re-runs go (default: ./results/reproduce)")
    p.add_argument("--update", action="store_true",
                   help="write these runs as the new reference (after a deliberate model change)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    import os

    from .experiments import reproduce as rp
    from .experiments.sweep import Executor

    keys = list(rp.study_experiments()) if args.all else args.experiments
    if not keys:
        raise UserError("gridsim reproduce: name experiments (E1 ... E7) or give --all")
    plans = [rp.spec_for(rp.find(key), args.quick) for key in keys]
    references = {} if args.update else {s.name: rp.read_reference(s, args.quick) for s in plans}
    failures = 0
    with Executor(args.workers or os.cpu_count() or 1) as pool:
        for spec in plans:
            folder = writable_dir(args.results) / f"{spec.name}{'-quick' if args.quick else ''}"
            report, runs = rp.rerun(spec, folder, pool, progress=sys.stderr.isatty())
            if report.failed:
                print(f"error: {spec.name}: {report.failed} runs failed (see {folder}/_failed/)", file=sys.stderr)
                return 1
            if args.update:
                print(f"{spec.name}: wrote {rp.write_reference(spec, args.quick, runs)} "
                      f"({report.done} runs in {report.seconds:.0f} s)")
                continue
            reference = references[spec.name]
            if reference["spec_hash"] != spec.hash():
                print(f"FAIL  {spec.name}: the experiment file changed since its reference was made "
                      f"(spec hash {reference['spec_hash']} -> {spec.hash()})")
                failures += 1
            lines = rp.check(reference, rp.summarise(spec, runs))
            for line in lines:
                print(f"{spec.name}  {line}")
            bad = sum(not line.passed for line in lines)
            failures += bad
            print(f"{spec.name}: {len(lines) - bad} of {len(lines)} KPIs within the reference's 95% CI "
                  f"({report.done} runs in {report.seconds:.0f} s)")
    return 1 if failures else 0


# ---------------------------------------------------------------- report
def add_report(sub) -> None:
    p = sub.add_parser("report", help="figures (PNG, SVG) and report.md for a sweep results folder",
                       description="Writes RESULTS/_report/: report.md and the figures. The same results "
                                   "give the same files.")
    p.add_argument("results", type=Path, help="a sweep results folder, e.g. results/E3_building_leaders")
    p.add_argument("--baseline", action="append", default=[], metavar="FACTOR=VALUE",
                   help="the baseline point (default: the experiment's [baseline]), e.g. option=none")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from .analysis.compare import CompareError, read_manifest
    from .analysis.figures import load_results
    from .analysis.report import write_report
    from .experiments.report_inputs import report_inputs

    try:
        manifest = read_manifest(args.results)
        baseline = parse_baseline(args.baseline, manifest.get("factors", [])) if args.baseline else None
        res = load_results(args.results, baseline)
    except CompareError as err:
        raise UserError(str(err)) from None
    inputs = report_inputs(args.results, manifest, res)
    out = writable_dir(args.results / "_report")
    report = write_report(res, out, inputs.map_input, inputs.header, inputs.wanted_points,
                          (manifest.get("spec") or {}).get("replicates"), inputs.problem)
    print(f"wrote {report} and {len(sorted(out.glob('*.png')))} figures (PNG and SVG) in {out}/")
    if res.failed:
        print(f"warning: {len(res.failed)} failed runs are missing from the report (see {args.results}/_failed/)",
              file=sys.stderr)
    return 0


# ---------------------------------------------------------------- entry point
COMMANDS = [add_run, add_validate, add_sweep, add_compare, add_reproduce, add_report]


def build_parser() -> Parser:
    parser = Parser(prog="gridsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (UserError, ScenarioError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
