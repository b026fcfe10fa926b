"""A report of many options stays readable: no layout warnings, legends that name the options the
figure is about and say how many more there are; what the report says about them is true."""

import warnings

import gridsim
from gridsim.analysis import figures as F
from gridsim.analysis.compare import format_table

SPEC = {"name": "twelve", "scenario": "mmc", "days": 4.0, "warmup_days": 1.0, "replicates": 2, "root_seed": 5,
        "set": {"roles.station_head.per_station": 9},
        "factors": {"roles.station_head.per_station": [4, 5, 6, 7, 8, 9],
                    "requests.errand.service.station_head.mean_minutes": [25.0, 30.0]},
        "baseline": {"roles.station_head.per_station": 6, "requests.errand.service.station_head.mean_minutes": 30.0},
        "objective": {"constraints": ["wait_minutes.mean <= 15"]}}


def test_a_report_of_twelve_options_lays_out_and_names_what_it_shows(tmp_path):
    done = gridsim.sweep(gridsim.experiment(SPEC), tmp_path, workers=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = done.save(dpi=40)
    assert not [w for w in caught if "layout" in str(w.message)], [str(w.message) for w in caught]
    res = F.load_results(done.folder)
    assert len(res.points) == 12 > F.MANY
    for draw in (F.frontier, F.resolution_cdf):
        fig = draw(res, tmp_path / draw.__name__, dpi=40)
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert len(texts) <= F.MANY and "more options" in texts[-1] and "report.md lists every one" in texts[-1]
    text = report.read_text()
    assert "Held the same for every option" not in text          # its only [set] path is a factor
    assert sum(line.startswith("| ") and "per station" in line for line in text.splitlines()) >= 12


def test_an_option_whose_kpi_is_undefined_is_marked_not_dropped(tmp_path):
    spec = {**SPEC, "name": "slow", "days": 6.0, "warmup_days": 2.0, "objective": {},
            "factors": {"roles.station_head.per_station": [4, 6]},
            "baseline": {"roles.station_head.per_station": 6}, "set": {"requests.errand.patience_hours": 0.05}}
    del spec["objective"]
    done = gridsim.sweep(gridsim.experiment(spec), tmp_path, workers=2)
    res = F.load_results(done.folder)
    undefined = [k for k in ("resolution_hours.p90", "resolution_hours.p50") if res.stats(k)["mean"].isna().any()]
    assert undefined, "the patience is short enough that a percentile is never reached"
    fig = F.kpi_by_option(res, tmp_path / "kpis", kpis=undefined, dpi=40)
    assert "undefined: never reached" in [t.get_text() for t in fig.axes[0].texts]
    compared = done.compare(kpis=undefined)
    short = compared[compared["n"] < compared["replicates"]]
    assert len(short)
    text = format_table(compared)
    for n, replicates in zip(short["n"], short["replicates"]):
        assert (f"defined for both in {n} of {replicates} replicates: no interval" if n else
                "undefined for the option or the baseline in every replicate: no difference") in text
    assert "n < 2" not in text


def test_every_document_that_lists_the_reports_figures_lists_all_of_them():
    from ..conftest import ROOT
    docs = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            if "`differences.png`" in p.read_text()]
    assert docs
    for doc in docs:
        missing = [fig for fig in F.FIGURES if f"`{fig}.png`" not in doc.read_text()]
        assert not missing, f"{doc.name} does not list {missing}"
