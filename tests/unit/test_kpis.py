"""The KPI table: one entry per KPI, names that exist in a run's summary, labels and units for readers."""

import math

from gridsim.analysis.store import flatten
from gridsim.model.kpis import HEADLINE, TABLE, is_kpi, lookup, number
from gridsim.model.run import simulate, summarised
from gridsim.scenario import load, with_overrides

from ..conftest import ROOT


def test_every_declared_kpi_is_in_a_run_summary(week_run):
    columns = flatten(week_run.summary)
    missing = [k.name for k in TABLE if k.name not in columns] + [k for k in HEADLINE if k not in columns]
    assert missing == []
    for name in HEADLINE:
        assert isinstance(columns[name], (int, float)) and lookup(name) is not None


def test_families_and_non_kpis():
    u = lookup("utilisation.grid_leader")
    assert u.label == "grid leader utilisation" and u.axis_label == "grid leader utilisation (%)" and u.scale == 100
    t = lookup("by_type.safety.sla_met_share")
    assert t.label == "safety: requests resolved within their service-level target of the report"
    assert t.better == "higher"
    for name in ("point", "replicate", "seed", "scenario", "by_type.safety", "utilisation", "staff.police",
                 "roles.police.per_station"):
        assert not is_kpi(name), name


def test_shown_values_carry_their_units():
    assert lookup("cost_yuan_per_year").show(12_400_000.0) == "12.40 M yuan per year"
    assert lookup("sla_met_share").show(0.853) == "85.30%"
    assert lookup("resolution_hours.p90").show(31.24) == "31.24 h"
    assert lookup("requests.created").show(951_000) == "951,000"
    assert lookup("wait_minutes.mean").show(math.nan) == "-"
    assert [k.better for k in TABLE if k.unit in ("h", "min")] == ["lower"] * sum(k.unit in ("h", "min") for k in TABLE)
    assert number(math.inf) == "inf" and number(0.01234) == "0.0123"


def test_a_summary_of_some_kpis_holds_each_with_the_whole_summarys_value(meihekou, week_run):
    """`only` leaves out the figures no KPI asked for lies under, and the rest are the whole summary's
    numbers: one KPI of each family, together and alone, and a calibration's targets (counts only:
    no group's KPIs, percentiles, loads or costs are made for them)."""
    whole = flatten(week_run.summary)
    scenario = with_overrides(meihekou, [("run.days", 14.0)])
    families = ["sla_met_share", "resolution_hours.p90", "by_type.care.wait_minutes.p50",
                "by_type.wish.resolved_per_year.volunteer", "by_walk_band.0-5.requests.created",
                "utilisation.grid_leader", "cost_breakdown.pay_police", "cost_yuan_per_year", "all_requests.open",
                "trust.p10", "per_resident_year.hotline_calls"]
    assert all(name in whole for name in families)
    for only in [families, *([name] for name in families)]:
        part = flatten(summarised(scenario, seed=1, only=only))
        assert {name: part[name] for name in only} == {name: whole[name] for name in only}
        assert len(part) < len(whole)
    targets = ["resolved_per_year.alliance", "by_type.wish.resolved_per_year.two_new_org", "per_resident_year.requests"]
    part = flatten(summarised(scenario, seed=1, only=targets))
    assert {name: part[name] for name in targets} == {name: whole[name] for name in targets}
    assert not any(name.startswith(("sla_met", "utilisation", "cost", "by_walk_band")) or "wait_minutes" in name
                   for name in part)


def test_a_summary_of_a_quarters_kpis_takes_the_census_they_read():
    """A quarter's trust at its end is read from the daily census, which a summary of other KPIs goes
    without (`metrics.reads_census`): asked for, it is there and is the whole run's."""
    small = with_overrides(load(ROOT / "tests" / "data" / "small_city.toml"), [("run.days", 130.0),
                                                                            ("run.warmup_days", 7.0)])
    whole = flatten(simulate(small, seed=2).summary)
    quarter = ["by_quarter.q1.trust_end", "by_quarter.q1.hotline_calls_per_day", "by_quarter.q1.sla_met_share"]
    assert all(isinstance(whole[name], float) for name in quarter)
    part = flatten(summarised(small, seed=2, only=quarter))
    assert {name: part[name] for name in quarter} == {name: whole[name] for name in quarter}
