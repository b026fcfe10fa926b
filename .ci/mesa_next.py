"""What of gridsim works on Mesa's next major line (4.0 pre-releases): one line per promise.

Run by .ci/run in a Python 3.12 venv where `pip install --pre mesa` has replaced
the pinned 3.x. Known gaps (what Mesa 4.0 removes on purpose) are reported and
do not fail; anything else that breaks exits 1, naming it.
"""

from __future__ import annotations

import sys
import traceback

import mesa

from gridsim.model import GridModel
from gridsim.model.run import simulate
from gridsim.scenario import load, resolve_scenario

KNOWN_GAPS = {"mesa.batch_run": "removed in Mesa 4.0 (deprecated in 3.5): use gridsim.sweep"}


def model(days: float = 12) -> GridModel:
    return GridModel("mmc", rng=1, days=days)


def construction_collects() -> None:
    census = model().datacollector.get_model_vars_dataframe()
    assert len(census) == 1 and census["time"].iloc[0] == 0


def steps_stop_at_the_horizon() -> None:
    m, steps = model(), 0
    while m.running:
        m.step()
        steps += 1
    assert steps == 12 and m.now == m.horizon and m.result is not None


def time_centric_api() -> None:
    m = model()
    m.run_for(2)
    assert m.time == 2 and m.now == 2 * 1440
    m.run_until(12)
    assert not m.running and m.datacollector.get_model_vars_dataframe()["requests.created"].iloc[-1] > 0


def batch_run() -> None:
    rows = mesa.batch_run(GridModel, {"scenario": "mmc", "days": 12}, rng=[1], display_progress=False)
    assert rows[-1]["requests.created"] > 0


def simulate_matches_stepping() -> None:
    m = model()
    m.run_until(12)
    assert m.result.summary == simulate(load(resolve_scenario("mmc")), seed=1, days=12).summary


def solara_viz_page() -> None:
    import solara
    from mesa.visualization import SolaraViz, make_plot_component

    from gridsim.dash import viz
    solara.render(SolaraViz(model(), components=[viz.GridMap, make_plot_component(viz.BACKLOG)],
                            model_params=viz.MODEL_PARAMS), handle_error=False)


CHECKS = {"GridModel collects at construction": construction_collects,
          "step() to the horizon, running False": steps_stop_at_the_horizon,
          "model.time, run_for, run_until": time_centric_api,
          "mesa.batch_run": batch_run,
          "gridsim.simulate equals stepping": simulate_matches_stepping,
          "SolaraViz page (gridsim.dash.viz)": solara_viz_page}


def main() -> int:
    print(f"== gridsim on Mesa {mesa.__version__}, Python {sys.version.split()[0]}")
    broken = []
    for name, check in CHECKS.items():
        try:
            check()
            print(f"  works          {name}")
        except Exception as err:  # noqa: BLE001 - each promise reported on its own line
            why = f"{type(err).__name__}: {err}".splitlines()[0][:160]
            if name in KNOWN_GAPS:
                print(f"  known gap      {name}: {KNOWN_GAPS[name]} ({why})")
            else:
                print(f"  DOES NOT WORK  {name}: {why}")
                traceback.print_exc(limit=3)
                broken.append(name)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
