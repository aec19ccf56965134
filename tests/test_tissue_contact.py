"""Contact that holds or punctures (issue #16, item 3).

A 5 mm sphere is pressed down into a 6 cm liver-like block (E 5.4 kPa, bottom pinned, 8^3
cells) and into the SOFA liver mesh scaled to 0.2 m (lowest 10 % pinned). With
``Material.puncture_force`` the collision system sends one ``TissuePunctured`` when the tool's
contact force passes it and lets that tool through; the tissue relaxes, nothing snaps. Without a
threshold a press of 40 mm (or until the tool feels 10 N) holds at 0.5 and 2 m/s: no sampled
surface point gets 0.5 mm (10 % of the radius) into the tool, the tissue does not close over it,
and no vertex moves faster than 4x the tool (10x for the box at 0.5 m/s, see the test), no
vertex a contact moved faster than 1.5x. (One Gauss-Seidel pass over the contacts let the
surface 3 mm into the tool: pushing one face out moved vertices it shares with its neighbours
back in; the contacts now iterate.) The velocity pass after the projection (restitution 0 and
Coulomb friction relative to the tool) is checked against a stationary shaft struck at 4 m/s
(the tissue sticks instead of sliding along it) and a moving table under a block (mu g t, the
analytic Coulomb answer, up to the table's speed).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pytest

from vrmed import App
from vrmed.benchmarks import mesh_path
from vrmed.benchmarks.tissue_catalogue import signed_cover
from vrmed.components.collision.collider import Collider
from vrmed.components.scene.core import Name, Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.errors import VrmedError
from vrmed.mesh import TetMesh, box_tets, load_tet_mesh
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import (
    CollisionPlugin,
    CollisionSettings,
    CollisionWorld,
    TissuePunctured,
    ToolInsideTissue,
)
from vrmed.systems.tissue.solver import (
    STANDARD_GRAVITY,
    WARM_FULL,
    SoftBodyPlugin,
    SoftBodySettings,
    step_softbody,
    volume_ratios,
)

LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
SIDE, R, DEPTH = 0.06, 0.005, 0.04
#: the velocity-pass buffers of kernels._push_triangle, with no rows: record nothing
NO_RECORD = (
    np.zeros((0, CK.CBUF_COLS)),
    np.zeros(0, dtype=np.int64),
    np.zeros(4, dtype=np.int64),
    np.zeros((0, CK.CREC_COLS)),
    False,
)
_g = np.array([(i / 8, j / 8) for i in range(9) for j in range(9 - i)])
SAMPLES = np.stack([1 - _g.sum(1), _g[:, 0], _g[:, 1]], axis=1)  # barycentric samples per face


def inside_surface(tri: np.ndarray, point: np.ndarray) -> bool:
    """Whether ``point`` is inside the closed triangle surface ``tri`` (F, 3, 3): odd number of
    crossings of a ray (Moller-Trumbore, all faces at once; the direction is skewed so that it
    misses edges and vertices of the axis-aligned meshes)."""
    d = np.array([0.0131, 1.0, 0.0077])
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    pv = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, pv)
    ok = np.abs(det) > 1e-18
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    tv = point - tri[:, 0]
    u = np.einsum("ij,ij->i", tv, pv) * inv
    qv = np.cross(tv, e1)
    v = (qv @ d) * inv
    t = np.einsum("ij,ij->i", e2, qv) * inv
    hits = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return bool(hits.sum() % 2)


def liver_mesh() -> TetMesh:
    """The SOFA liver (benchmarks/meshes/liver.msh) scaled to 0.2 m, lowest point at y = 0."""
    mesh = load_tet_mesh(mesh_path("liver.msh"))
    p = mesh.points - mesh.points.mean(axis=0)
    p *= 0.2 / np.ptp(p, axis=0).max()
    p[:, 1] -= p[:, 1].min()
    mesh.points = p
    return mesh


def press(
    speed: float,
    material: Material,
    depth: float = DEPTH,
    mesh: str = "box",
    max_force: float = 10.0,
    passes: int = 8,
    velocity_pass: bool = True,
    release: bool = False,
    cells: int = 8,
    lift: bool = False,
    rest: int = 90,
    refine: bool = False,
    refine_max_ratio: float = WARM_FULL,
    physics_rate: int = 900,
    recover: bool = True,
) -> dict:
    """Press the sphere ``depth`` below the surface's top at ``speed`` (or until it feels
    ``max_force`` N), hold 0.3 s, with ``passes`` contact iterations (and the velocity pass or
    not), the box meshed with ``cells`` cells a side; return measurements. With ``release`` the
    tool then goes back up at ``speed`` to 10 mm above where it started and the tissue rests
    ``rest`` frames (1 s): ``inverted_rest`` (tets inverted at the end), ``v_rest`` (fastest vertex then, m/s) and
    ``vmax_release`` (fastest vertex while the tool left and the tissue rested). With ``lift``
    the tool is instead taken 1 m away at once (no contact on the way out) and the tissue rests
    ``rest`` frames: the same keys, ``vmax_release`` the fastest vertex in that second. With
    ``refine`` the contact refines the mesh under the tool (``CollisionSettings.refine``,
    children up to ``refine_max_ratio``); ``physics_rate`` (Hz) sets the ticks (one substep and
    contact pass each), ``recover`` the body's inversion recovery. Also returned:
    ``vmax_interior`` (the fastest vertex not on the body's boundary), ``vmax_moved`` (the
    fastest vertex by its displacement over a frame / frame time: ``v`` is the last
    substep's), ``tets`` (after the press), ``tets_before`` and ``ms_per_frame`` (wall time of
    the press, for paired comparisons)."""
    app = App(seed=0, rates={"physics": physics_rate})  # ticks (one substep and contact pass each) per s
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(
        CollisionPlugin(
            CollisionSettings(
                iterations=passes, velocity_pass=velocity_pass, refine=refine, refine_max_ratio=refine_max_ratio
            )
        )
    )
    if mesh == "box":
        m = box_tets((SIDE, SIDE, SIDE), (cells, cells, cells), origin=(-SIDE / 2, 0.0, -SIDE / 2))
        pins = np.flatnonzero(m.points[:, 1] < 1e-9)
    else:
        m = liver_mesh()
        pins = np.flatnonzero(m.points[:, 1] < 0.1 * m.points[:, 1].max())
    body = SoftBody.from_mesh(m, material, pins=pins, velocity_damping=2.0)
    body.recover_inversions = recover
    ent = app.spawn(body)
    app.step(1)
    world = app.resource(CollisionWorld)
    hit = world.raycast(app, np.array([0.001, 1.0, 0.002]), np.array([0.0, -1.0, 0.0]))
    assert hit is not None
    y0 = hit.point[1] + R + 0.001
    tool = app.spawn(Transform(position=np.array([0.001, y0, 0.002])), Collider(shape="sphere", radius=R))
    punctures = app.event_reader(TissuePunctured)
    inserted = app.event_reader(ToolInsideTissue)  # a held press sends neither (no push-through)
    tets_before = body.n_tets
    app.step(1)
    tf = app.get(tool, Transform)
    out = {"inside": 0.0, "vmax": 0.0, "vmax_contact": 0.0, "vmax_interior": 0.0, "events": [], "max_force": 0.0}
    stopped = False
    frames = int(depth / (speed / 90)) + 27
    start = time.perf_counter()
    for _ in range(frames):
        last = body.x.copy()
        if not stopped:
            tf.position[1] = max(tf.position[1] - speed / 90, y0 - R - 0.001 - depth)
        app.step(1)
        out["events"] += punctures.read()
        out["events"] += inserted.read()
        out["vmax"] = max(out["vmax"], float(np.abs(body.v).max()))
        moved = np.linalg.norm(body.x[: last.shape[0]] - last, axis=1) * 90  # the kept vertices
        out["vmax_moved"] = max(out.get("vmax_moved", 0.0), float(moved.max()))
        surf = world.surfaces[ent]  # rebuilt when the contact refines the body
        faces = surf.faces
        interior = np.ones(body.n_vertices, dtype=bool)
        interior[surf.verts] = False
        if interior.any():
            out["vmax_interior"] = max(out["vmax_interior"], float(np.abs(body.v[interior]).max()))
        touched = surf.clist[: surf.ccount[0]]  # the vertices the last tick's contacts moved
        if touched.size:
            out["vmax_contact"] = max(out["vmax_contact"], float(np.linalg.norm(body.v[touched], axis=1).max()))
        f = world.owner_force.get(tool)
        if f is not None:
            out["max_force"] = max(out["max_force"], float(np.linalg.norm(f)))
            stopped = stopped or out["max_force"] >= max_force
        if not out["events"]:
            pts = np.einsum("sk,fkc->fsc", SAMPLES, body.x[faces]).reshape(-1, 3)
            out["inside"] = max(out["inside"], R - float(np.linalg.norm(pts - tf.position, axis=1).min()))
        assert np.all(np.isfinite(body.x))
    out["ms_per_frame"] = (time.perf_counter() - start) / frames * 1e3
    out["swallowed"] = inside_surface(body.x[world.surfaces[ent].faces], tf.position)
    out["inverted"] = int((volume_ratios(body) <= 0).sum())
    out["tets_before"], out["tets"] = tets_before, body.n_tets
    if release:
        out["vmax_release"] = 0.0
        top = y0 + 0.01
        for _k in range(int((top - tf.position[1]) / (speed / 90)) + 1 + rest):
            tf.position[1] = min(tf.position[1] + speed / 90, top)
            app.step(1)
            out["vmax_release"] = max(out["vmax_release"], float(np.abs(body.v).max()))
        out["inverted_rest"] = int((volume_ratios(body) <= 0).sum())
        out["v_rest"] = float(np.abs(body.v).max())
    elif lift:
        out["vmax_release"] = 0.0
        tf.position[1] = 1.0
        for _k in range(rest):
            app.step(1)
            out["vmax_release"] = max(out["vmax_release"], float(np.abs(body.v).max()))
        out["inverted_rest"] = int((volume_ratios(body) <= 0).sum())
        out["v_rest"] = float(np.abs(body.v).max())
    app.close()
    return out


def test_a_moderate_press_holds_without_a_puncture_threshold() -> None:
    """10 mm at 0.5 m/s: the contact holds (no sampled surface point inside the tool) and no
    vertex moves faster than twice the tool."""
    r = press(0.5, LIVER, depth=0.01)
    assert not r["events"]
    assert r["inside"] < 5e-4, f"{r['inside'] * 1e3:.2f} mm inside the tool"
    assert r["vmax"] < 2.0 * 0.5


@pytest.mark.parametrize(
    ("speed", "mesh", "speed_ratio"),
    # the 0.5 m/s box press 40 mm deep keeps the surface out but throws vertices at up to 8.8x
    # the tool (measured; 1.3x to 8.8x as the solver changed): an interior vertex squeezed past
    # the 5 mm sphere through inverted tets (the 7.5 mm cells are coarser than the tool), which
    # no contact touches; open, docs/physics.md
    [(0.5, "box", 10.0), (2.0, "box", 4.0), (0.5, "liver", 4.0), (2.0, "liver", 4.0)],
)
def test_deep_press_holds_without_a_puncture_threshold(speed: float, mesh: str, speed_ratio: float) -> None:
    """40 mm deep or 10 N. Before the contacts iterated (one pass): 0.6 / 1.9 / 3.1 mm of surface
    inside the tool 20 / 30 / 40 mm deep in the box, vertices at up to 16x the tool speed."""
    r = press(speed, LIVER, mesh=mesh)
    assert not r["events"]
    assert r["inside"] < 5e-4, f"{r['inside'] * 1e3:.2f} mm inside the tool"
    assert r["vmax"] < speed_ratio * speed
    # the vertices the contacts move leave at most 1.5x the tool's speed (velocity pass: no
    # outward speed from the push; measured 1.39x / 1.00x / 1.18x / 1.00x, without it 3.2x / 1.7x
    # / 1.6x / 1.2x)
    assert r["vmax_contact"] <= 1.5 * speed
    assert r["max_force"] > 1.0  # it really pressed
    assert not r["swallowed"]  # the tissue did not close over the tool (its centre is outside)
    # what the vertices really do: the fastest displacement over a frame stays within 3.5x the
    # tool (measured 2.77x / 1.26x / 2.39x / 1.14x; the box's 6.6x last-substep velocity above
    # is an oscillation within the frame, docs/physics.md "Refinement where a tool presses")
    assert r["vmax_moved"] < 3.5 * speed


def test_a_press_refined_under_the_tool_answers_as_the_unrefined_one() -> None:
    """The liver (24-52 mm edges under the 5 mm sphere) pressed 40 mm at 0.5 m/s with
    ``CollisionSettings.refine``: the contact refines it where the tool lands (596 -> 630 tets
    measured) and the press holds as without (measured: the same fastest vertex, force within
    1.2 %); the coarse box is not refined at the default substeps (its children would be too
    stiff for the solver, docs/physics.md "Refinement where a tool presses")."""
    plain = press(0.5, LIVER, mesh="liver")
    fine = press(0.5, LIVER, mesh="liver", refine=True)
    assert fine["tets"] > fine["tets_before"] == plain["tets"]
    assert not fine["events"] and not fine["swallowed"]
    assert fine["inside"] < 5e-4 and fine["inverted"] == 0
    assert fine["vmax_moved"] < 3.5 * 0.5 and fine["vmax"] < 4.0 * 0.5
    assert fine["max_force"] == pytest.approx(plain["max_force"], rel=0.05)


def test_a_fold_the_tool_leaves_behind_opens_once_the_tool_is_gone() -> None:
    """30 mm at 0.5 m/s (19 tets inverted under the 5 mm sphere, smaller than the 7.5 mm cells),
    then the tool is taken away: without the untangling (kernels.untangle) 2 tets stayed inverted
    for good (measured at 1 s and 2 s); with it none, and the tissue comes to rest (0.028 m/s
    after 1 s at 2 /s velocity damping, measured)."""
    r = press(0.5, LIVER, depth=0.03, lift=True)
    assert r["inverted"] > 0  # the press really folded tets
    assert r["inverted_rest"] == 0
    assert r["v_rest"] < 0.05


def test_a_released_press_leaves_no_fold_and_comes_to_rest() -> None:
    """40 mm at 2 m/s, then the tool goes back up at its speed and the tissue rests 3 s: no tet
    inverted (16 were under the tool) and no vertex faster than 0.01 m/s (2 /s velocity damping;
    measured 0.0014 m/s)."""
    r = press(2.0, LIVER, depth=0.04, release=True, rest=270)
    assert r["inverted"] > 0  # the press really folded tets under the tool
    assert r["inverted_rest"] == 0
    assert r["v_rest"] < 0.01


def test_a_fold_the_tool_made_does_not_catch_the_retracting_tool() -> None:
    """20 mm at 0.5 m/s, then the tool goes back up at 0.5 m/s and the tissue rests 3 s: no tet
    inverted and at rest. Before the contact pass skipped a fold's flipped faces the tool was
    already behind (kernels.mark_fold), the retracting tool dragged them up: 11 tets inverted and
    a vertex at 0.9 m/s for good."""
    r = press(0.5, LIVER, depth=0.02, release=True, rest=270)
    assert r["inverted"] > 0, "the press must fold the top layer (the tool is smaller than the cells)"
    assert r["inverted_rest"] == 0 and r["v_rest"] < 0.01


def test_a_contact_next_to_held_vertices_moves_no_vertex_far() -> None:
    """A contact point on a triangle whose free vertex has a tiny barycentric weight (the others
    attached) would move that vertex by depth / weight (1e12 m was measured, then NaN); the
    projection moves no vertex more than MAX_STEP x the depth."""
    x = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.0, 0.01]])
    x_prev, v = x.copy(), np.zeros((3, 3))
    w = np.zeros((3, 3))
    w[2] = 1.0 / 1e-4  # only vertex 2 is free
    b = 1e-9  # its barycentric weight at the contact point
    lam, _lt, _t = CK._push_triangle(
        x, v, x_prev, w, 0, 1, 2, 0.5, 0.5 - b, b, (0.0, 1.0, 0.0), 0.002, (0.0, 0.0, 0.0), 0.0, 900.0, *NO_RECORD
    )
    assert np.all(np.isfinite(x))
    assert np.abs(x - x_prev).max() <= CK.MAX_STEP * 0.002 * (1 + 1e-12)
    # an ordinary contact (free vertices, centroid) is projected exactly: the point moves by the depth
    x, v, w = x_prev.copy(), np.zeros((3, 3)), np.full((3, 3), 1e4)
    CK._push_triangle(
        x, v, x_prev, w, 0, 1, 2, 1 / 3, 1 / 3, 1 / 3, (0.0, 1.0, 0.0), 0.002, (0.0, 0.0, 0.0), 0.0, 900.0, *NO_RECORD
    )
    assert (x - x_prev)[:, 1].mean() == pytest.approx(0.002, rel=1e-12)


def test_a_contact_whose_only_free_vertex_has_a_negative_weight_is_skipped_not_a_crash() -> None:
    """A contact point rounded just off its face (the free corner's barycentric weight -1e-6,
    the others attached): the push would move that corner towards the tool by depth / weight;
    it divided by the largest positive weight, zero, and the ZeroDivisionError from the compiled
    solve ended a scissors dissection session (start +15 ms, t = 10.6 s). The contact is skipped
    (the face's neighbours hold it): nothing moves."""
    x = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.0, 0.01]])
    x_prev, v = x.copy(), np.zeros((3, 3))
    w = np.zeros((3, 3))
    w[2] = 1.0 / 1e-4  # only vertex 2 is free
    bary = (0.5, 0.5 + 1e-6, -1e-6)  # the free corner's weight just below zero
    lam, lt, _t = CK._push_triangle(
        x, v, x_prev, w, 0, 1, 2, *bary, (0.0, 1.0, 0.0), 0.002, (0.0, 0.0, 0.0), 0.5, 900.0, *NO_RECORD
    )
    assert lam == lt == 0.0 and np.array_equal(x, x_prev) and not v.any()


