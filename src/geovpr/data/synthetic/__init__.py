"""A procedural, geotagged city rendered with numpy (the embedded default dataset).

* :func:`generate_city` writes a GSV-Cities-style training root and an
  ``@``-folder evaluation set (held-out district, different appearance).
* :func:`plan_city` + :func:`render_views` render any camera set in memory.
"""
from .city import SyntheticCity, generate_city, render_to_files
from .conditions import CONDITIONS, Condition
from .layout import SIZES, CityPlan, CitySize, plan_city
from .render import Views, render_views
from .world import StreetGrid, make_street_grid

__all__ = [
    "CONDITIONS", "SIZES", "CityPlan", "CitySize", "Condition", "StreetGrid", "SyntheticCity", "Views",
    "generate_city", "make_street_grid", "plan_city", "render_to_files", "render_views",
]
