"""Shared fixtures: the bundled scenarios, and one short Meihekou run reused by many tests."""

from pathlib import Path

import pytest

from gridsim.model.run import simulate
from gridsim.scenario import load

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def meihekou():
    return load(SCENARIOS / "meihekou_2020.toml")


@pytest.fixture(scope="session")
def mmc():
    return load(SCENARIOS / "validation" / "mmc.toml")


@pytest.fixture(scope="session")
def week_run(meihekou):
    """Meihekou 2020, 14 days, seed 1: the full city, short enough for the default suite."""
    return simulate(meihekou, seed=1, days=14)
