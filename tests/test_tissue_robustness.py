"""Robustness of the tissue solver on the repository's meshes at liver-like stiffness (issue #16, item 2).

The stress catalogue: meshes scaled to 0.2 m, E 5.4 kPa, nu 0.45, 1060 kg/m^3 (liver-like),
default 10 substeps per 1/90 s frame, x {gravity with the lowest 10 % pinned, a crushed start
(every tet nearly flat, some inverted), an inverted start (mirrored: every tet inverted), a tool
poke (a grasped patch driven 20 mm into the body at 0.5 and 2 m/s, held, released)}. Every frame
must stay finite; at the end the body must be at rest with no inverted tet. The bodies run with
``recover_inversions`` on (the inversion recovery with its no-new-inversion filter, the default;
docs/physics.md). Sliver-heavy meshes (raptor, armadillo) run here as ``remesh=`` lattices
(lattice_remesh) and, loaded the default way (as shipped), in their own tests below, which assert
no inverted tet at rest for them too. What is not yet met is in docs/physics.md ("Known weaknesses").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tissue_reference import kabsch_residual

from vrmed.benchmarks import mesh_path
from vrmed.benchmarks.tissue_catalogue import rigid_rms
from vrmed.components.tissue.softbody import MASS_FLOOR, Material, SoftBody, floor_light_masses
from vrmed.mesh import MeshError, TetMesh, box_tets, lattice_remesh, load_tet_mesh
from vrmed.systems.tissue import kernels as K
from vrmed.systems.tissue import solver
from vrmed.systems.tissue.solver import step_softbody, volume_ratios

FRAME, SUBSTEPS = 1.0 / 90.0, 10
LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.001)
SIZE = 0.2  # m, largest extent
GRAVITY = np.array([0.0, -9.80665, 0.0])
NO_GRAVITY = np.zeros(3)
#: 8 /s air-drag-like damping so bodies come to rest within the run (beta = 1 ms alone leaves the
#: slowest modes, ~1 s period, nearly undamped: velocities then decay like exp(-8 t)); it
#: changes no equilibrium (it damps the carried velocity only, kernels.predict)
SETTLE = 8.0
AT_REST = 0.01  # m/s


def scaled(mesh: TetMesh) -> TetMesh:
    mesh.points = (mesh.points - mesh.points.mean(axis=0)) * (SIZE / np.ptp(mesh.points, axis=0).max())
    return mesh


def _file(name: str, remesh: float | None = None) -> Callable[[], TetMesh]:
    def make() -> TetMesh:
        mesh = scaled(load_tet_mesh(mesh_path(name)))
        return lattice_remesh(mesh, remesh) if remesh else mesh

    return make


#: name -> mesh factory; the cheap meshes run in every scenario, the larger ones are marked slow
MESHES: dict[str, Callable[[], TetMesh]] = {
    "liver": _file("liver.msh"),
    "box": lambda: scaled(box_tets((0.2, 0.1, 0.1), (8, 4, 4))),
    "torus": _file("torus2_low_res.msh"),
    "raptor_lattice": _file("raptorTetra_19409.vtu", 0.008),
}
SLOW_MESHES: dict[str, Callable[[], TetMesh]] = {
    "truthcylinder": _file("truthcylinder1.msh"),
    "armadillo_lattice": _file("Armadillo_Tetra_4406.vtu", 0.01),
}
_CACHE: dict[str, TetMesh] = {}


def mesh_named(name: str) -> TetMesh:
    if name not in _CACHE:
        _CACHE[name] = (MESHES | SLOW_MESHES)[name]()
    m = _CACHE[name]
    return TetMesh(points=m.points.copy(), tets=m.tets.copy(), source=m.source)


#: the gravity case runs on every mesh; the other scenarios on the cheap ones (test-time budget)
ALL = [*MESHES, *(pytest.param(n, marks=pytest.mark.slow) for n in SLOW_MESHES)]


def run(body: SoftBody, frames: int, gravity: np.ndarray) -> None:
    for _ in range(frames):
        step_softbody(body, FRAME, SUBSTEPS, gravity)
        assert np.all(np.isfinite(body.x)), "non-finite positions"


def assert_at_rest_uninverted(body: SoftBody) -> None:
    j = volume_ratios(body)
    assert np.all(j > 0), f"{np.count_nonzero(j <= 0)} inverted tets at rest (min det F {j.min():.3f})"
    assert np.abs(body.v).max() < AT_REST, f"not at rest: {np.abs(body.v).max():.3g} m/s"


def pinned_body(mesh: TetMesh, volume_barrier: bool = False) -> SoftBody:
    y = mesh.points[:, 1]
    pins = np.flatnonzero(y <= y.min() + 0.1 * np.ptp(y))
    return recovering(
        SoftBody.from_mesh(mesh, LIVER, pins=pins, velocity_damping=SETTLE, volume_barrier=volume_barrier)
    )


def recovering(body: SoftBody) -> SoftBody:
    body.recover_inversions = True  # the inversion recovery (the default; set here so the tests say so)
    return body


def test_without_the_recovery_the_pinned_liver_keeps_inverted_tets() -> None:
    """The defect the recovery fixes, so the gravity test below can fail: with
    ``recover_inversions`` off the liver keeps tets inverted under its weight."""
    body = pinned_body(mesh_named("liver"))
    body.recover_inversions = False
    run(body, 240, GRAVITY)
    assert np.count_nonzero(volume_ratios(body) <= 0) >= 3


@pytest.mark.parametrize("name", ALL)
def test_gravity_with_the_lowest_tenth_pinned(name: str) -> None:
    """At liver stiffness a 0.2 m body sags far (rho g L / E = 0.38) and hinges over its pins:
    before the inversion recovery the liver kept 6 tets inverted at rest (the tets with three
    pinned vertices, their free vertex pulled through the fixed face by the body's weight)."""
    body = pinned_body(mesh_named(name))
    run(body, 240, GRAVITY)  # 2.7 s
    assert_at_rest_uninverted(body)


#: meshes that come back to their rest shape from the crushed start (within 1 % of the size
#: after a rigid alignment); the raptor lattice ends uninverted and at rest but folded through
#: itself (a tangle; measured residuals in docs/physics.md, issue #16 open)
RESHAPES = {"liver", "box", "torus"}


@pytest.mark.parametrize("name", MESHES)
def test_recovers_from_a_crushed_start(name: str) -> None:
    """Crushed to 5 % of its height plus 1 mm noise (most tets nearly flat, some inverted), no
    gravity: every mesh ends at rest with no inverted tet; the listed ones regain their shape."""
    body = recovering(SoftBody.from_mesh(mesh_named(name), LIVER, velocity_damping=SETTLE))
    body.x[:, 1] *= 0.05
    body.x += np.random.default_rng(0).normal(0.0, 1e-3, body.x.shape)
    body.x_prev[:] = body.x
    assert np.median(volume_ratios(body)) < 0.2
    run(body, 300, NO_GRAVITY)  # 3.3 s
    assert_at_rest_uninverted(body)
    if name in RESHAPES:
        assert kabsch_residual(body.x, body.rest_points) < 0.01 * SIZE


def mirrored(name: str) -> SoftBody:
    body = recovering(SoftBody.from_mesh(mesh_named(name), LIVER, velocity_damping=SETTLE))
    body.x[:, 0] *= -1.0  # mirrored: every tet inverted
    body.x_prev[:] = body.x
    assert np.all(volume_ratios(body) < 0)
    return body


@pytest.mark.parametrize("name", MESHES)
def test_the_recovery_alone_takes_a_mirrored_start_to_finite_and_uninverted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tet inverted at the start, with ``solver.unmirror`` off (as for a mirrored body it
    does not take, e.g. a pinned one): the inversion recovery alone keeps the body finite and
    ends with no inverted tet, but folded through itself (box 114 mm from its rest shape after
    alignment, liver 34 mm), moving slowly (0.008-0.16 m/s; with the opt-in volume barrier,
    ``from_mesh(volume_barrier=True)``, 0.07-0.37 m/s: docs/physics.md, "Known weaknesses")."""
    monkeypatch.setattr(solver, "MIRRORED_FRACTION", 2.0)  # never mirrored
    body = mirrored(name)
    run(body, 300, NO_GRAVITY)  # 3.3 s
    assert np.all(volume_ratios(body) > 0)
    assert np.abs(body.v).max() < 0.2


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))  # proper


@pytest.mark.parametrize("name", MESHES)
def test_a_mirrored_body_returns_to_its_rest_shape(name: str) -> None:
    """Mirrored whole through a tilted plane, turned and moving (every tet inverted), no pins:
    ``solver.unmirror`` reflects it back through its best-fit mirror plane before the first
    step (the end state of the invertible elastic energy's way back, a rigid image of the rest
    shape); it ends at rest, uninverted, within 1 % of the size of its rest shape after rigid
    alignment. Before it the recovery left the box folded through itself 79 mm from its rest
    shape, creeping at 0.02 m/s after 10 s (the strict xfail this replaces)."""
    body = recovering(SoftBody.from_mesh(mesh_named(name), LIVER, velocity_damping=SETTLE))
    n = np.array([1.0, 0.3, -0.2]) / np.linalg.norm([1.0, 0.3, -0.2])
    body.x[:] = body.rest_points @ (np.eye(3) - 2.0 * np.outer(n, n)) @ _rotation(1) + [0.01, 0.02, 0.0]
    body.x += np.random.default_rng(2).normal(0.0, 2e-4, body.x.shape)  # and slightly deformed
    body.x_prev[:] = body.x
    body.v[:] = [0.0, 0.05, 0.0]
    assert np.all(volume_ratios(body) < 0)
    run(body, 300, NO_GRAVITY)  # 3.3 s
    assert_at_rest_uninverted(body)
    assert kabsch_residual(body.x, body.rest_points) < 0.01 * SIZE


def test_unmirror_takes_only_a_free_body_mirrored_whole() -> None:
    """A crushed start (flat, a fraction of the tets inverted) and a mirrored body with a pinned
    vertex are left to the recovery; a body mirrored whole is reflected back through its centre
    of mass (kept, as internal forces would), its linear momentum kept and its spin reflected."""
    body = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER))
    body.x[:, 1] *= 0.05
    body.x += np.random.default_rng(0).normal(0.0, 1e-3, body.x.shape)
    crushed = body.x.copy()
    assert 0 < np.count_nonzero(volume_ratios(body) < 0) < body.n_tets
    assert not solver.unmirror(body) and np.array_equal(body.x, crushed)
    rest = mesh_named("box").points
    corners = [int(np.argmin(np.linalg.norm(rest - c, axis=1))) for c in rest[[0, -1]]]
    corners += [int(np.argmin(np.linalg.norm(rest - [rest[0, 0], rest[0, 1], rest[-1, 2]], axis=1)))]
    corners += [int(np.argmin(np.linalg.norm(rest - [rest[-1, 0], rest[0, 1], rest[0, 2]], axis=1)))]
    off_plane = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER, pins=corners))  # 4 corners, a tet
    off_plane.x[:, 0] *= -1.0
    assert not solver.unmirror(off_plane)  # no uninverted rigid placement keeps them
    pinned = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER, pins=[0]))
    pinned.x[:, 0] = 0.03 - pinned.x[:, 0]
    held = pinned.x[0].copy()
    assert solver.unmirror(pinned)  # through a plane through the pinned vertex: a rigid image
    assert np.array_equal(pinned.x[0], held) and np.all(volume_ratios(pinned) > 0)
    assert kabsch_residual(pinned.x, pinned.rest_points) < 1e-12
    free = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER))
    free.x[:, 0] = 0.03 - free.x[:, 0]  # mirrored through the plane x = 0.015: centre of mass at x = 0.03
    spin = np.cross([0.0, 0.0, 1.0], free.x - [0.03, 0.0, 0.0])  # 1 rad/s about z through it
    free.v[:] = [0.1, 0.2, 0.0] + spin
    assert solver.unmirror(free)
    np.testing.assert_allclose(free.x, free.rest_points + [0.03, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(free.v, [0.1, 0.2, 0.0] + spin * [-1.0, 1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("name", ["torus", "truthcylinder"])
def test_a_mirrored_body_with_its_lowest_vertices_pinned_ends_uninverted(name: str) -> None:
    """Mirrored whole (x -> -x, every tet inverted) with its 5 lowest vertices pinned, no gravity:
    ``solver.unmirror`` reflects the free vertices through the pins' best-fit plane (with the
    mirror, a rotation that keeps the pins), and the body ends at rest, uninverted, within 0.1 %
    of its size of its rest shape after rigid alignment (3 % for the torus, whose pins are not
    coplanar). Before it (the recovery alone, the pins fixing the mirrored places) tets stayed
    inverted for good: here (8 /s) torus 2, truthcylinder1 196 (det F -52.5); in the outside
    check of issue #16, item 2 (5 /s, no Rayleigh damping) 9 and 228 (coplanar pins, frozen at
    det F -45.6)."""
    mesh = mesh_named(name)
    pins = np.argsort(mesh.points[:, 1], kind="stable")[:5]
    body = recovering(SoftBody.from_mesh(mesh, LIVER, pins=pins, velocity_damping=SETTLE))
    body.x[:, 0] *= -1.0
    body.x_prev[:] = body.x
    held = body.x[pins].copy()
    run(body, 180, NO_GRAVITY)  # 2 s
    assert_at_rest_uninverted(body)
    assert np.array_equal(body.x[pins], held)
    # truthcylinder1's pins lie in one plane (a rigid image: measured 0.0 mm); the torus's up to
    # 2.6 mm off their best-fit plane, which leaves it bent near them (measured 4.4-5.2 mm)
    assert kabsch_residual(body.x, body.rest_points) < (1e-3 if name == "truthcylinder" else 0.03) * SIZE


def _folded_box() -> tuple[SoftBody, int]:
    """The coarse box with one interior vertex pushed 1.5 cells through its neighbours (its star
    inverted), every tet flagged by the recovery, at rest, a contact holding one far corner."""
    body = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER))
    centre = np.argmin(np.linalg.norm(body.rest_points, axis=1))
    body.x[centre, 0] += 1.5 * 0.2 / 8
    body.recover_near = np.ones(body.n_tets, dtype=np.bool_)
    body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
    body.contact_hold[int(np.argmax(body.rest_points[:, 0]))] = True
    assert np.count_nonzero(volume_ratios(body) <= 0) > 0
    return body, int(np.ceil(solver.UNTANGLE_WAIT_HELD / FRAME))


def test_a_fold_at_rest_against_a_tool_is_untangled_after_the_held_wait() -> None:
    """A fold that outlasts a press while the tool still touches the body (the raptor pressed 40 mm
    at 2 m/s by a 5 mm sphere and lifted back to 2 mm above it: 59 tets inverted at rest for good,
    22 vertices against the tool) is untangled once it has stayed inverted for
    ``UNTANGLE_WAIT_HELD`` (0.2 s) with every unheld vertex slower than ``UNTANGLE_HELD_SPEED``;
    not while the body moves (a working tool making the fold: the dissection packs' sessions do
    not change), and before that wait only as before (never with a contact)."""
    body, wait = _folded_box()
    for _ in range(wait):
        solver._untangle_if_stuck(body, FRAME)
    assert np.count_nonzero(volume_ratios(body) <= 0) > 0  # still waiting
    solver._untangle_if_stuck(body, FRAME)
    assert np.count_nonzero(volume_ratios(body) <= 0) == 0
    moving, _ = _folded_box()
    moving.v[:] = [0.0, 2.0 * solver.UNTANGLE_HELD_SPEED, 0.0]
    moving.v[moving.contact_hold] = 1.0  # a held vertex's speed is the contact's push: not counted
    for _ in range(3 * wait):
        solver._untangle_if_stuck(moving, FRAME)
    assert np.count_nonzero(volume_ratios(moving) <= 0) > 0


def test_a_fold_no_tool_touches_is_untangled_while_a_tool_holds_the_body_elsewhere() -> None:
    """A fold whose tets (inverted or flagged by the recovery) hold no vertex a contact holds is
    untangled after ``kernels.UNTANGLE_WAIT`` steps, as on a body no tool touches, even while a
    tool holds the body elsewhere and it moves (``kernels.fold_held``). Before, any held vertex of
    the body made the solver wait for the whole body to rest: the scripted scissors expert
    started 10 ms later kept a fold of 10-11 tets at the cut line for 2.75 s while the bed plate
    held vertices of the underside outside the fold and the body moved (docs/laparoscopy.md),
    so that fold was neither untangled nor released. A fold a contact does hold
    waits as before (the held wait, not while the body moves)."""

    def folded(hold_centre: bool) -> SoftBody:
        body = recovering(SoftBody.from_mesh(mesh_named("box"), LIVER))
        centre = int(np.argmin(np.linalg.norm(body.rest_points, axis=1)))
        body.x[centre, 0] += 1.5 * 0.2 / 8
        body.recover_near = (body.tets == centre).any(axis=1)  # the fold's tets: the centre's star
        body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
        corner = int(np.argmax(body.rest_points[:, 0]))  # a far corner, outside the fold
        assert not body.recover_near[(body.tets == corner).any(axis=1)].any()
        body.contact_hold[centre if hold_centre else corner] = True
        body.v[:] = [0.0, 2.0 * solver.UNTANGLE_HELD_SPEED, 0.0]  # moving: a working tool elsewhere
        assert np.count_nonzero(volume_ratios(body) <= 0) > 0
        return body

    body = folded(hold_centre=False)
    corner = body.x[body.contact_hold].copy()
    for _ in range(K.UNTANGLE_WAIT + 1):
        solver._untangle_if_stuck(body, FRAME)
    assert np.count_nonzero(volume_ratios(body) <= 0) == 0
    assert np.array_equal(body.x[body.contact_hold], corner)  # the held vertex is kept
    held = folded(hold_centre=True)  # the contact on the fold: a working tool's fold, left alone
    for _ in range(3 * (K.UNTANGLE_WAIT + 1)):
        solver._untangle_if_stuck(held, FRAME)
    assert np.count_nonzero(volume_ratios(held) <= 0) > 0


@pytest.mark.slow
def test_the_raptor_pressed_fast_and_lifted_ends_uninverted() -> None:
    """raptorTetra_19409 as shipped, 0.2 m, liver material, lowest 10 % pinned, no gravity,
    velocity_damping 5 /s, App defaults with the CollisionPlugin: a 5 mm sphere pressed 40 mm into
    the top at 2 m/s, held 0.1 s, lifted back at 2 m/s to 2 mm above the rest surface, then 2 s
    (the outside check of issue #16, item 2). The tissue wraps the sphere on the way up and the
    fold stays against it: 59 tets stayed inverted at rest before the held untangling; now 0."""
    from vrmed import App  # deferred: only this test runs the engine
    from vrmed.components.collision.collider import Collider  # deferred: as above
    from vrmed.components.scene.core import Transform  # deferred: as above
    from vrmed.systems.collision.system import CollisionPlugin  # deferred: as above
    from vrmed.systems.tissue.solver import SoftBodyPlugin, SoftBodySettings  # deferred: as above

    mesh = load_tet_mesh(mesh_path("raptorTetra_19409.vtu"))
    mesh = load_tet_mesh(mesh_path("raptorTetra_19409.vtu"), scale=SIZE / np.ptp(mesh.points, axis=0).max())
    p = mesh.points
    body = SoftBody.from_mesh(
        mesh, Material(5400.0, 0.45, 1060.0), pins=np.argsort(p[:, 1])[: len(p) // 10], velocity_damping=5.0
    )
    cand = np.flatnonzero(p[:, 1] > p[:, 1].max() - 0.01)
    top = cand[np.argmin(np.linalg.norm(p[cand][:, [0, 2]] - p[cand][:, [0, 2]].mean(axis=0), axis=1))]
    start = p[top] + [0.0, 0.007, 0.0]
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin(SoftBodySettings(gravity=np.zeros(3))))
    app.add_plugin(CollisionPlugin())
    app.spawn(body)
    tool = Transform(position=start.copy())
    app.spawn(tool, Collider(shape="sphere", radius=0.005))
    app.step(3)
    down = [min(0.042, (k + 1) * 2.0 * FRAME) for k in range(int(np.ceil(0.042 / (2.0 * FRAME))))]
    for depth in [*down, *[0.042] * 9, *(0.042 - d for d in down), *[0.0] * 180]:
        tool.position[:] = start - [0.0, depth, 0.0]
        app.step(1)
    assert np.all(np.isfinite(body.x))
    j = volume_ratios(body)
    assert np.all(j > 0), f"{np.count_nonzero(j <= 0)} inverted tets at rest (min det F {j.min():.3f})"


@pytest.mark.parametrize(
    ("name", "speed"), [("liver", 0.5), ("raptor_lattice", 0.5), *((name, 2.0) for name in MESHES)]
)
def test_tool_poke(name: str, speed: float) -> None:
    """A tool grasps the surface vertices within 15 mm of the top centre and pushes them 20 mm
    down at ``speed`` (m/s), holds them for 0.2 s, lets go; the body rests on its pinned base.
    Vertex speeds stay within 10x the tool's while it moves (measured: docs/physics.md)."""
    body = pinned_body(mesh_named(name))
    top = body.rest_points[:, 1].max()
    centre = np.array([0.0, top, 0.0])
    near = np.linalg.norm(body.rest_points - centre, axis=1)
    grip = np.flatnonzero(near <= max(0.015, np.sort(near)[2]))
    body.attach(grip)
    start = body.x[grip].copy()
    depth, moved, t = 0.02, 0.0, 0.0
    fastest = 0.0
    while moved < depth:
        t += FRAME
        moved = min(depth, speed * t)
        body.set_attachment_targets(start - [0.0, moved, 0.0])
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)
        assert np.all(np.isfinite(body.x))
        fastest = max(fastest, float(np.linalg.norm(body.v, axis=1).max()))
    assert fastest <= 10.0 * speed, f"vertices at {fastest:.3g} m/s for a {speed} m/s tool"
    run(body, 18, NO_GRAVITY)  # hold 0.2 s
    body.detach()
    run(body, 180, NO_GRAVITY)  # 2 s
    assert_at_rest_uninverted(body)


