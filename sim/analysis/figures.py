"""Figures of a sweep's stored results (matplotlib; PNG and SVG).

Every function takes a `Results` (what `load_results` reads from a results
folder through the results store) and an output stem, writes `<stem>.png`
and `<stem>.svg`, and returns the Figure (still inspectable). Files are
deterministic: the same results give byte-identical PNG and SVG files (no
dates, no software version, a fixed SVG hash salt).

Figures are drawn on `matplotlib.figure.Figure` objects, never through
pyplot's global state: importing this module changes no matplotlib setting,
and the few settings a file needs (the SVG hash salt) are set only while it
is being saved. Labels and units come from the KPI table and from the
experiment's own point labels.

The city map needs the City of the baseline point; building it is the city
layer's job, so the caller builds it and passes it in. Nothing here runs a
model.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch

from ..model.kpis import KPI, lookup
from . import store
from .compare import CompareError, compare, difference_unit, kpis_for, mean_ci, point_label
from .objective import Judgement, from_manifest, judge, missing_columns

DPI = 150
# request types: a fixed colour each, from a palette other than the options' (tab10)
EXTRA_TYPE_COLOURS = ["black", "#8c564b", "#17becf", "#bcbd22"]


def type_colours() -> list:
    return list(matplotlib.colormaps["Dark2"].colors) + EXTRA_TYPE_COLOURS


@dataclass
class Results:
    """A sweep results folder, read once: runs, manifest, the comparison table, labels, colours."""
    folder: Path
    manifest: dict
    runs: pd.DataFrame
    factors: list
    baseline: dict                         # factor path -> value
    table: pd.DataFrame                    # compare() output over every KPI the report shows
    labels: dict = field(default_factory=dict)      # point -> short label
    colours: dict = field(default_factory=dict)     # point -> colour
    baseline_point: int = 0
    failed: dict = field(default_factory=dict)      # run id -> {run, error, traceback}
    baseline_note: str = ""
    stored: store.Stored | None = None              # the store's view: problems, runs lacking extras
    judgement: Judgement | None = None              # the options judged by the experiment's [objective]

    def extras(self, name: str, point: int) -> list[tuple[int, pd.DataFrame]]:
        """The stored `name` table (series, quantiles, grids) of each counted run of `point`."""
        return store.Store(self.folder).extras(name, point, self.stored.scan if self.stored else None)

    def sla_hours(self) -> dict[str, float]:
        """Service-level target (hours) of each residents' request type of the base scenario."""
        types = (self.manifest.get("base_scenario") or {}).get("requests") or {}
        return {t: float(v["sla_hours"]) for t, v in types.items()
                if isinstance(v, dict) and v.get("origin", "resident") == "resident"
                and isinstance(v.get("sla_hours"), (int, float))}

    @property
    def points(self) -> list[int]:
        return sorted(int(p) for p in self.runs["point"].unique())

    def stats(self, kpi: str) -> pd.DataFrame:
        """Per point: n, mean and 95% CI half-width of the KPI over its replicates."""
        rows = []
        for p in self.points:
            values = self.runs.loc[self.runs["point"] == p, kpi].astype(float)
            m, hw = mean_ci(values)
            rows.append({"point": p, "n": int(values.notna().sum()), "mean": m, "half_width": hw})
        return pd.DataFrame(rows).set_index("point")

    def best_point(self, kpi: str = "resolution_hours.p90") -> int:
        s = self.stats(kpi)["mean"].dropna()
        return int(s.idxmin()) if len(s) else self.baseline_point

    def label(self, p: int, width: int | None = None) -> str:
        text = self.labels.get(p, f"point {p}")
        if not width:
            return text
        return "\n".join(line for part in text.split(", ")
                         for line in textwrap.wrap(part, width, break_on_hyphens=False))


def palette(n: int) -> list:
    if n <= 10:
        return list(matplotlib.colormaps["tab10"].colors[:n])
    if n <= 20:
        return list(matplotlib.colormaps["tab20"].colors[:n])
    viridis = matplotlib.colormaps["viridis"]
    return [viridis(i / max(n - 1, 1)) for i in range(n)]