def test_deep_press_punctures_at_the_material_threshold() -> None:
    threshold = 0.3  # N
    r = press(0.5, dataclasses.replace(LIVER, puncture_force=threshold))
    assert len(r["events"]) == 1
    ev = r["events"][0]
    assert ev.force > ev.threshold == threshold
    assert r["inside"] < 5e-4  # held until the puncture
    assert r["vmax"] < 4.0 * 0.5  # the tissue relaxes around the inserted tool, nothing snaps
    assert r["inverted"] == 0


# -- velocity-level contact response (issue #16 item 3: no sliding, no flung vertices) --------------

ALONG_X = np.array([0.0, np.sqrt(0.5), 0.0, np.sqrt(0.5)])  # a capsule's local z axis along world x


def strike(friction: float, velocity_pass: bool = True, vn: float = 4.0, vt: float = 0.5, **settings: bool) -> dict:
    """A free 2 cm liver-like block (4^3 cells, no gravity) flying at ``vn`` m/s onto a
    stationary 10 mm-radius capsule lying along x, with ``vt`` m/s along the capsule's axis
    (``settings``: further :class:`CollisionSettings`).
    Returns how far the vertex that strikes first (the middle of the bottom face) slid along the
    axis while it touched the capsule, the frames it touched, the fastest vertex and the fastest
    vertex the contacts moved (after a frame's last tick)."""
    rc, s = 0.01, 0.02
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin(CollisionSettings(velocity_pass=velocity_pass, **settings)))
    m = box_tets((s, s, s), (4, 4, 4), origin=(-s / 2, rc + 0.0005, -s / 2))
    body = SoftBody.from_mesh(m, LIVER, velocity_damping=2.0)
    ent = app.spawn(body)
    body.v[:] = (vt, -vn, 0.0)
    app.spawn(
        Transform(position=np.zeros(3), orientation=ALONG_X),
        Collider(shape="capsule", radius=rc, half_length=0.1, friction=friction),
    )
    k = int(np.argmin(np.linalg.norm(m.points - [0.0, rc + 0.0005, 0.0], axis=1)))
    world = app.resource(CollisionWorld)
    out = {"slide": 0.0, "vmax": 0.0, "vmax_contact": 0.0, "touched": 0}
    for _ in range(8):
        app.step(1)
        surf = world.surfaces[ent]
        touched = surf.clist[: surf.ccount[0]]  # the vertices the last tick's contacts moved
        if k in touched:
            out["touched"] += 1
            out["slide"] = max(out["slide"], abs(body.x[k, 0] - m.points[k, 0]))
        speed = np.linalg.norm(body.v, axis=1)
        out["vmax"] = max(out["vmax"], float(speed.max()))
        if touched.size:
            out["vmax_contact"] = max(out["vmax_contact"], float(speed[touched].max()))
        assert np.all(np.isfinite(body.x))
    app.close()
    return out


