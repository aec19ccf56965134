"""Laparoscopic instruments: trocar kinematics and the tool-behaviour dispatch.

``instruments.control`` (``control.instruments``, once per display frame) reads each
:class:`~vrmed.components.instruments.instrument.Instrument`'s device from :class:`vrmed.InputState`,
places the tool (fulcrum constraint at the trocar: the shaft always passes through it),
turns jaw transitions into calls of its tool type's behaviours
(:class:`~vrmed.components.instruments.instrument.ToolBehaviour`: ``jaw_closed``,
``jaw_opened``, ``update``; the type comes from the App's
:class:`~vrmed.systems.instruments.tools.ToolRegistry`) and registers its shaft and jaws with
the :class:`~vrmed.systems.collision.system.CollisionWorld`. The built-in behaviours
(:mod:`vrmed.systems.instruments.behaviours`):

* grasp (grasper, needle driver): closing attaches the tissue vertices inside the closed jaw
  (``SoftBody.attach``; they follow the jaw rigidly), or picks up the nearest planar object
  (:meth:`PlanarWorld.pick_up`); opening releases; a grasp whose pull (the elastic force of
  the tissue around the held vertices plus their weight, when it resists the jaw's travel
  since closing) exceeds ``tear_force`` breaks with :class:`TissueTorn`;
* cut (scissors): closing splits the tissue along the blade plane where the tets' centroids lie
  within ``cut_radius`` of the closed blades (the crossed tets subdivided along the plane, then
  vertex duplication, :func:`vrmed.systems.tissue.cutting.cut_body`; nothing is removed, cuts can be repeated,
  the collision surface follows and separated pieces become entities of their own);
  :func:`cut_tets` removes tets instead, for callers that want removal;
* burn (hook): while the pedal (``jaw_button``) is pressed, tets within ``burn_radius`` of
  the hook (by centroid, or under a surface triangle within that reach) are marked burned
  (:attr:`InstrumentWorld.burned`) with :class:`TissueBurned`.

``instruments.track`` (``physics.collision``, every tick) moves grasped vertices with the
jaw over the frame's ticks; ``instruments.forces`` (``physics.forces``, before
``haptics.publish``) copies the contact force on each tool into ``Instrument.force`` and,
for the tool marked ``haptic``, into :class:`vrmed.haptics.HapticTarget`, and reports
tissue contacts (:class:`TissueContactStarted` / :class:`TissueContactEnded` with the peak
force, for force-based scoring). ``instruments.draw`` (``render.prepare``) queues the tools
and the (cut, burned) tissue surfaces into the renderer's DrawList when there is one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.instruments.instrument import CLOSED, BodyWall, Instrument, InstrumentError, ToolState
from vrmed.components.scene.core import Name, Transform
from vrmed.components.scene.render import Endoscope
from vrmed.components.tissue.softbody import SoftBody
from vrmed.events import Event
from vrmed.geometry import quat_matrix, segment_point_distance
from vrmed.haptics import HapticTarget
from vrmed.input import InputState
from vrmed.mesh import TetMesh
from vrmed.settings import SimSettings
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import CollisionWorld, frame_fractions

from .tools import ToolRegistry

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

__all__ = [
    "CLOSED",
    "Grasp",
    "InstrumentGrasped",
    "InstrumentReleased",
    "InstrumentWorld",
    "InstrumentsCollided",
    "TissueBurned",
    "TissueContactEnded",
    "TissueContactStarted",
    "TissueCut",
    "TissueTorn",
    "cut_tets",
    "grasp_pull_force",
    "grasp_tension",
    "instrument_name",
    "instruments_control_system",
    "instruments_forces_system",
    "instruments_track_system",
    "reattach_grasps",
    "segment_point_distance",
    "tip_in_view",
    "tissue_in_jaw",
    "tool_capsules",
    "tool_pose",
]


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class InstrumentGrasped(Event):
    """An instrument closed on something: ``target`` is ``tissue`` (``vertices`` held) or ``object``."""

    instrument: str
    entity: int
    target: str
    vertices: int


@dataclass(frozen=True)
class InstrumentReleased(Event):
    """An instrument opened and let go of ``entity`` (``tissue`` or ``object``)."""

    instrument: str
    entity: int
    target: str


@dataclass(frozen=True)
class TissueTorn(Event):
    """A grasp pulled harder than the instrument's ``tear_force`` (N) and broke."""

    instrument: str
    body: int
    force: float
    threshold: float


