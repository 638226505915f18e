"""Eval suites, datasets, metrics and runners."""
