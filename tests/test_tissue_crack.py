"""A cut near an earlier cut's crack continues it (issue #16, item 5; vrmed.systems.tissue.cutting
``crack_level``), and the dissection's ``divided_area`` counts one lip of the cuts, as a union over
the section.

Two partial cuts 1 mm apart (rest space) whose union reaches across a slab: cut along their own
planes they leave a 1 mm strip joined to both sides at its ends (one piece, as before this
change); with the second continuing the first's crack they free the slab into two pieces, with
the volume, mass and volume bound kept and a conforming mesh. A cut far from any crack is the
plane's cut, tet for tet. A slit's lips are still seen as its crack after a later cut refined
one of them. ``divided_area`` on known cuts: a straight cut through is the section,
half a cut half of it, two parallel cuts through the section once, two parallel half cuts half.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.content.laparoscopy.systems import divided_area
from vrmed.mesh import box_tets
from vrmed.systems.tissue.cutting import (
    CRACK_TOL,
    body_pieces,
    crack_faces,
    cut_body,
    separate_pieces,
    split_tets,
)
from vrmed.systems.tissue.solver import total_volume
from vrmed.systems.tissue.subdivide import MIN_VOLUME_FRACTION

TISSUE = Material(5.4e3, 0.45, 1060.0)
X = np.eye(3)[0]
SIZE, LO = np.array([0.04, 0.01, 0.04]), np.array([-0.02, 0.0, -0.02])


def slab() -> SoftBody:
    """4 x 1 x 4 cm, 5 mm cells (768 tets)."""
    return SoftBody.from_mesh(box_tets(tuple(SIZE), (8, 2, 8), origin=tuple(LO)), TISSUE)


def two_partial_cuts(body: SoftBody, crack: float = CRACK_TOL):
    """x = 1.4 mm from the back (z = -2 cm) to z = 0, then x = 2.4 mm from z = 0 to the front,
    each separating within 6 mm of its blade (the whole 1 cm height): the first cut's crack
    front ends about 6 mm past z = 0, the second's starts 6 mm before it, so the two cut
    surfaces overlap 1 mm apart over about 1 cm (no vertex layer between: 5 mm cells, the
    planes 0.28 and 0.48 of a cell past x = 0, no snapping)."""
    first = cut_body(body, np.array([0.0014, 0.005, -0.03]), np.array([0.0014, 0.005, 0.0]), X, 0.006, crack=crack)
    second = cut_body(body, np.array([0.0024, 0.005, 0.0]), np.array([0.0024, 0.005, 0.03]), X, 0.006, crack=crack)
    return first, second


def sound(body: SoftBody) -> None:
    p = body.x[body.tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0
    assert np.all(vol > 0) and np.all(body.rest_volume > 0)


def conforming(body: SoftBody) -> None:
    """Every face is shared by two tets, lies on the slab's boundary, or is a cut face whose
    rest corners coincide with another boundary face's (a lip of a crack)."""
    faces = np.sort(body.tets[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), axis=1)
    uniq, count = np.unique(faces, axis=0, return_counts=True)
    assert count.max() == 2
    q = body.rest_points[uniq[count == 1]]
    on_wall = ((np.abs(q - LO) < 1e-12) | (np.abs(q - (LO + SIZE)) < 1e-12)).all(axis=1).any(axis=1)
    assert on_wall.sum() + crack_faces(body).shape[0] == uniq[count == 1].shape[0]


def test_two_nearly_parallel_partial_cuts_free_the_slab_when_the_second_continues_the_first() -> None:
    # as the cutting was: each cut along its own plane, the 1 mm strip between them stays joined
    old = slab()
    two_partial_cuts(old, crack=0.0)
    assert body_pieces(old).max() == 0
    # now: the second cut runs along the first's crack where it passes within CRACK_TOL of it
    body = slab()
    v0, m0, n0 = total_volume(body), body.mass.sum(), body.n_tets
    first, second = two_partial_cuts(body)
    assert first.n_continued == 0 and second.n_continued > 0  # measured 43 vertices moved onto the crack
    assert body_pieces(body).max() == 1  # two pieces
    assert second.min_volume_fraction >= MIN_VOLUME_FRACTION and first.min_volume_fraction >= MIN_VOLUME_FRACTION
    assert total_volume(body) == pytest.approx(v0, rel=1e-13) and body.mass.sum() == pytest.approx(m0, rel=1e-13)
    assert body.n_tets > n0
    sound(body)
    conforming(body)
    # every new point on a cut edge lies on its blade's plane (the continuation moves the cut onto
    # vertices of the crack, it adds no point off the plane)
    new = np.flatnonzero(second.src == -1)
    assert np.abs(body.x[new, 0] - 0.0024).max() < 1e-15
    # the pieces: the back one holds all of x < 1.4 mm, the front one all of x > 2.4 mm, and the
    # strip between the planes goes with one of them (1.4-2.4 mm: on the first's plane where the
    # second ran along its crack, on the second's beyond)
    left, right = sorted(separate_pieces(body), key=lambda p: p.rest_points[:, 0].min())
    c_left = left.rest_points[left.tets].mean(axis=1)[:, 0]
    c_right = right.rest_points[right.tets].mean(axis=1)[:, 0]
    assert c_left.max() < 0.0024 and c_right.min() > 0.0014
    assert total_volume(left) + total_volume(right) == pytest.approx(v0, rel=1e-13)
    section = SIZE[1] * SIZE[2]
    assert (0.0014 - LO[0]) * section < total_volume(left) < (0.0024 - LO[0]) * section  # measured 8.698e-6 m^3


