"""The city a run draws: kept for the next run of the same seed only when nothing it depends on changed."""

import numpy as np
import pytest

from gridsim.city import build_city, city_inputs
from gridsim.model.model import drawn_city
from gridsim.model.requests import stream
from gridsim.scenario import load, resolve_scenario, with_overrides


class Recorder:
    """A scenario that notes every path read through it (`city.area_km2`, `roles.x.modes[market]`)."""

    def __init__(self, value, path: str, seen: set):
        self._value, self._path, self._seen = value, path, seen

    def _wrap(self, value, path):
        self._seen.add(path)
        if isinstance(value, (int, float, str, bool, type(None), tuple, np.ndarray)):
            return value
        return Recorder(value, path, self._seen)

    def __getattr__(self, name):
        return self._wrap(getattr(self._value, name), f"{self._path}.{name}".lstrip("."))

    def __getitem__(self, key):
        return self._wrap(self._value[key], f"{self._path}[{key}]")


@pytest.mark.parametrize("name", ["meihekou_2020", "meihekou_2018", "mmc"])
def test_the_city_is_drawn_from_what_city_inputs_names_alone(name):
    scenario = load(resolve_scenario(name))
    seen: set = set()
    build_city(Recorder(scenario, "", seen), stream(0, "city"))
    named = ("city", "grids.households_per_grid", "stations.count", "roles.property_manager.modes")
    assert any(p.startswith("city.") for p in seen) and "stations.count" in seen
    outside = {p for p in seen if not any(p.startswith(n) or n.startswith(p) for n in named)}
    assert not outside
    modes = {p for p in seen if p.startswith("roles.property_manager.modes[") and "]." in p}
    assert {p.split("].")[1] for p in modes} == {"compounds"}      # of the modes, their counts alone


def test_a_kept_city_is_the_one_drawn_afresh_and_no_run_can_change_it(meihekou):
    seed = 11
    kept = drawn_city(meihekou, seed)
    assert drawn_city(meihekou, seed) is kept
    again = build_city(meihekou, stream(seed, "city"))
    assert all(np.array_equal(getattr(kept, f), getattr(again, f)) for f in vars(again)
               if isinstance(getattr(again, f), np.ndarray))
    with pytest.raises(ValueError):
        kept.hh_grid[0] = 1
    slower = with_overrides(meihekou, ["requests.errand.rate_per_household_year=2.0", "residents.patience_trust_floor=0.5"])
    assert city_inputs(slower) == city_inputs(meihekou) and drawn_city(slower, seed) is kept
    bigger = with_overrides(meihekou, ["grids.households_per_grid=500"])
    assert drawn_city(bigger, seed) is not kept
