"""Frame time of the cloth solve (docs/cloth.md, "Measured"): a 10 x 10 cm gauze clamped on two
edges at 2.5 and 1.5 mm cells, :class:`~vrmed.systems.cloth.solver.ClothSettings` defaults
(2 implicit steps x 1 local-global iteration per 1/90 s frame); the median of 3 runs of 90
frames after 90 warm-up frames, the refactoring time and one snip's cost.

Run: ``python -m vrmed.systems.cloth.bench``."""

from __future__ import annotations

import time

import numpy as np

from vrmed.components.cloth.sheet import ClothMaterial, ClothSheet

from .cutting import cut_cloth
from .solver import ClothSettings, step_cloth

_G = np.array([0.0, -9.80665, 0.0])


def run(cells: tuple[float, ...] = (0.0025, 0.0015)) -> list[dict[str, float]]:
    """Measure each cell size; returns one row per size (and prints it)."""
    settings = ClothSettings()
    k, it = settings.steps_per_frame, settings.iterations
    rows = []
    for cell in cells:
        s = ClothSheet.rectangle((0.1, 0.1), cell, ClothMaterial(), pin_edges=["u0", "u1"])
        for _ in range(90):
            step_cloth(s, 1 / 90, k, _G, iterations=it)
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(90):
                step_cloth(s, 1 / 90, k, _G, iterations=it)
            runs.append((time.perf_counter() - t) / 90 * 1000)
        n, sag = s.n_vertices, -1000 * float(s.x[:, 1].min())
        s.solver_cache.clear()
        t = time.perf_counter()
        step_cloth(s, 1 / 90, k, _G, iterations=it)
        refactor = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        cut_cloth(s, np.array([0.0431, 0.0, 0.02]), np.array([0.0431, 0.0, 0.036]), np.array([1.0, 0, 0]), 0.003)
        snip = (time.perf_counter() - t) * 1000
        row = {
            "cell_mm": cell * 1000,
            "vertices": n,
            "frame_ms": float(np.median(runs)),
            "refactor_frame_ms": refactor,
            "snip_ms": snip,
            "sag_mm_at_3s": sag,
        }
        print(", ".join(f"{key} {value:.4g}" for key, value in row.items()))
        rows.append(row)
    return rows


if __name__ == "__main__":
    run()
