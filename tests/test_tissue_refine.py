"""Local refinement where a tool presses (issue #16 item 3; systems/tissue/refine.py).

Red-green refinement (Bank, Sherman and Weiser 1983; Bey 1995) of the tets around a point:
the refined mesh is conforming (the boundary keeps its area, every inner face has two tets),
keeps the volume to round-off, has no inverted or flat tet and no child under
``MIN_VOLUME_FRACTION`` of its parent; the state is the parent tets' affine interpolation, so a
body at rest stays at rest; an embedded surface keeps its rest points; the collision system's
trigger (``CollisionSettings.refine``) refines a body once where a tool comes, within its
budget, and not beyond the solver's stiffness ratio.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vrmed import App
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.constraints import AttachmentConstraint
from vrmed.components.tissue.ligament import LigamentPatch, attach_ligament_below
from vrmed.components.tissue.softbody import EmbeddedSurface, Material, SoftBody
from vrmed.mesh import MeshError, box_tets
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import CollisionPlugin, CollisionSettings, CollisionWorld
from vrmed.systems.tissue.cutting import cut_body
from vrmed.systems.tissue.refine import MIN_VOLUME_FRACTION, longest_rest_edge, refine_region
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings, elastic_energy
from vrmed.systems.tissue.subdivide import transition_tet

LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
S = 0.06


def box(cells: int = 8) -> SoftBody:
    """The 6 cm liver-like box of tests/test_tissue_contact.py, bottom pinned."""
    m = box_tets((S, S, S), (cells, cells, cells), origin=(-S / 2, 0.0, -S / 2))
    return SoftBody.from_mesh(m, LIVER, pins=np.flatnonzero(m.points[:, 1] < 1e-9), velocity_damping=2.0)


def _area(p: np.ndarray, f: np.ndarray) -> float:
    return float(np.linalg.norm(np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]]), axis=1).sum() / 2)


def _signed(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    q = p[t]
    return np.einsum("ij,ij->i", np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]), q[:, 3] - q[:, 0]) / 6.0


def check_mesh(body: SoftBody, volume: float, area: float) -> None:
    """Conforming (each face in at most two tets; the boundary's area unchanged, so no hanging
    face inside), volume kept, every tet positive."""
    t = body.tets
    faces = np.sort(np.concatenate([t[:, [1, 2, 3]], t[:, [0, 2, 3]], t[:, [0, 1, 3]], t[:, [0, 1, 2]]]), axis=1)
    _, count = np.unique(faces, axis=0, return_counts=True)
    assert count.max() <= 2
    bf, _ = CK.boundary_faces(body.rest_points, t)
    assert _area(body.rest_points, bf) == pytest.approx(area, rel=1e-12)
    assert body.rest_volume.sum() == pytest.approx(volume, rel=1e-12)
    assert _signed(body.rest_points, t).min() > 0


def test_refine_region_is_conforming_volume_exact_and_positive() -> None:
    body = box()
    volume = float(body.rest_volume.sum())
    area = _area(body.rest_points, CK.boundary_faces(body.rest_points, body.tets)[0])
    top = np.array([0.001, S, 0.002])
    r = refine_region(body, top, 0.012)
    assert r.n_red > 0 and r.n_green > 0
    assert body.n_tets == 3072 - r.n_red - r.n_green + int(r.red.sum()) + int(r.green.sum())
    assert int(r.red.sum()) == 8 * r.n_red
    check_mesh(body, volume, area)
    assert r.min_volume_fraction >= MIN_VOLUME_FRACTION * (1 - 1e-12)
    # again, inside the red children only (a second level), and a refinement that finds nothing
    before = longest_rest_edge(body)[r.red].max()
    r2 = refine_region(body, top, 0.006, eligible=r.red)
    assert r2.n_red > 0
    check_mesh(body, volume, area)
    assert longest_rest_edge(body)[r2.red].max() == pytest.approx(before / 2)
    n = body.n_tets
    assert refine_region(body, np.array([1.0, 1.0, 1.0]), 0.01).n_red == 0 and body.n_tets == n
    with pytest.raises(MeshError, match="radius"):
        refine_region(body, top, 0.0)


def test_the_transition_templates_keep_a_sixteenth_of_the_parent() -> None:
    """Every subset of split edges (midpoints) and every vertex numbering of the unit tet: the
    closure's children are positive, fill the parent and keep >= 1/16 of its volume."""
    ref = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    edges = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    worst = 1.0
    for order in itertools.permutations(range(4)):
        for k in range(1, 6):
            for pairs in itertools.combinations(edges, k):
                pts = list(ref)
                mid = {}
                for i, j in pairs:
                    a, b = sorted((order[i], order[j]))
                    mid[(a, b)] = len(pts)
                    pts.append(0.5 * (ref[a] + ref[b]))
                pts.append(ref.mean(axis=0))
                kids = transition_tet(tuple(order), (0, 0, 0, 0), mid, len(pts) - 1)
                vol = np.abs(_signed(np.array(pts), np.array(kids)))
                assert vol.sum() == pytest.approx(1 / 6, rel=1e-12)
                worst = min(worst, float(vol.min()) * 6)
    assert worst == pytest.approx(MIN_VOLUME_FRACTION)