def test_tissue_striking_a_stationary_shaft_does_not_slide_along_it() -> None:
    """4 m/s onto the shaft with 0.5 m/s along it: frictionless, the struck vertex slides 6.7-7.9
    mm along the axis while it touches; with Coulomb friction 0.3 (the impact's normal impulse
    of 4 m/s allows up to 1.2 m/s of tangential change) it sticks: 0.2-0.45 mm (measured, as the
    tissue solver changed). No vertex the contacts move leaves faster than the strike (1.1-1.4
    m/s for the 4.03 m/s strike; the projection alone, ``dx / h``, threw them at 2.5-5.4 m/s
    depending on the solver's state)."""
    free = strike(0.0)
    held = strike(0.3)
    assert free["touched"] and held["touched"]
    assert free["slide"] > 3e-3, f"{free['slide'] * 1e3:.2f} mm"  # the control: it does slide
    assert held["slide"] < 1e-3, f"{held['slide'] * 1e3:.2f} mm"
    assert held["slide"] < free["slide"] / 5
    assert held["vmax_contact"] <= np.hypot(4.0, 0.5) * 1.05


def conveyor(friction: float, speed: float, frames: int) -> np.ndarray:
    """A free 2 cm liver-like block (3^3 cells, no velocity damping) resting under gravity on a
    wide box that then moves along x at ``speed``; the block's mass-weighted mean x velocity
    after each frame."""
    s = 0.02
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=STANDARD_GRAVITY)))
    app.add_plugin(CollisionPlugin())
    body = SoftBody.from_mesh(box_tets((s, s, s), (3, 3, 3), origin=(-s / 2, 0.0, -s / 2)), LIVER, velocity_damping=0.0)
    app.spawn(body)
    table = app.spawn(
        Transform(position=np.array([0.0, -0.01, 0.0])),
        Collider(shape="box", half_extents=np.array([0.2, 0.01, 0.05]), friction=friction),
    )
    tf = app.get(table, Transform)
    mass = 1.0 / body.inv_mass[:, 0]
    app.step(30)  # settle on the table
    vx = np.zeros(frames)
    for f in range(frames):
        tf.position[0] += speed / 90
        app.step(1)
        vx[f] = float(mass @ body.v[:, 0] / mass.sum())
    app.close()
    return vx


