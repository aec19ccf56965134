"""Cutting that splits, through the real instrument path (issue #16, item 5).

A scissors :class:`Instrument` driven by scripted :class:`InputState` poses closes its jaw across
a small slab; ``CutBehaviour`` subdivides the tets the blade plane crosses and splits the body
along it (vertex duplication) within the blades' reach. Checked: a partial cut keeps one piece
and the rest volume while adding tets (source ids stay a permutation), a second cut crossing it
frees exactly the corner between the two blade planes as a new entity, no element is ever
inverted or of zero volume, cut pieces fall under gravity while the pinned part stays, cuts
through a grasp and through a ligament patch keep both lips held (with the patch's total
stiffness), and an embedded surface gets cut faces: each piece's surface is closed and
oriented, and both caps are the cross-section of the surface.
"""

from __future__ import annotations

import numpy as np
import pytest

from vrmed import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.scene.core import Name
from vrmed.components.tissue.appearance import TissueAppearance
from vrmed.components.tissue.ligament import LigamentPatch, attach_ligament_below, attach_ligament_patch
from vrmed.components.tissue.softbody import EmbeddedSurface, Material, SoftBody
from vrmed.geometry import quat_from_axis_angle, quat_matrix, quat_multiply
from vrmed.input import InputState
from vrmed.mesh import SurfaceMesh, box_tets
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.instruments.system import InstrumentWorld, TissueCut
from vrmed.systems.tissue.cutting import body_pieces, cut_body
from vrmed.systems.tissue.embedding import embed_surface
from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings

G = 9.80665
TISSUE = Material(2.0e3, 0.45, 1060.0, damping=0.003)  # soft enough for 5 mm cells at the default substeps
# scissors lying flat: jaws open along world y (above / below the slab), the blade plane is vertical
ALONG_Z = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])  # shaft along +z: blade plane x = hinge x
ALONG_X = np.asarray(quat_multiply(quat_from_axis_angle((0.0, 1.0, 0.0), np.pi / 2), ALONG_Z))  # plane z = hinge z
S, T = 0.04, 0.004  # slab side and thickness (m): 8 x 8 cells of 5 mm, 2 through the thickness


def slab(**kw) -> tuple[np.ndarray, SoftBody]:
    mesh = box_tets((S, T, S), (8, 2, 8), origin=(-S / 2, 0.0, -S / 2))
    return mesh.points, SoftBody.from_mesh(mesh, TISSUE, **kw)


def make_app(gravity: bool) -> App:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings() if gravity else SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(InputState())
    return app


FAR = np.array([0.0, 0.2, 0.0])  # a pose well clear of the tissue


def tool(app: App, kind: str, device: str, **kw) -> int:
    """Spawn an instrument on ``device``, parked clear of the tissue (not at the origin, inside it)."""
    drive(app, device, FAR, ALONG_Z, 0.0)
    return app.spawn(Instrument(tool=kind, device=device, pivot=False, **kw), Name(device))


def drive(app: App, device: str, hinge, orientation, closure: float) -> None:
    dev = app.resource(InputState).device(device)
    dev.position[:] = hinge
    dev.orientation[:] = orientation
    dev.buttons["trigger"] = closure


def snip(app: App, hinge, orientation, frames_open: int = 2) -> list[TissueCut]:
    """Open the scissors back along their shaft from ``hinge``, slide them in to ``hinge`` open,
    close them and pull them back out: one cut; returns the TissueCut events."""
    reader = app.event_reader(TissueCut)
    back = np.asarray(hinge) + 0.1 * quat_matrix(orientation)[:, 2]  # the shaft is the tool's -z
    drive(app, "scissors", back, orientation, 0.0)
    app.step(1)
    drive(app, "scissors", hinge, orientation, 0.0)
    app.step(frames_open)
    drive(app, "scissors", hinge, orientation, 1.0)
    app.step(1)
    events = reader.read()
    drive(app, "scissors", back, orientation, 1.0)
    return events


