"""Collision components: kinematic tool shapes that push soft tissue, and opt-in tissue-tissue
and self-contact of soft bodies."""

from .collider import SHAPES, Collider, CollisionError
from .tissue_contact import TissueContact

__all__ = ["Collider", "CollisionError", "SHAPES", "TissueContact"]
