"""Benchmarks (``python -m benchmarks.<name>``): each measures and prints, none asserts on time."""
