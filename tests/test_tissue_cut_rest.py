"""A cut body at rest should stay at rest (issue #16, item 5; docs/physics.md, "Cutting that
splits", "A cut body at rest").

A 40 mm cube of 6^3 cells at liver stiffness (no gravity, no pins, no load) cut through off its
grid keeps thin sub-tets (the x = 21.3 mm plane cuts every x edge at 0.195 of its length) whose
stiffness ratio at the default 10 substeps per 1/90 s is up to 2.2; the solver softens them to
exactly ``SLIVER_RATIO`` = 0.5, the stability edge of the light cut vertices they hold: the
body's velocity grows from round-off (1e-15 m/s) to 0.2-0.31 m/s within 30 frames and stays
there. Open: a lower target for those tets rests every cut tried but flips three chaotic
scenario tests, so it is not merged."""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue.cutting import body_pieces, cut_body
from vrmed.systems.tissue.solver import step_softbody, total_volume, volume_ratios

TISSUE = Material(5.4e3, 0.45, 1060.0)
L = 0.04
NO_GRAVITY = np.zeros(3)


def cut_cube(x_cut: float) -> SoftBody:
    """The cube cut through by the plane x = ``x_cut`` (m), at rest."""
    body = SoftBody.from_mesh(box_tets((L, L, L), (6, 6, 6)), TISSUE)
    c = np.array([x_cut, L / 2, L / 2])
    cut = cut_body(body, c - [0.0, 0.0, 0.1], c + [0.0, 0.0, 0.1], np.array([1.0, 0.0, 0.0]), 0.2)
    assert cut.n_split > 0 and body_pieces(body).max() == 1
    return body


def test_a_cube_cut_on_its_grid_stays_at_rest() -> None:
    """The control: a cut on a grid plane (x = 20 mm) splits no tet and the body stays at rest
    (4e-15 m/s measured), so the xfail below is the split tets' doing, not the cut's."""
    body = SoftBody.from_mesh(box_tets((L, L, L), (6, 6, 6)), TISSUE)
    c = np.array([0.02, L / 2, L / 2])
    cut_body(body, c - [0.0, 0.0, 0.1], c + [0.0, 0.0, 0.1], np.array([1.0, 0.0, 0.0]), 0.2)
    for _ in range(45):
        step_softbody(body, 1 / 90, 10, NO_GRAVITY)
    assert float(np.linalg.norm(body.v, axis=1).max()) < 1e-6


@pytest.mark.xfail(
    strict=True,
    reason="open: the cut's thin sub-tets softened to the stability edge of light cut vertices "
    "(docs/physics.md 'A cut body at rest'): measured 0.31 m/s 1 s after the cut",
)
def test_a_cube_cut_off_its_grid_stays_at_rest() -> None:
    """Strict xfail: passes the day the softening (or the cut) leaves such a body at rest, then
    this mark must go. Asserted: 1 s after the cut the fastest vertex under 1e-6 m/s, nothing
    inverted, the volume kept to 1e-6."""
    body = cut_cube(0.0213)
    v0 = total_volume(body)
    vmax = 0.0
    for _ in range(90):  # 1 s after the cut
        step_softbody(body, 1 / 90, 10, NO_GRAVITY)
        vmax = max(vmax, float(np.linalg.norm(body.v, axis=1).max()))
    assert vmax < 1e-6, vmax
    assert volume_ratios(body).min() > 0.999
    assert abs(total_volume(body) / v0 - 1.0) < 1e-6
