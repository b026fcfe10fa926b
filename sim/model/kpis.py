"""The KPI table: every key performance indicator a run reports, declared once.

A KPI is a number in a run's summary, named by its dotted path
(`resolution_hours.p90`, the column name in a sweep's results). Its entry says
what a reader calls it, its unit, which direction is better, and how it is
shown (a share as a percentage, a cost in millions of yuan). `compare`, the
figures, the report and the back tests read names, labels and units from here
and nowhere else.

Families are declared once for all their members: `by_type.<type>.<kpi>`
(a KPI of one request type, labelled "<type>: <label>"), `utilisation.<role>`,
`overtime_hours_per_year.<role>` and `resolved_per_year.<role>` (one entry
each, labelled with the role's name; the latter also by type:
`by_type.wish.resolved_per_year.volunteer`), `time_to_know_by_channel.<channel>`
and `first_handler_share.<channel>.<role>`.

Two clocks: resolution times, service levels and waits run from the report
(what a city's platform records); `time_to_know_hours` runs from the problem
arising to anyone knowing; the one from-arising service level kept says so in
its name (`sla_met_from_arising_share`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from ..scenario import ROLES
from .routes import CHANNELS, REPORTED_BY

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
    KPI("resolution_hours.p50", "median resolution time from the report", "h", "lower"),
    KPI("resolution_hours.p90", "p90 resolution time from the report", "h", "lower"),
    KPI("resolution_hours.p95", "p95 resolution time from the report", "h", "lower"),
    _pct("sla_met_share", "requests resolved within their service-level target of the report", "higher"),
    _pct("sla_met_from_arising_share", "problems resolved within their service-level target of arising "
                                       "(a clock no city measures)", "higher"),
    _pct("wait_within_target_share", "requests started within their wait target", "higher"),
    _pct("escalated_share", "requests passed on to another handler", None),
    _pct("abandoned_share", "requests abandoned (the resident gave up waiting)", "lower"),
    _pct("visit_completion_share", "routine home visits made before the next fell due", "higher"),
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
    KPI("time_to_know_hours.mean", "mean time from a problem arising to anyone knowing, of those known", "h",
        "lower"),
    KPI("time_to_know_hours.p50", "median time from a problem arising to anyone knowing", "h", "lower"),
    KPI("time_to_know_hours.p90", "p90 time from a problem arising to anyone knowing", "h", "lower"),
    KPI("time_to_know_hours.p95", "p95 time from a problem arising to anyone knowing", "h", "lower"),
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
    KPI("per_resident_year.requests", "residents' requests per resident a year", "per resident a year", None),
    KPI("per_resident_year.hotline_calls", "12345 calls per resident a year", "per resident a year", None),
)
_BY_NAME = {k.name: k for k in TABLE}
_PER_GROUP = {k.name: k for k in (                       # only in by_quarter.<q>.*
    KPI("hotline_calls_per_day", "12345 calls a day", "calls/day", "lower"),
    KPI("trust_end", "households' mean trust at the quarter's end", "0-1 scale", "higher"),
)}
_UTILISATION = _pct("utilisation", "utilisation", None)
_BACKLOG = KPI("backlog_growth_per_week", "backlog growth", "visits/week", "lower")
_RESOLVED_BY = KPI("resolved_per_year", "resolved a year", "requests/year", None)
_OVERTIME = KPI("overtime_hours_per_year", "overtime", "h/year", "lower")
_TO_KNOW_BY = KPI("time_to_know_by_channel", "time to know", "h", "lower")
_FIRST_HANDLER = _pct("first_handler_share", "first handler", None)

# shown by compare, the report and the back tests unless an experiment lists more (its `kpis`)
HEADLINE: tuple[str, ...] = (
    "requests.created", "wait_minutes.p90", "resolution_hours.p50", "resolution_hours.p90",
    "sla_met_share", "abandoned_share", "visit_completion_share", "hotline_share", "time_to_know_hours.mean",
    "time_hours.waiting_off_duty", "time_hours.waiting_on_duty", "utilisation.grid_leader",
    "utilisation.station_head", "utilisation.building_leader", "walk15_coverage_share", "cost_yuan_per_year")


def lookup(name: str) -> KPI | None:
    """The KPI of a dotted name, or None when the name is not a KPI (an id or factor column, say)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    head, _, rest = name.partition(".")
    if head == "utilisation" and rest in ROLES:
        return replace(_UTILISATION, name=name, label=f"{rest.replace('_', ' ')} utilisation")
    if head == "backlog_growth_per_week" and rest in ROLES:
        return replace(_BACKLOG, name=name, label=f"{rest.replace('_', ' ')} backlog growth")
    if head == "resolved_per_year" and rest in ROLES:
        return replace(_RESOLVED_BY, name=name, label=f"requests resolved a year by the {rest.replace('_', ' ')}")
    if head == "overtime_hours_per_year" and rest in ROLES and rest != "alliance":     # (meetings have no shift)
        return replace(_OVERTIME, name=name, label=f"{rest.replace('_', ' ')} overtime (work after the shift ended)")
    if head == "time_to_know_by_channel" and rest in CHANNELS:
        return replace(_TO_KNOW_BY, name=name,
                       label=f"mean time from arising to being known, through {rest.replace('_', ' ')}")
    channel, _, role = rest.partition(".")
    if head == "first_handler_share" and channel in REPORTED_BY and role in ROLES:
        return replace(_FIRST_HANDLER, name=name, label=f"of those reaching someone by {channel.replace('_', ' ')}, "
                                                        f"first handled by the {role.replace('_', ' ')}")
    if head in ("by_type", "by_walk_band", "by_quarter") and "." in rest:
        kind, _, inner = rest.partition(".")
        base = (_BY_NAME.get(inner) or _PER_GROUP.get(inner)
                or (lookup(inner) if head == "by_type" and inner.startswith("resolved_per_year.") else None))
        if base is not None:
            where = {"by_type": kind.replace("_", " "), "by_walk_band": f"{kind} min from a station",
                     "by_quarter": f"quarter {kind[1:]}"}[head]
            return replace(base, name=name, label=f"{where}: {base.label}")
    return None


def is_kpi(name: str) -> bool:
    return lookup(name) is not None


_ROLE_FAMILIES = ("utilisation", "backlog_growth_per_week", "resolved_per_year", "overtime_hours_per_year")


def unknown_part(name: str) -> str | None:
    """Why a name of a KPI family is not a KPI: the role or channel it names that runs never have."""
    head, _, rest = name.partition(".")
    channel, _, role = rest.partition(".")
    if not rest:
        return None
    if head in _ROLE_FAMILIES and rest not in ROLES:
        return f"no role {rest!r} (roles: {', '.join(ROLES)})"
    if head == "time_to_know_by_channel" and rest not in CHANNELS:
        return f"no channel {rest!r} (channels: {', '.join(CHANNELS)})"
    if head == "first_handler_share" and channel not in REPORTED_BY:
        return f"no channel {channel!r} (channels: {', '.join(REPORTED_BY)})"
    if head == "first_handler_share" and role not in ROLES:
        return f"no role {role!r} (roles: {', '.join(ROLES)})"
    return None


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
