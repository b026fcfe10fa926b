"""Metrics: every figure of a run, derived from the flat per-request and per-visit records.

The records are the single source of truth (as in Ciw): a request's
timestamps (created, reported, first answered, ended) and each visit's
(queued, started, ended, by whom). Summary, time series and the per-grid
table are all computed from them after the run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenario import PROPERTY_MODES, ROLES, scenario_hash
from .shifts import duty_minutes

QUANTILES = {"p50": 50, "p90": 90, "p95": 95}


def visit_table(model) -> pd.DataFrame:
    """One row per planned visit: request, stage, role, pool unit, agent, queued/start/end minutes."""
    rt, H = model.routes, model.horizon
    start = np.array(model.v_start)
    end = start + rt.duration
    end[end > H] = np.nan                    # still in service at the horizon
    prev_end = np.r_[np.nan, end[:-1]]
    is_first = np.zeros(len(start), dtype=bool)
    is_first[rt.first] = True
    reported = model.reported_at[rt.request]
    queued = np.where(is_first, np.where(reported <= H, reported, np.nan), prev_end)
    return pd.DataFrame({
        "request": rt.request, "stage": rt.stage,
        "role": pd.Categorical.from_codes(rt.role, ROLES), "unit": rt.unit,
        "agent": np.array([-1 if a is None else a.unique_id for a in model.v_agent], dtype=np.int64),
        "queued": queued, "start": start, "end": end,
    })


def request_table(model, visits: pd.DataFrame) -> pd.DataFrame:
    """One row per request with its outcome: resolved, abandoned or open at the horizon."""
    req, rt, city, H = model.requests, model.routes, model.city, model.horizon
    sc = model.spec
    last = rt.first + rt.count - 1
    start = visits["start"].to_numpy()
    end = visits["end"].to_numpy()
    first_start = start[rt.first]
    resolved = ~np.isnan(end[last])
    abandoned = np.isnan(first_start) & (model.deadline <= H)
    reached = np.add.reduceat(~np.isnan(visits["queued"].to_numpy()), rt.first)
    origin = np.array([t.origin for t in sc.requests.values()])[req.type]
    sla = np.array([t.sla_hours for t in sc.requests.values()])[req.type]
    hh = req.household
    return pd.DataFrame({
        "type": pd.Categorical.from_codes(req.type, req.types),
        "origin": origin, "household": hh, "grid": city.hh_grid[hh], "station": city.hh_station[hh],
        "community": city.hh_community[hh], "created": req.created, "reported": model.reported_at,
        "started": first_start,
        "ended": np.where(resolved, end[last], np.where(abandoned, model.deadline, np.nan)),
        "outcome": pd.Categorical(np.where(resolved, "resolved", np.where(abandoned, "abandoned", "open")),
                                  categories=["resolved", "abandoned", "open"]),
        "visits": reached, "handled_by": pd.Categorical.from_codes(
            visits["role"].cat.codes.to_numpy()[np.where(resolved, last, rt.first)], ROLES),
        "sla_hours": sla,
    })


def _stats(values: np.ndarray) -> dict:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {"mean": None, **{k: None for k in QUANTILES}, "n": 0}
    q = np.percentile(values, list(QUANTILES.values()))
    return {"mean": float(values.mean()), **{k: float(v) for k, v in zip(QUANTILES, q)}, "n": int(len(values))}


def _share(mask: np.ndarray, of: np.ndarray) -> float | None:
    return float(mask[of].mean()) if of.any() else None


def kpis(requests: pd.DataFrame, horizon: float) -> dict:
    """Counts, waits, resolution times, service level and escalation for a set of requests."""
    outcome = requests["outcome"].to_numpy()
    created = requests["created"].to_numpy()
    ended = requests["ended"].to_numpy()
    resolved = outcome == "resolved"
    sla = requests["sla_hours"].to_numpy() * 60
    with np.errstate(invalid="ignore"):
        met = resolved & (ended - created <= sla)
    due = created + sla <= horizon
    started = ~np.isnan(requests["started"].to_numpy())
    return {
        "requests": {"created": int(len(outcome)), "resolved": int(resolved.sum()),
                     "open": int((outcome == "open").sum()), "abandoned": int((outcome == "abandoned").sum())},
        "wait_minutes": _stats((requests["started"] - requests["reported"]).to_numpy()),
        "resolution_hours": _stats(np.where(resolved, (ended - created) / 60, np.nan)),
        "sla_met_share": _share(met, due),
        "escalated_share": _share(requests["visits"].to_numpy() > 1, started),
        "abandoned_share": _share(outcome == "abandoned", np.ones(len(outcome), dtype=bool)),
    }


def busy_minutes(starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Total busy minutes up to each of `times`, for intervals [start, end) (end nan: still busy)."""
    s = np.sort(starts[~np.isnan(starts)])
    e = np.sort(ends[~np.isnan(ends)])
    cs, ce = np.r_[0.0, np.cumsum(s)], np.r_[0.0, np.cumsum(e)]
    ks, ke = np.searchsorted(s, times, "right"), np.searchsorted(e, times, "right")
    return (ks * times - cs[ks]) - (ke * times - ce[ke])


