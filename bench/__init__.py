"""Benchmark scripts (make bench, make mutate); not part of the package."""
