"""Scenario discovery (PRIM): a known region of the unconstrained inputs is found and said plainly."""

import numpy as np
import pandas as pd

from gridsim.analysis.discovery import prim, sentence


def cloud(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"report_delays": rng.uniform(0.5, 2.0, n), "head_start": rng.uniform(0.1, 1.0, n),
                         "noise": rng.uniform(0, 1, n)})


def test_prim_finds_the_region_where_an_option_meets_and_leaves_irrelevant_inputs_free():
    x = cloud()
    meets = (x["report_delays"] < 1.2) & (x["head_start"] > 0.4)
    box = prim(x, meets.to_numpy())
    assert set(box.limits) == {"report_delays", "head_start"}           # "noise" is not part of the answer
    assert abs(box.limits["report_delays"][1] - 1.2) < 0.1 and box.limits["report_delays"][0] == -np.inf
    assert abs(box.limits["head_start"][0] - 0.4) < 0.08 and box.limits["head_start"][1] == np.inf
    assert box.density >= 0.9 and box.coverage > 0.8
    text = sentence("4 grid leaders", "every target", box, len(x), int(meets.sum()))
    assert "wherever report_delays is below 1.2 and head_start is above 0.39 (" in text


def test_a_little_noise_does_not_hide_the_region():
    x = cloud(seed=2)
    rng = np.random.default_rng(3)
    meets = ((x["report_delays"] < 1.0) ^ (rng.random(len(x)) < 0.05)).to_numpy()   # 5% of runs flip
    box = prim(x, meets)
    assert list(box.limits) == ["report_delays"] and abs(box.limits["report_delays"][1] - 1.0) < 0.12


def test_everywhere_and_nowhere_are_said_as_such():
    x = cloud(200)
    everywhere = prim(x, np.ones(len(x), dtype=bool))
    assert everywhere.everywhere and everywhere.coverage == 1.0
    assert "across the whole range" in sentence("A", "its targets", everywhere, 200, 200)
    assert prim(x, np.zeros(len(x), dtype=bool)) is None
    assert "nowhere" in sentence("A", "its targets", None, 200, 0)
    scattered = np.random.default_rng(4).random(len(x)) < 0.3          # meets at random: no region
    assert prim(x, scattered) is None