def signed_volumes(body: SoftBody) -> np.ndarray:
    p = body.x[body.tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0


def rest_volume(body: SoftBody) -> float:
    return float(body.rest_volume.sum())


def bodies(app: App) -> dict[int, SoftBody]:
    return dict(app.query(SoftBody))


def assert_sound(app: App) -> None:
    """No inverted or zero-volume tet and nothing non-finite, in any body."""
    for body in bodies(app).values():
        assert np.isfinite(body.x).all()
        v = signed_volumes(body)
        assert v.min() > 0.05 * body.rest_volume.min(), "an inverted or near-zero-volume tet after a cut"


def test_two_crossing_cuts_split_off_the_corner_between_them() -> None:
    app = make_app(gravity=False)
    points, body = slab()
    ent = app.spawn(body, Name("slab"), TissueAppearance())
    tool(app, "scissors", "scissors", jaw_length=0.035, cut_radius=0.006)
    m0, n0, v0 = body.n_tets, body.n_vertices, rest_volume(body)
    # cut 1: along z at x = 1 mm (through tets, not along a vertex plane), from the z = -2 cm edge
    # to z = +5 mm: a slit, the body stays one piece
    (ev,) = snip(app, (0.001, T / 2, -S / 2 - 0.01), ALONG_Z)
    assert ev.body == ent and ev.pieces == () and len(ev.tets) > 0
    # the crossed tets were subdivided (more tets, source ids still 0..m-1: nothing deleted)
    assert body.n_tets > m0 and body.n_vertices > n0 and body_pieces(body).max() == 0
    assert sorted(body.tet_index.tolist()) == list(range(body.n_tets))
    assert abs(rest_volume(body) - v0) < 1e-12 * v0
    assert set(ev.tets) <= set(range(body.n_tets))
    n1 = body.n_vertices
    app.step(3)
    assert_sound(app)
    # cut 2: along x at z = 1 mm, from the x = -2 cm edge to x = +5 mm, crossing cut 1
    (ev2,) = snip(app, (-S / 2 - 0.01, T / 2, 0.001), ALONG_X)
    assert ev2.body == ent and len(ev2.pieces) == 1
    app.step(1)  # the piece's entity is spawned at a stage boundary
    found = bodies(app)
    assert set(found) == {ent, ev2.pieces[0]}
    piece = found[ev2.pieces[0]]
    assert body.n_vertices + piece.n_vertices > n1  # cut 2 duplicated vertices too
    m2 = body.n_tets + piece.n_tets
    assert sorted(np.concatenate([body.tet_index, piece.tet_index]).tolist()) == list(range(m2))  # nothing deleted
    assert abs(rest_volume(body) + rest_volume(piece) - v0) < 1e-12 * v0
    # the piece is exactly the x < 1 mm, z < 1 mm corner: the cuts follow the blade planes
    assert np.all(piece.rest_points[:, 0] < 0.001 + 1e-12) and np.all(piece.rest_points[:, 2] < 0.001 + 1e-12)
    assert abs(rest_volume(piece) - (S / 2 + 0.001) ** 2 * T) < 1e-12 * v0
    assert body_pieces(body).max() == 0 and body_pieces(piece).max() == 0
    # the spawned piece carries the original's other components under a unique name
    assert app.try_get(ev2.pieces[0], TissueAppearance) is not None
    assert app.get(ev2.pieces[0], Name).value == "slab.piece1"
    app.step(10)
    assert_sound(app)
    app.close()


def test_cut_pieces_fall_under_gravity_and_the_pinned_part_stays() -> None:
    app = make_app(gravity=False)  # gravity comes on once the cut is through (the slab stays flat for it)
    points, body = slab()
    body.pin(np.flatnonzero(points[:, 0] < -S / 2 + 1e-9))
    ent = app.spawn(body, Name("slab"))
    tool(app, "scissors", "scissors", jaw_length=0.06, cut_radius=0.006)
    (ev,) = snip(app, (0.001, T / 2, -S / 2 - 0.01), ALONG_Z)  # right through: two halves
    assert len(ev.pieces) == 1
    app.resource(SoftBodySettings).gravity[:] = (0.0, -G, 0.0)
    app.step(1)
    free = app.get(ev.pieces[0], SoftBody)
    assert not free.pinned.any() and body.pinned.any()
    y0, y_pinned = free.x[:, 1].mean(), body.x[:, 1].mean()
    frames = 27  # 0.3 s
    app.step(frames)
    t = frames / 90.0
    drop = y0 - free.x[:, 1].mean()
    assert 0.8 * 0.5 * G * t * t < drop < 1.2 * 0.5 * G * t * t + 0.01  # free fall (plus its start speed)
    assert y_pinned - body.x[:, 1].mean() < drop / 3  # the pinned half hangs on, it does not fall away
    assert ent in bodies(app)
    assert_sound(app)
    app.close()


def test_a_cut_through_a_grasp_keeps_both_lips_held() -> None:
    app = make_app(gravity=False)
    points, body = slab()
    body.pin(np.flatnonzero(np.abs(points[:, 0]) > S / 2 - 1e-9))  # held at both ends
    ent = app.spawn(body, Name("slab"))
    grasper = tool(app, "grasper", "left", jaw_length=0.01)
    # the grasp presses the slab ~3 mm down around the blade line: a reach that covers it
    tool(app, "scissors", "scissors", jaw_length=0.035, cut_radius=0.009)
    down = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])
    hinge = np.array([0.0, T + 0.008, 0.0])
    drive(app, "left", hinge, down, 0.0)
    app.step(2)
    drive(app, "left", hinge, down, 1.0)
    app.step(1)
    world = app.resource(InstrumentWorld)
    held0 = world.grasps[grasper].idx.copy()
    assert held0.size > 0 and np.all(np.abs(body.x[held0, 0]) < 0.008)
    # a slit from the z = -2 cm edge through the grasp (at z = 0) to z = +5 mm
    (ev,) = snip(app, (0.001, T / 2, -S / 2 - 0.01), ALONG_Z)
    assert ev.body == ent and ev.pieces == ()
    app.step(1)
    g = world.grasps[grasper]
    assert g.body == ent and app.get(grasper, Instrument).grasping == ent
    # the grasp still holds its vertices (and any copy the cut made of them), on both lips
    held = np.unique(body.rest_points[g.idx].round(9), axis=0).shape[0]
    assert g.idx.size >= held0.size and held == held0.size
    x_rest = body.rest_points[g.idx, 0]
    assert (x_rest < 0.001).any() and (x_rest > 0.001).any()
    assert np.array_equal(np.sort(body.attachment.indices), np.sort(g.idx))
    # lift the grasper: both lips follow it
    before = body.x[g.idx].copy()
    drive(app, "left", hinge + [0.0, 0.005, 0.0], down, 1.0)
    app.step(3)
    assert np.allclose(body.x[g.idx] - before, [0.0, 0.005, 0.0], atol=1e-4)
    assert_sound(app)
    app.close()


