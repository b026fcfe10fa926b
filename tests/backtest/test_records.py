"""Back test at the level of records: small runs' full records, committed, regenerated and compared
exactly (as pydesrap_mms's `test_backtest.py`), so "the rewrite changes nothing" is a test.

Each case is the small test city for 14 days from seed 1: as it is (the "after" cover rule, home
visits that find problems, receptions a visit makes unnecessary), with a duty leader at each
station (out-of-hours stand-ins, the hand-over at the end of their shift), and with residents who
start at trust 0.6 (12345 calls, silence, residents who give up and come back); and with the grid
leaders of a station sharing one queue, some of their places vacant for five days, an alliance
meeting every three days and more wishes and hard problems (volunteers, the "two new"
organisations, meetings, places that change). What is compared:
the visit and request records (`metrics.tables`) and the summary, every number of it, to the last
bit. The scenario's hash is left out of the summary: it names the scenario file, not what the
model did with it, and changes whenever a field is added to the schema.

An intended change of the records regenerates them deliberately, in the commit that makes it and
says why (`--check` compares instead, as the tests do):

    .venv/bin/python -m tests.backtest.test_records
"""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridsim.model import GridModel, metrics
from gridsim.scenario import load, with_overrides

ROOT = Path(__file__).resolve().parent.parent.parent
RECORDS = ROOT / "tests" / "data" / "records"
CASES = {
    "small_city": [],
    "duty_leader": ["roles.duty_leader.per_station=1"],
    "low_trust": ["residents.initial_trust=0.6"],
    "station_pool": ["roles.grid_leader.cover='station'", "roles.grid_leader.min_per_station=4",
                     "roles.grid_leader.vacancies=[{from_day=3, to_day=8, share=0.3}]",
                     "roles.alliance.meeting_interval_days=3", "requests.hard.rate_per_household_year=0.1",
                     "requests.wish.rate_per_household_year=0.04"],
}
SEED, DAYS = 1, 14
UNCOMPARED = ("scenario_hash",)


def run(case: str) -> dict[str, pd.DataFrame]:
    """The case's records as freshly simulated: visits, requests and the summary (one row a number)."""
    scenario = with_overrides(load(ROOT / "tests" / "data" / "small_city.toml"), CASES[case])
    model = GridModel(scenario, rng=SEED, days=DAYS)
    model.run()
    visits, requests = metrics.tables(model, release=True)    # (as `simulate` makes them)
    return {"visits": visits, "requests": requests, "summary": flat(metrics.summary(model, requests, visits))}


