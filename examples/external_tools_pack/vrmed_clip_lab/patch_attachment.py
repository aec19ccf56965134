"""A distributed surface-patch attachment: a tissue constraint type added from outside vrmed.

It anchors an organ to the tissue around it (a gallbladder to its liver bed, a kidney to the
retroperitoneum): every surface vertex of a SoftBody within ``radius`` of ``centre`` is tied
to a point fixed in a rigid frame by a soft XPBD position constraint. The frame is the
patch entity's ``Transform`` (position + orientation) and may move; the patch then drags
the tissue with it.

Compliance is in m/N and belongs to the whole patch: pulling the patch bodily with a force F
(N) moves it ``compliance * F`` metres from its anchors at equilibrium (0 = rigid). Each
vertex gets the share of its surface area, ``alpha_i = compliance * A / A_i`` (A the patch's
surface area, A_i the vertex's third of its boundary triangles), so the glue is equally
stiff per unit area whatever the mesh.

The worked example of docs/physics.md ("Add a surface-patch attachment"); it imports only
the public pack API, ``vrmed.api``, plus numpy and numba.

YAML, on its own entity (its Transform is the frame; without one the frame is the world)::

    - name: liver_bed
      components:
        Transform: {position: [0.0, 0.05, 0.0]}
        PatchAttachment: {body: gallbladder, centre: [0.0, 0.05, 0.0], radius: 0.01, compliance: 1.0e-3}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

import vrmed.api as vm

from .rotation import quat_matrix_rows


@njit(cache=True)
def project_patch(x, x_prev, inv_mass, frac, h, indices, anchors, compliance, pose_start, pose_target, force):
    """One XPBD iteration of every patch vertex's position constraint ``C = x_i - (p + R a_i)``.

    The frame pose (position, unit quaternion w x y z) moves from ``pose_start`` to
    ``pose_target`` over the step: position linearly, orientation by normalised lerp.
    Lagrange multipliers start at zero each substep (one iteration), so per axis
    ``dlam = -C / (w + alpha / h^2)``, ``x += w dlam``, and the force on the vertex is
    ``dlam / h^2`` (N), written to ``force``.
    """
    px = pose_start[0] + frac * (pose_target[0] - pose_start[0])
    py = pose_start[1] + frac * (pose_target[1] - pose_start[1])
    pz = pose_start[2] + frac * (pose_target[2] - pose_start[2])
    qw = pose_start[3] + frac * (pose_target[3] - pose_start[3])
    qx = pose_start[4] + frac * (pose_target[4] - pose_start[4])
    qy = pose_start[5] + frac * (pose_target[5] - pose_start[5])
    qz = pose_start[6] + frac * (pose_target[6] - pose_start[6])
    s = 1.0 / np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    qw, qx, qy, qz = qw * s, qx * s, qy * s, qz * s
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = quat_matrix_rows(qw, qx, qy, qz)
    inv_h2 = 1.0 / (h * h)
    for k in range(indices.shape[0]):
        i = indices[k]
        a0, a1, a2 = anchors[k, 0], anchors[k, 1], anchors[k, 2]
        t0 = px + r00 * a0 + r01 * a1 + r02 * a2
        t1 = py + r10 * a0 + r11 * a1 + r12 * a2
        t2 = pz + r20 * a0 + r21 * a1 + r22 * a2
        alpha = compliance[k] * inv_h2
        for r in range(3):
            t = t0 if r == 0 else (t1 if r == 1 else t2)
            w = inv_mass[i, r]
            denom = w + alpha
            if denom > 0.0:
                dlam = -(x[i, r] - t) / denom
                x[i, r] += w * dlam
                force[k, r] = dlam * inv_h2
            else:  # a held axis of a rigid patch: nothing can move, no force is known
                force[k, r] = 0.0


def surface_vertex_areas(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Each vertex's share of the boundary surface (m^2): a third of every boundary triangle
    touching it (0 for interior vertices). A boundary triangle belongs to exactly one tet."""
    faces = np.sort(tets[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), axis=1)
    unique, counts = np.unique(faces, axis=0, return_counts=True)
    boundary = unique[counts == 1]
    p = points[boundary]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    out = np.zeros(len(points))
    np.add.at(out, boundary.ravel(), np.repeat(area / 3.0, 3))
    return out


