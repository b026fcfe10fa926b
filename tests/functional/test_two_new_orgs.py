"""The "two new" organisations (两新组织) take up micro-wishes, and the counts a city reports."""

import math

from gridsim.model.kpis import lookup
from gridsim.scenario import ROLES, load

from ..conftest import SCENARIOS


def test_two_new_org_is_the_last_role_and_meihekou_has_72(meihekou):
    assert ROLES[-2:] == ("two_new_org", "duty_leader")        # roles added later come last
    assert meihekou.roles.two_new_org.count == 72
    assert [s.roles for s in meihekou.requests["wish"].stages] == [("volunteer",), ("two_new_org",),
                                                                   ("community_worker",)]
    assert load(SCENARIOS / "meihekou_2018.toml").roles.two_new_org.count == 0


def test_wishes_passed_on_by_volunteers_reach_the_organisations(week_run):
    visits, requests = week_run.tables["visits"], week_run.tables["requests"]
    wish = requests.index[requests["type"] == "wish"]
    staged = visits[visits["request"].isin(wish) & (visits["stage"] >= 0)]      # after any reception's triage
    roles = staged.groupby("request")["role"].apply(lambda r: tuple(r.astype(str)))
    assert any(r[:2] == ("volunteer", "two_new_org") for r in roles)
    assert all(r[0] == "volunteer" for r in roles)          # every household has volunteers in 2020
    assert set(visits.loc[visits["role"] == "two_new_org", "request"]) <= set(wish)
    by_role = week_run.summary["by_type"]["wish"]["resolved_per_year"]
    assert by_role["two_new_org"] > 0 and by_role["volunteer"] > by_role["two_new_org"]


def test_resolved_per_year_counts_resolutions_in_the_window_by_last_handler(week_run):
    s, req = week_run.summary, week_run.tables["requests"]
    t0, horizon = s["warmup_days"] * 1440, s["days"] * 1440
    per_year = 365 * 1440 / (horizon - t0)
    done = req[(req["outcome"] == "resolved") & (req["ended_minute"] >= t0) & (req["origin"] == "resident")]
    assert math.isclose(sum(s["resolved_per_year"].values()), len(done) * per_year)
    assert math.isclose(s["resolved_per_year"]["alliance"], (done["handled_by"] == "alliance").sum() * per_year)
    by_type = sum(s["by_type"][t]["resolved_per_year"]["volunteer"] for t in s["by_type"])
    assert math.isclose(by_type, s["resolved_per_year"]["volunteer"])    # routine visits are grid leaders'
    created = ((req["origin"] == "resident") & (req["created_minute"] >= t0)).sum()
    assert math.isclose(s["per_resident_year"]["requests"], created * per_year / 400_000)
    calls = ((week_run.tables["visits"]["role"] == "hotline") & (week_run.tables["visits"]["start_minute"] >= t0)).sum()
    assert math.isclose(s["per_resident_year"]["hotline_calls"], calls * per_year / 400_000)


def test_the_new_kpis_are_in_the_kpi_table():
    assert lookup("resolved_per_year.alliance").label == "requests resolved a year by the alliance"
    k = lookup("by_type.wish.resolved_per_year.two_new_org")
    assert k.label == "wish: requests resolved a year by the two new org" and k.unit == "requests/year"
    assert lookup("per_resident_year.requests") is not None
    assert lookup("by_type.wish.resolved_per_year") is None and lookup("resolved_per_year.a.b") is None

