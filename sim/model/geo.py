"""A map city in mesa-geo's terms: its communities, grids and stations as GeoAgents in a GeoSpace.

Mesa users who work with GIS know a model's places as mesa-geo GeoAgents in a
`model.space` GeoSpace, and its tools (spatial queries, `get_agents_as_GeoDataFrame`,
the map components) work on them. `geospace(model)` builds that space for a
model whose city is drawn on a map, on demand: the run itself never reads it
(requests move through units and queues, not through space), so a model
that nobody looks at as a map does not pay for it.

Where mesa-geo does not fit, gridsim does without it:
- households stay arrays (`model.city`): a city of 400,000 residents has about
  120,000 households, and as many GeoAgents with their shapely points would
  take seconds and hundreds of MB to build for nothing the model does with
  them;
- the maps are drawn with matplotlib from the agents' shapes (`gridsim.dash.viz`),
  not with mesa-geo's Leaflet component, which loads Leaflet and map tiles
  from the web: gridsim's maps draw offline.
"""

from __future__ import annotations

from mesa_geo import GeoAgent, GeoSpace


class Community(GeoAgent):
    """社区: a community's polygon, its name and households."""

    def __init__(self, model, geometry, crs, index: int, name: str, households: int):
        super().__init__(model, geometry, crs)
        self.index, self.name, self.households = index, name, households


class Grid(GeoAgent):
    """网格: a grid's polygon inside its community, its station and households."""

    def __init__(self, model, geometry, crs, index: int, community: int, station: int, households: int):
        super().__init__(model, geometry, crs)
        self.index, self.community, self.station, self.households = index, community, station, households


class Station(GeoAgent):
    """党群服务站: a service station's site, and the area its walking circle reaches."""

    def __init__(self, model, geometry, crs, index: int, name: str, community: int, walk_area):
        super().__init__(model, geometry, crs)
        self.index, self.name, self.community, self.walk_area = index, name, community, walk_area


def geospace(model) -> GeoSpace:
    """The model's GeoSpace (`model.space`, built on first use) of Community, Grid and Station agents
    in the city's CRS; ValueError on the synthetic square, which has no map."""
    if getattr(model, "space", None) is not None:
        return model.space
    import numpy as np
    import shapely
    city = model.city
    geo = city.geometry
    if geo is None:
        raise ValueError(f"{model.spec.name}: the synthetic square has no map (give the scenario a city.map)")
    community_households = np.bincount(city.hh_community, minlength=len(geo.communities))
    grid_households = np.bincount(city.hh_grid, minlength=city.grids)
    space = GeoSpace(crs=geo.crs, warn_crs_conversion=False)
    space.add_agents([Community(model, shape, geo.crs, k, str(geo.community_names[k]), int(community_households[k]))
                      for k, shape in enumerate(geo.communities)])
    space.add_agents([Grid(model, shape, geo.crs, k, int(city.grid_community[k]), int(city.grid_station[k]),
                           int(grid_households[k])) for k, shape in enumerate(geo.grids)])
    sites = shapely.points(city.station_x, city.station_y)
    space.add_agents([Station(model, site, geo.crs, k, str(geo.station_names[k]), int(city.station_community[k]),
                              geo.walk_areas[k]) for k, site in enumerate(sites)])
    model.space = space
    return space
