"""Cutting never leaves inverted elements behind (issue #16, item 5).

A cut is made at the current positions and each sub-tet has its parent's det F (the parent maps
affinely to its rest shape), so a cut through tissue the blades had folded leaves every child of
an inverted parent inverted: in the laparoscopy scissors dissection (expert, start +20 ms) its
seven cuts took 11 -> 24, 7 -> 10, 11 -> 17, 25 -> 38, 25 -> 54, 44 -> 64 and 50 -> 96 inverted
tets, and the last tangle, spread
through the cut's slivers, was never opened again (21 tets inverted at the end; docs/physics.md,
"Cutting that splits", "Inverted tets a cut leaves"). ``cut_body(..., untangle=True)`` untangles
the cut body at once (``kernels.untangle``), keeping every axis that was fixed before the cut
(pins, grasps' attachments) in place; it is opt-in (``cutting.UNTANGLE_AFTER_CUT``), since in the
scissors sessions it also turned other start shifts from 0 to some inverted tets at the end.
"""

from __future__ import annotations

import numpy as np

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.tissue.cutting import cut_body
from vrmed.systems.tissue.solver import step_softbody, volume_ratios

TISSUE = Material(5.4e3, 0.45, 1060.0)
L = 0.04  # a 4 cm cube of 4^3 cells (1 cm)


def folded_cube() -> tuple[SoftBody, int, int, int]:
    """The cube with its bottom face pinned, one vertex fixed as a grasp holds it (``attach``) and
    the interior vertex at (0, 2, 0) cm ploughed 1.5 cells along +x, through the faces of its
    star (as the open blades drag a vertex in the scissors dissection). Returns the body, the
    ploughed vertex, the attached one and a pinned one."""
    mesh = box_tets((L, L, L), (4, 4, 4), origin=(-L / 2, 0.0, -L / 2))
    body = SoftBody.from_mesh(mesh, TISSUE, pins=np.flatnonzero(mesh.points[:, 1] < 1e-9))
    v = int(np.argmin(np.linalg.norm(body.rest_points - [0.0, 0.02, 0.0], axis=1)))
    # a vertex of the fold that the untangling moves 3.7 mm if its attachment is not kept
    grasp = int(np.argmin(np.linalg.norm(body.rest_points - [0.0, 0.01, 0.0], axis=1)))
    pin = int(np.flatnonzero(body.pinned)[0])
    body.attach([grasp])
    body.x[v, 0] += 0.015
    body.x_prev[:] = body.x
    return body, v, grasp, pin


def test_a_cut_through_folded_tissue_leaves_no_inverted_tet() -> None:
    body, v, grasp, pin = folded_cube()
    before = int(np.count_nonzero(volume_ratios(body) <= 0.0))
    assert before >= 4  # the ploughed vertex has folded its star
    fixed = body.x[[grasp, pin]].copy()
    volume, mass = body.rest_volume.sum(), body.mass.sum()
    # a through cut in the plane x = 3.7 mm (0.37 of a cell past a vertex plane), across the fold
    a, b, n = np.array([0.0037, 0.02, -1.0]), np.array([0.0037, 0.02, 1.0]), np.array([1.0, 0, 0])
    res = cut_body(body, a, b, n, 1.0, untangle=True)
    assert res.n_split > 0 and res.n_duplicated > 0
    # each inverted parent's children are inverted: the cut multiplies the fold's tets
    assert res.n_inverted > before
    # ... and the cut opens them (the old code left them all)
    assert res.n_inverted_after == 0
    assert np.all(volume_ratios(body) > 0.0)
    # a position repair: rest data, volume and mass as the cut made them; fixed axes unmoved
    assert abs(body.rest_volume.sum() - volume) < 1e-12 * volume
    assert abs(body.mass.sum() - mass) < 1e-12 * mass
    np.testing.assert_array_equal(body.x[[grasp, pin]], fixed)  # vertex ids below n stay theirs
    assert np.all(np.isfinite(body.x))
    # and the cut body steps on without re-inverting
    for _ in range(5):
        step_softbody(body, 1.0 / 90.0)
    assert np.all(np.isfinite(body.x))
    assert np.all(volume_ratios(body) > 0.0)


def test_without_the_untangling_a_cut_multiplies_the_inverted_tets_and_unfolded_cuts_are_unchanged() -> None:
    a, b, n = np.array([0.0037, 0.02, -1.0]), np.array([0.0037, 0.02, 1.0]), np.array([1.0, 0, 0])
    for untangle in (False, None):  # off, and the default (off: cutting.UNTANGLE_AFTER_CUT)
        body, *_ = folded_cube()
        before = int(np.count_nonzero(volume_ratios(body) <= 0.0))
        res = cut_body(body, a, b, n, 1.0, untangle=untangle)
        assert res.n_inverted == res.n_inverted_after == int(np.count_nonzero(volume_ratios(body) <= 0.0)) > before
    # no inverted tet: untangle on or off gives the same body, bit for bit
    on, off = (
        SoftBody.from_mesh(box_tets((L, L, L), (4, 4, 4), origin=(-L / 2, 0.0, -L / 2)), TISSUE) for _ in range(2)
    )
    for body, flag in ((on, True), (off, False)):
        body.x[:, 1] *= 0.9  # squeezed, not folded
        r = cut_body(body, a, b, n, 1.0, untangle=flag)
        assert r.n_split > 0 and r.n_inverted == r.n_inverted_after == 0
    np.testing.assert_array_equal(on.x, off.x)
    np.testing.assert_array_equal(on.tets, off.tets)
