"""The scenario schema: every input of the model, as frozen dataclasses.

A scenario is pure data. Numbers come from the TOML file; each class here
only says what may be written and which combinations make sense. Bounds are
in `spec(...)`; rules that tie fields together are in `check`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

from .fields import ScenarioError, join, spec

ROLES = ("building_leader", "grid_leader", "station_head", "police",
         "community_worker", "volunteer", "property_manager", "alliance")
Role = Literal["building_leader", "grid_leader", "station_head", "police",
               "community_worker", "volunteer", "property_manager", "alliance"]
PROPERTY_MODES = ("market", "state_owned", "self_managed", "none")


@dataclass(frozen=True, kw_only=True)
class Run:
    days: float = spec(365.0, gt=0)
    warmup_days: float = spec(0.0, ge=0)

    def check(self, path: str) -> None:
        if self.warmup_days >= self.days:
            raise ScenarioError(join(path, "warmup_days"),
                                f"must be less than days ({self.days:g}), got {self.warmup_days:g}")


@dataclass(frozen=True, kw_only=True)
class City:
    area_km2: float = spec(gt=0)
    population: int = spec(ge=1)
    household_size: float = spec(ge=1)
    elderly_share: float = spec(ge=0, le=1)
    sub_districts: int = spec(ge=1)
    communities: int = spec(ge=1)
    buildings: int = spec(ge=1)
    compounds: int = spec(ge=1)
    small_compounds: int = spec(0, ge=0)
    walk_speed_m_per_min: float = spec(gt=0)
    walk_detour: float = spec(1.0, ge=1)
    walk_circle_minutes: float = spec(15.0, gt=0)

    @property
    def households(self) -> int:
        return max(1, round(self.population / self.household_size))

    def check(self, path: str) -> None:
        if self.communities < self.sub_districts:
            raise ScenarioError(join(path, "communities"),
                                f"must be >= sub_districts ({self.sub_districts}), got {self.communities}")
        if self.compounds > self.buildings:
            raise ScenarioError(join(path, "compounds"),
                                f"must be <= buildings ({self.buildings}), got {self.compounds}")
        if self.small_compounds > self.compounds:
            raise ScenarioError(join(path, "small_compounds"),
                                f"must be <= compounds ({self.compounds}), got {self.small_compounds}")
        if self.buildings > self.households:
            raise ScenarioError(join(path, "buildings"),
                                f"must be <= households ({self.households}), got {self.buildings}")


@dataclass(frozen=True, kw_only=True)
class Grids:
    households_per_grid: int = spec(ge=1)


@dataclass(frozen=True, kw_only=True)
class Stations:
    count: int = spec(ge=0)
    running_cost_yuan: float = spec(0.0, ge=0)


@dataclass(frozen=True, kw_only=True)
class Shift:
    """On duty from start_hour to end_hour on the listed weekdays (0 = Monday)."""
    days: tuple[int, ...] = spec(ge=0, le=6)
    start_hour: float = spec(ge=0, le=24)
    end_hour: float = spec(ge=0, le=24)

    def check(self, path: str) -> None:
        if self.end_hour <= self.start_hour:
            raise ScenarioError(join(path, "end_hour"),
                                f"must be after start_hour ({self.start_hour:g}), got {self.end_hour:g}")
        if len(set(self.days)) != len(self.days) or not self.days:
            raise ScenarioError(join(path, "days"), "must list distinct weekdays 0-6, at least one")


ALWAYS = (Shift(days=tuple(range(7)), start_hour=0.0, end_hour=24.0),)


def shift_hours_per_week(shifts: tuple[Shift, ...]) -> float:
    """Hours on duty per week; overlapping windows count once."""
    hours = [False] * (7 * 24 * 4)
    for s in shifts:
        for d in s.days:
            for q in range(round(s.start_hour * 4), round(s.end_hour * 4)):
                hours[d * 96 + q] = True
    return sum(hours) / 4


@dataclass(frozen=True, kw_only=True)
class Staff:
    """What every staffed role shares: when it works, whether it walks, its pay."""
    shifts: tuple[Shift, ...] = ALWAYS
    travel: bool = False
    salary_yuan: float = spec(0.0, ge=0)

    def check(self, path: str) -> None:
        if self.shifts and shift_hours_per_week(self.shifts) <= 0:
            raise ScenarioError(join(path, "shifts"), "must give some hours on duty")


@dataclass(frozen=True, kw_only=True)
class GridLeaders(Staff):
    per_grid: float = spec(1.0, ge=0)
    min_per_station: int = spec(0, ge=0)


@dataclass(frozen=True, kw_only=True)
class StationStaff(Staff):
    per_station: int = spec(1, ge=0)


@dataclass(frozen=True, kw_only=True)
class BuildingLeaders(Staff):
    per_building: int = spec(1, ge=0)
    subsidy_yuan: float = spec(0.0, ge=0)
    availability: tuple[tuple[float, ...], ...] = ((0.0, 1.0),)
    report_delay_factor: float = spec(1.0, ge=0)

    def check(self, path: str) -> None:
        super().check(path)
        p = join(path, "availability")
        if any(len(row) != 2 for row in self.availability) or not self.availability:
            raise ScenarioError(p, "must be a list of [subsidy_yuan, share] pairs")
        xs = [row[0] for row in self.availability]
        if xs != sorted(set(xs)):
            raise ScenarioError(p, "subsidies must be strictly increasing")
        if any(not 0 <= row[1] <= 1 for row in self.availability):
            raise ScenarioError(p, "shares must lie in [0, 1]")

    @property
    def share_available(self) -> float:
        """Share of requests a building leader takes, interpolated on the subsidy."""
        xs, ys = zip(*self.availability)
        if self.subsidy_yuan <= xs[0]:
            return ys[0]
        for (x0, y0), (x1, y1) in zip(self.availability, self.availability[1:]):
            if self.subsidy_yuan <= x1:
                return y0 + (y1 - y0) * (self.subsidy_yuan - x0) / (x1 - x0)
        return ys[-1]


@dataclass(frozen=True, kw_only=True)
class CommunityStaff(Staff):
    count: int = spec(0, ge=0)
    request_share: float = spec(1.0, gt=0, le=1)

    @property
    def share_on_duty(self) -> float:
        """Share of the head count working on residents' requests during the shift."""
        return self.request_share