def _pose(position: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    q = np.asarray(orientation, dtype=np.float64)
    n = np.linalg.norm(q)
    if not (np.isfinite(n) and n > 0):
        raise vm.ConstraintError(f"patch_attachment constraint: orientation: not a quaternion: {list(q)}")
    return np.concatenate([np.asarray(position, dtype=np.float64), q / n])


@dataclass(eq=False)
class PatchConstraint(vm.TissueConstraint):
    """The patch's constraint data (see the module docstring); build it with :meth:`on_surface`.

    ``indices`` (k,) surface vertices, ``anchors`` (k, 3) their anchor points in the frame's
    coordinates (m), ``compliance`` (k,) per-vertex compliance (m/N), ``pose_start`` /
    ``pose_target`` (7,) the frame pose (position m, unit quaternion w x y z) at the start
    and the end of the step, ``force`` (k, 3) the force (N) each vertex received in the last
    substep (output).
    """

    name = "patch_attachment"
    array_fields = ("indices", "anchors", "compliance", "pose_start", "pose_target", "force")
    kernel = project_patch

    indices: np.ndarray
    anchors: np.ndarray
    compliance: np.ndarray
    pose_start: np.ndarray
    pose_target: np.ndarray
    force: np.ndarray

    @classmethod
    def on_surface(
        cls,
        points: np.ndarray,
        tets: np.ndarray,
        centre: np.ndarray,
        radius: float,
        compliance: float,
        position: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
        orientation: np.ndarray | tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0),
    ) -> PatchConstraint:
        """Attach every surface vertex of the mesh (``points`` (n, 3), ``tets`` (m, 4): pass the
        body's ``rest_points`` and ``tets``) within ``radius`` m of ``centre`` to a frame whose
        pose is now ``position`` / ``orientation``; ``compliance`` (m/N) is the whole patch's."""
        if not (np.isfinite(compliance) and compliance >= 0):
            raise vm.ConstraintError(
                f"patch_attachment constraint: compliance: must be finite and >= 0 m/N, got {compliance}"
            )
        if not (np.isfinite(radius) and radius > 0):
            raise vm.ConstraintError(f"patch_attachment constraint: radius: must be > 0 m, got {radius}")
        area = surface_vertex_areas(points, tets)
        dist = np.linalg.norm(points - np.asarray(centre, dtype=np.float64), axis=1)
        on_surface = area > 0
        idx = np.flatnonzero(on_surface & (dist <= radius)).astype(np.int64)
        if idx.size == 0:
            nearest = float(dist[on_surface].min())
            raise vm.ConstraintError(
                f"patch_attachment constraint: radius: no surface vertex within {radius} m of centre "
                f"{list(np.round(centre, 4))}; the nearest is {nearest:.4g} m away"
            )
        pose = _pose(np.asarray(position, dtype=np.float64), np.asarray(orientation, dtype=np.float64))
        R = vm.quat_matrix(pose[3:])
        return cls(
            indices=idx,
            anchors=np.ascontiguousarray((points[idx] - pose[:3]) @ R),  # R^T (x - p), row-wise
            compliance=np.ascontiguousarray(compliance * area[idx].sum() / area[idx]),
            pose_start=pose.copy(),
            pose_target=pose,
            force=np.zeros((idx.size, 3)),
        )

    def validate(self, n_vertices: int) -> None:
        """Indices in range, matching shapes, compliance >= 0, finite unit-quaternion poses."""
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        k = self.indices.shape[0]
        self.check_shape("anchors", (k, 3))
        self.check_shape("compliance", (k,))
        self.check_compliance("compliance")
        self.check_shape("force", (k, 3))
        for f in ("pose_start", "pose_target"):
            self.check_shape(f, (7,))
            if abs(np.linalg.norm(getattr(self, f)[3:]) - 1.0) > 1e-6:
                raise self.error(f, "orientation (entries 3..6) must be a unit quaternion w, x, y, z")

    def move_frame(self, position: np.ndarray, orientation: np.ndarray) -> None:
        """Where the frame must be at the end of the next step (it moves there over the step)."""
        pose = _pose(position, orientation)
        if np.dot(pose[3:], self.pose_start[3:]) < 0:  # q and -q are the same turn: take the short way
            pose[3:] *= -1.0
        self.pose_target[:] = pose

    def end_step(self) -> None:
        """The frame reached its target: the next step starts there."""
        self.pose_start[:] = self.pose_target

    def anchor_positions(self) -> np.ndarray:
        """World positions (k, 3) of the anchors at the target pose."""
        return self.pose_target[:3] + self.anchors @ vm.quat_matrix(self.pose_target[3:]).T

    def total_force(self) -> np.ndarray:
        """Force (N, 3-vector) the patch exerted on the body in the last substep."""
        return self.force.sum(axis=0)