def test_a_moving_tool_drags_tissue_at_the_coulomb_limit_up_to_its_own_speed() -> None:
    """A table sliding under a resting block (normal force m g) accelerates it at exactly mu g
    (Coulomb kinetic friction, the analytic answer v = mu g t) until the block moves with the
    table (static friction). Measured: mu g t within 2.3 % in the first frame and 1 % after at
    mu 0.1 over 12 frames; at mu 0.3 the block reaches the table's 0.3 m/s after ~0.1 s and moves
    with it (mean of the last 8 frames 0.300 m/s, the block's elastic ringing about it -9..+11 %);
    frictionless it stays put (1e-12 m/s)."""
    t = np.arange(1, 13) / 90
    slow = conveyor(0.1, 0.3, 12)
    np.testing.assert_allclose(slow, 0.1 * 9.80665 * t, rtol=0.03, atol=2e-3)
    fast = conveyor(0.3, 0.3, 18)
    assert fast[2] == pytest.approx(0.3 * 9.80665 * 3 / 90, rel=0.03)
    assert fast[10:].mean() == pytest.approx(0.3, rel=0.05)  # then moves with it (+-11 % ringing)
    assert np.abs(conveyor(0.0, 0.3, 6)).max() < 1e-3


def test_a_shaft_along_a_face_normal_pushes_the_face_sideways_not_along_the_shaft() -> None:
    """A triangle pierced by a capsule along its normal was pushed along the shaft by a radius a
    pass and never cleared it (a clip applier's jaws swept through a strip's edge at 5.4 m/s and
    the strip then slid 33 mm a frame along the stationary shaft); the push is radial now."""
    x = np.array([[-0.002, -0.002, 0.0], [0.008, -0.002, 0.0], [-0.002, 0.008, 0.0]])
    x_prev, v, w = x.copy(), np.zeros((3, 3)), np.full((3, 3), 1e4)
    faces = np.array([[0, 1, 2]], dtype=np.int64)
    P = 1
    seg_a, seg_b = np.array([[0.0, 0.0, -0.03]]), np.array([[0.0, 0.0, 0.03]])
    zeros3, eye = np.zeros((P, 3)), np.tile(np.eye(3), (P, 1, 1))
    pair0 = np.zeros(1, dtype=np.int64)  # the one pair: primitive 0, face 0
    CK.solve_contacts(
        x, v, x_prev, w, faces, 1.0, 1, pair0, pair0, np.full(P, CK.KIND_CAPSULE), seg_a, seg_b, seg_a.copy(),
        seg_b.copy(), np.full(P, 0.0025), zeros3, zeros3, eye, np.ones((P, 3)), np.zeros(P), 1 / 900,
        np.zeros((P, 3)), np.zeros(P, dtype=np.int64), np.zeros(P), 8, 1e-5, np.zeros(1, dtype=np.int64),
        np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.bool_), np.zeros((0, 4), dtype=np.int64),
        np.zeros(0, dtype=np.int64), *NO_RECORD[:4], CK.STILL_FRACTION, True,
    )  # fmt: skip
    # still and past_push passed at their defaults, as the collision system passes them: left out,
    # they made a version of solve_contacts for this test alone (~10 s of compiling)
    moved = x - x_prev
    assert np.abs(moved[:, 2]).max() == 0.0  # nothing along the shaft
    assert np.linalg.norm(moved[:, :2], axis=1).max() > 1e-3  # pushed off it sideways


