"""Collision components: kinematic tool shapes that push soft tissue."""

from .collider import SHAPES, Collider, CollisionError

__all__ = ["Collider", "CollisionError", "SHAPES"]
