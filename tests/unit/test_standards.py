"""A city from a handful of numbers: the counts a scenario leaves out follow from its population and
the standards it states, so `--set city.population=N` alone is a consistent city."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridsim.city import build_city
from gridsim.model.requests import stream
from gridsim.scenario import ScenarioError, from_data, load, staff_counts, to_data, with_overrides

from ..conftest import SCENARIOS

SOURCE = {"city.area_km2": 50.0, "city.sub_districts": 5, "city.communities": 18, "city.buildings": 1080,
          "city.compounds": 420, "city.small_compounds": 65, "stations.count": 100,
          "roles.community_worker.count": 671, "roles.volunteer.count": 3500, "roles.two_new_org.count": 72,
          "roles.alliance.count": 21, "roles.hotline.operators": 2}


def value(scenario, dotted: str):
    node = scenario
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def test_meihekou_s_standards_make_the_counts_the_source_gives(meihekou):
    assert {path: value(meihekou, path) for path in SOURCE} == SOURCE
    modes = meihekou.roles.property_manager.modes
    assert {name: m.compounds for name, m in modes.items()} == {"market": 99, "state_owned": 256,
                                                                 "self_managed": 51, "none": 14}
    assert "buildings" not in to_data(meihekou)["city"]        # what follows is not written as stated


@settings(max_examples=60, deadline=None)
@given(population=st.integers(1, 50_000_000))
def test_any_population_alone_gives_a_city_built_to_the_standards(meihekou, population):
    s = with_overrides(meihekou, [f"city.population={population}"])
    c, tens = s.city, population / 1e4
    assert c.area_km2 == pytest.approx(population / 8000.0)
    assert c.buildings == max(1, round(c.households / 110.6))
    assert c.compounds == max(1, round(c.buildings / 2.57)) and c.small_compounds == round(0.155 * c.compounds)
    assert c.sub_districts <= c.communities <= c.compounds <= c.buildings <= c.households
    assert s.stations.count == min(s.grid_count, max(1, round(s.grid_count / 3.41)))
    assert sum(m.compounds for m in s.roles.property_manager.modes.values()) == c.compounds
    staff = staff_counts(s)
    for role, standard in (("community_worker", 16.775), ("volunteer", 87.5), ("two_new_org", 1.8),
                           ("alliance", 0.525), ("hotline", 0.05)):
        assert staff[role] == max(1, round(standard * tens)), role
    assert staff["grid_leader"] == s.grid_count and staff["building_leader"] == c.buildings


def test_a_changed_population_re_derives_and_a_stated_count_stays(meihekou):
    big = with_overrides(meihekou, ["city.population=1600000", "stations.count=150"])
    assert big.city.buildings == 4318 and big.grid_count == 1365 and big.stations.count == 150
    back = with_overrides(big, ["city.population=400000"])
    assert back.city.buildings == 1080 and back.roles.volunteer.count == 3500 and back.stations.count == 150


def test_the_drawn_city_has_the_counts_and_districts_partition_it(meihekou):
    s = with_overrides(meihekou, ["city.population=250000", "city.districts=2"])
    city = build_city(s, stream(0, "city"))
    assert (city.households, city.stations) == (s.city.households, s.stations.count)
    assert abs(city.grids - s.grid_count) <= s.city.communities     # (each community rounds its own grids)
    assert len(city.building_compound) == s.city.buildings and len(city.compound_mode) == s.city.compounds
    assert len(city.sub_district_district) == s.city.sub_districts
    assert sorted(set(city.sub_district_district.tolist())) == [0, 1]


def test_the_megacity_is_meihekou_s_standards_at_21_5_million():
    s = load(SCENARIOS / "megacity.toml")
    assert (s.city.population, s.city.districts) == (21_500_000, 16)
    assert (s.grid_count, s.stations.count, s.city.communities) == (18337, 5377, 977)


def test_a_count_left_out_with_its_standard_is_one_error_naming_both(meihekou):
    data = to_data(meihekou)
    del data["city"]["households_per_building"]
    with pytest.raises(ScenarioError) as err:
        from_data(data, "mine.toml")
    assert str(err.value) == "mine.toml: city.buildings: missing: state it or its standard households_per_building"
