"""Planar rigid bodies on a work surface with pymunk, and lifting them off it.

On the surface, objects are pymunk bodies in the surface frame: pegs are static circles,
the rim static segments, and table friction is Coulomb friction against the plane seen
from above, made of two pymunk constraints per body (a pivot and a gear joint to the
static body with no bias and a force cap of mu m g, the top-down friction of pymunk's
own examples), so it is solved in C with the contacts.
A grasped object leaves the pymunk space and follows its holder; on
release it falls ballistically and re-enters the space where it lands, or sits on a peg
if its hole lands around one, or is lost if it lands off the surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymunk

from vrmed.components.planar.bodies import Peg, PlanarBody, WorkSurface
from vrmed.errors import VrmedError
from vrmed.events import Event

from .draw import PlanarDrawCache, planar_draw_system

GRAVITY = 9.81


@dataclass(frozen=True)
class ObjectLifted(Event):
    """An object left the surface in an instrument's grasp."""

    entity: int
    by: str


@dataclass(frozen=True)
class ObjectHandedOver(Event):
    """A held object was taken mid-air by another instrument (``source`` to ``by``)."""

    entity: int
    source: str
    by: str


@dataclass(frozen=True)
class ObjectReleased(Event):
    """An instrument let go of an object at ``height`` metres above the surface."""

    entity: int
    by: str
    height: float


@dataclass(frozen=True)
class ObjectLanded(Event):
    """A falling object came down on the surface (``peg`` is -1 unless it landed on one)."""

    entity: int
    x: float
    y: float
    peg: int


@dataclass(frozen=True)
class ObjectLost(Event):
    """A falling object landed outside the surface (unrecoverable, e.g. out of view)."""

    entity: int
    x: float
    y: float


@dataclass
class _Slot:
    body: pymunk.Body
    shape: pymunk.Shape
    joints: tuple[pymunk.Constraint, pymunk.Constraint]
    comp: PlanarBody


@dataclass
class PlanarWorld:
    """The pymunk space of the (single) work surface and the bodies in it (a resource).

    Use :meth:`pick_up`, :meth:`move_held` and :meth:`release` from instrument systems.
    """

    space: pymunk.Space = field(default_factory=pymunk.Space)
    surface_entity: int = -1
    slots: dict[int, _Slot] = field(default_factory=dict)
    statics: list[Any] = field(default_factory=list)

    def pick_up(self, app: Any, entity: int, by: str, at: np.ndarray) -> None:
        """Grasp an object: it leaves the pymunk space and follows ``at`` (world, m). An object
        already held by another holder changes hands (``ObjectHandedOver``)."""
        body = app.get(entity, PlanarBody)
        if body.mode == "lost":
            raise VrmedError(f"entity {entity} was dropped off the surface and cannot be picked up")
        self._remove(entity)
        source = body.held_by if body.mode == "held" else ""
        body.mode, body.held_by, body.peg = "held", by, -1
        body.position[:] = at
        body.velocity[:] = 0.0
        app.send(ObjectHandedOver(entity, source, by) if source else ObjectLifted(entity, by))

    def move_held(self, app: Any, entity: int, at: np.ndarray, dt: float) -> None:
        """Move a held object to ``at``; its velocity is the finite difference (for release)."""
        body = app.get(entity, PlanarBody)
        if body.mode != "held":
            raise VrmedError(f"entity {entity} is not held (mode {body.mode!r})")
        body.velocity[:] = (np.asarray(at) - body.position) / dt
        body.position[:] = at

    def release(self, app: Any, entity: int) -> None:
        """Let go: the object keeps its velocity and falls."""
        body = app.get(entity, PlanarBody)
        if body.mode != "held":
            raise VrmedError(f"entity {entity} is not held (mode {body.mode!r})")
        surface = app.get(self.surface_entity, WorkSurface)
        height = surface.to_plane(body.position)[2]
        app.send(ObjectReleased(entity, body.held_by, height))
        body.mode, body.held_by = "falling", ""

    def _remove(self, entity: int) -> None:
        slot = self.slots.pop(entity, None)
        if slot is not None:
            self.space.remove(slot.body, slot.shape, *slot.joints)

    def _add(self, entity: int, body: PlanarBody, surface: WorkSurface) -> None:
        x, y, _ = surface.to_plane(body.position)
        moment = pymunk.moment_for_circle(body.mass, body.inner_radius, body.radius)
        pb = pymunk.Body(body.mass, moment)
        pb.position = (x, y)
        vx, vy = float(body.velocity @ surface.u), float(body.velocity @ surface.v)
        pb.velocity = (vx, vy)
        shape = pymunk.Circle(pb, body.radius)
        shape.friction = surface.friction
        shape.elasticity = body.elasticity
        # Coulomb friction against the table: impulses capped at mu m g (sliding) and
        # mu m g r_eff (spinning on the flat face; r_eff = the mean radius of the contact).
        slide = pymunk.PivotJoint(self.space.static_body, pb, (0.0, 0.0), (0.0, 0.0))
        spin = pymunk.GearJoint(self.space.static_body, pb, 0.0, 1.0)
        for joint, cap in ((slide, 1.0), (spin, 0.5 * (body.radius + body.inner_radius))):
            joint.max_bias = 0.0
            joint.max_force = surface.friction * body.mass * GRAVITY * cap
        self.space.add(pb, shape, slide, spin)
        self.slots[entity] = _Slot(pb, shape, (slide, spin), body)


