"""Cloth components: :class:`ClothMaterial` and the :class:`ClothSheet` triangle membrane
(gauze, drapes: thin shells as triangles with membrane and bending; docs/cloth.md)."""

from .sheet import ClothError, ClothMaterial, ClothSheet, ClothSheetSpec, rectangle_mesh

__all__ = ["ClothError", "ClothMaterial", "ClothSheet", "ClothSheetSpec", "rectangle_mesh"]
