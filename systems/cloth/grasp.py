"""Tools acting on cloth: graspers holding a ClothSheet between their jaws and scissors cutting
it, as helpers the instruments feature's tool behaviours call (so cloth needs no import of
the instruments feature)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.cloth.sheet import ClothSheet
from vrmed.geometry import segment_point_distance

from .cutting import ClothCut, cloth_pieces, cut_cloth

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App


def grasp_cloth(
    app: App, owner: int, hinge: np.ndarray, tip: np.ndarray, frame: np.ndarray, reach: float
) -> tuple[int, int] | None:
    """Hold, for tool ``owner``, the free vertices of the first ClothSheet (query order) within
    ``reach`` (m) of the jaw segment ``hinge`` -> ``tip``; they then follow the jaw rigidly
    (coordinates in the tool ``frame``, columns = tool axes). Vertices of the triangles the
    segment passes through are caught too. Returns (sheet entity, vertices held) or None."""
    for entity, sheet in app.query(ClothSheet):
        near = segment_point_distance(hinge, tip, sheet.x) <= reach
        near &= ~sheet.pinned
        if not near.any():
            continue
        idx = np.flatnonzero(near)
        idx = idx[~np.isin(idx, sheet.hold_idx)]
        if idx.size == 0:
            continue
        sheet.hold(idx, owner, (sheet.x[idx] - hinge) @ frame)
        return entity, int(idx.size)
    return None


def move_cloth_grasp(
    app: App, owner: int, hinge0: np.ndarray, frame0: np.ndarray, hinge1: np.ndarray, frame1: np.ndarray
) -> bool:
    """Set where the vertices ``owner`` holds go over this display frame: from the jaw pose
    (hinge0, frame0) at its start to (hinge1, frame1) at its end. Returns whether it holds any."""
    held = False
    for _, sheet in app.query(ClothSheet):
        mine = sheet.hold_owner == owner
        if not mine.any():
            continue
        held = True
        loc = sheet.hold_local[mine]
        sheet.hold_from[mine] = hinge0 + loc @ frame0.T
        sheet.hold_to[mine] = hinge1 + loc @ frame1.T
    return held


def release_cloth(app: App, owner: int) -> list[int]:
    """Let go of everything ``owner`` holds; returns the sheet entities it held."""
    out = []
    for entity, sheet in app.query(ClothSheet):
        if (sheet.hold_owner == owner).any():
            sheet.release(owner)
            out.append(entity)
    return out


def cut_cloth_sheets(
    app: App, instrument: str, hinge: np.ndarray, tip: np.ndarray, normal: np.ndarray, cut_radius: float
) -> bool:
    """Cut every ClothSheet the closed blades cross (:func:`cut_cloth`) and send a
    :class:`ClothCut` for each one cut; returns whether any was."""
    cut_any = False
    for entity, sheet in list(app.query(ClothSheet)):
        res = cut_cloth(sheet, hinge, tip, normal, cut_radius)
        if not len(res.segments):
            continue
        cut_any = True
        segs = tuple(tuple(float(v) for v in seg.ravel()) for seg in res.segments)
        app.send(ClothCut(instrument, entity, segs, cloth_pieces(sheet)[2]))  # type: ignore[arg-type]
    return cut_any
