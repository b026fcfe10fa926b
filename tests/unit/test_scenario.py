"""Loading, overriding, hashing and rejecting scenarios."""

import pytest

from gridsim.scenario import ScenarioError, load, scenario_hash, with_overrides

from ..conftest import SCENARIOS


def test_bundled_scenarios_load(meihekou, mmc):
    old = load(SCENARIOS / "meihekou_2018.toml")
    assert meihekou.grid_count == 341 and old.grid_count == 162
    assert old.stations.count == 0 and old.roles.building_leader.per_building == 0
    assert mmc.requests["errand"].handlers == ("station_head",)


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
    ("requests.errand.escalation=[0.5]", "requests.errand.escalation: must have 2 probabilities"),
    ("requests.errand.escalation=[0.5, 1.5]", "requests.errand.escalation[1]: must be <= 1"),
    ("roles.property_manager.modes.none.compounds=15", "compounds per mode sum to 421"),
    ("requests.dispute.profile='nope'", "requests.dispute.profile: unknown profile"),
    ("requests.visit.rate_per_household_year=40", "roles.grid_leader: offered load"),
    ("requests.care.handlers=['volunteer', 'mayor']", "requests.care.handlers[1]: must be one of"),
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
