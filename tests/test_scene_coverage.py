"""Scenes a learner can see: every task object covers pixels of the view it is used in.

The object-id pass (``vrmed.render.object_ids``) draws each scenario's view again with every
entity in a flat id colour (depth-tested, so what is hidden does not count) and counts each
entity's pixels at 160 x 120. An empty scene (no meshes, nothing queued by the draw systems)
covers nothing: the regression these tests catch. Thresholds are about half of what the
scenes cover now (numbers in the comments). The first test checks the pass itself on spheres
of known size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrmed import App
from vrmed.components.scene.render import Camera
from vrmed.render import DrawList, RenderPlugin
from vrmed.render.object_ids import NO_ENTITY, entities_named, object_coverage, track_objects
from vrmed.session import build_session, open_target

W, H = 160, 120


# --- the pass itself ---------------------------------------------------------------------------


def disc_pixels(radius: float, distance: float, fov_deg: float) -> float:
    """Area in pixels of the silhouette of a sphere on the view axis (its tangent cone)."""
    f = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
    r_px = radius / math.sqrt(distance**2 - radius**2) * f * H / 2.0
    return math.pi * r_px**2


def test_spheres_cover_their_projected_discs_and_occlusion_hides(ctx):
    app = App(seed=1)
    try:
        app.add_plugin(RenderPlugin(W, H, samples=0, context=ctx, ground=False))
        app.spawn(Camera(position=(0.0, 0.0, 2.0), target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), fov_deg=40.0))
        near, far, hidden, half_hidden = (app.spawn() for _ in range(4))

        def queue(app) -> None:
            draws = app.resource(DrawList)
            draws.add_spheres(
                np.array([[0.0, 0.4, 0.0], [0.0, -0.35, 0.0]]), np.array([0.1, 0.15]), entities=np.array([near, far])
            )
            draws.add_spheres(
                np.array([[0.0, 0.5, -0.5]]), 0.05, entities=hidden
            )  # right behind `near`, seen from the eye
            draws.add_spheres(np.array([[0.12, -0.35, -0.4]]), 0.1, entities=half_hidden)  # partly behind `far`
            draws.add_capsules(np.array([[-0.6, -0.3, 0.0]]), np.array([[-0.6, 0.3, 0.0]]), 0.02)  # no entity

        app.add_system(queue, in_set="render.prepare", name="test.queue")
        track_objects(app)
        app.step(1)
        cov = object_coverage(app, (W, H))
        for entity, radius, centre in ((near, 0.1, (0.0, 0.4, 0.0)), (far, 0.15, (0.0, -0.35, 0.0))):
            distance = math.dist((0.0, 0.0, 2.0), centre)
            expected = disc_pixels(radius, distance, 40.0)
            assert abs(cov[entity] - expected) <= 0.1 * expected, (entity, cov[entity], expected)
        assert hidden not in cov
        alone = disc_pixels(0.1, math.dist((0.0, 0.0, 2.0), (0.12, -0.35, -0.4)), 40.0)
        assert 0 < cov[half_hidden] < 0.8 * alone
        assert cov[NO_ENTITY] > 0  # the untagged capsule
    finally:
        app.close()


# --- the scenarios -----------------------------------------------------------------------------


def coverage(ctx, target: str, frames: list[int], display_rate: float | None = None) -> dict[int, dict[str, int]]:
    """Run ``target`` and measure each named entity's pixels in the main view at ``frames``."""
    pack, scenario = open_target(target)
    session = build_session(pack, scenario, **({} if display_rate is None else {"display_rate": display_rate}))
    out: dict[int, dict[str, int]] = {}
    try:
        app = session.app
        plugin = RenderPlugin(W, H, samples=0, context=ctx, every=10**9)
        app.add_plugin(plugin)
        track_objects(app)
        done = 0
        for frame in frames:
            session.run(frames=frame - done)
            plugin.every = 1
            session.run(frames=1)
            plugin.every = 10**9
            done = frame + 1
            cov = object_coverage(app, (W, H))
            out[frame] = {name: cov.get(entity, 0) for name, entity in entities_named(app).items()}
        return out
    finally:
        session.close()


def check(seen: dict[int, dict[str, int]], least: dict[str, int]) -> None:
    for frame, names in seen.items():
        short = {n: (names.get(n, 0), k) for n, k in least.items() if names.get(n, 0) < k}
        assert not short, f"frame {frame}: too few pixels (seen, least): {short}"


PEGS = [f"peg_{side}{i}" for side in "LR" for i in range(6)]


def test_peg_transfer_pegs_and_rings_show_through_the_endoscope(ctx):
    # frame 90: 13-18 px per peg, 16-18 per ring, board 422 (and a ring carried at 450)
    seen = coverage(ctx, "laparoscopy/peg_transfer_quick", [90, 450])
    check(seen, {"board": 200, **{p: 6 for p in PEGS}, "ring_0": 8, "ring_1": 8})


def test_dissection_liver_and_gallbladder_show_through_the_endoscope(ctx):
    # frame 60: liver 2072, gallbladder 529, hook 332
    seen = coverage(ctx, "laparoscopy/dissection", [60])
    check(seen, {"liver": 1000, "gallbladder": 250, "hook": 100})


def test_code_blue_patient_and_defibrillator_show_from_the_scenario_camera(ctx):
    # frame 0: patient 715, defibrillator 181, bed 2541, crash cart 1006
    seen = coverage(ctx, "emergency/code_blue", [0], display_rate=5)
    check(seen, {"patient": 300, "defibrillator": 80, "bed": 1000, "crash_cart": 400})


CASUALTIES = {  # frame 0 pixels: 34 (abdominal_pain) to 303 (apnoeic_airway)
    "walker_1": 40,
    "walker_2": 50,
    "apnoeic_airway": 150,
    "apnoeic_dead": 25,
    "tachypnoea": 100,
    "no_radial_pulse": 40,
    "slow_refill": 130,
    "confused": 60,
    "leg_fracture": 40,
    "burns": 25,
    "abdominal_pain": 15,
    "walking_head_injury": 80,
}


def test_triage_every_casualty_shows_from_the_scene_view(ctx):
    seen = coverage(ctx, "emergency/triage", [0], display_rate=5)
    check(seen, CASUALTIES)


@pytest.mark.parametrize("scenario", ["medication", "deterioration"])
def test_nursing_patient_and_medication_cart_show_from_the_nurse_view(ctx, scenario):
    # frame 0: patient 183, med_cart 1076 (+ drawers 1639), med_tray 243, chart_sheet 274
    seen = coverage(ctx, f"nursing/{scenario}", [0], display_rate=5)
    check(seen, {"patient": 80, "med_cart": 500, "med_tray": 100, "chart_sheet": 120})