@vm.component
@dataclass
class PatchAttachment:
    """Attach the surface of SoftBody ``body`` (an entity name) within ``radius`` m of
    ``centre`` (world, m, at spawn) to this entity's frame (its Transform; the world frame
    without one) with compliance ``compliance`` m/N for the whole patch (0 = rigid).

    The constraint is built when the body is there (``constraint``, not settable from YAML),
    and rebuilt from the rest shape if the body's arrays are replaced (a cut).
    """

    body: str
    centre: np.ndarray = vm.vec3()
    radius: float = 0.01
    compliance: float = 1.0e-3
    constraint: PatchConstraint | None = field(default=None, init=False, repr=False)
    #: frame pose at binding (anchors are fixed in the frame then) and over the display frame
    bind_pose: np.ndarray = field(default_factory=lambda: np.zeros(7), init=False, repr=False)
    pose_from: np.ndarray = field(default_factory=lambda: np.zeros(7), init=False, repr=False)
    pose_to: np.ndarray = field(default_factory=lambda: np.zeros(7), init=False, repr=False)
    display_frame: int = field(default=-1, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.body:
            raise ValueError("body: name the entity whose SoftBody the patch holds")
        if not (np.isfinite(self.radius) and self.radius > 0):
            raise ValueError(f"radius must be > 0 m, got {self.radius}")
        if not (np.isfinite(self.compliance) and self.compliance >= 0):
            raise ValueError(f"compliance must be finite and >= 0 m/N (0 = rigid), got {self.compliance}")


def _frame_pose(app: vm.App, entity: int) -> np.ndarray:
    tf = app.try_get(entity, vm.Transform)
    if tf is None:
        return np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    return _pose(tf.position, tf.orientation)


def _soft_body(app: vm.App, name: str) -> vm.SoftBody | None:
    for entity, n in app.query(vm.Name):
        if n.value == name:
            return app.try_get(entity, vm.SoftBody)
    return None


def patch_attachment_system(app: vm.App) -> None:
    """physics stage, before the tissue solve: bind new patches, move every patch's frame to
    where its Transform is at the end of this physics tick.

    A Transform changes once per display frame; the frame moves from the previous display
    frame's pose to the new one over that frame's physics ticks, so tissue is not jerked once
    per frame.
    """
    clock = app.clock
    frame_dt = app.schedule.frame_dt
    end_of_tick = min(max(float((clock.exact_time + clock.exact_dt - clock.frame_time) / frame_dt), 0.0), 1.0)
    for entity, patch in app.query(PatchAttachment):
        body = _soft_body(app, patch.body)
        if body is None:  # not spawned yet, or despawned
            patch.constraint = None
            continue
        pose = _frame_pose(app, entity)
        if patch.constraint is None or not any(c is patch.constraint for c in body.constraints):
            if patch.constraint is None:
                patch.bind_pose[:] = pose
            # anchors from the rest shape in the frame at binding: the same after a cut rebuilt the body
            constraint = PatchConstraint.on_surface(
                body.rest_points,
                body.tets,
                patch.centre,
                patch.radius,
                patch.compliance,
                patch.bind_pose[:3],
                patch.bind_pose[3:],
            )
            constraint.pose_start[:] = pose  # the frame is where its Transform is now
            constraint.pose_target[:] = pose
            patch.constraint = body.add_constraint(constraint)
            patch.pose_from[:] = pose
            patch.pose_to[:] = pose
            patch.display_frame = clock.frame
        if patch.display_frame != clock.frame:
            patch.display_frame = clock.frame
            patch.pose_from[:] = patch.pose_to
            patch.pose_to[:] = pose
            if np.dot(patch.pose_to[3:], patch.pose_from[3:]) < 0:  # same turn, the short way round
                patch.pose_to[3:] *= -1.0
        target = patch.pose_from + end_of_tick * (patch.pose_to - patch.pose_from)
        patch.constraint.move_frame(target[:3], target[3:])


#: Component types this extension adds (the pack loader validates YAML against them).
COMPONENTS: tuple[type, ...] = (PatchAttachment,)


def install(app: vm.App) -> None:
    """Register the component, the constraint type and the system on ``app``."""
    app.register_component(PatchAttachment)
    vm.register_tissue_constraint(app, PatchConstraint)
    app.add_system(patch_attachment_system, stage="physics", name="clip_lab.patch_attachment", before="physics.solve")
