"""The agents: households, who ask, and the roles that answer.

Agents are never stepped. A household's requests are drawn up front from its
own rates; a staff agent is handed a request by its unit when it is free and
on duty (see `journey.py`). What an agent did is read back from the visit records, so agents
keep only who they are and where they belong.
"""

from __future__ import annotations

import itertools
import weakref

import mesa


class _IdCounters:
    """Per-model id counters that do not keep finished models alive.

    Mesa 3.3 keeps its counters in a class-level defaultdict keyed by model,
    so every model ever built stays in memory; sweeps build thousands. The
    last model asked for is remembered (weakly): a model builds its agents in
    a row, and a weak-dictionary lookup for each of 120,000 would cost more.
    """

    def __init__(self):
        self._counters = weakref.WeakKeyDictionary()
        self._last: tuple = (None, None)

    def __getitem__(self, model):
        ref, counter = self._last
        if ref is not None and ref() is model:
            return counter
        counter = self._counters.get(model)
        if counter is None:
            counter = self._counters[model] = itertools.count(1)
        self._last = (weakref.ref(model), counter)
        return counter


class GridAgent(mesa.Agent):
    _ids = _IdCounters()


class Household(GridAgent):
    """住户: produces requests, chooses how to report them, and remembers how they went (trust).
    Its attributes live in the city's arrays, and its trust in the model's, at `index`: the event
    loop updates a million numbers faster there, and `model.agents_by_type[Household]` still reads
    them as agent attributes (e.g. `.agg("trust", np.mean)`). The model makes them the first time
    its agents are asked for (`GridModel.agents`), after the staff."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def grid(self) -> int:
        return int(self.model.city.hh_grid[self.index])

    @property
    def size(self) -> int:
        return int(self.model.city.hh_size[self.index])

    @property
    def elderly(self) -> bool:
        return bool(self.model.city.hh_elderly[self.index])

    @property
    def trust(self) -> float:
        return float(self.model.trust[self.index])

    @property
    def walk_minutes(self) -> float:
        """Walking minutes to the nearest station (inf without stations)."""
        return float(self.model.city.hh_nearest_station_walk_min[self.index])


class Staff(GridAgent):
    """A person (or body) that resolves requests from one unit's queue (`unit`: its index in the
    model's `world.unit` arrays)."""
    role = ""

    def __init__(self, model, unit: int):
        super().__init__(model)
        self.unit = unit


class BuildingLeader(Staff):
    """楼长: part-time first contact in one building."""
    role = "building_leader"


class GridLeader(Staff):
    """专职网格长: full-time, walks to the households of the station's grids."""
    role = "grid_leader"


class StationHead(Staff):
    """站长: walk-in errands and escalations at the station."""
    role = "station_head"


class PoliceOfficer(Staff):
    """辅警/民警: safety incidents and escalated disputes."""
    role = "police"


class CommunityWorker(Staff):
    """社区工作者: back-office paperwork for the community."""
    role = "community_worker"


class Volunteer(Staff):
    """在职党员: a few hours a week of care visits, wishes and opinion collection."""
    role = "volunteer"


class PropertyManager(Staff):
    """物业: on-site staff of a compound's company or committee."""
    role = "property_manager"


class Alliance(Staff):
    """党建联盟: resolves a batch of hard problems at each joint meeting."""
    role = "alliance"


class HotlineOperator(Staff):
    """12345热线: answers round the clock; hands requests to the grid for its next working period."""
    role = "hotline"


class Police110(Staff):
    """派出所/110: a patrol on duty round the clock, outside the grid."""
    role = "police110"


class TwoNewOrg(Staff):
    """两新组织: a private firm or social organisation that fulfils residents' micro-wishes."""
    role = "two_new_org"


class DutyLeader(Staff):
    """值班网格长: a station's grid leader on duty for all its grids out of hours, in turn."""
    role = "duty_leader"


ROLE_AGENTS = {cls.role: cls for cls in (BuildingLeader, GridLeader, StationHead, PoliceOfficer,
                                         CommunityWorker, Volunteer, PropertyManager, Alliance,
                                         HotlineOperator, Police110, TwoNewOrg, DutyLeader)}
