"""Figures and `gridsim report`: files written, axes labelled, numbers equal compare(), deterministic,
failed runs reported rather than dropped."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from gridsim.analysis import figures as F
from gridsim.analysis.compare import compare, difference_unit, show_difference, show_value
from gridsim.analysis.store import Store
from gridsim.model.kpis import HEADLINE, lookup, number
from gridsim.cli import main

from ..conftest import ROOT
MEIHEKOU = ROOT / "scenarios" / "meihekou_2020.toml"
SPEC = f'''# A tiny test experiment: building leaders or not.
#
# Baseline: with building leaders.

name = "tiny_leaders"
description = "Building leaders (5,000 yuan) or none, Meihekou 2020, 9 days"
scenario = "{MEIHEKOU}"
replicates = 2
root_seed = 11
days = 9.0
warmup_days = 7.0

[options.none]
"roles.building_leader.per_building" = 0
"roles.building_leader.subsidy_yuan" = 0.0

[options.subsidy_5000]
"roles.building_leader.subsidy_yuan" = 5000.0

[baseline]
option = "subsidy_5000"

[labels]
none = "No building leaders"
'''


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A finished two-option, two-replicate sweep (about 5 s on 2 cores)."""
    tmp = tmp_path_factory.mktemp("report")
    spec = tmp / "tiny_leaders.toml"
    spec.write_text(SPEC)
    assert main(["sweep", str(spec), "--results", str(tmp / "results"), "--workers", "2", "--quiet"]) == 0
    return tmp / "results" / "tiny_leaders"


@pytest.fixture(scope="module")
def report(results):
    assert main(["report", str(results)]) == 0
    return results / "_report"


def read_runs(folder):
    return Store(folder).runs()


def labels(fig) -> list[tuple[str, str]]:
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]


def test_each_figure_writes_png_and_svg_with_labelled_axes(results, tmp_path):
    from gridsim.city import build_city
    from gridsim.experiments.spec import load_spec, run_seed
    from gridsim.model.requests import stream

    res = F.load_results(results)
    assert res.labels == {0: "No building leaders", 1: "subsidy 5000"} and res.baseline_point == 1
    spec = load_spec(results.parent.parent / "tiny_leaders.toml")
    scenario = spec.scenario_at(spec.points()[res.baseline_point])
    city = build_city(scenario, stream(run_seed(spec.root_seed, 0), "city"))
    figs = {
        "kpi": F.kpi_by_option(res, tmp_path / "kpi"),
        "frontier": F.frontier(res, tmp_path / "frontier"),
        "time": F.time_parts(res, tmp_path / "time"),
        "backlog": F.backlog(res, tmp_path / "backlog"),
        "cdf": F.resolution_cdf(res, tmp_path / "cdf"),
        "map": F.city_map(res, city, tmp_path / "map", 15.0, 15 * 75.0),
    }
    for name in figs:
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
        assert (tmp_path / f"{name}.svg").stat().st_size > 5000
    kpi = labels(figs["kpi"])
    assert kpi[0] == ("p90 resolution time from the report (h)", "option")
    assert [x for x, _ in kpi[:5]] == ["p90 resolution time from the report (h)",
                                       "requests resolved within their service-level target of the report (%)",
                                       "requests abandoned (the resident gave up waiting) (%)",
                                       "routine home visits made before the next fell due (%)",
                                       "annual cost (M yuan per year)"]
    assert labels(figs["time"])[0][0].startswith("mean hours of a resolved resident's request")
    assert [t.get_text() for t in figs["time"].axes[0].get_legend().get_texts()] == [
        "reporting", "hotline", "waiting on duty", "waiting off duty", "travel", "service"]
    assert "abandoned" in " ".join(t.get_text() for t in figs["frontier"].axes[0].get_legend().get_texts())
    assert labels(figs["frontier"])[0] == ("p90 resolution time from the report (h), mean and 95% CI",
                                           "annual cost (M yuan per year)")
    backlog = labels(figs["backlog"])
    assert backlog[0] == ("day of the simulation", "open requests (daily mean, mean over replicates)")
    assert len(backlog) == (1 if res.best_point() == res.baseline_point else 2)   # baseline and best, side by side
    assert all(x == "day of the simulation" for x, _ in backlog)
    assert labels(figs["cdf"])[0] == ("resolution time from the report (h, log scale)",
                                      "residents' reported requests resolved within that time (%)")
    assert labels(figs["map"])[0] == ("east-west (km)", "north-south (km)")
    assert "p90 wait" in figs["map"].axes[1].get_ylabel()                          # the colour bar
    # one colour per option, the same in every figure
    colour = res.colours[0]
    for fig in (figs["kpi"], figs["frontier"], figs["cdf"]):
        used = {tuple(np.round(to_rgb(line.get_color()), 4)) for ax in fig.axes for line in ax.get_lines()}
        assert tuple(np.round(colour, 4)) in used


