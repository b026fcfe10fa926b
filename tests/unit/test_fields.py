"""The field parser bounds every number, and the one TOML writer writes what reads back."""

import math
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridsim.scenario import ScenarioError, from_data, parse_assignment, to_data
from gridsim.scenario.fields import convert, show, toml_comment, toml_key, toml_value

from ..conftest import SCENARIOS

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)      # any text a TOML file can hold
FLOATS = st.floats(allow_nan=False)
PLAIN = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | FLOATS | TEXT,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                     max_leaves=12).filter(lambda v: v is not None)


def no_none(v) -> bool:
    if isinstance(v, list):
        return all(x is not None and no_none(x) for x in v)
    if isinstance(v, dict):
        return all(x is not None and no_none(x) for x in v.values())
    return True


@given(PLAIN.filter(no_none))
def test_toml_value_reads_back_to_the_same_data(value):
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@given(TEXT, TEXT)
def test_keys_and_comments_stay_one_key_and_one_line(key, text):
    data = tomllib.loads(f"{toml_key(key)} = 1\n{toml_comment(text)}\n")
    assert data == {key: 1}


def test_a_whole_scenario_with_quotes_backslashes_and_line_breaks_reads_back():
    data = tomllib.loads((SCENARIOS / "meihekou_2020.toml").read_text()) | {"name": "m", "description": 'a "b" \\ c\nd\te\x7f'}
    s = from_data(data)
    assert from_data(tomllib.loads(f"s = {toml_value(to_data(s))}")["s"]) == s


@pytest.mark.parametrize("value, expected", [
    (10**19, "must be an integer of 64 bits"),
    (-2**63 - 1, "must be an integer of 64 bits"),
    (10**400, "must be an integer of 64 bits (at most 9,223,372,036,854,775,807), got an integer of 401 digits"),
])
def test_integers_must_fit_in_64_bits(value, expected):
    with pytest.raises(ScenarioError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        convert(int, value, "city.population")


def test_numbers_too_large_for_a_float_field_and_texts_that_are_not_utf8_are_one_line_errors():
    with pytest.raises(ScenarioError, match="must be a number below 1e300, got an integer of 400 digits"):
        convert(float, 10**399, "city.area_km2")
    with pytest.raises(ScenarioError, match="bytes that are not UTF-8"):
        convert(str, "a\udcffb", "description")


def test_an_integer_literal_over_python_s_digit_limit_is_an_error_naming_the_argument():
    with pytest.raises(ScenarioError) as err:
        parse_assignment("city.population=" + "9" * 5000)
    text = str(err.value)
    assert "\n" not in text and len(text) < 400 and "a number too long to read" in text


@given(st.one_of(st.integers(), TEXT, st.lists(st.integers())))
def test_errors_show_a_value_on_one_short_line(value):
    shown = show(value)
    assert "\n" not in shown and len(shown) <= 60


def test_nan_is_never_a_number():
    with pytest.raises(ScenarioError, match="got nan"):
        convert(float, math.nan, "city.area_km2")