class PlanarPlugin:
    """Adds the planar world: one WorkSurface entity, Pegs and PlanarBodies (physics.rigid),
    and their drawing (render.prepare)."""

    components = (WorkSurface, Peg, PlanarBody)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    task_components = (WorkSurface, Peg, PlanarBody)
    #: Components ``planar.draw`` draws (board, pegs, rings and discs).
    drawn_components = (WorkSurface, Peg, PlanarBody)
    #: Events a scenario may name (rubrics, guidance steps, cues).
    events = (ObjectLifted, ObjectHandedOver, ObjectReleased, ObjectLanded, ObjectLost)

    def build(self, app: Any) -> None:
        """Register components, the PlanarWorld and PlanarDrawCache resources, the step system
        and the drawing (``planar.draw``, render.prepare: draws only when there is a renderer)."""
        for comp in self.components:
            app.register_component(comp)
        app.insert_resource(PlanarWorld())
        app.insert_resource(PlanarDrawCache())
        app.add_system(step_planar, in_set="physics.rigid", name="planar.step")
        # late in render.prepare: the board shades itself with what other systems queued (tools)
        app.add_system(planar_draw_system, in_set="render.prepare", name="planar.draw", priority=100)


def _build_statics(world: PlanarWorld, app: Any, surface: WorkSurface) -> None:
    static = world.space.static_body
    shapes: list[pymunk.Shape] = []
    for _, peg in app.query(Peg):
        shapes.append(pymunk.Circle(static, peg.radius, (float(peg.at[0]), float(peg.at[1]))))
    if surface.rim:
        w, d = surface.size / 2
        corners = [(-w, -d), (w, -d), (w, d), (-w, d)]
        for a, b in zip(corners, corners[1:] + corners[:1]):
            shapes.append(pymunk.Segment(static, a, b, 0.002))
    for s in shapes:
        s.friction = surface.friction
        s.elasticity = 0.3
    world.space.add(*shapes)
    world.statics = shapes


def step_planar(app: Any) -> None:
    """One physics tick: land falling objects, step pymunk, write poses back."""
    world: PlanarWorld = app.resource(PlanarWorld)
    surfaces = app.query(WorkSurface)
    if not surfaces:
        return
    if len(surfaces) > 1:
        raise VrmedError("the planar world supports one WorkSurface per scene")
    entity, surface = surfaces[0]
    if world.surface_entity != entity:
        world.surface_entity = entity
        _build_statics(world, app, surface)
    dt = app.clock.dt
    n = surface.normal
    pegs = app.query(Peg)
    for ent, body in app.query(PlanarBody):  # same order on every run (deterministic)
        if body.mode == "surface" or body.mode == "held" or body.mode == "on_peg" or body.mode == "lost":
            if body.mode == "surface" and ent not in world.slots:
                world._add(ent, body, surface)
            continue
        if body.mode == "falling":
            body.velocity -= GRAVITY * n * dt
            body.position += body.velocity * dt
            x, y, h = surface.to_plane(body.position)
            if h <= 0.0:
                body.position[:] = surface.to_world(x, y, 0.0)
                body.velocity -= (body.velocity @ n) * n  # the plane stops the normal motion
                if not surface.contains(x, y):
                    body.mode = "lost"
                    body.velocity[:] = 0.0
                    app.send(ObjectLost(ent, x, y))
                    continue
                peg_hit = -1
                for pe, peg in pegs:
                    if (
                        body.inner_radius > peg.radius
                        and math.hypot(x - peg.at[0], y - peg.at[1]) <= body.inner_radius - peg.radius
                    ):
                        peg_hit = pe
                        break
                if peg_hit >= 0:
                    body.mode, body.peg = "on_peg", peg_hit
                    peg = app.get(peg_hit, Peg)
                    body.position[:] = surface.to_world(float(peg.at[0]), float(peg.at[1]), 0.0)
                    body.velocity[:] = 0.0
                else:
                    body.mode = "surface"
                    world._add(ent, body, surface)
                app.send(ObjectLanded(ent, x, y, peg_hit))
    world.space.step(dt)
    o, u, v = surface.origin, surface.u, surface.v
    for slot in world.slots.values():
        comp = slot.comp
        x, y = slot.body.position
        vx, vy = slot.body.velocity
        np.add(o, x * u + y * v, out=comp.position)
        np.add(vx * u, vy * v, out=comp.velocity)
        comp.spin = slot.body.angle