# refine_region is called here without the solver's substep (no stiffness limit), twice, then
# cut: the solver softens the smallest tets and says so
@pytest.mark.filterwarnings("ignore:SoftBody:RuntimeWarning")
def test_a_refined_body_at_rest_stays_at_rest_and_keeps_its_surface_and_constraints() -> None:
    """A body sagging under a held top, refined mid-run: the new vertices take the parents'
    affine state (no jump: the elastic energy is the same to round-off since every child has its
    parent's F), the attachment and pins carry over, an embedded surface keeps its rest points,
    and a body at rest refined stays at rest (fastest vertex after 10 frames < 1e-9 m/s)."""
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    body = box(4)
    pts = body.rest_points[:40]  # a surface of rest points bound in the tets that hold them
    tet = np.array([int(np.flatnonzero((body.tets == i).any(axis=1))[0]) for i in range(40)])
    bary = np.zeros((40, 4))
    for k in range(40):
        bary[k, list(body.tets[tet[k]]).index(k)] = 1.0
    emb = EmbeddedSurface(
        triangles=np.array([[0, 1, 2]]), tet_index=tet, bary=bary, positions=pts.copy(),
        normals=np.zeros((40, 3)), outside_distance=np.zeros(40),
    )  # fmt: skip
    ent = app.spawn(body)
    app.step(10)
    assert np.abs(body.v).max() < 1e-12
    r = refine_region(body, np.array([0.0, S, 0.0]), 0.02, emb)
    assert r.n_red > 0 and r.embedding is not None
    e = r.embedding
    got = np.einsum("vk,vkc->vc", e.bary, body.rest_points[body.tets[e.tet_index]])
    np.testing.assert_allclose(got, pts, atol=1e-12)
    app.step(10)
    assert np.abs(body.v).max() < 1e-9
    # a stretched body: refining it keeps the elastic energy (same F per child)
    top = np.flatnonzero(body.rest_points[:, 1] > S - 1e-9)
    body.attach(top, body.x[top] + [0.0, 0.01, 0.0])
    app.step(30)
    before = elastic_energy(body)
    refine_region(body, np.array([0.0, S / 2, 0.0]), 0.02)
    assert elastic_energy(body) == pytest.approx(before, rel=1e-9)
    assert isinstance(body.attachment, AttachmentConstraint)
    np.testing.assert_array_equal(body.attachment.indices, top)
    assert np.all(body.inv_mass[top] == 0) and np.all(body.inv_mass[body.pinned] == 0)
    app.step(5)
    assert np.all(np.isfinite(body.x))
    # a refined body cuts like any other (the cut subdivides the children it crosses)
    volume = float(body.rest_volume.sum())
    cut = cut_body(
        body, np.array([-S, S * 0.75, 0.001]), np.array([S, S * 0.75, 0.001]), np.array([0.0, 0.0, 1.0]), 0.01
    )
    assert cut.n_split > 0 and body.rest_volume.sum() == pytest.approx(volume, rel=1e-12)
    app.step(2)
    assert np.all(np.isfinite(body.x))
    app.despawn(ent)
    app.close()


