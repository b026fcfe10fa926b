"""The scenario schema: every input of the model, as frozen dataclasses.

A scenario is pure data. Numbers come from the TOML file; each class here
only says what may be written and which combinations make sense. Bounds are
in `spec(...)`; rules that tie fields together are in `check`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

import numpy as np

from .fields import ScenarioError, derived, join, spec
from .numbers import split_counts

ROLES = ("building_leader", "grid_leader", "station_head", "police",
         "community_worker", "volunteer", "property_manager", "alliance", "hotline", "police110",
         "two_new_org", "duty_leader")
Role = Literal["building_leader", "grid_leader", "station_head", "police",
               "community_worker", "volunteer", "property_manager", "alliance", "police110",
               "two_new_org"]
PROPERTY_MODES = ("market", "state_owned", "self_managed", "none")
WEEK_HOURS = 7 * 24
BIG = 1e9            # upper bound of magnitudes that would overflow or exhaust memory long before use


@dataclass(frozen=True, kw_only=True)
class Run:
    days: float = spec(365.0, gt=0, le=36500)
    warmup_days: float = spec(0.0, ge=0)
    refuse_overloaded: bool = False     # refuse to run when a unit's planned work exceeds its time on duty

    def check(self, path: str) -> None:
        if self.warmup_days >= self.days:
            raise ScenarioError(join(path, "warmup_days"),
                                f"must be less than days ({self.days:g}), got {self.warmup_days:g}")


def scaled(staff: float) -> int:
    """Posts a standard makes: none at a standard of none, else at least one."""
    return max(1, round(staff)) if staff else 0


def per(total: float, standard: float) -> int:
    """How many units a standard of `standard` per unit makes of `total`: at least one."""
    return max(1, round(total / standard))


def from_standard(path: str, standard: float | None, name: str, value: Callable[[float], Any]) -> Any:
    """A count left out, as its standard makes it (`value(standard)`); ScenarioError naming the count
    when the standard is left out too."""
    if standard is None:
        raise ScenarioError(path, f"missing: state it or its standard {name.rpartition('.')[2]}")
    return value(standard)


# What a communities file may say about each community (its column names, unless `columns` maps
# them to the file's own); a table of points gives x/y or lon/lat besides.
MAP_COLUMNS = ("name", "households", "population", "household_size", "elderly_share", "compounds",
               "buildings", "sub_district")
POINT_COLUMNS = ("x", "y", "lon", "lat")


@dataclass(frozen=True, kw_only=True)
class CityMap:
    """A planner's own city: the files it is drawn from (paths relative to the scenario file).

    `communities` holds one community a row: polygons (GeoPackage, GeoJSON, Shapefile) or a CSV of
    points (x/y in `crs`, or lon/lat), each with households or population and optionally the other
    MAP_COLUMNS; `columns` maps gridsim's names to the file's own (`{households = "HH_2020"}`).
    `stations`: station sites (points), else stations are placed by the rule of the synthetic city.
    `buildings`: footprints (or points) households are placed on, else uniformly in the polygon.
    `streets`: a local OpenStreetMap extract (.osm or .pbf) the walking distances follow, else
    straight lines times `walk_detour`. A layer of a file holding several is named as QGIS names
    it: `city.gpkg|layername=stations`. What the files say replaces the city's counts (population,
    communities, buildings ...); every number they do not give comes from the scenario."""
    communities: str
    columns: Mapping[str, str] = spec({})
    crs: str | None = None             # a CSV's x/y, or a file that declares no CRS
    stations: str | None = None
    buildings: str | None = None
    streets: str | None = None

    def check(self, path: str) -> None:
        for key in self.columns:
            if key not in MAP_COLUMNS + POINT_COLUMNS:
                raise ScenarioError(join(path, f"columns.{key}"),
                                    f"unknown column (gridsim reads {', '.join(MAP_COLUMNS + POINT_COLUMNS)})")
        if self.streets is not None and not self.streets.lower().endswith((".osm", ".pbf", ".osm.bz2")):
            raise ScenarioError(join(path, "streets"), "must be an OpenStreetMap extract (.osm, .osm.bz2 or .pbf)")


@dataclass(frozen=True, kw_only=True)
class City:
    """The city's structure follows from its population and the standards it states (residents per
    km², sub-district and community, households per building, buildings per compound); a count
    stated beside its standard is what this city has (the reference cases state few, so a changed
    population gives a consistent city)."""
    population: int = spec(ge=1, le=50_000_000)
    household_size: float = spec(ge=1, le=20)
    elderly_share: float = spec(ge=0, le=1)
    area_km2: float | None = spec(None, gt=0, le=1e5)
    residents_per_km2: float | None = spec(None, gt=0, le=1e6)
    districts: int = spec(1, ge=1, le=1000)
    sub_districts: int | None = spec(None, ge=1)
    residents_per_sub_district: float | None = spec(None, gt=0, le=50_000_000)
    communities: int | None = spec(None, ge=1)
    residents_per_community: float | None = spec(None, gt=0, le=50_000_000)
    buildings: int | None = spec(None, ge=1)
    households_per_building: float | None = spec(None, ge=1, le=1e6)
    compounds: int | None = spec(None, ge=1)
    buildings_per_compound: float | None = spec(None, ge=1, le=1e6)
    small_compounds: int | None = spec(None, ge=0)
    small_compound_share: float = spec(0.0, ge=0, le=1)
    walk_speed_m_per_min: float = spec(gt=0, le=1e4)
    walk_detour: float = spec(1.0, ge=1, le=10)
    walk_circle_minutes: float = spec(15.0, gt=0)
    map: CityMap | None = spec(None, omit_unset=True)   # None: the synthetic square of area_km2

    @property
    def households(self) -> int:
        return max(1, round(self.population / self.household_size))

    def derive(self, path: str) -> None:
        """Each count left out, from its standard, at least one of each: the area from the density,
        sub-districts and communities from residents, buildings from households, compounds from
        buildings, small compounds as a share of them."""
        for name, standard, value in (
                ("area_km2", "residents_per_km2", lambda d: self.population / d),
                ("sub_districts", "residents_per_sub_district", lambda r: per(self.population, r)),
                ("communities", "residents_per_community", lambda r: per(self.population, r)),
                ("buildings", "households_per_building", lambda r: per(self.households, r)),
                ("compounds", "buildings_per_compound", lambda r: per(self.buildings, r)),
                ("small_compounds", "small_compound_share", lambda share: round(share * self.compounds))):
            if getattr(self, name) is None:
                derived(self, **{name: from_standard(join(path, name), getattr(self, standard), standard, value)})

    def check(self, path: str) -> None:
        rules = [("districts", self.map is None or self.districts == 1, "1 for a city drawn on a map"),
                 ("sub_districts", self.sub_districts >= self.districts, f">= districts ({self.districts})"),
                 ("communities", self.communities >= self.sub_districts, f">= sub_districts ({self.sub_districts})"),
                 ("communities", self.communities <= self.compounds, f"<= compounds ({self.compounds}): "
                                                                     "every community needs a compound"),
                 ("compounds", self.compounds <= self.buildings, f"<= buildings ({self.buildings})"),
                 ("small_compounds", self.small_compounds <= self.compounds, f"<= compounds ({self.compounds})"),
                 ("buildings", self.buildings <= self.households, f"<= households ({self.households})")]
        for name, ok, what in rules:
            if not ok:
                raise ScenarioError(join(path, name), f"must be {what}, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class Grids:
    households_per_grid: int = spec(ge=1)


@dataclass(frozen=True, kw_only=True)
class Stations:
    count: int | None = spec(None, ge=0)                         # left out: grids / grids_per_station
    grids_per_station: float | None = spec(None, ge=1, le=1e6)
    running_cost_yuan: float = spec(0.0, ge=0, le=BIG)


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


def week_quarters(shifts: tuple[Shift, ...]) -> list[bool]:
    """On duty or not, for each quarter hour of the week from Monday 00:00."""
    on = [False] * (WEEK_HOURS * 4)
    for s in shifts:
        for d in s.days:
            for q in range(round(s.start_hour * 4), round(s.end_hour * 4)):
                on[d * 96 + q] = True
    return on


def shift_hours_per_week(shifts: tuple[Shift, ...]) -> float:
    """Hours on duty per week; overlapping windows count once."""
    return sum(week_quarters(shifts)) / 4


@dataclass(frozen=True, kw_only=True)
class Costs:
    """What money the model counts, and how hours turn into pay.

    A post's pay is `salary_yuan x paid hours / full_time_hours_per_week`,
    where each hour on duty counts 1 plus the premiums that apply to it
    (they add: a Sunday night hour counts 1 + night + weekend). Work after a
    shift has ended is overtime, each hour paid 1 + `overtime_premium` hours.
    """
    per_sub_district_yuan: float = spec(0.0, ge=0, le=BIG)
    per_community_yuan: float = spec(0.0, ge=0, le=BIG)
    full_time_hours_per_week: float = spec(40.0, gt=0, le=WEEK_HOURS)
    evening_premium: float = spec(0.0, ge=0, le=10)      # hours 18:00-22:00
    night_premium: float = spec(0.0, ge=0, le=10)        # hours 22:00-06:00
    weekend_premium: float = spec(0.0, ge=0, le=10)      # Saturday and Sunday
    overtime_premium: float = spec(0.5, ge=0, le=10)     # on an hour worked after the shift ended

    def paid_hours_per_week(self, shifts: tuple[Shift, ...]) -> float:
        """Hours on duty per week, each weighted by 1 + the premiums for its time."""
        total = 0.0
        for q, on in enumerate(week_quarters(shifts)):
            if not on:
                continue
            day, hour = divmod(q / 4, 24)
            weight = 1.0 + (self.weekend_premium if day >= 5 else 0.0)
            if 18 <= hour < 22:
                weight += self.evening_premium
            elif hour >= 22 or hour < 6:
                weight += self.night_premium
            total += weight / 4
        return total

    def full_time_equivalents(self, shifts: tuple[Shift, ...]) -> float:
        """People needed to staff one post on these shifts (24/7 at 40 h a week: 4.2)."""
        return shift_hours_per_week(shifts) / self.full_time_hours_per_week


@dataclass(frozen=True, kw_only=True)
class Vacancy:
    """From `from_day` to `to_day` a share of the role's places is vacant (a cut, or posts unfilled)."""
    from_day: float = spec(ge=0, le=36500)
    to_day: float = spec(ge=0, le=36500)
    share: float = spec(gt=0, le=1)

    def check(self, path: str) -> None:
        if self.to_day <= self.from_day:
            raise ScenarioError(join(path, "to_day"), f"must be after from_day ({self.from_day:g}), got {self.to_day:g}")


