"""A stable order of floats, faster than numpy's: the clocks' Kaplan-Meier curves and the requests'
contact times are sorted with it (a million each, several times a run)."""

from __future__ import annotations

import numpy as np

from .calendar import compiled


def stable_order(x: np.ndarray) -> np.ndarray:
    """np.argsort(x, kind="stable") of floats (nan last), faster: a clock's 1.24 million durations
    took 11-13 ms against numpy's 34-47 ms (nearly sorted input gains little). numpy
    sorts integers with SIMD but not an argsort, so each float's leading bits, as an integer of
    the same order, are packed with its row into one integer and those are sorted; rows whose
    leading bits tie are then put in order by all their bits (`settle`: an insertion sort over
    ties, linear unless many nearly equal floats come out of order, when numpy sorts instead)."""
    n = len(x)
    shift = np.uint64(max(n - 1, 1).bit_length())
    key, packed = np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint64)
    pack(np.ascontiguousarray(x, dtype=np.float64).view(np.uint64), shift, key, packed)
    packed.sort()
    order = np.empty(n, dtype=np.int64)
    return order if settle(packed, key, shift, order) else np.argsort(x, kind="stable")


_SIGN, _NAN = np.uint64(1 << 63), np.uint64(0x7FF0_0000_0000_0000)


@compiled
def pack(bits, shift, key, packed):
    """key: each float's bits as an integer in the floats' order (-0.0 as 0.0, nan above all);
    packed: its leading bits over its row."""
    for i in range(len(bits)):
        b = bits[i]
        if b & ~_SIGN > _NAN:
            k = ~np.uint64(0)
        elif b == _SIGN:
            k = _SIGN
        elif b & _SIGN:
            k = ~b
        else:
            k = b | _SIGN
        key[i] = k
        packed[i] = (k >> shift << shift) | np.uint64(i)


@compiled
def settle(packed, key, shift, order):
    """order = the rows packed in the low `shift` bits of `packed` (sorted), each run of equal
    leading bits then sorted by `key`, stably; False if that takes more than a few moves a row."""
    rows = (np.uint64(1) << shift) - np.uint64(1)
    for i in range(len(packed)):
        order[i] = packed[i] & rows
    moves = 0
    for i in range(1, len(packed)):
        lead = packed[i] >> shift
        row, j = order[i], i
        while j > 0 and packed[j - 1] >> shift == lead and key[order[j - 1]] > key[row]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = row
        moves += i - j
        if moves > 8 * len(packed) + 1024:
            return False
    return True