def lower_sphere(settings: CollisionSettings, frames: int = 14) -> tuple[list[int], App, SoftBody, int, int]:
    """A 5 mm sphere lowered 2 mm a frame from 25 mm above the coarse box; the tet count after
    each frame (and the app, body, body entity and tool entity, still open)."""
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin(settings))
    body = box()
    top = np.flatnonzero(body.rest_points[:, 1] > S - 1e-9)  # an embedded skin on the top face's vertices
    tet = np.array([int(np.flatnonzero((body.tets == i).any(axis=1))[0]) for i in top])
    bary = (body.tets[tet] == top[:, None]).astype(np.float64)
    emb = EmbeddedSurface(
        triangles=np.array([[0, 1, 2]]), tet_index=tet, bary=bary, positions=body.rest_points[top].copy(),
        normals=np.zeros((top.size, 3)), outside_distance=np.zeros(top.size),
    )  # fmt: skip
    ent = app.spawn(body, emb)
    tool = app.spawn(Transform(position=np.array([0.001, S + 0.03, 0.002])), Collider(shape="sphere", radius=0.005))
    tf = app.get(tool, Transform)
    sizes = []
    for _ in range(frames):
        app.step(1)
        sizes.append(body.n_tets)
        tf.position[1] -= 0.002
    return sizes, app, body, ent, tool


def test_the_contact_refines_once_where_a_tool_comes_within_its_budget() -> None:
    """A 5 mm sphere lowered onto the coarse box with ``CollisionSettings.refine``: at the
    defaults nothing is refined (a red child of the 7.5 mm cells would have a stiffness ratio
    above WARM_FULL at the default substep: the solver would answer softer there); allowing
    up to WARM_OFF, the tets under it (13 mm longest edge > 1 x the radius) are refined once,
    before the contact (the broad phase reaches ahead), the body within its budget, its collision
    surface rebuilt; a body an instrument holds (attachment) is not refined."""
    sizes, app, _body, _ent, _tool = lower_sphere(CollisionSettings(refine=True))
    app.close()
    assert set(sizes) == {3072}
    sizes, app, body, ent, tool = lower_sphere(CollisionSettings(refine=True, refine_max_ratio=0.3))
    assert sizes[0] == 3072  # 25 mm above the surface: beyond the broad phase's reach
    assert sizes[-1] > 3072 and len(set(sizes)) == 2, sizes  # refined once
    first = sizes.index(sizes[-1])
    assert S + 0.03 - 0.002 * first - 0.005 > S + 0.005  # the sphere was still 5+ mm above the tissue
    world = app.resource(CollisionWorld)
    assert body.n_tets <= 4 * 3072
    st = world.refined[ent]
    assert (st.level == 1).any()
    assert world.surfaces[ent].tets_ref is body.tets
    assert np.all(np.isfinite(body.x))
    emb = app.get(ent, EmbeddedSurface)  # rebound in place: every skin point at its rest position
    got = np.einsum("vk,vkc->vc", emb.bary, body.rest_points[body.tets[emb.tet_index]])
    skin = np.flatnonzero(body.rest_points[: 9 * 9 * 9, 1] > S - 1e-9)  # the old vertices keep their ids
    np.testing.assert_allclose(got, body.rest_points[skin], atol=1e-12)
    app.close()
    held = box()
    held.attach([0])
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin(CollisionSettings(refine=True, refine_max_ratio=0.3)))
    app.spawn(held)
    app.spawn(Transform(position=np.array([0.001, S + 0.004, 0.002])), Collider(shape="sphere", radius=0.005))
    app.step(2)
    assert held.n_tets == 3072
    app.close()


def test_refining_a_ligament_patch_holds_the_new_points_on_it() -> None:
    """The midpoints a refinement adds on edges between two spring-held vertices are held too
    (as midpoints between two pinned vertices are pinned), each spring to its rest position and
    taken from the two ends' springs, so the patch's total stiffness is unchanged
    (cutting._carry_ligaments)."""
    body = SoftBody.from_mesh(box_tets((S, S, S), (4, 4, 4), origin=(-S / 2, 0.0, -S / 2)), LIVER)  # no pins
    patch = attach_ligament_below(body, 1e-9, stiffness=1.0e6)  # the underside, y = 0
    k0 = float(np.sum(1.0 / patch.compliance))
    r = refine_region(body, np.array([0.0, 0.0, 0.0]), 0.02)
    assert r.n_red > 0
    (c,) = [c for c in body.constraints if isinstance(c, LigamentPatch)]
    np.testing.assert_allclose(c.anchors, body.rest_points[c.indices], atol=1e-12)
    assert abs(float(np.sum(1.0 / c.compliance)) - k0) < 1e-9 * k0
    on_face = np.flatnonzero(np.abs(body.rest_points[:, 1]) < 1e-12)
    assert on_face.max() >= 5**3  # the refinement added points on the underside (after the box's 125)
    held = np.zeros(body.n_vertices, dtype=bool)
    held[c.indices] = True
    assert held[on_face].all()