@dataclass(frozen=True, kw_only=True)
class Staff:
    """What every staffed role shares: when it works, whether it walks, its pay per full-time person,
    and when some of its places are vacant."""
    shifts: tuple[Shift, ...] = ALWAYS
    travel: bool = False
    salary_yuan: float = spec(0.0, ge=0, le=BIG)
    vacancies: tuple[Vacancy, ...] = ()

    def check(self, path: str) -> None:
        if not self.shifts:
            raise ScenarioError(join(path, "shifts"), "must list at least one shift (none means never on duty)")
        spans = sorted((v.from_day, v.to_day) for v in self.vacancies)
        if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
            raise ScenarioError(join(path, "vacancies"), "periods must not overlap")


@dataclass(frozen=True, kw_only=True)
class GridLeaders(Staff):
    """专职网格长. Each grid has its own leader(s); `cover` says when colleagues at the same
    station step in: never ("own"), always (one "station" queue), or once a resident's
    request has waited `cover_after_minutes` ("after")."""
    per_grid: float = spec(1.0, ge=0, le=100)
    min_per_station: int = spec(0, ge=0, le=1000)
    cover: Literal["own", "station", "after"] = "own"
    cover_after_minutes: float = spec(120.0, gt=0)


@dataclass(frozen=True, kw_only=True)
class StationStaff(Staff):
    per_station: int = spec(1, ge=0, le=1000)


