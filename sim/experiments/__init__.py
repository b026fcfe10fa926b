"""Experiments: sweep specs, sampling designs, seeding, executors and the results store."""
