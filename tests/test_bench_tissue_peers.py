"""The ``--peers`` path of the tissue benchmark in quick mode; skips unless a peer is installed
(``pip install vrmed[peers]``: newton/warp-lang, mujoco)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from vrmed.benchmarks import tissue

PEER_MODULES = ("newton", "mujoco")


def _any_peer() -> None:
    if not any(importlib.util.find_spec(m) is not None for m in PEER_MODULES):
        pytest.skip("no peer engine installed (pip install vrmed[peers])")
    for m in PEER_MODULES:  # an installed but broken peer should skip, not fail
        if importlib.util.find_spec(m) is not None:
            pytest.importorskip(m)


def test_quick_peer_rows_have_finite_ms_and_a_ratio() -> None:
    _any_peer()
    result = tissue.run({"quick": True, "peers": True})
    rows = result["rows"]
    assert rows[0]["engine"] == "vrmed (numba)" and rows[0]["ratio_vs_vrmed"] == 1.0
    peers = [r for r in rows if r["engine"] != "vrmed (numba)"]
    assert peers, "a peer is installed but produced no row"
    for row in peers:
        assert "error" not in row, row
        assert row["case"] == "box 1k" and row["tets"] == 1080 and row["substeps"] == 10
        assert math.isfinite(row["ms_per_frame"]) and row["ms_per_frame"] > 0
        assert row["ratio_vs_vrmed"] == pytest.approx(row["ms_per_frame"] / rows[0]["ms_per_frame"], rel=0.02, abs=0.01)
        assert row["finite"] and row["stable"]  # soft 1k box, 6 frames: every peer is stable here
        # speed never comes without accuracy: a bar error, or the reason there is none
        assert "bar_error_pct" in row and (row["bar_error_pct"] is not None or row["bar_note"]), row
    assert any("compared in the rows" in n for n in result["notes"])


def test_peer_scene_is_the_same_mesh_rewound_positive() -> None:
    import numpy as np

    from vrmed.benchmarks import _tissue_peers as P
    from vrmed.mesh import box_tets

    mesh = box_tets((0.2, 0.2, 0.2), (2, 2, 2))
    flipped = mesh.tets.copy()
    flipped[0, [1, 2]] = flipped[0, [2, 1]]
    scene = P.make_scene(mesh.points, flipped, [0, 1], tissue.MATERIAL, tissue.GRAVITY, tissue.FRAME, tissue.SUBSTEPS)
    p = scene.points[scene.tets]
    det = np.linalg.det(np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2))
    assert np.all(det > 0)
    assert np.array_equal(np.sort(scene.tets, axis=1), np.sort(mesh.tets, axis=1))
    assert scene.lumped_mass().sum() == pytest.approx(1000.0 * 0.2**3)
