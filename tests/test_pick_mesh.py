"""Mesh pick targets (vrmed.mesh.pick, the ``mesh`` shape of Interactable) against analytic
answers: ray-box distances on a triangulated box, both faces, axis-parallel rays, misses,
the entity's Transform and VisualMesh scale, hidden and translucent targets, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from vrmed.app import App
from vrmed.components.scene import Interactable, Name, Transform, VisualMesh
from vrmed.components.scene.render import ClipPlane
from vrmed.fields import AssetPath
from vrmed.geometry import quat_from_axis_angle
from vrmed.mesh.meshtypes import MeshError
from vrmed.mesh.pick import load_pick_mesh, prepare_pick_mesh, ray_hit
from vrmed.scenario.learner import pick_ray

HALF = np.array([0.03, 0.05, 0.02])  # the box's half extents, m


def slab_distance(origin: np.ndarray, direction: np.ndarray, half: np.ndarray) -> float:
    """The analytic entry (or, from inside, exit) distance of a ray into the box |x| <= half."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = (-half - origin) / direction, (half - origin) / direction
    near, far = np.nanmax(np.minimum(a, b)), np.nanmin(np.maximum(a, b))
    if near > far or far <= 0.0:
        return math.inf
    return float(near if near > 0.0 else far)


@pytest.fixture(scope="module")
def box_file(tmp_path_factory):
    # subdivided, so the box has many triangles and several runs of the hierarchy; the PLY
    # stores float32 coordinates (1e-9 m here), so picks through the file agree to 1e-8 m
    mesh = trimesh.creation.box(extents=2 * HALF).subdivide().subdivide().subdivide()
    path = tmp_path_factory.mktemp("pick") / "box.ply"
    mesh.export(path)
    return str(path), mesh


def test_ray_hit_equals_the_analytic_box_distance(box_file):
    """300 random rays from outside and inside the box, and the axis-parallel rays through
    its faces' centres and along its edges' planes: the distance of the nearest triangle
    equals the slab answer to 1e-12 m, misses are inf."""
    path, source = box_file
    mesh = prepare_pick_mesh(source.vertices, source.faces)  # float64: exact to rounding
    assert mesh.n_triangles == len(source.faces) == 768 and mesh.lo.shape[0] == 48 and mesh.lo2.shape[0] == 3
    from_file = load_pick_mesh(path)
    assert from_file is load_pick_mesh(path) and from_file.n_triangles == 768  # prepared once
    rng = np.random.default_rng(1)
    hits = misses = 0
    for _ in range(300):
        origin = rng.uniform(-0.2, 0.2, 3) if rng.random() < 0.8 else rng.uniform(-0.5, 0.5, 3) * HALF
        aim = rng.uniform(-1.3, 1.3, 3) * HALF - origin
        direction = aim / np.linalg.norm(aim)
        expected = slab_distance(origin, direction, HALF)
        got = ray_hit(mesh, origin, direction)
        if math.isinf(expected):
            assert math.isinf(got)
            misses += 1
        else:
            assert got == pytest.approx(expected, abs=1e-12)
            assert ray_hit(from_file, origin, direction) == pytest.approx(expected, abs=1e-8)
            hits += 1
    assert hits > 150 and misses > 20
    for axis in range(3):
        origin, direction = np.zeros(3), np.zeros(3)
        origin[axis], direction[axis] = 1.0, -1.0
        assert ray_hit(mesh, origin, direction) == pytest.approx(1.0 - HALF[axis], abs=1e-12)
        assert ray_hit(mesh, origin, -direction) == math.inf  # pointing away
        assert ray_hit(mesh, origin, direction, max_distance=0.5) == math.inf  # beyond the range


def test_degenerate_and_empty_surfaces():
    """Zero-area triangles are dropped (no ray can hit them); a surface of only those, or
    none, is refused."""
    points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]])
    mesh = prepare_pick_mesh(points, [[0, 1, 2], [0, 1, 3]])
    assert mesh.n_triangles == 1
    assert ray_hit(mesh, np.array([0.2, 0.2, 1.0]), np.array([0.0, 0.0, -1.0])) == pytest.approx(1.0)
    with pytest.raises(MeshError, match="non-zero area"):
        prepare_pick_mesh(points, [[0, 1, 3]])