def load_results(folder: str | Path, baseline: dict | None = None) -> Results:
    """Read a results folder. `baseline` (factor path -> value) overrides the spec's [baseline];
    with neither, the first point is the baseline."""
    folder = Path(folder)
    stored = store.read(folder)
    manifest, runs = stored.manifest, stored.runs
    if runs.empty:
        raise CompareError(f"{folder}: no finished runs yet")
    factors = list(manifest.get("factors", []))
    note = ""
    if baseline is None:
        baseline = dict((manifest.get("spec") or {}).get("baseline") or {})
        if baseline:
            note = "the experiment's [baseline]"
        elif factors:
            first = runs.loc[runs["point"] == runs["point"].min()].iloc[0]
            baseline = {f: _plain(first[f]) for f in factors}
            note = "the first point (the experiment names no [baseline])"
    else:
        note = "chosen with --baseline"
    pts = runs.drop_duplicates("point").set_index("point").sort_index()
    named = manifest.get("point_labels") or []
    labels = {int(p): named[int(p)] if int(p) < len(named) else point_label(row, factors) for p, row in pts.iterrows()}
    table = compare(runs, factors, baseline, kpis_for(manifest, runs), labels)
    colours = dict(zip(sorted(labels), palette(len(labels))))
    base_points = sorted(table.loc[table["is_baseline"], "point"].unique()) if len(table) else []
    objective = from_manifest(manifest)
    judged = None
    if objective is not None:
        lacking = missing_columns(objective, runs)
        if lacking:
            raise CompareError(f"{folder}: objective: no KPI column {lacking[0]!r} in these results")
        judged = judge(runs, objective, labels)
    return Results(folder=folder, manifest=manifest, runs=runs, factors=factors, baseline=baseline,
                   table=table, labels=labels, colours=colours,
                   baseline_point=int(base_points[0]) if base_points else int(pts.index[0]),
                   failed=stored.failed, baseline_note=note, stored=stored, judgement=judged)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def new_figure(figsize) -> Figure:
    """A figure of its own (no pyplot, no global state), laid out by matplotlib's constrained layout."""
    return Figure(figsize=figsize, layout="constrained")


def save(fig: Figure, stem: str | Path, dpi: int = DPI) -> list[Path]:
    """Write <stem>.png (at `dpi`) and <stem>.svg deterministically, each file whole or not at all
    (through the atomic writer, which makes the folder if needed)."""
    from ..atomic import write_file
    stem = Path(stem)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    with matplotlib.rc_context({"svg.hashsalt": "gridsim"}):
        write_file(png, lambda p: fig.savefig(p, format="png", dpi=dpi, metadata={"Software": None}))
        write_file(svg, lambda p: fig.savefig(p, format="svg", metadata={"Date": None}))
    return [png, svg]


MANY = 10          # beyond this many options a legend names only the ones the figure is about


def named(res: Results, keep: set[int]) -> set[int]:
    """The options a legend names: every one when there are few, else `keep` and the baseline."""
    return set(res.points) if len(res.points) <= MANY else set(keep) | {res.baseline_point}


def unnamed(res: Results, names: set[int], how: str = "unlabelled") -> list[Line2D]:
    """The legend's last line when it leaves options out: how many, and where they are listed."""
    rest = len(set(res.points) - names)
    return [Line2D([], [], linestyle="", label=f"{rest} more option{'s' * (rest > 1)} {how} here "
                                              "(report.md lists every one)")] if rest else []


def undefined(ax, y: float) -> None:
    """Say, where an option's point would be, that its value is undefined (a percentile of a share
    never resolved, in every replicate): an option must not vanish from a panel unexplained."""
    ax.annotate("undefined: never reached", xy=(0.03, y), xycoords=("axes fraction", "data"), va="center",
                fontsize=7, color="0.35", style="italic")


LEGEND_CHARACTERS = 110     # a legend line at 8 points across an 8-inch figure


def legend_below(fig: Figure, ax, handles: list) -> None:
    """The legend under the axes, each long label wrapped (an option's label can run to 150
    characters: unwrapped it is cut off at the figure's edge), the figure as tall as it needs."""
    for h in handles:
        h.set_label(textwrap.fill(h.get_label(), LEGEND_CHARACTERS, subsequent_indent="    "))
    fig.set_figheight(legend_height(sum(h.get_label().count("\n") + 1 for h in handles)))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)


def legend_height(entries: int) -> float:
    """A figure's height (inches) with room for a legend of one line per entry below its axes."""
    return 5.5 + 0.2 * entries


def kpi_info(name: str) -> KPI:
    """The KPI table's entry (label, unit, scale); a column the table does not know is shown by its name."""
    return lookup(name) or KPI(name, name, "value", None)


# ---------------------------------------------------------------- 1. KPI by option
HEADLINE_FIGURE_KPIS = ("resolution_hours.p90", "sla_met_share", "abandoned_share", "visit_completion_share",
                        "cost_yuan_per_year")


def _sla_line(ax, res: Results, kpi: str, scale: float = 1.0, vertical: bool = True) -> None:
    """Draw the service-level target of the request type a `by_type.<type>.resolution_hours.*` KPI is about."""
    parts = kpi.split(".")
    if len(parts) == 4 and parts[0] == "by_type" and parts[2] == "resolution_hours":
        target = res.sla_hours().get(parts[1])
        if target is not None:
            line = ax.axvline if vertical else ax.axhline
            line(target * scale, color="#d62728", linestyle="--", linewidth=1)
            ax.text(target * scale, 1.0, f" target {target:g} h", transform=ax.get_xaxis_transform(),
                    ha="left", va="top", fontsize=8, color="#d62728")


