"""The KPI table: every key performance indicator a run reports, declared once.

A KPI is a number in a run's summary, named by its dotted path
(`resolution_hours.p90`, the column name in a sweep's results). Its entry says
what a reader calls it, its unit, which direction is better, and how it is
shown (a share as a percentage, a cost in millions of yuan). `compare`, the
figures, the report and the back tests read names, labels and units from here
and nowhere else.

Two families are declared once for all their members: `by_type.<type>.<kpi>`
(a KPI of one request type, labelled "<type>: <label>") and
`utilisation.<role>` (one entry, labelled with the role's name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class KPI:
    name: str                    # dotted summary path: the column name in a sweep's results
    label: str                   # what a reader calls it, lower case, no unit
    unit: str                    # unit of the stored value: "h", "min", "share", "yuan/year", "count"
    better: Better | None        # which direction is better; None: neither (a count, a utilisation)
    scale: float = 1.0           # shown value = stored value x scale
    shown_unit: str | None = None  # unit of the shown value (default: `unit`)

    @property
    def display_unit(self) -> str:
        return self.shown_unit or self.unit

    @property
    def axis_label(self) -> str:
        """`label (unit)`, for a figure's axis or a table's heading."""
        return f"{self.label} ({self.display_unit})"

    @property
    def title(self) -> str:
        """The label with a capital first letter, for a panel title."""
        return self.label[:1].upper() + self.label[1:]

    def show(self, value) -> str:
        """The value in the shown unit, in the one number format: `31.2 h`, `85.3%`, `12.4 M yuan/year`."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        text = number(float(value) * self.scale)
        unit = self.display_unit
        if unit == "%":
            return f"{text}%"
        return text if unit == "count" else f"{text} {unit}"


def _pct(name: str, label: str, better: Better | None) -> KPI:
    return KPI(name, label, "share", better, scale=100.0, shown_unit="%")


TABLE: tuple[KPI, ...] = (
    KPI("requests.created", "residents' requests created", "count", None),
    KPI("requests.resolved", "residents' requests resolved", "count", None),
    KPI("requests.open", "residents' requests still open at the end", "count", "lower"),
    KPI("requests.abandoned", "residents' requests abandoned", "count", "lower"),
    KPI("wait_minutes.mean", "mean wait before first contact, of those started", "min", "lower"),
    KPI("wait_minutes.p50", "median wait before first contact", "min", "lower"),
    KPI("wait_minutes.p90", "p90 wait before first contact", "min", "lower"),
    KPI("wait_minutes.p95", "p95 wait before first contact", "min", "lower"),
    KPI("requests.unreported", "residents' problems nobody had heard of by the end", "count", None),
    KPI("resolution_hours.p50", "median resolution time", "h", "lower"),
    KPI("resolution_hours.p90", "p90 resolution time", "h", "lower"),
    KPI("resolution_hours.p95", "p95 resolution time", "h", "lower"),
    _pct("sla_met_share", "requests resolved within their service-level target", "higher"),
    _pct("wait_within_target_share", "requests started within their wait target", "higher"),
    _pct("escalated_share", "requests passed on to another handler", None),
    _pct("abandoned_share", "requests abandoned (the resident gave up waiting)", "lower"),
    _pct("visit_completion_share", "routine home visits made of those falling due", "higher"),
    _pct("hotline_share", "requests that went through the 12345 hotline", "lower"),
    _pct("police110_share", "requests handled by the police station's 110 patrols", None),
    _pct("channel_share.walk_in", "reported by walking into the station", None),
    _pct("channel_share.message", "reported by messaging the grid leader", None),
    _pct("channel_share.building_leader", "first heard of by a building leader", None),
    _pct("channel_share.visit", "found on a routine home visit", None),
    _pct("channel_share.hotline", "reported to the 12345 hotline", None),
    _pct("silent_share", "residents who first said nothing of a problem", "lower"),
    _pct("repeat_share", "requests that came back after the resident gave up", "lower"),
    KPI("trust.mean", "households' mean trust at the end", "0-1 scale", "higher"),
    KPI("report_delay_hours", "mean time from a problem arising to someone hearing of it", "h", "lower"),
    KPI("time_hours.reporting", "time before anyone heard of it (resolved requests, mean)", "h", "lower"),
    KPI("time_hours.hotline", "time with the 12345 hotline (resolved requests, mean)", "h", "lower"),
    KPI("time_hours.waiting_on_duty", "waiting while the handler was on duty (resolved requests, mean)", "h",
        "lower"),
    KPI("time_hours.waiting_off_duty", "waiting while the handler was off duty (resolved requests, mean)", "h",
        "lower"),
    KPI("time_hours.travel", "handlers' walking or driving (resolved requests, mean)", "h", "lower"),
    KPI("time_hours.service", "handlers' service (resolved requests, mean)", "h", "lower"),
    _pct("walk15_coverage_share", "households within a 15-minute walk of a station", "higher"),
    KPI("cost_yuan_per_year", "annual cost", "yuan/year", "lower", scale=1e-6, shown_unit="M yuan per year"),
)
_BY_NAME = {k.name: k for k in TABLE}
_PER_GROUP = {k.name: k for k in (                       # only in by_quarter.<q>.*
    KPI("hotline_calls_per_day", "12345 calls a day", "calls/day", "lower"),
    KPI("trust_end", "households' mean trust at the quarter's end", "0-1 scale", "higher"),
)}
_UTILISATION = _pct("utilisation", "utilisation", None)
_BACKLOG = KPI("backlog_growth_per_week", "backlog growth", "visits/week", "lower")

# shown by compare, the report and the back tests unless an experiment lists more (its `kpis`)
HEADLINE: tuple[str, ...] = (
    "requests.created", "wait_minutes.p90", "resolution_hours.p50", "resolution_hours.p90",
    "sla_met_share", "abandoned_share", "visit_completion_share", "hotline_share", "report_delay_hours",
    "time_hours.waiting_off_duty", "time_hours.waiting_on_duty", "utilisation.grid_leader",
    "utilisation.station_head", "utilisation.building_leader", "walk15_coverage_share", "cost_yuan_per_year")


def lookup(name: str) -> KPI | None:
    """The KPI of a dotted name, or None when the name is not a KPI (an id or factor column, say)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    head, _, rest = name.partition(".")
    if head == "utilisation" and rest and "." not in rest:
        return replace(_UTILISATION, name=name, label=f"{rest.replace('_', ' ')} utilisation")
    if head == "backlog_growth_per_week" and rest and "." not in rest:
        return replace(_BACKLOG, name=name, label=f"{rest.replace('_', ' ')} backlog growth")
    if head in ("by_type", "by_walk_band", "by_quarter") and "." in rest:
        kind, _, inner = rest.partition(".")
        base = _BY_NAME.get(inner) or _PER_GROUP.get(inner)
        if base is not None:
            where = {"by_type": kind.replace("_", " "), "by_walk_band": f"{kind} min from a station",
                     "by_quarter": f"quarter {kind[1:]}"}[head]
            return replace(base, name=name, label=f"{where}: {base.label}")
    return None


def is_kpi(name: str) -> bool:
    return lookup(name) is not None


def number(x) -> str:
    """The one number format of tables and reports: 4 significant-ish digits, thousands separated."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    a = abs(x)
    if a >= 1e5:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a == 0:
        return "0"
    if a >= 0.1:
        return f"{x:.3f}"
    return f"{x:.4f}"
