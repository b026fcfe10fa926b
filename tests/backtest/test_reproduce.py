"""Back tests: the quick reference of a study experiment reproduces; a moved KPI is caught."""

import copy
import json

from gridsim.analysis.compare import kpis_for
from gridsim.experiments import reproduce as rp

from ..conftest import gridsim




def test_quick_back_test_of_E3_passes(tmp_path):
    out = gridsim("reproduce", "E3", "--quick", "--results", str(tmp_path))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    spec = rp.spec_for(rp.find("E3"), quick=True)
    n = 3 * len(kpis_for({"spec": spec.data()}))  # three options
    assert f"{n} of {n} KPIs within the reference's 95% CI" in out.stdout
    assert "FAIL" not in out.stdout


def test_every_study_experiment_has_both_references():
    for key, path in rp.study_experiments().items():
        for quick in (False, True):
            spec = rp.spec_for(path, quick)
            ref = json.loads(rp.reference_file(spec, quick).read_text())
            assert ref["spec_hash"] == spec.hash(), (key, quick)
            assert len(ref["points"]) == len(spec.points())


def test_a_kpi_outside_the_reference_ci_fails():
    spec = rp.spec_for(rp.find("E3"), quick=True)
    reference = rp.read_reference(spec, quick=True)
    moved = copy.deepcopy(reference)
    # the median: a quick run's 7 days measured may leave the p90 undefined (Kaplan-Meier short of 90%)
    point = next(p for p in moved["points"] if p["kpis"]["resolution_hours.p50"]["n"] >= 2)
    k = point["kpis"]["resolution_hours.p50"]
    k["mean"] += 2 * k["half_width"] + 1
    lines = rp.check(reference, moved)
    failed = [line for line in lines if not line.passed]
    assert [(line.label, line.kpi) for line in failed] == [(point["label"], "resolution_hours.p50")]
    assert str(failed[0]).startswith("FAIL")


def test_bad_requests_are_one_line_errors():
    for args, text in ((["reproduce"], "name experiments"), (["reproduce", "E99"], "unknown experiment")):
        out = gridsim(*args)
        assert out.returncode == 2 and out.stderr.startswith("error:") and text in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
