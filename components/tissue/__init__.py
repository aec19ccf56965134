"""Soft-tissue components: materials in SI units, XPBD tet bodies, embedded visual surfaces,
how a body looks (colour, finish, marked bands), and the tissue-constraint protocol with its
built-in types (pins, attachments, slides); ligament patches are in :mod:`.ligament`."""

from .appearance import TissueAppearance, TissueBand, TissueVessel
from .constraints import (
    AttachmentConstraint,
    ConstraintError,
    PinConstraint,
    SlideConstraint,
    TissueConstraint,
)
from .softbody import BoxSpec, EmbeddedSurface, LigamentSpec, Material, SoftBody, SoftBodySpec

__all__ = [
    "AttachmentConstraint",
    "BoxSpec",
    "ConstraintError",
    "EmbeddedSurface",
    "LigamentSpec",
    "Material",
    "PinConstraint",
    "SlideConstraint",
    "SoftBody",
    "SoftBodySpec",
    "TissueAppearance",
    "TissueBand",
    "TissueConstraint",
    "TissueVessel",
]