@dataclass(frozen=True, kw_only=True)
class BuildingLeaders(Staff):
    per_building: int = spec(1, ge=0, le=1000)
    subsidy_yuan: float = spec(0.0, ge=0, le=BIG)
    availability: tuple[tuple[float, ...], ...] = ((0.0, 1.0),)
    report_delay_factor: float = spec(1.0, ge=0, le=1)

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
    count: int | None = spec(None, ge=0, le=10_000_000)         # left out: from per_10k_residents
    per_10k_residents: float = spec(0.0, ge=0, le=1e5)
    request_share: float = spec(1.0, gt=0, le=1)

    @property
    def share_on_duty(self) -> float:
        """Share of the head count working on residents' requests during the shift."""
        return self.request_share


@dataclass(frozen=True, kw_only=True)
class Volunteers(Staff):
    count: int | None = spec(None, ge=0, le=10_000_000)         # left out: from per_10k_residents
    per_10k_residents: float = spec(0.0, ge=0, le=1e5)
    hours_per_week: float = spec(0.0, ge=0, le=WEEK_HOURS)
    coordination_yuan_per_volunteer: float = spec(0.0, ge=0, le=BIG)

    @property
    def share_on_duty(self) -> float:
        """Share of volunteers on duty at once while their window is open."""
        return min(1.0, self.hours_per_week / shift_hours_per_week(self.shifts))