def test_lattice_remesh_keeps_the_volume_and_the_surface() -> None:
    """A box remeshed with cubes that divide it is the same box; a file remeshed at load keeps
    its own boundary for drawing; a bad cell size is one clear error."""
    box = box_tets((0.04, 0.02, 0.02), (3, 2, 2))
    lat = lattice_remesh(box, 0.005)
    assert lat.n_tets == 6 * 8 * 4 * 4
    p = lat.points[lat.tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0
    assert np.all(vol > 0) and vol.sum() == pytest.approx(0.04 * 0.02 * 0.02, rel=1e-12)
    liver = load_tet_mesh(mesh_path("liver.msh"), scale=0.02, remesh=0.01)
    assert liver.surface is not None and "lattice_remesh" in liver.notes[-1]
    original = load_tet_mesh(mesh_path("liver.msh"), scale=0.02)
    assert len(liver.surface.triangles) == len(original.boundary_triangles())
    with pytest.raises(MeshError, match="remesh must be a cube edge > 0 m"):
        load_tet_mesh(mesh_path("liver.msh"), remesh=0.0)


def test_the_sliver_warning_names_the_worst_tets_and_the_remesh_option() -> None:
    """Armadillo_Tetra_4406 at 0.2 m and liver stiffness: 90 tets softened (0.08 % of the
    volume, below the substep warning's 1 %; 101 before the mass floor), worst ratio 8.4 on mesh
    tet 422 (quality 0.01); 36 are slivers (quality < 0.3: remesh= named), 54 well-shaped."""
    body = SoftBody.from_mesh(scaled(load_tet_mesh(mesh_path("Armadillo_Tetra_4406.vtu"))), LIVER)
    with pytest.warns(
        RuntimeWarning,
        match=r"90 tets are too stiff .*: 422 \(ratio 8\.4, quality 0\.01\).* 36 of them are slivers .*remesh=",
    ):
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)


