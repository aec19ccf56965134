"""``vrmed bench tissue --peers``: every peer row carries the analytic bar error (issue #16, item 6).

The peer engines (``vrmed[peers]``) are optional, so the row path is driven here by fake peers:
one that returns linear elasticity's exact answer (error 0) and one that is fast but half as
stiff as it should be (it must show a 50 % error), plus a failing one (the suite goes on).
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.benchmarks import _tissue_peers as P
from vrmed.benchmarks import tissue


def exact(scene: P.Scene, strain: float) -> np.ndarray:
    """Uniaxial linear elasticity at ``strain`` about the bar's centre."""
    c = scene.points.mean(axis=0)
    d = scene.points - c
    return c + d * [1.0 - scene.poisson_ratio * strain, 1.0 - scene.poisson_ratio * strain, 1.0 + strain]


def fake_runner(strain: float):
    def run(scene: P.Scene, frames: int) -> dict:
        x = exact(scene, strain) if scene.forces is not None else scene.points.copy()
        return P._result(scene, x, 0.01, 1.0, 0.0)

    return run


def broken(scene: P.Scene, frames: int) -> dict:
    raise RuntimeError("peer crashed")


def test_bar_scene_loads_both_ends_with_the_one_percent_traction() -> None:
    scene = P.bar_scene(tissue.FRAME, tissue.SUBSTEPS)
    assert scene.tets.shape[0] == 1920 and scene.pins.size == 0 and not scene.gravity.any()
    assert scene.forces is not None
    end = scene.points[:, 2] > 0.1 - 1e-12
    assert scene.forces[end, 2].sum() == pytest.approx(0.01 * 5.4e3 * 0.02 * 0.02)  # traction x area
    assert np.allclose(scene.forces.sum(axis=0), 0.0, atol=1e-15)  # balanced: no rigid drift
    assert P.bar_errors_of(scene, exact(scene, 0.01)) == {"axial_pct": 0.0, "nu_pct": 0.0}
    assert P.bar_errors_of(scene, exact(scene, 0.009))["axial_pct"] == pytest.approx(-10.0)
    assert P.bar_errors_of(scene, np.full_like(scene.points, np.nan)) == {"axial_pct": None, "nu_pct": None}


def test_peer_rows_report_speed_and_the_bar_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        P,
        "PEERS",
        [
            ("exact", "fake", fake_runner(0.01)),
            ("fast but soft", "fake", fake_runner(0.02)),
            ("broken", "fake", broken),
        ],
    )
    monkeypatch.setattr(P, "installed", lambda: {"fake": "1.0"})
    result = tissue.run({"quick": True, "peers": True})
    rows = {r["engine"]: r for r in result["rows"]}
    assert rows["vrmed (numba)"]["bar_error_pct"] < 5.0  # issue #16's target at the defaults
    assert rows["exact"]["bar_error_pct"] == 0.0 and rows["exact"]["ms_per_frame"] == 1.0
    assert rows["fast but soft"]["bar_error_pct"] == pytest.approx(100.0)  # twice the strain
    assert rows["fast but soft"]["bar_axial_pct"] == pytest.approx(100.0) and rows["fast but soft"]["bar_nu_pct"] == 0.0
    assert "error" in rows["broken"] and "bar_error_pct" not in rows["broken"]
    assert any("peer bar_error_pct" in n for n in result["notes"])


def test_a_blown_up_peer_gets_no_bar_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def unstable(scene: P.Scene, frames: int) -> dict:
        r = P._result(scene, scene.points.copy(), 0.01, 1.0, 0.0)  # MuJoCo resets a NaN state to rest
        r.update(stable=False, unstable_at_s=0.0111)
        return r

    out = tissue.peer_bar_errors(unstable)
    assert out["bar_error_pct"] is None and out["bar_axial_pct"] is None and "unstable at 0.0111 s" in out["bar_note"]


def test_bar_sweep_reports_each_substep_count_and_the_solver_drift(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def drifting(scene: P.Scene, frames: int) -> dict:  # right strain, but the whole bar moved 2 mm
        r = P._result(scene, exact(scene, 0.01) + [0.0, 0.002, 0.0], 0.01, 1.0, 0.0)
        r["iterations"] = scene.iterations  # as run_newton reports the iterations it used
        return r

    monkeypatch.setattr(P, "PEERS", [("exact", "fake", fake_runner(0.01)), ("drifting", "fake", drifting)])
    monkeypatch.setattr(P, "installed", lambda: {"fake": "1.0"})
    rows = P.bar_sweep([10, 30], frames=1)
    assert [(r["engine"], r["substeps"]) for r in rows] == [
        ("exact", 10),
        ("exact", 30),
        ("drifting", 10),
        ("drifting", 30),
    ]
    assert rows[0]["axial_pct"] == 0.0 and rows[0]["drift_mm"] == pytest.approx(0.0, abs=1e-9)
    assert rows[2]["axial_pct"] == 0.0 and rows[2]["drift_mm"] == pytest.approx(2.0)
    assert rows[0]["iterations"] == "-" and rows[2]["iterations"] == 1
    swept = P.bar_sweep([10], frames=1, engines="DRIFT", iterations=4)
    assert [r["engine"] for r in swept] == ["drifting"] and swept[0]["iterations"] == 4
    assert P.main(["--substeps", "10", "--frames", "1", "--engine", "exact"]) == 0
    assert "| exact | 10 | - | 0.005 | 1.0 | yes | +0.00 | +0.00 |" in capsys.readouterr().out
    for bad in (["--substeps", "ten"], ["--substeps", "0"], ["--iterations", "0"], ["--beta", "-1"]):
        with pytest.raises(SystemExit):
            P.main(bad)