@dataclass(frozen=True, kw_only=True)
class TwoNewOrgs(Staff):
    """两新组织: private firms and social organisations that take up residents' micro-wishes
    (微心愿); split over the communities like volunteers, each giving `hours_per_week`."""
    count: int | None = spec(None, ge=0, le=10_000_000)         # left out: from per_10k_residents
    per_10k_residents: float = spec(0.0, ge=0, le=1e5)
    hours_per_week: float = spec(0.0, ge=0, le=WEEK_HOURS)

    @property
    def share_on_duty(self) -> float:
        """Share of the organisations at work on wishes at once while their window is open."""
        return min(1.0, self.hours_per_week / shift_hours_per_week(self.shifts))


@dataclass(frozen=True, kw_only=True)
class PropertyMode:
    compounds: int | None = spec(None, ge=0)     # left out: its share of the compounds no mode states
    share: float = spec(0.0, ge=0, le=1)
    staff: int = spec(0, ge=0, le=1000)
    service_factor: float = spec(1.0, gt=0, le=100)
    rate_multiplier: float = spec(1.0, ge=0, le=100)
    cost_yuan_per_compound: float = spec(0.0, ge=0, le=BIG)


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
            if name != "none" and (m.compounds or m.share) and not m.staff:
                raise ScenarioError(join(path, f"modes.{name}.staff"),
                                    "must be >= 1 where the mode manages compounds (use mode 'none' for none)")


@dataclass(frozen=True, kw_only=True)
class Alliances:
    count: int | None = spec(None, ge=0, le=10_000)             # left out: from per_10k_residents
    per_10k_residents: float = spec(0.0, ge=0, le=1e3)
    meeting_interval_days: float = spec(14.0, ge=1, le=3650)
    capacity_per_meeting: int = spec(1, ge=1, le=1_000_000)
    cost_yuan_per_year: float = spec(0.0, ge=0, le=BIG)


@dataclass(frozen=True, kw_only=True)
class Service:
    """Time a handler spends on one request, in minutes, excluding walking."""
    mean_minutes: float = spec(gt=0, le=1e6)
    dist: Literal["exponential", "lognormal", "fixed"] = "lognormal"
    cv: float | None = spec(None, ge=0, le=100)

    def check(self, path: str) -> None:
        want = {"exponential": 1.0, "fixed": 0.0}.get(self.dist)
        if want is not None and self.cv is not None and self.cv != want:
            raise ScenarioError(join(path, "cv"), f"must be {want:g} (or left out) for dist {self.dist!r}")
        if self.dist == "lognormal" and self.cv is None:
            raise ScenarioError(join(path, "cv"), "missing (required for dist 'lognormal')")


@dataclass(frozen=True, kw_only=True)
class Hotline(Staff):
    """12345热线: the city hotline, answering round the clock. It takes a resident's call when
    the grid is closed and hands the request to the grid for its next working period."""
    operators: int | None = spec(None, ge=0, le=100_000)    # on duty at once, for this city's share of calls
    operators_per_10k_residents: float = spec(0.0, ge=0, le=1e3)   # (left out: operators from this)
    call: Service = Service(mean_minutes=6.0, dist="exponential")
    cost_yuan_per_call: float = spec(0.0, ge=0, le=BIG)


