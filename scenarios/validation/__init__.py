"""Bundled data of gridsim (see gridsim.data)."""