@dataclass(frozen=True, kw_only=True)
class Volunteers(Staff):
    count: int = spec(0, ge=0)
    hours_per_week: float = spec(0.0, ge=0)

    @property
    def share_on_duty(self) -> float:
        """Share of volunteers on duty at once while their window is open."""
        return min(1.0, self.hours_per_week / shift_hours_per_week(self.shifts))


@dataclass(frozen=True, kw_only=True)
class PropertyMode:
    compounds: int = spec(0, ge=0)
    staff: int = spec(0, ge=0)
    service_factor: float = spec(1.0, gt=0)
    rate_multiplier: float = spec(1.0, ge=0)
    cost_yuan_per_compound: float = spec(0.0, ge=0)


@dataclass(frozen=True, kw_only=True)
class PropertyManagers(Staff):
    modes: Mapping[str, PropertyMode] = spec({})

    def check(self, path: str) -> None:
        super().check(path)
        if set(self.modes) != set(PROPERTY_MODES):
            missing = sorted(set(PROPERTY_MODES) - set(self.modes))
            extra = sorted(set(self.modes) - set(PROPERTY_MODES))
            what = f"missing mode {missing[0]!r}" if missing else f"unknown mode {extra[0]!r}"
            raise ScenarioError(join(path, "modes"), f"{what} (modes are {', '.join(PROPERTY_MODES)})")
        if self.modes["none"].staff:
            raise ScenarioError(join(path, "modes.none.staff"), "must be 0: 'none' means no property manager")
        for name, m in self.modes.items():
            if name != "none" and m.compounds and not m.staff:
                raise ScenarioError(join(path, f"modes.{name}.staff"),
                                    "must be >= 1 where the mode manages compounds (use mode 'none' for none)")


