"""The warm-up statistic: MSER with weekly batches finds an initial transient and ignores noise;
too short a run gets no answer rather than 0, and an answer at MSER's limit says so."""

import numpy as np
import pytest

from gridsim.analysis.warmup import BATCH, MIN_DAYS, describe, longest, mser
from gridsim.cli import main

from ..conftest import gridsim


def test_mser_cuts_the_transient_and_not_a_stationary_series():
    rng = np.random.default_rng(0)
    days = np.arange(280)
    stationary = 100 + rng.normal(0, 5, len(days))
    assert mser(stationary) <= 2 * BATCH
    ramp = np.where(days < 70, days / 70 * 100, 100) + rng.normal(0, 5, len(days))
    assert 56 <= mser(ramp) <= 84
    with pytest.raises(ValueError, match="at least 4 batches"):
        mser(ramp[:20])                  # too short to judge: no answer, not "0 days"
    assert mser(np.arange(MIN_DAYS, dtype=float)) <= longest(MIN_DAYS)


def test_gridsim_warmup_prints_each_series_and_the_warmup(capsys, tmp_path):
    assert main(["warmup", "mmc", "--days", "42", "--replicates", "2", "--figure", str(tmp_path / "new" / "w")]) == 0
    out = capsys.readouterr().out
    assert "waiting in queues" in out and "residents open" in out and "warm-up needed:" in out
    assert (tmp_path / "new" / "w.png").exists() and (tmp_path / "new" / "w.svg").exists()


def test_an_answer_at_mser_limit_says_so():
    days = 56
    drifting = mser(np.arange(days, dtype=float))            # a series that never settles
    assert drifting == longest(days) == 28
    lines = describe({"residents_open": drifting, "trust": 0}, days)
    assert "still drifting" in lines[0] and "still drifting" not in lines[1]
    assert lines[-1] == "warm-up needed: 28 days or more: MSER cannot tell more than half of a 56-day run; run longer to see"
    assert describe({"trust": 7}, days)[-1] == "warm-up needed: 7 days"


@pytest.mark.parametrize("args, names", [
    (["mmc", "--days", "14"], "--days 14: MSER needs at least four weekly batches: give --days 28"),
    (["meihekou_2020", "--days", "36500"], "gridsim warmup meihekou_2020: one run would need about"),
])
def test_warmup_refuses_before_running_what_it_cannot_answer(args, names, tmp_path):
    out = gridsim("warmup", *args, "--figure", tmp_path / "w")
    assert out.returncode == 2 and out.stderr.startswith("error:") and names in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