def flat(summary: dict, prefix: str = "") -> pd.DataFrame:
    """The nested summary as rows (name, number, text): numbers as float64 (None as nan), anything
    else as text, so Parquet stores it and a comparison sees every digit."""
    rows = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if name in UNCOMPARED:
            continue
        if isinstance(value, dict):
            rows.append(flat(value, name + "."))
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool) or value is None:
            rows.append(pd.DataFrame({"name": [name], "number": [np.nan if value is None else float(value)],
                                      "text": [None]}))
        else:
            rows.append(pd.DataFrame({"name": [name], "number": [np.nan], "text": [str(value)]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"name": [], "number": [], "text": []})


def stored(case: str, table: str) -> Path:
    return RECORDS / f"{case}.{table}.parquet"


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as Parquet gives it back (dtypes as this pandas reads them): compared like for like."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return pd.read_parquet(buffer)


@pytest.mark.parametrize("case", list(CASES))
def test_the_records_of_a_small_run_are_as_committed(case):
    fresh = run(case)
    assert len(fresh["visits"]) > 1000
    for table, frame in fresh.items():
        pd.testing.assert_frame_equal(as_stored(frame), pd.read_parquet(stored(case, table)), check_exact=True,
                                      obj=f"{case} {table}")


@pytest.mark.parametrize("case", ["small_city", "low_trust"])
def test_the_records_are_the_same_drawn_and_planned_a_window_at_a_time(case, monkeypatch):
    """The build draws and plans the requests a window at a time (`requests.WINDOW_DAYS`), each
    window's draws those drawing them all at once gives: windows of 1.3 days (not
    whole hours, so a type's requests of one hour fall in two windows) give the committed records."""
    from gridsim.model import requests
    monkeypatch.setattr(requests, "WINDOW_DAYS", 1.3)
    test_the_records_of_a_small_run_are_as_committed(case)


@pytest.mark.parametrize("case", ["small_city", "low_trust"])
def test_the_records_are_the_same_on_files_given_back_often(case, monkeypatch):
    """A long run keeps its records, tables and clocks on files and hands their pages back as it
    goes (`spill`): with every run on files, pages given back every 256 requests and every half
    day, the committed records and summary."""
    from gridsim.model import spill
    made = []
    mapped = spill._mapped
    monkeypatch.setattr(spill, "_mapped", lambda size: made.append(size) or mapped(size))
    monkeypatch.setattr(spill, "FROM_REQUESTS", 0)
    monkeypatch.setattr(spill, "GIVE_BACK_EVERY", 256)
    monkeypatch.setattr(spill, "CHECK_DAYS", 0.5)
    test_the_records_of_a_small_run_are_as_committed(case)
    assert len(made) >= 6           # the records, the arrivals, the census's times, the tables and the clocks


def test_the_cases_reach_the_journey_s_rarer_turns():
    """What each case is there for happens in it (so the comparison covers those handlers)."""
    requests = {case: pd.read_parquet(stored(case, "requests")) for case in CASES}
    visits = {case: pd.read_parquet(stored(case, "visits")) for case in CASES}
    small, duty, low = requests["small_city"], visits["duty_leader"], requests["low_trust"]
    assert (small["channel"] == "visit").sum() > 10                  # home visits find problems
    assert (duty["role"] == "duty_leader").sum() > 20
    assert (low["channel"] == "hotline").sum() > 20 and low["silent"].sum() > 20
    assert (low["repeat_of"] >= 0).sum() > 5 and (low["outcome"] == "abandoned").sum() > 20
    pool = visits["station_pool"]
    assert min((pool["role"] == role).sum() for role in ("alliance", "volunteer", "two_new_org")) > 2


def test_the_journey_run_as_plain_python_gives_the_same_records():
    """NUMBA_DISABLE_JIT=1 runs journey.py's text as plain Python (to step through it): same records."""
    done = subprocess.run([sys.executable, "-m", "tests.backtest.test_records", "--check"], cwd=ROOT,
                          env={**os.environ, "NUMBA_DISABLE_JIT": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("as committed") == len(CASES)



def test_records_refuse_more_rows_than_their_int32_indices_count():
    """Indices are int32 (records.INDEX_LIMIT): a run that would need more rows is refused, saying
    how to split it, before anything is allocated."""
    from gridsim.model import records
    small = records.allocate(records.Visits, records.VISIT, 2, 4, request=np.array([0, 1]))
    assert small.request.dtype == np.int32 and small.request[:2].tolist() == [0, 1]
    for make in (lambda: records.allocate(records.Visits, records.VISIT, 0, records.INDEX_LIMIT + 1),
                 lambda: records.grown(small, 2, records.INDEX_LIMIT + 1)):
        with pytest.raises(ValueError, match=r"int32 indices .*--by-district"):
            make()


def check() -> None:
    """Every case's records, regenerated and compared with the committed ones."""
    for case in CASES:
        test_the_records_of_a_small_run_are_as_committed(case)
        print(f"{case}: as committed")


def regenerate() -> None:
    """Regenerate every case's records (a deliberate change: say why in the commit)."""
    RECORDS.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        for table, frame in run(case).items():
            frame.to_parquet(stored(case, table), index=False, compression="zstd")
            print(f"{stored(case, table).relative_to(ROOT)}: {len(frame):,} rows")


if __name__ == "__main__":
    check() if sys.argv[1:] == ["--check"] else regenerate()
