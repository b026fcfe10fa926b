"""Shifts: when a role is on duty, as merged [start, end) minute intervals.

Time 0 is Monday 00:00. A role on duty around the clock has no intervals to
schedule, so it costs no events at all.
"""

from __future__ import annotations

import numpy as np

from ..scenario import Shift

WEEK = 7 * 24 * 60


def always_on(shifts: tuple[Shift, ...]) -> bool:
    return duty_intervals(shifts, WEEK) == [(0.0, float(WEEK))]


def duty_intervals(shifts: tuple[Shift, ...], horizon: float) -> list[tuple[float, float]]:
    """Merged on-duty intervals from time 0 to `horizon` minutes."""
    raw = []
    for week in range(int(horizon // WEEK) + 1):
        for s in shifts:
            for d in s.days:
                start = week * WEEK + d * 1440 + s.start_hour * 60
                raw.append((start, start + (s.end_hour - s.start_hour) * 60))
    merged: list[list[float]] = []
    for start, end in sorted(raw):
        if start >= horizon:
            break
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, min(b, horizon)) for a, b in merged]


def duty_minutes(intervals: list[tuple[float, float]], t0: float, t1: float) -> float:
    """Minutes on duty within [t0, t1)."""
    if not intervals:
        return 0.0
    a = np.array(intervals)
    return float(np.clip(np.minimum(a[:, 1], t1) - np.maximum(a[:, 0], t0), 0, None).sum())