@dataclass(frozen=True, kw_only=True)
class Police110(Staff):
    """派出所/110: the police stations' patrols, round the clock, by car."""
    patrols_per_sub_district: int = spec(0, ge=0, le=10_000)   # on duty at once
    response_minutes: float = spec(10.0, ge=0, le=1440)        # driving, each way
    cost_yuan_per_dispatch: float = spec(0.0, ge=0, le=BIG)


@dataclass(frozen=True, kw_only=True)
class DutyLeaders(Staff):
    """值班: a grid leader on duty for the whole station outside office hours, its grid leaders taking
    it in turn. At the desk (`where = "desk"`) they take messages and walk-ins as they come; on call
    (`"phone"`) they answer messages from home, `response_minutes` later. They stand in for the
    household's grid leader (and, at the desk, the station head) wherever a stage would otherwise wait
    for office hours (never for a routine home visit: knowing one's own households is the point); a
    stage's `wait_hours` is how long a request may wait for its own grid leader instead; what they
    have not started when their shift ends goes to whoever comes on duty first. They travel (and are
    occupied) as the role they stand in for. Pay: the desk's hours are the station's grid leaders' overtime (`paid_as = "overtime"`),
    or hires on a rota paid like any post (`"hire"`); on call, each hour earns `on_call_allowance` of
    an hour's pay and the time worked is overtime."""
    per_station: int = spec(0, ge=0, le=1000)
    where: Literal["desk", "phone"] = "desk"
    paid_as: Literal["overtime", "hire"] = "overtime"
    on_call_allowance: float = spec(0.25, ge=0, le=10)
    response_minutes: float = spec(20.0, ge=0, le=1440)

    def check(self, path: str) -> None:
        super().check(path)
        if self.where == "phone" and self.paid_as == "hire":
            raise ScenarioError(join(path, "paid_as"), "must be 'overtime' on call (where = 'phone'): "
                                                       "an on-call grid leader is paid an allowance and overtime")

    def stands_in_for(self) -> tuple[str, ...]:
        """The roles whose work the duty leader takes while they are off duty."""
        if not self.per_station:
            return ()
        return ("grid_leader", "station_head") if self.where == "desk" else ("grid_leader",)


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
    hotline: Hotline = Hotline()
    police110: Police110 = Police110()
    two_new_org: TwoNewOrgs = TwoNewOrgs()
    duty_leader: DutyLeaders = DutyLeaders()


@dataclass(frozen=True, kw_only=True)
class Channels:
    """How a resident who comes forward reaches someone: a nested logit (utilities, 0 = reference).

    Lower level, the way into the grid system (where available to the household):
    walk into the station, message the grid leader, or tell the building leader.
    Upper level: the grid (its utility is `nest` x the log-sum of the lower level),
    the city's 12345 hotline, or staying silent. Trust (0-1) enters the upper level:
    12345's utility gains `distrust_hotline` x (1 - trust), silence's gains
    `distrust_silent` x log(1 - trust), so at full trust nobody stays silent.
    """
    walk_in: float = spec(0.0, ge=-50, le=50)
    message: float = spec(0.0, ge=-50, le=50)
    building_leader: float = spec(0.0, ge=-50, le=50)
    walk_per_minute: float = spec(0.0, ge=-10, le=0)            # per minute's walk to the station
    walk_per_closed_hour: float = spec(0.0, ge=-10, le=0)       # per hour until the station opens
    elderly_walk_in: float = spec(0.0, ge=-50, le=50)           # extra for households with an elderly member
    elderly_message: float = spec(0.0, ge=-50, le=50)
    nest: float = spec(1.0, gt=0, le=1)                         # the log-sum's scale (1: a plain logit)
    hotline: float = spec(0.0, ge=-50, le=50)
    silent: float | None = spec(None, ge=-50, le=50)            # None: nobody stays silent
    closed_hotline: float = spec(0.0, ge=0, le=50)              # the grid's handler off duty longer than expected
    distrust_hotline: float = spec(0.0, ge=0, le=50)
    distrust_silent: float = spec(1.0, gt=0, le=50)        # the elasticity of silence to distrust


@dataclass(frozen=True, kw_only=True)
class Reception:
    """Who a resident reaches first, by the way they come, and how long that person takes to read the
    problem and settle it or pass it on (triage: asking back, a call, a form handed on): a message
    reaches the household's grid leader, a walk-in the station head. Where that person is also the
    type's first handler, the triage is part of their service. A role left out receives nothing: its
    way leads straight to the type's first handler, the hand-over costing nobody any time."""
    grid_leader: Service | None = None
    station_head: Service | None = None

    def triage(self, role: str) -> Service | None:
        return getattr(self, role, None)


