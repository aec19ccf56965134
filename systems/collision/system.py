"""Collision between kinematic tools and deforming tissue, projected once per physics tick after the tissue solve.

Design (one physics tick = one soft-body substep at the default settings):

* ``collision.detect`` (``physics.collision``, before the tissue solve): moves every kinematic
  primitive (Collider shapes, instrument shafts and jaws) to its pose at the end of the tick
  (tools move linearly over a display frame, like SoftBody attachments) and runs the broad
  phase of each SoftBody's boundary surface against the primitives' swept, inflated boxes.
* ``softbody.solve`` predicts and projects the tets (unchanged).
* ``collision.resolve`` (``physics.solve``, after ``softbody.solve``): narrow phase on the
  candidate pairs with the solved positions and XPBD contact projection with friction
  (Müller et al. 2020, "Detailed Rigid Body Simulation with Extended Position Based
  Dynamics"); velocities get ``dx / h``, which is exactly what projecting the contacts before
  the solver's ``v = (x - x_prev) / h`` would have given. Then the velocity pass
  (:func:`~vrmed.systems.collision.kernels.contact_velocities`, Müller et al. 2020 sec. 3.6):
  every vertex a contact moved gets restitution ``e`` (0) on its pre-contact normal velocity
  relative to the tool and Coulomb friction on its tangential one, so a push out of the tool
  is not turned into velocity (no flung vertices) and a stationary tool stops what it strikes.
  Both run after the tissue solve's velocity update of the same substep (one tick = one
  substep at the defaults), so kernels stay pure (no hook inside
  :func:`vrmed.systems.tissue.solver.step_softbody`), and the force each primitive receives is
  ``lambda / h^2``. A body too stiff for the tick's substeps (``tissue.solver.accurate_substeps``)
  is stepped by the solver in ``m`` sub-ticks instead, and its contacts are projected after each
  (:func:`contacts_between_subticks`, then ``collision.resolve`` after the last), with the tools
  at their sub-tick pose and the sub-tick's substep: as at an ``m`` times higher physics rate.

Boundary surfaces are computed once per body (and again after a cut replaces the body's
arrays); per-tick work allocates nothing. With ``CollisionSettings.refine`` (off by default),
``collision.detect`` also refines a body where a tool smaller than its tets comes
(:func:`vrmed.systems.tissue.refine.refine_region`), which rebuilds the body like a cut; that
check allocates a few small arrays per tick.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from vrmed.components.collision.collider import Collider, CollisionError
from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.scene.core import Name, Transform
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.events import Event
from vrmed.geometry import quat_matrix
from vrmed.settings import SimSettings
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.tissue_contact import TissueContactSettings, TissueContactWorld, tissue_contact_system
from vrmed.systems.tissue import kernels as TK
from vrmed.systems.tissue.refine import longest_rest_edge, refine_region
from vrmed.systems.tissue.solver import WARM_FULL, TickContacts

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

#: Most kinematic primitives in one scene (instrument = shaft + 2 jaws).
MAX_PRIMS = 64
#: A tick whose contacts met a sphere or capsule tool deeper than this (m) inside the surface
#: (after the tissue solve, before their projection) runs the push-through check
#: (:func:`_check_pushed_through`) on its own end state, not only a display frame's last tick:
#: the contact's stated tolerance (docs/physics.md "Issue #16 at a glance", item 3). At 2 m/s (2.2 mm a
#: tick against a 5 mm tool) the surface can be turned inside out around the tool's centre at one
#: tick and slide off it by the frame's end, which the last tick alone never saw.
PUSHED_CHECK_DEPTH = 5e-4


@dataclass(frozen=True)
class TissuePunctured(Event):
    """Tool ``owner`` pressed ``body`` with ``force`` (N) above its material's ``puncture_force``
    (``threshold``); the tool now passes through that body until it leaves its surface."""

    owner: int
    body: int
    force: float
    threshold: float


@dataclass(frozen=True)
class ToolInsideTissue(Event):
    """Tool ``owner`` was found inside ``body``'s tissue. ``reason`` says how it got there:
    ``"no_contact"`` (the default), inside the closed surface with no contact that put it there
    (its start pose, or a jump of its pose between frames, e.g. a teleport or lost tracking): it
    is treated as inserted, passing through that body like a punctured one until it leaves the
    surface; ``"pushed_through"``, a sphere or capsule tool in contact with the body whose axis
    ended inside tissue the contacts folded or closed over it, or out of which the contacts could
    not keep the surface within their stated tolerance (:data:`PUSHED_CHECK_DEPTH`, after
    :attr:`CollisionSettings.hold_rounds` further rounds) (the contacts could not hold it:
    the tissue was pushed past the tool through its interior vertices, inverting the tets
    between; ``force`` (N) is what the tool felt from the body in that tick, below any
    ``puncture_force``): reported once, until the tool is out of the body's reach, while the
    contacts keep acting on it (taken as inserted instead, the lifted tool hovered inserted just
    above the raptor's surface and the folded tissue fluttered at 0.11 m/s with a tet inverted).
    Not a :class:`TissuePunctured`: no force above a material's threshold
    broke the tissue (a body with no ``puncture_force`` never punctures, and a rubric counting
    punctures must not count a start pose or a contact failure); docs/physics.md "Contact"."""

    owner: int
    body: int
    reason: str = "no_contact"
    force: float = 0.0


@dataclass
class CollisionSettings:
    """Collision resource: ``margin`` (m) added to the broad-phase reach for tissue motion
    within a tick (2 mm: tissue up to ~1.8 m/s at 900 Hz), ``max_pairs`` candidate
    (primitive, triangle) pairs per body and tick, ``edge_stretch`` how far beyond its rest
    length a surface edge may stretch before the broad phase can miss a triangle (each
    vertex's reach is the margin plus its longest incident rest edge times this), and
    ``iterations`` Gauss-Seidel passes over the contacts per tick, stopping early once no
    contact is deeper than ``tolerance`` (m). Neighbouring contacts share vertices, so one pass
    pushing a face out moves its neighbours back in: with one pass a 5 mm sphere 40 mm deep in a
    6 cm liver-like block had 3.1 mm of surface inside it, with 8 none (docs/physics.md).
    ``velocity_pass`` runs the velocity-level contact response after the projection
    (restitution ``restitution`` on the normal velocity relative to the tool, applied above
    Müller et al.'s ``2 |g| h`` approach speed; Coulomb friction with the tool's coefficient on
    the tangential one); off, velocities are the projection's ``dx / h`` only (the behaviour
    before it, kept for comparison: docs/physics.md "Contact")."""

    margin: float = 0.002
    max_pairs: int = 16384
    edge_stretch: float = 1.5
    iterations: int = 8
    tolerance: float = 1e-5
    velocity_pass: bool = True
    restitution: float = 0.0
    #: Refine the tissue where a tool presses (:func:`vrmed.systems.tissue.refine.refine_region`,
    #: red-green refinement): when a sphere or capsule tool of radius r comes within the broad
    #: phase's reach of a body whose tets there have a longest rest edge above ``refine_ratio``
    #: x r, the tets within 2 r of the nearest surface vertex are split, up to ``refine_levels``
    #: times at once (once per region: not again while the tool stays within it), no child
    #: stiffer for the solver than ``refine_max_ratio`` (the stiffness ratio up to which the
    #: solver keeps its full warm start, :data:`~vrmed.systems.tissue.solver.WARM_FULL`: a finer
    #: tet would answer softer than the coarse one it replaces), a body growing to at most
    #: ``refine_growth`` x its tet count when first refined. Off by default: docs/physics.md,
    #: "Refinement where a tool presses", for what it gains and costs.
    refine: bool = False
    refine_ratio: float = 1.0
    refine_levels: int = 3
    refine_growth: float = 4.0
    refine_max_ratio: float = WARM_FULL
    #: Contact inside the elastic solve: the tet sweep sees this tick's sphere and capsule tools
    #: (:attr:`TickContacts.tools <vrmed.systems.tissue.solver.TickContacts>`): after each tet's
    #: correction, its vertices near a tool are projected out of it (a kinematic constraint in
    #: the Gauss-Seidel sweep), so the solve and the contacts agree; the projection after the
    #: solve still runs (events, forces, friction) and the tool's force adds the pushes made in
    #: the sweep. docs/physics.md "Contact", "Contact inside the tet sweep".
    sweep_contact: bool = False
    #: With the tet sweep seeing the tools: keep the contacts' "still tool" rule (a face inside
    #: out at the substep's start under a tool that moved under ``kernels.STILL_FRACTION`` of its
    #: radius is pushed out the closest way) for the bodies whose sweep saw a tool. Off: those
    #: bodies' contacts push such faces as under a moving tool.
    sweep_still: bool = False
    #: With the tet sweep seeing the tools: project each boundary face near a tool out of it after
    #: its own tet's step (not only the vertices): a tool smaller than the cells reaches faces
    #: whose corners are all outside it.
    sweep_faces: bool = True
    #: With the tet sweep seeing the tools: keep the contacts' push of a face whose interior the
    #: tool's point is behind past the tool. Off: such a face is left to the sweep (which pushes
    #: every face back to the side it came from).
    sweep_past: bool = True
    #: With the tet sweep seeing the tools: its pushes carry the tool's Coulomb friction
    #: (``Collider.friction``), as the contacts after the solve do: the vertex's (or face
    #: point's) displacement over the substep relative to the tool's point loses its tangential
    #: part up to mu times each push. Off: frictionless radial pushes, which let tissue struck
    #: onto a stationary shaft slide 3.2 mm along it at mu 0.3 (0.010 mm with). It does not make
    #: the presses hold: docs/physics.md "Contact inside the tet sweep", "Friction in the sweep".
    sweep_friction: bool = True
    #: Relax the tissue under the contacts in the same tick (opt-in; 0: off, the tick as before):
    #: after the contact projection, ``relax_sweeps`` Gauss-Seidel sweeps of the tet constraints
    #: (the solve's 2x2 block XPBD step, every vertex free) over the tets within ``relax_rings``
    #: rings of the vertices the contacts pushed that are below ``relax_below`` of their rest
    #: volume after the contacts and were at or above ``relax_pre`` before them, from the
    #: multipliers the tick's solve would hold before the contacts had it converged; then the
    #: contacts again; ``relax_rounds`` such rounds (contact and elasticity solved together, as
    #: XPBD projects contacts inside its iterations: Macklin et al. 2016, Müller et al. 2020). So
    #: the tissue under a pushed surface follows it in the same tick instead of being crushed by
    #: the contacts and thrown back by the next tick's solve (docs/physics.md, "Relaxing the tets
    #: under the contacts"). 4 sweeps, 3 rounds, 0.5 and 0 are the measured setting.
    relax_sweeps: int = 0
    relax_rings: int = 1
    relax_below: float = 0.5
    relax_rounds: int = 3
    relax_pre: float = 0.0
    #: Further contact rounds in a tick whose contacts left the surface deeper than the stated
    #: tolerance (:data:`PUSHED_CHECK_DEPTH`) inside a sphere or capsule tool
    #: (``kernels.contact_residual``), until it is within it: each a projection over every
    #: candidate pair (a round's later passes revisit only the pairs its first pass found in
    #: contact, and the faces its pushes past the tool dragged into it were out of contact then),
    #: in which a face the rules leave to a neighbour (behind a ridge, in a fold) is pushed out
    #: of the tool the closest way (no neighbour held it). A tick that still leaves the surface
    #: that deep reports the tool ``pushed_through`` on that tick (:func:`_check_pushed_through`;
    #: with 0 rounds, the default, the report alone: the surface is within the tolerance at every
    #: tick or the tool is reported on that tick). Opt-in: with 3 rounds truthcylinder1's fast
    #: presses hold where they were reported, but the raptor pressed fast and lifted kept 2 tets
    #: inverted at rest (``test_the_raptor_pressed_fast_and_lifted_ends_uninverted``).
    #: docs/physics.md "Contact", "The contacts' tolerance checked on every tick".
    hold_rounds: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.restitution <= 1.0:
            raise CollisionError(f"CollisionSettings: restitution must be in [0, 1], got {self.restitution}")
        if not self.refine_ratio > 0:
            raise CollisionError(f"CollisionSettings: refine_ratio must be > 0, got {self.refine_ratio}")
        if self.refine_levels < 0:
            raise CollisionError(f"CollisionSettings: refine_levels must be >= 0, got {self.refine_levels}")
        if self.hold_rounds < 0:
            raise CollisionError(f"CollisionSettings: hold_rounds must be >= 0, got {self.hold_rounds}")
        if self.relax_sweeps < 0 or self.relax_rounds < 1 or self.relax_rings not in (1, 2):
            raise CollisionError(
                "CollisionSettings: need relax_sweeps >= 0, relax_rounds >= 1 and relax_rings 1 or 2, got "
                f"{self.relax_sweeps}, {self.relax_rounds}, {self.relax_rings}"
            )
        if not self.refine_max_ratio > 0:
            raise CollisionError(f"CollisionSettings: refine_max_ratio must be > 0, got {self.refine_max_ratio}")
        if not self.refine_growth >= 1.0:
            raise CollisionError(f"CollisionSettings: refine_growth must be >= 1, got {self.refine_growth}")


@dataclass(eq=False)
class TissueSurface:
    """The boundary triangle surface of one SoftBody and its preallocated contact buffers.

    ``faces`` (F, 3) are wound outwards and index ``body.x``; ``face_tet`` the stored tet each
    face belongs to; ``verts`` the surface vertices with the vertex -> faces map
    ``vf_ptr``/``vf_idx``; ``max_edge`` the longest rest edge (m) and ``vert_edge`` the longest
    rest edge of the faces around each vertex (the broad phase's per-vertex reach).
    """

    tets_ref: np.ndarray
    faces: np.ndarray
    face_tet: np.ndarray
    verts: np.ndarray
    vf_ptr: np.ndarray
    vf_idx: np.ndarray
    max_edge: float
    stamp: np.ndarray
    counter: np.ndarray
    cand: np.ndarray
    pair_prim: np.ndarray
    pair_face: np.ndarray
    active: np.ndarray
    vert_edge: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vert_reach: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: this tick's per-vertex contact record for the velocity pass (kernels.CBUF_COLS columns)
    cbuf: np.ndarray = field(default_factory=lambda: np.zeros((0, CK.CBUF_COLS)))
    clist: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ccount: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    crec: np.ndarray = field(default_factory=lambda: np.zeros((0, CK.CREC_COLS)))
    #: per vertex: a vertex of a tet the inversion recovery flags (a fold; kernels.mark_fold)
    fold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    reach_for: tuple[float, float] = (-1.0, -1.0)
    n_pairs: int = 0
    force: np.ndarray = field(default_factory=lambda: np.zeros((MAX_PRIMS, 3)))
    count: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS, dtype=np.int64))
    depth: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS))
    #: per primitive: how deep the surface still was inside it after this tick's contacts
    #: (``kernels.contact_residual``; spheres and capsules)
    residual: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS))
    #: per primitive: its tool was reported pushed through this body (an episode of
    #: ``CollisionWorld.pushed_through``): no further contact rounds for it
    #: (:attr:`CollisionSettings.hold_rounds`)
    reported: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS, dtype=np.bool_))
    #: contact inside the tet sweep (CollisionSettings.sweep_contact, :func:`sweep_tools`): per
    #: vertex the candidate flag, summed push and pushing tool; per tool given to the sweep its
    #: slot, segments at the tick's start and end, radius, force and pushed-vertex count;
    #: ``sweep_n`` how many tools the last step's sweep saw (0: none)
    sweep_cand: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    sweep_dx: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    sweep_prim: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sweep_slot: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS, dtype=np.int64))
    sweep_seg: np.ndarray = field(default_factory=lambda: np.zeros((4, MAX_PRIMS, 3)))
    sweep_radius: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS))
    sweep_mu: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS))
    sweep_force: np.ndarray = field(default_factory=lambda: np.zeros((MAX_PRIMS, 3)))
    sweep_count: np.ndarray = field(default_factory=lambda: np.zeros(MAX_PRIMS, dtype=np.int64))
    sweep_n: int = 0
    #: the tool owners with a candidate pair on this surface in the last tick (:func:`sweep_tools`)
    sweep_near: set[int] = field(default_factory=set)
    #: the tet -> boundary faces map (CSR over the stored tets) for the sweep's face contacts
    sweep_tf_ptr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sweep_tf_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: CollisionSettings.relax_sweeps: the vertex -> tets map (CSR) and the relaxation's scratch
    relax_ptr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    relax_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    relax_mark: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    relax_list: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    relax_lam: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @classmethod
    def build(cls, body: SoftBody, max_pairs: int) -> TissueSurface:
        """Extract the boundary of ``body`` (rest winding) and allocate its buffers."""
        faces, face_tet = CK.boundary_faces(body.rest_points, body.tets)
        verts, ptr, idx = CK.vertex_faces(faces, body.n_vertices)
        p = body.rest_points
        edges = np.concatenate(
            [p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 1]], p[faces[:, 0]] - p[faces[:, 2]]]
        )
        length = np.sqrt(np.einsum("ij,ij->i", edges, edges)).reshape(3, -1).max(axis=0)  # per face
        vert_edge = np.zeros(body.n_vertices)
        for k in range(3):
            np.maximum.at(vert_edge, faces[:, k], length)
        max_edge = float(length.max()) if len(faces) else 0.0
        return cls(
            tets_ref=body.tets,
            faces=faces,
            face_tet=face_tet,
            verts=verts,
            vf_ptr=ptr,
            vf_idx=idx,
            max_edge=max_edge,
            vert_edge=vert_edge,
            vert_reach=np.zeros(body.n_vertices),
            cbuf=np.zeros((body.n_vertices, CK.CBUF_COLS)),
            clist=np.zeros(body.n_vertices, dtype=np.int64),
            crec=np.zeros((3 * max_pairs, CK.CREC_COLS)),  # a vertex record per pair's corner
            stamp=np.zeros(len(faces), dtype=np.int64),
            counter=np.zeros(1, dtype=np.int64),
            cand=np.zeros(max(len(verts), 1), dtype=np.int64),
            pair_prim=np.zeros(max_pairs, dtype=np.int64),
            pair_face=np.zeros(max_pairs, dtype=np.int64),
            active=np.zeros(max_pairs, dtype=np.int64),
        )

    def set_reach(self, margin: float, edge_stretch: float) -> None:
        """Per-vertex broad-phase reach: ``margin`` + ``edge_stretch`` x longest incident rest edge
        of a surface face (any point of a face lies within its longest edge of its vertices)."""
        self.vert_reach[:] = margin + edge_stretch * self.vert_edge
        self.reach_for = (margin, edge_stretch)

    @property
    def n_faces(self) -> int:
        """Number of boundary triangles."""
        return int(self.faces.shape[0])


@dataclass(frozen=True)
class RayHit:
    """The nearest thing a ray hit: ``entity``, ``kind`` (``tissue`` or ``tool``), world
    ``point``, ``distance`` along the ray (m) and ``index`` (boundary face for tissue,
    primitive slot for tools)."""

    entity: int
    kind: str
    point: tuple[float, float, float]
    distance: float
    index: int


class CollisionWorld:
    """Collision resource: the kinematic primitives of this frame (flat arrays of at most
    :data:`MAX_PRIMS`), the tissue surfaces, and per-owner contact results of the last tick.

    Tools register their shapes each display frame with :meth:`set_capsule` / :meth:`set_box`
    (keyed by owner entity and part number); the collision system interpolates each from its
    previous pose to the new one over the frame's physics ticks.
    """

    def __init__(self, settings: CollisionSettings | None = None) -> None:
        self.settings = settings or CollisionSettings()
        P = MAX_PRIMS
        self.n_prims = 0
        self.kind = np.zeros(P, dtype=np.int64)
        self.radius = np.zeros(P)
        self.friction = np.zeros(P)
        self.owner = np.full(P, -1, dtype=np.int64)
        self.part = np.zeros(P, dtype=np.int64)
        z3 = lambda: np.zeros((P, 3))  # noqa: E731
        self.a_start, self.b_start, self.a_end, self.b_end = z3(), z3(), z3(), z3()
        self.seg_a, self.seg_b, self.seg_a0, self.seg_b0 = z3(), z3(), z3(), z3()
        self.c_start, self.c_end, self.box_c, self.box_c0 = z3(), z3(), z3(), z3()
        self.box_R = np.tile(np.eye(3), (P, 1, 1))
        self.box_half = np.ones((P, 3))
        self.lo, self.hi = z3(), z3()
        self.surfaces: dict[int, TissueSurface] = {}
        self._pending: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._last_end: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        self._frame = -1
        #: force (N) on each owner's primitives from all tissue, summed, last tick
        self.owner_force: dict[int, np.ndarray] = {}
        #: soft-body entities each owner touched in the last tick
        self.owner_contacts: dict[int, set[int]] = {}
        #: deepest penetration (m) any primitive of each owner met in the last tick
        self.owner_depth: dict[int, float] = {}
        #: per soft-body entity, the tool owners that punctured it and are still inside it
        self.punctured: dict[int, set[int]] = {}
        #: per soft-body entity, the tool owners reported pushed through it (ToolInsideTissue
        #: "pushed_through") that are still within its reach: reported once per such episode
        self.pushed_through: dict[int, set[int]] = {}
        #: per soft-body entity refined under a tool: its refinement state (settings.refine)
        self.refined: dict[int, _RefineState] = {}
        #: per soft-body entity, the tool owners in contact with it this display frame and the
        #: last (their contact history: a tool in it is not taken as found inside)
        self.touched: dict[int, set[int]] = {}
        self.touched_last: dict[int, set[int]] = {}
        self._inside_frame = -1
        self._inside_pts = np.zeros((9 * MAX_PRIMS, 3))
        self._inside_w = np.zeros(9 * MAX_PRIMS)

    # -- shapes -----------------------------------------------------------------------------
    def set_capsule(self, owner: int, part: int, a: np.ndarray, b: np.ndarray, radius: float, friction: float) -> None:
        """Place a capsule (a sphere if ``a == b``) for the end of this display frame."""
        self._pending[(owner, part)] = (
            CK.KIND_CAPSULE,
            np.array(a, float),
            np.array(b, float),
            float(radius),
            float(friction),
        )

    def set_box(
        self, owner: int, part: int, center: np.ndarray, rotation: np.ndarray, half_extents: np.ndarray, friction: float
    ) -> None:
        """Place an oriented box (rotation columns = box axes) for the end of this frame."""
        self._pending[(owner, part)] = (
            CK.KIND_BOX,
            np.array(center, float),
            np.array(rotation, float),
            np.array(half_extents, float),
            float(friction),
        )

    def _pack(self) -> None:
        """Turn this frame's shapes into the flat arrays (start pose = last frame's end)."""
        if len(self._pending) > MAX_PRIMS:
            raise CollisionError(
                f"{len(self._pending)} collision shapes in the scene; at most {MAX_PRIMS} "
                "are supported (merge colliders or raise collision.MAX_PRIMS)"
            )
        last = self._last_end
        self._last_end = {}
        for p, (key, data) in enumerate(sorted(self._pending.items())):
            self.owner[p], self.part[p] = key
            kind = data[0]
            self.kind[p] = kind
            self.friction[p] = data[4]
            prev = last.get(key)
            if kind == CK.KIND_CAPSULE:
                a, b = data[1], data[2]
                self.radius[p] = data[3]
                self.a_end[p], self.b_end[p] = a, b
                if prev is not None and len(prev) == 2:
                    self.a_start[p], self.b_start[p] = prev
                else:
                    self.a_start[p], self.b_start[p] = a, b
                self._last_end[key] = (a, b)
            else:
                c = data[1]
                self.box_R[p] = data[2]
                self.box_half[p] = data[3]
                self.radius[p] = 0.0
                self.c_end[p] = c
                self.c_start[p] = prev[0] if prev is not None and len(prev) == 1 else c
                self._last_end[key] = (c,)
        self.n_prims = len(self._pending)
        self._pending = {}

    def _interpolate(self, f0: float, f1: float) -> None:
        CK.interpolate_prims(
            self.a_start,
            self.a_end,
            self.b_start,
            self.b_end,
            self.c_start,
            self.c_end,
            f0,
            f1,
            self.seg_a0,
            self.seg_b0,
            self.seg_a,
            self.seg_b,
            self.box_c0,
            self.box_c,
            self.n_prims,
        )

    # -- surfaces ---------------------------------------------------------------------------
    def surface(self, entity: int, body: SoftBody) -> TissueSurface:
        """The boundary surface of ``body`` (built on first use and after a cut)."""
        surf = self.surfaces.get(entity)
        if surf is None or surf.tets_ref is not body.tets:
            surf = self.surfaces[entity] = TissueSurface.build(body, self.settings.max_pairs)
        return surf

    # -- per tick ---------------------------------------------------------------------------
    def detect(self, body: SoftBody, surf: TissueSurface) -> int:
        """Broad phase of one body against the current primitives; returns the pair count."""
        n = self.n_prims
        if surf.reach_for != (self.settings.margin, self.settings.edge_stretch):
            surf.set_reach(self.settings.margin, self.settings.edge_stretch)
        pad = self.settings.margin + self.settings.edge_stretch * surf.max_edge
        CK.primitive_bounds(
            self.kind,
            self.seg_a,
            self.seg_b,
            self.seg_a0,
            self.seg_b0,
            self.radius,
            self.box_c,
            self.box_c0,
            self.box_R,
            self.box_half,
            n,
            pad,
            self.lo,
            self.hi,
        )
        surf.n_pairs = int(
            CK.broad_phase(
                body.x,
                surf.verts,
                surf.vf_ptr,
                surf.vf_idx,
                surf.vert_reach,
                self.kind,
                self.seg_a,
                self.seg_b,
                self.seg_a0,
                self.seg_b0,
                self.radius,
                self.box_c,
                self.box_R,
                self.box_half,
                self.lo,
                self.hi,
                n,
                surf.cand,
                surf.stamp,
                surf.counter,
                surf.pair_prim,
                surf.pair_face,
                surf.pair_prim.shape[0],
            )
        )
        return surf.n_pairs

    def resolve(self, body: SoftBody, surf: TissueSurface, h: float) -> None:
        """Narrow phase and contact projection of one body (after its tissue solve)."""
        surf.force.fill(0.0)
        surf.count.fill(0)
        surf.depth.fill(0.0)
        surf.residual.fill(0.0)
        hold = body.contact_hold
        if hold.shape[0] != body.x.shape[0]:  # first tick, or vertices added by a cut
            hold = body.contact_hold = np.zeros(body.x.shape[0], dtype=np.bool_)
        hold.fill(False)  # the vertices this tick's contacts push (the recovery keeps them)
        fold = surf.fold
        if fold.shape[0] != body.x.shape[0]:
            fold = surf.fold = np.zeros(body.x.shape[0], dtype=np.bool_)
        if body.recover_near.shape[0] == body.tets.shape[0]:
            CK.mark_fold(body.x, body.tets, body.recover_near, fold)  # vertices of inverted tets
        else:
            fold.fill(False)
        if surf.cbuf.shape[0] != body.x.shape[0]:  # vertices added without new tets
            surf.cbuf = np.zeros((body.x.shape[0], CK.CBUF_COLS))
            surf.clist = np.zeros(body.x.shape[0], dtype=np.int64)
        if surf.n_pairs == 0:
            surf.ccount[0] = surf.ccount[2] = 0  # no contact this tick (clist/crec read as empty)
            return
        self._project(body, surf, h)
        if self.settings.relax_sweeps > 0 and surf.ccount[0] > 0:
            self._relax(body, surf, h)
        # the contacts' stated tolerance, checked on their result: where they left the surface
        # deeper than it in a tool, further rounds over every candidate pair (the later passes
        # of a round revisit only the pairs its first found in contact, and the faces a push past
        # the tool dragged in were out of contact then), pushing the faces the round's rules leave
        # to a neighbour the closest way out (no neighbour held them). Not while an instrument holds
        # the body (as the push-through report): its jaws and blades close on the held tissue, and
        # the dissection's 1.2 mm scissor blades had the surface over 0.5 mm in them on ~1600
        # ticks of the scripted session; rounds there left its line 69 % divided (the rubric failed)
        left = self._residual(body, surf)
        rounds = 0 if body.attachment.indices.size else self.settings.hold_rounds
        for _ in range(rounds):
            if left <= PUSHED_CHECK_DEPTH:
                break
            self._project(body, surf, h, again=True, closest=True)
            left = self._residual(body, surf)
        if self.settings.velocity_pass:
            # Müller et al. 2020 (sec. 3.6): no restitution below 2 |g| h of approach speed
            CK.contact_velocities(
                body.v,
                body.inv_mass,
                surf.cbuf,
                surf.clist,
                surf.ccount,
                surf.crec,
                1.0 / h,
                self.settings.restitution,
                2.0 * 9.80665 * h,
            )

    def _project(
        self, body: SoftBody, surf: TissueSurface, h: float, again: bool = False, closest: bool = False
    ) -> None:
        """The contact projection of one body (``kernels.solve_contacts``). ``again``: a further
        round in the same tick (:attr:`CollisionSettings.relax_rounds`): this tick's contact
        records are kept and the new ones appended (the velocity pass reads them all)."""
        clist = surf.clist
        crec = surf.crec
        n0 = k0 = lost = 0
        if again:
            n0, k0, lost = int(surf.ccount[0]), int(surf.ccount[2]), int(surf.ccount[3])
            surf.ccount[1] -= 1  # the same tick's stamp (solve_contacts increments it)
            clist = surf.clist[n0:]
            crec = surf.crec[k0:]
        CK.solve_contacts(
            body.x,
            body.v,
            body.x_prev,
            body.inv_mass,
            surf.faces,
            1.0,
            surf.n_pairs,
            surf.pair_prim,
            surf.pair_face,
            self.kind,
            self.seg_a,
            self.seg_b,
            self.seg_a0,
            self.seg_b0,
            self.radius,
            self.box_c,
            self.box_c0,
            self.box_R,
            self.box_half,
            self.friction,
            h,
            surf.force,
            surf.count,
            surf.depth,
            self.settings.iterations,
            self.settings.tolerance,
            surf.active,
            body.contact_hold,
            surf.fold,
            body.tets,
            surf.face_tet,
            surf.cbuf,
            clist,
            surf.ccount,
            crec,
            0.0 if surf.sweep_n and not self.settings.sweep_still else CK.STILL_FRACTION,
            not (surf.sweep_n and not self.settings.sweep_past),
            closest,
        )
        if again:
            surf.ccount[0] += n0
            surf.ccount[2] += k0
            surf.ccount[3] += lost

    def _residual(self, body: SoftBody, surf: TissueSurface) -> float:
        """``surf.residual``: how deep the surface is still inside each sphere or capsule tool
        after the contacts (``kernels.contact_residual``); returns the largest (m)."""
        # fmt: off
        return float(CK.contact_residual(
            body.x, surf.faces, surf.n_pairs, surf.pair_prim, surf.pair_face, self.kind, self.seg_a, self.seg_b,
            self.radius, surf.reported, surf.residual,
        ))
        # fmt: on

    def _relax(self, body: SoftBody, surf: TissueSurface, h: float) -> None:
        """:attr:`CollisionSettings.relax_sweeps`: the tets around the vertices this tick's
        contacts pushed follow them (``tissue.kernels.relax_ring``), the contacts projected again
        after each round."""
        nt = body.tets.shape[0]
        if surf.relax_mark.shape[0] != nt:  # first use, or a cut: the vertex -> tets map
            surf.relax_ptr, surf.relax_idx = CK.vertex_cells(body.tets, body.x.shape[0])
            surf.relax_mark = np.zeros(nt, dtype=np.bool_)
            surf.relax_list = np.zeros(nt, dtype=np.int64)
            surf.relax_lam = np.zeros((nt, 2))
        if surf.relax_ptr.shape[0] != body.x.shape[0] + 1:  # vertices added without new tets
            return
        st = self.settings
        gamma = body.tet_volume_term()[1]
        n = TK.ring_tets(
            body.tets,
            surf.relax_ptr,
            surf.relax_idx,
            surf.clist,
            int(surf.ccount[0]),
            st.relax_rings,
            surf.relax_mark,
            surf.relax_list,
        )
        # fmt: off
        m = TK.relax_start(
            body.x, body.tets, body.dm_inv, body.alpha_dev, body.alpha_hyd, gamma, h, surf.cbuf,
            float(surf.ccount[1]), surf.relax_list, n, surf.relax_lam, st.relax_below, st.relax_pre,
        )
        if m == 0:  # no tet to relax: the tick's contacts as without the option
            return
        for _ in range(st.relax_rounds):  # contact and elasticity in turn, contacts last
            TK.relax_ring(
                body.x, body.v, body.inv_mass, body.tets, body.dm_inv, body.alpha_dev, body.alpha_hyd, gamma, h,
                surf.relax_list, m, surf.relax_lam, st.relax_sweeps,
            )
            self._project(body, surf, h, again=True)
        # fmt: on

    def primitives_of(self, owner: int) -> list[int]:
        """Slots of ``owner``'s primitives in the flat arrays."""
        return [p for p in range(self.n_prims) if self.owner[p] == owner]

    # -- ray casts --------------------------------------------------------------------------
    def raycast(
        self,
        app: App,
        origin: np.ndarray,
        direction: np.ndarray,
        max_distance: float = 10.0,
        ignore: tuple[int, ...] = (),
    ) -> RayHit | None:
        """Nearest hit of a ray with every SoftBody surface and tool shape (picking, line of
        sight), ignoring the owner entities in ``ignore``; None if nothing within range."""
        o = np.asarray(origin, dtype=np.float64)
        d = np.asarray(direction, dtype=np.float64)
        norm = float(np.linalg.norm(d))
        if not norm > 0:
            raise CollisionError("raycast: direction must be a non-zero vector")
        d = d / norm
        best: RayHit | None = None
        for entity, body in app.query(SoftBody):
            if entity in ignore:
                continue
            surf = self.surface(entity, body)
            t, f, _u, _v = CK.raycast_triangles(body.x, surf.faces, o, d, float(max_distance))
            if f >= 0 and (best is None or t < best.distance):
                best = RayHit(entity, "tissue", _point(o + t * d), float(t), int(f))
        for p in range(self.n_prims):
            if int(self.owner[p]) in ignore:
                continue
            if self.kind[p] == CK.KIND_CAPSULE:
                t = _ray_capsule(o, d, self.seg_a[p], self.seg_b[p], float(self.radius[p]))
            else:
                t = _ray_box(o, d, self.box_c[p], self.box_R[p], self.box_half[p])
            if 0.0 <= t <= max_distance and (best is None or t < best.distance):
                best = RayHit(int(self.owner[p]), "tool", _point(o + t * d), float(t), p)
        return best


def _point(p: np.ndarray) -> tuple[float, float, float]:
    """A 3-vector as a plain (x, y, z) tuple (hits are plain data)."""
    return (float(p[0]), float(p[1]), float(p[2]))


def _ray_capsule(o: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> float:
    """Distance along unit ray d to a capsule, or -1 (after I. Quilez's capsule intersector)."""
    ba, oa = b - a, o - a
    baba, bard, baoa = ba @ ba, ba @ d, ba @ oa
    rdoa, oaoa = d @ oa, oa @ oa
    A = baba - bard * bard
    if A > 1e-18:
        B = baba * rdoa - baoa * bard
        C = baba * oaoa - baoa * baoa - r * r * baba
        hh = B * B - A * C
        if hh >= 0.0:
            t = (-B - math.sqrt(hh)) / A
            y = baoa + t * bard
            if 0.0 < y < baba:
                return t
    best = -1.0
    for c in (a, b):
        oc = o - c
        B = d @ oc
        C = oc @ oc - r * r
        hh = B * B - C
        if hh >= 0.0:
            t = -B - math.sqrt(hh)
            if t >= 0.0 and (best < 0 or t < best):
                best = t
    return best


def _ray_box(o: np.ndarray, d: np.ndarray, c: np.ndarray, R: np.ndarray, half: np.ndarray) -> float:
    """Distance along unit ray d to an oriented box (slab test), or -1."""
    lo_t, hi_t = -np.inf, np.inf
    ol, dl = R.T @ (o - c), R.T @ d
    for k in range(3):
        if abs(dl[k]) < 1e-15:
            if abs(ol[k]) > half[k]:
                return -1.0
            continue
        t1, t2 = (-half[k] - ol[k]) / dl[k], (half[k] - ol[k]) / dl[k]
        lo_t, hi_t = max(lo_t, min(t1, t2)), min(hi_t, max(t1, t2))
    if hi_t < max(lo_t, 0.0):
        return -1.0
    return float(max(lo_t, 0.0))


def frame_fractions(app: App) -> tuple[float, float]:
    """Where the current physics tick starts and ends within the display frame (0..1)."""
    clock = app.clock
    frame_dt = app.resource(SimSettings).frame_dt
    t0 = (clock.exact_time - clock.frame_time) / frame_dt
    t1 = (clock.exact_time + clock.exact_dt - clock.frame_time) / frame_dt
    return min(max(float(t0), 0.0), 1.0), min(max(float(t1), 0.0), 1.0)


def gather_colliders(app: App, world: CollisionWorld) -> None:
    """Register every (Collider, Transform) entity's shape for this frame."""
    for entity, (col, tf) in app.query(Collider, Transform):
        R = quat_matrix(tf.orientation)
        pos = np.asarray(tf.position, float)
        if col.shape == "box":
            world.set_box(entity, 0, pos, R, np.asarray(col.half_extents, float), col.friction)
        else:
            axis = R[:, 2] * (col.half_length if col.shape == "capsule" else 0.0)
            world.set_capsule(entity, 0, pos - axis, pos + axis, col.radius, col.friction)


def collision_detect_system(app: App) -> None:
    """physics.collision: move the tool shapes to this tick's pose and run the broad phase."""
    world = app.resource(CollisionWorld)
    bodies = app.query(SoftBody)
    if world._frame != app.clock.frame:
        world._frame = app.clock.frame
        gather_colliders(app, world)
        world._pack()
        if len(world.surfaces) > len(bodies):  # forget the surfaces of despawned bodies
            live = {e for e, _ in bodies}
            for gone in [e for e in world.surfaces if e not in live]:
                del world.surfaces[gone]
                world.refined.pop(gone, None)
    f0, f1 = frame_fractions(app)
    world._interpolate(f0, f1)
    for entity, body in bodies:
        surf = world.surface(entity, body)
        if world.n_prims:
            world.detect(body, surf)
            if world.settings.refine and surf.n_pairs and _refine_under_tools(app, world, entity, body, surf):
                world.detect(body, world.surface(entity, body))  # the refined body's new surface
        else:
            surf.n_pairs = 0


@dataclass(eq=False)
class _RefineState:
    """Refinement bookkeeping of one body: ``tets_ref`` (the tets ``level`` belongs to),
    ``level`` (per stored tet: times refined red; green children at the maximum, never refined
    again), ``max_tets`` (the budget), ``tried`` (the contact centres and region radii refined
    or tried so far: a tool refines a region once, not again while it stays within it),
    ``stiff_edge`` (tets this long or shorter were found too stiff to refine at the solver's
    substep: contacts there do not try again) and ``face_edge`` (per boundary face, its tet's
    longest rest edge)."""

    tets_ref: np.ndarray
    level: np.ndarray
    max_tets: int
    tried: list[tuple[np.ndarray, float]] = field(default_factory=list)
    stiff_edge: float = 0.0
    face_edge: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _refine_under_tools(app: App, world: CollisionWorld, entity: int, body: SoftBody, surf: TissueSurface) -> bool:
    """Refine ``body`` where a sphere or capsule tool reaches it and the tets under the contact
    are longer than ``refine_ratio`` x the tool's radius (CollisionSettings.refine); True if
    the body changed. A body an instrument holds (attachment) is left alone: its grasp records
    the tets around the held vertices."""
    cfg = world.settings
    if body.attachment.indices.size:
        return False
    st = world.refined.get(entity)
    if st is None or st.tets_ref is not body.tets:
        if st is None:
            budget = int(cfg.refine_growth * body.n_tets)
            tried: list[tuple[np.ndarray, float]] = []
        else:  # the body changed otherwise (a cut): levels start afresh, the budget and regions stay
            budget, tried = st.max_tets, st.tried
        st = world.refined[entity] = _RefineState(body.tets, np.zeros(body.n_tets, dtype=np.int64), budget, tried)
    if st.face_edge.shape[0] != surf.n_faces:  # once per body state: each face's tet's longest edge
        st.face_edge = longest_rest_edge(body, surf.face_tet)
    if not st.face_edge.size or float(st.face_edge.max()) <= st.stiff_edge:
        return False  # nothing on this surface can be refined (any more) at this substep
    n = surf.n_pairs
    prims = surf.pair_prim[:n]
    for p in np.unique(prims).tolist():
        r = float(world.radius[p])
        if world.kind[p] != CK.KIND_CAPSULE or not r > 0:
            continue  # boxes (tables, retractors) are larger than the cells they touch
        faces = surf.pair_face[:n][prims == p]
        edge = float(st.face_edge[faces].max())
        if edge <= max(cfg.refine_ratio * r, st.stiff_edge):
            continue  # fine enough, or as fine as the solver allows at this substep
        # the contact centre: the vertex of the candidate faces nearest the tool's segment
        pts = body.x[surf.faces[faces]].reshape(-1, 3)
        a, b = world.seg_a[p], world.seg_b[p]
        ab = b - a
        t = np.clip((pts - a) @ ab / max(float(ab @ ab), 1e-300), 0.0, 1.0)
        centre = pts[int(np.argmin(np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)))]
        if any(float(np.linalg.norm(centre - c)) < rad for c, rad in st.tried):
            continue  # once per region: this tool already refined (or could not refine) here
        st.tried.append((centre.copy(), 2.0 * r))
        emb = app.try_get(entity, EmbeddedSurface)
        done = 0
        for _level in range(cfg.refine_levels):  # level after level around the contact, at once
            res = refine_region(
                body,
                centre,
                2.0 * r,
                emb,
                target=cfg.refine_ratio * r,
                eligible=st.level < cfg.refine_levels,
                max_tets=st.max_tets,
                substep=app.resource(SimSettings).h,
                max_ratio=cfg.refine_max_ratio,
            )
            if res.n_red == 0:
                if res.too_stiff:  # nothing this long can be refined at this substep: stop trying
                    st.stiff_edge = max(st.stiff_edge, edge if not done else 0.5 * edge)
                break
            done += 1
            level = st.level[res.parent] + res.red
            level[res.green] = cfg.refine_levels  # a closure's child is not refined again (red-green)
            st.tets_ref, st.level, st.face_edge = body.tets, level, np.zeros(0)
            if emb is not None and res.embedding is not None:  # rebind in place: the component stays the entity's
                for f in dataclasses.fields(EmbeddedSurface):
                    setattr(emb, f.name, getattr(res.embedding, f.name))
        if not done:
            continue
        return True  # one refinement a tick: the candidate pairs belong to the surface before it
    return False


def sweep_tools(app: App, entity: int, body: SoftBody) -> tuple[Any, ...] | None:
    """:attr:`TickContacts.tools <vrmed.systems.tissue.solver.TickContacts>` (with
    ``CollisionSettings.sweep_contact``): the sphere and capsule tools with a candidate pair on
    ``body`` this tick and the last (a tool that has just come within reach may have been put
    inside the body, which :func:`_check_inside` reports; one that approached it was within reach
    before it touched), not inserted in it (punctured or found inside), as the kernel's ``tools``
    tuple (:func:`vrmed.systems.tissue.kernels.step_kernel_tools`) and the reach (the broad
    phase's margin); None where there are none or an instrument holds the body (its jaws close on
    the held tissue)."""
    world = app.resource(CollisionWorld)
    surf = world.surfaces.get(entity)
    if surf is None or not world.settings.sweep_contact:
        return None
    surf.sweep_n = 0
    near_last = surf.sweep_near
    n_pairs = surf.n_pairs if surf.tets_ref is body.tets else 0
    surf.sweep_near = set(world.owner[np.unique(surf.pair_prim[:n_pairs])].tolist()) if n_pairs else set()
    if n_pairs == 0 or body.attachment.indices.size:
        return None
    inserted = world.punctured.get(entity, ())
    k = 0
    seg = surf.sweep_seg
    for p in np.unique(surf.pair_prim[: surf.n_pairs]).tolist():
        owner = int(world.owner[p])
        if world.kind[p] != CK.KIND_CAPSULE or not world.radius[p] > 0 or owner in inserted or owner not in near_last:
            continue  # (a tool that was not near in the last tick may have been put inside: _check_inside's)
        surf.sweep_slot[k] = p
        seg[0, k], seg[1, k], seg[2, k], seg[3, k] = world.seg_a0[p], world.seg_b0[p], world.seg_a[p], world.seg_b[p]
        surf.sweep_radius[k] = world.radius[p]
        surf.sweep_mu[k] = world.friction[p] if world.settings.sweep_friction else 0.0
        k += 1
    if k == 0:
        return None
    n = body.x.shape[0]
    if surf.sweep_cand.shape[0] != n:
        surf.sweep_cand = np.zeros(n, dtype=np.bool_)
        surf.sweep_dx = np.zeros((n, 3))
        surf.sweep_prim = np.zeros(n, dtype=np.int64)
    if surf.sweep_tf_ptr.shape[0] != body.n_tets + 1:  # once per surface
        order = np.argsort(surf.face_tet, kind="stable")
        surf.sweep_tf_idx = order.astype(np.int64)
        counts = np.bincount(surf.face_tet, minlength=body.n_tets)
        surf.sweep_tf_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    surf.sweep_n = k
    surf.sweep_force[:k] = 0.0
    surf.sweep_count[:k] = 0
    arrays = (
        surf.sweep_cand,
        surf.sweep_dx,
        surf.sweep_prim,
        seg[0, :k],
        seg[1, :k],
        seg[2, :k],
        seg[3, :k],
        surf.sweep_radius[:k],
        surf.sweep_force[:k],
        surf.sweep_count[:k],
        surf.faces,
        surf.sweep_tf_ptr if world.settings.sweep_faces else surf.sweep_tf_ptr[:0],
        surf.sweep_tf_idx,
        surf.sweep_mu[:k],
    )
    return arrays, world.settings.margin


def contacts_between_subticks(app: App, entity: int, body: SoftBody, k: int, m: int) -> None:
    """:attr:`TickContacts.between <vrmed.systems.tissue.solver.TickContacts>`: project the tool
    contacts on ``body`` after sub-tick ``k`` (of ``m``, ``k < m - 1``) of a tick the solver split
    for it (a body too stiff for the tick's substeps), with the tools at their pose over that
    sub-tick and its substep. The candidate pairs are the tick's (found against the tools' swept
    boxes over the whole tick); forces, depths and events are those of the last sub-tick
    (:func:`collision_resolve_system`)."""
    world = app.resource(CollisionWorld)
    surf = world.surfaces.get(entity)
    if surf is None or surf.n_pairs == 0 or surf.tets_ref is not body.tets:
        return
    f0, f1 = frame_fractions(app)
    world._interpolate(f0 + (f1 - f0) * k / m, f0 + (f1 - f0) * (k + 1) / m)
    world.resolve(body, surf, app.resource(SimSettings).h / m)
    world._interpolate(f0, f1)


def _in_tissue_contact(app: App, entity: int) -> bool:
    """:attr:`TickContacts.keeps_tick <vrmed.systems.tissue.solver.TickContacts>`: a body with a
    :class:`TissueContact` is not split into sub-ticks (tissue-tissue contact is solved once per
    tick for all such bodies, with the tick's substep)."""
    return app.try_get(entity, TissueContact) is not None


def collision_resolve_system(app: App) -> None:
    """physics.solve (after softbody.solve): narrow phase and XPBD contact projection; sums
    the force on each tool owner into ``CollisionWorld.owner_force``."""
    world = app.resource(CollisionWorld)
    h = app.resource(SimSettings).h  # the tissue solve's substep, bit-identical to its own
    for f in world.owner_force.values():
        f.fill(0.0)
    for s in world.owner_contacts.values():
        s.clear()
    world.owner_depth.clear()
    # once per display frame (its first tick): forget insertions whose tool left the body, and
    # find tools inside a body with no contact that put them there
    new_frame = world._inside_frame != app.clock.frame
    # the frame's last tick (the state a frame shows), and any tick whose contacts met a tool
    # deeper than PUSHED_CHECK_DEPTH: tools in contact found inside tissue
    f0, f1 = frame_fractions(app)
    last_tick = f1 >= 1.0
    tick = app.try_resource(TickContacts)
    subticks = tick.subticks if tick is not None else None
    if new_frame:
        world._inside_frame = app.clock.frame
        world.touched_last, world.touched = world.touched, world.touched_last
        for s in world.touched.values():
            s.clear()
    for entity, body in app.query(SoftBody):
        surf = world.surface(entity, body)
        inside = world.punctured.get(entity)
        if inside:
            _pass_punctured(world, surf, inside, body if new_frame else None)
        # the body's own last substep: the solver steps a body too stiff for the tick's substeps
        # in m sub-ticks (tissue.solver.step_with_tick_contacts); its last one's tools and substep
        m = subticks.get(entity, 1) if subticks else 1
        # no further contact rounds for a tool reported pushed through (the contacts keep acting
        # on it, its tolerance broken and reported): run on the raptor after its report, they put
        # 180 J into the crushed tissue in one tick of the still hold. Read only by the opt-in
        # rounds (``hold_rounds``), so refreshed only when they can run (no per-tick loop else)
        if world.settings.hold_rounds:
            done = world.pushed_through.get(entity, _NO_OWNERS)
            for p in range(world.n_prims):
                surf.reported[p] = int(world.owner[p]) in done
        if m > 1:
            world._interpolate(f0 + (f1 - f0) * (m - 1) / m, f1)
            world.resolve(body, surf, h / m)
            world._interpolate(f0, f1)
        else:
            world.resolve(body, surf, h)
        if surf.sweep_n:  # the vertices the tet sweep pushed out of a tool are held too
            TK.mark_swept((surf.sweep_cand, surf.sweep_dx, surf.sweep_prim), body.contact_hold)
        for j in range(surf.sweep_n):  # the pushes the tet sweep made (contact inside the solve)
            p = int(surf.sweep_slot[j])
            if surf.sweep_count[j]:
                surf.force[p] += surf.sweep_force[j]
                surf.count[p] += surf.sweep_count[j]
        if new_frame and world.n_prims:
            _check_inside(app, world, entity, body, surf)
        reported = world.pushed_through.get(entity)
        if reported:  # an episode ends when the tool is out of the body's reach
            reported.intersection_update(world.owner[surf.pair_prim[: surf.n_pairs]].tolist())
        if surf.n_pairs and (last_tick or _deep_tool_contact(world, surf)):
            _check_pushed_through(app, world, entity, body, surf)
        if surf.n_pairs == 0:
            continue
        threshold = body.material.puncture_force
        if threshold is not None:
            _check_puncture(app, world, entity, surf, threshold)
        for p in range(world.n_prims):
            if surf.count[p]:
                owner = int(world.owner[p])
                acc = world.owner_force.get(owner)
                if acc is None:
                    acc = world.owner_force[owner] = np.zeros(3)
                acc += surf.force[p]
                world.owner_contacts.setdefault(owner, set()).add(entity)
                world.touched.setdefault(entity, set()).add(owner)
                world.owner_depth[owner] = max(world.owner_depth.get(owner, 0.0), float(surf.depth[p]))


def _pass_punctured(world: CollisionWorld, surf: TissueSurface, inside: set[int], body: SoftBody | None) -> None:
    """Drop this tick's candidate pairs of tools that punctured the body or were found inside it
    (they pass through it). With ``body`` (once a display frame), forget such a tool once it has
    no candidate pair left and no point of it is inside the body's closed surface (it left the
    body; a tool deep inside has no candidate pair either, and was taken as outside before, so
    contact caught it from within on its way out and snapped the tissue over it)."""
    n = surf.n_pairs
    owners = world.owner[surf.pair_prim[:n]]
    if body is not None:
        near = set(owners.tolist())
        for owner in [o for o in inside if o not in near]:
            prims = world.primitives_of(owner)
            if not prims or not _any_inside(world, body, surf, prims):
                inside.discard(owner)
    if not inside:
        return
    keep = ~np.isin(owners, np.fromiter(inside, dtype=np.int64))
    k = int(keep.sum())
    surf.pair_prim[:k] = surf.pair_prim[:n][keep]
    surf.pair_face[:k] = surf.pair_face[:n][keep]
    surf.n_pairs = k


def _check_puncture(app: App, world: CollisionWorld, entity: int, surf: TissueSurface, threshold: float) -> None:
    """Send :class:`TissuePunctured` for each tool pressing this body harder than ``threshold`` (N)."""
    totals: dict[int, np.ndarray] = {}
    for p in range(world.n_prims):
        if surf.count[p]:
            owner = int(world.owner[p])
            totals[owner] = totals.get(owner, np.zeros(3)) + surf.force[p]
    for owner, f in totals.items():
        magnitude = float(np.linalg.norm(f))
        if magnitude > threshold:
            world.punctured.setdefault(entity, set()).add(owner)
            app.send(TissuePunctured(owner, entity, magnitude, float(threshold)))


def _inside_points(world: CollisionWorld, p: int, out: np.ndarray, k: int) -> int:
    """Write the test points of primitive ``p`` (a capsule's ends and middle, a sphere's centre,
    a box's centre and corners) into ``out`` from row ``k``; return the next free row."""
    if world.kind[p] == CK.KIND_CAPSULE:
        a, b = world.seg_a[p], world.seg_b[p]
        out[k] = a
        if np.array_equal(a, b):
            return k + 1
        out[k + 1] = b
        out[k + 2] = 0.5 * (a + b)
        return k + 3
    c, R, half = world.box_c[p], world.box_R[p], world.box_half[p]
    out[k] = c
    for j, corner in enumerate(_CORNERS):
        out[k + 1 + j] = c + R @ (corner * half)
    return k + 9


#: an empty owner set (no per-tick allocation where a body has none reported)
_NO_OWNERS: frozenset[int] = frozenset()

_CORNERS = np.array([(i, j, m) for i in (-1.0, 1.0) for j in (-1.0, 1.0) for m in (-1.0, 1.0)])


def _any_inside(world: CollisionWorld, body: SoftBody, surf: TissueSurface, prims: list[int]) -> bool:
    """Whether a test point of a primitive in ``prims`` is inside ``body``'s closed boundary
    surface (generalized winding number above 1/2, Jacobson et al. 2013, "Robust Inside-Outside
    Segmentation using Generalized Winding Numbers": robust to the small gaps and overlaps of a
    deformed surface, unlike ray parity)."""
    pts, w = world._inside_pts, world._inside_w
    k = 0
    for p in prims:
        k = _inside_points(world, p, pts, k)
    return bool(_winding_above_half(body.x, surf.faces, pts, k, w))


@njit(cache=True)
def _winding_above_half(x, faces, pts, n_pts, w):  # numba kernel: untyped, like kernels.py
    """Whether any of the first ``n_pts`` points has a winding number above 1/2 with respect to
    the outward-wound triangles ``faces`` of ``x``; a point outside the surface's bounding box
    is outside (no triangle sum for it). Each triangle's solid angle is Van Oosterom and
    Strackee's (1983) formula; ``w`` (n_pts,) gets the winding numbers."""
    lo = np.empty(3)
    hi = np.empty(3)
    for c in range(3):
        lo[c] = 1e300
        hi[c] = -1e300
    for f in range(faces.shape[0]):
        for j in range(3):
            for c in range(3):
                v = x[faces[f, j], c]
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
    found = False
    for q in range(n_pts):
        w[q] = 0.0
        if not (lo[0] <= pts[q, 0] <= hi[0] and lo[1] <= pts[q, 1] <= hi[1] and lo[2] <= pts[q, 2] <= hi[2]):
            continue
        total = 0.0
        for f in range(faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = x[i0, 0] - pts[q, 0], x[i0, 1] - pts[q, 1], x[i0, 2] - pts[q, 2]
            bx, by, bz = x[i1, 0] - pts[q, 0], x[i1, 1] - pts[q, 1], x[i1, 2] - pts[q, 2]
            cx, cy, cz = x[i2, 0] - pts[q, 0], x[i2, 1] - pts[q, 1], x[i2, 2] - pts[q, 2]
            la = np.sqrt(ax * ax + ay * ay + az * az)
            lb = np.sqrt(bx * bx + by * by + bz * bz)
            lc = np.sqrt(cx * cx + cy * cy + cz * cz)
            det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
            den = (
                la * lb * lc
                + (ax * bx + ay * by + az * bz) * lc
                + (bx * cx + by * cy + bz * cz) * la
                + (cx * ax + cy * ay + cz * az) * lb
            )
            total += 2.0 * np.arctan2(det, den)
        w[q] = total / (4.0 * np.pi)
        if w[q] > 0.5:
            found = True
    return found


def _entity_label(app: App, entity: int) -> str:
    """``'name' (entity N)`` when the entity has a :class:`Name`, else ``entity N``."""
    name = app.try_get(entity, Name)
    return f"'{name.value}' (entity {entity})" if name is not None else f"entity {entity}"


def _check_inside(app: App, world: CollisionWorld, entity: int, body: SoftBody, surf: TissueSurface) -> None:
    """Take a tool found inside ``body``'s closed surface as inserted (it passes through the body
    until it leaves it), send :class:`ToolInsideTissue` and warn, naming tool and body. Only a
    tool with no contact history with the body (no contact this frame or the last) and not
    already inserted: a tool that pressed its way in is held or punctured by the contacts, and
    one the contacts hold is outside the deformed surface. Skipped while an instrument holds the
    body (its jaws close on the held tissue; every tool then counts as touching it). Why: a tool
    spawned (or jumping) deeper than its radius into a body meets no surface within its radius,
    so no contact ever pushed it out or reported it (a 5 mm sphere 10 mm inside the liver crossed
    it at 2 m/s with no event)."""
    if body.attachment.indices.size:  # every tool counts as touching a held body (history for after the release)
        world.touched.setdefault(entity, set()).update(world.owner[: world.n_prims].tolist())
        return
    inserted = world.punctured.get(entity, set())
    seen = world.touched.get(entity, set()) | world.touched_last.get(entity, set())
    owners: dict[int, list[int]] = {}
    for p in range(world.n_prims):
        owner = int(world.owner[p])
        if owner not in inserted and owner not in seen:
            owners.setdefault(owner, []).append(p)
    for owner, prims in owners.items():
        if any(surf.count[p] for p in prims) or not _any_inside(world, body, surf, prims):
            continue  # in contact now (the contacts push it out), or outside
        world.punctured.setdefault(entity, set()).add(owner)
        app.send(ToolInsideTissue(owner, entity))
        warnings.warn(
            f"Collision: tool {_entity_label(app, owner)} is inside soft body {_entity_label(app, entity)} "
            "with no contact that pushed it there (a start pose or a jump of the tool inside the "
            "tissue); it is taken as inserted and passes through the body until it leaves it. "
            "Start tools outside the tissue to have contact hold them.",
            RuntimeWarning,
            stacklevel=2,
        )


def _deep_tool_contact(world: CollisionWorld, surf: TissueSurface) -> bool:
    """Whether a sphere or capsule tool met this body's surface deeper than
    :data:`PUSHED_CHECK_DEPTH` this tick (the contacts' first-pass depth, after the solve), or
    the contacts left the surface that deep in it (``TissueSurface.residual``)."""
    for p in range(world.n_prims):
        if world.kind[p] != CK.KIND_CAPSULE:
            continue
        if (surf.count[p] and surf.depth[p] > PUSHED_CHECK_DEPTH) or surf.residual[p] > PUSHED_CHECK_DEPTH:
            return True
    return False


def _check_pushed_through(app: App, world: CollisionWorld, entity: int, body: SoftBody, surf: TissueSurface) -> None:
    """Report a sphere or capsule tool in contact with ``body`` whose axis ended inside its tissue
    (send :class:`ToolInsideTissue` with reason ``"pushed_through"`` and warn, naming tool and
    body), once per episode (``CollisionWorld.pushed_through``: until the tool has no candidate
    pair with the body); the contacts keep acting on it. Run on a display frame's last tick (the
    state the frame shows) and on every tick whose contacts met such a tool deeper than
    :data:`PUSHED_CHECK_DEPTH` (:func:`_deep_tool_contact`; on that tick's end state, after the
    contacts: at 2 m/s on truthcylinder1 the surface was turned inside out around the tool's
    centre at the 9th tick of a frame and had slid off it, 1.56 mm inside the tool, by the 10th,
    and the press was never reported), for tools with a candidate pair this tick and contact
    history with the body (this frame or the last, or in contact this tick; the others are
    :func:`_check_inside`'s), not inserted. Inside: a test point of
    the axis (a sphere's centre, a capsule's ends and middle) the boundary surface encloses,
    either way round: generalized winding number above 1/2 (the tissue closed over the tool) or
    below -1/2 (the surface turned inside out around it: the contacts pushed faces past the tool
    through interior vertices, which a contact never sees, inverting the tets between; measured
    on the raptor and truthcylinder1 presses, docs/physics.md "Contact"). The winding number of
    a point is the signed count of the tets covering it, so a point in a fold whose upright and
    inverted tets overlap (winding 0) is outside the surface: under a tool smaller than the cells
    such folds form while the surface holds (the 6 cm block pressed at 0.5 m/s), and they are
    not reported. A held tool's axis is at least its radius from the surface, so a tool the
    contacts hold is never enclosed. Also reported, with no winding sum: a tool the contacts left
    the surface deeper than :data:`PUSHED_CHECK_DEPTH` in after their further rounds
    (``TissueSurface.residual``, :attr:`CollisionSettings.hold_rounds`): they could not hold it,
    and the issue's bound (the surface within the stated tolerance or an event) holds at every
    tick, not only where the axis is enclosed. Boxes are not tested: their contacts push vertices out of
    the box, and the surface may span a corner legitimately. Skipped while an instrument holds
    the body, like :func:`_check_inside`."""
    if body.attachment.indices.size:
        return
    inserted = world.punctured.get(entity, set())
    reported = world.pushed_through.setdefault(entity, set())
    seen = world.touched.get(entity, set()) | world.touched_last.get(entity, set())
    n = surf.n_pairs
    near = set(world.owner[surf.pair_prim[:n]].tolist())
    owners: dict[int, list[int]] = {}
    for p in range(world.n_prims):
        owner = int(world.owner[p])
        if owner in inserted or owner in reported or owner not in near or world.kind[p] != CK.KIND_CAPSULE:
            continue
        if owner in seen or surf.count[p]:
            owners.setdefault(owner, []).append(p)
    pts, w = world._inside_pts, world._inside_w
    for owner, prims in owners.items():
        k = 0
        for p in prims:
            k = _inside_points(world, p, pts, k)
        # the contacts left the surface deeper than the stated tolerance in the tool (they could
        # not hold it; no winding sum needed), or the surface encloses the axis either way round:
        # above 1/2 the tissue closed over the tool, below -1/2 the surface turned inside out
        # around it (covered by inverted tets only)
        held = all(surf.residual[p] <= PUSHED_CHECK_DEPTH for p in prims)
        if held and not (_winding_above_half(body.x, surf.faces, pts, k, w) or np.any(w[:k] < -0.5)):
            continue
        force = float(np.linalg.norm(sum((surf.force[p] for p in prims), np.zeros(3))))
        reported.add(owner)
        app.send(ToolInsideTissue(owner, entity, "pushed_through", force))
        warnings.warn(
            f"Collision: tool {_entity_label(app, owner)} was pushed through the surface of soft body "
            f"{_entity_label(app, entity)} (its axis is inside the tissue, folded or closed over it, or the "
            f"contacts left the surface more than {PUSHED_CHECK_DEPTH * 1e3:g} mm inside it, at "
            f"{force:.3g} N, which is not a puncture): the contacts could not hold it; they keep pushing "
            "the tissue off it. A finer mesh there or a higher physics rate holds a tool better.",
            RuntimeWarning,
            stacklevel=2,
        )


class CollisionPlugin:
    """Registers :class:`Collider` and :class:`TissueContact`, the :class:`CollisionWorld` and
    :class:`~vrmed.systems.collision.tissue_contact.TissueContactWorld` resources and the systems
    ``collision.detect`` (physics.collision), ``collision.tissue`` (tissue-tissue and
    self-contact) and ``collision.resolve`` (both physics.solve, after ``softbody.solve``, in that
    order). Tissue needs :class:`~vrmed.systems.tissue.solver.SoftBodyPlugin` too."""

    components = (Collider, TissueContact)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    task_components = (Collider,)
    #: Components this plugin draws (none).
    drawn_components = ()
    #: Events a scenario may name (rubrics, guidance steps, cues).
    events = (TissuePunctured, ToolInsideTissue)

    def __init__(self, settings: CollisionSettings | None = None) -> None:
        self.settings = settings or CollisionSettings()

    def build(self, app: App) -> None:
        """Add the component, the resource and the systems (once, however often it is added)."""
        if app.has_resource(CollisionWorld):
            return
        app.register_component(Collider)
        app.register_component(TissueContact)
        app.insert_resource(CollisionWorld(self.settings))
        # contacts once per tick; a body too stiff for the tick is stepped in sub-ticks, each with its contacts
        app.insert_resource(
            TickContacts(
                by="collision", between=contacts_between_subticks, keeps_tick=_in_tissue_contact, tools=sweep_tools
            )
        )
        app.insert_resource(
            TissueContactWorld(
                settings=TissueContactSettings(iterations=self.settings.iterations, tolerance=self.settings.tolerance)
            )
        )
        app.add_system(collision_detect_system, stage="physics", in_set="physics.collision", name="collision.detect")
        # priority (not after="softbody.solve") so a scene without soft bodies needs no SoftBodyPlugin;
        # softbody.solve has priority 0 in the same set, so resolve runs after it.
        app.add_system(
            collision_resolve_system, stage="physics", in_set="physics.solve", priority=100, name="collision.resolve"
        )
        # tissue-tissue and self-contact (TissueContact components): after the solve, before the
        # tool contacts, so kinematic tools have the last word
        app.add_system(
            tissue_contact_system, stage="physics", in_set="physics.solve", priority=50, name="collision.tissue"
        )
