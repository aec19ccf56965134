"""The clip_lab pack's own code: the end-of-run summary (the extensions live in the plugin)."""

from __future__ import annotations

from typing import Any

import vrmed.api as vm
from vrmed_clip_lab.clip_tool import Clips


def summary(app: vm.App) -> dict[str, Any]:
    """Printed at the end of `vrmed run clip_lab`: where each clip was placed (mm)."""
    placed = app.resource(Clips).placed
    return {"clips": len(placed), "clip_x_mm": [round(float(c.constraint.centre[0]) * 1e3, 1) for c in placed]}