def kpi_by_option(res: Results, stem, kpis=HEADLINE_FIGURE_KPIS, dpi: int = DPI):
    """One panel per KPI: each option's mean over replicates with its 95% CI, options on the y axis."""
    kpis = [k for k in kpis if k in res.runs.columns]
    pts = res.points
    rows = max(res.label(p, 30).count("\n") + 1 for p in pts) + 1      # lines per option, with "(baseline)"
    fig = new_figure((4.2 * len(kpis) + 1, 1.4 + 0.2 * rows * len(pts)))
    axes = fig.subplots(1, len(kpis), sharey=True, squeeze=False)
    y = np.arange(len(pts))[::-1]
    for ax, kpi in zip(axes[0], kpis):
        info = kpi_info(kpi)
        label, scale = info.axis_label, info.scale
        s = res.stats(kpi)
        for yi, p in zip(y, pts):
            m, hw = s.loc[p, "mean"] * scale, s.loc[p, "half_width"] * scale
            if math.isnan(m):
                undefined(ax, yi)
                continue
            ax.errorbar(m, yi, xerr=None if math.isnan(hw) else hw, fmt="o", color=res.colours[p],
                        ecolor=res.colours[p], capsize=4, markersize=7)
        base = s.loc[res.baseline_point, "mean"] * scale
        ax.axvline(base, color="0.6", linestyle=":", linewidth=1)
        ax.set_xlabel(label)
        ax.set_title(textwrap.fill(info.title, 32), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
        if info.unit == "share":                 # a CI may reach past 0% or 100%: clip the view
            left, right = ax.get_xlim()
            ax.set_xlim(max(left, -2.0), min(right, 102.0))
        _sla_line(ax, res, kpi, scale)
    axes[0][0].set_yticks(y, [res.label(p, 30) + ("\n(baseline)" if p == res.baseline_point else "") for p in pts])
    axes[0][0].set_ylabel("option")
    n = int(res.runs.groupby("point").size().min())
    fig.suptitle(f"{res.manifest.get('experiment')}: key results by option "
                 f"(mean and 95% CI over {n}+ replicates; dotted line = baseline)", fontsize=11)
    save(fig, stem, dpi)
    return fig


# ---------------------------------------------------------------- 2. frontier
def dominated(cost: np.ndarray, p90: np.ndarray) -> np.ndarray:
    """True where another option is no worse on both (lower is better) and better on one."""
    out = np.zeros(len(cost), bool)
    for i in range(len(cost)):
        no_worse = (cost <= cost[i]) & (p90 <= p90[i])
        better = (cost < cost[i]) | (p90 < p90[i])
        out[i] = bool(np.any(no_worse & better))
    return out


def frontier(res: Results, stem, service_kpi: str = "resolution_hours.p90", dpi: int = DPI):
    """Cost per year against p90 resolution time, 95% CIs; dominated options hollow, the rest joined.
    With an objective, options are judged by it instead (see `objective_frontier`)."""
    if res.judgement is not None and res.judgement.objective.constraints:
        return objective_frontier(res, stem, dpi)
    pts = res.points
    c, s = res.stats("cost_yuan_per_year"), res.stats(service_kpi)
    cost = np.array([c.loc[p, "mean"] for p in pts]) / 1e6
    cost_hw = np.array([c.loc[p, "half_width"] for p in pts]) / 1e6
    p90 = np.array([s.loc[p, "mean"] for p in pts])
    p90_hw = np.array([s.loc[p, "half_width"] for p in pts])
    dom = dominated(cost, p90)
    names = named(res, {p for i, p in enumerate(pts) if not dom[i]})
    fig = new_figure((8, legend_height(len(names) + 2)))
    ax = fig.subplots()
    order = [i for i in np.argsort(p90, kind="stable") if not dom[i]]
    ax.plot(p90[order], cost[order], color="0.4", linewidth=1.2, zorder=1, label="non-dominated options")
    handles = [Line2D([], [], color="0.4", linewidth=1.2, label="frontier (non-dominated options)")]
    for i, p in enumerate(pts):
        col = res.colours[p]
        face = "none" if dom[i] else col
        xerr = None if math.isnan(p90_hw[i]) else p90_hw[i]
        yerr = None if math.isnan(cost_hw[i]) or cost_hw[i] == 0 else cost_hw[i]
        ax.errorbar(p90[i], cost[i], xerr=xerr, yerr=yerr, fmt="o", markersize=9, markerfacecolor=face,
                    markeredgecolor=col, ecolor="0.7" if dom[i] else col, capsize=3, zorder=2,
                    markeredgewidth=1.8)
        if p not in names:
            continue
        text = (res.label(p) + (" (baseline)" if p == res.baseline_point else "") + (" - dominated" if dom[i] else "")
                + _also(res, p))
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=8, markerfacecolor=face,
                              markeredgecolor=col, markeredgewidth=1.8, label=text))
    handles += unnamed(res, names)
    ax.set_xlabel(kpi_info(service_kpi).axis_label + ", mean and 95% CI")
    ax.set_ylabel("annual cost (M yuan per year)")
    ax.set_title(f"{res.manifest.get('experiment')}: cost against service\n"
                 "(lower left is better; hollow = dominated, on the means, by a cheaper and faster option)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.margins(0.12)
    legend_below(fig, ax, handles)
    save(fig, stem, dpi)
    return fig


VERDICT_STYLE = {"meets": ("filled", "meets every target"), "undecided": ("half", "undecided: more replicates "
                                                                                 "would tell"),
                 "fails": ("none", "misses a target")}


def objective_frontier(res: Results, stem, dpi: int = DPI):
    """The objective's frontier: the minimised KPI (cost) against the first constraint's KPI, with its
    target as a line; filled = meets every target, half = undecided, hollow = misses one (each
    target judged by the one-sided confidence bound of the mean); the answer starred."""
    j = res.judgement
    o = j.objective
    first = o.constraints[0]
    xi, yi = kpi_info(first.kpi), kpi_info(o.minimise)
    pts = res.points
    xs, ys = res.stats(first.kpi), res.stats(o.minimise)
    verdicts = j.options.set_index("point")["verdict"]
    cheapest = [int(p) for p, v in zip(j.options["point"], j.options["verdict"]) if v != "fails"][:3]
    names = named(res, {p for p in (j.chosen, j.closest, *cheapest) if p is not None})
    fig = new_figure((8, legend_height(len(names) + 2)))
    ax = fig.subplots()
    line = ax.axvline(first.bound * xi.scale, color="#d62728", linestyle="--", linewidth=1.2)
    handles = [Line2D([], [], color=line.get_color(), linestyle="--",
                      label=f"target: {first.describe()}")]
    for p in pts:
        col = res.colours[p]
        v = verdicts.get(p, "undecided")
        fill = VERDICT_STYLE[v][0]
        x, xh = xs.loc[p, "mean"] * xi.scale, xs.loc[p, "half_width"] * xi.scale
        y, yh = ys.loc[p, "mean"] * yi.scale, ys.loc[p, "half_width"] * yi.scale
        style = dict(fmt="o", markersize=9, markeredgecolor=col, ecolor=col, capsize=3, markeredgewidth=1.8,
                     markerfacecolor=col if fill == "filled" else "none", zorder=3,
                     fillstyle="left" if fill == "half" else "full")
        ax.errorbar(x, y, xerr=None if math.isnan(xh) else xh, yerr=None if math.isnan(yh) or yh == 0 else yh,
                    **style)
        if p == j.chosen:
            ax.scatter([x], [y], marker="*", s=260, c="gold", edgecolors="black", linewidths=0.8, zorder=4)
        if p not in names:
            continue
        row = j.row(p)
        text = (res.label(p) + (" (baseline)" if p == res.baseline_point else "")
                + (" - the answer" if p == j.chosen else "") + (" - the closest" if p == j.closest else "")
                + f" [{VERDICT_STYLE[v][1]}; {int(row['replicates_meeting'])} of {int(row['n'])} replicates]")
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=8, markeredgecolor=col,
                              markerfacecolor=col if fill == "filled" else "none",
                              fillstyle="left" if fill == "half" else "full", markeredgewidth=1.8, label=text))
    handles += unnamed(res, names)
    ax.set_xlabel(xi.axis_label + ", mean and 95% CI")
    ax.set_ylabel(yi.axis_label)
    more = f" (and {len(o.constraints) - 1} more target{'s' * (len(o.constraints) > 2)})" if len(o.constraints) > 1 else ""
    ax.set_title(textwrap.fill(f"{res.manifest.get('experiment')}: {yi.label} against {xi.label}{more}", 80)
                 + "\n" + textwrap.fill(f"filled = meets every target (one-sided {100 * o.confidence:g}% bound "
                                        "of the mean), half = undecided, hollow = misses one; star = the answer", 90),
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    left, right = ax.get_xlim()
    lo, hi = min(left, first.bound * xi.scale), max(right, first.bound * xi.scale)
    pad = 0.05 * (hi - lo or 1)
    ax.set_xlim(lo - pad, hi + pad)
    edge = hi + pad if first.op == ">=" else lo - pad
    ax.axvspan(first.bound * xi.scale, edge, color="#2ca02c", alpha=0.07, zorder=0)
    legend_below(fig, ax, handles)
    save(fig, stem, dpi)
    return fig


def _also(res: Results, point: int) -> str:
    """What the frontier's two axes leave out, beside each option: abandonment and visit completion
    (an option must not look faster by losing requests or skipping visits)."""
    notes = []
    for kpi, short in (("abandoned_share", "abandoned"), ("visit_completion_share", "visits made")):
        if kpi in res.runs.columns:
            value = res.stats(kpi).loc[point, "mean"]
            if not math.isnan(value):
                notes.append(f"{short} {100 * value:.1f}%")
    return f" [{', '.join(notes)}]" if notes else ""


# ---------------------------------------------------------------- where the time goes
TIME_PARTS = ("reporting", "hotline", "waiting_on_duty", "waiting_off_duty", "travel", "service")
TIME_COLOURS = ("#9e9ac8", "#fdae6b", "#6baed6", "#08519c", "#74c476", "#525252")


def time_parts(res: Results, stem, dpi: int = DPI):
    """Where residents' time goes, by option: mean hours of a resolved request in each part of its
    journey (they add up to its mean resolution time), averaged over replicates."""
    pts = res.points
    columns = [f"time_hours.{part}" for part in TIME_PARTS]
    missing = [c for c in columns if c not in res.runs.columns]
    if missing:
        raise KeyError(f"these runs have no {missing[0]} column")
    means = np.array([[res.stats(c).loc[p, "mean"] for c in columns] for p in pts])
    fig = new_figure((9, 1.6 + 0.55 * len(pts)))
    ax = fig.subplots()
    y = np.arange(len(pts))[::-1]
    left = np.zeros(len(pts))
    for k, part in enumerate(TIME_PARTS):
        ax.barh(y, means[:, k], left=left, color=TIME_COLOURS[k], label=part.replace("_", " "), height=0.6)
        left += means[:, k]
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {total:.1f} h", va="center", fontsize=8)
    ax.set_yticks(y, [res.label(p, 30) + ("\n(baseline)" if p == res.baseline_point else "") for p in pts])
    ax.set_xlabel("mean hours of a resolved resident's request, from the problem arising to resolution")
    ax.set_title(f"{res.manifest.get('experiment')}: where the time goes (mean over replicates)", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(TIME_PARTS), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.12)
    save(fig, stem, dpi)
    return fig


# ---------------------------------------------------------------- 3. backlog
def mean_series(res: Results, point: int) -> pd.DataFrame | None:
    frames = [df for _, df in res.extras("series", point)]
    if not frames:
        return None
    return pd.concat(frames).groupby("day", sort=True).mean().reset_index()


def backlog(res: Results, stem, dpi: int = DPI):
    """Open requests by type per day (mean over replicates): baseline and best option side by side."""
    best = res.best_point()
    shown = [res.baseline_point] if best == res.baseline_point else [res.baseline_point, best]
    data = {p: mean_series(res, p) for p in shown}
    if any(d is None for d in data.values()):
        raise FileNotFoundError(f"{res.folder}/_series: no daily series for point "
                                f"{next(p for p, d in data.items() if d is None)}")
    types = [c[len("open_"):] for c in data[shown[0]].columns if c.startswith("open_")]
    fig = new_figure((6 * len(shown) + 1.5, 4.5))
    axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)
    colours = type_colours()
    warm = float((res.manifest.get("spec") or {}).get("warmup_days") or 0)
    for ax, p in zip(axes[0], shown):
        d = data[p]
        for j, t in enumerate(types):
            ax.plot(d["day"], d[f"open_{t}"], color=colours[j % len(colours)], linewidth=1.6, label=t)
        if warm > 0:
            ax.axvspan(0, warm, color="0.9", zorder=0)
            ax.text(warm / 2, 0.98, "warm-up", transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color="0.4")
        role = "baseline" if p == res.baseline_point else "best option (lowest p90 resolution)"
        if best == res.baseline_point:
            role = "baseline, also the best option (lowest p90 resolution)"
        ax.set_title(textwrap.fill(f"{res.label(p)}: {role}", 50), fontsize=10, color=res.colours[p])
        ax.set_xlabel("day of the simulation")
        ax.grid(alpha=0.3)
        ax.set_xlim(0, float(d["day"].max()))
    axes[0][0].set_ylabel("open requests (daily mean, mean over replicates)")
    axes[0][-1].legend(title="request type", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.suptitle(f"{res.manifest.get('experiment')}: backlog of open requests by type", fontsize=11)
    save(fig, stem, dpi)
    return fig


def trust_and_hotline(res: Results, stem, dpi: int = DPI):
    """Households' mean trust and the 12345 calls of each day, every option (mean over replicates):
    what residents live through, and where they turn when the grid lets them down."""
    data = {p: mean_series(res, p) for p in res.points}
    missing = [p for p, d in data.items() if d is None or "trust" not in d or "hotline_calls" not in d]
    if missing:
        raise KeyError(f"{res.folder}/_series: no daily trust or 12345 calls for point {missing[0]}")
    calls_per_day = {p: float(d["hotline_calls"].mean()) for p, d in data.items()}
    names = named(res, {min(calls_per_day, key=calls_per_day.get), max(calls_per_day, key=calls_per_day.get)})
    fig = new_figure((9, 6.5 + 0.2 * (len(names) + 1) / 2))
    axes = fig.subplots(2, 1, sharex=True)
    warm = float((res.manifest.get("spec") or {}).get("warmup_days") or 0)
    for p, d in sorted(data.items(), key=lambda item: item[0] in names):      # the named ones on top
        width = 2.2 if p == res.baseline_point else 1.4 if p in names else 0.8
        colour = res.colours[p] if p in names else "0.8"
        label = res.label(p) + (" (baseline)" if p == res.baseline_point else "") if p in names else None
        axes[0].plot(d["day"], d["trust"], color=colour, linewidth=width, label=label)
        calls = d["hotline_calls"].rolling(7, min_periods=1).mean()
        axes[1].plot(d["day"], calls, color=colour, linewidth=width)
    for ax in axes:
        if warm > 0:
            ax.axvspan(0, warm, color="0.9", zorder=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("households' mean trust (0-1)")
    axes[1].set_ylabel("12345 calls a day (7-day mean)")
    axes[1].set_xlabel("day of the simulation (grey: warm-up)")
    handles = axes[0].get_legend_handles_labels()[0] + unnamed(res, names, "in grey")
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{res.manifest.get('experiment')}: trust and 12345 calls, day by day (mean over replicates)",
                 fontsize=11)
    save(fig, stem, dpi)
    return fig


# ---------------------------------------------------------------- 4. CDF
def mean_quantiles(res: Results, point: int) -> pd.DataFrame | None:
    frames = [df for _, df in res.extras("quantiles", point)]
    if not frames:
        return None
    q = pd.concat(frames)
    return q.groupby("percentile", sort=True)["resolution_hours"].mean().reset_index()


def resolution_cdf(res: Results, stem, dpi: int = DPI):
    """Share of residents' requests resolved within t hours, per option (percentiles averaged over
    replicates), with each request type's service-level target."""
    p90 = res.stats("resolution_hours.p90")["mean"].dropna() if "resolution_hours.p90" in res.runs else pd.Series()
    names = named(res, {int(p90.idxmin()), int(p90.idxmax())} if len(p90) else set())
    fig = new_figure((8, 5))
    ax = fig.subplots()
    drawn = 0
    for p in sorted(res.points, key=lambda p: p in names):          # the named ones drawn on top
        q = mean_quantiles(res, p)
        if q is None or q["resolution_hours"].isna().all():
            continue
        hours = q["resolution_hours"].clip(lower=1e-2)
        if p in names:
            ax.plot(hours, q["percentile"], color=res.colours[p], linewidth=2 if p == res.baseline_point else 1.5,
                    linestyle="-" if p == res.baseline_point else "--",
                    label=res.label(p, 30) + (" (baseline)" if p == res.baseline_point else ""))
        else:
            ax.plot(hours, q["percentile"], color="0.8", linewidth=0.8)
        drawn += 1
    if not drawn:
        raise FileNotFoundError(f"{res.folder}/_quantiles: no resolution-time quantiles stored")
    ax.axhline(90, color="0.6", linestyle=":", linewidth=1)
    ax.text(0.01, 90.5, "90% (the p90)", transform=ax.get_yaxis_transform(), ha="left", va="bottom",
            fontsize=8, color="0.4")
    targets: dict[float, list[str]] = {}
    for kind, hours in sorted(res.sla_hours().items()):
        targets.setdefault(hours, []).append(kind)
    for i, (hours, kinds) in enumerate(sorted(targets.items())):
        ax.axvline(hours, color="#d62728", linestyle="--", linewidth=0.9, alpha=0.8)
        ax.text(hours, 0.02 + 0.06 * (i % 4), f" target {hours:g} h: {', '.join(kinds)}",
                transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=7, color="#d62728")
    ax.set_xscale("log")
    ax.set_xlabel("resolution time from the report (h, log scale)")
    ax.set_ylabel("residents' reported requests resolved within that time (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"{res.manifest.get('experiment')}: distribution of resolution time by option\n"
                 "(after warm-up; percentiles averaged over replicates; dashed red: service-level targets)",
                 fontsize=11)
    handles = ax.get_legend_handles_labels()[0] + unnamed(res, names, "in grey")
    ax.legend(handles=handles, title="option", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
              frameon=False)
    save(fig, stem, dpi)
    return fig


# ---------------------------------------------------------------- 5. city map
def grid_table(res: Results, point: int) -> tuple[pd.DataFrame, int]:
    """The stored per-grid table of `point`, lowest replicate available (replicate 0 normally)."""
    tables = res.extras("grids", point)
    if not tables:
        raise FileNotFoundError(f"{res.folder}/_grids: no per-grid table for point {point}")
    replicate, table = tables[0]
    return table, replicate


WAIT_LABEL = "grid's p90 wait before first contact (min)"


def city_map(res: Results, city, stem, circle_minutes: float = 15.0, circle_radius_m: float | None = None,
             value: str = "wait_p90_minutes", dpi: int = DPI):
    """Households coloured by their grid's p90 wait (baseline point, first replicate); stations with their
    walking circles; households outside every circle in red. `city` is the City of that run; on a map
    its grids are drawn as their polygons on the real outline (`map_of_grids`)."""
    grids, rep = grid_table(res, res.baseline_point)
    by_grid = np.full(int(max(grids["grid"].max(), city.hh_grid.max())) + 1, np.nan)
    by_grid[grids["grid"].to_numpy(int)] = grids[value].to_numpy(float)
    title = textwrap.fill(f"{res.manifest.get('experiment')}: where residents wait, baseline "
                          f"({res.label(res.baseline_point)}, replicate {rep})", 80) + "\n"
    if city.geometry is not None:
        fig = map_of_grids(city, by_grid[: city.grids], WAIT_LABEL if value == "wait_p90_minutes" else value)
        fig.axes[0].set_title(title + f"grids coloured by their p90 wait; {len(grids)} grids", fontsize=11)
        save(fig, stem, dpi)
        return fig
    hh_value = by_grid[city.hh_grid]
    km = 1e-3
    covered = city.hh_nearest_station_walk_min <= circle_minutes
    fig = new_figure((8.5, 7.5))
    ax = fig.subplots()
    size = float(np.clip(3e5 / max(len(hh_value), 1), 2.0, 10))
    nan = np.isnan(hh_value)
    if nan.any():
        ax.scatter(city.hh_x[nan] * km, city.hh_y[nan] * km, s=size, c="0.8", linewidths=0, rasterized=True)
    finite = ~nan
    vmax = float(np.nanpercentile(hh_value, 98)) if finite.any() else 1.0
    sc = ax.scatter(city.hh_x[finite] * km, city.hh_y[finite] * km, s=size, c=hh_value[finite], cmap="viridis",
                    vmin=0, vmax=vmax if vmax > 0 else 1.0, linewidths=0, rasterized=True)
    out = ~covered
    ax.scatter(city.hh_x[out] * km, city.hh_y[out] * km, s=size * 2, c="#d62728", linewidths=0,
               rasterized=True, zorder=3)
    if circle_radius_m:
        for x, y in zip(city.station_x, city.station_y):
            ax.add_patch(Circle((x * km, y * km), circle_radius_m * km, fill=False, edgecolor="black",
                                linewidth=0.5, alpha=0.35, zorder=4))
    ax.scatter(city.station_x * km, city.station_y * km, marker="^", s=22, c="white", edgecolors="black",
               linewidths=0.8, zorder=5)
    cb = fig.colorbar(sc, ax=ax, shrink=0.8, extend="max")
    cb.set_label(WAIT_LABEL if value == "wait_p90_minutes" else value)
    side = city.side_m * km
    ax.set_xlim(0, side)
    ax.set_ylim(0, side)
    ax.set_aspect("equal")
    ax.set_xlabel("east-west (km)")
    ax.set_ylabel("north-south (km)")
    share = float(out.mean()) if len(out) else 0.0
    handles = [Line2D([], [], marker="^", linestyle="", markerfacecolor="white", markeredgecolor="black",
                      label=f"service station ({len(city.station_x)})"),
               Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                      markersize=10, label=f"{circle_minutes:g}-minute walking circle"),
               Line2D([], [], marker="o", linestyle="", color="#d62728", markersize=5,
                      label=f"household outside every circle ({int(out.sum()):,}, {100 * share:.1f}%)")]
    if nan.any():
        handles.append(Line2D([], [], marker="o", linestyle="", color="0.8", markersize=5,
                              label="grid with no requests"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    ax.set_title(title + f"households coloured by their grid's p90 wait; {len(grids)} grids", fontsize=11)
    save(fig, stem, dpi)
    return fig


def map_of_grids(city, grid_value: np.ndarray, label: str, figsize: tuple = (8.5, 7.5),
                 scale: float | None = None) -> Figure:
    """A map city's grids as their polygons, coloured by `grid_value` (grey: none), on the communities'
    outlines, with each station and the area its walking circle reaches; households outside every
    circle in red. Drawn from the city's own shapes in its CRS, in km from the map's south-west
    corner: no web tiles, so it draws offline. `scale`: the colour scale's top (default: the 98th
    percentile)."""
    from matplotlib.collections import PatchCollection
    geo = city.geometry
    x0, y0 = shape_origin(geo.communities)
    fig = new_figure(figsize)
    ax = fig.subplots()
    finite = np.isfinite(grid_value)
    top = scale if scale else float(np.nanpercentile(grid_value, 98)) if finite.any() else 1.0
    cells = PatchCollection(shape_patches(geo.grids, x0, y0), cmap=matplotlib.colormaps["viridis"].with_extremes(
        bad="0.85"), edgecolor="white", linewidth=0.4)
    cells.set_array(np.where(finite, grid_value, np.nan))
    cells.set_clim(0, max(top, 1e-6))
    ax.add_collection(cells)
    ax.add_collection(PatchCollection(shape_patches(geo.communities, x0, y0), facecolor="none", edgecolor="black",
                                      linewidth=1.0))
    ax.add_collection(PatchCollection(shape_patches(geo.walk_areas, x0, y0), facecolor="none", edgecolor="black",
                                      linewidth=0.6, linestyle="--", alpha=0.5))
    circle_minutes = geo.circle_minutes
    out = city.hh_nearest_station_walk_min > circle_minutes
    km = 1e-3
    ax.scatter((city.hh_x[out] - x0) * km, (city.hh_y[out] - y0) * km, s=2, c="#d62728", linewidths=0, zorder=3,
               rasterized=True)
    ax.scatter((city.station_x - x0) * km, (city.station_y - y0) * km, marker="^", s=26, c="white",
               edgecolors="black", linewidths=0.8, zorder=5)
    ax.autoscale_view()
    ax.set_aspect("equal")
    fig.colorbar(cells, ax=ax, shrink=0.8, extend="max").set_label(label)
    ax.set_xlabel("east-west (km, from the map's west edge)")
    ax.set_ylabel("north-south (km)")
    share = float(out.mean()) if len(out) else 0.0
    handles = [Line2D([], [], marker="^", linestyle="", markerfacecolor="white", markeredgecolor="black",
                      label=f"service station ({city.stations})"),
               Line2D([], [], color="black", linestyle="--", alpha=0.5,
                      label=f"where its {circle_minutes:g}-minute walk reaches"),
               Line2D([], [], color="black", label=f"community ({len(geo.communities)})"),
               Line2D([], [], marker="o", linestyle="", color="#d62728", markersize=4,
                      label=f"household outside every walk ({int(out.sum()):,}, {100 * share:.1f}%)")]
    if not finite.all():
        handles.append(Patch(facecolor="0.85", edgecolor="white", label="grid with no requests"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    return fig


def shape_origin(shapes) -> tuple[float, float]:
    """The south-west corner of a set of shapes: where a map's km axes start."""
    import shapely
    x0, y0, _, _ = shapely.total_bounds(shapes)
    return float(x0), float(y0)


def shape_patches(shapes, x0: float, y0: float) -> list:
    """Matplotlib patches of (Multi)Polygons, in km from (x0, y0), holes kept."""
    import shapely
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath
    out = []
    for shape in shapes:
        rings = []
        for part in shapely.get_parts(shape):
            if part.geom_type != "Polygon" or part.is_empty:
                continue
            for ring in (part.exterior, *part.interiors):
                xy = (np.asarray(ring.coords) - (x0, y0)) * 1e-3
                rings.append(MplPath(xy, closed=True))
        out.append(PathPatch(MplPath.make_compound_path(*rings) if rings else MplPath(np.zeros((1, 2)))))
    return out


# ---------------------------------------------------------------- 6. paired differences (forest plot)
def differences(res: Results, stem, kpis=HEADLINE_FIGURE_KPIS, dpi: int = DPI):
    """One panel per KPI: each option's paired difference from the baseline (option minus baseline,
    replicate by replicate) with its 95% CI. Filled: the CI excludes zero; hollow: it does not.

    These are the intervals to judge options by: runs share their random numbers within a
    replicate, so a paired interval is often far narrower than the two options' own intervals
    (which `kpi_by_option` shows, and which may overlap where the difference is clear)."""
    t = res.table
    kpis = [k for k in kpis if k in set(t["kpi"])]
    others = [p for p in res.points if p in set(t.loc[~t["is_baseline"], "point"])]
    if not kpis or not others:
        raise ValueError("no option besides the baseline to compare")
    rows = max(res.label(p, 30).count("\n") + 1 for p in others)
    fig = new_figure((4.2 * len(kpis) + 1, 1.6 + 0.22 * rows * len(others)))
    axes = fig.subplots(1, len(kpis), sharey=True, squeeze=False)
    y = np.arange(len(others))[::-1]
    for ax, kpi in zip(axes[0], kpis):
        info = kpi_info(kpi)
        block = t[(t["kpi"] == kpi)].set_index("point")
        for yi, p in zip(y, others):
            r = block.loc[p]
            d, hw = r["diff"] * info.scale, r["half_width"] * info.scale
            if math.isnan(d):
                undefined(ax, yi)
                continue
            face = res.colours[p] if r["distinguishable"] else "white"
            ax.errorbar(d, yi, xerr=None if math.isnan(hw) else hw, fmt="o", color=res.colours[p],
                        markerfacecolor=face, markeredgecolor=res.colours[p], ecolor=res.colours[p],
                        capsize=4, markersize=7, markeredgewidth=1.6)
        ax.axvline(0, color="0.3", linewidth=1)
        ax.set_xlabel(f"difference from baseline ({difference_unit(kpi)})")
        better = {"lower": "better: left of 0", "higher": "better: right of 0"}.get(info.better or "", "")
        ax.set_title(textwrap.fill(info.title, 32) + (f"\n({better})" if better else ""), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.2)
    axes[0][0].set_yticks(y, [res.label(p, 30) for p in others])
    axes[0][0].set_ylabel("option")
    fig.suptitle(f"{res.manifest.get('experiment')}: paired differences against the baseline "
                 f"({res.label(res.baseline_point)}), 95% CI; filled = excludes zero", fontsize=11)
    save(fig, stem, dpi)
    return fig


FIGURES = {
    "differences": "Paired differences against the baseline with 95% confidence intervals",
    "kpi_by_option": "Key results by option with 95% confidence intervals",
    "frontier": "Cost against service: the frontier of non-dominated options",
    "time_parts": "Where the time goes: reporting, 12345, waiting on and off duty, travel and service",
    "trust_hotline": "Households' trust and 12345 calls, day by day",
    "backlog": "Backlog of open requests by type: baseline and best option",
    "resolution_cdf": "Distribution of resolution time by option",
    "city_map": "City map of the baseline: p90 wait by grid, stations and their walking circles",
}