@dataclass(frozen=True)
class TissueCut(Event):
    """Scissors closed on ``body`` and cut along ``tets`` (source-mesh tet ids: the tets whose
    faces came apart, or the removed ones for a caller of :func:`cut_tets`); ``pieces`` are the
    entities spawned for the parts the cut separated from ``body`` (empty while it holds together)."""

    instrument: str
    body: int
    tets: tuple[int, ...]
    pieces: tuple[int, ...] = ()


@dataclass(frozen=True)
class TissueBurned(Event):
    """The hook burned ``tets`` (source-mesh tet ids, newly burned only) of ``body``."""

    instrument: str
    body: int
    tets: tuple[int, ...]


@dataclass(frozen=True)
class TissueContactStarted(Event):
    """An instrument started touching ``body`` (shaft or jaws, any contact force)."""

    instrument: str
    body: int


@dataclass(frozen=True)
class TissueContactEnded(Event):
    """An instrument stopped touching ``body`` (no contact for a whole display frame);
    ``peak_force`` is the largest contact force (N) during the touch, ``duration`` its length (s)."""

    instrument: str
    body: int
    peak_force: float
    duration: float


@dataclass(frozen=True)
class InstrumentsCollided(Event):
    """Two instruments' shafts or jaws touched (sent when the touch begins)."""

    first: str
    second: str


# ----------------------------------------------------------------------------- state


@dataclass(eq=False)
class Grasp:
    """Tissue held by one instrument: vertex indices into ``body.x`` and their coordinates
    in the tool frame (hinge origin), the tets around them (for the pull force) and where the
    hinge was when the jaw closed (``anchor``: the pull direction is measured from it)."""

    body: int
    idx: np.ndarray
    local: np.ndarray
    tets: np.ndarray
    anchor: np.ndarray


@dataclass
class InstrumentWorld:
    """Instrument resource: per-instrument pose history and grasps, held planar objects,
    burned tets per body (bool per source tet id), and tool pairs in contact."""

    tools: dict[int, ToolState] = field(default_factory=dict)
    grasps: dict[int, Grasp] = field(default_factory=dict)
    held_objects: dict[int, int] = field(default_factory=dict)
    burned: dict[int, np.ndarray] = field(default_factory=dict)
    touching: set[tuple[int, int]] = field(default_factory=set)
    #: (instrument, body) -> [start time, peak force N, ticks without contact]
    contacts: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    attached: dict[int, list[int]] = field(default_factory=dict)  # body -> instruments, in attach order
    #: instruments whose closed blades lie in the cut they made (their jaws do not push the lips apart)
    cutting: set[int] = field(default_factory=set)


def instrument_name(app: App, entity: int) -> str:
    """The instrument's scenario name (its Name component) or ``instrument<entity>``."""
    name = app.try_get(entity, Name)
    return name.value if name is not None else f"instrument{entity}"


# ----------------------------------------------------------------------------- kinematics


def _perpendicular(d: np.ndarray, hint: np.ndarray) -> np.ndarray:
    x = hint - (hint @ d) * d
    n = float(np.linalg.norm(x))
    if n < 1e-6:
        alt = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
        x = alt - (alt @ d) * d
        n = float(np.linalg.norm(x))
    return x / n


