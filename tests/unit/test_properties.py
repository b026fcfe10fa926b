"""Properties (hypothesis) of the city's count splitting and bisection, of shift intervals and of the
event calendar's order."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridsim.city import bisect
from gridsim.scenario import split_counts
from gridsim.model.calendar import END, SHIFT, next_time, pop, schedule, timetable
from gridsim.model.shifts import WEEK, duty_intervals
from gridsim.scenario import Shift
from gridsim.scenario.schema import week_quarters

FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- split_counts
@FAST
@given(total=st.integers(0, 10**6),
       weights=st.lists(st.floats(1e-6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_split_counts_are_whole_proportional_and_sum_to_the_total(total, weights):
    w = np.array(weights)
    counts = split_counts(total, w)
    quota = total * w / w.sum()
    assert counts.dtype.kind == "i" and counts.sum() == total and (counts >= 0).all()
    assert (np.abs(counts - quota) < 1 + 1e-9).all()          # largest remainder: never a whole unit off


# ---------------------------------------------------------------- bisect
@st.composite
def points(draw, unit_weights: bool = False):
    n = draw(st.integers(1, 150))
    coord = st.floats(0, 1e4, allow_nan=False)
    x = np.array(draw(st.lists(coord, min_size=n, max_size=n)))
    y = np.array(draw(st.lists(coord, min_size=n, max_size=n)))
    w = np.ones(n) if unit_weights else np.array(draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n)))
    parts = draw(st.integers(1, max(1, min(n, 40))))
    return x, y, w, parts


@FAST
@given(points())
def test_bisection_labels_every_point_and_leaves_no_part_empty(case):
    x, y, w, parts = case
    labels = bisect(x, y, w, parts)
    assert labels.shape == x.shape and labels.min() >= 0 and labels.max() < parts
    assert set(labels.tolist()) == set(range(parts))          # n >= parts here: every part gets a point
    assert (bisect(x, y, w, parts) == labels).all()            # deterministic


@FAST
@given(points())
def test_bisection_parts_weigh_about_the_same(case):
    x, y, w, parts = case
    weight = np.bincount(bisect(x, y, w, parts), weights=w, minlength=parts)
    depth = math.ceil(math.log2(parts)) if parts > 1 else 0
    # each split is off its share by less than one point; the errors add up along a part's depth
    assert (np.abs(weight - w.sum() / parts) <= (depth + 1) * w.max() + 1e-9).all()


@FAST
@given(points(unit_weights=True))
def test_bisection_splits_a_line_of_points_into_runs(case):
    x, _, w, parts = case
    xs = np.arange(len(x), dtype=float)                        # a line: parts must be contiguous runs
    labels = bisect(xs, np.zeros_like(xs), w, parts)
    assert (np.diff(labels) >= 0).all()


# ---------------------------------------------------------------- shift intervals
quarter = st.integers(0, 96).map(lambda q: q / 4)


@st.composite
def shift(draw):
    start, end = sorted(draw(st.lists(quarter, min_size=2, max_size=2, unique=True)))
    days = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    return Shift(days=tuple(days), start_hour=start, end_hour=end)


@FAST
@given(shifts=st.lists(shift(), min_size=1, max_size=3), weeks=st.integers(1, 3),
       extra=st.floats(0, WEEK, allow_nan=False))
def test_duty_intervals_are_sorted_disjoint_and_match_the_weekly_pattern(shifts, weeks, extra):
    horizon = weeks * WEEK + extra
    intervals = duty_intervals(tuple(shifts), horizon)
    ends = [0.0] + [b for _, b in intervals]
    for (a, b), previous_end in zip(intervals, ends):
        assert previous_end <= a < b <= horizon
        assert a > previous_end or previous_end == 0.0          # merged: no two intervals touch
    on = week_quarters(tuple(shifts))
    full = sum(b - a for a, b in duty_intervals(tuple(shifts), weeks * WEEK))
    assert math.isclose(full, weeks * sum(on) * 15.0)         # whole weeks: the pattern's hours, each week
    for t in np.linspace(0, horizon, 97, endpoint=False) + 7.5:
        if t >= horizon:
            continue
        inside = any(a <= t < b for a, b in intervals)
        assert inside == on[int(t % WEEK // 15)], t


# ---------------------------------------------------------------- the calendar
@FAST
@given(before=st.lists(st.integers(0, 20), max_size=30), during=st.lists(st.integers(0, 20), max_size=30))
def test_a_timetable_pops_events_in_the_order_one_heap_would(before, during):
    """Events fixed before the run and events the run adds (ties included, in times of whole
    minutes) come out by time, then by the order they were scheduled, as from one heap."""
    def drain(fixed: bool) -> list:
        events = [(float(t), SHIFT, k) for k, t in enumerate(before)]
        calendar = timetable(events if fixed else [], 64)
        if not fixed:
            for t, kind, k in events:
                schedule(calendar, t, kind, k)
        added, out = iter(enumerate(during)), []
        while next_time(calendar) < float("inf"):
            for k, t in added:               # the run adds an event at or after each one it handles
                schedule(calendar, float(t) + next_time(calendar), END, 1000 + k)
                break
            t, kind, payload = pop(calendar)
            out.append((float(t), int(kind), int(payload)))
        return out

    assert drain(True) == drain(False)
    assert len(drain(True)) == len(before) + (len(during) if before else 0)
