"""gridsim: an event-driven agent-based simulation of community grid service load.

The Python API (see docs/API.md), importable from here:

    load_scenario, simulate, experiment, sweep, load_results, compare, judge, optimise, GridModel

`GridModel` is a `mesa.Model`: `GridModel(scenario, rng=1).step()` advances one day.
They are imported on first use, so `import gridsim` (and the command line) stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = ("load_scenario", "simulate", "experiment", "sweep", "load_results", "compare", "judge", "optimise",
        "SweepError", "SweepResult", "ScenarioError", "StoreError", "CompareError", "TooLarge")
__all__ = [*_API, "GridModel", "__version__"]

if TYPE_CHECKING:
    from .api import (CompareError, ScenarioError, StoreError, SweepError, SweepResult, TooLarge, compare,  # noqa: F401
                      experiment, judge, load_results, load_scenario, optimise, simulate, sweep)  # noqa: F401
    from .model import GridModel  # noqa: F401


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "GridModel":
        from .model import GridModel
        return GridModel
    raise AttributeError(f"module 'gridsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