@pytest.mark.parametrize(
    ("vn", "e", "mu", "expect_n", "expect_t"),
    [
        (-2.0, 0.0, 0.3, 0.0, 1.0 - 0.3 * 2.0),  # stops; kinetic friction takes mu x 2 m/s
        (-2.0, 0.5, 0.3, 1.0, 1.0 - 0.3 * 3.0),  # bounces at e x 2; the impulse is (1 + e) x 2
        (-2.0, 0.0, 0.6, 0.0, 0.0),  # mu x 2 >= 1: sticks
        (0.5, 0.0, 0.3, 0.5, 1.0),  # already separating: kept, no impulse, no friction
        (-0.01, 0.5, 0.3, 0.0, 1.0 - 0.3 * 0.01),  # below 2 |g| h of approach: no bounce
    ],
)
def test_the_velocity_pass_is_restitution_and_coulomb_relative_to_the_tool(
    vn: float, e: float, mu: float, expect_n: float, expect_t: float
) -> None:
    """One vertex, one contact (normal +y), tool moving at u = (0.2, 0.1, 0) m/s: the relative
    normal velocity becomes max(-e vn0, vn0, 0) and the relative tangential one shrinks by
    mu x the normal change (Coulomb), whatever the projection's push had made of it."""
    h = 1 / 900
    u = np.array([0.2, 0.1, 0.0])
    v = (u + [1.0, vn, 0.0] + [0.0, 0.3, -0.05])[None, :]  # the push left 0.3 m/s out, 0.05 sideways
    w = np.full((1, 3), 1e4)
    cbuf = np.zeros((1, CK.CBUF_COLS))
    cbuf[0, :3] = (0.0, 0.3 * h, -0.05 * h)  # the projection's displacement, all of it
    cbuf[0, 4:7] = (0.0, 0.0, -0.05 * h)  # of which friction
    crec = np.array([[0.0, 0.0, 1.0, 0.0, *u, mu]])
    CK.contact_velocities(
        v, w, cbuf, np.zeros(1, dtype=np.int64), np.array([1, 0, 1, 0]), crec, 1 / h, e, 2 * 9.80665 * h
    )
    rel = v[0] - u
    assert rel[1] == pytest.approx(expect_n, abs=1e-12)
    assert rel[0] == pytest.approx(expect_t, abs=1e-12) and rel[2] == pytest.approx(0.0, abs=1e-12)


# -- a tool that starts inside the tissue (issue #16 item 3: outside, or an event and inserted) -----


@pytest.mark.parametrize("shape", ["sphere", "box"])
def test_a_tool_found_inside_the_tissue_is_reported_and_inserted_then_held_once_outside(shape: str) -> None:
    """A 5 mm sphere (or 10 mm cube) spawned with its centre 10 mm under the block's top meets no
    face within its radius, so no contact ever saw it: before the fix it crossed the block at
    2 m/s with no event and no warning. It must be taken as inserted at its first frame (one
    ``ToolInsideTissue`` naming it and the body, a warning naming both, no puncture: the
    material has no threshold), pass through without dragging the tissue, be forgotten once out,
    and then be held by the contact like any other tool when it is pressed onto the top."""
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin())
    m = box_tets((SIDE, SIDE, SIDE), (8, 8, 8), origin=(-SIDE / 2, 0.0, -SIDE / 2))
    body = SoftBody.from_mesh(m, LIVER, pins=np.flatnonzero(m.points[:, 1] < 1e-9), velocity_damping=2.0)
    ent = app.spawn(body, Name("block"))
    col = Collider(shape="sphere", radius=R) if shape == "sphere" else Collider(shape="box", half_extents=(R, R, R))
    tf = Transform(position=np.array([0.001, SIDE - 0.010, 0.002]))
    tool = app.spawn(tf, col, Name("probe"))
    inserted, punctured = app.event_reader(ToolInsideTissue), app.event_reader(TissuePunctured)
    world = app.resource(CollisionWorld)
    with pytest.warns(RuntimeWarning, match=r"tool 'probe' \(entity \d+\) is inside soft body 'block'"):
        app.step(1)
    assert list(inserted.read()) == [ToolInsideTissue(tool, ent)]
    assert tool in world.punctured[ent]
    vmax = 0.0
    for _ in range(3):  # 2 m/s along x: out of the 6 cm block's side
        tf.position[0] += 2.0 / 90
        app.step(1)
        vmax = max(vmax, float(np.abs(body.v).max()))
    assert vmax < 0.01  # passed through: the tissue did not follow the 2 m/s tool
    app.step(1)
    assert not world.punctured.get(ent)  # out of the body: forgotten
    tf.position[1] = SIDE + R + 0.001  # up, then over the top centre
    app.step(1)
    tf.position[[0, 2]] = (0.001, 0.002)
    app.step(1)
    for _ in range(4):  # pressed 5 mm into the top at 0.5 m/s: contact, not a pass-through
        tf.position[1] = max(tf.position[1] - 0.5 / 90, SIDE + R - 0.005)
        app.step(1)
    faces = world.surfaces[ent].faces
    assert np.linalg.norm(world.owner_force[tool]) > 0.1  # 0.28 N (as a tool spawned outside)
    assert not inside_surface(body.x[faces], tf.position)
    assert not list(inserted.read()) and not list(punctured.read())
    app.close()


