"""The built-in tool behaviours (grasp, cut, burn) and the built-in tool types that use them.

Each is a :class:`~vrmed.components.instruments.instrument.ToolBehaviour` called by
``instruments.control`` (see :mod:`vrmed.systems.instruments.system` for what each does and
docs/interaction.md for the protocol). They keep their state in the App's
:class:`~vrmed.systems.instruments.system.InstrumentWorld`, so one object serves every App.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.instruments.instrument import (
    TOOL_PRESETS,
    Instrument,
    InstrumentError,
    ToolBehaviour,
    ToolState,
    ToolType,
)
from vrmed.components.planar.bodies import PlanarBody
from vrmed.components.tissue.softbody import SoftBody
from vrmed.settings import SimSettings
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import CollisionWorld
from vrmed.systems.planar.system import PlanarWorld
from vrmed.systems.tissue.solver import STANDARD_GRAVITY, SoftBodySettings

from .system import (
    Grasp,
    InstrumentGrasped,
    InstrumentReleased,
    InstrumentWorld,
    TissueBurned,
    TissueCut,
    TissueTorn,
    cut_tets,
    grasp_tension,
    instrument_name,
    reattach_grasps,
    segment_point_distance,
    tissue_in_jaw,
)

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App


class GraspBehaviour(ToolBehaviour):
    """Closing holds the tissue in the jaw (or picks up the nearest planar object); opening
    lets go; a held grasp pulled harder than ``tear_force`` (N) tears (:class:`TissueTorn`).
    Held tissue turns the jaws' collision shapes off."""

    def jaw_closed(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Grasp tissue, or else a planar object, unless already holding something."""
        world = app.resource(InstrumentWorld)
        if entity not in world.grasps and entity not in world.held_objects:
            _try_grasp_tissue(app, world, entity, inst, state) or _try_grasp_object(app, world, entity, inst, state)

    def jaw_opened(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Release what the jaw holds."""
        _release(app, app.resource(InstrumentWorld), entity, inst)

    def update(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Tear an over-pulled grasp; carry a held planar object with the tip."""
        world = app.resource(InstrumentWorld)
        grasp = world.grasps.get(entity)
        if grasp is not None and inst.tear_force is not None:
            sb = app.try_resource(SoftBodySettings)
            gravity = sb.gravity if sb is not None else STANDARD_GRAVITY  # no tissue plugin: standard gravity
            pull = grasp_tension(app, grasp, inst.hinge, gravity)
            if pull > inst.tear_force:
                world.grasps.pop(entity)
                reattach_grasps(app, world, grasp.body)
                inst.grasping = -1
                app.send(TissueTorn(instrument_name(app, entity), grasp.body, pull, float(inst.tear_force)))
        if entity in world.grasps:  # tissue held between the jaws is not pushed out by them
            state.jaw_shapes = False
        obj = world.held_objects.get(entity)
        if obj is not None:
            app.resource(PlanarWorld).move_held(app, obj, inst.tip.copy(), float(app.resource(SimSettings).frame_dt))

    def removed(self, app: App, entity: int, state: ToolState) -> None:
        """Drop the grasp of a despawned instrument (a held planar object stays as it is)."""
        world = app.resource(InstrumentWorld)
        grasp = world.grasps.pop(entity, None)
        if grasp is not None:
            reattach_grasps(app, world, grasp.body)
        world.held_objects.pop(entity, None)


class CutBehaviour(ToolBehaviour):
    """Closing removes the tets whose centroid lies within ``cut_radius`` of the closed blades
    (:func:`cut_tets`), remapping other instruments' grasps; :class:`TissueCut`."""

    def jaw_closed(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Cut every body the closed blades pass through."""
        if inst.cut_radius is None:
            raise InstrumentError(
                f"instrument {instrument_name(app, entity)!r} ({inst.tool}) cuts but has no cut_radius; "
                "set cut_radius (m) on the Instrument or its ToolType"
            )
        world = app.resource(InstrumentWorld)
        for b_ent, body in app.query(SoftBody):
            centroid = body.x[body.tets].mean(axis=1)
            remove = segment_point_distance(state.hinge1, inst.tip, centroid) <= inst.cut_radius
            if not remove.any():
                continue
            removed = tuple(int(t) for t in np.sort(body.tet_index[remove]))
            vmap = cut_tets(body, remove)
            for g in world.grasps.values():
                if g.body == b_ent:
                    keep = vmap[g.idx] >= 0
                    g.idx, g.local = vmap[g.idx][keep], g.local[keep]
                    g.tets = np.flatnonzero(np.isin(body.tets, g.idx).any(axis=1)).astype(np.int64)
            for i in [i for i, g in world.grasps.items() if g.body == b_ent and g.idx.size == 0]:
                del world.grasps[i]
            reattach_grasps(app, world, b_ent)
            app.send(TissueCut(instrument_name(app, entity), b_ent, removed))


class BurnBehaviour(ToolBehaviour):
    """While the pedal is pressed, tets within ``burn_radius`` of the hook (by centroid, or
    under a surface triangle within that reach) are marked in :attr:`InstrumentWorld.burned`;
    the newly burned ones are sent in :class:`TissueBurned`."""

    def update(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Burn what the hook touches while the pedal is down."""
        if not state.closed:
            return
        if inst.burn_radius is None:
            raise InstrumentError(
                f"instrument {instrument_name(app, entity)!r} ({inst.tool}) burns but has no burn_radius; "
                "set burn_radius (m) on the Instrument or its ToolType"
            )
        world = app.resource(InstrumentWorld)
        cworld = app.resource(CollisionWorld)
        reach = inst.burn_radius + inst.jaw_radius
        for b_ent, body in app.query(SoftBody):
            # tets near the hook, and the tets under the surface triangles it touches
            centroid = body.x[body.tets].mean(axis=1)
            hit = segment_point_distance(state.hinge1, inst.tip, centroid) <= reach
            surf = cworld.surface(b_ent, body)
            touched = np.zeros(surf.n_faces, dtype=np.bool_)
            if CK.faces_near_segment(body.x, surf.faces, state.hinge1, inst.tip, reach, touched):
                hit[surf.face_tet[touched]] = True
            if not hit.any():
                continue
            burned = world.burned.get(b_ent)
            need = int(body.tet_index.max()) + 1
            if burned is None or burned.size < need:
                grown = np.zeros(need, dtype=bool)
                if burned is not None:
                    grown[: burned.size] = burned
                burned = world.burned[b_ent] = grown
            ids = body.tet_index[hit]
            new = np.sort(ids[~burned[ids]])
            if new.size:
                burned[new] = True
                app.send(TissueBurned(instrument_name(app, entity), b_ent, tuple(int(t) for t in new)))


def _try_grasp_tissue(app: App, world: InstrumentWorld, entity: int, inst: Instrument, state: ToolState) -> bool:
    held: set[tuple[int, int]] = set()
    for g in world.grasps.values():
        held.update((g.body, int(i)) for i in g.idx)
    for b_ent, body, sel in tissue_in_jaw(app, inst, state, inst.jaw_radius + inst.grasp_margin):
        sel = np.array([i for i in sel if (b_ent, int(i)) not in held], dtype=np.int64)
        if sel.size == 0:
            continue
        local = (body.x[sel] - state.hinge1) @ state.frame1
        tets = np.flatnonzero(np.isin(body.tets, sel).any(axis=1)).astype(np.int64)
        world.grasps[entity] = Grasp(b_ent, sel, local, tets, state.hinge1.copy())
        world.attached.setdefault(b_ent, []).append(entity)
        reattach_grasps(app, world, b_ent)
        inst.grasping = b_ent
        app.send(InstrumentGrasped(instrument_name(app, entity), b_ent, "tissue", int(sel.size)))
        return True
    return False


def _try_grasp_object(app: App, world: InstrumentWorld, entity: int, inst: Instrument, state: ToolState) -> bool:
    planar = app.try_resource(PlanarWorld)
    if planar is None:
        return False
    best, best_d = -1, np.inf
    me = instrument_name(app, entity)
    for ent, obj in app.query(PlanarBody):
        if obj.mode == "lost" or (obj.mode == "held" and obj.held_by == me):
            continue  # an object held by another instrument may be taken over (a mid-air handover)
        d = float(segment_point_distance(state.hinge1, inst.tip, obj.position[None, :])[0])
        if d <= obj.radius + inst.jaw_radius + inst.grasp_margin and d < best_d:
            best, best_d = ent, d
    if best < 0:
        return False
    for other, held in list(world.held_objects.items()):
        if held == best:  # handover: the other instrument no longer holds it
            world.held_objects.pop(other)
            app.get(other, Instrument).grasping = -1
    planar.pick_up(app, best, me, inst.tip.copy())
    world.held_objects[entity] = best
    inst.grasping = best
    app.send(InstrumentGrasped(instrument_name(app, entity), best, "object", 0))
    return True


def _release(app: App, world: InstrumentWorld, entity: int, inst: Instrument) -> None:
    grasp = world.grasps.pop(entity, None)
    if grasp is not None:
        reattach_grasps(app, world, grasp.body)
        app.send(InstrumentReleased(instrument_name(app, entity), grasp.body, "tissue"))
    obj = world.held_objects.pop(entity, None)
    if obj is not None:
        app.resource(PlanarWorld).release(app, obj)
        app.send(InstrumentReleased(instrument_name(app, entity), obj, "object"))
    inst.grasping = -1


#: one object per built-in behaviour (stateless: shared by every App and tool type)
GRASP = GraspBehaviour()
CUT = CutBehaviour()
BURN = BurnBehaviour()

#: The built-in tool types: :data:`TOOL_PRESETS`' geometry with their behaviours.
BUILTIN_TOOL_TYPES: tuple[ToolType, ...] = (
    dataclasses.replace(TOOL_PRESETS["grasper"], behaviours=(GRASP,)),
    dataclasses.replace(TOOL_PRESETS["needle_driver"], behaviours=(GRASP,)),
    dataclasses.replace(TOOL_PRESETS["scissors"], behaviours=(CUT,)),
    dataclasses.replace(TOOL_PRESETS["hook"], behaviours=(BURN,)),
)
