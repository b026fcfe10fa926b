"""Loading, overriding, hashing and rejecting scenarios."""

from contextlib import nullcontext

import pytest

from gridsim.scenario import ScenarioError, load, scenario_hash, with_overrides

from ..conftest import SCENARIOS


def test_bundled_scenarios_load(meihekou, mmc):
    old = load(SCENARIOS / "meihekou_2018.toml")
    assert meihekou.grid_count == 341 and old.grid_count == 162
    assert old.stations.count == 0 and old.roles.building_leader.per_building == 0
    assert mmc.requests["errand"].roles == ("station_head",)


def test_the_pages_offer_map_scenarios_only_where_maps_can_be_read():
    """Without the [geo] extra a dashboard's list leaves out the map scenarios it could not load."""
    from gridsim.scenario import bundled_names, citymap
    assert "example_district" in bundled_names() and "meihekou_2020" in bundled_names(maps=False)
    assert "example_district" not in bundled_names(maps=False)
    with pytest.raises(ScenarioError, match=r"needs the \[geo\] extra") if not citymap.readable() else nullcontext():
        load(SCENARIOS / "maps" / "example_district.toml")


def test_hash_is_stable_and_content_based(meihekou):
    again = load(SCENARIOS / "meihekou_2020.toml")
    assert scenario_hash(again) == scenario_hash(meihekou)
    changed = with_overrides(meihekou, ["grids.households_per_grid=500"])
    assert scenario_hash(changed) != scenario_hash(meihekou)


def test_overrides_are_typed_like_the_file(meihekou):
    s = with_overrides(meihekou, ["grids.households_per_grid=500", "requests.errand.sla_hours=48",
                                  "roles.police.per_station=0"])
    assert s.grids.households_per_grid == 500 and s.requests["errand"].sla_hours == 48.0
    assert s.roles.police.per_station == 0


