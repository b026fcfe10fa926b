"""Results as a notebook shows them: short repr, HTML, a flat KPI table, residents' requests apart
from home visits, timestamps, save(); for one run, a sweep and an optimisation."""

import pandas as pd
import pytest

import gridsim
from gridsim.model.kpis import HEADLINE, lookup
from gridsim.model.outputs import written


def test_a_run_prints_short_and_shows_its_headline_as_html(week_run):
    assert len(repr(week_run)) < 250 and "meihekou_2020" in repr(week_run)
    page = week_run._repr_html_()
    assert all(lookup(name).title.replace("'", "&#x27;") in page for name in HEADLINE)


def test_a_runs_kpis_are_one_flat_table_from_the_kpi_table(week_run):
    kpis = week_run.kpis
    assert list(kpis.columns) == ["name", "label", "unit", "value", "shown"]
    assert kpis["name"].is_unique and len(kpis) > 100
    assert all(lookup(n).label == label for n, label in zip(kpis["name"], kpis["label"]))
    row = kpis.set_index("name").loc["by_type.care.sla_met_share"]
    assert row["value"] == week_run.summary["by_type"]["care"]["sla_met_share"] and row["unit"] == "share"
    assert row["label"] == "care: " + lookup("sla_met_share").label


def test_requests_are_residents_and_home_visits_apart_with_timestamps(week_run):
    requests, home = week_run.requests, week_run.home_visits
    assert set(requests["origin"]) == {"resident"} and set(home["type"]) == {"visit"}
    assert len(requests) + len(home) == len(week_run.tables["requests"])
    assert pd.api.types.is_datetime64_any_dtype(requests["created"]) and "created_minute" not in requests
    start = pd.Timestamp("2020-01-06")         # a problem may arise before the run starts (and be reported in it)
    after = requests["created"] >= start
    assert after.sum() == week_run.summary["requests"]["created"]          # no warm-up in this scenario
    assert requests["created"].max() <= start + pd.Timedelta(days=14)
    assert pd.api.types.is_datetime64_any_dtype(week_run.visits["start"])


def test_timestamps_start_where_asked_on_a_monday():
    later = gridsim.simulate("mmc", days=11, start="2021-03-01")
    assert later.requests["created"].min() >= pd.Timestamp("2021-03-01") > later.requests["created"].min() - \
        pd.Timedelta(hours=1)
    with pytest.raises(ValueError, match="start=2020-01-07 00:00:00: must be a Monday 00:00"):
        gridsim.simulate("mmc", days=11, start="2020-01-07")


def test_save_writes_what_run_out_writes(tmp_path):
    from ..conftest import gridsim as command
    assert command("run", "mmc", "--days", "11", "--seed", "3", "--out", tmp_path / "cli").returncode == 0
    result = gridsim.simulate("mmc", seed=3, days=11)
    saved = sorted(p.name for p in result.save(tmp_path / "api"))
    assert saved == sorted(written(result)) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    for name in saved:
        cli, api = tmp_path / "cli" / name, tmp_path / "api" / name
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(cli), pd.read_parquet(api))
        else:
            assert cli.read_text() == api.read_text()


SPEC = {"name": "servers", "scenario": "mmc", "days": 14.0, "warmup_days": 4.0, "replicates": 3, "root_seed": 7,
        "factors": {"roles.station_head.per_station": [4, 5]}, "baseline": {"roles.station_head.per_station": 4}}


def test_a_sweep_shows_each_options_kpis_with_intervals_and_saves_its_report(tmp_path):
    done = gridsim.sweep(gridsim.experiment(SPEC), tmp_path, workers=2)
    assert repr(done) == f"<SweepResult 2 options x 3 replicates (6 runs) in {tmp_path}/servers; .kpis .runs .compare() .save(folder)>"
    kpis = done.kpis
    assert list(kpis.columns) == ["point", "option", "name", "label", "unit", "mean", "ci_low", "ci_high", "n"]
    wait = kpis[(kpis["name"] == "wait_minutes.p90")].set_index("option")
    five = done.runs.loc[done.runs["point"] == 1, "wait_minutes.p90"]
    assert wait.loc["station head per station = 5", "mean"] == pytest.approx(five.mean())
    assert (wait["ci_low"] < wait["mean"]).all() and (wait["n"] == 3).all()
    assert "P90 wait before first contact" in done._repr_html_()
    report = done.save(tmp_path / "report")
    assert report == tmp_path / "report" / "report.md" and len(list(report.parent.glob("*.png"))) >= 7


def test_an_optimisation_answers_in_its_repr(tmp_path):
    spec = {**SPEC, "name": "cheapest", "factors": {}, "decisions": {"roles.station_head.per_station": [4, 5, 6]},
            "objective": {"constraints": ["wait_minutes.mean <= 10"]}, "search": {"max_replicates": 3}}
    del spec["baseline"]
    out = gridsim.optimise(spec, tmp_path, workers=2)
    assert repr(out).startswith("<OptimiseResult: The cheapest option that meets")
    assert out.judgement.label(out.chosen) in repr(out) and out.judgement.answer().replace("**", "") in repr(out)
    assert set(out.kpis["option"]) >= {out.judgement.label(out.chosen)}