@dataclass(frozen=True, kw_only=True)
class Residents:
    """How residents report, what they remember, and whether they come back."""
    channels: Channels = Channels()
    reception: Reception = Reception()
    initial_trust: float = spec(1.0, ge=0, le=1)
    learning_rate: float = spec(0.0, ge=0, le=1)         # weight of each new experience in trust
    late_experience: float = spec(0.5, ge=0, le=1)       # a late resolution, between abandoned (0) and on time (1)
    patience_trust_floor: float = spec(1.0, ge=0, le=1)  # patience x (floor + (1 - floor) x trust)
    repeat_share: float = spec(0.0, ge=0, le=1)          # of abandoned requests whose residents come back
    repeat_delay_hours: float = spec(48.0, gt=0, le=24 * 365)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Relative demand by hour of day and by weekday (0 = Monday); scaled to mean 1."""
    hours: tuple[float, ...] = spec(ge=0, le=BIG)
    weekdays: tuple[float, ...] = spec(ge=0, le=BIG)

    def check(self, path: str) -> None:
        for name, want in (("hours", 24), ("weekdays", 7)):
            values = getattr(self, name)
            if len(values) != want:
                raise ScenarioError(join(path, name), f"must have {want} values, got {len(values)}")
            if sum(values) <= 0:
                raise ScenarioError(join(path, name), "must not be all zero")


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One step of a request's journey: who may take it, and whether it goes on afterwards.

    The handler is chosen when the request reaches the stage: the first role
    in `roles` (in order) that is on duty now or comes on duty within
    `wait_hours`; failing that, the one that comes on duty soonest.
    `wait_hours` is how long residents of this stage are expected to wait for
    someone to come on duty: at the first stage, only a resident facing a
    longer wait calls 12345. After the handler is done, the request goes on to
    the next stage with probability `pass_on`.
    """
    roles: tuple[Role, ...] = spec(())
    wait_hours: float = spec(0.0, ge=0, le=24 * 365)
    pass_on: float = spec(0.0, ge=0, le=1)

    def check(self, path: str) -> None:
        if not self.roles:
            raise ScenarioError(join(path, "roles"), "must name at least one role")
        if len(set(self.roles)) != len(self.roles):
            raise ScenarioError(join(path, "roles"), "must not repeat a role")
        for solo in ("building_leader", "alliance"):
            if solo in self.roles and len(self.roles) > 1:
                raise ScenarioError(join(path, "roles"), f"{solo!r} must be the only role of its stage")


