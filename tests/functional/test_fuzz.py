"""A fuzzer that keeps every command as robust as `run`.

Hypothesis writes scenario, experiment, targets and sensitivity files and `--set` values, valid
and invalid (unknown and nested keys, numbers of thousands of digits, NaN and infinities,
unicode and control characters, TOML that does not parse), and runs them through every command
on the M/M/c scenario, within a time limit. The one property: exit 0 with a consistent result
(or 1 where a command documents it: no option meets the targets, no point is plausible, a
validation check fails), or exit 2 with exactly one `error:` line and not one file written;
never a traceback, never a hang, never a temporary file left behind. The fast profile runs in
the default suite; `pytest -m slow` runs the long one.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridsim.analysis.store import Store
from gridsim.atomic import OLD, PARTIAL
from gridsim.model.kpis import TABLE
from gridsim.scenario import load, to_data
from gridsim.scenario.fields import toml_value

from ..conftest import SCENARIOS, gridsim

MMC = SCENARIOS / "validation" / "mmc.toml"
MAX_REQUESTS = "50000"          # every job the fuzzer makes is small, or refused as too large


def _leaves(data, prefix=""):
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _leaves(value, path)
        else:
            yield path, value


LEAVES = dict(_leaves(to_data(load(MMC))))
NUMERIC = [p for p, v in LEAVES.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
KPIS = [k.name for k in TABLE] + [
    "utilisation.station_head", "utilisation.mayor", "backlog_growth_per_week.hotline", "resolved_per_year.alliance",
    "by_type.errand.sla_met_share", "by_type.care.sla_met_share", "by_type.errand.resolved_per_year.station_head",
    "by_quarter.q1.hotline_calls_per_day", "by_walk_band.0-5.abandoned_share", "by_walk_band.far.abandoned_share",
    "not_a_kpi", "", "wait_minutes", "by_type"]

# ---------------------------------------------------------------- TOML values as text
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
SCALAR = st.one_of(
    st.integers(-3, 60).map(str),
    st.integers().map(str),
    st.sampled_from(["9" * 30, "9" * 5000, "-" + "9" * 20, "1e400", "nan", "inf", "-inf", "-0.0", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(toml_value),
    TEXT.map(toml_value),
    st.booleans().map(toml_value),
    st.sampled_from(['"own"', '"station"', '"exponential"', '"flat"', "[0, 1, 2]", "[]", "{}"]),
)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(st.sampled_from(["a", "per_station", "mean_minutes", "days", "x.y"]), inner, max_size=3)
    .map(lambda d: "{ " + ", ".join(f"{toml_value(k)} = {v}" for k, v in d.items()) + " }")), max_leaves=6)
NEAR = st.sampled_from(NUMERIC).flatmap(               # a number near the scenario's own: most such files run
    lambda p: st.floats(0.5, 2.0).map(lambda f: (p, LEAVES[p] * f if isinstance(LEAVES[p], float)
                                                  else max(0, round(LEAVES[p] * f)))))
PATH = st.one_of(st.sampled_from(list(LEAVES)), st.sampled_from(NUMERIC),
                 TEXT.filter(lambda t: "=" not in t), st.sampled_from(["city", "roles.station_head", "a..b", "x[3]",
                                                                       "requests.errand.stages[0].pass_on"]))
ASSIGNMENT = st.one_of(st.tuples(PATH, VALUE), NEAR.map(lambda pv: (pv[0], toml_value(pv[1]))))
DEEP = st.integers(1, 400).map(lambda n: "[" * n + "]" * n)


def mostly(valid, invalid, tenths: int = 8):
    """`valid` in `tenths` of ten draws, else `invalid`: most files should run, and many not."""
    return st.integers(0, 9).flatmap(lambda k: valid if k < tenths else invalid)


def lines(assignments) -> str:
    return "".join(f"{toml_value(k) if '.' not in k else k} = {v}\n" for k, v in assignments)


GARBAGE = st.one_of(TEXT, DEEP.map(lambda d: f"x = {d}\n"), st.just("[city\n"), st.just("a = 1\na = 2\n"))
SCENARIO = mostly(st.lists(mostly(NEAR.map(lambda pv: (pv[0], toml_value(pv[1]))), ASSIGNMENT), max_size=3)
                  .map(lambda a: f'extends = "{MMC}"\n' + lines(a)),
                  st.one_of(GARBAGE, st.just('extends = "scenario.toml"\n'), VALUE.map(lambda v: f"extends = {v}\n"),
                            st.lists(ASSIGNMENT, max_size=3).map(lambda a: f'extends = "{MMC}"\n' + lines(a))))
DAYS = mostly(st.sampled_from(["4.0", "6.0", "9.0"]), VALUE)


@st.composite
def experiment_text(draw, decisions: bool = False) -> str:
    head = [("name", draw(mostly(st.just('"fz"'), VALUE, 9))),
            ("scenario", draw(mostly(st.just(toml_value(str(MMC))), VALUE, 9))), ("days", draw(DAYS)),
            ("warmup_days", draw(mostly(st.sampled_from(["1.0", "0.0"]), VALUE, 9))),
            ("replicates", draw(mostly(st.sampled_from(["1", "2"]), VALUE, 9)))]
    head += draw(mostly(st.just([]), st.lists(st.tuples(st.sampled_from(["root_seed", "design", "kpis", "description",
                                                                         "unknown"]), VALUE), max_size=2)))
    section = "decisions" if decisions else "factors"
    body = [f"[{section}]"]
    for path in draw(st.lists(mostly(st.sampled_from(NUMERIC), PATH), min_size=1, max_size=2, unique=True)):
        base = LEAVES.get(path)
        near = (st.lists(NEAR.map(lambda pv: pv[1]) if not isinstance(base, (int, float)) or isinstance(base, bool)
                         else st.floats(0.5, 2.0).map(lambda f: base * f if isinstance(base, float)
                                                      else max(0, round(base * f))), min_size=1, max_size=3)
                .map(toml_value))
        body.append(f"{toml_value(path)} = {draw(mostly(near, VALUE))}")
    if decisions or draw(st.booleans()):
        constraints = draw(st.lists(st.tuples(st.sampled_from(KPIS), mostly(st.sampled_from([">=", "<="]),
                                                                            st.sampled_from(["=", ">"])),
                                              mostly(st.floats(0, 1), st.floats(-1, 1000) | st.sampled_from(
                                                  [math.nan, math.inf]))),
                                    max_size=2))
        body += ["[objective]", "constraints = " + toml_value([f"{k} {op} {b}" for k, op, b in constraints])]
    if decisions:
        body.append(f"[search]\nmax_replicates = {draw(mostly(st.just('2'), VALUE))}")
    return lines(head) + "\n".join(body) + "\n" + (draw(GARBAGE) if draw(st.integers(0, 9)) == 0 else "")


@st.composite
def inputs_text(draw, table: str) -> str:
    out = []
    for path in draw(st.lists(mostly(st.sampled_from(NUMERIC), PATH), min_size=1, max_size=2, unique=True)):
        out.append(f"[{table}.{toml_value(path)}]")
        for key in draw(st.lists(st.sampled_from(["low", "high", "log", "integer", "scale", "why"]), max_size=3,
                                 unique=True)):
            base = LEAVES.get(path)
            near = (st.floats(0.25, 4.0).map(lambda f: toml_value(float(base) * f))
                    if isinstance(base, (int, float)) and not isinstance(base, bool) else st.booleans().map(toml_value))
            out.append(f"{key} = {draw(mostly(near, VALUE, 6))}")
    return "\n".join(out) + "\n"


@st.composite
def targets_text(draw) -> str:
    text = f'scenario = {toml_value(str(MMC))}\nname = "fz"\n'
    for name in draw(st.lists(st.sampled_from(["a", "b", "c d"]), min_size=1, max_size=2, unique=True)):
        lo = draw(mostly(st.floats(0, 100), st.floats(-10, 100) | st.sampled_from([math.nan, math.inf])))
        text += (f"[targets.{toml_value(name)}]\nobserved = \"x\"\nsource = \"y\"\nkpi = {toml_value(draw(st.sampled_from(KPIS)))}\n"
                 f"value = {draw(st.just(toml_value([lo, lo + 20.0])) | VALUE)}\n")
    text += (f"[calibration]\ndays = {draw(DAYS)}\nwarmup_days = 1.0\nreplicates = 2\n"
             f"waves = {draw(mostly(st.sampled_from(['1', '2']), VALUE))}\n"
             f"points = {draw(mostly(st.sampled_from(['2', '3']), VALUE))}\n")
    return text + draw(inputs_text("calibration.inputs"))


@st.composite
def sensitivity_text(draw) -> str:
    text = (f'scenario = {toml_value(str(MMC))}\nname = "fz"\ndays = {draw(DAYS)}\nwarmup_days = 1.0\n'
            f"kpis = {toml_value(draw(st.lists(st.sampled_from(KPIS), min_size=1, max_size=2)))}\n")
    text += draw(mostly(st.sampled_from(["[morris]\ntrajectories = 2\n", "[sobol]\nsamples = 2\n"]),
                        st.sampled_from(["[sobol]\nsamples = " + "9" * 7 + "\n", "", "[morris]\nlevels = 3\n"])))
    return text + draw(inputs_text("inputs"))


# ---------------------------------------------------------------- commands
@st.composite
def case(draw) -> tuple[str, list, dict[str, str]]:
    """(command, its arguments, files to write first): paths in arguments are relative to a fresh folder."""
    command = draw(st.sampled_from(["run", "run", "sweep", "optimise", "warmup", "calibrate", "sensitivity",
                                    "validate", "compare", "report", "robustness", "dash", "reproduce"]))
    files: dict[str, str] = {}
    sets = [f"--set={k}={v}" for k, v in draw(st.lists(mostly(NEAR.map(lambda pv: (pv[0], toml_value(pv[1]))),
                                                                ASSIGNMENT, 6), max_size=2))]
    if command == "run":
        files["scenario.toml"] = draw(SCENARIO)
        where = draw(st.sampled_from(["scenario.toml", str(MMC), "mmc", "nonexistent.toml"]))
        extra = draw(st.sampled_from([[], ["--json"], ["--out", "out"], ["--out", "scenario.toml"], ["--out", ""]]))
        args = [where, "--days", draw(mostly(st.sampled_from(["12", "15"]), st.sampled_from(["4", "-1", "nan", "1e9",
                                                                                             "9" * 400]))), *sets, *extra]
    elif command in ("sweep", "optimise"):
        files["e.toml"] = draw(experiment_text(decisions=command == "optimise"))
        args = ["e.toml", "--workers", "1", "--quiet"]
        args += ["--json"] if command == "optimise" else draw(st.sampled_from([[], ["--days", "3"], ["--replicates", "x"]]))
    elif command == "warmup":
        files["scenario.toml"] = draw(SCENARIO)
        args = [draw(st.sampled_from(["scenario.toml", "mmc"])), "--days", draw(st.sampled_from(["28", "14", "0"])),
                "--replicates", "1", *sets, *draw(st.sampled_from([[], ["--figure", "f/w"], ["--figure", "scenario.toml/w"]]))]
    elif command == "calibrate":
        files["t.toml"] = draw(targets_text())
        args = ["t.toml", "--workers", "1", "--quiet", "--dpi", "30", "--scenario-out", "c/c.toml"]
    elif command == "sensitivity":
        files["s.toml"] = draw(sensitivity_text())
        args = ["s.toml", "--workers", "1", "--quiet", "--dpi", "30"]
    elif command == "validate":
        args = ["mmc", *draw(st.lists(st.sampled_from(["--servers", "--arrivals-per-hour", "--service-minutes", "--days",
                                                          "--replications", "--escalation"]).flatmap(
            lambda o: st.sampled_from(["1", "3", "0", "-2", "nan", "inf", "1e30", "x"]).map(lambda v: [o, v])),
            max_size=3).map(lambda xs: [a for x in xs for a in x])), "--days", "5", "--replications", "2"]
    elif command in ("compare", "report"):
        files["folder/_manifest.json"] = draw(st.one_of(TEXT, st.just('{"spec": {}, "spec_hash": "x", "factors": []}')))
        args = [draw(st.sampled_from(["folder", "missing", "folder/_manifest.json"])),
                *draw(st.sampled_from([[], ["--baseline", "x=1"]] + ([["--kpi", "nope"]] if command == "compare" else [])))]
    elif command == "robustness":
        files["cal/plausible.parquet"] = draw(TEXT)
        args = [draw(st.sampled_from(["cal", "missing"])), "--claims", draw(st.sampled_from(["claims.toml", "cal"])),
                "--experiment", draw(TEXT), "--quiet"]
        files["claims.toml"] = draw(GARBAGE)
    elif command == "dash":
        args = ["--host", draw(st.sampled_from(["127.0.0.1", "localhost", "not a host", "999.1.1.1", ""]) | TEXT),
                "--scenario", draw(st.sampled_from(["mmc", "mmc.toml", "nope"]) | TEXT),
                "--days", draw(st.sampled_from(["28", "3", "x"])), "--results", "dash"]
    else:
        args = [draw(st.sampled_from(["E99", "", "E1.toml"]) | TEXT), "--results", "rp"]
    if command not in ("dash", "compare", "report", "reproduce", "validate" if draw(st.booleans()) else "-"):
        args += ["--max-requests", MAX_REQUESTS]
    return command, args, files


class Hang(Exception):
    """The command took longer than the fuzzer allows."""


def _alarm(signum, frame):
    raise Hang


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def check(command: str, args: list, files: dict[str, str], seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as busy:
        here = Path(tmp)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        if command == "dash":                        # never a server: its port is taken
            args = [*args, "--port", str(busy.getsockname()[1])]
        for name, text in files.items():
            (here / name).parent.mkdir(parents=True, exist_ok=True)
            (here / name).write_text(text, encoding="utf-8")
        before = files_in(here)
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            out = gridsim(command, *args, cwd=here)
        except Hang:
            pytest.fail(f"gridsim {command} {args} took more than {seconds:g} s")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        shown = f"gridsim {command} {args}\nexit {out.returncode}\nstdout: {out.stdout[-1500:]}\nstderr: {out.stderr[-3000:]}"
        after = files_in(here)
        assert not [n for n in after if PARTIAL in n or OLD in n], shown          # no temporary file left
        assert "Traceback" not in out.stderr, shown
        if out.returncode == 2:
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), shown
            assert after == before, shown                                           # nothing written
            return
        documented = {"optimise": "No option meets", "calibrate": "no point is plausible", "validate": "FAIL"}
        if out.returncode == 1:
            assert documented.get(command, "\0") in out.stdout + out.stderr, shown
        else:
            assert out.returncode == 0, shown
        consistent(command, args, here, out)


def consistent(command: str, args: list, here: Path, out) -> None:
    """What a command that succeeded promises."""
    if command == "run" and "--json" in args:
        s = json.loads(out.stdout)
        r = s["requests"]
        assert r["created"] == r["resolved"] + r["open"] + r["abandoned"]
    if command == "run" and "--out" in args:
        assert sorted(p.name for p in (here / "out").iterdir()) == [
            "census.parquet", "grids.parquet", "requests.parquet", "summary.json", "timeseries.parquet", "visits.parquet"]
    if command == "sweep":
        (folder,) = [p for p in (here / "results").iterdir()]
        stored = Store(folder)
        assert not stored.scan().problems and len(stored.runs()) >= 1
    if command == "optimise":
        assert "found" in json.loads(out.stdout)
    if command == "warmup":
        assert "warm-up needed:" in out.stdout
    if command == "calibrate" and out.returncode == 0:
        load(here / "c" / "c.toml")
    if command == "sensitivity":
        assert list((here / "results").glob("sensitivity-*/*.parquet"))


FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(max_examples=1500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(case())
def test_every_command_exits_0_or_one_error_line_fast(c):
    check(*c, seconds=60)


@pytest.mark.slow
@LONG
@given(case())
def test_every_command_exits_0_or_one_error_line_long(c):
    check(*c, seconds=120)
