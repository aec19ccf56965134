"""The cloth feature: Projective Dynamics triangle membranes with bending (gauze, drapes), their cutting by
scissors and drawing (docs/cloth.md)."""

from .cutting import ClothCut, ClothCutResult, cloth_pieces, cut_cloth
from .solver import ClothPlugin, ClothSettings, step_cloth

__all__ = ["ClothCut", "ClothCutResult", "ClothPlugin", "ClothSettings", "cloth_pieces", "cut_cloth", "step_cloth"]
