"""A laparoscopic clip applier: a new instrument type added through vrmed's tool registry.

The worked example of the tool-behaviour seam (docs/interaction.md, "Tool types and
behaviours"):

- :data:`CLIP_APPLIER` is a :class:`vrmed.api.ToolType` named ``clip_applier``: the jaw
  geometry of a 10 mm clip applier and one behaviour, :class:`ClipBehaviour`;
- :class:`ClipBehaviour` is a :class:`vrmed.api.ToolBehaviour`. When the jaws close on
  tissue it places a clip: the free tissue vertices between the jaws
  (:func:`vrmed.api.tissue_in_jaw`) are bound into one rigid group by a
  :class:`ClipConstraint` added to the body, :class:`ClipApplied` is sent, and the clip is
  counted (:class:`~vrmed_clip_lab.overlay.ClipCounter`, which the overlay pass shows).
  While the jaws stay closed on the clip they collide with nothing (the clipped tissue is
  in them); opening leaves the clip on the tissue. Closing on nothing places no clip;
- :class:`ClipConstraint` is a tissue constraint (:class:`vrmed.api.TissueConstraint`)
  projected by the XPBD solver every substep: rigid shape matching (Mueller et al. 2005,
  "Meshless deformations based on shape matching") of the clipped vertices to the shape
  they had when the clip closed, the rotation extracted as in Mueller et al. 2016 ("A
  robust method to extract the rotational part of deformations"). The clipped tissue moves
  and turns as one piece and keeps its mass, so the tissue around it carries it;
- :func:`install` registers the tool type, the constraint type, the resources and the
  drawing of the clips on an App; :data:`TOOL_TYPES` is what an engine plugin lists in its
  ``tool_types`` so that packs may write ``tool: clip_applier`` in YAML.

Only the public pack API, ``vrmed.api``, is imported (plus numpy and numba).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

import vrmed.api as vm

from .overlay import ClipCounter
from .rotation import quat_matrix_rows

#: drawn clip (titanium), radius of its capsule (m)
CLIP_COLOR = (0.72, 0.74, 0.78, 1.0)
CLIP_RADIUS = 0.0008


@njit(cache=True)
def project_clip(x, x_prev, inv_mass, frac, h, indices, shape, weights, rotation, centre):
    """Project the clipped vertices rigidly onto their clip-time shape (one substep).

    ``shape`` (k, 3): each vertex's offset from the clipped group's mass centre when the clip
    closed (world axes then); ``weights`` (k,): their masses; ``rotation`` (4,): the group's
    turn since then (unit quaternion w, x, y, z), the warm start of the rotation extraction
    and updated in place; ``centre`` (3,): written with the group's mass centre. The goal of
    vertex j is ``centre + R shape[j]``, with R the rotation closest to
    ``A = sum_j m_j (x_j - centre) shape[j]^T``; axes held by other constraints
    (``inv_mass`` 0) are left alone. Mass-weighted, so the group's momentum is kept.
    """
    k = indices.shape[0]
    m = 0.0
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    for j in range(k):
        i = indices[j]
        w = weights[j]
        m += w
        c0 += w * x[i, 0]
        c1 += w * x[i, 1]
        c2 += w * x[i, 2]
    c0 /= m
    c1 /= m
    c2 /= m
    # A (row r, column s) = sum m (x - c)_r shape_s
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = 0.0
    for j in range(k):
        i = indices[j]
        w = weights[j]
        d0, d1, d2 = w * (x[i, 0] - c0), w * (x[i, 1] - c1), w * (x[i, 2] - c2)
        s0, s1, s2 = shape[j, 0], shape[j, 1], shape[j, 2]
        a00 += d0 * s0
        a01 += d0 * s1
        a02 += d0 * s2
        a10 += d1 * s0
        a11 += d1 * s1
        a12 += d1 * s2
        a20 += d2 * s0
        a21 += d2 * s1
        a22 += d2 * s2
    qw, qx, qy, qz = rotation[0], rotation[1], rotation[2], rotation[3]
    for _ in range(20):
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = quat_matrix_rows(qw, qx, qy, qz)
        # omega = sum_s (R column s) x (A column s) / |sum_s (R column s) . (A column s)|
        o0 = (r10 * a20 - r20 * a10) + (r11 * a21 - r21 * a11) + (r12 * a22 - r22 * a12)
        o1 = (r20 * a00 - r00 * a20) + (r21 * a01 - r01 * a21) + (r22 * a02 - r02 * a22)
        o2 = (r00 * a10 - r10 * a00) + (r01 * a11 - r11 * a01) + (r02 * a12 - r12 * a02)
        dot = r00 * a00 + r10 * a10 + r20 * a20 + r01 * a01 + r11 * a11 + r21 * a21
        dot += r02 * a02 + r12 * a12 + r22 * a22
        s = 1.0 / (abs(dot) + 1e-30)
        o0, o1, o2 = o0 * s, o1 * s, o2 * s
        angle = np.sqrt(o0 * o0 + o1 * o1 + o2 * o2)
        if angle < 1e-12:
            break
        sh = np.sin(0.5 * angle) / angle
        pw, px, py, pz = np.cos(0.5 * angle), o0 * sh, o1 * sh, o2 * sh
        # q = p * q (turn by omega after the current rotation), renormalised
        nw = pw * qw - px * qx - py * qy - pz * qz
        nx = pw * qx + px * qw + py * qz - pz * qy
        ny = pw * qy - px * qz + py * qw + pz * qx
        nz = pw * qz + px * qy - py * qx + pz * qw
        n = 1.0 / np.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        qw, qx, qy, qz = nw * n, nx * n, ny * n, nz * n
    rotation[0], rotation[1], rotation[2], rotation[3] = qw, qx, qy, qz
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = quat_matrix_rows(qw, qx, qy, qz)
    for j in range(k):
        i = indices[j]
        s0, s1, s2 = shape[j, 0], shape[j, 1], shape[j, 2]
        g0 = c0 + r00 * s0 + r01 * s1 + r02 * s2
        g1 = c1 + r10 * s0 + r11 * s1 + r12 * s2
        g2 = c2 + r20 * s0 + r21 * s1 + r22 * s2
        if inv_mass[i, 0] > 0.0:
            x[i, 0] = g0
        if inv_mass[i, 1] > 0.0:
            x[i, 1] = g1
        if inv_mass[i, 2] > 0.0:
            x[i, 2] = g2
    centre[0], centre[1], centre[2] = c0, c1, c2


@dataclass(eq=False)
class ClipConstraint(vm.TissueConstraint):
    """A placed clip's hold on its body (see :func:`project_clip`); build it with :meth:`around`.

    ``indices`` (k,) clipped vertices, ``shape`` (k, 3) their clip-time offsets from the
    group's mass centre (m), ``weights`` (k,) their masses (kg), ``rotation`` (4,) the
    group's turn since the clip closed and ``centre`` (3,) its mass centre (both outputs,
    current after every substep).
    """

    name = "clip"
    array_fields = ("indices", "shape", "weights", "rotation", "centre")
    kernel = project_clip

    indices: np.ndarray
    shape: np.ndarray
    weights: np.ndarray
    rotation: np.ndarray
    centre: np.ndarray

    @classmethod
    def around(cls, body: vm.SoftBody, indices: np.ndarray) -> ClipConstraint:
        """Clip ``indices`` of ``body`` where they are now (at least two vertices)."""
        idx = np.ascontiguousarray(np.asarray(indices, dtype=np.int64).ravel())
        if idx.size < 2:
            raise vm.ConstraintError(f"clip constraint: indices: a clip holds at least 2 vertices, got {idx.size}")
        weights = np.ascontiguousarray(body.mass[idx], dtype=np.float64)
        centre = weights @ body.x[idx] / weights.sum()
        return cls(
            indices=idx,
            shape=np.ascontiguousarray(body.x[idx] - centre),
            weights=weights,
            rotation=np.array([1.0, 0.0, 0.0, 0.0]),
            centre=np.ascontiguousarray(centre),
        )

    def validate(self, n_vertices: int) -> None:
        """Indices in range, matching shapes, positive masses, a unit quaternion."""
        super().validate(n_vertices)
        self.check_indices("indices", n_vertices)
        k = self.indices.shape[0]
        self.check_shape("shape", (k, 3))
        self.check_shape("weights", (k,))
        if not np.all(self.weights > 0):
            raise self.error("weights", "vertex masses must be > 0 kg")
        self.check_shape("rotation", (4,))
        self.check_shape("centre", (3,))
        if abs(np.linalg.norm(self.rotation) - 1.0) > 1e-6:
            raise self.error("rotation", "must be a unit quaternion w, x, y, z")

    def rotation_matrix(self) -> np.ndarray:
        """The group's turn since the clip closed, as a 3x3 matrix."""
        w, x, y, z = self.rotation
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )


