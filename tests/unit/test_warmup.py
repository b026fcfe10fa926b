"""The warm-up statistic: MSER with weekly batches finds an initial transient and ignores noise."""

import numpy as np

from gridsim.analysis.warmup import BATCH, mser
from gridsim.cli import main


def test_mser_cuts_the_transient_and_not_a_stationary_series():
    rng = np.random.default_rng(0)
    days = np.arange(280)
    stationary = 100 + rng.normal(0, 5, len(days))
    assert mser(stationary) <= 2 * BATCH
    ramp = np.where(days < 70, days / 70 * 100, 100) + rng.normal(0, 5, len(days))
    assert 56 <= mser(ramp) <= 84
    assert mser(ramp[:20]) == 0          # too short to judge


def test_gridsim_warmup_prints_each_series_and_the_warmup(capsys, tmp_path):
    assert main(["warmup", "mmc", "--days", "42", "--replicates", "2", "--figure", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "waiting in queues" in out and "residents open" in out and "warm-up needed:" in out
    assert (tmp_path / "w.png").exists() and (tmp_path / "w.svg").exists()
