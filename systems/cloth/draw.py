"""The cloth feature's drawing: every :class:`~vrmed.components.cloth.ClothSheet` as one
streamed surface (the renderer's surface shader is two-sided, so both faces are lit), with
area-weighted vertex normals and the sheet's ink ``mark`` (V,) in [0, 1] drawn through the
surface's per-vertex darkening channel (the renderer's ``burn``: 1 = fully dark ink)."""

from __future__ import annotations

from vrmed.app import App
from vrmed.components.cloth.sheet import ClothSheet
from vrmed.render.drawlist import DrawList

from . import kernels as K

#: gauze is matte and dry
CLOTH_ROUGHNESS = 0.9
CLOTH_WETNESS = 0.05


def cloth_draw_system(app: App) -> None:
    """render.prepare: queue every ClothSheet's surface into the renderer's DrawList, if any."""
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    for entity, sheet in app.query(ClothSheet):
        if sheet.normals.shape != sheet.x.shape:  # vertices added (a cut) since the last draw
            sheet.normals = sheet.x.copy()
        K.vertex_normals(sheet.x, sheet.triangles, sheet.normals)
        draws.add_surface(
            ("vrmed.cloth", entity),
            sheet.x,
            sheet.triangles,
            normals=sheet.normals,
            burn=sheet.mark if sheet.mark.any() else None,
            color=tuple(sheet.color),
            roughness=CLOTH_ROUGHNESS,
            wetness=CLOTH_WETNESS,
            entity=entity,
        )
