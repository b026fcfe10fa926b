"""gridsim: an event-driven agent-based simulation of community grid service load.

    import gridsim
    result = gridsim.simulate("meihekou_2020", days=28)   # result.kpis, .requests, .save(folder)
    done = gridsim.sweep(gridsim.experiment("E3"), "results", days=14, replicates=3)
    done.kpis, gridsim.compare(done), done.save("report")

Functions: load_scenario, simulate, experiment, sweep, load_results, compare,
judge, optimise, report (each documented below; docs/API.md walks through them).
Results: RunResult, SweepResult, OptimiseResult. Errors: ScenarioError,
SweepError, StoreError, CompareError, TooLarge. The Mesa model: GridModel
(`GridModel(scenario, rng=1).step()` simulates one day). All are imported on
first use, so `import gridsim` (and the command line) stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

FUNCTIONS = ("load_scenario", "simulate", "experiment", "sweep", "load_results", "compare", "judge", "optimise",
             "report")
_API = (*FUNCTIONS, "RunResult", "SweepResult", "OptimiseResult", "SweepError", "ScenarioError", "StoreError",
        "CompareError", "TooLarge")
# `help(gridsim)` documents what __all__ names: the functions, so it stays a page long (the classes
# have their own help: help(gridsim.RunResult))
__all__ = [*FUNCTIONS, "__version__"]

if TYPE_CHECKING:
    from .api import (CompareError, OptimiseResult, RunResult, ScenarioError, StoreError,  # noqa: F401
                      SweepError, SweepResult, TooLarge, compare, experiment, judge, load_results,  # noqa: F401
                      load_scenario, optimise, report, simulate, sweep)  # noqa: F401
    from .model import GridModel  # noqa: F401


def __getattr__(name: str) -> object:
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "GridModel":
        from .model import GridModel
        return GridModel
    raise AttributeError(f"module 'gridsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | {"GridModel"})