def test_dominated_options():
    cost = np.array([10.0, 12.0, 11.0, 9.0])
    p90 = np.array([20.0, 18.0, 21.0, 25.0])
    assert F.dominated(cost, p90).tolist() == [False, False, True, False]


def _table_rows(text: str, kpi: str) -> list[list[str]]:
    block = text.split(f"(`{kpi}`)", 1)[1].split("\n\n", 2)[1]
    rows = [r.strip().strip("|").split("|") for r in block.splitlines()[2:]]
    return [[c.strip() for c in r] for r in rows]


def test_report_table_equals_compare(results, report):
    text = (report / "report.md").read_text()
    runs = read_runs(results)
    table = compare(runs, ["option"], {"option": "subsidy_5000"}, list(HEADLINE))
    labels = {0: "No building leaders", 1: "subsidy 5000"}
    checked = 0
    for kpi, block in table.groupby("kpi", sort=False):
        rows = {r[0]: r for r in _table_rows(text, kpi)}
        assert set(rows) == set(labels.values())
        for _, r in block.iterrows():
            row = rows[labels[r["point"]]]
            assert row[1] == str(r["n"]) and row[2] == show_value(kpi, r["mean"])
            if r["is_baseline"]:
                assert row[4] == "(baseline)"
                continue
            assert row[4] == show_difference(kpi, r["diff"])
            if row[4] != "-":                                          # shares differ in points, not %
                assert row[4].endswith(" pp") == (lookup(kpi).unit == "share")
            if r["n"] >= 2:
                assert row[5] == f"[{show_difference(kpi, r['ci_low'])}, {show_difference(kpi, r['ci_high'])}]"
                assert (row[6] == "yes") == bool(r["distinguishable"])
            checked += 1
    assert checked >= 10
    cost = table[(table["kpi"] == "cost_yuan_per_year") & (table["point"] == 0)].iloc[0]
    assert f"| No building leaders | {number(cost['mean'] / 1e6)} | {number(cost['diff'] / 1e6)} |" in text
    assert "Building leaders (5,000 yuan) or none" in text and "Baseline: with building leaders." in text
    assert "Warning" not in text
    for fig in F.FIGURES:
        assert (report / f"{fig}.png").stat().st_size > 0 and (report / f"{fig}.svg").stat().st_size > 0
        assert f"({fig}.png)" in text


def test_regenerating_gives_identical_files(results, report):
    before = {p.name: p.read_bytes() for p in sorted(report.iterdir())}
    assert main(["report", str(results)]) == 0
    after = {p.name: p.read_bytes() for p in sorted(report.iterdir())}
    assert before.keys() == after.keys() and "report.md" in before
    assert [n for n in before if before[n] != after[n]] == []
    # the report folder beside the runs does not disturb reading them back
    assert len(read_runs(results)) == 4