SATURATED = 0.9   # a unit busier than this is where queues grow long


def unit_busy(model, visits: pd.DataFrame, role: str, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of a role (station, building, community...): busy minutes and capacity in [t0, horizon)."""
    H = model.horizon
    mine = (visits["role"] == role).to_numpy()
    start, end = visits["start"].to_numpy()[mine], visits["end"].to_numpy()[mine]
    end = np.where(np.isnan(end) & ~np.isnan(start), H, end)            # still busy at the horizon
    busy = np.nan_to_num(np.clip(end - np.maximum(start, t0), 0, None))
    servers = model.layout[role].servers
    busy = np.bincount(visits["unit"].to_numpy()[mine], weights=busy, minlength=len(servers))
    return busy, servers * duty_minutes(model.duty[role], t0, H)


def utilisation(model, visits: pd.DataFrame, t0: float) -> tuple[dict, dict]:
    """By role: busy time / (places x time on duty) over [t0, horizon), and how many units
    (stations, buildings, communities...) ran above SATURATED. Alliances: meeting slots used."""
    H = model.horizon
    share, saturated = {}, {}
    for role in ROLES:
        if role == "alliance":
            al = model.spec.roles.alliance
            meetings = al.count * max(0.0, (H - t0) / (al.meeting_interval_days * 1440))
            start = visits.loc[visits["role"] == role, "start"].to_numpy()
            used = int((start >= t0).sum())
            share[role] = used / (meetings * al.capacity_per_meeting) if meetings else None
            continue
        busy, capacity = unit_busy(model, visits, role, t0)
        share[role] = float(busy.sum() / capacity.sum()) if capacity.sum() > 0 else None
        with np.errstate(invalid="ignore", divide="ignore"):
            saturated[role] = int(np.sum(busy / capacity > SATURATED))
    return share, saturated


def costs(model) -> dict:
    """Annual cost in yuan by item: pay and subsidies, stations, property, fixed budgets."""
    sc, lay = model.spec, model.layout
    r = sc.roles
    items = {}
    for role in ROLES:
        if role in ("alliance", "property_manager"):
            continue
        items[f"salary_{role}"] = float(lay[role].members.sum() * getattr(r, role).salary_yuan)
    items["subsidy_building_leader"] = float(lay["building_leader"].members.sum() * r.building_leader.subsidy_yuan)
    items["stations"] = model.city.stations * sc.stations.running_cost_yuan
    mode_counts = np.bincount(model.city.compound_mode, minlength=len(PROPERTY_MODES))
    items["property"] = float(sum(mode_counts[i] * r.property_manager.modes[m].cost_yuan_per_compound
                                  for i, m in enumerate(PROPERTY_MODES)))
    items["alliances"] = r.alliance.cost_yuan_per_year
    items["sub_districts"] = sc.city.sub_districts * sc.costs.per_sub_district_yuan
    items["communities"] = sc.city.communities * sc.costs.per_community_yuan
    return items


def summary(model, requests: pd.DataFrame, visits: pd.DataFrame) -> dict:
    """The one-row summary of a run; headline figures cover residents' requests."""
    sc, H = model.spec, model.horizon
    t0 = sc.run.warmup_days * 1440
    window = requests[requests["created"] >= t0]
    resident = window[window["origin"] == "resident"]
    cost = costs(model)
    share, saturated = utilisation(model, visits, t0)
    out = {
        "scenario": sc.name, "scenario_hash": scenario_hash(sc), "seed": model.seed, "days": model.days,
        "warmup_days": sc.run.warmup_days,
        **kpis(resident, H),
        "all_requests": kpis(window, H)["requests"],
        "utilisation": share,
        "saturated_units": saturated,
        "walk15_coverage_share": model.city.walk15_share(sc.city.walk_circle_minutes),
        "cost_yuan_per_year": float(sum(cost.values())),
        "cost_breakdown": cost,
        "staff": {role: int(model.layout[role].members.sum()) for role in ROLES},
        "city": {"households": model.city.households, "grids": model.city.grids,
                 "stations": model.city.stations},
        "by_type": {name: kpis(group, H) for name, group in window.groupby("type", observed=False)},
    }
    return out


def timeseries(model, requests: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Hourly: open requests by type at the end of each hour, mean busy places by role in the hour."""
    H = model.horizon
    times = np.arange(60.0, H + 1e-9, 60.0)
    if len(times) == 0 or times[-1] < H:
        times = np.r_[times, H]
    cols = {"hour": times / 60}
    created, ended = requests["created"].to_numpy(), requests["ended"].to_numpy()
    for t, name in enumerate(requests["type"].cat.categories):
        mine = (requests["type"].cat.codes == t).to_numpy()
        c = np.sort(created[mine])
        e = np.sort(ended[mine][~np.isnan(ended[mine])])
        cols[f"open_{name}"] = np.searchsorted(c, times, "right") - np.searchsorted(e, times, "right")
    codes = visits["role"].cat.codes.to_numpy()
    start, end = visits["start"].to_numpy(), visits["end"].to_numpy()
    edges = np.r_[0.0, times]
    for r, role in enumerate(ROLES):
        if role == "alliance":
            continue
        mine = codes == r
        e = np.where(np.isnan(end[mine]) & ~np.isnan(start[mine]), H, end[mine])
        b = busy_minutes(start[mine], e, edges)
        cols[f"busy_{role}"] = np.diff(b) / np.diff(edges)
    return pd.DataFrame(cols)


def grid_table(model, requests: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Per grid: households, residents' requests, waits, resolution, and its grid leaders' load."""
    city = model.city
    t0 = model.spec.run.warmup_days * 1440
    res = requests[(requests["origin"] == "resident") & (requests["created"] >= t0)]
    wait = (res["started"] - res["reported"]).to_numpy()
    hours = np.where(res["outcome"] == "resolved", (res["ended"] - res["created"]) / 60, np.nan)
    df = pd.DataFrame({"grid": res["grid"].to_numpy(), "wait": wait, "hours": hours})
    g = df.groupby("grid")
    out = pd.DataFrame({
        "grid": np.arange(city.grids), "community": city.grid_community, "station": city.grid_station,
        "households": np.bincount(city.hh_grid, minlength=city.grids),
        "x": np.bincount(city.hh_grid, weights=city.hh_x, minlength=city.grids),
        "y": np.bincount(city.hh_grid, weights=city.hh_y, minlength=city.grids),
    })
    out["x"] /= np.maximum(out["households"], 1)
    out["y"] /= np.maximum(out["households"], 1)
    out["requests"] = g.size().reindex(out["grid"], fill_value=0).to_numpy()
    out["wait_mean_minutes"] = g["wait"].mean().reindex(out["grid"]).to_numpy()
    out["wait_p90_minutes"] = g["wait"].quantile(0.9).reindex(out["grid"]).to_numpy()
    out["resolution_p90_hours"] = g["hours"].quantile(0.9).reindex(out["grid"]).to_numpy()
    # grid leaders work per station (or community office): their utilisation is the unit's
    busy, capacity = unit_busy(model, visits, "grid_leader", t0)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_util = np.where(capacity > 0, busy / capacity, np.nan)
    unit = city.grid_station if city.stations else city.grid_community
    out["grid_leader_utilisation"] = unit_util[unit]
    return out


def finite(x):
    """JSON-safe: NaN and infinities become None, recursively."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def daily_series(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Daily means of the hourly series (open requests by type, busy places by role)."""
    day = np.ceil(timeseries["hour"].to_numpy() / 24).astype(int)
    out = timeseries.drop(columns="hour").groupby(day).mean()
    out.index.name = "day"
    return out.reset_index()


def resolution_quantiles(requests: pd.DataFrame, t0: float) -> pd.DataFrame:
    """Percentiles 0-100 of resolution hours of residents' resolved requests created after t0."""
    res = requests[(requests["origin"] == "resident") & (requests["created"] >= t0)
                   & (requests["outcome"] == "resolved")]
    hours = ((res["ended"] - res["created"]) / 60).to_numpy()
    q = np.arange(101)
    return pd.DataFrame({"percentile": q,
                         "resolution_hours": np.percentile(hours, q) if len(hours) else np.full(101, np.nan)})