def test_pick_ray_on_mesh_targets_follows_the_entity_and_what_is_drawn(box_file):
    """pick_ray over mesh targets: the entity's Transform (turned 90 deg about y, scaled 2)
    and VisualMesh scale apply as to the drawn mesh; nearest target wins; a hidden (alpha 0)
    target is skipped, a translucent one only picked with pick_translucent."""
    path = AssetPath(box_file[0])
    app = App()
    turn = quat_from_axis_angle((0.0, 1.0, 0.0), math.pi / 2)
    near_visual = VisualMesh(mesh=path, color=np.array([1.0, 1.0, 1.0, 1.0]), scale=np.array([1.0, 1.0, 1.5]))
    app.spawn(
        Name("near"),
        Transform(position=np.array([0.0, 0.0, 0.5]), orientation=np.array(turn), scale=np.array([2.0, 2.0, 2.0])),
        near_visual,
        Interactable(shape="mesh", mesh=path),
    )
    app.spawn(Name("far"), Transform(position=np.array([0.0, 0.0, -0.5])), Interactable(shape="mesh", mesh=path))
    origin, forward = np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, -1.0])
    # near: local x (half 0.03, times 1.0 visual scale) lies along world -z after the turn, x2
    assert pick_ray(app, origin, forward) == ("near", pytest.approx(1.5 - 2 * 0.03, abs=1e-8))
    # from the side (+x world = local +z: half 0.02 x 1.5 visual x 2 transform)
    assert pick_ray(app, [1.0, 0.0, 0.5], [-1.0, 0.0, 0.0]) == ("near", pytest.approx(1.0 - 0.06, abs=1e-8))
    near_visual.color[3] = 0.0  # hidden: the pointer reaches the box behind it
    assert pick_ray(app, origin, forward) == ("far", pytest.approx(2.5 - 0.02, abs=1e-8))
    near_visual.color[3] = 0.3  # translucent: passed through unless the target says so
    assert pick_ray(app, origin, forward)[0] == "far"
    for _, inter in app.query(Interactable):
        inter.pick_translucent = True
    assert pick_ray(app, origin, forward)[0] == "near"
    assert pick_ray(app, origin, [0.0, 1.0, 0.0]) == (None, math.inf)
    # a clip plane removing z > 0.5 (the near box's front half): the ray passes the cut-away
    # front face and meets the back face, 0.06 m behind the centre; the plane cuts only the
    # entities it names and nothing when disabled
    near_visual.color[3] = 1.0
    cut = ClipPlane((0.0, 0.0, -1.0, 0.5))
    app.insert_resource(cut)
    assert pick_ray(app, origin, forward) == ("near", pytest.approx(1.5 + 0.06, abs=1e-8))
    cut.entities = frozenset(e for e, n in app.query(Name) if n.value == "far")
    assert pick_ray(app, origin, forward) == ("near", pytest.approx(1.5 - 0.06, abs=1e-8))
    cut.entities, cut.enabled = None, False
    assert pick_ray(app, origin, forward) == ("near", pytest.approx(1.5 - 0.06, abs=1e-8))


def test_bad_mesh_targets_are_clear_errors(tmp_path, box_file):
    with pytest.raises(ValueError, match="shape must be one of box, sphere, mesh, got 'cone'"):
        Interactable(shape="cone")
    with pytest.raises(ValueError, match="shape: mesh needs `mesh:`"):
        Interactable(shape="mesh")
    with pytest.raises(ValueError, match="only with shape: mesh"):
        Interactable(mesh=AssetPath(box_file[0]))
    with pytest.raises(ValueError, match="shape: box needs half_extents"):
        Interactable(shape="box")
    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n")
    with pytest.raises(ValueError, match="broken.ply"):
        Interactable(shape="mesh", mesh=AssetPath(str(broken)))
