"""One GridModel in Mesa's SolaraViz: the city's grids and the backlog as the model steps.

Built from Mesa's own parts (SolaraViz with its play, step and reset controls,
`make_plot_component` over the model's DataCollector, the update counter), for
Mesa users who watch a single run day by day:

    solara run gridsim.dash.viz          (the [viz] extra)

`gridsim dash` is the planner's page (options side by side with a baseline);
this one steps one model. Each step is a simulated day; play stops by itself
at the horizon (`running` turns False). A city drawn on a map is shown from
its mesa-geo GeoSpace (`gridsim.model.geo`): its grid agents' polygons on the
community agents' outlines, drawn with matplotlib so the page works offline.
"""

from __future__ import annotations

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

from ..model import GridModel
from ..scenario import bundled_names, citymap

BACKLOG = {"waiting": "tab:red", "in_service": "tab:blue", "unreported": "tab:grey"}   # census columns


def grid_backlog(model: GridModel) -> np.ndarray:
    """Per grid: visits waiting now for that grid's leaders (their queue and routine list)."""
    u, mine = model.world.unit, model.units_of("grid_leader")
    waiting = (u.queued[mine.start:mine.stop] - u.stale[mine.start:mine.stop]
               + u.routine[mine.start:mine.stop]).astype(float)
    unit = np.zeros(model.city.grids, dtype=np.int64)
    unit[model.city.hh_grid] = model.layout["grid_leader"].hh_unit
    return waiting[unit] if len(waiting) else np.zeros(model.city.grids)


def grid_map(model: GridModel) -> Figure:
    """The city's grids at their households' centre, sized by households, coloured by `grid_backlog`
    (on a map: the grids' own polygons, `geo_map`)."""
    city = model.city
    if city.geometry is not None:
        return geo_map(model)
    households = np.bincount(city.hh_grid, minlength=city.grids)
    x = np.bincount(city.hh_grid, weights=city.hh_x, minlength=city.grids) / np.maximum(households, 1)
    y = np.bincount(city.hh_grid, weights=city.hh_y, minlength=city.grids) / np.maximum(households, 1)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    dots = ax.scatter(x / 1000, y / 1000, c=grid_backlog(model), s=8 + households / 15, cmap="viridis",
                      vmin=0, linewidths=0)
    fig.colorbar(dots, ax=ax, shrink=0.85).set_label("visits waiting for the grid's leaders")
    ax.set_aspect("equal")
    ax.set_xlabel("km")
    ax.set_ylabel("km")
    ax.set_title(f"{model.spec.name}: {city.grids} grids, day {model.now / 1440:g} of {model.days:g}", fontsize=10)
    return fig


def geo_map(model: GridModel) -> Figure:
    """A map city's GeoSpace: grid agents coloured by `grid_backlog`, community outlines, stations."""
    from ..model.geo import Community, Grid, Station, geospace
    space = geospace(model)
    grids = space.get_agents_as_GeoDataFrame(Grid)
    grids["backlog"] = grid_backlog(model)[grids["index"].to_numpy()]
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    grids.plot(column="backlog", ax=ax, cmap="viridis", vmin=0, edgecolor="white", linewidth=0.3, legend=True,
               legend_kwds={"label": "visits waiting for the grid's leaders", "shrink": 0.85})
    space.get_agents_as_GeoDataFrame(Community).boundary.plot(ax=ax, color="black", linewidth=0.8)
    space.get_agents_as_GeoDataFrame(Station).plot(ax=ax, marker="^", color="white", edgecolor="black",
                                                   markersize=18)
    ax.set_axis_off()
    ax.set_title(f"{model.spec.name}: {model.city.grids} grids, day {model.now / 1440:g} of {model.days:g}",
                 fontsize=10)
    return fig


@solara.component
def GridMap(model: GridModel):
    update_counter.get()                     # drawn again after every step
    solara.FigureMatplotlib(grid_map(model), format="png")


MODEL_PARAMS = {
    "scenario": {"type": "Select", "value": "meihekou_2020", "values": bundled_names(maps=citymap.readable()),
                 "label": "Scenario"},
    "days": {"type": "SliderInt", "value": 28, "min": 7, "max": 365, "step": 7, "label": "Days"},
    "rng": {"type": "SliderInt", "value": 0, "min": 0, "max": 99, "step": 1, "label": "Seed"},
}

page = SolaraViz(
    GridModel("meihekou_2020", rng=0, days=28),
    components=[GridMap, make_plot_component(BACKLOG)],
    model_params=MODEL_PARAMS,
    name="gridsim: one city, day by day",
)
