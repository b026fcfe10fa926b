"""The event calendar: one heap that everything in the model sits on.

An entry is `(time, seq, kind, payload)`. `seq` is a global counter
incremented at every push (pool queues draw from it too), so events at the
same time are handled in the order they were scheduled, identically on every
machine. Events known before the run (shift changes, meetings, daily
samples, vacancies: about 7,700 a city-year) are moved by `fix` into a sorted
timetable that feeds the heap one entry at a time, so the heap holds only
what the run makes (a few thousand ends of visits and give-ups) and every
push and pop is shallower; the order of events is unchanged. Each kind has
one payload type:

    END      visit number (int)       a handler finishes a visit
    COVER    visit number (int)       a resident has waited long enough for a colleague to step in
    SHIFT    ShiftChange(role, on)    a role goes on or off duty
    MEETING  Pool                     an alliance holds its joint meeting
    SAMPLE   None                     the daily census for Mesa's DataCollector
    COMEBACK request number (int)     a resident who gave up comes back with the same problem
    STAFF    StaffChange(pool, places)  a unit's places change (vacancies start or end)
    GIVE_UP  visit number (int)       a waiting resident's patience runs out
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, NamedTuple

END, COVER, SHIFT, MEETING, SAMPLE, COMEBACK, STAFF, GIVE_UP = range(8)
KINDS = ("END", "COVER", "SHIFT", "MEETING", "SAMPLE", "COMEBACK", "STAFF", "GIVE_UP")


class ShiftChange(NamedTuple):
    role: int       # index into ROLES
    on: bool


class StaffChange(NamedTuple):
    pool: Any       # the unit (units.Pool)
    places: int     # its places from now on


class Calendar:
    def __init__(self):
        self.heap: list[tuple] = []
        self.seq = itertools.count()
        self.timetable: list[tuple] = []
        self.fixed = self.next_fixed = 0    # entries with seq < fixed come from the timetable

    def schedule(self, time: float, kind: int, payload: Any = None) -> None:
        heapq.heappush(self.heap, (time, next(self.seq), kind, payload))

    def fix(self) -> None:
        """Everything scheduled so far becomes the timetable; only its first entry waits in the heap."""
        self.timetable = sorted(self.heap)
        self.fixed = max((e[1] for e in self.heap), default=-1) + 1
        self.heap[:] = self.timetable[:1]
        self.next_fixed = 1

    def feed(self) -> None:
        """A timetable entry was popped: its successor enters the heap (it is the timetable's earliest)."""
        if self.next_fixed < len(self.timetable):
            heapq.heappush(self.heap, self.timetable[self.next_fixed])
            self.next_fixed += 1

    def pop(self) -> tuple[float, int, Any]:
        """The next event: (time, kind, payload)."""
        time, seq, kind, payload = heapq.heappop(self.heap)
        if seq < self.fixed:
            self.feed()
        return time, kind, payload

    def next_time(self) -> float:
        return self.heap[0][0] if self.heap else float("inf")
