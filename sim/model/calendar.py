"""The event calendar: one heap that everything in the model sits on, and its only owner.

An entry is (time, seq, kind, payload), kept in four arrays as a binary heap
ordered by time, then by `seq`: a counter incremented at every schedule, so
events at the same time are handled in the order they were scheduled,
identically on every machine (SimPy's rule). Events known before the run
(shift changes, meetings, daily samples, vacancies: about 7,700 a city-year)
are a sorted timetable that feeds the heap one entry at a time, so the heap
holds only what the run makes (a few thousand ends of visits and give-ups)
and every push and pop is shallower; the order of events is unchanged. Each
kind has one payload, an integer:

    END      visit             a handler finishes a visit
    COVER    visit             a resident has waited long enough for a colleague to step in
    SHIFT    role * 2 + on     a role goes on (1) or off (0) duty
    MEETING  unit              an alliance holds its joint meeting
    SAMPLE   0                 the daily census for Mesa's DataCollector
    COMEBACK request           a resident who gave up comes back with the same problem
    STAFF    staff change      a unit's places change (vacancies start or end): `Units.staff_*`
    GIVE_UP  visit             a waiting resident's patience runs out

The heap's arrays are allocated for the most entries the run can hold at
once (four a visit: its end, its give-up and two cover checks; one a request:
its comeback; one from the timetable) and are never touched beyond what is in
use, so their untouched pages cost no memory. The functions are compiled with
numba (`compiled`) and run as plain Python under NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .kernel_cache import HERE, SOURCES, stamped_by

END, COVER, SHIFT, MEETING, SAMPLE, COMEBACK, STAFF, GIVE_UP = range(8)
KINDS = ("END", "COVER", "SHIFT", "MEETING", "SAMPLE", "COMEBACK", "STAFF", "GIVE_UP")
SIZE, SEQ, NEXT_FIXED = range(3)         # the calendar's counters
ENTRIES_PER_VISIT, ENTRIES_PER_REQUEST = 4, 1

# every compiled function of the model: cached on disk (the first run compiles, later ones load
# until the model's or the scenario's code changes: kernel_cache.py)
stamped_by(HERE, SOURCES)
compiled = njit(cache=True, nogil=True, _nrt=False)
inline = njit(cache=True, nogil=True, _nrt=False, inline="always")


class Calendar(NamedTuple):
    """The heap (`time`, `seq`, `kind`, `payload`, its size in `counters[SIZE]`) and the sorted
    timetable (`fixed_*`), with the next sequence number and the timetable's next entry."""
    time: np.ndarray
    seq: np.ndarray
    kind: np.ndarray
    payload: np.ndarray
    fixed_time: np.ndarray
    fixed_seq: np.ndarray
    fixed_kind: np.ndarray
    fixed_payload: np.ndarray
    counters: np.ndarray


def timetable(events: list[tuple[float, int, int]], capacity: int) -> Calendar:
    """A calendar whose timetable is `events` (time, kind, payload), in the order they were
    scheduled for ties, its first entry in the heap, room for `capacity` entries."""
    times = np.array([e[0] for e in events], dtype=np.float64)
    order = np.argsort(times, kind="stable")          # ties: scheduled first, first
    kind = np.array([e[1] for e in events], dtype=np.int8)[order]
    payload = np.array([e[2] for e in events], dtype=np.int64)[order]
    cal = Calendar(np.empty(capacity), np.empty(capacity, np.int64), np.empty(capacity, np.int8),
                   np.empty(capacity, np.int64), times[order], order.astype(np.int64), kind, payload,
                   np.array([0, len(events), 0], dtype=np.int64))
    feed(cal)
    return cal


def grown(cal: Calendar, capacity: int) -> Calendar:
    """The same calendar with room for `capacity` heap entries."""
    size = int(cal.counters[SIZE])
    arrays = []
    for old in (cal.time, cal.seq, cal.kind, cal.payload):
        new = np.empty(capacity, dtype=old.dtype)
        new[:size] = old[:size]
        arrays.append(new)
    return cal._replace(time=arrays[0], seq=arrays[1], kind=arrays[2], payload=arrays[3])


@inline
def _sift_up(cal, i, t, seq, kind, payload):
    time, seqs = cal.time, cal.seq
    while i > 0:
        parent = (i - 1) >> 1
        if time[parent] < t or (time[parent] == t and seqs[parent] < seq):
            break
        time[i], seqs[i], cal.kind[i], cal.payload[i] = time[parent], seqs[parent], cal.kind[parent], cal.payload[parent]
        i = parent
    time[i], seqs[i], cal.kind[i], cal.payload[i] = t, seq, kind, payload


@inline
def schedule(cal, t, kind, payload):
    """Put an event on the heap, after every event already there at the same time."""
    c = cal.counters
    seq = c[SEQ]
    c[SEQ] = seq + 1
    _sift_up(cal, c[SIZE], t, seq, kind, payload)
    c[SIZE] += 1


@inline
def feed(cal):
    """The timetable's next entry joins the heap (it keeps its place in the order of scheduling)."""
    c = cal.counters
    k = c[NEXT_FIXED]
    if k < len(cal.fixed_time):
        _sift_up(cal, c[SIZE], cal.fixed_time[k], cal.fixed_seq[k] - len(cal.fixed_time), cal.fixed_kind[k],
                 cal.fixed_payload[k])
        c[SIZE] += 1
        c[NEXT_FIXED] = k + 1


@inline
def next_time(cal):
    """When the next event falls (inf: none left)."""
    return cal.time[0] if cal.counters[SIZE] > 0 else np.inf


@inline
def pop(cal):
    """The next event, (time, kind, payload), off the heap; a timetable entry brings in its successor."""
    c = cal.counters
    t0, seq0, kind0, payload0 = cal.time[0], cal.seq[0], cal.kind[0], cal.payload[0]
    size = c[SIZE] - 1
    c[SIZE] = size
    time, seqs = cal.time, cal.seq
    t, seq, kind, payload = time[size], seqs[size], cal.kind[size], cal.payload[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and (time[child + 1] < time[child]
                                 or (time[child + 1] == time[child] and seqs[child + 1] < seqs[child])):
            child += 1
        if t < time[child] or (t == time[child] and seq < seqs[child]):
            break
        time[i], seqs[i], cal.kind[i], cal.payload[i] = time[child], seqs[child], cal.kind[child], cal.payload[child]
        i = child
    if size > 0:
        time[i], seqs[i], cal.kind[i], cal.payload[i] = t, seq, kind, payload
    if seq0 < 0:                                      # from the timetable (its entries precede the run's)
        feed(cal)
    return t0, kind0, payload0
