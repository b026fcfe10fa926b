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

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
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
    result = simulate(scenario, seed=args.seed)
    if out:
        write_run(result, out)
    if args.json:
        print(json.dumps(finite(result.summary), allow_nan=False))
    else:
        print(format_summary(result.summary))
        if out:
            print(f"\nwrote {out}/: summary.json, requests/visits/timeseries/grids .parquet")
    return 0


def _fmt(x, digits=1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def format_summary(s: dict) -> str:
    """A compact table a planner can read in a terminal."""
    r = s["requests"]
    lines = [
        f"gridsim  {s['scenario']}  (hash {s['scenario_hash']}, seed {s['seed']}, {s['days']:g} days)",
        f"city: {s['city']['households']:,} households, {s['city']['grids']} grids, "
        f"{s['city']['stations']} stations; 15-minute walk coverage {100 * s['walk15_coverage_share']:.1f}%",
        f"residents' requests: {r['created']:,} created, {r['resolved']:,} resolved, "
        f"{r['open']:,} open, {r['abandoned']:,} abandoned",
        "",
        f"{'type':<10}{'created':>9}{'wait mean':>11}{'wait p90':>10}{'resolve p50':>12}"
        f"{'resolve p90':>12}{'in SLA':>8}{'escal.':>8}{'abandon':>9}",
        f"{'':<10}{'':>9}{'(min)':>11}{'(min)':>10}{'(h)':>12}{'(h)':>12}{'':>8}{'':>8}{'':>9}",
    ]
    rows = list(s["by_type"].items()) + [("residents", s)]
    for name, k in rows:
        w, h = k["wait_minutes"], k["resolution_hours"]
        pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"  # noqa: E731
        lines.append(f"{name:<10}{k['requests']['created']:>9,}{_fmt(w['mean']):>11}{_fmt(w['p90']):>10}"
                     f"{_fmt(h['p50']):>12}{_fmt(h['p90']):>12}{pct(k['sla_met_share']):>8}"
                     f"{pct(k['escalated_share']):>8}{pct(k['abandoned_share']):>9}")
    lines += ["", "utilisation by role (busy / time on duty):"]
    lines += [f"  {role:<18}{'-' if u is None else f'{100 * u:5.1f}%'}  ({s['staff'][role]:,} staff)"
              for role, u in s["utilisation"].items()]
    lines.append(f"\nannual cost: {s['cost_yuan_per_year'] / 1e6:,.1f} M yuan "
                 "(pay, subsidies, stations, property subsidies, sub-district and community budgets)")
    return "\n".join(lines)


# ---------------------------------------------------------------- entry point
COMMANDS = [add_run]


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


if __name__ == "__main__":
    sys.exit(main())
