"""gridsim: an event-driven agent-based simulation of community grid service load."""

__version__ = "0.1.0"
