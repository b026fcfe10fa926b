"""The model layer: agents, the event calendar, dispatch and metrics."""

from .model import GridModel

__all__ = ["GridModel"]
