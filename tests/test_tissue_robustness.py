"""Robustness of the tissue solver on the repository's meshes at liver-like stiffness (issue #16, item 2).

Meshes scaled to 0.2 m, E 5.4 kPa, nu 0.45, 1060 kg/m^3 (liver-like), default 10 substeps per
1/90 s frame: from a crushed start (every tet nearly flat, some inverted) and from an inverted
start (the body mirrored: every tet inverted) the body must stay finite and come back to its rest
shape with no inverted tet left. What is not yet met on sliver-heavy meshes is in docs/physics.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.benchmarks import mesh_path
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import TetMesh, box_tets, load_tet_mesh
from vrmed.systems.tissue.solver import step_softbody, volume_ratios

FRAME, SUBSTEPS = 1.0 / 90.0, 10
LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.001)
SIZE = 0.2  # m, largest extent


def kabsch_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Largest vertex distance between a and b after the best rigid alignment of a onto b."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(ac.T @ bc)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.abs(ac @ r - bc).max())


def scaled(mesh: TetMesh) -> TetMesh:
    mesh.points = (mesh.points - mesh.points.mean(axis=0)) * (SIZE / np.ptp(mesh.points, axis=0).max())
    return mesh


@pytest.fixture(scope="module", params=["liver.msh", "box"])
def mesh(request) -> TetMesh:
    if request.param == "box":
        return scaled(box_tets((0.2, 0.1, 0.1), (8, 4, 4)))
    return scaled(load_tet_mesh(mesh_path(request.param)))


@pytest.mark.parametrize("start", ["crushed", "inverted"])
def test_recovers_from_a_crushed_or_inverted_start(mesh: TetMesh, start: str, request) -> None:
    if start == "inverted" and "liver" in request.node.name:
        # the mirrored liver settles in a tangled state (all J > 0 but 0.09..1.6, not the rest
        # shape), with plain XPBD as with the warm start: issue #16 item 2, open (docs/physics.md)
        pytest.xfail("a mirrored liver does not untangle to its rest shape yet")
    # 5 /s air-drag-like damping so it comes to rest within 4 s (beta = 1 ms alone leaves the
    # slowest modes, ~1 s period, nearly undamped); it changes no equilibrium
    body = SoftBody.from_mesh(mesh, LIVER, velocity_damping=5.0)
    if start == "crushed":
        body.x[:, 1] *= 0.05  # 5 % of its height
        body.x += np.random.default_rng(0).normal(0.0, 1e-3, body.x.shape)
    else:
        body.x[:, 0] *= -1.0  # mirrored: every tet inverted
    body.x_prev[:] = body.x
    assert np.any(volume_ratios(body) < 0) if start == "inverted" else np.median(volume_ratios(body)) < 0.2
    for _ in range(360):  # 4 s
        step_softbody(body, FRAME, SUBSTEPS, (0.0, 0.0, 0.0))
        assert np.all(np.isfinite(body.x))
    assert np.all(volume_ratios(body) > 0), "no inverted tet may survive at rest"
    assert np.abs(body.v).max() < 0.01  # m/s: at rest
    assert kabsch_residual(body.x, body.rest_points) < 0.01 * SIZE
