"""Shared fixtures: the bundled scenarios, and one short Meihekou run reused by many tests; the
`gridsim` command in this process, and in a process killed mid-run."""

import contextlib
import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gridsim.model.run import simulate
from gridsim.scenario import load

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def pytest_configure(config):
    """The journey compiled once, in the process that starts the others: pytest-xdist's workers then
    load it from numba's cache instead of each compiling it at once (only the first run on a machine
    compiles; later ones find the cache)."""
    if not hasattr(config, "workerinput"):
        from gridsim.model.model import GridModel

        GridModel("mmc", days=1).run()


@pytest.fixture(scope="session")
def meihekou():
    return load(SCENARIOS / "meihekou_2020.toml")


@pytest.fixture(scope="session")
def mmc():
    return load(SCENARIOS / "validation" / "mmc.toml")


@pytest.fixture(scope="session")
def week_run(meihekou):
    """Meihekou 2020, 14 days, seed 1: the full city, short enough for the default suite."""
    return simulate(meihekou, seed=1, days=14)


def gridsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The `gridsim` command run in this process (much quicker than a subprocess), with its exit
    status and what it printed, as subprocess.run would report them."""
    from gridsim.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(map(str, args)))
            except SystemExit as stop:          # --help, --version
                code = stop.code or 0
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["gridsim", *args], code, out.getvalue(), err.getvalue())


def kill_after(cmd: list[str], runs: Path, count: int, timeout: float = 120) -> None:
    """Start `cmd` in a session of its own and kill it (SIGKILL: no chance to tidy up) as soon as
    the folder `runs` holds `count` stored runs, or when it ends or `timeout` seconds pass first."""
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if runs.is_dir() and len(list(runs.glob("*.parquet"))) >= count:
                break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
