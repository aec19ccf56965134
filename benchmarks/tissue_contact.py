"""``vrmed bench tissue_contact``: cost of tissue-tissue and self-contact per physics tick.

Case 1: a 60 x 30 x 60 mm liver-like block (E 5.4 kPa, nu 0.45, 1060 kg/m^3; 12 x 6 x 12 cells,
5184 tets) resting under gravity on a 200 x 40 x 200 mm slab (20 x 4 x 20 cells, 9600 tets,
bottom pinned), both with ``TissueContact``. Case 2: an 80 x 4 x 20 mm sheet (40 x 2 x 10 cells,
4800 tets) with ``TissueContact(self_contact=True)`` lying on a table, its right end carried over
the pinned left end by an attachment in 1/3 s and dropped (the fold of
``tests/test_tissue_tissue_contact.py`` at twice the resolution). Reported: mean ms per physics
tick (one XPBD substep at 900 Hz) of ``collision.tissue`` and, for scale, of ``softbody.solve``
over the timed frames (after a warm-up), the contacts per tick, and the force on the block over
its weight (case 1, expected ``1 / (1 + h c)`` = 0.9945 with c = 5 /s).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vrmed import App
from vrmed.components.collision.collider import Collider
from vrmed.components.collision.tissue_contact import TissueContact
from vrmed.components.scene.core import Transform
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.mesh import box_tets
from vrmed.systems.collision.system import CollisionPlugin
from vrmed.systems.collision.tissue_contact import TissueContactWorld
from vrmed.systems.tissue.solver import STANDARD_GRAVITY, SoftBodyPlugin

LIVER = Material(5.4e3, 0.45, 1060.0, damping=0.002)
NAMES = ("collision.tissue", "softbody.solve")


def _mean_since(before: dict[str, Any], after: dict[str, Any], name: str) -> float:
    """Mean ms of one system's calls between two ``app.timings()`` snapshots."""
    n0, n1 = int(before[name]["calls"]), int(after[name]["calls"])
    return (after[name]["mean_ms"] * n1 - before[name]["mean_ms"] * n0) / (n1 - n0)


def _resting(frames: int) -> dict[str, Any]:
    app = App(seed=0)
    app.add_plugin(SoftBodyPlugin())
    app.add_plugin(CollisionPlugin())
    slab = box_tets((0.2, 0.04, 0.2), (20, 4, 20), origin=(-0.1, 0.0, -0.1))
    lower = SoftBody.from_mesh(slab, LIVER, pins=np.flatnonzero(slab.points[:, 1] < 1e-9), velocity_damping=5.0)
    block = box_tets((0.06, 0.03, 0.06), (12, 6, 12), origin=(-0.03, 0.0415, -0.03))
    upper = SoftBody.from_mesh(block, LIVER, velocity_damping=5.0)
    app.spawn(lower, TissueContact())
    eb = app.spawn(upper, TissueContact())
    tcw = app.resource(TissueContactWorld)
    try:
        app.step(30)  # warm-up: JIT, the block settles onto the slab
        before = app.timings()
        contacts = []
        for _ in range(frames):
            app.step(1)
            contacts.append(sum(tcw.contacts.values()) / 2)
        after = app.timings()
        weight = float(upper.mass.sum() * -STANDARD_GRAVITY[1])
        ratio = float(tcw.force[eb][1] / weight)
    finally:
        app.close()
    return {
        "case": "block resting on a slab",
        "tets": lower.n_tets + upper.n_tets,
        "tissue_contact_ms_per_tick": round(_mean_since(before, after, NAMES[0]), 4),
        "tissue_solve_ms_per_tick": round(_mean_since(before, after, NAMES[1]), 4),
        "contacts_per_tick": round(float(np.mean(contacts)), 1),
        "force_over_weight": round(ratio, 4),
    }


class FoldedSheet:
    """An 80 x 4 x 20 mm liver-material sheet on a table, its left end pinned: ``step(f)``
    carries the right end over the left in frames 0-29 (an attachment turned about a hinge,
    1/3 s) and drops it at frame 30. The self-contact scene of the benchmark and the tests."""

    FOLD_FRAMES = 30

    def __init__(self, cells: tuple[int, int, int], self_contact: bool = True) -> None:
        self.app = app = App(seed=0)
        app.add_plugin(SoftBodyPlugin())
        app.add_plugin(CollisionPlugin())
        L, T, W = 0.08, 0.004, 0.02
        mesh = box_tets((L, T, W), cells, origin=(0.0, 0.0, -W / 2))
        self.body = body = SoftBody.from_mesh(mesh, LIVER, velocity_damping=2.0)
        right = np.flatnonzero(mesh.points[:, 0] > L - 1e-9)
        body.pin(np.flatnonzero(mesh.points[:, 0] < 1e-9))
        body.attach(right)
        app.spawn(body, TissueContact(self_contact=self_contact))
        table = Collider(shape="box", half_extents=np.array([0.2, 0.01, 0.1]), friction=0.5)
        app.spawn(Transform(position=np.array([0.0, -0.01, 0.0])), table)
        self.contact_world = app.resource(TissueContactWorld)
        self._hinge = np.array([L / 2, T + 0.003, 0.0])
        self._rel = mesh.points[right] - self._hinge

    def step(self, f: int) -> None:
        """Frame ``f`` of the fold (see the class docstring), then one App step."""
        if f < self.FOLD_FRAMES:
            a = np.pi * (f + 1) / self.FOLD_FRAMES
            c, s, rel = np.cos(a), np.sin(a), self._rel
            turned = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], axis=1)
            self.body.set_attachment_targets(self._hinge + turned)
        elif f == self.FOLD_FRAMES:
            self.body.detach()  # the folded half falls onto the other
        self.app.step(1)

    def close(self) -> None:
        """Release the App."""
        self.app.close()


def _fold(frames: int) -> dict[str, Any]:
    sheet = FoldedSheet((40, 2, 10))
    app, body, tcw = sheet.app, sheet.body, sheet.contact_world
    contacts = []
    try:
        before: dict[str, Any] = {}
        for f in range(FoldedSheet.FOLD_FRAMES + frames):
            if f == FoldedSheet.FOLD_FRAMES:
                before = app.timings()  # timed: the dropped half lying on the other
            sheet.step(f)
            if f >= FoldedSheet.FOLD_FRAMES:
                contacts.append(sum(tcw.contacts.values()))
        after = app.timings()
        finite = bool(np.all(np.isfinite(body.x)))
    finally:
        sheet.close()
    return {
        "case": "sheet folded onto itself (self-contact)",
        "tets": body.n_tets,
        "tissue_contact_ms_per_tick": round(_mean_since(before, after, NAMES[0]), 4),
        "tissue_solve_ms_per_tick": round(_mean_since(before, after, NAMES[1]), 4),
        "contacts_per_tick": round(float(np.mean(contacts)), 1),
        "finite": finite,
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Tissue-tissue and self-contact cost per physics tick, with the tet solve for scale."""
    frames = 15 if options.get("quick") else 90
    rows = [_resting(frames), _fold(frames)]
    notes = [
        "physics 900 Hz = one XPBD substep per tick; ms are per-system means (app.timings) over the "
        "timed frames after a warm-up",
        "force_over_weight: contact force on the resting block / its weight; at rest 1 / (1 + h c) = 0.9945",
    ]
    if options.get("peers"):
        notes.append("peers: no peer library with tissue-tissue contact is installed here; none run")
    return {"suite": "tissue_contact", "rows": rows, "notes": notes}
