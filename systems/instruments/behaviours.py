"""The built-in tool behaviours (grasp, cut, burn) and the built-in tool types that use them.

Each is a :class:`~vrmed.components.instruments.instrument.ToolBehaviour` called by
``instruments.control`` (see :mod:`vrmed.systems.instruments.system` for what each does and
docs/interaction.md for the protocol). They keep their state in the App's
:class:`~vrmed.systems.instruments.system.InstrumentWorld`, so one object serves every App.
"""

from __future__ import annotations

import copy
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
from vrmed.components.scene.core import Name
from vrmed.components.tissue.softbody import EmbeddedSurface, SoftBody
from vrmed.settings import SimSettings
from vrmed.systems.cloth.grasp import cut_cloth_sheets, grasp_cloth, move_cloth_grasp, release_cloth
from vrmed.systems.collision import kernels as CK
from vrmed.systems.collision.system import CollisionWorld
from vrmed.systems.planar.system import PlanarWorld
from vrmed.systems.tissue.cutting import (
    blade_sides,
    cut_body,
    remap_embedding,
    separate_pieces_with_maps,
)
from vrmed.systems.tissue.solver import STANDARD_GRAVITY, SoftBodySettings

from .system import (
    Grasp,
    InstrumentGrasped,
    InstrumentReleased,
    InstrumentWorld,
    TissueBurned,
    TissueCut,
    TissueTorn,
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
            (
                _try_grasp_tissue(app, world, entity, inst, state)
                or _try_grasp_object(app, world, entity, inst, state)
                or _try_grasp_cloth(app, entity, inst, state)
            )

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
        if move_cloth_grasp(app, entity, state.hinge0, state.frame0, state.hinge1, state.frame1):
            state.jaw_shapes = False  # held cloth follows the jaw over this frame, not pushed by it
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
        release_cloth(app, entity)


class CutBehaviour(ToolBehaviour):
    """Closing splits every body the closed blades pass through along the blade plane
    (:func:`~vrmed.systems.tissue.cutting.cut_body`: the tets the blade plane crosses are
    subdivided along it, then the sides separated; the plane holds the blade segment
    hinge -> tip, its normal is the tool's y axis, and only tets whose centroid lies within
    ``cut_radius`` of the blades are separated, so the cut ends where the blades end). Nothing is
    deleted and the same body can be cut again. Grasps follow the vertices they hold (both
    lips of a cut through a grasp stay held); a body cut into disconnected pieces becomes one
    entity per piece (the largest keeps the original entity; the others copy its other
    components, an :class:`EmbeddedSurface` is divided between them). :class:`TissueCut`
    names the tets along the new faces and the spawned pieces."""

    def jaw_closed(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Cut every body the closed blades pass through."""
        if inst.cut_radius is None:
            raise InstrumentError(
                f"instrument {instrument_name(app, entity)!r} ({inst.tool}) cuts but has no cut_radius; "
                "set cut_radius (m) on the Instrument or its ToolType"
            )
        world = app.resource(InstrumentWorld)
        for b_ent, body in list(app.query(SoftBody)):
            side = blade_sides(body, state.hinge1, inst.tip, state.frame1[:, 1], float(inst.cut_radius))
            if not (np.any(side > 0) and np.any(side < 0)):
                continue
            emb = app.try_get(b_ent, EmbeddedSurface)
            # the crossed tets are subdivided along the blade plane, then the sides separated
            res = cut_body(body, state.hinge1, inst.tip, state.frame1[:, 1], float(inst.cut_radius), emb)
            src = res.src
            cut = tuple(int(t) for t in np.sort(body.tet_index[res.cut_tets]))
            for g in world.grasps.values():
                if g.body == b_ent:  # held vertices and their copies stay held, at the same tool coordinates
                    order = np.argsort(g.idx)
                    held = np.flatnonzero(np.isin(src, g.idx))
                    g.idx, g.local = held, g.local[order[np.searchsorted(g.idx[order], src[held])]]
            if emb is not None:  # rebind in place (with the cut faces): the component object stays the entity's
                _replace_embedding(emb, res.embedding)
            bodies = _separate(app, world, b_ent, body, emb)
            for e, piece in bodies:
                for g in world.grasps.values():
                    if g.body == e:
                        g.tets = np.flatnonzero(np.isin(piece.tets, g.idx).any(axis=1)).astype(np.int64)
                _reattach(world, e, piece)
            if not cut:
                continue  # subdivided, but the blades reach no vertex whose whole star they cross: nothing separates
            world.cutting.add(entity)
            app.send(TissueCut(instrument_name(app, entity), b_ent, cut, tuple(e for e, _ in bodies[1:])))
        # cloth (gauze) the blades cross is cut along the same plane (vrmed.systems.cloth.cutting)
        name = instrument_name(app, entity)
        if cut_cloth_sheets(app, name, state.hinge1, inst.tip, state.frame1[:, 1], float(inst.cut_radius)):
            world.cutting.add(entity)

    def jaw_opened(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """The blades leave the cut: their collision shapes count again."""
        app.resource(InstrumentWorld).cutting.discard(entity)

    def update(self, app: App, entity: int, inst: Instrument, state: ToolState) -> None:
        """Closed blades lying in the cut they made do not push its lips apart (as a held grasp)."""
        if entity in app.resource(InstrumentWorld).cutting:
            state.jaw_shapes = False

    def removed(self, app: App, entity: int, state: ToolState) -> None:
        """Forget a despawned instrument."""
        app.resource(InstrumentWorld).cutting.discard(entity)


def _replace_embedding(emb: EmbeddedSurface, new: EmbeddedSurface | None) -> None:
    if new is None:  # nothing of the surface is left on this body: draw nothing of it
        new = EmbeddedSurface(
            triangles=np.zeros((0, 3), dtype=np.int64),
            tet_index=np.zeros(0, dtype=np.int64),
            bary=np.zeros((0, 4)),
            positions=np.zeros((0, 3)),
            normals=np.zeros((0, 3)),
            outside_distance=np.zeros(0),
        )
    for f in dataclasses.fields(EmbeddedSurface):
        setattr(emb, f.name, getattr(new, f.name))


def _separate(
    app: App, world: InstrumentWorld, b_ent: int, body: SoftBody, emb: EmbeddedSurface | None
) -> list[tuple[int, SoftBody]]:
    """Give each disconnected piece of a just-cut ``body`` its own entity: the largest stays
    ``b_ent`` (the body object is updated in place), the others are spawned with copies of the
    entity's other components (a Name gets a ``.piece<k>`` suffix, to stay unique). Grasps,
    burn marks and the embedded surface are divided. Returns (entity, body) per piece."""
    pieces = separate_pieces_with_maps(body)
    if len(pieces) == 1:
        return [(b_ent, body)]
    label = np.empty(body.n_vertices, dtype=np.int64)
    local = np.empty(body.n_vertices, dtype=np.int64)
    for k, (_, verts) in enumerate(pieces):
        label[verts] = k
        local[verts] = np.arange(verts.size)
    split_tet_index = body.tet_index
    others = [c for c in app.components_of(b_ent) if not isinstance(c, (SoftBody, EmbeddedSurface))]
    entities = [b_ent]
    for k, (piece, _) in enumerate(pieces[1:], start=1):
        comps: list[object] = [piece]
        for c in others:
            comps.append(Name(f"{c.value}.piece{k}") if isinstance(c, Name) else copy.deepcopy(c))
        if emb is not None:
            part = remap_embedding(emb, split_tet_index, piece)
            if part is not None:
                comps.append(part)
        entities.append(app.spawn(*comps))
        if b_ent in world.burned:
            world.burned[entities[-1]] = world.burned[b_ent].copy()
    if emb is not None:
        _replace_embedding(emb, remap_embedding(emb, split_tet_index, pieces[0][0]))
    for inst_ent, g in world.grasps.items():
        if g.body != b_ent:
            continue
        k = int(np.bincount(label[g.idx], minlength=len(pieces)).argmax())  # the piece holding most of the grasp
        sel = label[g.idx] == k
        g.body, g.idx, g.local = entities[k], local[g.idx[sel]], g.local[sel]
        if k:
            world.attached[b_ent] = [i for i in world.attached.get(b_ent, []) if i != inst_ent]
            world.attached.setdefault(entities[k], []).append(inst_ent)
            inst = app.try_get(inst_ent, Instrument)
            if inst is not None:
                inst.grasping = entities[k]
    for f in dataclasses.fields(SoftBody):
        setattr(body, f.name, getattr(pieces[0][0], f.name))
    return [(b_ent, body)] + [(e, p) for e, (p, _) in zip(entities[1:], pieces[1:], strict=True)]


def _reattach(world: InstrumentWorld, b_ent: int, body: SoftBody) -> None:
    """:func:`reattach_grasps` for a body object in hand (a piece spawned this frame is not
    queryable until the next stage boundary)."""
    owners = [i for i in world.attached.get(b_ent, []) if i in world.grasps and world.grasps[i].body == b_ent]
    world.attached[b_ent] = owners
    if not owners:
        body.detach()
        return
    body.attach(np.concatenate([world.grasps[i].idx for i in owners]))


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
    for sheet in release_cloth(app, entity):
        app.send(InstrumentReleased(instrument_name(app, entity), sheet, "cloth"))
    inst.grasping = -1


def _try_grasp_cloth(app: App, entity: int, inst: Instrument, state: ToolState) -> bool:
    """Hold the cloth (gauze) vertices between the closed jaws (vrmed.systems.cloth.grasp)."""
    got = grasp_cloth(app, entity, state.hinge1, inst.tip, state.frame1, inst.jaw_radius + inst.grasp_margin)
    if got is None:
        return False
    inst.grasping = got[0]
    app.send(InstrumentGrasped(instrument_name(app, entity), got[0], "cloth", got[1]))
    return True


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