def test_baseline_override_and_errors(results, report, tmp_path, capsys):
    assert main(["report", str(results), "--baseline", "option=none"]) == 0
    text = (report / "report.md").read_text()
    assert "Baseline: `option = none` (chosen with --baseline)" in text
    assert main(["report", str(results)]) == 0                      # back to the spec's baseline for the others
    capsys.readouterr()
    for args in (["report", str(tmp_path)], ["report", str(results), "--baseline", "option=nope"],
                 ["report", str(results), "--baseline", "grid=3"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(results / "_manifest.json", empty)
    assert main(["report", str(empty)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_failed_and_missing_runs_are_reported(results, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(results, broken, ignore=shutil.ignore_patterns("_report"))
    (broken / "runs" / "p0000-r0001.parquet").unlink()
    (broken / "_failed").mkdir(exist_ok=True)
    (broken / "_failed" / "p0000-r0001.json").write_text(json.dumps(
        {"run": "p0000-r0001", "error": "RuntimeError: out of memory", "traceback": "..."}))
    assert main(["report", str(broken)]) == 0
    assert "1 run(s) failed" in capsys.readouterr().err
    text = (broken / "_report" / "report.md").read_text()
    head = text.split("## The question")[0]
    assert "Warning: incomplete results" in head
    assert "1 run(s) failed" in head and "p0000-r0001" in head and "out of memory" in head
    assert re.search(r"No building leaders \(point 0\): 1 of 2", head)
    rows = {r[0]: r for r in _table_rows(text, "resolution_hours.p50")}
    assert rows["No building leaders"][1] == "1" and rows["No building leaders"][6] == "one replicate: no interval"


def test_forest_plot_of_paired_differences(results, tmp_path):
    res = F.load_results(results)
    fig = F.differences(res, tmp_path / "diff")
    assert (tmp_path / "diff.png").stat().st_size > 5000 and (tmp_path / "diff.svg").is_file()
    axes = fig.axes
    shown = [k for k in F.HEADLINE_FIGURE_KPIS if k in set(res.table["kpi"])]
    assert [ax.get_xlabel() for ax in axes] == [f"difference from baseline ({difference_unit(k)})" for k in shown]
    assert "difference from baseline (pp)" in [ax.get_xlabel() for ax in axes]
    assert axes[-1].get_xlabel() == "difference from baseline (M yuan per year)"
    assert axes[0].get_title() == "P90 resolution time from the\nreport\n(better: left of 0)"
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["No building leaders"]   # the baseline is 0
    row = res.table[(res.table["point"] == 0) & (res.table["kpi"] == "cost_yuan_per_year")].iloc[0]
    marker = axes[-1].lines[0]
    assert marker.get_xdata()[0] == pytest.approx(row["diff"] * 1e-6)
    assert (marker.get_markerfacecolor() == "white") == (not row["distinguishable"])
    assert any(line.get_xdata()[0] == 0 for line in axes[0].lines)                   # the zero line
    p90 = res.table[(res.table["point"] == 0) & (res.table["kpi"] == "resolution_hours.p90")].iloc[0]
    if p90["diff"] != p90["diff"]:                              # undefined: marked where its point would be
        assert [t.get_text() for t in axes[0].texts] == ["undefined: never reached"]


def test_service_level_targets_are_drawn(results, tmp_path):
    res = F.load_results(results)
    targets = res.sla_hours()
    assert targets and all(v > 0 for v in targets.values())
    fig = F.resolution_cdf(res, tmp_path / "cdf")
    drawn = {float(line.get_xdata()[0]) for line in fig.axes[0].lines if line.get_color() == "#d62728"}
    assert drawn == set(targets.values())
    kind = sorted(targets)[0]
    fig = F.kpi_by_option(res, tmp_path / "kpi", kpis=(f"by_type.{kind}.resolution_hours.p90",))
    assert {float(line.get_xdata()[0]) for line in fig.axes[0].lines if line.get_color() == "#d62728"} \
        == {targets[kind]}
    assert fig.axes[0].get_xlabel() == f"{kind}: p90 resolution time from the report (h)"


def test_dpi_sets_the_png_resolution(results, tmp_path):
    res = F.load_results(results)
    sizes = {}
    for dpi in (50, 100):
        F.kpi_by_option(res, tmp_path / f"k{dpi}", dpi=dpi)
        head = (tmp_path / f"k{dpi}.png").read_bytes()[16:24]
        sizes[dpi] = (int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big"))
    assert sizes[100][0] == pytest.approx(2 * sizes[50][0], abs=2)


def test_figures_leave_matplotlib_settings_alone():
    import subprocess
    import sys
    code = ("import matplotlib, sys\n"
            "raw = lambda: {k: dict.__getitem__(matplotlib.rcParams, k) for k in matplotlib.rcParams}\n"
            "before = raw()\n"
            "import gridsim.analysis.figures, gridsim.analysis.report\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            "assert raw() == before\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
