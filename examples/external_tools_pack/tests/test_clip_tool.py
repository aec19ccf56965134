"""The clip applier, a tool type added through vrmed's tool registry by the installed distribution.

Run after `pip install` of this distribution (its `clip_lab` plugin is found through the
`vrmed.plugins` entry point). A small pack enables the plugin and holds a strip of tissue
(a vessel stand-in) clamped at both ends; a clip applier, driven frame by frame like a
scripted trainee, closes across the strip. Everything goes through the App and the public
pack API (`vrmed.api`), with no edit to vrmed.

Checked: the clip is placed when the jaws close on tissue, once, with its event and count;
it takes the tissue that lay between the jaws; under a load the clipped tissue moves and
turns as one piece (its pairwise distances keep to round-off) while the same vertices of an
unclipped strip deform; and unknown or unregistered tool names are clear errors.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from vrmed_clip_lab.clip_tool import CLIP_APPLIER, ClipApplied, ClipConstraint, Clips
from vrmed_clip_lab.overlay import ClipCounter

import vrmed.api as vm

ALONG_Z = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])  # shaft along world +z, jaws opening along world y
LENGTH, THICK, WIDTH = 0.06, 0.004, 0.012  # the strip (m): along x, y, z
LOAD = 0.05  # N, pulling down around the clip once it is placed

PACK = """\
name: clip_demo
version: 0.1.0
engine: ">=0.1"
plugins: [softbody, collision, instruments, clip_lab]
default_scenario: clip
"""

SCENARIO = f"""\
title: Clip a tissue strip
duration: 5.0
entities:
  - name: vessel
    components:
      SoftBody:
        box: {{size: [{LENGTH}, {THICK}, {WIDTH}], cells: [24, 2, 4]}}
        offset: [{-LENGTH / 2}, 0.0, {-WIDTH / 2}]
        material: {{youngs_modulus: 3000.0, poisson_ratio: 0.45, density: 1000.0, damping: 0.003}}
        velocity_damping: 5.0