def _unit_tet_through_its_face() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One right tet with edge 1 (rest edge sqrt(3) / |Dm^-1|_F = 1), vertex 3 pushed through
    the opposite face to z = -0.5 (det F = -0.5): rest points, tets, Dm^-1."""
    rest = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    tets = np.array([[0, 1, 2, 3]], dtype=np.int64)
    return rest, tets, np.eye(3)[None].copy()


def test_recovery_flags_stay_until_the_tet_is_back_above_the_check() -> None:
    """The recovery's flags are sticky (kernels.recover_pass): a tet it lifted to det F = 0.1 stays
    flagged (so a neighbour that flattens it again after its own block step, the next substep, is
    undone); only a tet at or above RECOVER_CHECK is cleared. A tool-held tet gets
    RECOVER_SWEEPS_HELD bounded projections per pass, a free one up to RECOVER_SWEEPS."""
    rest, tets, Q = _unit_tet_through_its_face()
    w = np.ones((4, 3))
    start = rest.copy()
    start[3, 2] = -0.5
    x, x_prev, wdx = start.copy(), start.copy(), np.zeros((4, 3))
    near = np.ones(1, dtype=np.bool_)
    K.recover_pass(x, x_prev, w, tets, Q, near, wdx, True, np.zeros(0, np.bool_))
    j = float(np.linalg.det((x[1:] - x[0]).T))
    assert K.RECOVER_J <= j < K.RECOVER_J + 0.01  # lifted to the bound (Newton steps on det F), in the free sweeps
    assert near[0]  # 0.1 < RECOVER_CHECK: still watched
    unflagged = start.copy()
    K.recover_pass(unflagged, start.copy(), w, tets, Q, np.zeros(1, np.bool_), wdx, True, np.zeros(0, np.bool_))
    assert np.array_equal(unflagged, start)  # only flagged tets are projected
    x = rest.copy()
    K.recover_pass(x, x.copy(), w, tets, Q, near, wdx, True, np.zeros(0, np.bool_))
    assert not near[0]  # back at rest: cleared
    held = np.array([True, True, True, False])
    x, near = start.copy(), np.ones(1, dtype=np.bool_)
    K.recover_pass(x, x.copy(), w, tets, Q, near, wdx, True, held)
    # vertex 3 needs 0.6 to reach det F = 0.1; held, it gets RECOVER_SWEEPS_HELD steps of 0.1
    assert x[3, 2] - start[3, 2] == pytest.approx(K.RECOVER_SWEEPS_HELD * K.RECOVER_STEP, rel=1e-9)
    assert K.RECOVER_SWEEPS_HELD * K.RECOVER_STEP < 0.6 < K.RECOVER_SWEEPS * K.RECOVER_STEP


@pytest.mark.slow
def test_the_raptor_as_shipped_keeps_no_inverted_tet_and_comes_to_rest() -> None:
    """raptorTetra_19409 as loaded by default (13 % of the volume softened) at 0.2 m and liver
    stiffness under gravity, lowest 10 % pinned, 3 s, at the catalogue's 8 /s velocity damping
    (``vrmed.benchmarks.tissue.raptor_liver_row(remesh=None, velocity_damping=8.0)``; the
    benchmark row runs 5 /s). Before ``kernels.keep_uninverted`` the tets at the top of the pinned
    band folded through the pinned feet in the first 0.4 s (42 inverted at the end, 79 at worst);
    with it no tet is inverted after any frame. At 8 /s a vertex then fluttered in a period-2
    cycle at 0.04 m/s (a tet flattened after its own block step was not flagged); with the flags
    of ``kernels.recover_and_keep`` it rests (5e-5 m/s; docs/physics.md, "Inversion recovery")."""
    from vrmed.benchmarks.tissue import raptor_liver_row  # deferred: the benchmark module is only needed here

    row = raptor_liver_row(remesh=None, velocity_damping=SETTLE)
    assert row["finite"] and row["softened_fraction"] > 0.1  # the sliver-heavy file, not a remesh
    assert row["inverted_tets"] == 0 and row["max_inverted_tets"] == 0
    assert row["max_speed_m_s"] < AT_REST


def test_the_hanging_cylinder_rests_on_the_volume_barrier() -> None:
    """cylinder_8x30x6 (6,750 tets) in the gravity setup above (0.2 m, liver material, lowest 10 %
    pinned, 8 /s), 3.3 s: the disc's 1.3 kg hangs on the ends of its pinned arc, where the model's
    own equilibrium is inverted (24 tets at det F -0.39 with ``recover_inversions`` off). Before
    the volume barrier (``kernels.BARRIER_J``, solved in the tet sweep with a kept multiplier) the
    recovery after the sweep lifted ~20 tets there every substep and the sweep flattened them
    again: a 26-substep cycle, its fastest vertex at 0.057 m/s here (largest component 0.037, the
    measure asserted; 0.014-0.07 m/s from 2.7 to 4 s); now 3e-4 m/s
    (docs/physics.md, "Inversion recovery", "Volume barrier"), with no tet inverted at any frame.
    The barrier is opt-in (``SoftBody.from_mesh(volume_barrier=True)``)."""
    body = pinned_body(scaled(load_tet_mesh(mesh_path("cylinder_8x30x6.msh"))), volume_barrier=True)
    for _ in range(300):
        step_softbody(body, FRAME, SUBSTEPS, GRAVITY)
        assert np.all(np.isfinite(body.x)) and np.all(volume_ratios(body) > 0)
    assert_at_rest_uninverted(body)


def test_no_tet_that_started_the_substep_uninverted_ends_it_inverted() -> None:
    """``kernels.keep_uninverted``: a tet that the substep took from det F = 1 to -0.5 has its
    free vertices put back where the substep started; a pinned axis (inverse mass 0) does not
    move; a tet with a tool-held vertex is left to the contact, one already inverted where the
    substep started to the recovery (a mirrored or crushed start)."""
    rest, tets, Q = _unit_tet_through_its_face()
    x = rest.copy()
    x[3, 2] = -0.5  # det F = -0.5
    w = np.ones((4, 3))
    w[0] = 0.0  # vertex 0 pinned
    x[0] += 0.3  # moved anyway (as a kinematic target would): the filter must not touch it
    wdx = np.zeros((4, 3))
    out = x.copy()
    # release=False (the default) passed, not left out: the argument types of the calls below and of the
    # solver, so no version compiled for this test alone (an omitted argument is a type of its own)
    assert K.keep_uninverted(out, rest.copy(), w, tets, wdx, True, np.zeros(0, np.bool_), False) == 1
    p = out[tets[0]]
    assert np.linalg.det((p[1:] - p[0]).T) > 0.0
    assert np.array_equal(out[0], x[0])  # pinned: kept
    assert np.allclose(wdx, out - x)  # the cancelled step is a part of the correction not kept
    assert np.array_equal(out[1:], rest[1:])  # the free vertices are back where they started
    held = np.array([False, False, False, True])
    out = x.copy()
    assert K.keep_uninverted(out, rest.copy(), np.ones((4, 3)), tets, wdx, False, held, False) == 0
    assert np.array_equal(out, x)  # a tool crushes it: left to the contact
    inverted_start = x.copy()
    out = x.copy()
    assert K.keep_uninverted(out, inverted_start, np.ones((4, 3)), tets, wdx, False, np.zeros(0, np.bool_), False) == 0
    assert np.array_equal(out, x)


def test_a_released_filter_lets_the_tets_around_a_standing_inversion_move() -> None:
    """``kernels.keep_filter`` with ``release`` (``SoftBody.keep_release``): a tet that the
    substep inverts next to a tet already inverted where the substep started is left as it is
    (the fold may move open); not released, or when a tool holds the inverted tet, it is put
    back as before. The solver releases a body at an untangling call that leaves a tet inverted
    once a flagged tet has stayed inverted for ``RELEASE_WAIT``, until none is inverted."""
    rest = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    tets = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], dtype=np.int64)  # sharing the face 1-2-3
    start = rest.copy()
    start[0] = [0.5, 0.5, 0.5]  # tet 0 inverted where the substep starts
    end = start.copy()
    end[4] = [0.2, 0.2, 0.2]  # the substep takes vertex 4 through the face: tet 1 inverted
    w = np.ones((5, 3))
    none = np.zeros(0, dtype=np.bool_)
    for release, hold, acted in ((False, none, 1), (True, none, 0), (True, np.array([1, 0, 0, 0, 0], np.bool_), 1)):
        x = end.copy()
        assert K.keep_uninverted(x, start.copy(), w, tets, np.zeros((5, 3)), False, hold, release) == acted
        assert np.array_equal(x[4], start[4] if acted else end[4])
    body = recovering(SoftBody.from_mesh(TetMesh(points=rest, tets=tets), LIVER))
    body.x[:] = end  # tet 1 inverted
    body.recover_near[:] = True
    calls = []
    real = K.untangle
    try:  # an untangling that cannot open the fold (as on the armadillo)
        K.untangle = lambda *args: calls.append(len(calls)) or 1
        frames = int(np.ceil(solver.RELEASE_WAIT / FRAME)) + K.UNTANGLE_WAIT + 1
        released = []
        for _ in range(frames):
            solver._untangle_if_stuck(body, FRAME)
            released.append(body.keep_release)
    finally:
        K.untangle = real
    first = released.index(True)  # at the first call after RELEASE_WAIT stuck, not before
    assert len(calls) >= 2 and (first + 1) * FRAME >= solver.RELEASE_WAIT and all(released[first:])
    body.x[:] = rest  # opened: nothing flagged is inverted
    solver._untangle_if_stuck(body, FRAME)
    assert not body.keep_release and body.stuck_time == 0.0


def test_a_flat_tet_the_filter_locked_after_cuts_is_lifted() -> None:
    """A nearly flat tet the step filter locks is recovered (``kernels._lift_put_back``). The
    state is the piece of an 8x4x4 box (0.1 x 0.05 x 0.05 m, liver, lowest tenth pinned) holding
    the flattest tet after 6 random through-cuts and 1 s under gravity (an outside check of
    issue #16, item 5; tests/data/flat_tet_after_cuts.npz: 580 tets, 9 pins, one tet at det F
    4e-5 with two pinned vertices). Every substep the sweep pushed that tet through det F = 0 and
    the filter put its free vertices back where the substep started, bit for bit: before, it
    stayed at det F 4e-5, velocity 0, storing elastic energy, for as long as it ran. Without
    gravity, from rest, the recovery must lift it near its floor (det F > RECOVER_J / 2) and the
    piece must give back most of its elastic energy."""
    data = np.load(Path(__file__).parent / "data" / "flat_tet_after_cuts.npz")
    body = SoftBody.from_mesh(
        TetMesh(points=data["rest"], tets=data["tets"]),
        Material(5.4e3, 0.45, 1060.0),
        data["pins"],
        velocity_damping=2.0,
    )
    body.x[:] = data["x"]
    assert volume_ratios(body).min() < 1e-4  # the locked tet
    e0 = solver.elastic_energy(body)
    for _ in range(90):
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)
    J = volume_ratios(body)
    assert J.min() > 0.5 * K.RECOVER_J and np.isfinite(body.x).all()  # 0.0995 here (the sweep after the lift)
    assert solver.elastic_energy(body) < 0.5 * e0


def test_light_vertices_get_a_mass_floor_that_keeps_the_total() -> None:
    """``floor_light_masses``: masses below MASS_FLOOR x the median are raised to it and the total
    is kept; without a light vertex the array is returned untouched (bit-identical bodies)."""
    mass = np.array([1.0, 1.0, 1.0, 1.0, 1e-4])
    out = floor_light_masses(mass)
    assert out.sum() == pytest.approx(mass.sum(), rel=1e-14)
    assert out[4] == pytest.approx(MASS_FLOOR * out.sum() / (4 + MASS_FLOOR), rel=1e-12)
    even = np.array([1.0, 0.5, 2.0])
    assert floor_light_masses(even) is even


def test_the_armadillo_as_shipped_comes_to_rest_uninverted() -> None:
    """Armadillo_Tetra_4406 as shipped (0.2 m, liver material, lowest 10 % pinned, gravity,
    ``velocity_damping`` 5 /s, 4 s): its 0.57 mg vertex (0.14 % of the median mass, one sliver
    corner tet) fluttered from substep to substep at 0.077 m/s (moving 0.2 mm in 0.44 s) before
    the mass floor; with it the fastest vertex is 0.0002 m/s. One tet stayed inverted (a tangle
    of 26 flagged tets at the pins) before ``kernels.keep_uninverted``; none now."""
    mesh = scaled(load_tet_mesh(mesh_path("Armadillo_Tetra_4406.vtu")))
    y = mesh.points[:, 1]
    pins = np.flatnonzero(y <= y.min() + 0.1 * np.ptp(y))
    body = recovering(SoftBody.from_mesh(mesh, LIVER, pins=pins, velocity_damping=5.0))
    with pytest.warns(RuntimeWarning, match="softened"):
        run(body, 360, GRAVITY)
    assert_at_rest_uninverted(body)


@pytest.mark.parametrize("beta", [0.0, LIVER.damping])
def test_the_armadillo_hung_from_its_five_highest_vertices_comes_to_rest(beta: float) -> None:
    """Armadillo_Tetra_4406 at 0.2 m and liver stiffness hung from its 5 highest vertices (0.57 kg
    on 5 points; an outside check of issue #16, item 2), ``velocity_damping`` 5 /s, gravity, 5 s,
    with and without Rayleigh damping. The tets around the fastest vertices stretch 5-34x and their
    stiffness ratio as deformed (the hydrostatic gradient, the cofactor of F, grows with the
    stretch) is 0.39-24 against 0.05-0.5 at rest. With the warm start set from the rest ratio alone,
    28 of those 37 tets kept part of their multipliers and the body never came to rest (1-6 m/s
    from 1 to 6 s; 1.97 and 6.3 m/s here); with it also capped by the ratio now
    (``kernels.WARM_GROWTH``) the fastest vertex is 0.004 m/s at 5 s (docs/physics.md, "Known
    weaknesses")."""
    mesh = scaled(load_tet_mesh(mesh_path("Armadillo_Tetra_4406.vtu")))
    pins = np.argsort(mesh.points[:, 1])[-5:]
    material = Material(LIVER.youngs_modulus, LIVER.poisson_ratio, LIVER.density, damping=beta)
    body = recovering(SoftBody.from_mesh(mesh, material, pins=pins, velocity_damping=5.0))
    with pytest.warns(RuntimeWarning, match="softened"):
        run(body, 450, GRAVITY)
    assert np.ptp(body.x[:, 1]) > 4 * SIZE, "hangs stretched (the load is ~20 E next to the pins)"
    assert_at_rest_uninverted(body)


#: the outside check's material: liver, no Rayleigh damping (with 1 ms, the raptor's softened
#: slivers can end in the limit cycle docs/physics.md lists as open)
UNDAMPED_LIVER = Material(5.4e3, 0.45, 1060.0)


@pytest.mark.slow
def test_truthcylinder1_hung_from_its_five_highest_vertices_comes_to_rest() -> None:
    """truthcylinder1 at 0.2 m, liver material without Rayleigh damping, hung from its 5 highest
    vertices, ``velocity_damping`` 5 /s, gravity, 3.3 s (the stress catalogue's ``gravity`` run).
    A top-face vertex at 1/41 of the median mass ran a period-2 substep cycle at 0.9 m/s for good:
    a tet of it found inverted at its solve (the prediction carried the tets' kept corrections)
    re-applied its kept multipliers along the flipped gradient and threw the vertex back to
    det F 1.6. A tet far from rest now starts its step from no multiplier (docs/physics.md, "A far
    tet starts anew"): at rest (the fastest vertex 2e-4 m/s)."""
    mesh = mesh_named("truthcylinder")
    pins = np.argsort(mesh.points[:, 1])[-5:]
    body = recovering(SoftBody.from_mesh(mesh, UNDAMPED_LIVER, pins=pins, velocity_damping=5.0))
    run(body, 300, GRAVITY)
    assert_at_rest_uninverted(body)


def _half_mirrored(mesh: TetMesh) -> SoftBody:
    """A free body, its vertices beyond the plane x = its mean x reflected through that plane
    (the other half left where it is): the reflected half lies over the kept half and the tets
    that cross the plane are crushed or inverted (an outside check of issue #16, item 2), its
    material (liver, no Rayleigh damping) and ``velocity_damping`` 5 /s as there."""
    body = recovering(SoftBody.from_mesh(mesh, UNDAMPED_LIVER, velocity_damping=5.0))
    p = body.rest_points
    centre = p[:, 0].mean()
    beyond = p[:, 0] > centre
    body.x[beyond, 0] = 2.0 * centre - p[beyond, 0]
    body.x_prev[:] = body.x
    return body


def test_a_half_mirrored_armadillo_comes_to_rest_uninverted() -> None:
    """Armadillo_Tetra_4406 as shipped, 0.2 m, liver material, half mirrored (``_half_mirrored``),
    no gravity, 4 s. Before ``kernels._next_to_start_inversion`` 4 tets stayed inverted for good:
    flagged and at det F ~ -1e-6 in a tangle crushed to ~1 mm from 10 mm tets, where each
    substep's sweep and recovery moved the tangle (65 tets inverted after the sweep, 32 after the
    recovery) and the step filter put back every vertex of the 62 tets that had turned inverted,
    restoring the substep's start bit for bit (frozen, 1e-4 m/s; the untangling could not open it
    either). Now the filter lets the tets around a tangle that was already inverted where the
    substep started move, and the elastic solve opens it.

    It then rested folded, uninverted, 45 mm (RMS, after rigid alignment) from its rest shape with
    0.455 J held by the recovery at its det F floor; the recovery is now paused for a free body
    that sits still holding energy (``held.release_if_held``): 5.5 mm and 0.031 J, at rest by
    5 s (6 s run here; the pauses at 1.2 and 2.9 s).

    Where it ends is chaotic: a fold of a few tets may stay. From this start and three starts
    moved by 1e-6 m of noise (stop 42): 4.7 / 8.4 / 8.2 / 9.9 mm with the kernels of stop 41, and
    9.8 / 5.9 / 6.0 / 6.0 mm since the tets of light vertices keep no multipliers
    (``solver.LIGHT_WARM``); so the bound is 12 mm (the held fold it guards against: 45 mm)."""
    body = _half_mirrored(scaled(load_tet_mesh(mesh_path("Armadillo_Tetra_4406.vtu"))))
    assert np.count_nonzero(volume_ratios(body) <= 0) > 100
    with pytest.warns(RuntimeWarning, match="softened"):
        run(body, 540, NO_GRAVITY)
    assert_at_rest_uninverted(body)
    assert _rms_to_rest(body) < 0.012


def _rms_to_rest(body: SoftBody) -> float:
    """RMS vertex distance (m) from the rest shape after the best rigid motion (no reflection)."""
    return rigid_rms(body.x, body.rest_points)


@pytest.mark.parametrize(("mesh", "before_mm"), [("liver.msh", 53.9), ("cylinder_8x30x6.msh", 48.5)])
def test_a_free_fold_the_recovery_holds_is_released_to_the_elastic_solve(mesh: str, before_mm: float) -> None:
    """A free body half mirrored (``_half_mirrored``), no gravity, velocity damping 5 /s: the
    inversion recovery lifted the same flattened tets back to det F 0.1 every substep and held the
    body folded with no load on it, the liver at rest 53.9 mm (RMS after rigid alignment) from its
    rest shape holding 0.67 J, cylinder_8x30x6 48.5 mm with 1.07 J in a 0.2 m/s flutter. A free
    body at rest holds no elastic energy, so once one sits still holding some with flagged tets
    the recovery is paused (``held.release_if_held``) and the elastic solve, whose energy is
    finite and restoring through inversion, opens the fold: both return to their rest shape
    (0.02 / 0.012 mm). Fails with the pause off (``held.RELEASE_TIME`` 0), as before."""
    body = _half_mirrored(scaled(load_tet_mesh(mesh_path(mesh))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # softened slivers (cylinder_8x30x6)
        run(body, 450, NO_GRAVITY)
    assert_at_rest_uninverted(body)
    assert _rms_to_rest(body) < 1e-3 * before_mm * 0.01  # 1 % of the fold it rested in
    assert solver.elastic_energy(body) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("start", ["half_mirrored", "crushed", "crushed_barrier"])
def test_the_raptor_from_a_half_mirrored_or_crushed_start_ends_uninverted(start: str) -> None:
    """raptorTetra_19409 as shipped, 0.2 m, liver material, no gravity, ``velocity_damping`` 5 /s,
    4 s, from a half-mirrored start (``_half_mirrored``) or crushed to 2 % of its height about its
    mean plus 0.1 mm noise (7,293 tets inverted; the outside check of issue #16, item 2).
    Before the step filter's release (``kernels._next_to_start_inversion``, on once the
    untangling leaves a tet inverted): 19 / 30 tets inverted at the end, frozen by the filter
    (0.09 m/s, a flutter) or fluttering (0.16 m/s); now 0 half mirrored, at rest.

    Crushed, with the defaults: until the solver's stuck count took every inverted tet
    (``kernels.count_stuck``, 2026-12-01) it ended at rest with 1 tet inverted (det F -0.799, a
    softened sliver left unflagged at the end of every frame, so never untangled) on the 2-core
    VM and the AMD EPYC CI machine of 2026-12-01 08:00 (0 on the machine before: the trajectory
    turns on the last bits), and this case ran with the opt-in volume barrier; now 0 inverted
    from frame 59 on and at rest (9e-5 m/s fastest vertex on the VM), asserted. ``crushed_barrier``
    keeps the barrier's run (0 inverted at the end, asserted; not at rest: 0.92 m/s, the softened
    slivers' two-substep cycle, open: docs/physics.md, "Issue #16 at a glance")."""
    mesh = scaled(load_tet_mesh(mesh_path("raptorTetra_19409.vtu")))
    if start == "half_mirrored":
        body = _half_mirrored(mesh)
    else:
        barrier = start == "crushed_barrier"
        body = recovering(SoftBody.from_mesh(mesh, UNDAMPED_LIVER, velocity_damping=5.0, volume_barrier=barrier))
        p = body.rest_points
        centre = p.mean(axis=0)
        body.x[:] = centre + (p - centre) * [1.0, 0.02, 1.0] + np.random.default_rng(0).normal(0.0, 1e-4, p.shape)
        body.x_prev[:] = body.x
    assert np.count_nonzero(volume_ratios(body) <= 0) > 1000
    with pytest.warns(RuntimeWarning):
        run(body, 360, NO_GRAVITY)
    j = volume_ratios(body)
    assert np.all(j > 0), f"{np.count_nonzero(j <= 0)} inverted tets at the end (min det F {j.min():.3f})"
    if start != "crushed_barrier":
        assert_at_rest_uninverted(body)


def _spin(body: SoftBody) -> float:
    """|omega| (rad/s) of the body's best rigid rotation (angular momentum / inertia about the
    centre of mass)."""
    m = 1.0 / body.inv_mass[:, 0]
    r = body.x - (m[:, None] * body.x).sum(axis=0) / m.sum()
    outer = r[:, :, None] * r[:, None, :]
    inertia = (m[:, None, None] * ((r**2).sum(axis=1)[:, None, None] * np.eye(3) - outer)).sum(axis=0)
    return float(np.linalg.norm(np.linalg.solve(inertia, (m[:, None] * np.cross(r, body.v)).sum(axis=0))))


def _momenta(body: SoftBody) -> tuple[float, float]:
    """|linear momentum| (kg m/s) and |angular momentum about the centre of mass| (kg m^2/s)."""
    m = 1.0 / body.inv_mass[:, 0]
    r = body.x - (m[:, None] * body.x).sum(axis=0) / m.sum()
    p = (m[:, None] * body.v).sum(axis=0)
    return float(np.linalg.norm(p)), float(np.linalg.norm((m[:, None] * np.cross(r, body.v)).sum(axis=0)))


@pytest.mark.parametrize("pull_back", [False, True])
def test_a_free_half_mirrored_torus_gains_no_momentum_and_comes_to_rest(pull_back: bool) -> None:
    """torus2_low_res, 0.2 m, liver material, half mirrored (``_half_mirrored``), no gravity, no
    pins, 4 s (the catalogue's run). It ends uninverted but folded through itself, with ~34 tets
    flagged and a fight at the recovery's floor: every substep the sweep takes ~20 tets from det F
    0.1 to 0.001-0.09 and the recovery lifts them back (vertices moved up to 0.5 mm). Each tet
    projection conserves angular momentum about the positions it is computed at, not about the
    substep's start, through which the velocity counts it: the fight leaked a torque every
    substep (sweep and warm start 2e-6 kg m^2/s per substep) and the body spun at 1.35 rad/s
    (0.081 m/s), balanced by the 5 /s velocity damping, restarting from zero velocity. Both
    moves, the sweep and the recovery, are internal forces and must not change a free body's
    momentum: ``kernels.momentum_repair`` returns the net momentum of such a substep's internal
    move to the whole body as one rigid motion (not in substeps where the step filter, an
    inelastic stop, acted: that stays as it was). Measured every frame
    after the first 0.1 s: neither momentum ever grows (both decay at the velocity damping's
    rate), and the body comes to rest (2e-5 m/s). With ``SoftBody.recover_pull_back`` (opt-in)
    likewise."""
    body = _half_mirrored(scaled(load_tet_mesh(mesh_path("torus2_low_res.msh"))))
    body.recover_pull_back = pull_back
    momenta = []
    for k in range(360):
        step_softbody(body, FRAME, SUBSTEPS, NO_GRAVITY)
        if k >= 9:  # after the first 0.1 s (vertices at up to 12 m/s while the half snaps back)
            momenta.append(_momenta(body))
    linear, angular = np.array(momenta).T
    # never gained: each frame at most the last (both decay with the velocity damping); 1e-15
    # absolute: round-off in v = (x - x_prev) / h (1e-14 m/s a vertex) near rest, on any CPU,
    # against the 6.2e-4 kg m^2/s of the defect
    assert np.all(np.diff(angular) <= 1e-9 * angular[:-1] + 1e-15), "the body gained angular momentum"
    assert np.all(np.diff(linear) <= 1e-9 * linear[:-1] + 1e-15), "the body gained linear momentum"
    assert angular[-1] < 1e-6 * 6.2e-4  # 6.2e-4 kg m^2/s: the spin at 1.35 rad/s before
    assert _spin(body) < 1e-3
    assert_at_rest_uninverted(body)