@pytest.mark.parametrize(
    ("name", "speed", "held"), [("truthcylinder1.msh", 2.0, None), ("raptorTetra_19409.vtu", 0.5, False)]
)
def test_a_tool_the_contacts_cannot_hold_is_never_inside_without_an_event(
    name: str, speed: float, held: bool | None
) -> None:
    """Issue #16 item 3, "no tool inside tissue without a puncture event" (an outside check's R3,
    R4): the shipped mesh scaled to 0.2 m, liver material (no puncture threshold), lowest 10 %
    pinned, no gravity; a 5 mm sphere 3 mm above the top vertex pressed 20 mm down at ``speed``,
    held 0.3 s, lifted back. The contacts push faces past the tool through interior vertices
    they never see (a face 9.5 mm in one tick on the raptor's back), the tets between invert and
    the surface ends turned inside out around the tool (winding number -1): before the check
    the tool's centre was enclosed for 7 (raptor) and 59 (truthcylinder1, also after the tool
    went back to its start pose) frames with no event (now 0; the event at the end of frame 1 /
    2). Every frame whose end shows the centre
    enclosed by the surface (either way round) must come after a ``ToolInsideTissue`` with reason
    ``pushed_through`` (a warning naming tool and body); no ``TissuePunctured`` (no threshold).
    ``held``: truthcylinder1 at 2 m/s was turned inside out around the tool in the hold (the event
    at the end of frame 2) until a face inside out at the substep's start under a still tool was
    pushed out the closest way instead of back into the fold (docs/physics.md "Open in contact"):
    then the centre was never enclosed and there was no event, but 4.37 mm of surface was inside
    the tool at the end of frame 1 (the press is the first 20 mm of ``vrmed bench tool_press
    truthcylinder1``'s at 2 m/s). Since the tets a contact holds keep no slow part of their
    multipliers (``solver.SLOW_HELD``, tests/test_tissue_fast_press.py) the tissue closes over the
    tool at frame 1 and that is reported (``pushed_through`` 3.39 N), as on the raptor; this
    press is chaotic (docs/physics.md "Warm start", "A cost found after"), so which of the two it
    shows is not a property the test can pin, only that no enclosure goes unreported (``held``
    None: either; since the tets of light vertices keep no multipliers, ``solver.LIGHT_WARM``, the
    contacts hold it: never enclosed, no event)."""
    mesh = load_tet_mesh(mesh_path(name))
    p = np.asarray(mesh.points, float)
    p = (p - 0.5 * (p.min(axis=0) + p.max(axis=0))) * (0.2 / np.ptp(p, axis=0).max())
    mesh = TetMesh(points=p, tets=np.asarray(mesh.tets), source=mesh.source)
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin())
    lo, hi = p[:, 1].min(), p[:, 1].max()
    body = SoftBody.from_mesh(mesh, Material(5.4e3, 0.45, 1060.0), pins=np.flatnonzero(p[:, 1] < lo + 0.1 * (hi - lo)))
    ent = app.spawn(body, Name("organ"))
    surface = np.unique(mesh.boundary_triangles())
    top = p[surface[np.argmax(p[surface, 1])]]
    tf = Transform(position=top + np.array([0.0, R + 0.003, 0.0]))
    tool = app.spawn(tf, Collider(shape="sphere", radius=R), Name("probe"))
    inserted, punctured = app.event_reader(ToolInsideTissue), app.event_reader(TissuePunctured)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.step(10)
        step = speed / 90
        n_in = int(np.ceil((0.02 + R + 0.003) / step))
        events: list[ToolInsideTissue] = []
        enclosed = 0
        for k in range(2 * n_in + 27 + 30):
            if k < n_in:
                tf.position[1] -= step
            elif n_in + 27 <= k < 2 * n_in + 27:
                tf.position[1] += step
            app.step(1)
            events += inserted.read()
            if signed_cover(body.x, body.tets, tf.position) != 0:
                enclosed += 1
                assert events, f"frame {k}: the tool's centre is enclosed by the tissue and no event was sent"
    if held or (held is None and enclosed == 0):
        # held (for ``None``: this time): any event is a push-through the contacts reported
        assert not events if held else all(e.reason == "pushed_through" for e in events), (enclosed, events)
        assert not list(punctured.read())
        app.close()
        return
    assert enclosed > 0  # the contacts really let it in (else the test checks nothing)
    assert events == [ToolInsideTissue(tool, ent, "pushed_through", events[0].force)]
    assert 0.0 < events[0].force < 10.0
    assert not list(punctured.read())
    assert any("tool 'probe'" in str(w.message) and "soft body 'organ'" in str(w.message) for w in caught)
    app.close()


def test_apply_force_adds_to_the_persistent_force_and_set_force_replaces_it() -> None:
    """``apply_force`` accumulates (twice 1 N is 2 N, and it acts on every later step);
    ``set_force`` replaces the force on its vertices only; a step under ``set_force(f)`` is the
    step under a single ``apply_force(f)``; ``clear_forces`` removes all of it."""
    m = box_tets((0.02, 0.02, 0.02), (1, 1, 1))
    bodies = [SoftBody.from_mesh(m, LIVER, pins=[0]) for _ in range(2)]
    a, b = bodies
    f = np.array([0.0, 1.0, 0.0])
    a.apply_force([3, 5], f)
    a.apply_force([3], f)
    assert np.allclose(a.external_force[3], 2 * f) and np.allclose(a.external_force[5], f)
    a.set_force([3], f)  # replaced on vertex 3, vertex 5 kept
    assert np.allclose(a.external_force[3], f) and np.allclose(a.external_force[5], f)
    b.apply_force([3, 5], f)
    for body in bodies:
        step_softbody(body, 1 / 90, 2, (0.0, 0.0, 0.0))
        step_softbody(body, 1 / 90, 2, (0.0, 0.0, 0.0))  # still acting on the second step
    assert np.array_equal(a.x, b.x) and a.x[3, 1] > m.points[3, 1]
    a.set_force([3, 5], np.zeros(3))
    assert not a.external_force.any()
    b.clear_forces()
    assert not b.external_force.any()


def test_the_softening_warning_tells_a_small_well_shaped_tet_from_a_sliver() -> None:
    """A regular box mesh too fine for the substep (3 mm cells, as a 0.03 m cantilever at 10
    cells through its thickness, liver-like material, 10 substeps at 90 Hz): its corner tets
    (quality 0.66, a cube's Kuhn tets) reach ratio 0.55 > 0.5 and are softened. They are not
    slivers: the warning must say a shorter substep helps, with the substep that would do
    (h sqrt(0.5 / 0.55) = 1.06 ms, 11 substeps), and not send the user to ``remesh=``, which
    makes the same tets. The sliver branch is checked on the Armadillo mesh
    (tests/test_tissue_robustness.py)."""
    m = box_tets((0.009, 0.009, 0.009), (3, 3, 3))
    body = SoftBody.from_mesh(m, Material(5.4e3, 0.45, 1060.0), pins=np.flatnonzero(m.points[:, 0] < 1e-9))
    body.accurate_substeps = False  # the substeps as asked: the solver would add what it needs
    with pytest.warns(RuntimeWarning) as record:
        step_softbody(body, 1 / 90, 10, (0.0, 0.0, 0.0))
    (msg,) = [str(w.message) for w in record if "softened" in str(w.message)]
    assert "quality 0.66" in msg and "are slivers" not in msg
    assert (
        "well-shaped" in msg and "at most 0.00106 s (11 substeps" in msg and "rms edge 3.9 mm" in msg
    )  # 3 mm x sqrt(10 / 6)
    assert "remeshing at their size does not" in msg


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_the_outside_checks_press_on_the_liver_stays_within_4x_and_a_still_tool_adds_no_energy(speed: float) -> None:
    """``vrmed bench tool_press``'s press (the outside check of issue #16: 0.2 m, liver material
    with no damping, lowest 10 % pinned, a 5 mm sphere from over the highest surface vertex 48 mm
    down or to 10 N, held 27 frames) on the SOFA liver: the fastest vertex by displacement over a
    frame and by the last tick's velocity stays within 4x the tool (measured 3.15x / 3.15x at 0.5
    m/s, 1.11x / 1.21x at 2 m/s; the other meshes: docs/physics.md "Open in contact"), nothing
    is punctured or inverted, and no tick raises the body's elastic + kinetic energy while the
    tool is still (a still tool does no work; measured: no rise at all)."""
    from vrmed.benchmarks.tool_press import press as tool_press  # deferred: runs the engine

    r = tool_press("liver.msh", "liver.msh", speed)
    assert r["frame_x"] < 4.0, r
    assert r["last_x"] < 4.0, r
    assert r["force_n"] > 1.0  # it really pressed
    assert r["inverted_end"] == 0
    assert r["still_gain_mj"] < 0.1, r


