"""The event calendar: one heap that everything in the model sits on.

An entry is `(time, seq, kind, payload)`. `seq` is a global counter
incremented at every push (pool queues draw from it too), so events at the
same time are handled in the order they were scheduled, identically on every
machine. Each kind has one payload type:

    END      visit number (int)       a handler finishes a visit
    COVER    visit number (int)       a resident has waited long enough for a colleague to step in
    SHIFT    ShiftChange(role, on)    a role goes on or off duty
    MEETING  Pool                     an alliance holds its joint meeting
    SAMPLE   None                     the daily census for Mesa's DataCollector
    COMEBACK request number (int)     a resident who gave up comes back with the same problem
    STAFF    StaffChange(pool, places)  a unit's places change (vacancies start or end)
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, NamedTuple

END, COVER, SHIFT, MEETING, SAMPLE, COMEBACK, STAFF = range(7)
KINDS = ("END", "COVER", "SHIFT", "MEETING", "SAMPLE", "COMEBACK", "STAFF")


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

    def schedule(self, time: float, kind: int, payload: Any = None) -> None:
        heapq.heappush(self.heap, (time, next(self.seq), kind, payload))

    def pop(self) -> tuple[float, int, Any]:
        """The next event: (time, kind, payload)."""
        time, _, kind, payload = heapq.heappop(self.heap)
        return time, kind, payload

    def next_time(self) -> float:
        return self.heap[0][0] if self.heap else float("inf")