"""


def _session(tmp_path: Path) -> tuple[vm.Session, vm.SoftBody, int]:
    root = tmp_path / "clip_demo"
    (root / "scenarios").mkdir(parents=True)
    (root / "pack.yaml").write_text(PACK)
    (root / "scenarios" / "clip.yaml").write_text(SCENARIO)
    session = vm.build_session(vm.load_pack(root), "clip")
    vessel = session.entities["vessel"]
    body = session.app.get(vessel, vm.SoftBody)
    body.pin(np.flatnonzero(np.abs(body.rest_points[:, 0]) > LENGTH / 2 - 1e-9))  # clamped at both ends
    return session, body, vessel


def _glide(session: vm.Session, dev: vm.DeviceState, start: np.ndarray, end: np.ndarray, frames: int) -> None:
    """Move the device from ``start`` to ``end`` in equal steps, one a frame (the hand's path)."""
    for k in range(frames + 1):
        dev.position[:] = start + (end - start) * (k / frames)
        session.run(frames=1)


def _apply_clip(tmp_path: Path, close: bool) -> dict:
    """Settle the strip, bring the open applier across its middle, close it (or not), open
    it and take it away, then pull down around the middle: positions before and after."""
    session, body, vessel = _session(tmp_path / ("clip" if close else "control"))
    app = session.app
    tool = app.spawn(vm.Instrument(tool_type=CLIP_APPLIER, device="clipper", pivot=False), vm.Name("clipper"))
    dev = app.resource(vm.InputState).device("clipper")
    dev.orientation[:] = ALONG_Z
    dev.position[:] = [0.0, 0.05, -0.05]
    applied = app.event_reader(ClipApplied)
    out: dict = {"events": []}
    try:
        session.run(seconds=0.5)  # the strip sags between its clamps
        mid = np.flatnonzero(np.abs(body.rest_points[:, 0]) < 1e-9)
        hinge = np.array([0.0, body.x[mid, 1].mean(), -WIDTH / 2 - 0.006])  # jaws straddle the strip
        # the open jaws come in level with the strip, along the shaft from 3 cm behind its edge
        # (0.27 m/s), as a hand slides an applier over a vessel. A jump onto the strip in one frame
        # (from 6 cm above: 5.5 m/s) swept the lower jaw through the strip's near edge; the tool
        # contacts resolve that strike, threw the edge along the shaft and it was caught again by
        # the closing on nothing (a second clip)
        _glide(session, dev, hinge + [0.0, 0.0, -0.03], hinge, frames=10)
        session.run(frames=3)
        out["hinge"], out["tip"] = hinge, app.get(tool, vm.Instrument).tip.copy()
        out["x_close"] = body.x.copy()
        dev.buttons["trigger"] = 1.0 if close else 0.0
        for _ in range(10):
            session.run(frames=1)
            out["events"] += applied.read()
        dev.buttons["trigger"] = 0.0
        session.run(frames=2)
        dev.position[:] = hinge + [0.0, 0.0, -0.04]  # away along the shaft
        session.run(frames=10)
        # again, on nothing: no clip
        dev.buttons["trigger"] = 1.0 if close else 0.0
        for _ in range(3):
            session.run(frames=1)
            out["events"] += applied.read()
        out["clips"] = list(app.resource(Clips).placed)
        out["counted"] = app.resource(ClipCounter).clips
        out["x_before"] = body.x.copy()
        around = np.flatnonzero(np.linalg.norm(body.rest_points - [0.0, THICK / 2, 0.0], axis=1) < 0.006)
        body.apply_force(around, np.array([0.0, -LOAD / around.size, 0.0]))
        session.run(seconds=1.0)
        out["x_after"] = body.x.copy()
        out["constraints"] = list(body.constraints)
        out["vessel"] = vessel
    finally:
        session.close()
    return out


def _distances(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)


def test_closing_on_tissue_places_a_clip_that_holds_the_tissue_together_under_load(tmp_path: Path) -> None:
    clipped = _apply_clip(tmp_path, close=True)
    control = _apply_clip(tmp_path, close=False)
    # one clip, one event, one count: closing on nothing later placed none
    (ev,) = clipped["events"]
    (clip,) = clipped["clips"]
    assert clipped["counted"] == 1 and control["counted"] == 0 and control["events"] == []
    assert ev.instrument == "clipper" and ev.body == clipped["vessel"] and clip.body == clipped["vessel"]
    c = clip.constraint
    assert isinstance(c, ClipConstraint) and clipped["constraints"] == [c]
    # it holds the tissue between the jaws: every free vertex within the jaw's reach of its
    # centre line (jaw radius + grasp margin), and nothing beyond reach + one mesh edge
    x0 = clipped["x_close"]
    a, b = clipped["hinge"], clipped["tip"]
    t = np.clip((x0 - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
    dist = np.linalg.norm(x0 - (a + t[:, None] * (b - a)), axis=1)
    reach = CLIP_APPLIER.jaw_radius + 0.002
    assert set(np.flatnonzero(dist <= reach)) <= set(c.indices.tolist())
    assert dist[c.indices].max() <= reach + np.hypot(LENGTH / 24, WIDTH / 4)
    # the event's position is the clipped tissue's mass centre when the clip closed
    m = clip.constraint.weights
    np.testing.assert_allclose(ev.position, m @ x0[c.indices] / m.sum(), atol=1e-12)
    assert abs(ev.position[0]) < 1e-3 and -WIDTH / 2 <= ev.position[2] <= 0.0
    # under the load the clipped tissue moves as one piece (pairwise distances kept to
    # round-off), while the same vertices of the unclipped strip deform
    idx = c.indices
    moved = clipped["x_after"][idx].mean(axis=0) - clipped["x_before"][idx].mean(axis=0)
    assert moved[1] < -1e-3  # it did move: the clip rides on the tissue, it is not a pin
    d0, d1 = _distances(clipped["x_before"][idx]), _distances(clipped["x_after"][idx])
    assert np.abs(d1 - d0).max() < 1e-9 * d0.max()
    e0, e1 = _distances(control["x_before"][idx]), _distances(control["x_after"][idx])
    assert np.abs(e1 - e0).max() > 0.02 * e0.max()
    assert np.isfinite(clipped["x_after"]).all()


def _plugin(name: str) -> object:
    """An engine plugin by its pack-facing name, through the installed entry points."""
    (ep,) = [ep for ep in entry_points(group="vrmed.plugins") if ep.name == name]
    return ep.load()()


def test_the_clip_lab_plugin_registers_the_tool_type_once() -> None:
    app = vm.App(seed=0)
    try:
        for name in ("softbody", "instruments", "clip_lab"):
            app.add_plugin(_plugin(name))
        assert app.resource(vm.ToolRegistry).get("clip_applier") is CLIP_APPLIER
        with pytest.raises(vm.InstrumentError, match="tool type 'clip_applier' is registered twice on this App"):
            vm.register_tool_type(app, CLIP_APPLIER)
    finally:
        app.close()


def test_unknown_tool_names_are_clear_errors() -> None:
    # before any App (as the pack loader builds components): the known types are listed
    with pytest.raises(vm.InstrumentError, match=r"unknown tool type 'clip_aplier'; use one of .*grasper, hook"):
        vm.Instrument(tool="clip_aplier")
    # an App without the clip_lab plugin does not know the clip applier: the instrument is named
    app = vm.App(seed=0)
    try:
        for name in ("softbody", "instruments"):
            app.add_plugin(_plugin(name))
        app.spawn(vm.Instrument(tool_type=CLIP_APPLIER, device="clipper", pivot=False), vm.Name("clipper"))
        with pytest.raises(
            vm.InstrumentError,
            match=r"instrument 'clipper': tool type 'clip_applier' is not registered on this App "
            r"\(registered: grasper, hook, needle_driver, scissors\); add the engine plugin",
        ):
            app.step(1)
    finally:
        app.close()