@dataclass(frozen=True)
class ClipApplied(vm.Event):
    """A clip applier placed a clip on ``body`` (entity) at ``position`` (world m: the mass
    centre of the clipped tissue)."""

    instrument: str
    body: int
    position: tuple[float, float, float]


@dataclass(eq=False)
class Clip:
    """A placed clip: its body, the applier that placed it, its constraint, and the clip's
    axis (the jaw direction when it closed) and length (the jaw length) for drawing."""

    body: int
    applier: int
    constraint: ClipConstraint
    axis: np.ndarray
    length: float


@dataclass
class Clips:
    """Resource: every clip placed in this App (in order), and the clip each applier still
    holds between its closed jaws."""

    placed: list[Clip] = field(default_factory=list)
    in_jaws: dict[int, Clip] = field(default_factory=dict)


class ClipBehaviour(vm.ToolBehaviour):
    """Closing the jaws on tissue places a clip (see the module docstring)."""

    def jaw_closed(self, app: vm.App, entity: int, inst: vm.Instrument, state: vm.ToolState) -> None:
        """Clip the free vertices between the jaws of the first body that has any."""
        clips = app.resource(Clips)
        for b_ent, body, idx in vm.tissue_in_jaw(app, inst, state, inst.jaw_radius + inst.grasp_margin):
            if idx.size < 2:
                continue
            constraint = ClipConstraint.around(body, idx)
            body.add_constraint(constraint)
            clip = Clip(b_ent, entity, constraint, inst.direction.copy(), inst.jaw_length)
            clips.placed.append(clip)
            clips.in_jaws[entity] = clip
            app.resource(ClipCounter).clips += 1
            c = constraint.centre
            app.send(ClipApplied(vm.instrument_name(app, entity), b_ent, (float(c[0]), float(c[1]), float(c[2]))))
            return

    def jaw_opened(self, app: vm.App, entity: int, inst: vm.Instrument, state: vm.ToolState) -> None:
        """Leave the clip on the tissue."""
        app.resource(Clips).in_jaws.pop(entity, None)

    def update(self, app: vm.App, entity: int, inst: vm.Instrument, state: vm.ToolState) -> None:
        """Jaws closed on a clip hold the clipped tissue: they must not push it out."""
        if entity in app.resource(Clips).in_jaws:
            state.jaw_shapes = False

    def removed(self, app: vm.App, entity: int, state: vm.ToolState) -> None:
        """A despawned applier's clip stays on the tissue."""
        app.resource(Clips).in_jaws.pop(entity, None)


