"""Tissue-tissue contact and self-contact (issue #16, item 3).

A gallbladder-like block rests on (and is pressed into) a liver-like slab, both with a
``TissueContact``: the slab carries the block's weight (analytic: at rest the contact force is
``m g``: the air-drag-like velocity damping has no static effect, docs/physics.md) and no vertex of one
body ever lies inside a tet of the other. A thin sheet folded over onto itself (one end pinned on
a table, the other carried over by an attachment and dropped) keeps its two layers apart with
``self_contact=True`` and passes through itself without it (the control, so the scenario really
brings the layers together). The spatial-hash broad phase is compared with brute force.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed import App
from vrmed.benchmarks.tissue_contact import FoldedSheet
from vrmed.components.collision.collider import CollisionError
from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.collision import surface_kernels as SK
from vrmed.systems.collision.kernels import closest_point_triangle
from vrmed.systems.collision.system import CollisionPlugin
from vrmed.systems.collision.tissue_contact import ContactGrid, TissueContactWorld
from vrmed.systems.tissue.solver import STANDARD_GRAVITY, SoftBodyPlugin, volume_ratios

LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
H = 1.0 / 900.0  # the default physics tick = one XPBD substep


def inside_count(x: np.ndarray, tets: np.ndarray, points: np.ndarray, skip_members: bool) -> int:
    """How many ``points`` lie strictly inside a tet of (``x``, ``tets``) (barycentrics all
    > 1e-6); with ``skip_members`` (points = x) a vertex never counts for its own tets."""
    p = x[tets]
    D = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)
    lam = np.matmul(points[None, :, :] - p[:, None, 0, :], np.linalg.inv(D).transpose(0, 2, 1))
    bary = np.concatenate([(1.0 - lam.sum(2))[..., None], lam], axis=2)
    inside = (bary > 1e-6).all(axis=2)
    if skip_members:
        inside[np.arange(len(tets))[:, None], tets] = False
    return int(inside.any(axis=0).sum())


def two_bodies(tilt: float = 0.0, gap: float = 0.0015) -> tuple[App, SoftBody, SoftBody, int, int]:
    """A 100 x 30 x 100 mm liver-like slab (bottom pinned) and a 40 x 20 x 40 mm block ``gap``
    above it (lowest point), tilted by ``tilt`` rad about z; gravity on."""
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(CollisionPlugin())
    base = box_tets((0.1, 0.03, 0.1), (6, 2, 6), origin=(-0.05, 0.0, -0.05))
    lower = SoftBody.from_mesh(base, LIVER, pins=np.flatnonzero(base.points[:, 1] < 1e-9), velocity_damping=5.0)
    gb = box_tets((0.04, 0.02, 0.04), (4, 2, 4), origin=(-0.02, -0.01, -0.02))
    c, s = np.cos(tilt), np.sin(tilt)
    gb.points = gb.points @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    gb.points[:, 1] += 0.03 + gap - gb.points[:, 1].min()
    upper = SoftBody.from_mesh(gb, LIVER, velocity_damping=5.0)
    ea = app.spawn(lower, TissueContact())
    eb = app.spawn(upper, TissueContact())
    return app, lower, upper, ea, eb


def test_a_block_resting_on_a_slab_is_carried_by_the_contact_force() -> None:
    app, lower, upper, ea, eb = two_bodies()
    tcw = app.resource(TissueContactWorld)
    for _ in range(60):
        app.step(1)
        assert inside_count(lower.x, lower.tets, upper.x, False) == 0
        assert inside_count(upper.x, upper.tets, lower.x, False) == 0
    weight = upper.mass.sum() * float(-STANDARD_GRAVITY[1])
    expected = weight  # the velocity damping damps the carried velocity only: no static effect
    f = tcw.force[eb]
    assert f[1] == pytest.approx(expected, rel=0.01)
    assert np.hypot(f[0], f[2]) < 0.01 * weight
    np.testing.assert_allclose(tcw.pair_force[(ea, eb)], -f, atol=1e-12)  # action = reaction
    # the gap the contact keeps: the block's lowest vertex is about a thickness above the slab
    top = lower.x[:, 1].max()
    assert upper.x[:, 1].min() - top > 0.0
    assert np.abs(upper.v).max() < 0.01
    app.close()


def test_a_tilted_block_pressed_into_a_slab_never_interpenetrates() -> None:
    """Edge first, then pressed with 10x its weight: vertices of each body against the other's faces."""
    app, lower, upper, ea, eb = two_bodies(tilt=0.3)
    weight = upper.mass.sum() * float(-STANDARD_GRAVITY[1])
    upper.apply_force(np.arange(upper.n_vertices), np.array([0.0, -10.0 * weight, 0.0]) / upper.n_vertices)
    tcw = app.resource(TissueContactWorld)
    for _ in range(60):
        app.step(1)
        assert np.all(np.isfinite(lower.x)) and np.all(np.isfinite(upper.x))
        assert inside_count(lower.x, lower.tets, upper.x, False) == 0
        assert inside_count(upper.x, upper.tets, lower.x, False) == 0
    assert (volume_ratios(upper) > 0).all() and (volume_ratios(lower) > 0).all()
    assert np.abs(upper.v).max() < 0.05
    # at rest the slab carries the weight and the pressing force
    expected = 11.0 * weight
    assert tcw.force[eb][1] == pytest.approx(expected, rel=0.02)
    app.close()