@dataclass(frozen=True, kw_only=True)
class RequestType:
    rate_per_household_year: float = spec(ge=0, le=10_000)
    stages: tuple[Stage, ...] = ()
    service: Mapping[str, Service] = spec({})
    origin: Literal["resident", "staff"] = "resident"
    schedule: Literal["poisson", "regular"] = "poisson"
    home_visit: bool = False
    visit_finds: Literal["nothing", "household", "building"] = "nothing"
    visit_building_share: float = spec(0.0, ge=0, le=1)
    profile: str = "flat"
    priority: int = spec(1, ge=0, le=1000)
    sla_hours: float | None = spec(None, gt=0)
    wait_target_minutes: float | None = spec(None, gt=0)   # first contact within this long of reporting:
                                                            # the KPI wait_within_target_share
    report_delay_hours: float = spec(0.0, ge=0, le=24 * 365)
    patience_hours: float | None = spec(None, gt=0)
    patience_dist: Literal["exponential", "fixed"] = "exponential"
    elderly_multiplier: float = spec(1.0, ge=0, le=1000)
    size_elasticity: float = spec(0.0, ge=0, le=10)
    property_sensitive: bool = False
    hotline_bias: float = spec(0.0, ge=-50, le=50)       # added to the 12345 utility for this type
    emergency: bool = False                              # residents go straight to the first handler (the
                                                         # police): nobody receives it first
    reception_settles: float = spec(0.0, ge=0, le=1)     # share the receiving grid leader or station head
                                                         # settles at triage instead of passing it on
    silent_bias: float = spec(0.0, ge=-50, le=50)        # added to the silence utility for this type

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(role for stage in self.stages for role in stage.roles)

    def check(self, path: str) -> None:
        if not self.stages:
            raise ScenarioError(join(path, "stages"), "must list at least one stage")
        roles = self.roles
        repeated = sorted({r for r in roles if roles.count(r) > 1})
        if repeated:
            raise ScenarioError(join(path, "stages"), f"role {repeated[0]!r} appears in two stages")
        for k, stage in enumerate(self.stages[:-1]):
            if "alliance" in stage.roles:
                raise ScenarioError(join(path, f"stages[{k}].roles"), "'alliance' can only be in the last stage")
        if self.stages[-1].pass_on:
            raise ScenarioError(join(path, f"stages[{len(self.stages) - 1}].pass_on"),
                                "must be 0: the last stage has nobody to pass the request on to")
        for role in roles:
            if role != "alliance" and role not in self.service:
                raise ScenarioError(join(path, f"service.{role}"), "missing (every handler needs a service time)")
        extra = sorted(set(self.service) - set(roles))
        if extra:
            raise ScenarioError(join(path, f"service.{extra[0]}"), "is not one of this type's handlers")
        if self.schedule == "regular":
            if self.origin != "staff":
                raise ScenarioError(join(path, "schedule"), "'regular' is for staff work (origin = \"staff\")")
            for name in ("sla_hours", "patience_hours"):
                if getattr(self, name) is not None:
                    raise ScenarioError(join(path, name), "leave it out: a regular task is due within its "
                                                          "interval and dropped when the next one falls due")
        elif self.sla_hours is None:
            raise ScenarioError(join(path, "sla_hours"), "missing (required)")
        if self.home_visit and (self.origin != "staff" or roles != ("grid_leader",)):
            raise ScenarioError(join(path, "home_visit"),
                                "must be a staff type (origin = \"staff\") handled by grid_leader alone")
        if self.visit_finds != "nothing" and self.origin != "resident":
            raise ScenarioError(join(path, "visit_finds"), "only residents' problems can be found on a visit")
        for name in ("emergency", "reception_settles"):
            if getattr(self, name) and self.origin != "resident":
                raise ScenarioError(join(path, name), "only residents' requests are received by anyone")
        if self.emergency and self.reception_settles:
            raise ScenarioError(join(path, "reception_settles"),
                                "must be 0 for an emergency: nobody receives it before its first handler")

    def reach(self) -> list[float]:
        """Probability that each stage is reached when every handler is staffed."""
        p, out = 1.0, []
        for stage in self.stages:
            out.append(p)
            p *= stage.pass_on
        return out


