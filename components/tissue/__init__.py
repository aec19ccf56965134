"""Soft-tissue components: materials in SI units, XPBD tet bodies, embedded visual surfaces,
and the tissue-constraint protocol with its built-in types (pins, attachments, slides)."""

from .constraints import (
    AttachmentConstraint,
    ConstraintError,
    PinConstraint,
    SlideConstraint,
    TissueConstraint,
)
from .softbody import BoxSpec, EmbeddedSurface, Material, SoftBody, SoftBodySpec

__all__ = [
    "AttachmentConstraint",
    "BoxSpec",
    "ConstraintError",
    "EmbeddedSurface",
    "Material",
    "PinConstraint",
    "SlideConstraint",
    "SoftBody",
    "SoftBodySpec",
    "TissueConstraint",
]
