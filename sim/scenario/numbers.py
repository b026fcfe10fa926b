"""Whole numbers from shares: the one largest-remainder rule.

The scenario uses it to scale a map city's compounds per property mode, the
city to split households, buildings and stations over communities.
"""

from __future__ import annotations

import numpy as np


def split_counts(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to `total`, proportional to `weights` (largest remainder)."""
    quota = total * weights / weights.sum()
    counts = np.floor(quota).astype(int)
    short = total - counts.sum()
    counts[np.argsort(-(quota - counts), kind="stable")[:short]] += 1
    return counts
