"""Bundled data of gridsim (a package only so that importlib.resources finds it; see gridsim.data)."""
