"""Benchmark suites run by ``vrmed bench`` (installed as ``vrmed.benchmarks``).

A suite is a module here exposing ``run(options: dict) -> dict`` with keys ``suite``,
``rows`` (a list of flat dicts) and ``notes``; ``options`` carries ``quick`` and ``peers``.
"""
