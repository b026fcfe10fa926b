"""The KPI table: one entry per KPI, names that exist in a run's summary, labels and units for readers."""

import math

from gridsim.analysis.store import flatten
from gridsim.model.kpis import HEADLINE, TABLE, is_kpi, lookup, number


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