def fold(self_contact: bool) -> tuple[int, int, float]:
    """Fold a 80 x 4 x 20 mm sheet lying on a table in half (right end carried over the left
    in 1/3 s by an attachment, then dropped, 1/3 s to settle; the benchmark's scene at a
    coarser mesh); return (vertices inside a tet of the sheet at the worst check, self
    contacts while only half folded, max speed m/s)."""
    sheet = FoldedSheet((20, 1, 5), self_contact=self_contact)
    body, tcw = sheet.body, sheet.contact_world
    worst, early, vmax = 0, 0, 0.0
    for f in range(60):
        sheet.step(f)
        assert np.all(np.isfinite(body.x))
        vmax = max(vmax, float(np.abs(body.v).max()))
        if f < 15:
            early += sum(tcw.contacts.values())
        if f % 5 == 4:
            worst = max(worst, inside_count(body.x, body.tets, body.x, True))
    sheet.close()
    return worst, early, vmax


def test_a_folded_sheet_does_not_pass_through_itself() -> None:
    inside, early, vmax = fold(self_contact=True)
    assert inside == 0
    assert early == 0  # bent but not touching: neighbours and rest-close faces never collide
    assert vmax < 1.0  # the attached end moves at ~0.4 m/s (measured 0.41 m/s)
    inside, _, _ = fold(self_contact=False)
    assert inside > 10  # the control: without self-contact the layers pass through each other


def test_spatial_hash_finds_every_pair_brute_force_finds() -> None:
    """collect_pairs against all (vertex, face) pairs within reach, on a randomly deformed
    body, for two bodies and for self-contact (with its exclusions)."""
    rng = np.random.default_rng(1)
    # a 40 x 4 x 20 mm sheet folded in half (upper layer 2 mm above the lower), jittered
    body = SoftBody.from_mesh(box_tets((0.04, 0.004, 0.02), (10, 1, 5)), LIVER)
    far = body.x[:, 0] > 0.02 + 1e-9
    body.x[far, 0] = 0.04 - body.x[far, 0]
    body.x[far, 1] = 0.01 - body.x[far, 1]
    body.x += rng.normal(0.0, 3e-4, body.x.shape)
    other = SoftBody.from_mesh(box_tets((0.03, 0.02, 0.03), (4, 3, 4), origin=(0.01, 0.003, 0.0)), LIVER)
    other.x += rng.normal(0.0, 1e-3, other.x.shape)
    for self_contact, bt in ((False, other), (True, body)):
        sv, st = ContactGrid.build(body), ContactGrid.build(bt)
        gv = sv
        SK.build_grid(body.x, sv.verts, gv.inv_cell, gv.keys, gv.cell_start, gv.cell_items, gv.cursor, gv.bbox)
        reach = 0.0035  # not a multiple of the 4 mm rest spacing (no ties at rest)
        out_v, out_f = np.zeros(100000, dtype=np.int64), np.zeros(100000, dtype=np.int64)
        if self_contact:
            gv.exclusions(body, reach)
        args = (gv.excl_ptr, gv.excl_idx, sv.faces, sv.vf_ptr, sv.vf_idx, out_v, out_f)
        n = SK.collect_pairs(
            body.x, sv.verts, gv.inv_cell, gv.cell_start, gv.cell_items, gv.bbox, gv.stamp, gv.counter,
            bt.x, st.faces, reach, self_contact, *args,
        )  # fmt: skip
        found = set(zip(out_v[:n].tolist(), out_f[:n].tolist()))
        assert len(found) == n  # no duplicates
        expected = set()
        tri = bt.x[st.faces]  # brute force: every vertex against every face (boxes first, for speed)
        near = (body.x[sv.verts, None, :] >= tri.min(axis=1)[None] - reach).all(axis=2)
        near &= (body.x[sv.verts, None, :] <= tri.max(axis=1)[None] + reach).all(axis=2)
        ring = {int(i): set(sv.faces[sv.vf_idx[sv.vf_ptr[i] : sv.vf_ptr[i + 1]]].ravel().tolist()) for i in sv.verts}
        for k, f in zip(*np.nonzero(near)):
            i = sv.verts[k]
            a, b, c = st.faces[f]
            if self_contact:
                if {int(a), int(b), int(c)} & ring[int(i)]:  # the one-ring includes i itself
                    continue
                r = body.rest_points
                u, v, w = closest_point_triangle(tuple(r[i]), tuple(r[a]), tuple(r[b]), tuple(r[c]))
                if np.linalg.norm(r[i] - (u * r[a] + v * r[b] + w * r[c])) < reach:
                    continue
            p = bt.x
            u, v, w = closest_point_triangle(tuple(body.x[i]), tuple(p[a]), tuple(p[b]), tuple(p[c]))
            if np.linalg.norm(body.x[i] - (u * p[a] + v * p[b] + w * p[c])) <= reach:
                expected.add((int(i), int(f)))
        assert found == expected and len(expected) > 20


def test_buffers_are_reused_between_ticks_and_bad_settings_are_refused() -> None:
    app, lower, upper, ea, eb = two_bodies()
    app.step(3)
    tcw = app.resource(TissueContactWorld)
    ids = [id(a) for g in tcw.grids.values() for a in (g.cell_start, g.cell_items, g.keys)] + [id(tcw.pair_v)]
    app.step(3)
    assert [id(a) for g in tcw.grids.values() for a in (g.cell_start, g.cell_items, g.keys)] + [id(tcw.pair_v)] == ids
    app.close()
    for bad in ({"thickness": 0.0}, {"max_depth": -1.0}, {"friction": -0.1}):
        with pytest.raises(CollisionError, match="TissueContact"):
            TissueContact(**bad)