@dataclass(frozen=True, kw_only=True)
class Uncertain:
    """An input no data constrains (a calibration left it free over this range): a field, or with
    `scale` a factor on several fields. Answers on the scenario are checked across the range."""
    low: float = spec(ge=-1e300, le=1e300)
    high: float = spec(ge=-1e300, le=1e300)
    log: bool = False
    integer: bool = False
    scale: tuple[str, ...] = ()
    why: str = ""

    def check(self, path: str) -> None:
        if self.high <= self.low:
            raise ScenarioError(join(path, "high"), f"must be > low ({self.low:g}), got {self.high:g}")
        if self.log and self.low <= 0:
            raise ScenarioError(join(path, "low"), f"must be > 0 on a log scale, got {self.low:g}")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    city: City
    grids: Grids
    stations: Stations
    roles: Roles
    requests: Mapping[str, RequestType]
    profiles: Mapping[str, Profile] = spec({})
    residents: Residents = Residents()
    costs: Costs = Costs()
    run: Run = Run()
    description: str = ""
    uncertain: Mapping[str, Uncertain] = spec({})   # inputs no data constrains, by name

    def derive(self, path: str) -> None:
        """Counts left out, from the standards: stations from the grids, staff that serve residents
        from their number, and each property mode's compounds from its share of those no mode states."""
        if self.stations.count is None:
            count = from_standard("stations.count", self.stations.grids_per_station, "grids_per_station",
                                  lambda g: min(self.grid_count, per(self.grid_count, g)))
            object.__setattr__(self, "stations", derived(self.stations, count=count))
        r, tens = self.roles, self.city.population / 1e4
        roles = {role: derived(getattr(r, role), count=scaled(getattr(r, role).per_10k_residents * tens))
                 for role in ("community_worker", "volunteer", "two_new_org", "alliance")
                 if getattr(r, role).count is None}
        if r.hotline.operators is None:
            roles["hotline"] = derived(r.hotline, operators=scaled(r.hotline.operators_per_10k_residents * tens))
        modes = r.property_manager.modes
        shared = [name for name in PROPERTY_MODES if modes[name].compounds is None]
        if shared:
            left = self.city.compounds - sum(m.compounds for m in modes.values() if m.compounds is not None)
            shares = np.array([modes[name].share for name in shared])
            if left > 0 and not shares.sum():
                raise ScenarioError("roles.property_manager.modes", f"{left} compounds have no mode: state the "
                                                                    f"modes' compounds or give one a share")
            counts = split_counts(max(left, 0), shares) if shares.sum() else np.zeros(len(shared), dtype=int)
            roles["property_manager"] = replace(r.property_manager, modes=MappingProxyType(
                {**modes, **{name: derived(modes[name], compounds=int(k)) for name, k in zip(shared, counts)}}))
        object.__setattr__(self, "roles", replace(r, **roles))

    def check(self, path: str) -> None:
        if not self.requests:
            raise ScenarioError("requests", "must define at least one request type")
        for name, rt in self.requests.items():
            p = join("requests", name)
            if rt.profile != "flat" and rt.profile not in self.profiles:
                raise ScenarioError(join(p, "profile"),
                                    f"unknown profile {rt.profile!r} (defined: {', '.join(['flat', *self.profiles])})")
        visits = [name for name, rt in self.requests.items() if rt.home_visit]
        if len(visits) > 1:
            raise ScenarioError("requests", "at most one type can be the routine home visit (home_visit = true)")
        if visits:
            others = max((rt.priority for name, rt in self.requests.items() if name != visits[0]), default=-1)
            if self.requests[visits[0]].priority <= others:
                raise ScenarioError(f"requests.{visits[0]}.priority",
                                    f"must be greater than every other type's ({others}): routine home visits come "
                                    f"after everything else, got {self.requests[visits[0]].priority}")
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
    """Posts by role implied by the scenario (before the city is drawn); for the hotline and
    110, the places on duty at once."""
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
        "hotline": r.hotline.operators,
        "police110": r.police110.patrols_per_sub_district * c.sub_districts,
        "two_new_org": r.two_new_org.count,
        "duty_leader": r.duty_leader.per_station * s.stations.count,
    }


def offered_load(s: Scenario) -> dict[str, float]:
    """City-wide load that can never be shed / capacity, by role: >= 1 means a queue grows
    without bound.

    Work that expires is left out: regular tasks are dropped when the next one
    falls due, and a resident whose request nobody has started gives up after
    their patience, so a first stage with finite patience cannot grow for ever.
    What is counted is every later stage, and first stages of types whose
    residents never give up (rate x elderly weight x reach x mean service), for
    the stages a role is the only one of, against its head count x hours on
    duty. Walking time and stages of several roles are left out too, so this is
    a lower bound used to reject hopeless scenarios early; the model checks
    every unit's planned load, with travel and duty hours, before it runs.
    """
    counts = staff_counts(s)
    work = {role: 0.0 for role in ROLES}
    bl_share = s.roles.building_leader.share_available
    for rt in s.requests.values():
        if rt.schedule == "regular":
            continue
        weight = 1 + s.city.elderly_share * (rt.elderly_multiplier - 1)      # mean over households
        arrivals = rt.rate_per_household_year * weight * s.city.households
        reached, unvisited = 1.0, 1.0      # shares of requests reaching the stage, and not yet seen by anyone
        for stage in rt.stages:
            staffed = [role for role in stage.roles if counts[role] > 0]
            if not staffed:
                continue
            role = staffed[0]
            take = bl_share if role == "building_leader" else 1.0
            if len(staffed) == 1:
                minutes = 1.0 if role == "alliance" else rt.service[role].mean_minutes
                certain = reached - (unvisited if rt.patience_hours is not None else 0.0)
                work[role] += arrivals * certain * take * minutes
            unvisited *= 1 - take
            reached = reached * (1 - take) + reached * take * stage.pass_on
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
