"""Benchmarks: measure speed and quality; run as ``python -m n2n.bench.<name>``, never in tests."""
