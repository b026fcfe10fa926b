"""Paired comparisons of stored sweep results.

Runs in the same replicate share their seed, so every point saw the same
arrivals (common random numbers). The difference between a point and the
baseline is therefore taken replicate by replicate, and its 95% confidence
interval is a t interval over those paired differences: much narrower than
comparing two independent means when the runs are positively correlated.

This module works on the runs table the results store (`analysis.store`)
reads; it never reads files itself and never runs a model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..model.kpis import HEADLINE, is_kpi, lookup, number

OPTION = "option"    # the factor whose values name an experiment's [options] bundles


class CompareError(ValueError):
    """Bad results folder or baseline; one line."""


def kpis_for(manifest: dict, runs: pd.DataFrame | None = None) -> list[str]:
    """The KPIs to show for an experiment: the headline KPIs, then the spec's own `kpis`, the only
    ones its runs keep (a calibration's) and its objective's, in that order."""
    from .objective import from_manifest
    objective = from_manifest(manifest)
    spec = manifest.get("spec") or {}
    named = [*spec.get("kpis", []), *spec.get("keep", [])] + (objective.kpis if objective else [])
    extra = list(dict.fromkeys(k for k in named if k not in HEADLINE))
    if runs is None:
        return [*HEADLINE, *extra]
    unknown = [k for k in extra if k not in runs.columns]
    if unknown and len(runs):
        raise CompareError(f"kpis: {unknown[0]!r} is not a KPI column of these runs (see `gridsim run --json`)")
    return [k for k in (*HEADLINE, *extra) if k in runs.columns]


def check_kpis(kpis: list[str], runs: pd.DataFrame) -> None:
    """Every name must be a KPI (the KPI table says which) with a column in these runs."""
    for k in kpis:
        if not is_kpi(k):
            raise CompareError(f"--kpi {k}: not a KPI (KPIs are summary numbers such as "
                               "resolution_hours.p90, sla_met_share, by_type.errand.wait_minutes.mean)")
        if k not in runs.columns:
            raise CompareError(f"--kpi {k}: no such column in these results (see `gridsim run --json`)")


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the t confidence interval); half-width NaN when n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    if n < 2:
        return float(x.mean()), math.nan
    with np.errstate(invalid="ignore"):            # an infinite value: its spread is undefined (NaN)
        sd = float(x.std(ddof=1))
    return float(x.mean()), float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def kpi_means(runs: pd.DataFrame, kpis: list[str], labels: dict[int, str], level: float = 0.95) -> pd.DataFrame:
    """One row per point and KPI: the option's label, the KPI's name, label and unit, the mean over
    replicates and its t confidence interval (NaN with one replicate), and n."""
    rows = []
    for point, mine in runs.groupby("point", sort=True):
        for k in kpis:
            m, hw = mean_ci(mine[k].to_numpy(float), level)
            info = lookup(k)
            rows.append({"point": int(point), "option": labels.get(int(point), f"point {point}"), "name": k,
                         "label": info.label if info else k, "unit": info.unit if info else "",
                         "mean": m, "ci_low": m - hw, "ci_high": m + hw, "n": int(mine[k].notna().sum())})
    return pd.DataFrame(rows, columns=["point", "option", "name", "label", "unit", "mean", "ci_low", "ci_high", "n"])


def difference_unit(name: str) -> str:
    """The unit a difference of this KPI is shown in: a share's in percentage points ("pp")."""
    info = lookup(name)
    if info is None:
        return ""
    return "pp" if info.display_unit == "%" else info.display_unit


def show_difference(name: str, value: float) -> str:
    """A difference of a KPI, signed, in its shown unit: `+3.20 pp` for a share (never `%`, which would
    read as relative), `-12.5 min`, `+1.20 M yuan per year`."""
    info = lookup(name)
    if value is None or math.isnan(value):
        return "-"
    sign = "+" if value > 0 else ""
    if info is None:
        return sign + number(value)
    unit = difference_unit(name)
    text = number(value * info.scale)
    return f"{sign}{text}" if unit == "count" else f"{sign}{text} {unit}"


def show_value(name: str, value: float) -> str:
    """A KPI's value in its shown unit (`85.3%`, `31.2 h`); a plain number for a column that is not a KPI."""
    info = lookup(name)
    return info.show(value) if info is not None else number(value)


def no_interval(n: int, replicates: int) -> str:
    """Why a difference has no interval: one replicate, or a KPI undefined for the option or the
    baseline in the others (a percentile of a share never resolved, a role with no posts)."""
    if replicates < 2:
        return "one replicate: no interval"
    if n == 0:
        return "undefined for the option or the baseline in every replicate: no difference"
    return f"defined for both in {n} of {replicates} replicates: no interval"


def unpaired_ci(a, b, level: float = 0.95) -> tuple[float, float]:
    """(mean(a) - mean(b), Welch half-width), treating the two samples as independent."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore"):
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), 0.0
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.5 + level / 2, dof) * se)


def resolve_factor(key: str, factors: list[str]) -> str:
    """A full dotted path, or a unique last part of one (`households_per_grid`)."""
    if key in factors:
        return key
    hits = [f for f in factors if f.endswith("." + key)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise CompareError(f"--baseline {key}: not a factor of this experiment (factors: {', '.join(factors) or 'none'})")
    raise CompareError(f"--baseline {key}: ambiguous, matches {', '.join(hits)}")


def _same(column: pd.Series, value) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Series(np.isclose(column.to_numpy(dtype=float), float(value), rtol=1e-9, atol=0), index=column.index)
    return column.astype(str) == str(value)


def point_label(row: pd.Series, factors: list[str]) -> str:
    """`police.per_station=1`: the last two parts of each factor path (the last alone is often
    ambiguous); an experiment whose only factor is its [options] is labelled by the option name."""
    if list(factors) == [OPTION]:
        return str(row[OPTION])
    parts = []
    for f in factors:
        name = f if f == OPTION else ".".join(f.split(".")[-2:])
        v = row[f]
        parts.append(f"{name}={v:g}" if isinstance(v, float) else f"{name}={v}")
    return ", ".join(parts) or "(base)"


def compare(runs: pd.DataFrame, factors: list[str], baseline: dict, kpis=None,
            labels: dict | None = None) -> pd.DataFrame:
    """Per point and KPI: mean, baseline mean, paired difference with 95% CI, n, and whether
    the CI covers zero. `baseline` maps factor paths to values; factors it leaves out are
    held at each point's own value. `labels` (point -> label, from the manifest) name the
    points; without them a label is made from the factor values."""
    kpis = list(kpis or [k for k in HEADLINE if k in runs.columns])
    check_kpis(kpis, runs)
    pts = runs.drop_duplicates("point").set_index("point")
    base_mask = pd.Series(True, index=pts.index)
    for f, v in baseline.items():
        base_mask &= _same(pts[f], v)
    if not base_mask.any():
        shown = ", ".join(f"{k}={v}" for k, v in baseline.items())
        raise CompareError(f"--baseline {shown}: no such point in the results")
    rows = []
    others = [f for f in factors if f not in baseline]
    for p, prow in pts.iterrows():
        match = base_mask.copy()
        for f in others:
            match &= _same(pts[f], prow[f])
        if not match.any():
            continue
        b = int(match[match].index[0])
        here = runs[runs["point"] == p].set_index("replicate")
        there = runs[runs["point"] == b].set_index("replicate")
        common = here.index.intersection(there.index)
        for k in kpis:
            x, y = here.loc[common, k].astype(float), there.loc[common, k].astype(float)
            ok = ~(x.isna() | y.isna())
            d = (x - y)[ok]
            mean_d, hw = mean_ci(d) if p != b else (0.0, 0.0)
            _, hw_u = unpaired_ci(x[ok], y[ok]) if ok.sum() >= 2 and p != b else (math.nan, math.nan)
            rows.append({
                "point": int(p), "label": (labels or {}).get(int(p)) or point_label(prow, factors),
                "baseline_point": b,
                "is_baseline": p == b, "kpi": k, "n": int(ok.sum()), "replicates": len(common),
                "mean": float(here[k].astype(float).mean()), "baseline_mean": float(y[ok].mean()) if ok.any() else math.nan,
                "diff": mean_d, "ci_low": mean_d - hw, "ci_high": mean_d + hw, "half_width": hw,
                "half_width_unpaired": hw_u,
                "distinguishable": bool(not math.isnan(hw) and (mean_d - hw > 0 or mean_d + hw < 0)),
            })
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """Plain text: one block per point, one line per KPI."""
    lines = []
    name = max([27, *(len(k) for k in table["kpi"])]) + 1           # a KPI's name and a space
    for p, block in table.groupby("point", sort=True):
        first = block.iloc[0]
        if first["is_baseline"]:
            lines.append(f"{first['label']}  (baseline, {first['replicates']} replicates)")
            for _, r in block.iterrows():
                lines.append(f"  {r['kpi']:<{name}}{show_value(r['kpi'], r['mean']):>16}")
            lines.append("")
            continue
        base = table[(table["point"] == first["baseline_point"])]
        base_label = base.iloc[0]["label"] if len(base) else f"point {first['baseline_point']}"
        lines.append(f"{first['label']}  vs  {base_label}  (paired over {first['replicates']} replicates)")
        shown = [(show_value(r["kpi"], r["mean"]), show_value(r["kpi"], r["baseline_mean"]),
                  show_difference(r["kpi"], r["diff"])) for _, r in block.iterrows()]
        w = max([15, *(len(x) for row in shown for x in row)]) + 1       # a cost is wider than a share
        lines.append(f"  {'kpi':<{name}}{'mean':>{w}}{'baseline':>{w}}{'difference':>{w}}   95% CI of the difference")
        for (_, r), (mean, baseline, diff) in zip(block.iterrows(), shown):
            k = r["kpi"]
            if r["n"] < 2:
                verdict = no_interval(int(r["n"]), int(r["replicates"]))
            else:
                verdict = f"[{show_difference(k, r['ci_low'])}, {show_difference(k, r['ci_high'])}]"
                if r["half_width"] == 0 and r["diff"] == 0:
                    verdict = "identical in every replicate"
                elif not r["distinguishable"]:
                    verdict += "  not distinguishable from zero"
            lines.append(f"  {k:<{name}}{mean:>{w}}{baseline:>{w}}{diff:>{w}}   {verdict}")
        lines.append("")
    return "\n".join(lines).rstrip()