#: The clip applier: a 10 mm applier's jaws (12 mm long, 40 degrees open), one behaviour.
CLIP_APPLIER = vm.ToolType(
    "clip_applier", jaw_length=0.012, jaw_radius=0.0015, max_jaw_angle_deg=40.0, behaviours=(ClipBehaviour(),)
)

#: The tool types this extension adds: an engine plugin lists them in its ``tool_types``
#: class attribute so that packs can name them in YAML (checked before an App exists).
TOOL_TYPES: tuple[vm.ToolType, ...] = (CLIP_APPLIER,)

#: Component types this extension adds (the pack loader validates YAML against them): none,
#: clips are kept in the :class:`Clips` resource and counted in the overlay's ClipCounter.
COMPONENTS: tuple[type, ...] = ()


def clips_draw_system(app: vm.App) -> None:
    """render.prepare: queue every placed clip as a small capsule along its axis, following
    the clipped tissue (nothing without a renderer's DrawList)."""
    draws = app.try_resource(vm.DrawList)
    clips = app.resource(Clips)
    if draws is None or not clips.placed:
        return
    live = [c for c in clips.placed if any(k is c.constraint for k in _constraints(app, c.body))]
    if not live:
        return
    a = np.empty((len(live), 3))
    b = np.empty((len(live), 3))
    for n, clip in enumerate(live):
        axis = clip.constraint.rotation_matrix() @ clip.axis
        a[n] = clip.constraint.centre - 0.5 * clip.length * axis
        b[n] = clip.constraint.centre + 0.5 * clip.length * axis
    draws.add_capsules(a, b, CLIP_RADIUS, CLIP_COLOR, roughness=0.2)


def _constraints(app: vm.App, body: int) -> tuple[vm.TissueConstraint, ...]:
    soft = app.try_get(body, vm.SoftBody)
    return tuple(soft.constraints) if soft is not None else ()


def install(app: vm.App) -> None:
    """Register the clip applier, the clip constraint type, the resources and the clip
    drawing on ``app`` (after the instruments plugin)."""
    if not app.has_resource(Clips):
        app.insert_resource(Clips())
    if not app.has_resource(ClipCounter):
        app.insert_resource(ClipCounter())
    vm.register_tissue_constraint(app, ClipConstraint)
    vm.register_tool_type(app, CLIP_APPLIER)
    app.add_system(clips_draw_system, in_set="render.prepare", name="clip_lab.clips.draw")
