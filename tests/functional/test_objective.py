"""Objectives: the [objective] table is validated like any field, and compare and the report judge
options by it (which meet every target, with what confidence, at what cost)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gridsim.analysis.objective import FAILS, MEETS, UNDECIDED, judge, objective_from
from gridsim.cli import main

from .test_experiments import run_sweep, write_spec

OBJ = '\n[objective]\nconstraints = [{constraints}]\n'

BAD = {
    "not a KPI": ('"wait_minutes.meen <= 10"', "objective.constraints[0]: 'wait_minutes.meen' is not a KPI"),
    "no such type": ('"by_type.care.sla_met_share >= 0.9"', "the scenario has no request type 'care'"),
    "strict comparison": ('"wait_minutes.mean < 10"', "the comparison must be >= or <="),
    "share as percent": ('"sla_met_share >= 90"', "is a share, a fraction from 0 to 1"),
    "no bound": ('"sla_met_share >= lots"', "the bound must be a number"),
    "not a string": ("3", "objective.constraints[0]: must be a string"),
    "twice": ('"sla_met_share >= 0.5", "sla_met_share >= 0.6"', "objective.constraints[1]: a second"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_objective_gives_one_error_line(tmp_path, capsys, case):
    constraints, expected = BAD[case]
    path = write_spec(tmp_path, body=OBJ.format(constraints=constraints))
    assert main(["sweep", str(path), "--results", str(tmp_path / "res"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err and expected in err, err


@pytest.mark.parametrize("body, expected", [
    ('\n[objective]\nminimise = "cost"\n', "objective.minimise: 'cost' is not a KPI"),
    ('\n[objective]\nconfidence = 1.5\n', "objective.confidence: must be <= 0.999"),
    ('\n[objective]\nmaximise = "sla_met_share"\n', "objective.maximise: unknown key"),
    ('\n[objective]\nconstraints = "sla_met_share >= 0.9"\n', "objective.constraints: must be a list"),
])
def test_malformed_objective_table(tmp_path, capsys, body, expected):
    path = write_spec(tmp_path, body=body)
    assert main(["sweep", str(path), "--results", str(tmp_path / "res"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def runs(values: dict[int, dict[str, list[float]]]) -> pd.DataFrame:
    rows = []
    for p, cols in values.items():
        n = len(next(iter(cols.values())))
        for r in range(n):
            rows.append({"point": p, "replicate": r, **{k: v[r] for k, v in cols.items()}})
    return pd.DataFrame(rows)


def test_verdicts_follow_the_one_sided_bound():
    obj = objective_from({"constraints": ["sla_met_share >= 0.9"]})
    table = runs({
        0: {"sla_met_share": [0.95, 0.96, 0.94, 0.95], "cost_yuan_per_year": [3e6] * 4},   # meets, dearest
        1: {"sla_met_share": [0.92, 0.88, 0.93, 0.91], "cost_yuan_per_year": [2e6] * 4},   # straddles 0.9
        2: {"sla_met_share": [0.80, 0.81, 0.79, 0.80], "cost_yuan_per_year": [1e6] * 4},   # clearly short
        3: {"sla_met_share": [0.93, 0.92, 0.94, 0.93], "cost_yuan_per_year": [2.5e6] * 4},  # meets
    })
    j = judge(table, obj, {0: "a", 1: "b", 2: "c", 3: "d"})
    verdicts = j.options.set_index("point")["verdict"].to_dict()
    assert verdicts == {0: MEETS, 1: UNDECIDED, 2: FAILS, 3: MEETS}
    assert j.chosen == 3 and j.meeting() == [3, 0] and j.closest is None
    check = j.checks.set_index("point").loc[3]
    x = np.array([0.93, 0.92, 0.94, 0.93])
    from scipy import stats
    lower = x.mean() - stats.t.ppf(0.95, 3) * x.std(ddof=1) / 2
    assert math.isclose(check["lower"], lower) and check["lower"] >= 0.9
    assert j.row(1)["replicates_meeting"] == 3 and j.row(2)["replicates_meeting"] == 0
    text = j.answer()
    assert text.startswith("The cheapest option that meets the target")
    assert "**d**" in text and "4 of 4 replicates" in text and "The next cheapest that meets it is a" in text
    assert "Cheaper but undecided" in text and "b (" in text


def test_none_meets_names_the_closest():
    obj = objective_from({"constraints": ["sla_met_share >= 0.9", "abandoned_share <= 0.01"]})
    table = runs({
        0: {"sla_met_share": [0.85, 0.86], "abandoned_share": [0.02, 0.02], "cost_yuan_per_year": [1e6, 1e6]},
        1: {"sla_met_share": [0.88, 0.89], "abandoned_share": [0.005, 0.006], "cost_yuan_per_year": [2e6, 2e6]},
    })
    j = judge(table, obj)
    assert j.chosen is None and j.closest == 1
    assert j.answer().startswith("No option meets both targets") and "The closest is **point 1**" in j.answer()


def test_undefined_kpi_cannot_meet():
    obj = objective_from({"constraints": ["sla_met_share >= 0.5"]})
    j = judge(runs({0: {"sla_met_share": [math.nan, math.nan], "cost_yuan_per_year": [1.0, 1.0]},
                    1: {"sla_met_share": [0.9, math.nan], "cost_yuan_per_year": [2.0, 2.0]}}), obj)
    assert j.row(0)["verdict"] == FAILS and j.row(1)["verdict"] != MEETS and j.chosen is None


def test_compare_and_report_judge_by_the_objective(tmp_path, capsys):
    body = OBJ.format(constraints='"wait_minutes.mean <= 12.0"') + '\n[set]\n"roles.station_head.salary_yuan" = 50000.0\n'
    path = write_spec(tmp_path, replicates=3, days=20.0, factors='"roles.station_head.per_station" = [4, 5, 6]',
                      body=body)
    run_sweep(path, tmp_path / "res")
    folder = tmp_path / "res"
    assert main(["compare", str(folder), "--baseline", "per_station=4"]) == 0
    out = capsys.readouterr().out
    assert "Judged by the experiment's [objective]:" in out
    assert "The cheapest option that meets the target" in out and "station head per station = 5" in out
    assert main(["report", str(folder), "--dpi", "40"]) == 0
    report = (folder / "_report" / "report.md").read_text()
    first = report.split("\n\n")[1]
    assert first.startswith("The cheapest option that meets the target") and "**station head per station = 5**" in first
    assert "## The targets" in report and "(the answer)" in report
    assert (folder / "_report" / "frontier.png").stat().st_size > 0