def test_a_still_tool_adds_no_energy_to_the_box_whose_corner_it_pressed() -> None:
    """The same press on a 0.2 x 0.1 x 0.1 m box (8 x 4 x 4 cells) over its highest surface
    vertex, a corner, at 0.5 m/s: the corner slips off the sphere in the hold and springs back
    (7.91x the press speed by displacement: elastic energy released, docs/physics.md). In the
    hold the contact's "behind the face: push it past the tool" branch (docs/physics.md, "Contact",
    "Tools against tissue: why the surface got into the tool, and the fix") moved a face the sphere
    grazes edge-on (its plane through the centre, its edge 4.93-4.96 mm from it) by r + dist, 11 mm
    through it: +29.6 mJ in one tick on a body holding 34 mJ. A still tool does no work, so the
    energy should only fall; the push is now as far as the point must go to leave the tool
    (the same paragraph, "How far"): measured 0.09 mJ."""
    from vrmed.benchmarks.tool_press import press as tool_press  # deferred: runs the engine

    r = tool_press("box_tets 8x4x4", None, 0.5)
    assert r["still_gain_mj"] < 1.0, r


def test_the_tool_press_bench_presses_a_damped_liver_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """``vrmed bench tool_press damping=S``: the press's liver material with that Rayleigh beta (s),
    for the physiological figures of docs/physics.md "Vertex speeds under a slow tool" (real liver
    is viscoelastic, the bench's default material undamped); without the option the very same
    undamped material (the default rows unchanged to the bit); a negative beta is refused. The
    material handed to the body is read at ``SoftBody.from_mesh`` and the press stopped there."""
    from vrmed.benchmarks import tool_press as tp  # deferred: the bench module imports the engine

    class _Stop(Exception):
        pass

    seen: list[Material] = []

    def spy(mesh: TetMesh, material: Material, *args: object, **kwargs: object) -> SoftBody:
        seen.append(material)
        raise _Stop

    monkeypatch.setattr(tp.SoftBody, "from_mesh", spy)
    with pytest.raises(_Stop):
        tp.run({"targets": ["box", "damping=0.0025"]})
    assert seen[-1] == dataclasses.replace(tp.LIVER, damping=0.0025)
    with pytest.raises(_Stop):
        tp.run({"targets": ["box"]})
    assert seen[-1] is tp.LIVER and tp.LIVER.damping == 0.0
    with pytest.raises(VrmedError, match="damping"):
        tp.run({"targets": ["box", "damping=-0.001"]})


def test_the_tool_press_bench_traces_its_fastest_vertex_tick_by_tick() -> None:
    """``vrmed bench tool_press box trace=1``: each row's fastest vertex by displacement over a
    frame, its moves by the tet solve and by the contacts in every physics tick of that frame
    (docs/physics.md "Vertex speeds under a slow tool" reads them). The rerun is the same press
    (deterministic), its ticks add up to the row's figure, and without the option the row is as
    before. (One speed, called as ``run`` calls it for each row: three presses, not five.)"""
    from vrmed.benchmarks import tool_press as tp  # deferred: the bench module imports the engine

    label = "box_tets 8x4x4"
    found = tp.press(label, None, 2.0, trace=(-1, -1))
    assert found["frame_vertex"] >= 0 and found["frame_k"] >= 0 and found["trace"] == []
    again = tp.press(label, None, 2.0, trace=(found["frame_vertex"], found["frame_k"]))
    assert again["frame_x"] == found["frame_x"]
    # every physics tick of the fastest frame (900 Hz, 90 frames a second), then the frame's total
    ticks = [t for t in again["trace"] if t.startswith(f"frame {found['frame_k']} tick")]
    assert len(ticks) == 10, again["trace"]
    assert again["trace"][-1].endswith(f"= {found['frame_x']:.2f}x"), again["trace"][-1]
    plain = tp.press(label, None, 2.0)
    assert "frame_vertex" not in plain and plain["frame_x"] == found["frame_x"]


def test_the_tet_solve_moves_uninverted_tissue_under_the_tool_no_faster_than_the_p_wave() -> None:
    """``vrmed bench tool_press box solve=1``: the box's corner slips off the slow tool and springs
    back (7.91x the tool's speed over a frame, docs/physics.md "Vertex speeds under a slow tool"),
    an elastic release of uninverted tissue. Such a release moves material at strain x c_p, the
    P-wave speed c_p = sqrt((lambda + 2 mu) / rho) = 4.39 m/s for the liver material (E 5.4 kPa,
    nu 0.45, 1060 kg/m^3), i.e. about c_p h = 4.88 mm a 900 Hz tick for strains of order one: the
    tet solve's largest move in a tick (before the contacts) stays within 1.2 c_p h (measured
    1.02, in 2 ticks above c_p h, no tet below half its rest volume). The presses where it does
    not (liver2, truthcylinder1, the raptor, the block: 1.37-8.34 c_p h) move vertices of tets
    inverted at the tick's start (the open item of docs/physics.md). Without the option the row is
    the same, to the bit."""
    from vrmed.benchmarks import tool_press as tp  # deferred: the bench module imports the engine

    r = tp.press("box_tets 8x4x4", None, 0.5, solve=True)
    assert r["inverted_max"] == 0, r
    assert 0.5 < r["solve_cp"] <= 1.2, r  # it did move at about the wave speed: a release
    assert r["solve_over"].endswith("(0 inv, 0 J<0.5)"), r
    plain = tp.press("box_tets 8x4x4", None, 0.5)
    assert "solve_cp" not in plain
    assert {k: v for k, v in r.items() if k not in ("solve_cp", "solve_over", "ms_per_frame")} == {
        k: v for k, v in plain.items() if k != "ms_per_frame"
    }