def test_a_cut_far_from_any_crack_is_the_planes_cut_tet_for_tet() -> None:
    # a slit near the back, then a cut 1 cm in front of it (beyond CRACK_TOL): the same tets,
    # vertices and rest positions as the plane's own cut (crack continuation off)
    bodies = [slab(), slab()]
    for b, crack in zip(bodies, (CRACK_TOL, 0.0), strict=True):
        cut_body(b, np.array([0.0014, 0.005, -0.03]), np.array([0.0014, 0.005, 0.0]), X, 0.006, crack=crack)
        cut = cut_body(b, np.array([0.0114, 0.005, -0.03]), np.array([0.0114, 0.005, 0.03]), X, 0.006, crack=crack)
        assert cut.n_continued == 0
    a, b = bodies
    assert np.array_equal(a.tets, b.tets) and np.array_equal(a.rest_points, b.rest_points)
    assert np.array_equal(a.tet_index, b.tet_index)


def lip_areas(body: SoftBody, x: float) -> tuple[float, float]:
    """Rest area of the crack faces (:func:`crack_faces`) in the plane x = ``x`` facing +x and -x."""
    p = body.rest_points[crack_faces(body)]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    on = np.abs(p[:, :, 0] - x).max(axis=1) < 1e-12
    return tuple(0.5 * float(np.linalg.norm(n[on & (s * n[:, 0] > 0)], axis=1).sum()) for s in (1, -1))


def test_a_slits_lips_stay_a_crack_after_a_later_cut_refines_one_of_them() -> None:
    # a slit at x = 1.4 mm (both lips 2.5 cm^2: the 1 cm height over z = -2 cm to its front at
    # 5 mm), then a cut across z on the x < 1.4 mm side only, which subdivides the back lip's
    # tets and so its faces, not the front lip's: the two lips no longer match face for face,
    # but every face of both still counts as the crack (pairing faces alone lost 0.13 cm^2 each)
    body = slab()
    cut_body(body, np.array([0.0014, 0.005, -0.03]), np.array([0.0014, 0.005, 0.0]), X, 0.006)
    before = lip_areas(body, 0.0014)
    assert before == pytest.approx((0.01 * 0.025, 0.01 * 0.025), rel=1e-12)
    across = cut_body(body, np.array([-0.01, 0.005, -0.0123]), np.array([0.0, 0.005, -0.0123]), np.eye(3)[2], 0.004)
    assert across.n_split > 0 and across.n_duplicated > 0
    assert lip_areas(body, 0.0014) == pytest.approx(before, rel=1e-12)


SECTION = 0.012 * 0.024  # the gallbladder box's section across x (1.2 x 2.4 cm)


def gallbladder_box() -> SoftBody:
    """The gallbladder's section (1.2 x 2.4 cm) and cells (6 mm), 3 cm long, with vertex layers at
    x = -3 and +3 mm."""
    return SoftBody.from_mesh(box_tets((0.03, 0.012, 0.024), (5, 2, 4), origin=(-0.015, 0.0, -0.012)), TISSUE)


def half_slit(body: SoftBody, at: float) -> None:
    """Separate the tets on the two sides of the vertex layer x = ``at`` whose centroids lie at
    z < 0 (within one cell): a slit over the back half of the section (the crack front at z = 0)."""
    c = body.rest_points[body.tets].mean(axis=1)
    side = np.where((np.abs(c[:, 0] - at) < 0.006) & (c[:, 2] < 0.0), np.sign(c[:, 0] - at), 0).astype(np.int64)
    split_tets(body, side)


def test_divided_area_counts_one_lip_of_the_cuts_as_a_union_over_the_section() -> None:
    band = (-0.003, 0.0065)  # the scissors scenario's line_x and line_half_width
    body = gallbladder_box()
    assert divided_area(body, *band) == 0.0
    cut_body(body, np.array([-0.003, 0.006, -0.03]), np.array([-0.003, 0.006, 0.03]), X, 0.05)
    assert divided_area(body, *band) == pytest.approx(SECTION, rel=1e-9)  # was twice (both lips summed)
    assert divided_area(separate_pieces(body), *band) == pytest.approx(SECTION, rel=1e-9)  # lips in two pieces
    assert divided_area(body, 0.009, 0.002) == 0.0  # a band with no cut
    # half: a slit over z < 0
    body = gallbladder_box()
    half_slit(body, -0.003)
    assert divided_area(body, *band) == pytest.approx(SECTION / 2, rel=1e-9)
    # two parallel half slits 6 mm apart, both in the band, over the same half: still half (the
    # summed faces gave the whole section)
    half_slit(body, 0.003)
    assert divided_area(body, *band) == pytest.approx(SECTION / 2, rel=1e-9)
    # two parallel cuts through, 2 mm apart (their own planes: crack continuation off): the section once
    body = gallbladder_box()
    for x in (-0.0035, -0.0015):
        cut_body(body, np.array([x, 0.006, -0.03]), np.array([x, 0.006, 0.03]), X, 0.05, crack=0.0)
    assert body_pieces(body).max() == 2
    assert divided_area(separate_pieces(body), *band) == pytest.approx(SECTION, rel=1e-9)