@dataclass(frozen=True, kw_only=True)
class Alliances:
    count: int = spec(0, ge=0)
    meeting_interval_days: float = spec(14.0, gt=0)
    capacity_per_meeting: int = spec(1, ge=1)
    cost_yuan_per_year: float = spec(0.0, ge=0)


@dataclass(frozen=True, kw_only=True)
class Roles:
    building_leader: BuildingLeaders
    grid_leader: GridLeaders
    station_head: StationStaff
    police: StationStaff
    community_worker: CommunityStaff
    volunteer: Volunteers
    property_manager: PropertyManagers
    alliance: Alliances


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Relative demand by hour of day and by weekday (0 = Monday); scaled to mean 1."""
    hours: tuple[float, ...] = spec(ge=0)
    weekdays: tuple[float, ...] = spec(ge=0)

    def check(self, path: str) -> None:
        for name, want in (("hours", 24), ("weekdays", 7)):
            values = getattr(self, name)
            if len(values) != want:
                raise ScenarioError(join(path, name), f"must have {want} values, got {len(values)}")
            if sum(values) <= 0:
                raise ScenarioError(join(path, name), "must not be all zero")


@dataclass(frozen=True, kw_only=True)
class Service:
    """Time a handler spends on one request, in minutes, excluding walking."""
    mean_minutes: float = spec(gt=0)
    dist: Literal["exponential", "lognormal", "fixed"] = "lognormal"
    cv: float | None = spec(None, ge=0)

    def check(self, path: str) -> None:
        want = {"exponential": 1.0, "fixed": 0.0}.get(self.dist)
        if want is not None and self.cv is not None and self.cv != want:
            raise ScenarioError(join(path, "cv"), f"must be {want:g} (or left out) for dist {self.dist!r}")
        if self.dist == "lognormal" and self.cv is None:
            raise ScenarioError(join(path, "cv"), "missing (required for dist 'lognormal')")


@dataclass(frozen=True, kw_only=True)
class RequestType:
    rate_per_household_year: float = spec(ge=0)
    handlers: tuple[Role, ...] = ()
    service: Mapping[str, Service] = spec({})
    escalation: tuple[float, ...] = spec((), ge=0, le=1)
    origin: Literal["resident", "staff"] = "resident"
    profile: str = "flat"
    priority: int = spec(1, ge=0)
    sla_hours: float = spec(gt=0)
    report_delay_hours: float = spec(0.0, ge=0)
    patience_hours: float = spec(math.inf, gt=0)
    patience_dist: Literal["exponential", "fixed"] = "exponential"
    elderly_multiplier: float = spec(1.0, ge=0)
    size_elasticity: float = spec(0.0, ge=0)
    property_sensitive: bool = False

    def check(self, path: str) -> None:
        if not self.handlers:
            raise ScenarioError(join(path, "handlers"), "must name at least one role")
        if len(set(self.handlers)) != len(self.handlers):
            raise ScenarioError(join(path, "handlers"), "must not repeat a role")
        if "alliance" in self.handlers[:-1]:
            raise ScenarioError(join(path, "handlers"), "'alliance' can only be the last handler")
        if len(self.escalation) != len(self.handlers) - 1:
            raise ScenarioError(join(path, "escalation"),
                                f"must have {len(self.handlers) - 1} probabilities (one per handler "
                                f"that can pass the request on), got {len(self.escalation)}")
        for role in self.handlers:
            if role != "alliance" and role not in self.service:
                raise ScenarioError(join(path, f"service.{role}"), "missing (every handler needs a service time)")
        extra = sorted(set(self.service) - set(self.handlers))
        if extra:
            raise ScenarioError(join(path, f"service.{extra[0]}"), "is not one of this type's handlers")

    def reach(self) -> list[float]:
        """Probability that each stage is reached when every handler is staffed."""
        p, out = 1.0, []
        for k in range(len(self.handlers)):
            out.append(p)
            if k < len(self.escalation):
                p *= self.escalation[k]
        return out


@dataclass(frozen=True, kw_only=True)
class Costs:
    per_sub_district_yuan: float = spec(0.0, ge=0)
    per_community_yuan: float = spec(0.0, ge=0)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    city: City
    grids: Grids
    stations: Stations
    roles: Roles
    requests: Mapping[str, RequestType]
    profiles: Mapping[str, Profile] = spec({})
    costs: Costs = Costs()
    run: Run = Run()
    description: str = ""

    def check(self, path: str) -> None:
        if not self.requests:
            raise ScenarioError("requests", "must define at least one request type")
        for name, rt in self.requests.items():
            p = join("requests", name)
            if rt.profile != "flat" and rt.profile not in self.profiles:
                raise ScenarioError(join(p, "profile"),
                                    f"unknown profile {rt.profile!r} (defined: {', '.join(['flat', *self.profiles])})")
        modes = self.roles.property_manager.modes
        total = sum(m.compounds for m in modes.values())
        if total != self.city.compounds:
            raise ScenarioError("roles.property_manager.modes",
                                f"compounds per mode sum to {total}, but city.compounds is {self.city.compounds}")
        if self.stations.count > self.grid_count:
            raise ScenarioError("stations.count",
                                f"must be <= the number of grids ({self.grid_count}), got {self.stations.count}")
        for role, rho in offered_load(self).items():
            if rho >= 1:
                raise ScenarioError(f"roles.{role}",
                                    f"offered load is {rho:.2f} of capacity: the queue is unstable "
                                    f"(add staff, widen shifts or lower request rates)")

    @property
    def grid_count(self) -> int:
        return max(1, round(self.city.households / self.grids.households_per_grid))


def staff_counts(s: Scenario) -> dict[str, int]:
    """Head count by role implied by the scenario (before the city is drawn)."""
    r, c = s.roles, s.city
    grid_leaders = max(round(r.grid_leader.per_grid * s.grid_count),
                       r.grid_leader.min_per_station * s.stations.count)
    modes = r.property_manager.modes
    return {
        "building_leader": r.building_leader.per_building * c.buildings,
        "grid_leader": grid_leaders,
        "station_head": r.station_head.per_station * s.stations.count,
        "police": r.police.per_station * s.stations.count,
        "community_worker": r.community_worker.count,
        "volunteer": r.volunteer.count,
        "property_manager": sum(m.compounds * m.staff for m in modes.values()),
        "alliance": r.alliance.count,
    }


def offered_load(s: Scenario) -> dict[str, float]:
    """City-wide offered load / capacity by role: >= 1 means a queue grows without bound.

    Counts each stage's expected work (rate x reach x mean service) against the
    role's head count x hours on duty; walking time is left out, so this is a
    lower bound of the real load, used to reject hopeless scenarios early.
    """
    counts = staff_counts(s)
    work = {role: 0.0 for role in ROLES}
    bl_share = s.roles.building_leader.share_available
    for rt in s.requests.values():
        arrivals = rt.rate_per_household_year * s.city.households
        p = 1.0
        for k, role in enumerate(rt.handlers):
            if counts[role] == 0:
                continue
            take = bl_share if role == "building_leader" else 1.0
            minutes = 1.0 if role == "alliance" else rt.service[role].mean_minutes
            work[role] += arrivals * p * take * minutes
            passed_on = rt.escalation[k] if k < len(rt.escalation) else 0.0
            p = p * (1 - take) + p * take * passed_on
    load = {}
    for role in ROLES:
        if counts[role] == 0 or work[role] == 0:
            continue
        cfg = getattr(s.roles, role)
        if role == "alliance":
            capacity = counts[role] * cfg.capacity_per_meeting * 365 / cfg.meeting_interval_days
        else:
            share = getattr(cfg, "share_on_duty", 1.0)
            capacity = counts[role] * share * shift_hours_per_week(cfg.shifts) * 60 * 365 / 7
        load[role] = work[role] / capacity
    return load
