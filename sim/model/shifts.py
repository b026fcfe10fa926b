"""Shifts: when a role is on duty, as merged [start, end) minute intervals.

Time 0 is Monday 00:00. A role on duty around the clock has no intervals to
schedule, so it costs no events at all.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return [(a, min(b, horizon)) for a, b in _merged(raw) if a < horizon]


def _merged(intervals) -> list[tuple[float, float]]:
    """Overlapping or touching [start, end) intervals joined, in order."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


@dataclass(frozen=True)
class Duty:
    """A role's on-duty intervals as arrays, with the questions the model asks of them."""
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, shifts: tuple[Shift, ...], horizon: float) -> "Duty":
        intervals = duty_intervals(shifts, horizon)
        return cls(np.array([a for a, _ in intervals]), np.array([b for _, b in intervals]))

    def union(self, other: "Duty") -> "Duty":
        """On duty when either is (a station open while its head or its duty leader is at the desk)."""
        merged = _merged(zip(np.r_[self.starts, other.starts].tolist(), np.r_[self.ends, other.ends].tolist()))
        return Duty(np.array([a for a, _ in merged]), np.array([b for _, b in merged]))

    def next_on(self, t: np.ndarray) -> np.ndarray:
        """The first moment at or after each t when the role is on duty (inf: never again)."""
        t = np.asarray(t, dtype=float)
        i = np.searchsorted(self.ends, t, side="right")
        padded = np.r_[self.starts, np.inf]
        return np.maximum(t, padded[i])

    def on_duty_before(self, t: np.ndarray) -> np.ndarray:
        """Minutes on duty in [0, t), for each t (vectorised)."""
        t = np.asarray(t, dtype=float)
        lengths = self.ends - self.starts
        cum = np.r_[0.0, np.cumsum(lengths)]
        i = np.searchsorted(self.starts, t, side="right")      # intervals starting at or before t
        inside = np.clip(t - np.r_[0.0, self.starts][i], 0.0, np.r_[0.0, lengths][i])
        return cum[np.maximum(i - 1, 0)] * (i > 0) + inside

    def minutes(self, t0: float, t1: float) -> float:
        """Minutes on duty within [t0, t1)."""
        return float(np.diff(self.on_duty_before(np.array([t0, t1])))[0])
