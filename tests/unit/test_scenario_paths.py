"""Dotted paths with list items: `requests.wish.stages[0].pass_on` in --set, inputs and designs."""

import numpy as np
import pytest

from gridsim.scenario import ScenarioError, get_path, to_data, with_overrides


def test_list_items_can_be_set_by_index(meihekou):
    s = with_overrides(meihekou, [("requests.wish.stages[0].pass_on", 0.35)])
    assert s.requests["wish"].stages[0].pass_on == 0.35 and meihekou.requests["wish"].stages[0].pass_on == 0.2
    assert get_path(to_data(s), "requests.wish.stages[1].roles") == ["two_new_org"]
    for bad, text in (("requests.wish.stages[9].pass_on", "has no item [9]"),
                      ("requests.wish.stages[0]x.pass_on", "bad [index]"),
                      ("requests.wish.stages[0].pass_on", "must be <= 1")):
        with pytest.raises(ScenarioError, match=r"^--set requests\.wish\.stages") as err:
            with_overrides(meihekou, [f"{bad}={1.5 if 'must' in text else 0.3}"])
        assert text in str(err.value)
    with pytest.raises(ScenarioError, match="no such field"):
        get_path(to_data(meihekou), "requests.wish.stages[5]")
    assert np.isclose(get_path(to_data(meihekou), "requests.hard.rate_per_household_year"), 0.0075)
