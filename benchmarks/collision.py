"""``vrmed bench collision``: tool-versus-tissue collision query cost, and a 50-object planar scene.

Case 1: two laparoscopic instruments (a grasper and scissors: shaft + two jaw capsules each)
press 3 mm into a deforming 0.3 x 0.02 x 0.3 m tissue sheet whose boundary has 20,160
triangles (70 x 1 x 70 cells, 29,400 tets, bottom pinned, E = 10 kPa), sweeping sideways at
0.5 m/s in opposite directions, one XPBD substep per 900 Hz physics tick. Reported per
substep: the collision query (``collision.detect`` broad phase + ``collision.resolve``
narrow phase and contact projection, both systems as the App runs them, Python included),
the kernels alone, and for scale the tissue solve of the same substep; also the candidate
pairs and contacts per substep. Target: query under 0.2 ms per substep on the 2-core machine.

Case 2: 50 rings resting and sliding on an FLS-style board (pymunk) with one instrument
carrying one of them: ms per physics tick of ``planar.step`` and per frame of
``instruments.control``.

Warm-up (JIT, first frames) is excluded.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vrmed import App
from vrmed.components.instruments.instrument import Instrument
from vrmed.components.planar.bodies import PlanarBody, WorkSurface
from vrmed.components.scene.core import Name
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.input import InputState
from vrmed.mesh import box_tets
from vrmed.settings import SimSettings
from vrmed.systems.collision.system import CollisionWorld
from vrmed.systems.instruments.plugin import InstrumentPlugin
from vrmed.systems.planar.system import PlanarPlugin
from vrmed.systems.tissue.solver import SoftBodyPlugin

DOWN = np.array([np.sqrt(0.5), -np.sqrt(0.5), 0.0, 0.0])  # shaft along world -y
TARGET_MS = 0.2


def _mean_since(before: dict[str, float], after: dict[str, float]) -> float:
    """Mean ms of the calls between two ``app.timings()`` snapshots of one system (the
    timers keep their last 4096 calls; the runs here stay below that)."""
    n0, n1 = int(before["calls"]), int(after["calls"])
    assert n1 <= 4096, "too many calls for the timing ring buffer"
    return (after["mean_ms"] * n1 - before["mean_ms"] * n0) / (n1 - n0)


def _sheet_case(frames: int) -> dict[str, Any]:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(InputState())
    mesh = box_tets((0.3, 0.02, 0.3), (70, 1, 70), origin=(-0.15, 0.0, -0.15))
    body = SoftBody.from_mesh(
        mesh, Material(1.0e4, 0.45, 1000.0, damping=0.002), pins=np.flatnonzero(mesh.points[:, 1] < 1e-9)
    )
    ent = app.spawn(body)
    for name, tool, dev in (("grasper", "grasper", "left"), ("scissors", "scissors", "right")):
        app.spawn(Instrument(tool=tool, device=dev, pivot=False), Name(name))
    inputs = app.resource(InputState)
    top = 0.02 + 0.018 - 0.003  # jaw tips 3 mm into the sheet

    def pose(frame: int) -> None:
        s = 0.5 * frame / 90.0
        for dev, x0, sign in (("left", -0.05, 1.0), ("right", 0.05, -1.0)):
            d = inputs.device(dev)
            d.position[:] = (x0 + sign * ((s % 0.1) - 0.05), top, 0.02 * sign)
            d.orientation[:] = DOWN

    try:
        for f in range(30):  # warm-up: JIT, press in
            pose(f)
            app.step(1)
        world = app.resource(CollisionWorld)
        surf = world.surfaces[ent]
        n_faces = surf.n_faces
        pairs, contacts = [], []
        names = ("collision.detect", "collision.resolve", "softbody.solve")
        before = app.timings()
        for f in range(30, 30 + frames):
            pose(f)
            app.step(1)
            pairs.append(surf.n_pairs)
            contacts.append(int(surf.count[: world.n_prims].sum()))
        samples = {k: _mean_since(before[k], app.timings()[k]) for k in names}
        # kernels alone: re-run detect + resolve on the current state (moves nothing: all resolved)
        reps = 2000
        h = app.resource(SimSettings).h
        world.detect(body, surf)
        world.resolve(body, surf, h)
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            world.detect(body, surf)
            world.resolve(body, surf, h)
        kernel_ms = (time.perf_counter_ns() - t0) / 1e6 / reps
    finally:
        app.close()
    query = samples["collision.detect"] + samples["collision.resolve"]
    return {
        "case": "2 instruments vs deforming sheet",
        "triangles": n_faces,
        "tets": body.n_tets,
        "substeps": frames * 10,
        "query_ms_per_substep": round(query, 4),
        "detect_ms": round(samples["collision.detect"], 4),
        "resolve_ms": round(samples["collision.resolve"], 4),
        "kernels_ms": round(kernel_ms, 4),
        "tissue_solve_ms": round(samples["softbody.solve"], 3),
        "pairs_per_substep": round(float(np.mean(pairs)), 1),
        "contacts_per_substep": round(float(np.mean(contacts)), 1),
        "target_ms": TARGET_MS,
        "met": bool(query < TARGET_MS),
    }


def _planar_case(frames: int) -> dict[str, Any]:
    app = App(seed=0)
    app.add_plugin(PlanarPlugin())
    app.add_plugin(InstrumentPlugin())
    app.insert_resource(InputState())
    app.spawn(WorkSurface(origin=np.array([0.0, 0.8, 0.0]), size=np.array([0.4, 0.3]), friction=0.3))
    rng = np.random.default_rng(0)
    rings = []
    for i in range(50):
        x, z = -0.18 + 0.036 * (i % 10), -0.12 + 0.05 * (i // 10)
        v = rng.normal(scale=0.2, size=3)
        v[1] = 0.0
        rings.append(
            app.spawn(
                PlanarBody(
                    radius=0.008,
                    inner_radius=0.005,
                    mass=0.002,
                    mode="surface",
                    position=np.array([x, 0.8, z]),
                    velocity=v,
                )
            )
        )
    app.spawn(Instrument(tool="grasper", device="hand", pivot=False), Name("grasper"))
    hand = app.resource(InputState).device("hand")
    hand.orientation[:] = DOWN
    try:
        app.step(5)
        target = app.get(rings[0], PlanarBody).position.copy()
        hand.position[:] = target + [0.0, 0.018, 0.0]
        app.step(1)
        hand.buttons["trigger"] = 1.0
        app.step(1)
        before = app.timings()
        for f in range(frames):
            hand.position[:] = target + [0.05 * np.sin(f / 20), 0.03, 0.0]
            app.step(1)
        after = app.timings()
        t = {k: {"mean_ms": _mean_since(before[k], after[k])} for k in ("planar.step", "instruments.control")}
        held = app.get(rings[0], PlanarBody).mode == "held"
    finally:
        app.close()
    return {
        "case": "50 rings on the board + 1 instrument carrying one",
        "objects": 50,
        "frames": frames,
        "planar_step_ms_per_tick": round(t["planar.step"]["mean_ms"], 4),
        "instruments_control_ms_per_frame": round(t["instruments.control"]["mean_ms"], 4),
        "ring_held": held,
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Collision query cost per substep (2 instruments vs a 20k-triangle sheet) and a 50-ring planar scene."""
    frames = 30 if options.get("quick") else 300
    rows = [_sheet_case(frames), _planar_case(frames)]
    notes = [
        "physics 900 Hz = one XPBD substep per tick (10 per 90 Hz frame); times are per-system means "
        "(app.timings) over the timed frames, after a warm-up",
        f"target: instrument-vs-surface query under {TARGET_MS} ms per substep on 2 cores",
        "kernels_ms: broad + narrow phase and projection only (no Python system overhead)",
    ]
    if options.get("peers"):
        notes.append("peers: no peer collision library is installed here; none run")
    return {"suite": "collision", "rows": rows, "notes": notes}
