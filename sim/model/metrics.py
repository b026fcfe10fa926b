"""Metrics: every figure of a run, derived from the flat per-request and per-visit records.

The records are the single source of truth (as in Ciw): a request's
timestamps (created, reported, first started, ended) and each visit's
(queued, started, ended, by whom). Summary, time series and the per-grid
table are all computed from them after the run.

Figures count the unresolved. Times to resolution are a Kaplan-Meier
estimate over every request created: a request still open at the horizon is
right-censored there; an abandoned one is never resolved (it stays in the
denominator for ever), so an option cannot look better by losing requests.
A percentile that the resolved share never reaches is reported as None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, Collection, NamedTuple

import numpy as np
import pandas as pd

from ..scenario import PROPERTY_MODES, ROLES, scenario_hash, shift_hours_per_week
from .routes import CHANNELS, HOTLINE, HOTLINE_STAGE, RECEPTION_STAGE, REPORTED_BY, travel_minutes
from . import journey, records, spill
from .calendar import compiled, inline
from .order import stable_order
from .records import ORIGINS, OUTCOMES
from .units import capacity_minutes

QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95}
WALK_BANDS = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)      # minutes' walk from home to the nearest station
WALK_BAND_NAMES = ["0-5", "5-10", "10-15", "15-20", "20-30", "30+"]
TIME_PARTS = ("reporting", "hotline", "waiting_on_duty", "waiting_off_duty", "travel", "service")
PART_ROWS = 1 << 18     # visits whose minutes on duty are found at a time (`visit_parts`)
SATURATED = 0.9   # a unit busier than this is where queues grow long


# ---------------------------------------------------------------- records
def tables(model, release: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's records: (visits, requests), their columns as `records.VISITS` and
    `records.REQUESTS` declare them. `release`: the model's records are let go as their tables are
    made (`GridModel.release_records`), the visits' before the requests' table: a city-year's outputs
    then peak lower (docs/PERFORMANCE.md).

    visits: one row per visit that was reached (stage -2, the receiver's triage, counts the duty
    leader's phone response on call as travel). requests: one row per request (repeats after the
    rest); its outcome is resolved (its last visit ended by the horizon), abandoned (nobody started
    its first visit before the resident's deadline, or the resident said nothing and gave up on it
    unfound), or open at the horizon.
    """
    w = model.world
    vis = _rows(w.visit, int(w.count[journey.VISITS]), TABLES_READ_VISIT)
    req = _rows(w.request, int(w.count[journey.REQUESTS]), TABLES_READ_REQUEST)
    del w                                 # (else the world it names would hold every record to the end)
    if release:
        model.release_records()           # the fields read are held by `vis` and `req` alone, the rest go
    visits, decided = _visits(model, vis, req)
    return visits, _requests(model, req, decided)


def _visits(model, vis: dict, req: dict) -> tuple[pd.DataFrame, tuple]:
    """The visits' table, and the requests' columns their visits decide (`request_outcomes`). Takes
    the fields of `vis`, and those of `req` the requests' table does not read, out of their dicts as
    it reads them, and puts each column on the table's file once it is made (`records.room`): a
    city-year's outputs peak lower (`benchmarks/memory.py`)."""
    H, city = model.horizon, model.city
    reached = np.flatnonzero(~np.isnan(vis["queued"])).astype(np.int32)
    n = len(req["first"])
    table = records.room(records.VISITS, len(reached), spill.pays(n))
    role_of_unit = np.repeat(np.arange(len(ROLES), dtype=np.int8), [len(model.layout[r].members) for r in ROLES])
    unit = vis.pop("unit")[reached]
    role = role_of_unit[unit]
    spill.put(table["unit"], unit - np.array([model.unit_offset[r] for r in ROLES], dtype=unit.dtype)[role])
    spill.put(table["agent"], vis.pop("agent")[reached])
    spill.put(table["queued_minute"], vis.pop("queued")[reached])
    del unit
    request, stage = vis.pop("request")[reached], vis.pop("stage")[reached]
    spill.give_back(heap=spill.pays(n))     # (the records' pages read so far stay on their file; what the run freed goes)
    first_start, ended, outcome, count = np.empty(n), np.empty(n), np.empty(n, dtype=np.int8), np.zeros(n, dtype=np.int32)
    first_role, last_role, by_110 = np.full(n, -1, dtype=np.int8), np.full(n, -1, dtype=np.int8), np.zeros(n, dtype=bool)
    start, duration = vis.pop("start"), vis.pop("duration")
    request_outcomes(H, request, stage, role, start, duration, vis.pop("deadline"), req.pop("first"), req.pop("last"),
                     req.pop("lapse"), first_start, ended, outcome, count, first_role, last_role, by_110)
    spill.give_back()
    start, duration = start[reached], duration[reached]
    end = start + duration
    end[end > H] = np.nan                                  # still in service at the horizon
    spill.put(table["start_minute"], start)
    spill.put(table["end_minute"], end)
    del start, end, reached
    household = req["household"]
    travel = np.zeros(len(request))
    visit_type = req["type"][request]
    types = list(model.spec.requests.values())
    # each role's visits by one radix sort, not a mask over every visit for each role (tables 50 -> 42 ms
    # in a calibration's run); a receiver's triage is by message or at the desk
    went = by_role(role, stage != RECEPTION_STAGE)
    for name, mine in zip(ROLES, went):
        if not len(mine) or name in ("alliance", "hotline"):
            continue
        if name != "duty_leader":
            travel[mine] = travel_minutes(model.spec, city, name, household[request[mine]])
            continue
        for t, k in set(zip(visit_type[mine].tolist(), stage[mine].tolist())):     # as the role it stood in for
            here = mine[(visit_type[mine] == t) & (stage[mine] == k)]
            travel[here] = travel_minutes(model.spec, city, name, household[request[here]], types[t].stages[k].roles)
    del went, visit_type
    duty = (role == ROLES.index("duty_leader")) & (stage == RECEPTION_STAGE)
    travel[duty] = travel_minutes(model.spec, city, "duty_leader", household[request[duty]])   # the phone's response
    spill.put(table["travel_minutes"], travel)
    spill.put(table["service_minutes"], duration - travel)
    for name, column in (("request", request), ("stage", stage), ("role", role)):
        spill.put(table[name], column)
    return records.frame(records.VISITS, table), (first_start, ended, outcome, count, first_role, last_role, by_110)


def _requests(model, req: dict, decided: tuple) -> pd.DataFrame:
    """The requests' table from their records and what their visits decided, each column put on
    the table's file as it is made (`records.room`)."""
    city, types = model.city, list(model.spec.requests.values())
    household, reported, kind = req["household"], req["reported"], req["type"]
    categories = {"type": list(model.spec.requests)}
    table = records.room(records.REQUESTS, len(kind), spill.pays(len(kind)), categories)
    for name, column in zip(("started_minute", "ended_minute", "outcome", "visits", "first_handler", "handled_by",
                             "police110"), decided):
        spill.put(table[name], column)
    for name in ("type", "household", "silent", "repeat_of"):
        spill.put(table[name], req[name])
    spill.put(table["created_minute"], req["created"])
    spill.put(table["reported_minute"], reported)
    spill.put(table["origin"], np.array([ORIGINS.index(t.origin) for t in types], dtype=np.int8)[kind])
    spill.put(table["grid"], city.hh_grid[household])
    spill.put(table["station"], city.hh_station[household])
    spill.put(table["community"], city.hh_community[household])
    spill.put(table["channel"], np.where(np.isnan(reported), -1, req["channel"]))
    spill.put(table["sla_hours"], req["sla"] / 60)
    spill.put(table["wait_target_minutes"], np.array([np.nan if t.wait_target_minutes is None
                                                      else t.wait_target_minutes for t in types])[kind])
    return records.frame(records.REQUESTS, table, categories)


_POLICE110_ROLE = ROLES.index("police110")


@compiled
def request_outcomes(horizon, request, stage, role, start, duration, deadline, first, last, lapse,
                     first_start, ended, outcome, visits, first_role, last_role, by_110):
    """Each request's columns of `tables` that its visits decide. From the visits reached, in
    their order (request, stage, role): how many handled it (the call to 12345 aside), the first's
    and the last's role, and whether 110's patrol did. From its first and last visit (indices into
    start, duration, deadline): when it first started; resolved if its last visit ended by the
    horizon; abandoned if a handler was reached but nobody started its first visit before the
    resident's deadline, or if it never reached anyone and its resident gave up unfound (lapse);
    else open (outcome 0, 1, 2; ended the resolution, the deadline or the lapse, or nan)."""
    for v in range(len(request)):
        r = request[v]
        if role[v] == _POLICE110_ROLE:
            by_110[r] = True
        if stage[v] != HOTLINE_STAGE:
            visits[r] += 1
            if first_role[r] < 0:
                first_role[r] = role[v]
            last_role[r] = role[v]
    for i in range(len(first)):
        first_start[i] = start[first[i]]
        end = start[last[i]] + duration[last[i]]
        if end <= horizon:
            outcome[i], ended[i] = 0, end
        elif visits[i] > 0 and first_start[i] != first_start[i] and deadline[first[i]] <= horizon:
            outcome[i], ended[i] = 1, deadline[first[i]]
        elif visits[i] == 0 and lapse[i] <= horizon:
            outcome[i], ended[i] = 1, lapse[i]
        else:
            outcome[i], ended[i] = 2, math.nan


