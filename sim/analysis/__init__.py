"""Analysis layer: reads stored results; comparisons, intervals, queueing checks."""
