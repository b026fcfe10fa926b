"""Bundled scenarios drawn on a map (the [geo] extra): the example district (a package only so that importlib.resources finds it)."""
