"""Kinematic collision shapes: spheres, capsules and boxes that push soft tissue.

A :class:`Collider` on an entity with a :class:`~vrmed.components.scene.core.Transform` is a rigid,
kinematic shape (moved by its Transform, never by contacts) that the collision system
(:mod:`vrmed.systems.collision.system`) keeps out of every SoftBody, with friction. Instruments
make their own shapes (shaft and jaws) and need no Collider.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrmed.errors import VrmedError
from vrmed.fields import real_number, vec3

SHAPES = ("sphere", "capsule", "box")


class CollisionError(VrmedError, ValueError):
    """A collision shape or collision setting is invalid (the message names it and the fix)."""


@dataclass
class Collider:
    """A kinematic shape following its entity's Transform (metres, world frame).

    ``shape`` is ``sphere`` (``radius``), ``capsule`` (a segment of half length
    ``half_length`` along the local z axis, swept by ``radius``) or ``box`` (``half_extents``
    along the local axes). ``friction`` is the Coulomb coefficient against tissue; the default
    0.05 is a smooth steel probe on wet serosa: a stainless-steel sled on porcine small-bowel
    lumen measured 0.007-0.054 in situ and in vitro (Tribology Letters 51:377-383, 2013,
    doi:10.1007/s11249-013-0167-1), the upper end taken. Rougher or drier contacts are higher
    (porcine bone on muscle, static: ~0.3, Shacham et al. 2010, J Biomech Eng 132(8)), and
    serrated grasper jaws hold by their teeth, not by this coefficient.
    """

    shape: str = "sphere"
    radius: float = 0.005
    half_length: float = 0.0
    half_extents: np.ndarray = vec3(0.01, 0.01, 0.01)
    friction: float = 0.05

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise CollisionError(f"Collider: unknown shape {self.shape!r}; use one of {', '.join(SHAPES)}")
        if self.shape != "box":
            real_number(self.radius, f"Collider: a {self.shape}'s radius (m)", CollisionError, minimum=0.0, above=True)
        real_number(self.half_length, "Collider: half_length (m)", CollisionError, minimum=0.0)
        if self.shape == "box" and not np.all(np.isfinite(self.half_extents) & (np.asarray(self.half_extents) > 0)):
            raise CollisionError(f"Collider: a box needs positive half_extents, got {list(self.half_extents)}")
        real_number(self.friction, "Collider: friction", CollisionError, minimum=0.0)