# the records' fields the tables read: with `release`, the journey's others (its queues' links, the
# residents' draws and utilities) go before the tables are made: by their arrays' sizes, 113 MB of a
# city-year's records
TABLES_READ_VISIT = ("request", "stage", "unit", "duration", "queued", "start", "agent", "deadline")
TABLES_READ_REQUEST = ("type", "household", "created", "reported", "channel", "silent", "lapse", "first", "last",
                       "repeat_of", "sla")


def _rows(record: tuple, rows: int, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Some fields of a record (`records.Visits`, `records.Requests`), the rows in use."""
    return {name: getattr(record, name)[:rows] for name in fields}


# ---------------------------------------------------------------- censored statistics
class Censored:
    """Durations, right-censored where not `observed` (an infinite one is never observed and stays
    at risk for ever: a request abandoned is never resolved, so a share may stay below 1).

    Sorted by time once, when a grouping first asks (`sorted`), so the Kaplan-Meier curve of any
    grouping of them costs a linear pass (a counting sort by group, compiled) rather than a sort of
    its own: a summary asks for fourteen groupings. `among` (a mask) sorts only the rows any
    grouping will ask for. Until asked, and after `forget`, it holds its three columns alone: what
    a district's tallies send back, and keep once finished (`finish`), is a third of the sorted
    form (docs/PERFORMANCE.md).
    """

    def __init__(self, duration: np.ndarray, observed: np.ndarray, among: np.ndarray | None = None,
                 steps: "LogFactors | None" = None):
        duration = np.asarray(duration, dtype=float)
        self._steps = LogFactors(len(duration)) if steps is None else steps
        self.duration, self.observed, self.among = spill.filed(   # (a city-year's outputs hold three of them)
            duration, np.asarray(observed, dtype=bool),
            np.ones(len(duration), dtype=bool) if among is None else np.asarray(among, dtype=bool),
            on_file=spill.pays(len(duration)))
        self._sorted: tuple | None = None

    def sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(order, time, event, step, room): the rows `among` in order of time (at a tied time
        events first: censored times nudged to the next float up; int32 where they fit, half
        the bytes to write and read of int64), their durations and events in
        that order, step[k] the log of the factor an event with k at risk brings (`LogFactors`,
        shared by a run's clocks), and room for the groupings' counting sort (made each time:
        not kept). A long run's are kept on a file, each as it is made (`spill`): a city-year's
        outputs peaked at them."""
        if self._sorted is None:
            rows = np.flatnonzero(self.among).astype(np.int32 if len(self.among) <= 2**31 else np.int64)
            key = self.duration[rows]
            np.copyto(key, np.nextafter(key, np.inf), where=~self.observed[rows])
            on_file = spill.pays(len(self.duration))
            order, = spill.filed(rows[stable_order(key)], on_file=on_file)
            del rows, key
            self._sorted = (order, *spill.filed(self.duration[order], self.observed[order], on_file=on_file),
                            self._steps.upto(len(order), on_file))
        return (*self._sorted, np.empty(len(self._sorted[0]), np.int32))

    def forget(self) -> None:
        """Let the sorted form go (`sorted` makes it again if asked)."""
        self._sorted = None
        self._steps.forget()

    def curves(self, group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cumulative share with the event (1 - Kaplan-Meier survival) within each group (group[i]
        < 0: left out). Returns (group, time, share) at every observed event, sorted by group then
        time. Events are taken one at a time, with those at risk = the group's size minus those
        before it (censored ones at a tied time still at risk): over a tie of d events among n this
        telescopes to the usual factor 1 - d/n."""
        group = np.zeros(len(self.duration), dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
        if np.any((group >= 0) & ~self.among):
            raise ValueError("a group takes rows outside those sorted (`among`)")
        order, time, event, step, room = self.sorted()
        n = len(order)
        groups = int(group.max(initial=-1)) + 1
        points = (np.empty(n, dtype=np.int64), np.empty(n), np.empty(n))
        n = kaplan_meier_points(order, group, time, event, step, np.zeros(groups, np.int64),
                                np.empty(groups, np.int64), room, *points)
        g, t, log_survival = (p[:n] for p in points)
        return g, t, -np.expm1(log_survival)

    def quantiles(self, group: np.ndarray, groups: int) -> np.ndarray:
        """(groups, len(QUANTILES)): the first event time at which each group's share reaches each
        quantile; nan where it never does. The same as read off `curves` (below), without its
        points: each share is compared in log survival, with the bound below which numpy's
        -expm1 reaches the quantile (`log_survival_reaching`)."""
        group = np.asarray(group)
        if np.any((group >= 0) & ~self.among):
            raise ValueError("a group takes rows outside those sorted (`among`)")
        if group.max(initial=-1) >= groups:
            raise ValueError(f"a group past the {groups} asked for")
        out = np.full((groups, len(QUANTILES)), np.nan)
        order, time, event, step, room = self.sorted()
        kaplan_meier_quantiles(order, group, time, event, step, _REACHING, np.zeros(groups, np.int64),
                               np.empty(groups, np.int64), room, out)
        return out


class LogFactors:
    """step[k], the log of the factor an event with k at risk brings (k = 1 ... `most`; -1e9: log 0
    kept finite), step[0] = 0. Each element depends on k alone, so the clocks of a run share one,
    made when first asked and kept on a file as their sorted forms are: a city-year's three would
    otherwise be 28 MB made and written three times."""

    def __init__(self, most: int):
        self.most, self._made = most, None

    def upto(self, n: int, on_file: bool) -> np.ndarray:
        """step[0 ... n]."""
        if n > self.most:
            raise ValueError(f"{n} at risk: these factors go to {self.most}")
        if self._made is None:
            step = np.arange(self.most + 1, dtype=float)
            with np.errstate(divide="ignore"):
                step[1:] = np.maximum(np.log1p(-1.0 / step[1:]), -1e9)
            step[0] = 0.0
            self._made, = spill.filed(step, on_file=on_file)
        return self._made[:n + 1]

    def forget(self) -> None:
        self._made = None


def log_survival_reaching(q: float) -> float:
    """The largest log survival L whose share, -np.expm1(L), is at least q less 1e-12 (what the
    percentiles compare), found by bisecting the floats from -1e9 to 0: a curve's share reaches
    q where its log survival first falls to L, with no exp taken along it."""
    def key(x: float) -> int:          # the floats' order as integers
        bits = int(np.float64(x).view(np.int64))
        return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)

    def value(k: int) -> float:
        return float(np.int64(k if k >= 0 else -k | -0x8000_0000_0000_0000).view(np.float64))

    lo, hi = key(-1e9), key(0.0)          # -expm1 reaches q at lo, not at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if -np.expm1(np.float64(value(mid))) >= q - 1e-12:
            lo = mid
        else:
            hi = mid
    return value(lo)


_REACHING = np.array([log_survival_reaching(q) for q in QUANTILES.values()])


@inline
def by_group_of(order, group, size, slot, by_group):
    """A stable counting sort of `order`'s rows by their `group` (< 0: left out): each group's
    size (`size` a 0 for each), and by_group[slot[g]...] its rows' places in `order`."""
    for i in range(len(order)):
        g = group[order[i]]
        if g >= 0:
            size[g] += 1
    start = 0
    for g in range(len(size)):
        slot[g] = start
        start += size[g]
    for i in range(len(order)):
        g = group[order[i]]
        if g >= 0:
            by_group[slot[g]] = i
            slot[g] += 1


@compiled
def kaplan_meier_quantiles(order, group, time, event, step, reaching, size, slot, by_group, out):
    """`Censored.quantiles`: out[g, k] = the time of group g's first curve point (the last event
    of a tie stands for it, as in `kaplan_meier_points`) whose log survival is at most
    reaching[k]; the log survival summed as there, bit for bit."""
    by_group_of(order, group, size, slot, by_group)
    total, j = 0.0, 0
    for g in range(len(size)):
        before, k, point, at = total, 0, -1.0, math.nan        # (point: the pending point's log survival)
        for m in range(size[g] + 1):
            i = by_group[j + m] if m < size[g] else -1
            if i < 0 or (event[i] and time[i] != at):
                if at == at:                # the pending point is complete: which quantiles it reaches
                    while k < len(reaching) and point <= reaching[k]:
                        out[g, k] = at
                        k += 1
                if i < 0:
                    break
                at = time[i]
            if event[i]:
                total += step[size[g] - m]
                point = total - before
        j += size[g]


@compiled
def kaplan_meier_points(order, group, time, event, step, size, slot, by_group, g_out, t_out, log_out):
    """The Kaplan-Meier curves of `Censored.curves` over the rows `order` (sorted by time; `time`
    and `event` in that order) by `group` (< 0: left out; `size`: a 0 for each group; `slot` and
    `by_group`: room for a counting sort by group). `step[k]`: the log of the factor an event
    with k at risk brings. Writes (group, time, log survival) after each tie of events, by group
    then time, and returns how many. The log survival is summed over every group in turn, less
    its value before the group's first row, as np.cumsum over the groups one after the other gives
    it (bit for bit)."""
    by_group_of(order, group, size, slot, by_group)
    total, n, j = 0.0, 0, 0
    for g in range(len(size)):
        before = total
        for k in range(size[g]):
            i = by_group[j]
            j += 1
            if event[i]:
                total += step[size[g] - k]
                if n == 0 or g_out[n - 1] != g or t_out[n - 1] != time[i]:
                    n += 1                        # a new time; else the tie's latest event stands for it
                g_out[n - 1], t_out[n - 1], log_out[n - 1] = g, time[i], total - before
    return n


def kaplan_meier(duration: np.ndarray, observed: np.ndarray,
                 group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`Censored.curves` of one set of durations."""
    return Censored(duration, observed).curves(group)


def resolution_hours(outcome: np.ndarray, since: np.ndarray, ended: np.ndarray,
                     horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Hours from `since` (the report, or the problem arising) to resolution, and whether observed:
    abandoned never, open censored."""
    hours = np.where(outcome == 0, ended - since, np.where(outcome == 1, np.inf, horizon - since)) / 60
    return hours, outcome == 0


def resolution_curve(requests: pd.DataFrame, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Hours from the report to resolution and the share resolved by then, over every request
    reported (Kaplan-Meier)."""
    told = requests["reported_minute"].notna().to_numpy()
    hours, observed = resolution_hours(requests["outcome"].cat.codes.to_numpy()[told],
                                       requests["reported_minute"].to_numpy()[told],
                                       requests["ended_minute"].to_numpy()[told], horizon)
    _, t, share = kaplan_meier(hours, observed)
    return t, share


# ---------------------------------------------------------------- KPIs of sets of requests
class VisitParts(NamedTuple):
    """Each request's visits in visit order (rows `order[first[r]:first[r + 1]]` of the visits'
    table for request r) and what each adds to its request's time parts (TIME_PARTS: the hours it
    spent in each part of its journey, which add up to its resolution time): reporting delay, the
    12345 call, waiting while its handler was on duty, waiting while off duty (alliances: for the
    next meeting), walking or driving, service. `add_contributions` adds them up a request at a
    time as it reads it: a city-year's (requests, parts) array was 60 MB at the outputs' peak."""
    first: np.ndarray
    order: np.ndarray
    hot: np.ndarray
    queued: np.ndarray
    start: np.ndarray
    end: np.ndarray
    on_duty: np.ndarray
    travel: np.ndarray
    service: np.ndarray


def visit_parts(requests: pd.DataFrame, visits: pd.DataFrame, model) -> VisitParts:
    """The visits' `VisitParts`, each request's in visit order."""
    role = visits["role"].cat.codes.to_numpy()
    queued, start = visits["queued_minute"].to_numpy(), visits["start_minute"].to_numpy()
    on_duty = np.zeros(len(visits))
    for name, rows in zip(ROLES, by_role(role, ~np.isnan(start))):
        if len(rows) and name in model.duty:
            for part in np.array_split(rows, -(-len(rows) // PART_ROWS)):   # (a part's temporaries at a time)
                on_duty[part] = model.duty[name].on_duty_between(queued[part], start[part])
    spill.give_back()
    request = visits["request"].to_numpy()
    first, order = np.zeros(len(requests) + 1, dtype=np.int32), np.empty(len(request), dtype=np.int32)
    in_request_order(request, first, order)
    return VisitParts(first, order, visits["stage"].to_numpy() == HOTLINE_STAGE, queued, start,
                      visits["end_minute"].to_numpy(), on_duty, visits["travel_minutes"].to_numpy(),
                      visits["service_minutes"].to_numpy())


@compiled
def in_request_order(request, first, order):
    """order: the visits by request, each request's in visit order; first[r]: where request r's
    begin (first[-1]: the visits). A counting sort with no array of its own (`first`, zeros, is
    each request's next place while it places them, then moved back by one)."""
    for i in range(len(request)):
        first[request[i] + 1] += 1
    for r in range(1, len(first)):
        first[r] += first[r - 1]
    for i in range(len(request)):
        r = request[i]
        order[first[r]] = i
        first[r] += 1
    for r in range(len(first) - 1, 0, -1):
        first[r] = first[r - 1]
    first[0] = 0


@inline
def add_parts(p: VisitParts, r, reporting, part):
    """part[:] = request r's hours in each of TIME_PARTS (`reporting`: its minutes before it was
    told): a 12345 call its whole length (0 while unanswered); a visit at a unit that has started,
    its wait on duty, its wait off duty, its travel and its service (nothing while it waits
    still); each the sum of its visits' minutes in visit order, from 0, over 60."""
    part[:] = 0.0
    part[0] = reporting
    for q in range(p.first[r], p.first[r + 1]):
        i = p.order[q]
        if p.hot[i]:
            d = p.end[i] - p.queued[i]
            if d == d:                                   # (nan: unanswered at the horizon)
                part[1] += min(max(d, -1.7976931348623157e308), 1.7976931348623157e308)
        elif p.start[i] == p.start[i]:
            part[2] += p.on_duty[i]
            part[3] += (p.start[i] - p.queued[i]) - p.on_duty[i]
            part[4] += p.travel[i]
            part[5] += p.service[i]
    for k in range(len(part)):
        part[k] /= 60


def by_role(role: np.ndarray, among: np.ndarray | None = None) -> list[np.ndarray]:
    """Each role's visits (of those `among`), in order: one stable sort by role (a radix sort of
    its codes), not a mask over every visit for each role. (int32 rows, as the records': half the
    memory of a city-year's 1.66 million, which the outputs' peak holds.)"""
    rows = (np.arange(len(role), dtype=np.int32) if among is None
            else np.flatnonzero(among).astype(np.int32))
    rows = rows[np.argsort(role[rows], kind="stable")]
    edges = np.searchsorted(role[rows], np.arange(len(ROLES) + 1))
    return [rows[edges[r]:edges[r + 1]] for r in range(len(ROLES))]


# ---------------------------------------------------------------- tallies
# The summary is made in two steps: its tallies (`tally`), in which every figure that is not a count
# or a sum stays as what adds up across the districts of a city run district by district (a share
# or a mean as numerator and denominator, a percentile as the durations it needs), and `finish`,
# which turns them into numbers. One run's summary is the finish of its own tallies; a city's, the
# finish of its districts' tallies added up (`merged`).
@dataclass(frozen=True)
class Ratio:
    """A share or a mean: numerator / denominator (None where the denominator is 0)."""
    num: Any
    den: Any

    def __add__(self, other: "Ratio") -> "Ratio":
        return Ratio(self.num + other.num, self.den + other.den)

    def value(self) -> float | None:
        return float(self.num / self.den) if self.den else None


@dataclass(frozen=True)
class Weighted:
    """A figure of a whole run (a mean over households, a rate per resident) and its weight: runs
    combine as the weighted mean."""
    mean: float | None
    weight: float

    def __add__(self, other: "Weighted") -> "Weighted":
        if self.mean is None or other.mean is None:
            return Weighted(None, self.weight + other.weight)
        weight = self.weight + other.weight
        return Weighted((self.mean * self.weight + other.mean * other.weight) / weight, weight)

    def value(self) -> float | None:
        return self.mean


@dataclass(frozen=True)
class Same:
    """A setting every part of a city shares (the initial trust)."""
    setting: Any

    def __add__(self, other: "Same") -> "Same":
        return self

    def value(self) -> Any:
        return self.setting


@dataclass(frozen=True)
class Percentile:
    """The q-th percentile of every value (households' trust): runs combine by pooling them."""
    values: np.ndarray
    q: float

    def __add__(self, other: "Percentile") -> "Percentile":
        return Percentile(np.concatenate([self.values, other.values]), self.q)

    def value(self) -> float:
        return float(np.percentile(self.values, self.q))


@dataclass(frozen=True)
class Quantile:
    """A group's Kaplan-Meier percentile on one clock, found at the end over the pooled clocks
    (`Pooled`): `grouping` names the groups, `group` is one of them."""
    clock: str
    grouping: str
    group: int
    name: str

    def __add__(self, other: "Quantile") -> "Quantile":
        return self                           # (the same group's: found over the pooled clocks)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> list:
    """Per group numerator / denominator (a `Ratio`: None where the denominator is 0)."""
    return [Ratio(a, b) for a, b in zip(numerator, denominator)]


def _quantile_dict(grouping: str, clock: str, group: int) -> dict:
    return {name: Quantile(clock, grouping, group, name) for name in QUANTILES}


class Clocks(NamedTuple):
    """The censored durations every grouping of requests shares. Two clocks: what a city's platform
    records runs from the report (resolution, wait); the time before anyone knows of a problem is
    its own (to_know: hours from arising to the report, never for a problem given up on unsaid)."""
    resolution: Censored      # hours from the report to resolution, of those reported
    wait: Censored            # minutes from the report to a first handler starting, of those reported
    to_know: Censored         # hours from the problem arising to anyone knowing


def clocks(requests: pd.DataFrame, horizon: float, among: np.ndarray | None = None) -> Clocks:
    """The requests' `Clocks`, censored and sorted once (`among` them) for every grouping."""
    outcome = requests["outcome"].cat.codes.to_numpy()
    created, ended = requests["created_minute"].to_numpy(), requests["ended_minute"].to_numpy()
    reported, started = requests["reported_minute"].to_numpy(), requests["started_minute"].to_numpy()
    among = np.ones(len(requests), dtype=bool) if among is None else np.asarray(among, dtype=bool)
    told, began = ~np.isnan(reported), ~np.isnan(started)
    given_up = outcome == OUTCOMES.index("abandoned")
    wait = np.where(began, started - reported, np.where(given_up, np.inf, horizon - reported))
    to_know = np.where(told, reported - created, np.where(given_up, np.inf, horizon - created)) / 60
    steps = LogFactors(len(requests))
    return Clocks(Censored(*resolution_hours(outcome, reported, ended, horizon), among & told, steps),
                  Censored(wait, began, among & told, steps), Censored(to_know, told, among, steps))


class Pooled:
    """What percentiles need of a run: its `Clocks` and each grouping's group of every request
    (-1: left out). Runs pool by concatenating the measured requests (`Clocks` `among`)."""

    def __init__(self, timed: Clocks):
        self.clocks, self.labels, self._found, self._same = timed, {}, {}, {}

    def group(self, grouping: str, labels: np.ndarray, groups: int) -> None:
        labels = np.asarray(labels).astype(np.min_scalar_type(-max(groups, 1)), copy=False)   # (int8: 1 byte a request)
        same = [name for name, (other, _) in self.labels.items() if np.array_equal(other, labels)]
        self.labels[grouping] = (labels, groups)
        self._same[grouping] = same[0] if same else grouping     # (one request type: by type as overall)

    def quantiles(self, clock: str, grouping: str) -> np.ndarray:
        """(groups, QUANTILES) of the grouping on the clock (resolution and wait: of those reported);
        a grouping with the same labels as one found before shares its curves."""
        key = (clock, self._same[grouping])
        if key not in self._found:
            labels, groups = self.labels[key[1]]
            censored = getattr(self.clocks, clock)
            if clock != "to_know":
                labels = np.where(censored.among, labels, -1)
            self._found[key] = _given_back(censored.quantiles(labels, groups))
        found, groups = self._found[key], self.labels[grouping][1]
        if len(found) != groups:                   # (no rows in the groups past the other's)
            found = np.r_[found, np.full((max(groups - len(found), 0), len(QUANTILES)), np.nan)][:groups]
        return found

    @staticmethod
    def of(runs: list["Pooled"]) -> "Pooled":
        """The runs' measured requests together, in the runs' order."""
        parts = [p._measured() for p in runs]
        (told, *columns), labels = zip(*(c for c, _ in parts)), [l for _, l in parts]
        told = np.concatenate(told)
        res, res_seen, wait, began, know, known = (np.concatenate(c) for c in columns)
        steps = LogFactors(len(told))
        out = Pooled(Clocks(Censored(res, res_seen, told, steps), Censored(wait, began, told, steps),
                            Censored(know, known, steps=steps)))
        for name, (_, groups) in runs[0].labels.items():
            out.group(name, np.concatenate([l[name] for l in labels]), groups)
        return out

    def forget(self) -> None:
        """Let the clocks' sorted forms go (`Censored.forget`)."""
        for censored in self.clocks:
            censored.forget()

    def _measured(self) -> tuple[tuple, dict]:
        """The clocks' columns and the labels over the measured requests only (the columns
        themselves where every request is measured, as in a district's compact tallies)."""
        rows = self.clocks.to_know.among
        at = (lambda x: x) if rows.all() else (lambda x: x[rows])
        c = self.clocks
        columns = tuple(map(at, (c.resolution.among, c.resolution.duration, c.resolution.observed, c.wait.duration,
                                 c.wait.observed, c.to_know.duration, c.to_know.observed)))
        return columns, {name: at(labels).astype(np.min_scalar_type(-groups), copy=False)   # (a few groups: int8)
                         for name, (labels, groups) in self.labels.items()}


# What each request adds to its group's KPIs: flags counted and figures summed.
COUNTED = ("created", *OUTCOMES, "unreported", "began", "told", "sla_due", "sla_met", "sla_due_from_arising",
           "sla_met_from_arising", "target_due", "target_met", "escalated", "police110", "silent", "repeat",
           *(f"channel_{c}" for c in CHANNELS))
SUMMED = ("wait_minutes", "time_to_know_hours", *TIME_PARTS)      # of those began, told, resolved


class Contributions(NamedTuple):
    """Per request, what `add_contributions` reads to find what it adds to its group's KPIs (the
    flags of `COUNTED`, the figures of `SUMMED`), the same for every grouping of the summary:
    columns of the requests' table as they are, and their visits' `VisitParts`."""
    outcome: np.ndarray
    channel: np.ndarray
    created: np.ndarray
    reported: np.ndarray
    started: np.ndarray
    ended: np.ndarray
    sla: np.ndarray
    target: np.ndarray
    visits: np.ndarray
    police110: np.ndarray
    silent: np.ndarray
    repeat_of: np.ndarray
    parts: VisitParts
    horizon: float


def contributions(requests: pd.DataFrame, parts: VisitParts, horizon: float) -> Contributions:
    """The requests' `Contributions`: `parts` their visits' `visit_parts`."""
    column = lambda name: requests[name].to_numpy()  # noqa: E731
    return Contributions(requests["outcome"].cat.codes.to_numpy(), requests["channel"].cat.codes.to_numpy(),
                         column("created_minute"), column("reported_minute"), column("started_minute"),
                         column("ended_minute"), column("sla_hours") * 60, column("wait_target_minutes"),
                         column("visits"), column("police110"), column("silent"), column("repeat_of"),
                         parts, float(horizon))


# where each flag and figure is counted and summed (constants to the compiled `add_contributions`;
# OUTCOMES, CHANNELS and TIME_PARTS each lie side by side from their first)
(_CREATED, _OUTCOME, _UNREPORTED, _BEGAN, _TOLD, _SLA_DUE, _SLA_MET, _SLA_DUE_ARISING, _SLA_MET_ARISING, _TARGET_DUE,
 _TARGET_MET, _ESCALATED, _POLICE110, _SILENT, _REPEAT, _CHANNEL) = (COUNTED.index(name) for name in (
    "created", OUTCOMES[0], "unreported", "began", "told", "sla_due", "sla_met", "sla_due_from_arising",
    "sla_met_from_arising", "target_due", "target_met", "escalated", "police110", "silent", "repeat",
    f"channel_{CHANNELS[0]}"))
_WAIT, _TO_KNOW, _PARTS = (SUMMED.index(name) for name in ("wait_minutes", "time_to_know_hours", TIME_PARTS[0]))


@compiled
def add_contributions(lo, hi, groups, outcome, channel, created, reported, started, ended, sla, target, visits,
                      police110, silent, repeat_of, parts, horizon, counts, sums, part):
    """counts[j, g] += each flag of COUNTED, sums[j, g] += each figure of SUMMED, of each request i
    from lo to hi in group g = groups[j, i] of each grouping j (< 0: none), in request order, worked out once as
    it is read for every grouping (the columns are read once, not once a grouping) and no
    (flags, requests) or (figures, requests) array is made. A comparison with nan is False, as
    numpy's. `part`: room for one request's time parts (`add_parts`)."""
    for i in range(lo, hi):
        told, began, resolved = reported[i] == reported[i], started[i] == started[i], outcome[i] == 0
        due = told and reported[i] + sla[i] <= horizon
        due_arising = created[i] + sla[i] <= horizon
        target_due = told and reported[i] + target[i] <= horizon
        parted = False                       # (its time parts, added up once a group counts it)
        for j in range(groups.shape[0]):
            g = groups[j, i]
            if g < 0:
                continue
            c = counts[j, g]
            c[_CREATED] += 1
            if outcome[i] >= 0:
                c[_OUTCOME + outcome[i]] += 1
            c[_UNREPORTED] += not told
            c[_BEGAN] += began
            c[_TOLD] += told
            c[_SLA_DUE] += due
            c[_SLA_MET] += due and resolved and ended[i] - reported[i] <= sla[i]
            c[_SLA_DUE_ARISING] += due_arising
            c[_SLA_MET_ARISING] += due_arising and resolved and ended[i] - created[i] <= sla[i]
            c[_TARGET_DUE] += target_due
            c[_TARGET_MET] += target_due and began and started[i] - reported[i] <= target[i]
            c[_ESCALATED] += began and visits[i] > 1
            c[_POLICE110] += police110[i]
            c[_SILENT] += silent[i]
            c[_REPEAT] += repeat_of[i] >= 0
            if told and channel[i] >= 0:
                c[_CHANNEL + channel[i]] += 1
            v = sums[j, g]
            if began:
                v[_WAIT] += started[i] - reported[i]
            if told:
                v[_TO_KNOW] += (reported[i] - created[i]) / 60
            if resolved:
                if not parted:
                    add_parts(parts, i, reported[i] - created[i], part)
                    parted = True
                for k in range(len(part)):
                    v[_PARTS + k] += part[k]


class Grouping(NamedTuple):
    """Requests in groups, for `kpis_by_group`: group[i] = index into names (-1: left out), the
    grouping's name in `Pooled`, and for each group whether it wants Kaplan-Meier percentiles
    (None: all do)."""
    name: str
    group: np.ndarray
    names: list[str]
    percentiles: list[bool] | None = None


def kpis_by_group(adds: Contributions, groupings: list[Grouping], pooled: Pooled) -> dict[str, dict[str, dict]]:
    """For each grouping, for each of its groups of requests: counts, waits, resolution times
    (censored, from the report), service level (of the report, and of arising), time to know,
    channels and where the time went, as tallies. `adds`: the requests' `contributions`, added
    up for every grouping in one pass; `pooled`: their `Pooled` clocks, whose percentiles every
    grouping shares; each grouping joins it under its name. A group whose `percentiles` is False
    has None for its Kaplan-Meier percentiles: staff's routine work needs its counts, not the
    distribution of a million visits' times."""
    width = max([len(g.names) for g in groupings], default=0)
    groups = np.empty((len(groupings), len(groupings[0].group)), dtype=np.min_scalar_type(-max(width, 1)))
    for j, g in enumerate(groupings):
        groups[j] = g.group
    counts = np.zeros((len(groupings), width, len(COUNTED)), dtype=np.int64)
    sums = np.zeros((len(groupings), width, len(SUMMED)))
    part = np.zeros(len(TIME_PARTS))
    for lo in range(0, groups.shape[1], PART_ROWS):      # (the tables' pages read so far go back before each part)
        spill.give_back()
        add_contributions(lo, min(lo + PART_ROWS, groups.shape[1]), groups, *adds, counts, sums, part)
    return {g.name: _given_back(_kpis(g, counts[j, :len(g.names)], sums[j, :len(g.names)], pooled))
            for j, g in enumerate(groupings)}


def _kpis(grouping: Grouping, counts: np.ndarray, sums: np.ndarray, pooled: Pooled) -> dict[str, dict]:
    """`kpis_by_group` of one grouping, from its groups' counts and sums."""
    names, G = grouping.names, len(grouping.names)
    wanted = np.ones(G, dtype=bool) if grouping.percentiles is None else np.asarray(grouping.percentiles, dtype=bool)
    group = grouping.group
    pooled.group(grouping.name, np.where((group >= 0) & wanted[np.maximum(group, 0)], group, -1), G)
    quantile = lambda clock, k: (_quantile_dict(grouping.name, clock, k) if wanted[k]  # noqa: E731
                                 else dict.fromkeys(QUANTILES))
    c, s = dict(zip(COUNTED, counts.T)), dict(zip(SUMMED, sums.T))
    n, resolved, began = c["created"], c["resolved"], c["began"]
    channels = np.stack([c[f"channel_{name}"] for name in CHANNELS], axis=1)
    wait_mean = _ratio(s["wait_minutes"], began)     # the waits' percentiles: `clocks`
    delay_mean = _ratio(s["time_to_know_hours"], c["told"])
    sla_share = _ratio(c["sla_met"], c["sla_due"])
    sla_arising = _ratio(c["sla_met_from_arising"], c["sla_due_from_arising"])
    wait_share = _ratio(c["target_met"], c["target_due"])
    escalated = _ratio(c["escalated"], began)
    hotline = _ratio(channels[:, HOTLINE], n)
    police110 = _ratio(c["police110"], n)
    silent_share, repeat_share = _ratio(c["silent"], n), _ratio(c["repeat"], n)
    abandoned = _ratio(c["abandoned"], n)
    part_means = [_ratio(s[part], resolved) for part in TIME_PARTS]
    out = {}
    for k, name in enumerate(names):
        out[name] = {
            "requests": {"created": int(n[k]), **{o: int(c[o][k]) for o in OUTCOMES},
                         "unreported": int(c["unreported"][k])},
            "wait_minutes": {"mean": wait_mean[k], **quantile("wait", k), "n": int(began[k])},
            "resolution_hours": {**quantile("resolution", k), "n": int(resolved[k])},
            "sla_met_share": sla_share[k],
            "sla_met_from_arising_share": sla_arising[k],
            "wait_within_target_share": wait_share[k],
            "abandoned_share": abandoned[k],
            "escalated_share": escalated[k],
            "time_to_know_hours": {"mean": delay_mean[k], **quantile("to_know", k)},
            "channel_share": dict(zip(CHANNELS, _ratio(channels[k], np.full(len(CHANNELS), channels[k].sum())))),
            "hotline_share": hotline[k],
            "police110_share": police110[k],
            "silent_share": silent_share[k],
            "repeat_share": repeat_share[k],
            "time_hours": {part: part_means[i][k] for i, part in enumerate(TIME_PARTS)},
        }
    return out


# ---------------------------------------------------------------- staff, load and money
def at_or_before(x: np.ndarray, times: np.ndarray, label: np.ndarray | None = None, labels: int = 1) -> np.ndarray:
    """How many of x are at or before each of `times` (sorted; nan in x never is): a count into the
    few bins `times` make, not a sort of x (a million visits, a few hundred days). With `label`
    (0 ... labels - 1, or -1: none; any integer type, e.g. a category's codes): (labels, times),
    each label's count, in one pass."""
    counts = np.zeros((labels, len(times) + 1), dtype=np.int64)
    count_in_bins(np.asarray(times, dtype=float), np.asarray(x, dtype=float),
                  np.zeros(0, dtype=np.int8) if label is None else np.asarray(label), counts)
    counts = np.cumsum(counts, axis=1)[:, : len(times)]
    return counts[0] if label is None else counts


@compiled
def count_in_bins(times, x, label, counts):
    """counts[label[j], k] += 1 for each x[j], k = np.searchsorted(times, x[j]) (how many of `times`
    come before it; nan: after all; label < 0: not counted; no labels: all in row 0), for `times`
    about evenly spaced (hours, days): each bin found from the spacing and corrected by a step or
    two, not by a binary search (4x faster over a million requests), and counted as it is found
    (no array of bins, nor of keys, as long as x)."""
    n = len(times)
    step = (times[n - 1] - times[0]) / (n - 1) if n > 1 else 0.0
    for j in range(len(x)):
        row = label[j] if len(label) else 0
        if row < 0:
            continue
        v = x[j]
        if v != v:
            counts[row, n] += 1
            continue
        k = int(min(max((v - times[0]) / step, 0.0), n - 1)) if step > 0 else 0
        while k < n and times[k] < v:
            k += 1
        while k > 0 and times[k - 1] >= v:
            k -= 1
        counts[row, k] += 1


def busy_minutes(starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Total busy minutes up to each of `times` (sorted), for intervals [start, end) (end nan:
    still busy): for each time, k of the sorted starts before it add k x time less their sum, and
    the ends take theirs off (sums running over the sorted values, as np.cumsum adds them)."""
    out = np.empty(len(times))
    busy_up_to(np.sort(starts), np.sort(ends), np.asarray(times, dtype=np.float64), out)
    return out


@compiled
def busy_up_to(starts, ends, times, out):
    """`busy_minutes` of sorted starts and ends (nan last, not counted), merged with the times."""
    ks = ke = 0
    cs = ce = 0.0
    for j in range(len(times)):
        t = times[j]
        while ks < len(starts) and starts[ks] <= t:
            cs += starts[ks]
            ks += 1
        while ke < len(ends) and ends[ke] <= t:
            ce += ends[ke]
            ke += 1
        out[j] = (ks * t - cs) - (ke * t - ce)


class Busy(NamedTuple):
    """Per unit of a role (grid, station, building, community...) over [t0, horizon), in minutes."""
    on_duty: np.ndarray       # busy while on shift
    overtime: np.ndarray      # busy after the shift ended (a visit finished late, work past closing)
    capacity: np.ndarray      # places x minutes on duty, less vacant places


def busy_by_unit(model, visits: pd.DataFrame, t0: float, roles: tuple[str, ...] = ROLES) -> dict[str, Busy]:
    """The `Busy` minutes by unit of each of `roles` (alliances aside: meetings, not shifts): work
    is split at the shift's end, so busy / capacity is time on shift (at most 1) and the rest is
    overtime."""
    H = model.horizon
    start, end, unit = (visits[name].to_numpy() for name in ("start_minute", "end_minute", "unit"))
    out = {}
    for role, rows in zip(ROLES, by_role(visits["role"].cat.codes.to_numpy())):
        if role not in roles or role == "alliance":
            continue
        busy, on = np.empty(len(rows)), np.empty(len(rows))
        for lo in range(0, len(rows), PART_ROWS):             # (a part's temporaries at a time)
            part = rows[lo:lo + PART_ROWS]
            s, e = np.maximum(start[part], t0), end[part]
            e = np.where(np.isnan(e) & ~np.isnan(start[part]), H, e)        # still busy at the horizon
            busy[lo:lo + len(part)] = b = np.nan_to_num(np.clip(e - s, 0, None))
            on[lo:lo + len(part)], done = b, b > 0                          # (a role without shifts: all of it)
            if role in model.duty and done.any():
                on[lo + np.flatnonzero(done)] = model.duty[role].on_duty_between(s[done], e[done])
        capacity = capacity_minutes(model, role, t0, H)
        total = np.bincount(unit[rows], weights=busy, minlength=len(capacity))
        on_duty = np.bincount(unit[rows], weights=on, minlength=len(capacity))
        out[role] = Busy(on_duty, total - on_duty, capacity)
    return out


def utilisation(model, visits: pd.DataFrame, t0: float, busy_of: dict[str, Busy]) -> tuple[dict, dict, dict]:
    """By role over [t0, horizon), from its `busy_by_unit`: busy time on shift / (places x time on
    shift), how many units ran above SATURATED, and hours of overtime a year (work after the shift
    ended). Alliances: meeting slots used."""
    H = model.horizon
    per_year = 365 * 1440 / max(H - t0, 1.0) / 60
    share, saturated, overtime = {}, {}, {}
    for role in ROLES:
        if role == "alliance":
            al = model.spec.roles.alliance
            meetings = al.count * max(0.0, (H - t0) / (al.meeting_interval_days * 1440))
            start = visits.loc[visits["role"] == role, "start_minute"].to_numpy()
            used = int((start >= t0).sum())
            share[role] = Ratio(used, meetings * al.capacity_per_meeting)
            continue
        busy = busy_of[role]
        share[role] = Ratio(busy.on_duty.sum(), busy.capacity.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            saturated[role] = int(np.sum(busy.on_duty / busy.capacity > SATURATED))
        overtime[role] = float(busy.overtime.sum() * per_year)
    return share, saturated, overtime


def backlog_growth(model, visits: pd.DataFrame, requests: pd.DataFrame, t0: float) -> dict:
    """By role: the trend of visits waiting in its queues after warm-up (least squares, per week).
    Near 0 in a steady state; a positive slope is a queue that keeps growing."""
    H = model.horizon
    days = np.arange(math.ceil(t0 / 1440), math.floor(H / 1440) + 1) * 1440.0
    if len(days) < 8:
        return {role: None for role in ROLES}
    queued, start = visits["queued_minute"].to_numpy(), visits["start_minute"].to_numpy()
    abandoned = requests["outcome"].cat.codes.to_numpy() == OUTCOMES.index("abandoned")
    req = visits["request"].to_numpy()
    # a visit leaves its queue when it starts, when its resident gives up, or never (inf)
    leaves, waited = start.copy(), np.flatnonzero(np.isnan(start))
    gave_up = waited[abandoned[req[waited]] & (visits["stage"].to_numpy()[waited] != HOTLINE_STAGE)]
    leaves[waited] = np.inf
    leaves[gave_up] = requests["ended_minute"].to_numpy()[req[gave_up]]
    codes = visits["role"].cat.codes.to_numpy()
    waiting = at_or_before(queued, days, codes, len(ROLES)) - at_or_before(leaves, days, codes, len(ROLES))
    weeks = days / (7 * 1440)
    dx = weeks - weeks.mean()
    # the least-squares slope in closed form: plain sums give the same digits under every numpy
    # (np.polyfit's LAPACK solve changed the last digit between numpy 2.4 and 2.5)
    return {role: float((dx * (waiting[r] - waiting[r].mean())).sum() / (dx * dx).sum())
            for r, role in enumerate(ROLES)}


def staffing(model) -> dict:
    """Posts by role, and the full-time people they take: a post covered beyond a 40-hour week
    (a rota) needs more than one person, e.g. 4.2 round the clock."""
    sc, lay = model.spec, model.layout
    posts, people = {}, {}
    for role in ROLES:
        n = int(lay[role].members.sum())
        posts[role] = n
        cfg = getattr(sc.roles, role)
        salaried = getattr(cfg, "salary_yuan", 0.0) > 0
        hired = role != "alliance" and (role != "duty_leader" or cfg.paid_as == "hire")   # (duty: the leaders' own)
        people[role] = n * sc.costs.full_time_equivalents(cfg.shifts) if salaried and hired else None
    return {"posts": posts, "full_time_people": people}


def duty_leader_pay(model, busy: Busy, t0: float) -> float:
    """A year's pay of the duty leaders when the station's own grid leaders take the duty on top of
    their week: every desk hour is overtime; on call, an allowance for each hour and overtime for the
    hours worked."""
    sc, duty = model.spec, model.spec.roles.duty_leader
    hour = duty.salary_yuan / (sc.costs.full_time_hours_per_week * 365 / 7) * (1 + sc.costs.overtime_premium)
    posts = int(model.layout["duty_leader"].members.sum())
    on_call_hours = posts * shift_hours_per_week(duty.shifts) * 365 / 7
    if duty.where == "desk":
        return float(on_call_hours * hour)
    worked = busy.on_duty.sum() / 60 * 365 * 1440 / max(model.horizon - t0, 1)
    return float(on_call_hours * hour / (1 + sc.costs.overtime_premium) * duty.on_call_allowance + worked * hour)


def costs(model, requests: pd.DataFrame, visits: pd.DataFrame, t0: float, overtime: dict[str, float],
          busy_of: dict[str, Busy]) -> dict:
    """Annual cost in yuan by item: pay (hours and premiums; `busy_of`, the `busy_by_unit`, for duty
    leaders paid by the hour worked), overtime (`overtime`: hours a year by
    role, paid at the hourly rate plus the overtime premium), subsidies, volunteers' coordination,
    stations, property subsidies, the calls and dispatches of 12345 and 110, fixed budgets."""
    sc, lay, r = model.spec, model.layout, model.spec.roles
    per_year = 365 * 1440 / max(model.horizon - t0, 1.0)
    hourly = 1 / (sc.costs.full_time_hours_per_week * 365 / 7)      # of a salary
    items = {}
    for role in ROLES:
        cfg = getattr(r, role)
        if getattr(cfg, "salary_yuan", 0.0) > 0:
            paid = sc.costs.paid_hours_per_week(cfg.shifts) / sc.costs.full_time_hours_per_week
            window = max(model.horizon - t0, 1.0)        # vacant posts are not paid while vacant
            vacant = sum(v.share * max(0.0, min(v.to_day * 1440, model.horizon) - max(v.from_day * 1440, t0))
                         for v in cfg.vacancies) / window
            items[f"pay_{role}"] = float(lay[role].members.sum() * paid * cfg.salary_yuan * (1 - vacant))
            items[f"overtime_{role}"] = (overtime.get(role, 0.0) * cfg.salary_yuan * hourly
                                         * (1 + sc.costs.overtime_premium))
    if r.duty_leader.paid_as == "overtime" and items.get("pay_duty_leader"):
        items["pay_duty_leader"] = duty_leader_pay(model, busy_of["duty_leader"], t0)
    items["subsidy_building_leader"] = float(lay["building_leader"].members.sum() * r.building_leader.subsidy_yuan)
    items["volunteer_coordination"] = float(r.volunteer.count * r.volunteer.coordination_yuan_per_volunteer)
    items["stations"] = model.city.stations * sc.stations.running_cost_yuan
    mode_counts = np.bincount(model.city.compound_mode, minlength=len(PROPERTY_MODES))
    items["property"] = float(sum(mode_counts[i] * r.property_manager.modes[m].cost_yuan_per_compound
                                  for i, m in enumerate(PROPERTY_MODES)))
    items["alliances"] = r.alliance.cost_yuan_per_year
    started = visits["start_minute"].to_numpy() >= t0
    role = visits["role"].cat.codes.to_numpy()
    items["hotline_calls"] = float(np.sum(started & (role == ROLES.index("hotline")))
                                   * r.hotline.cost_yuan_per_call * per_year)
    items["police110_dispatches"] = float(np.sum(started & (role == ROLES.index("police110")))
                                          * r.police110.cost_yuan_per_dispatch * per_year)
    items["sub_districts"] = sc.city.sub_districts * sc.costs.per_sub_district_yuan
    items["communities"] = sc.city.communities * sc.costs.per_community_yuan
    return items


# ---------------------------------------------------------------- counts a city reports
def resolved_per_year(requests: pd.DataFrame, t0: float, horizon: float) -> tuple[dict, dict]:
    """Requests resolved in [t0, horizon), by the role of their last handler, annualised: what a
    city reports as "problems solved" ("327 solved at alliance meetings"). Counted by when they
    were resolved (throughput), not when they arose. Returns (residents' requests by role,
    {type: by role} for every type)."""
    per_year = 365 * 1440 / max(horizon - t0, 1.0)
    ended = requests["ended_minute"].to_numpy()
    done = (requests["outcome"].cat.codes.to_numpy() == OUTCOMES.index("resolved")) & (ended >= t0)
    role = requests["handled_by"].cat.codes.to_numpy()
    kind = requests["type"].cat.codes.to_numpy()
    resident = requests["origin"].cat.codes.to_numpy() == ORIGINS.index("resident")
    types = list(requests["type"].cat.categories)
    table = np.bincount(kind[done] * len(ROLES) + role[done],
                        minlength=len(types) * len(ROLES)).reshape(len(types), len(ROLES)) * per_year
    residents = np.bincount(role[done & resident], minlength=len(ROLES)) * per_year
    return ({name: float(residents[r]) for r, name in enumerate(ROLES)},
            {t: {name: float(table[k, r]) for r, name in enumerate(ROLES)} for k, t in enumerate(types)})


def per_resident_year(model, requests: pd.DataFrame, visits: pd.DataFrame, t0: float) -> dict:
    """Residents' requests created, and 12345 calls made, in [t0, horizon) per resident a year:
    the figures hotline volumes elsewhere bound (Beijing 12345: about 1 per resident in 2023)."""
    per_year = 365 * 1440 / max(model.horizon - t0, 1.0) / model.spec.city.population
    created = ((requests["origin"].cat.codes.to_numpy() == ORIGINS.index("resident"))
               & (requests["created_minute"].to_numpy() >= t0)).sum()
    calls = ((visits["start_minute"].to_numpy() >= t0)
             & (visits["role"].cat.codes.to_numpy() == ROLES.index("hotline"))).sum()
    population = model.spec.city.population
    return {"requests": Weighted(float(created * per_year), population),
            "hotline_calls": Weighted(float(calls * per_year), population)}


def outcome_counts(requests: pd.DataFrame, window: np.ndarray) -> dict[str, int]:
    """Every request created in the window (residents' and staff's routine work), by outcome."""
    outcome = requests["outcome"].cat.codes.to_numpy()[window]
    reported = ~np.isnan(requests["reported_minute"].to_numpy()[window])
    return {"created": int(len(outcome)), "resolved": int((outcome == 0).sum()), "open": int((outcome == 2).sum()),
            "abandoned": int((outcome == 1).sum()), "unreported": int((~reported).sum())}


# ---------------------------------------------------------------- the summary
def shortest_visit_interval_days(scenario) -> float | None:
    """Days between two routine visits to the households visited most often (an elderly member's),
    or None without home visits: visit completion needs a run that measures longer than this."""
    home = [t for t in scenario.requests.values() if t.home_visit and t.rate_per_household_year > 0]
    if not home:
        return None
    weight = max(1.0, home[0].elderly_multiplier) if scenario.city.elderly_share > 0 else 1.0
    return 365.0 / (home[0].rate_per_household_year * weight)


def visit_cohort(requests: pd.DataFrame, model, t0: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(due, made), a flag per request: the routine home visits falling due after t0 whose next one
    fell due before the end, and those of them made before it did (one not made by then is dropped).
    A cohort whose every fate is known, so the share made is at most 1 whatever was owed before t0,
    and unbiased for any run length. In a run shorter than a visit interval (a quarter) the cohort
    holds only the more frequent visits (monthly, to households with an elderly member). None when
    the scenario has no home visits."""
    home = [name for name, t in model.spec.requests.items() if t.home_visit]
    if not home:
        return None
    created = requests["created_minute"].to_numpy()
    due_next = created + requests["sla_hours"].to_numpy() * 60
    due = (requests["type"] == home[0]).to_numpy() & (created >= t0) & (due_next <= model.horizon)
    return due, due & requests["started_minute"].notna().to_numpy()


def visit_completion(requests: pd.DataFrame, model, t0: float) -> Ratio | None:
    """The share of the visit cohort (`visit_cohort`) made."""
    cohort = visit_cohort(requests, model, t0)
    if cohort is None:
        return None
    due, made = cohort
    return Ratio(int(made.sum()), int(due.sum()))


def first_handlers(requests: pd.DataFrame, among: np.ndarray) -> dict[str, dict]:
    """Of the requests (`among`) that came by each channel and were started, the share whose first
    handler had each role: who a resident who messages, walks in or calls actually reaches."""
    channel = requests["channel"].cat.codes.to_numpy()
    role = requests["first_handler"].cat.codes.to_numpy()
    began = among & requests["started_minute"].notna().to_numpy() & (role >= 0)
    out = {}
    for name in REPORTED_BY:
        counts = np.bincount(role[began & (channel == CHANNELS.index(name))], minlength=len(ROLES))
        out[name] = dict(zip(ROLES, _ratio(counts, np.full(len(ROLES), counts.sum()))))
    return out


def time_to_know_by_channel(requests: pd.DataFrame, among: np.ndarray) -> dict[str, float | None]:
    """Mean hours from a problem arising to its report, by the channel that brought it (the
    platform's "event source": a resident, their building leader, a grid leader's visit, 12345)."""
    channel = requests["channel"].cat.codes.to_numpy()
    told = among & requests["reported_minute"].notna().to_numpy()
    hours = (requests["reported_minute"].to_numpy() - requests["created_minute"].to_numpy()) / 60
    total = np.bincount(channel[told], weights=hours[told], minlength=len(CHANNELS))
    return dict(zip(CHANNELS, _ratio(total, np.bincount(channel[told], minlength=len(CHANNELS)))))


def residents_measured(model, requests: pd.DataFrame) -> np.ndarray:
    """Residents' requests created after the warm-up: the ones headline figures and percentiles cover."""
    return ((requests["created_minute"].to_numpy() >= model.spec.run.warmup_days * 1440)
            & (requests["origin"].cat.codes.to_numpy() == ORIGINS.index("resident")))


def measured_clocks(model, requests: pd.DataFrame) -> Clocks:
    """`clocks` of the residents' requests measured: what the summary's and the grid table's
    percentiles share (`run.simulate` makes them once for both)."""
    return clocks(requests, model.horizon, residents_measured(model, requests))


class Tallies(NamedTuple):
    """A run's summary before `finish`: `figures` shaped as the summary with tallies for leaves, and
    the `pooled` clocks their percentiles need. Districts' tallies add up to their city's (`total`)."""
    figures: dict
    pooled: Pooled | None          # None: no figure asked for needs a percentile (`tally`'s `only`)

    def compact(self) -> "Tallies":
        """The same tallies with only the measured requests' clocks (what a district sends back)."""
        return Tallies(self.figures, Pooled.of([self.pooled]))

    @staticmethod
    def total(runs: list["Tallies"]) -> "Tallies":
        """The runs' tallies added, in their order."""
        figures = runs[0].figures
        for run in runs[1:]:
            figures = _added(figures, run.figures)
        return Tallies(figures, Pooled.of([run.pooled for run in runs]))


def _added(a: Any, b: Any) -> Any:
    """Two tallies' figures added: counts and sums add, a share's parts add, a setting stays."""
    if isinstance(a, dict):
        return {k: _added(a[k], b[k]) if k in a and k in b else (a[k] if k in a else b[k]) for k in {**a, **b}}
    if a is None or b is None:
        return a if b is None else b
    return a + b


def finish(tallies: Tallies) -> dict:
    """The summary of the tallies: every share, mean and percentile a number (None where nothing
    was there to measure)."""
    def done(x):
        if isinstance(x, dict):
            return {k: done(v) for k, v in x.items()}
        if isinstance(x, Quantile):
            v = tallies.pooled.quantiles(x.clock, x.grouping)[x.group, list(QUANTILES).index(x.name)]
            return None if np.isnan(v) else float(v)
        return x.value() if isinstance(x, (Ratio, Weighted, Same, Percentile)) else x
    summary = done(tallies.figures)
    if tallies.pooled is not None:
        tallies.pooled.forget()                # (the percentiles are found: the sorted clocks can go)
    return summary


SETTINGS = ("scenario", "scenario_hash", "seed", "days", "warmup_days")     # the summary's first keys: the run's


class Wanted:
    """Which of a summary's figures lie under `only` (dotted KPI names; None: every figure), given
    the summary's top-level keys other than the groups' (`fixed`): a name under none of them, nor
    under a grouping, is a headline KPI of the residents' group."""

    def __init__(self, only: Collection[str] | None, fixed: Collection[str]):
        self.paths = None if only is None else [name.split(".") for name in only]
        self.fixed = set(fixed) | {"by_type", "by_walk_band", "by_quarter"}

    def __call__(self, key: str) -> bool:
        return self.paths is None or any(path[0] == key for path in self.paths)

    def groups(self, grouping: str) -> bool:
        """Whether the grouping's KPIs (`kpis_by_group`) are wanted; a type's `resolved_per_year`
        is not one of them."""
        if self.paths is None:
            return True
        if grouping == "residents":
            return any(path[0] not in self.fixed for path in self.paths)
        return any(path[0] == grouping and path[2:3] != ["resolved_per_year"] if grouping == "by_type"
                   else path[0] == grouping for path in self.paths)


def reads_census(only: Collection[str] | None) -> bool:
    """Whether the summary of `only` (as in `tally`) reads the model's daily census: the quarters'
    trust at their end does."""
    return Wanted(only, ())("by_quarter")


def reads_load(only: Collection[str] | None) -> bool:
    """Whether the summary of `only` reads the stability check's overloaded units (`GridModel`'s
    `check_load`)."""
    return Wanted(only, ())("overloaded_units")


def summary(model, requests: pd.DataFrame, visits: pd.DataFrame, timed: Clocks | None = None,
            busy: dict[str, Busy] | None = None, only: Collection[str] | None = None) -> dict:
    """The one-row summary of a run; headline figures cover residents' requests. `timed`: the
    `measured_clocks`, `busy`: the `busy_by_unit` after the warm-up, if already made; `only`: the
    KPIs wanted, if not all (`tally`)."""
    return finish(tally(model, requests, visits, timed, busy, only))


def tally(model, requests: pd.DataFrame, visits: pd.DataFrame, timed: Clocks | None = None,
          busy: dict[str, Busy] | None = None, only: Collection[str] | None = None) -> Tallies:
    """The `Tallies` of a run's summary (`summary` finishes them). `only`: dotted KPI names; the
    figures none of them lies under are not made, and the rest are made as always (a calibration's
    run reads its targets' counts alone: the groups' KPIs, their percentiles, loads and costs were
    a fifth of its time)."""
    sc, H = model.spec, model.horizon
    t0 = sc.run.warmup_days * 1440
    window = requests["created_minute"].to_numpy() >= t0
    resident = residents_measured(model, requests)
    types = list(requests["type"].cat.categories)
    busy_after = cache(lambda: busy_by_unit(model, visits, t0) if busy is None else busy)
    loads = cache(lambda: utilisation(model, visits, t0, busy_after()))        # (share, saturated, overtime)
    cost = cache(lambda: costs(model, requests, visits, t0, loads()[2], busy_after()))
    trust, households = model.trust, model.city.households
    rest: dict[str, Callable[[], Any]] = {            # the figures after the headline ones, in the summary's order
        "visit_completion_share": lambda: visit_completion(requests, model, t0),
        "first_handler_share": lambda: first_handlers(requests, resident),
        "time_to_know_by_channel": lambda: time_to_know_by_channel(requests, resident),
        "all_requests": lambda: outcome_counts(requests, window),
        "utilisation": lambda: loads()[0],
        "overtime_hours_per_year": lambda: loads()[2],
        "saturated_units": lambda: loads()[1],
        "overloaded_units": lambda: {role: len(units) for role, units in model.overloaded.items()},
        "backlog_growth_per_week": lambda: backlog_growth(model, visits, requests, t0),
        "walk15_coverage_share": lambda: Weighted(model.city.walk15_share(sc.city.walk_circle_minutes), households),
        "resolved_per_year": lambda: resolved_per_year(requests, t0, H)[0],
        "per_resident_year": lambda: per_resident_year(model, requests, visits, t0),
        "cost_yuan_per_year": lambda: float(sum(cost().values())),
        "cost_breakdown": cost,
        "staff": lambda: staffing(model),
        "city": lambda: {"households": households, "grids": model.city.grids, "stations": model.city.stations},
        "trust": lambda: {"mean": Weighted(float(trust.mean()), households), "p10": Percentile(trust, 10),
                          "start": Same(model.spec.residents.initial_trust)},
    }
    wanted = Wanted(only, (*SETTINGS, *rest))
    groupings = {
        "residents": lambda: Grouping("residents", np.where(resident, 0, -1), ["residents"]),
        "by_type": lambda: Grouping("by_type", np.where(window, requests["type"].cat.codes.to_numpy(), -1), types,
                                    [sc.requests[name].origin == "resident" for name in types]),
        "by_walk_band": lambda: Grouping("by_walk_band", np.where(resident, np.searchsorted(
            WALK_BANDS[1:], model.city.hh_nearest_station_walk_min[requests["household"].to_numpy()], side="right"),
            -1), WALK_BAND_NAMES),
        "by_quarter": lambda: quarters(model, requests, resident, t0)}
    needed = [g._replace(group=g.group.astype(np.min_scalar_type(-max(len(g.names), 1))))     # (int8, not int64)
              for g in (make() for name, make in groupings.items() if wanted.groups(name))
              if g.names or g.name != "by_quarter"]
    kpis: dict[str, dict] = {}
    pooled = None
    if needed:
        pooled = Pooled(measured_clocks(model, requests) if timed is None else timed)   # percentiles: residents' only
        parts = _given_back(visit_parts(requests, visits, model))
        kpis = kpis_by_group(contributions(requests, parts, H), needed, pooled)
    settings = (sc.name, scenario_hash(sc), model.seed, model.days, sc.run.warmup_days)
    figures = {**{key: Same(value) for key, value in zip(SETTINGS, settings)},
               **kpis.get("residents", {}).get("residents", {}),
               **{key: _given_back(make()) for key, make in rest.items() if wanted(key)}}
    if wanted("by_type"):
        figures["by_type"] = kpis.get("by_type", {name: {} for name in types})
        for name, by_role in resolved_per_year(requests, t0, H)[1].items():
            figures["by_type"][name]["resolved_per_year"] = by_role
    if "by_walk_band" in kpis:
        figures["by_walk_band"] = kpis["by_walk_band"]
    if wanted("by_quarter"):
        figures["by_quarter"] = quarter_extras(model, visits, t0, kpis.get("by_quarter", {}))
    return Tallies(figures, pooled)


def _given_back(value):
    """`value`, once the pages read to make it have gone back to their files (`spill`)."""
    spill.give_back()
    return value


QUARTER_DAYS = 91


def quarters(model, requests: pd.DataFrame, resident: np.ndarray, t0: float) -> Grouping:
    """Residents' requests by the whole quarter (91 days) after the warm-up they were created in:
    the grouping of the summary's `by_quarter`, how a city changes over a run (a cut and its
    aftermath, trust's drift); `quarter_extras` adds what is not a KPI of its requests."""
    n = int((model.horizon - t0) // (QUARTER_DAYS * 1440))
    quarter = np.floor((requests["created_minute"].to_numpy() - t0) / (QUARTER_DAYS * 1440)).astype(np.int64)
    return Grouping("by_quarter", np.where(resident & (quarter < n), quarter, -1), [f"q{k + 1}" for k in range(n)])


def quarter_extras(model, visits: pd.DataFrame, t0: float, out: dict[str, dict]) -> dict[str, dict]:
    """Each quarter's KPIs (`quarters`) with its 12345 calls a day and households' mean trust at
    its end."""
    names = list(out)
    if not names:
        return out
    role = visits["role"].cat.codes.to_numpy() == ROLES.index("hotline")
    calls = np.floor((visits["queued_minute"].to_numpy()[role] - t0) / (QUARTER_DAYS * 1440))
    census = model.datacollector.get_model_vars_dataframe()
    day_end = np.round(census["time"].to_numpy() / 1440).astype(int) if len(census) else np.zeros(0, dtype=int)
    for k, name in enumerate(names):
        out[name]["hotline_calls_per_day"] = float((calls == k).sum() / QUARTER_DAYS)
        end = np.flatnonzero(day_end == round(t0 / 1440) + (k + 1) * QUARTER_DAYS)
        out[name]["trust_end"] = Weighted(float(census["trust"].to_numpy()[end[0]]) if len(end) else None,
                                          model.city.households)
    return out


# ---------------------------------------------------------------- series and maps
def timeseries(model, requests: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Hourly: open requests by type at the end of each hour, mean busy places by role in the hour."""
    H = model.horizon
    times = np.arange(60.0, H + 1e-9, 60.0)
    if len(times) == 0 or times[-1] < H:
        times = np.r_[times, H]
    cols = {"hour": times / 60}
    created, ended = requests["created_minute"].to_numpy(), requests["ended_minute"].to_numpy()
    codes, types = requests["type"].cat.codes.to_numpy(), requests["type"].cat.categories
    still_open = at_or_before(created, times, codes, len(types)) - at_or_before(ended, times, codes, len(types))
    for t, name in enumerate(types):
        cols[f"open_{name}"] = still_open[t]
    start, end = visits["start_minute"].to_numpy(), visits["end_minute"].to_numpy()
    end = np.where(np.isnan(end) & ~np.isnan(start), H, end)           # still busy at the horizon
    edges = np.r_[0.0, times]
    roles = by_role(visits["role"].cat.codes.to_numpy())
    cols["hotline_calls"] = np.diff(at_or_before(visits["queued_minute"].to_numpy()[roles[ROLES.index("hotline")]],
                                                 edges))
    for name, rows in zip(ROLES, roles):
        if name != "alliance":
            cols[f"busy_{name}"] = np.diff(busy_minutes(start[rows], end[rows], edges)) / np.diff(edges)
    return pd.DataFrame(cols)


def grid_table(model, requests: pd.DataFrame, visits: pd.DataFrame,
               timed: Clocks | None = None, busy: dict[str, Busy] | None = None) -> pd.DataFrame:
    """Per grid: households, residents' requests, waits, resolution, and its grid leaders' load.
    `timed`: the `measured_clocks`, `busy`: the `busy_by_unit` after the warm-up, if already made."""
    city = model.city
    t0 = model.spec.run.warmup_days * 1440
    resident = residents_measured(model, requests)
    grid = np.where(resident, requests["grid"].to_numpy(), -1)              # -1: not counted
    reported = requests["reported_minute"].to_numpy()
    out = pd.DataFrame({
        "grid": np.arange(city.grids), "community": city.grid_community, "station": city.grid_station,
        "households": np.bincount(city.hh_grid, minlength=city.grids),
        "x": np.bincount(city.hh_grid, weights=city.hh_x, minlength=city.grids),
        "y": np.bincount(city.hh_grid, weights=city.hh_y, minlength=city.grids),
    })
    out["x"] /= np.maximum(out["households"], 1)
    out["y"] /= np.maximum(out["households"], 1)
    out["requests"] = np.bincount(grid[resident], minlength=city.grids)
    began = np.flatnonzero(resident & ~np.isnan(requests["started_minute"].to_numpy()))
    served = np.bincount(grid[began], minlength=city.grids)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["wait_mean_minutes"] = np.bincount(grid[began], weights=requests["started_minute"].to_numpy()[began]
                                               - reported[began], minlength=city.grids) / served
    timed = measured_clocks(model, requests) if timed is None else timed
    p90 = list(QUANTILES).index("p90")
    known = np.where(np.isnan(reported), -1, grid)
    del grid, began, resident
    spill.give_back()
    out["wait_p90_minutes"] = timed.wait.quantiles(known, city.grids)[:, p90]
    out["resolution_p90_hours"] = timed.resolution.quantiles(known, city.grids)[:, p90]
    trust = model.trust
    out["trust_mean"] = (np.bincount(city.hh_grid, weights=trust, minlength=city.grids)
                         / np.maximum(out["households"], 1))
    leaders = (busy_by_unit(model, visits, t0, ("grid_leader",)) if busy is None else busy)["grid_leader"]
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_util = np.r_[np.where(leaders.capacity > 0, leaders.on_duty / leaders.capacity, np.nan), np.nan]   # [-1]: none
    grid_unit = np.full(city.grids, -1)
    grid_unit[city.hh_grid] = model.layout["grid_leader"].hh_unit
    out["grid_leader_utilisation"] = unit_util[grid_unit]
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


def daily_series(timeseries: pd.DataFrame, census: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily means of the hourly series (open requests by type, busy places by role), the day's
    12345 calls, and, from the census, households' mean trust at the end of the day."""
    day = np.ceil(timeseries["hour"].to_numpy() / 24).astype(int)
    groups = timeseries.drop(columns="hour").groupby(day)
    out = groups.mean()
    if "hotline_calls" in out:
        out["hotline_calls"] = groups["hotline_calls"].sum()
    out.index.name = "day"
    out = out.reset_index()
    if census is not None and "trust" in census:
        trust = pd.Series(census["trust"].to_numpy(), index=np.round(census["time"].to_numpy() / 1440).astype(int))
        out["trust"] = trust.reindex(out["day"]).to_numpy()
    return out


def resolution_quantiles(requests: pd.DataFrame, t0: float, horizon: float) -> pd.DataFrame:
    """Share of residents' requests created after t0 resolved within each time, percentiles 0-100
    of the censored curve (nan beyond the share ever resolved)."""
    res = requests[(requests["origin"] == "resident") & (requests["created_minute"] >= t0)]
    times, share = resolution_curve(res, horizon)
    q = np.arange(101)
    k = np.searchsorted(share, q / 100 - 1e-12)
    hours = np.where(k < len(times), times[np.minimum(k, max(len(times) - 1, 0))] if len(times) else np.nan, np.nan)
    return pd.DataFrame({"percentile": q, "resolution_hours": hours})