@pytest.mark.parametrize("mesh", ["liver2.msh", "truthcylinder1.msh"])
def test_relaxing_the_tets_under_the_contacts_keeps_the_solve_below_the_p_wave(mesh: str) -> None:
    """``vrmed bench tool_press liver2 truthcylinder1 solve=1 relax=4``: with
    ``CollisionSettings.relax_sweeps`` the tets the contacts leave below half their rest volume
    are relaxed with the contacts in the same tick, so no crushed tet is left for the next
    tick's one-iteration solve to throw. The solve then moves these meshes as it moves
    uninverted tissue, an elastic release at strain x c_p, under c_p h a tick (c_p h = 4.88 mm
    for the liver material at 900 Hz; measured 0.76 on liver2 and 0.79 on truthcylinder1 at
    0.5 m/s; at starts 0.5 mm to each side liver2 0.74-0.80, truthcylinder1 0.76-0.85,
    docs/physics.md "Relaxing the tets under the contacts"); without it 1.37 and 5.77 c_p h,
    44 and 52 ticks above c_p h, each moving a vertex of a crushed tet (the test above).
    truthcylinder1 is then not pushed through at 0.5 m/s (it is without); the energy a still
    tool adds to liver2 falls from 4.22 mJ a tick to 0 (bound: 1 mJ)."""
    from vrmed.benchmarks import tool_press as tp  # deferred: the bench module imports the engine

    r = tp.press(mesh, mesh, 0.5, solve=True, relax=4)
    assert r["force_n"] > 0.5, r  # it really pressed (1.15 N on truthcylinder1, 7.48 N on liver2)
    assert r["solve_cp"] <= 1.0, r
    assert r["solve_over"] == "0 (0 inv, 0 J<0.5)", r
    assert r["inverted_end"] == 0, r
    assert r["events"] == "", r
    assert r["still_gain_mj"] < 1.0, r


def test_a_still_probe_with_a_shaft_adds_no_energy_to_the_block_it_holds() -> None:
    """``vrmed bench tool_press block shaft=30``: the block's press (40 mm at 0.5 m/s) with the
    5 mm sphere replaced by a probe, a vertical capsule of its radius whose lower cap takes the
    sphere's path, its shaft through the block's top. The tissue closes over the tip
    (``pushed_through``, reported) and the shaft then crosses the faces over it: each such face
    was pushed a radius off the axis at the crossing point in every one of the 8 passes (it still
    spanned the shaft after each), a vertex 35 mm in one tick, and the next solve pulled it back:
    +8.59 J in one tick of the hold. A face a still shaft crosses is now pushed in the first pass
    only (docs/physics.md "A probe with a shaft"): measured 121 mJ (the bare sphere: 0.07 mJ;
    what is left is open, not traced), so the bound is on the J scale of the defect."""
    from vrmed.benchmarks.tool_press import press as tool_press  # deferred: runs the engine

    r = tool_press("block 80x60x80", None, 0.5, shaft=0.03)
    assert r["force_n"] > 1.0  # it really pressed
    assert r["still_gain_mj"] < 500.0, r


@pytest.mark.slow
def test_a_still_tool_held_in_the_raptor_leaves_no_fold_and_adds_no_energy() -> None:
    """The same press on the raptor (19,409 tets, stiffness ratio 32 at the tick: the solve moves
    vertices tens of mm a tick) at 0.5 m/s. With the push past the tool limited to the way out
    (the test above) and nothing else, the hold ended with 31 tets inverted and 1.63 J put in
    (a tick's energy after the contact 4.92 J, after the next solve 0.007 J, every tick): the
    solve carried a vertex whose 9 tets were all inverted 21.7 mm across the tool, out of the
    fold, and the "passed the tool's axis" push put it back on the inside-out side it came from.
    A face whose tet was inverted at the substep's start while the tool stood still is now pushed
    out the closest way (docs/physics.md "Open in contact"): measured 0.13 mJ (0.94 mJ before
    either change) and 0 tets inverted at the end."""
    from vrmed.benchmarks.tool_press import press as tool_press  # deferred: runs the engine

    r = tool_press("raptorTetra_19409.vtu", "raptorTetra_19409.vtu", 0.5)
    assert r["inverted_end"] == 0, r
    assert r["still_gain_mj"] < 1.0, r


@pytest.mark.slow
def test_a_jittering_tool_held_in_the_raptor_leaves_no_fold_and_adds_no_energy() -> None:
    """The raptor's hold of the test above with the tool held by a hand: tracker noise of 0.1
    mm (Gaussian per axis per display frame, seed 0; ``vrmed bench tool_press raptor
    jitter=0.1``), so the tool is never exactly still (the collision world moves it across each
    frame's ticks, ~0.02 mm a tick). With "still" meaning a move under 1 nm in the substep the
    unfolding rule never applied and the hold was the bad case again: 32 tets inverted at the end
    and +1.61 J in a tick (31-33 and 1.61-1.75 J with seeds 1-3). "Still" is now a move under
    ``kernels.STILL_FRACTION`` (0.05) of the tool's radius in the substep (docs/physics.md "Open
    in contact"): 0 inverted, 0.13 mJ. The jittering tool does work of its own (the tree before
    either contact change reads 1.6-2.5 mJ under this noise), so the bound is on the J scale of
    the defect, not on zero. Open, so not asserted here: with 0.5 mm of noise (seed 0) or
    another seed at 0.1 mm (seed 2) one tick adds ~32 J (a contact pushes one vertex 18 mm, the
    next solve releases it; the tree before the unfolding rule has such ticks too; docs/physics.md
    "Open in contact")."""
    from vrmed.benchmarks.tool_press import press as tool_press  # deferred: runs the engine

    r = tool_press("raptorTetra_19409.vtu", "raptorTetra_19409.vtu", 0.5, jitter=0.1e-3)
    assert r["inverted_end"] == 0, r
    assert r["still_gain_mj"] < 10.0, r


def test_a_press_below_the_puncture_threshold_sends_no_puncture_after_the_tool_has_left() -> None:
    """``python -m vrmed.benchmarks.tissue_catalogue --runs tool``'s puncture run on the slab
    (0.2 x 0.2 x 0.02 m, liver material with ``puncture_force`` 1 N, a 5 mm sphere 40 mm down at
    0.5 m/s over a corner, held, lifted back, 1.5 s of rest): the press peaks at 0.855 N, under
    the threshold, so no ``TissuePunctured``. One came at physics tick 975, in the rest with the
    tool back at its start pose: a contact pushed a face r + dist = 9.96 mm past the still tool
    (3.5 N in one tick; docs/physics.md "Open in contact")."""
    from vrmed.benchmarks.tissue_catalogue import TOOL_PLANS, scaled, tool_run  # deferred: runs the engine
    from vrmed.mesh import slab_tets  # deferred: as above

    r = tool_run(scaled(slab_tets((0.2, 0.2), 0.02, (10, 10), 2)), TOOL_PLANS["puncture"])
    assert r["peak_force_n"] < 1.0, r  # the press itself stays under the threshold
    assert r["punctured"] == 0, r
    assert r["finite"] and r["inverted_end"] == 0, r
