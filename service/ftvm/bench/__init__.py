"""Benchmarks of the placement engines (`ftvm bench placement`)."""
