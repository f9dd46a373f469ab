"""Benchmarks against the tools users would otherwise pick: ``make bench`` (``python -m benchmarks.run``).

Each benchmark checks that both sides give the same results before it compares
their speed, and reports ratios measured in one run: these machines are shared
and noisy, so absolute times mean little. Not tests: ``make test`` does not run
them (``tests/test_benchmarks.py`` runs their comparison code at toy sizes).
"""
