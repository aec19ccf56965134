"""Tissue-tissue contact and self-contact of soft bodies.

A :class:`TissueContact` on an entity with a :class:`~vrmed.components.tissue.softbody.SoftBody`
makes its boundary surface collide with the surface of every other SoftBody that has one
(gallbladder resting on the liver); ``self_contact=True`` also keeps the body's own surface from
passing through itself (a folded sheet). Bodies without the component do not touch other bodies
(tools still push them: :class:`~vrmed.components.collision.collider.Collider`). The contact
system is :mod:`vrmed.systems.collision.tissue_contact`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.components.collision.collider import CollisionError
from vrmed.fields import real_number


@dataclass
class TissueContact:
    """Opt-in tissue-tissue contact for this entity's SoftBody (metres).

    ``thickness``: the gap kept between this surface and another (vertex to triangle; a pair of
    bodies keeps the larger of their two). ``max_depth``: how far a vertex may be found behind
    another surface and still be pushed back out of it (deeper points are taken to be on the far
    side of a thin body; it bounds the relative speed the contact catches to about
    ``max_depth`` per physics tick, 1.8 m/s at 2 mm and 900 Hz; near that speed a few vertices
    can be inside for a frame or two before it catches them: docs/physics.md "Contact").
    ``friction``: Coulomb coefficient (a pair uses the smaller). ``self_contact``: also collide
    the body's surface with itself (faces a vertex belongs to, its one-ring and faces within reach
    of it at rest never count; sides are told by the substep's start, so it catches up to 1.5 ``thickness`` of relative
    motion per tick; keep ``thickness`` well below the body's own thickness).
    """

    thickness: float = 0.001
    max_depth: float = 0.002
    friction: float = 0.3
    self_contact: bool = False

    def __post_init__(self) -> None:
        real_number(self.thickness, "TissueContact: thickness (m)", CollisionError, minimum=0.0, above=True)
        real_number(self.max_depth, "TissueContact: max_depth (m)", CollisionError, minimum=0.0, above=True)
        real_number(self.friction, "TissueContact: friction", CollisionError, minimum=0.0)
        if not isinstance(self.self_contact, (bool, np.bool_)):
            raise CollisionError(f"TissueContact: self_contact must be true or false, got {self.self_contact!r}")
