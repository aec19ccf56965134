"""Soft-tissue components: materials in SI units, XPBD tet bodies, embedded visual surfaces."""

from .softbody import BoxSpec, EmbeddedSurface, Material, SoftBody, SoftBodySpec

__all__ = ["BoxSpec", "EmbeddedSurface", "Material", "SoftBody", "SoftBodySpec"]