def test_a_cut_through_a_ligament_patch_keeps_both_pieces_held() -> None:
    app = make_app(gravity=True)
    points, body = slab()
    # held by its underside around the cut line: the patch spans both sides of the cut
    patch = attach_ligament_patch(body, (0.0, 0.0, 0.0), radius=0.03, stiffness=2.0e6)
    k0 = float(np.sum(1.0 / patch.compliance))
    ent = app.spawn(body, Name("slab"))
    tool(app, "scissors", "scissors", jaw_length=0.06, cut_radius=0.006)
    app.step(20)
    (ev,) = snip(app, (0.001, T / 2, -S / 2 - 0.01), ALONG_Z)
    assert len(ev.pieces) == 1
    app.step(1)
    found = bodies(app)
    patches = [c for b in found.values() for c in b.constraints if isinstance(c, LigamentPatch)]
    assert len(patches) == 2  # one per piece
    k = sum(float(np.sum(1.0 / p.compliance)) for p in patches)
    assert abs(k - k0) < 1e-9 * k0  # the cut springs went to both copies in parallel
    y = {e: b.x[:, 1].mean() for e, b in found.items()}
    app.step(30)
    for e, b in bodies(app).items():
        assert abs(b.x[:, 1].mean() - y[e]) < 0.002, "a piece fell although the ligament holds it"
    assert ent in found
    assert_sound(app)
    app.close()


def closed_and_oriented(tri: np.ndarray) -> bool:
    """Every directed edge once and its reverse once: each edge shared by exactly two faces,
    consistently oriented (a closed, oriented surface)."""
    directed = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    fwd = {tuple(e) for e in directed.tolist()}
    return len(fwd) == len(directed) and all((b, a) in fwd for a, b in fwd)