def tool_pose(
    inst: Instrument, position: np.ndarray, orientation: np.ndarray, previous_direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(handle, hinge, frame, insertion) of a tool driven by a device pose.

    With ``pivot`` the device is the handle and the shaft passes through the trocar
    (fulcrum): direction = trocar - handle normalised, hinge = handle + shaft_length
    direction; roll comes from the device's x axis projected normal to the shaft. Without
    pivot the device places the hinge and its -z axis is the shaft. ``frame`` columns are
    the tool's x (jaw opening), y and z (= -direction) axes.
    """
    R = quat_matrix(orientation)  # type: ignore[arg-type]  # any length-4 sequence, arrays included
    if inst.pivot:
        handle = np.asarray(position, float).copy()
        d = np.asarray(inst.trocar, float) - handle
        L = float(np.linalg.norm(d))
        direction = d / L if L > 1e-9 else np.asarray(previous_direction, float)
        hinge = handle + inst.shaft_length * direction
        insertion = inst.shaft_length - L
    else:
        direction = -R[:, 2]
        hinge = np.asarray(position, float).copy()
        handle = hinge - inst.shaft_length * direction
        insertion = inst.shaft_length
    xa = _perpendicular(direction, R[:, 0])
    ya = np.cross(-direction, xa)
    frame = np.stack([xa, ya, -direction], axis=1)
    return handle, hinge, frame, insertion


def _jaw_segments(inst: Instrument, hinge: np.ndarray, frame: np.ndarray, closure: float) -> list[np.ndarray]:
    d = -frame[:, 2]
    half = 0.5 * np.radians(inst.max_jaw_angle_deg) * (1.0 - closure)
    if inst.max_jaw_angle_deg == 0.0:
        return [hinge + inst.jaw_length * d]
    return [hinge + inst.jaw_length * (np.cos(half) * d + s * np.sin(half) * frame[:, 0]) for s in (1.0, -1.0)]


# ----------------------------------------------------------------------------- cutting


def cut_tets(body: SoftBody, remove: np.ndarray) -> np.ndarray:
    """Remove the stored tets flagged in ``remove`` (bool, stored order) from ``body`` in place.

    The body is rebuilt from its rest shape (masses, rest matrices and the parallel slab
    partition are recomputed) and keeps its current positions, velocities, pins, forces and
    source tet ids (``tet_index``); vertices left without a tet are dropped. Attachments and
    slide constraints are dropped (the instrument system re-attaches its grasps). Returns the
    old -> new vertex map (-1 for dropped vertices). Allocates: call it at cut time only.
    """
    remove = np.asarray(remove, dtype=bool)
    keep = ~remove
    if not keep.any():
        raise InstrumentError("cut_tets: the cut would remove every tet of the body; despawn it instead")
    kept = body.tets[keep]
    used = np.unique(kept)
    vmap = np.full(body.n_vertices, -1, dtype=np.int64)
    vmap[used] = np.arange(used.size)
    mesh = TetMesh(body.rest_points[used], vmap[kept])
    new = SoftBody.from_mesh(
        mesh,
        body.material,
        pins=np.flatnonzero(body.pinned[used]),
        velocity_damping=body.velocity_damping,
        volume_barrier=body.has_volume_barrier,
    )
    body.copy_solver_options(new)
    new.tet_index = body.tet_index[keep][new.tet_index]
    new.x[:] = body.x[used]
    new.x_prev[:] = body.x_prev[used]
    new.v[:] = body.v[used]
    new.external_force[:] = body.external_force[used]
    if body.cut_born.size == body.n_vertices:  # vertices born in an earlier cut_body stay so
        new.cut_born = body.cut_born[used]
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(new, f.name))
    return vmap


# ----------------------------------------------------------------------------- systems


def _input_state(app: App) -> InputState:
    state = app.try_resource(InputState)
    if state is None:
        state = InputState()
        app.insert_resource(state)
    return state


def _check_trocar(app: App, entity: int, inst: Instrument) -> None:
    if not inst.pivot:
        return
    for _, wall in app.query(BodyWall):
        dist = wall.distance(inst.trocar)
        if dist > wall.thickness:
            raise InstrumentError(
                f"instrument {instrument_name(app, entity)!r}: trocar {list(np.round(inst.trocar, 4))} lies "
                f"{dist * 1000:.0f} mm from the body wall (at most {wall.thickness * 1000:.0f} mm allowed); "
                "place the trocar on the abdominal wall"
            )


def reattach_grasps(app: App, world: InstrumentWorld, body_entity: int) -> None:
    """Attach the union of every instrument's grasp on a body (SoftBody.attach replaces)."""
    body = app.get(body_entity, SoftBody)
    owners = [i for i in world.attached.get(body_entity, []) if i in world.grasps]
    world.attached[body_entity] = owners
    if not owners:
        body.detach()
        return
    idx = np.concatenate([world.grasps[i].idx for i in owners])
    body.attach(idx)


def tissue_in_jaw(app: App, inst: Instrument, state: ToolState, reach: float) -> list[tuple[int, SoftBody, np.ndarray]]:
    """What a closed jaw has hold of, for tool behaviours: for every SoftBody (in query order)
    with any, ``(entity, body, vertices)`` where ``vertices`` (sorted int64 indices into
    ``body.x``) are the free (unpinned) vertices within ``reach`` (m) of the jaw's centre line
    (this frame's hinge to tip) and those of the surface triangles that line passes within
    ``reach`` of."""
    cworld = app.resource(CollisionWorld)
    found = []
    for b_ent, body in app.query(SoftBody):
        inside = segment_point_distance(state.hinge1, inst.tip, body.x) <= reach
        surf = cworld.surface(b_ent, body)
        touched = np.zeros(surf.n_faces, dtype=np.bool_)
        if CK.faces_near_segment(body.x, surf.faces, state.hinge1, inst.tip, reach, touched):
            inside[surf.faces[touched].ravel()] = True
        sel = np.flatnonzero(inside & ~body.pinned)
        if sel.size:
            found.append((b_ent, body, sel))
    return found


def grasp_pull_force(app: App, grasp: Grasp, gravity: np.ndarray) -> np.ndarray:
    """Force (N) the held vertices pull on the jaw: elastic forces of the tets around them
    plus their weight (quasi-static; tearing compares its norm with ``tear_force``)."""
    body = app.get(grasp.body, SoftBody)
    m = body.material
    out = np.zeros_like(body.x)
    CK.nodal_elastic_forces(
        body.x, body.tets, body.dm_inv, body.rest_volume, m.mu, m.model_lambda, m.gamma, grasp.tets, out
    )
    return out[grasp.idx].sum(axis=0) + body.mass[grasp.idx].sum() * gravity


def grasp_tension(app: App, grasp: Grasp, hinge: np.ndarray, gravity: np.ndarray, min_travel: float = 0.001) -> float:
    """How hard (N) the tissue resists the jaw pulling it away: the norm of
    :func:`grasp_pull_force` when it opposes the jaw's travel since it closed (so squeezing or
    pressing tissue never tears it), 0 before the jaw has moved ``min_travel`` m."""
    travel = np.asarray(hinge, float) - grasp.anchor
    dist = float(np.linalg.norm(travel))
    if dist < min_travel:
        return 0.0
    f = grasp_pull_force(app, grasp, gravity)
    return float(np.linalg.norm(f)) if float(f @ travel) < 0.0 else 0.0


def instruments_control_system(app: App) -> None:
    """control.instruments: pose every instrument from its device, run its tool type's
    behaviours (grasp / release / tear / cut / burn / ... on jaw transitions and every frame)
    and register its shapes (once per display frame)."""
    world = app.resource(InstrumentWorld)
    cworld = app.resource(CollisionWorld)
    registry = app.resource(ToolRegistry)
    inputs = _input_state(app)
    live = set()
    for entity, inst in app.query(Instrument):
        live.add(entity)
        dev = inputs.device(inst.device)
        st = world.tools.get(entity)
        prev_dir = st.frame1[:, 2] * -1 if st is not None else inst.direction
        handle, hinge, frame, insertion = tool_pose(inst, dev.position, dev.orientation, prev_dir)
        if st is None:
            try:
                kind = registry.get(inst.tool)
            except InstrumentError as exc:
                raise InstrumentError(f"instrument {instrument_name(app, entity)!r}: {exc}") from None
            _check_trocar(app, entity, inst)
            st = world.tools[entity] = ToolState(hinge, frame, hinge, frame, handle, kind)
        else:
            st.hinge0, st.frame0 = st.hinge1, st.frame1
            st.hinge1, st.frame1, st.handle = hinge, frame, handle
        closure = float(np.clip(dev.button(inst.jaw_button), 0.0, 1.0))
        inst.hinge[:] = hinge
        inst.direction[:] = -frame[:, 2]
        inst.tip[:] = hinge + inst.jaw_length * inst.direction
        inst.closure = closure
        inst.insertion = insertion
        closing = st.closure < CLOSED <= closure
        opening = st.closure >= CLOSED > closure
        st.closure = closure
        st.jaw_shapes = True
        for behaviour in st.tool_type.behaviours:
            if closing:
                behaviour.jaw_closed(app, entity, inst, st)
            elif opening:
                behaviour.jaw_opened(app, entity, inst, st)
            behaviour.update(app, entity, inst, st)
        # shapes (after the behaviours, so a grasp made this frame already counts): the shaft
        # inside the body (or its last 5 cm without a trocar) and the jaws
        shaft_len = min(max(insertion, 0.0), inst.shaft_length) if inst.pivot else min(inst.shaft_length, 0.05)
        cworld.set_capsule(entity, 0, hinge - shaft_len * inst.direction, hinge, inst.shaft_radius, inst.friction)
        if st.jaw_shapes:  # a behaviour holding tissue between the jaws turns them off
            for k, tip in enumerate(_jaw_segments(inst, hinge, frame, closure)):
                cworld.set_capsule(entity, 1 + k, hinge, tip, inst.jaw_radius, inst.friction)
    for gone in [e for e in world.tools if e not in live]:
        st = world.tools.pop(gone)
        for behaviour in st.tool_type.behaviours:
            behaviour.removed(app, gone, st)
        for key in [k for k in world.contacts if k[0] == gone]:
            del world.contacts[key]
    _tool_contacts(app, world)


def _tool_contacts(app: App, world: InstrumentWorld) -> None:
    """Instrument-versus-instrument proximity of shafts and jaws (events when a touch begins)."""
    tools = sorted(app.query(Instrument), key=lambda e: e[0])
    now: set[tuple[int, int]] = set()
    for i, (ea, ia) in enumerate(tools):
        sa = [(ea_a, ea_b, r) for ea_a, ea_b, r in tool_capsules(world, ea, ia)]
        for eb, ib in tools[i + 1 :]:
            if any(
                CK.segment_distance(tuple(a0), tuple(b0), tuple(a1), tuple(b1)) < r0 + r1
                for a0, b0, r0 in sa
                for a1, b1, r1 in tool_capsules(world, eb, ib)
            ):
                now.add((ea, eb))
                if (ea, eb) not in world.touching:
                    app.send(InstrumentsCollided(instrument_name(app, ea), instrument_name(app, eb)))
    world.touching = now


def tool_capsules(world: InstrumentWorld, entity: int, inst: Instrument) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The instrument's shaft (handle to hinge) and jaws as (a, b, radius) capsules, this frame."""
    st = world.tools[entity]
    shaft = (st.handle, st.hinge1, inst.shaft_radius)
    jaws = [(st.hinge1, tip, inst.jaw_radius) for tip in _jaw_segments(inst, st.hinge1, st.frame1, inst.closure)]
    return [shaft] + jaws


def instruments_track_system(app: App) -> None:
    """physics.collision: move grasped vertices with their jaw to this tick's pose."""

    world = app.resource(InstrumentWorld)
    if not world.grasps:
        return
    _, f1 = frame_fractions(app)
    for body_entity, owners in world.attached.items():
        body = app.get(body_entity, SoftBody)
        k = 0
        for owner in owners:
            g = world.grasps[owner]
            st = world.tools[owner]
            hinge = st.hinge0 + f1 * (st.hinge1 - st.hinge0)
            frame = st.frame0 + f1 * (st.frame1 - st.frame0)
            n = g.idx.size
            body.kin_target[k : k + n] = hinge + g.local @ frame.T
            k += n


def instruments_forces_system(app: App) -> None:
    """physics.forces: contact force on each tool (N) into ``Instrument.force`` and, for the
    ``haptic`` tool, into :class:`vrmed.haptics.HapticTarget` (proxy = the handle)."""
    cworld = app.resource(CollisionWorld)
    world = app.resource(InstrumentWorld)
    target = app.try_resource(HapticTarget)
    grace = max(1, round(app.resource(SimSettings).physics_ticks_per_frame))  # ticks in a display frame
    for entity, inst in app.query(Instrument):
        f = cworld.owner_force.get(entity)
        if f is None:
            inst.force[:] = 0.0
        else:
            inst.force[:] = f
        touched = cworld.owner_contacts.get(entity, ())
        for b in touched:
            c = world.contacts.get((entity, b))
            if c is None:
                world.contacts[(entity, b)] = [app.clock.time, 0.0, 0.0]
                app.send(TissueContactStarted(instrument_name(app, entity), b))
        magnitude = float(np.linalg.norm(inst.force))
        for (owner, b), c in list(world.contacts.items()):
            if owner != entity:
                continue
            if b in touched:
                c[1], c[2] = max(c[1], magnitude), 0.0
            else:
                c[2] += 1
                if c[2] >= grace:
                    del world.contacts[(owner, b)]
                    app.send(
                        TissueContactEnded(
                            instrument_name(app, entity), b, c[1], app.clock.time - c[0] - (grace - 1) * app.clock.dt
                        )
                    )
        if inst.haptic and target is not None:
            target.force[:] = inst.force
            st = world.tools.get(entity)
            if st is not None:
                target.proxy[:] = st.handle if inst.pivot else st.hinge1
        if target is not None and (st := world.tools.get(entity)) is not None:  # per device: bimanual haptics
            point = st.handle if inst.pivot else st.hinge1
            target.report(inst.device, point, inst.force, instrument_name(app, entity), app.clock.tick)


def tip_in_view(app: App, instrument: int, scope: int, max_distance: float = 2.0) -> bool:
    """Whether the instrument's tip is inside the laparoscope's view cone (the Endoscope's
    vertical field of view, as a cone about its view axis) and not hidden behind tissue or
    another tool (a ray cast from the lens). Something the ray meets within the jaw length of
    the tip does not hide it: that is the working end inside the tissue it grasps, burns or
    cuts, which the surgeon sees entering it (scissors snipping a gallbladder are not "out of
    view")."""
    inst = app.get(instrument, Instrument)
    scope_c = app.get(scope, Endoscope)
    tf = app.get(scope, Transform)
    R = quat_matrix(tf.orientation)  # type: ignore[arg-type]  # any length-4 sequence, arrays included
    shaft = -R[:, 2]
    lens = np.asarray(tf.position, float) + scope_c.tip_offset * shaft
    a = np.radians(scope_c.angle_deg)
    axis = np.cos(a) * shaft - np.sin(a) * R[:, 1]  # tilted away from the light post (+y)
    to_tip = inst.tip - lens
    dist = float(np.linalg.norm(to_tip))
    if dist < scope_c.near or dist > min(scope_c.far, max_distance):
        return False
    if float(to_tip @ axis) / dist < np.cos(np.radians(scope_c.fov_deg) / 2):
        return False
    hit = app.resource(CollisionWorld).raycast(app, lens, to_tip, dist, ignore=(instrument, scope))
    return hit is None or hit.distance >= dist - max(inst.jaw_length, 1e-4)
