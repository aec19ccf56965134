"""Smoke test of the tissue benchmark suite in quick mode (tiny, a few frames)."""

from __future__ import annotations

import math

import pytest

from vrmed.benchmarks import tissue


def test_quick_tissue_bench_reports_sane_rows() -> None:
    result = tissue.run({"quick": True, "peers": False})  # the peer path: test_bench_tissue_peers.py
    assert result["suite"] == "tissue"
    row = result["rows"][0]
    assert row["tets"] == 1080 and row["substeps"] == 10
    assert row["finite"]
    assert 0 < row["ms_per_frame"] < 1000 and math.isfinite(row["ms_per_frame"])
    assert row["steps_per_s"] == pytest.approx(10 * 1e3 / row["ms_per_frame"], rel=1e-2)
    assert row["ratio_vs_numpy"] > 0
    assert not any(r.get("engine", "vrmed") != "vrmed" for r in result["rows"])  # no peer rows unless asked
