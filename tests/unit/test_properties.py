"""Properties (hypothesis) of the city's count splitting and bisection, of shift intervals, of the
event calendar's order, and of the fast paths that stand in for numpy (the same results, bit for
bit: households drawn, a window's draws, floats put in order, percentiles, busy minutes)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridsim.city import bisect
from gridsim.scenario import split_counts
from gridsim.model.calendar import END, SHIFT, next_time, pop, schedule, timetable
from gridsim.model.metrics import QUANTILES, Censored, LogFactors, busy_minutes
from gridsim.model.order import stable_order
from gridsim.model.requests import CHUNK, Section, drawn_households, generator, sections, stream
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


# ---------------------------------------------------------------- fast paths that stand in for numpy
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.sampled_from([0.0, -0.0, 1.0, 1.0 + 2.0 ** -52, 1.0 - 2.0 ** -53, math.nan, -math.nan]))


@FAST
@given(x=st.lists(floats, max_size=300))
def test_stable_order_is_numpys_stable_argsort(x):
    """Ties (0.0 with -0.0 too) keep their rows' order, nan goes last, as numpy's stable sort."""
    x = np.array(x, dtype=np.float64)
    assert np.array_equal(stable_order(x), np.argsort(x, kind="stable"))


@FAST
@given(weights=st.lists(st.one_of(st.just(0.0), st.floats(1e-9, 1e9)), min_size=1, max_size=60),
       n=st.integers(0, 500), seed=st.integers(0, 2 ** 32 - 1))
def test_households_are_drawn_as_numpys_choice_draws_them(weights, n, seed):
    """The same households from the same uniforms, and the generator left where choice leaves it:
    every later draw of the stream (common random numbers) is unchanged."""
    w = np.array(weights)
    if w.sum() == 0:
        w[0] = 1.0
    p = w / w.sum()
    ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
    assert np.array_equal(drawn_households(ours, p, n), numpys.choice(len(p), size=n, p=p))
    assert ours.random() == numpys.random()


# the sections of one stream, drawn at once (what a build drew before it drew a window at a time)
_ROWS = 3 * CHUNK + 123
_AT_ONCE = stream(5, "behaviour", 2)
_START = _AT_ONCE.bit_generator.state
_BLOCK, _COLUMN, _EXPONENTIAL = (_AT_ONCE.random((_ROWS, 3)), _AT_ONCE.random(_ROWS),
                                 _AT_ONCE.standard_exponential(_ROWS))


@FAST
@given(lo=st.integers(0, _ROWS - 1), size=st.integers(1, 2 * CHUNK), scattered=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_a_sections_rows_are_the_numbers_drawn_at_once(lo, size, scattered, seed):
    """`requests.Section` reaches any rows of a section, in any order: a stretch of them (uniforms
    from the stream moved on, exponentials from the state saved at their CHUNK) or rows scattered
    over it (the section drawn whole once); the numbers are those of drawing it all at once."""
    g = generator(_START)
    drawn = sections(g, _ROWS, (("block", 3), ("column", None)))
    drawn["exponential"] = Section.passed(g, _ROWS)
    rng = np.random.default_rng(seed)
    at = (rng.choice(_ROWS, min(size, 500), replace=False) if scattered
          else rng.permutation(np.arange(lo, min(lo + size, _ROWS))))
    order = np.argsort(at)
    wanted = at[order]
    assert np.array_equal(drawn["block"].take(wanted, order, 2), _BLOCK[at, :2])
    assert np.array_equal(drawn["column"].take(wanted, order), _COLUMN[at])
    assert np.array_equal(drawn["exponential"].take(wanted, order), _EXPONENTIAL[at])


@FAST
@given(rows=st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.integers(-1, 4)), min_size=1, max_size=200))
def test_percentiles_are_the_first_curve_points_that_reach_them(rows):
    """Censored.quantiles (no curve kept) agrees with reading each group's curve (Censored.curves):
    the first event time whose share reaches the quantile, in whole-minute durations full of ties."""
    duration, observed, group = (np.array(c) for c in zip(*rows))
    duration = np.where(duration == 30, np.inf, duration / 4)        # some never resolve
    observed &= np.isfinite(duration)
    censored = Censored(duration, observed)
    groups = 5
    found = censored.quantiles(group, groups)
    g, t, share = censored.curves(group)
    for k, q in enumerate(QUANTILES.values()):
        for label in range(groups):
            reached = t[(g == label) & (share >= q - 1e-12)]
            assert found[label, k] == reached[0] if len(reached) else np.isnan(found[label, k])


@FAST
@given(rows=st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.integers(-1, 4), st.booleans()), min_size=1,
                     max_size=200))
def test_clocks_sharing_their_log_factors_find_what_each_finds_alone(rows):
    """A run's clocks share one LogFactors, made for the longest: the percentiles of a clock over
    some of the rows are those of a clock made of those rows alone, with factors of its own length."""
    duration, observed, group, among = (np.array(c) for c in zip(*rows))
    duration = np.where(duration == 30, np.inf, duration / 4)
    observed &= np.isfinite(duration)
    steps = LogFactors(len(duration))
    Censored(duration, observed, None, steps).quantiles(group, 5)            # (the longest first)
    shared = Censored(duration, observed, among, steps).quantiles(np.where(among, group, -1), 5)
    alone = Censored(duration[among], observed[among]).quantiles(group[among], 5)
    np.testing.assert_array_equal(shared, alone)


@FAST
@given(intervals=st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 200), st.booleans()), max_size=60),
       step=st.floats(1, 300))
def test_busy_minutes_add_each_intervals_part_before_each_time(intervals, step):
    """Busy minutes up to t: each interval's part of [0, t); one with no end is busy to the end."""
    starts = np.array([s for s, _, _ in intervals])
    ends = np.array([s + d if ended else np.nan for s, d, ended in intervals])
    times = np.arange(0.0, 1300.0, step)
    busy = busy_minutes(starts, ends, times)
    for t, b in zip(times, busy):
        expected = sum(max(0.0, min(t, np.inf if np.isnan(e) else e) - s) for s, e in zip(starts, ends))
        assert math.isclose(b, expected, rel_tol=1e-9, abs_tol=1e-6)
