"""Shifts: when a role is on duty, as merged [start, end) minute intervals.

Time 0 is Monday 00:00. A role on duty around the clock has no intervals to
schedule, so it costs no events at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..scenario import Shift
from .calendar import compiled

WEEK = 7 * 24 * 60


def always_on(shifts: tuple[Shift, ...]) -> bool:
    return duty_intervals(shifts, WEEK) == [(0.0, float(WEEK))]


def duty_intervals(shifts: tuple[Shift, ...], horizon: float) -> list[tuple[float, float]]:
    """Merged on-duty intervals from time 0 to `horizon` minutes."""
    return list(zip(*(a.tolist() for a in _duty(shifts, horizon))))


def _duty(shifts: tuple[Shift, ...], horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """`duty_intervals` as (starts, ends): the week's shifts laid week by week (a whole array at a
    time: the M/M/4 validation case's 24 years have 95,000 shift-days), merged, the last cut at the horizon."""
    week = [(d * 1440 + s.start_hour * 60, (s.end_hour - s.start_hour) * 60) for s in shifts for d in s.days]
    first, length = np.array(week, dtype=float).reshape(-1, 2).T
    laid = np.arange(int(horizon // WEEK) + 1)[:, None] * float(WEEK) + first      # (weeks, shift-days)
    starts, ends = _merged(laid.ravel(), (laid + length).ravel())
    kept = starts < horizon
    return starts[kept], np.minimum(ends[kept], horizon)


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping or touching [start, end) intervals joined, in order."""
    if not len(starts):
        return starts, ends
    order = np.lexsort((ends, starts))
    starts, reach = starts[order], np.maximum.accumulate(ends[order])     # (reach: the furthest end so far)
    first = np.flatnonzero(np.r_[True, starts[1:] > reach[:-1]])
    return starts[first], reach[np.r_[first[1:] - 1, len(starts) - 1]]


@dataclass(frozen=True)
class Duty:
    """A role's on-duty intervals as arrays, with the questions the model asks of them."""
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, shifts: tuple[Shift, ...], horizon: float) -> "Duty":
        return cls(*_duty(shifts, horizon))

    def union(self, other: "Duty") -> "Duty":
        """On duty when either is (a station open while its head or its duty leader is at the desk)."""
        return Duty(*_merged(np.r_[self.starts, other.starts], np.r_[self.ends, other.ends]))

    def next_on(self, t: np.ndarray) -> np.ndarray:
        """The first moment at or after each t when the role is on duty (inf: never again)."""
        t = np.asarray(t, dtype=float)
        i = np.searchsorted(self.ends, t, side="right")
        padded = np.r_[self.starts, np.inf]
        return np.maximum(t, padded[i])

    def on_duty_before(self, t: np.ndarray) -> np.ndarray:
        """Minutes on duty in [0, t), for each t (vectorised): the minutes of the intervals that
        started before t, and of the last one the part up to t."""
        t = np.asarray(t, dtype=float)
        out = np.empty(t.size)
        on_duty_minutes(np.ascontiguousarray(t).ravel(), *self._by_day, out)
        return out.reshape(t.shape)

    def on_duty_between(self, since: np.ndarray, until: np.ndarray) -> np.ndarray:
        """Minutes on duty in [since, until), for each pair."""
        return self.on_duty_before(until) - self.on_duty_before(since)

    @cached_property
    def _by_day(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """What `on_duty_minutes` finds the intervals with: the starts (and a nan no time reaches),
        lengths, minutes on duty before each, the first interval of each day, and the most in a day."""
        lengths = self.ends - self.starts
        days = int(self.starts[-1] // 1440) + 1 if len(self.starts) else 0
        first_of_day = np.searchsorted(self.starts, np.arange(days + 1) * 1440.0, side="left")
        return (np.r_[self.starts, np.nan], lengths, np.r_[0.0, np.cumsum(lengths)], first_of_day,
                int(np.diff(first_of_day).max(initial=0)))

    def minutes(self, t0: float, t1: float) -> float:
        """Minutes on duty within [t0, t1)."""
        return float(self.on_duty_between(np.array([t0]), np.array([t1]))[0])


@compiled
def on_duty_minutes(t, starts, lengths, before, first_of_day, per_day, out):
    """`Duty.on_duty_before` of each t (a nan stays nan): the intervals that started by t are
    counted on from the day's first (a day holds at most `per_day` starts; `Duty._by_day`), not
    found by a binary search (5x faster over a million visits), and the minutes are summed as
    numpy did it, bit for bit: before[i - 1] + min(max(t - start, 0), length) of the last one."""
    days = len(first_of_day) - 1
    for j in range(len(t)):
        x = t[j]
        if x != x:
            out[j] = x
            continue
        i = first_of_day[int(min(max(x / 1440.0, 0.0), days))]
        while i > 0 and starts[i - 1] > x:      # (x / 1440 rounded up to the next day)
            i -= 1
        for _ in range(per_day):
            i += starts[i] <= x                  # (the nan after the last start stops it)
        if i == 0:
            out[j] = 0.0
            continue
        inside = x - starts[i - 1]
        inside = inside if inside > 0.0 else 0.0
        out[j] = before[i - 1] + (inside if inside < lengths[i - 1] else lengths[i - 1])