def test_an_embedded_surface_gets_cut_faces_and_each_piece_stays_closed() -> None:
    app = make_app(gravity=False)
    points, body = slab()
    mesh = box_tets((S, T, S), (8, 2, 8), origin=(-S / 2, 0.0, -S / 2))
    # a render surface inside the tet mesh (as an organ's skin inside its coarse cage)
    surface = SurfaceMesh(mesh.points * [0.99, 0.9, 0.99] + [0.0, 0.0002, 0.0], mesh.boundary_triangles())
    emb = embed_surface(surface, body)
    assert closed_and_oriented(emb.triangles)
    ent = app.spawn(body, Name("slab"), emb)
    tool(app, "scissors", "scissors", jaw_length=0.06, cut_radius=0.006)
    (ev,) = snip(app, (0.001, T / 2, -S / 2 - 0.01), ALONG_Z)  # through: the plane x = 1 mm
    app.step(1)
    other = ev.pieces[0]
    e0, e1 = app.get(ent, EmbeddedSurface), app.get(other, EmbeddedSurface)
    assert e0 is emb  # rebound in place
    cap_area = []
    for e, sb in ((e0, body), (e1, app.get(other, SoftBody))):
        assert e.tet_index.max() < sb.n_tets and e.triangles.max() < len(e.positions)
        assert closed_and_oriented(e.triangles)  # cut faces close each piece's surface
        assert e.outside_distance.max() < 1e-12  # the new vertices are embedded inside tets of their piece
        rest = np.einsum("ik,ikj->ij", e.bary, sb.rest_points[sb.tets[e.tet_index]])
        x = rest[:, 0] - 0.001
        assert np.all(x >= -1e-12) or np.all(x <= 1e-12)  # every vertex on its piece's side of the plane
        on = np.abs(x[e.triangles]).max(axis=1) < 1e-12
        p = rest[e.triangles[on]]
        n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        cap_area.append(0.5 * np.linalg.norm(n, axis=1).sum())
        # the cap faces out of its piece: -x on the x > 1 mm piece, +x on the other
        assert np.all(np.sign(n[:, 0]) == (-1.0 if x.max() > 1e-12 else 1.0))
    # both caps are the surface's cross-section at x = 1 mm: 0.9 T x 0.99 S
    assert cap_area == pytest.approx([0.9 * T * 0.99 * S] * 2, rel=1e-9)
    app.close()


def test_a_cut_through_a_ligament_patch_keeps_the_cut_surface_held() -> None:
    """A cut through the held face adds points on its edges; each point between two held
    vertices is held too (as a point between two pinned vertices is pinned), by a spring to its
    rest position taken from the two ends' springs (the lumped-area rule: the patch's total
    stiffness unchanged). Before, those points were left free on the attached face, and a sliver
    between them and the held tissue could stay inverted (the scissors novice on the gallbladder's
    ligament patch, docs/laparoscopy.md)."""
    body = SoftBody.from_mesh(box_tets((0.03, 0.012, 0.024), (5, 2, 4)), TISSUE)
    patch = attach_ligament_below(body, 1e-6, stiffness=1.0e6)  # the underside, y = 0
    k0 = float(np.sum(1.0 / patch.compliance))
    # a blade plane across the underside, between vertex planes (x = 13.5 mm on the 6 mm grid) and
    # oblique, so it crosses the underside's edges
    normal = np.array([1.0, 0.0, 0.3]) / np.hypot(1.0, 0.3)
    cut_body(body, np.array([0.0135, 0.006, -0.01]), np.array([0.0135, 0.006, 0.034]), normal, 0.05)
    patches = [c for c in body.constraints if isinstance(c, LigamentPatch)]
    held = np.zeros(body.n_vertices, dtype=bool)
    for c in patches:
        held[c.indices] = True
        np.testing.assert_allclose(c.anchors, body.rest_points[c.indices], atol=1e-12)  # springs to rest
    k = sum(float(np.sum(1.0 / c.compliance)) for c in patches)
    assert abs(k - k0) < 1e-9 * k0  # the patch's total stiffness is unchanged
    on_face = np.flatnonzero(np.abs(body.rest_points[:, 1]) < 1e-9)
    born = on_face[on_face >= 6 * 3 * 5]  # the points the cut added there (after the box's 90)
    assert born.size > 0  # the cut crossed the underside's edges
    assert held[on_face].all(), body.rest_points[on_face[~held[on_face]]]