BAD_SETS = [
    ("city.bogus=1", "city.bogus: unknown key"),
    ("city.population=abc", "city.population: must be an integer"),
    ("roles.volunteer.count=-5", "roles.volunteer.count: must be >= 0"),
    ("requests.errand.stages=[{roles=['station_head'], pass_on=1.5}]", "requests.errand.stages[0].pass_on: must be <= 1"),
    ("requests.errand.stages=[{roles=['station_head'], pass_on=0.5}]",
     "requests.errand.stages[0].pass_on: must be 0: the last stage"),
    ("requests.errand.stages=[]", "requests.errand.stages: must list at least one stage"),
    ("requests.errand.stages=[{roles=[]}]", "requests.errand.stages[0].roles: must name at least one role"),
    ("requests.errand.stages=[{roles=['station_head', 'building_leader']}]",
     "'building_leader' must be the only role of its stage"),
    ("requests.care.stages=[{roles=['volunteer']}, {roles=['volunteer']}]", "role 'volunteer' appears in two stages"),
    ("requests.care.stages=[{roles=['volunteer'], wait_hours=-1}]", "requests.care.stages[0].wait_hours: must be >= 0"),
    ("requests.care.stages=[{roles=['hotline']}]", "requests.care.stages[0].roles[0]: must be one of"),
    ("requests.errand.visit_finds='street'", "requests.errand.visit_finds: must be one of"),
    ("requests.visit.visit_finds='household'", "requests.visit.visit_finds: only residents' problems"),
    ("requests.errand.schedule='regular'", "requests.errand.schedule: 'regular' is for staff work"),
    ("requests.errand.home_visit=true", "requests.errand.home_visit: must be a staff type"),
    ("roles.grid_leader.cover='sometimes'", "roles.grid_leader.cover: must be one of"),
    ("roles.grid_leader.cover_after_minutes=0", "roles.grid_leader.cover_after_minutes: must be > 0"),
    ("roles.hotline.operators=-1", "roles.hotline.operators: must be >= 0"),
    ("residents.initial_trust=1.5", "residents.initial_trust: must be <= 1"),
    ("residents.learning_rate=-0.1", "residents.learning_rate: must be >= 0"),
    ("residents.repeat_delay_hours=0", "residents.repeat_delay_hours: must be > 0"),
    ("residents.channels.nest=0", "residents.channels.nest: must be > 0"),
    ("residents.channels.walk_per_minute=0.5", "residents.channels.walk_per_minute: must be <= 0"),
    ("residents.channels.silent='never'", "residents.channels.silent: must be a number"),
    ("requests.care.silent_bias=99", "requests.care.silent_bias: must be <= 50"),
    ("roles.grid_leader.vacancies=[{from_day=30, to_day=20, share=0.2}]",
     "roles.grid_leader.vacancies[0].to_day: must be after from_day"),
    ("roles.grid_leader.vacancies=[{from_day=30, to_day=60, share=0}]", "roles.grid_leader.vacancies[0].share: must be > 0"),
    ("roles.grid_leader.vacancies=[{from_day=30, to_day=60, share=0.2}, {from_day=50, to_day=70, share=0.1}]",
     "roles.grid_leader.vacancies: periods must not overlap"),
    ("requests.visit.priority=2", "requests.visit.priority: must be greater than every other type's"),
    ("roles.hotline.call={mean_minutes=0}", "roles.hotline.call.mean_minutes: must be > 0"),
    ("roles.police110.response_minutes=-3", "roles.police110.response_minutes: must be >= 0"),
    ("residents.repeat_share=1.2", "residents.repeat_share: must be <= 1"),
    ("costs.night_premium=-0.1", "costs.night_premium: must be >= 0"),
    ("costs.full_time_hours_per_week=0", "costs.full_time_hours_per_week: must be > 0"),
    ("roles.volunteer.coordination_yuan_per_volunteer='lots'",
     "roles.volunteer.coordination_yuan_per_volunteer: must be a number"),
    ("roles.police.shifts=[]", "roles.police.shifts: must list at least one shift"),
    ("roles.alliance.meeting_interval_days=0.001", "roles.alliance.meeting_interval_days: must be >= 1"),
    ("city.communities=500", "city.communities: must be <= compounds (420)"),
    ("requests.errand.rate_per_household_year=1e300", "requests.errand.rate_per_household_year: must be <= 10000"),
    ("run.refuse_overloaded='yes'", "run.refuse_overloaded: must be true or false"),
    ("roles.property_manager.modes.none.compounds=500", "compounds per mode sum to 500, but city.compounds is 420"),
    ("roles.property_manager.modes={market={share=0}, state_owned={share=0}, self_managed={share=0}, none={share=0}}",
     "roles.property_manager.modes: 420 compounds have no mode"),
    ("city.population=0", "city.population: must be >= 1"),
    ("city.households_per_building=0.5", "city.households_per_building: must be >= 1"),
    ("city.residents_per_km2=0", "city.residents_per_km2: must be > 0"),
    ("city.small_compound_share=1.5", "city.small_compound_share: must be <= 1"),
    ("city.districts=6", "city.sub_districts: must be >= districts (6), got 5"),
    ("stations.grids_per_station=0", "stations.grids_per_station: must be >= 1"),
    ("roles.volunteer.per_10k_residents=-1", "roles.volunteer.per_10k_residents: must be >= 0"),
    ("roles.hotline.operators_per_10k_residents='two'", "roles.hotline.operators_per_10k_residents: must be a number"),
    ("requests.dispute.profile='nope'", "requests.dispute.profile: unknown profile"),
    ("requests.hard.rate_per_household_year=5", "roles.grid_leader: offered load"),
    ("requests.care.stages=[{roles=['volunteer', 'mayor']}]", "requests.care.stages[0].roles[1]: must be one of"),
    ("run.warmup_days=400", "run.warmup_days: must be less than days"),
]


@pytest.mark.parametrize("assignment, expected", BAD_SETS)
def test_bad_values_name_the_field(meihekou, assignment, expected):
    with pytest.raises(ScenarioError) as err:
        with_overrides(meihekou, [assignment])
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"--set {assignment}") and expected in text


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "missing.toml"\n')
    with pytest.raises(ScenarioError, match="bad.toml: extends: no such file missing.toml"):
        load(bad)
    bad.write_text("[city\n")
    with pytest.raises(ScenarioError, match="bad.toml: TOML syntax error"):
        load(bad)
    with pytest.raises(ScenarioError, match="nowhere.toml: no such file"):
        load(tmp_path / "nowhere.toml")
