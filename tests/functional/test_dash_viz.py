"""The Mesa SolaraViz page (gridsim.dash.viz): Mesa's own page over a GridModel, stepped to its horizon."""

import pytest

pytest.importorskip("solara", reason="the page needs the viz extra: pip install -e '.[viz]'")
pytest.importorskip("altair", reason="Mesa's visualization needs the viz extra: pip install -e '.[viz]'")


def test_the_page_renders_and_steps_to_the_horizon(mmc):
    import solara
    from mesa.visualization import SolaraViz, make_plot_component

    from gridsim.dash import viz
    from gridsim.model import GridModel

    assert viz.page is not None and set(viz.MODEL_PARAMS) <= {"scenario", "days", "rng"}
    model = GridModel(mmc, rng=1, days=12)
    solara.render(SolaraViz(model, components=[viz.GridMap, make_plot_component(viz.BACKLOG)],
                            model_params=viz.MODEL_PARAMS), handle_error=False)
    before = viz.grid_map(model)
    while model.running:
        model.step()
    census = model.datacollector.get_model_vars_dataframe()
    assert set(viz.BACKLOG) <= set(census.columns) and len(census) == 14
    after = viz.grid_map(model)
    assert "day 0 of 12" in before.axes[0].get_title() and "day 12 of 12" in after.axes[0].get_title()
    assert viz.grid_backlog(model).shape == (model.city.grids,)
