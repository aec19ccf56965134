"""Pause, restart and choose a scenario in the headset (:mod:`vrmed.xr.play`).

Driven through the real input path: the simulated OpenXR runtime reports a scripted head
and controllers (the left controller's menu button held, the right controller's ray and
trigger on the session menu's rows), the OpenXR backend reads them as actions. The
script runs on the headset's clock, which keeps going while the session is paused (the
loop keeps submitting frames); the session's own clock does not.

Headless (no eye images) at 3 frames a second, like tests/test_headset_code_blue.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

xr = pytest.importorskip("xr")

from openxr_env import headless_headsets  # noqa: E402

from vrmed.recording import SessionLog  # noqa: E402
from vrmed.scenario.learner import LearnerView  # noqa: E402
from vrmed.session import build_session, replay  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, DeviceConfig, MotionScript, Pose, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.play import LONG_PRESS_S, HeadsetPlay  # noqa: E402
from vrmed.xr.pointer import aim_orientation, menu_panel, menu_row_centre  # noqa: E402

RATE = 3
HEAD_POSE = Pose((0.35, 1.65, 0.95), (0.9914449, -0.1305262, 0.0, 0.0))
HAND = (0.6, 1.45, 0.6)
REST = (0.25, 1.0, 0.55)
#: Where the session menu opens for this head (the same placement as the action menu).
PANEL = menu_panel(HEAD_POSE.position, HEAD_POSE.orientation)


@dataclass
class Learner:
    """Headset-clock script: ``holds`` of the left menu button (start, end) and right
    trigger ``clicks`` (t, menu row): aim at t, press 0.25 s later, hold 0.5 s."""

    holds: list[tuple[float, float]] = field(default_factory=list)
    clicks: list[tuple[float, str]] = field(default_factory=list)

    def motion(self, t: float) -> dict:
        starts = [c[0] for c in self.clicks]
        i = int(np.searchsorted(starts, t, side="right")) - 1
        aim, trigger = (0.0, -0.3, -1.0), 0.0  # at the floor in front: nothing to pick
        if i >= 0:
            t0, row = self.clicks[i]
            aim = tuple(np.subtract(menu_row_centre(PANEL, row, 12), HAND))
            trigger = 1.0 if 0.25 - 1e-9 <= t - t0 < 0.75 - 1e-9 else 0.0
        menu = 1.0 if any(a - 1e-9 <= t < b - 1e-9 for a, b in self.holds) else 0.0
        return {
            HEAD: HEAD_POSE.as_sample(),
            RIGHT_HAND: {**Pose(HAND, aim_orientation(aim)).as_sample(), "buttons": {"trigger": trigger}},
            LEFT_HAND: {**Pose(REST).as_sample(), "buttons": {"trigger": 0.0, "menu": menu}},
        }


@pytest.fixture
def headset(manifest, monkeypatch):
    """``headset(learner)`` -> (XrInputSource, SimRuntime) on a fresh simulated runtime."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    yield from headless_headsets(manifest, RATE)


def _devices(record: dict) -> dict:
    """The device sample of a recorded input line."""
    return record["data"]


def _play(pack, source, name: str, **kw) -> HeadsetPlay:
    session = build_session(pack, name, input_source=source, display_rate=RATE)

    def build(scenario: str, src: XrInputSource, attempt: int):
        return build_session(pack, scenario, input_source=src, display_rate=RATE)

    return HeadsetPlay(pack, session, build, wait_at_end=False, echo=lambda line: None, max_idle_frames=60, **kw)


def test_pause_stops_the_simulation_keeps_submitting_frames_and_replays_bit_exactly(headset, emergency_pack):
    pack = emergency_pack
    # hold the menu button 2.0-3.6 s (the pause), then choose Resume (row 1) at 5 s
    source, rt = headset(Learner(holds=[(2.0, 3.6)], clicks=[(5.0, "menu.choose:1")]))
    play = _play(pack, source, "code_blue_pea", seconds=8)
    try:
        frames = play.run()
        log = play.session.finish()
        view = play.session.app.resource(LearnerView)
    finally:
        play.session.close()
    assert frames == 8 * RATE and log.footer["frames"] == 8 * RATE and log.footer["sim_time"] == 8.0
    # the runtime got a frame for every simulated frame and every paused one: it never stalled
    assert play.pauses == 1 and play.idle_frames >= 2 * RATE
    assert rt.frames_ended == log.footer["frames"] + play.idle_frames
    paused = [(e["frame"], e["data"]["paused"]) for e in log.events if e["type"].endswith(":SessionPaused")]
    hold = np.ceil(LONG_PRESS_S * RATE)
    # pressed at frame 6 (t = 2 s), held `hold` frames, the pause recorded in the next frame;
    # resumed in the simulated frame right after it: no simulated time passed while paused
    t_pause = 6 + hold
    assert [p for _, p in paused] == [True, False]
    assert paused[0][0] == t_pause and paused[1][0] == t_pause + 1
    assert not view.paused
    # the menu button's short press opened the action menu; the pause closed it again
    commands = [c for f in sorted(log.inputs) for c in _devices(log.inputs[f]).get("learner", {}).get("commands", [])]
    assert commands == ["menu.close", "session.pause", "session.resume"]
    again, replayed = replay(log, pack=pack)
    replayed.close()
    assert again.ok, again.first_difference


def test_restart_and_choose_a_scenario_write_one_log_per_attempt(headset, tmp_path, emergency_pack):
    pack = emergency_pack
    names = sorted(pack.scenarios)
    row = f"menu.choose:{names.index('code_blue') + 1}"
    learner = Learner(
        holds=[(2.0, 3.6), (8.0, 9.6)],
        # Restart (row 2) at 5 s; in attempt 2, "Choose a scenario" (row 3) then code_blue
        clicks=[(5.0, "menu.choose:2"), (11.0, "menu.choose:3"), (12.5, row)],
    )
    source, rt = headset(learner)
    path = tmp_path / "attempt.jsonl"
    play = _play(pack, source, "code_blue_pea", seconds=4, record=path)
    backend = source.backend
    play.session.recorder.stream_to(path)
    try:
        play.run()
        last = play.session.finish()
        scenario = play.session.scenario.name
    finally:
        play.session.recorder.close()
        play.session.close()
    assert play.attempts == 3 and play.pauses == 2 and scenario == "code_blue"
    assert play.logs == [path, tmp_path / "attempt-2.jsonl"] and play.record == tmp_path / "attempt-3.jsonl"
    # one XR session throughout: the same backend, never closed between the attempts
    assert source.backend is backend and rt.errors == []
    logs = [SessionLog.read(p) for p in (*play.logs, play.record)]
    assert [lg.header["scenario"] for lg in logs] == ["code_blue_pea", "code_blue_pea", "code_blue"]
    assert all(lg.footer is not None for lg in logs)  # each finished and sealed
    # the attempts stopped where the learner left them, the last ran its 4 s
    assert logs[0].footer["frames"] < 4 * RATE and logs[1].footer["frames"] < 4 * RATE
    assert logs[2].footer["frames"] == 4 * RATE == last.footer["frames"]
    # a fresh session each time: attempt 2 starts from t = 0 with its own pause
    assert [e["data"]["paused"] for e in logs[1].events if e["type"].endswith(":SessionPaused")] == [True]


def test_paused_headset_keeps_showing_the_scene_and_the_session_menu_panel(manifest, monkeypatch, ctx, emergency_pack):
    """With eye images (GL): while paused the runtime gets a frame per display period with
    the same eye images as the frame that paused (the scene's draw data is kept, nothing is
    simulated) and the session menu as one more quad layer, in front of the learner."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    pack = emergency_pack
    learner = Learner(holds=[(1.0, 2.6)], clicks=[(3.0, "menu.choose:1")])
    rt, _ = sim.install(MotionScript(learner.motion), DeviceConfig(rate=RATE), manifest=manifest)
    rt.keep_frames = 64  # every frame of the run
    source = XrInputSource(OpenXrBackend(ctx))
    source.gl_context = ctx  # build_session adds headset rendering (eyes and panels)
    try:
        play = _play(pack, source, "code_blue_pea", seconds=3)
        try:
            play.run()
        finally:
            play.session.close()
    finally:
        source.close()
    assert rt.errors == [], rt.errors[0]
    paused_at = 3 + int(np.ceil(LONG_PRESS_S * RATE))  # held from frame 3 (t = 1 s): the frame that paused
    idle = rt.frames[paused_at + 1 : paused_at + 1 + play.idle_frames]
    assert play.idle_frames >= RATE and len(rt.frames) == 3 * RATE + play.idle_frames
    before = rt.frames[paused_at]
    assert before.images[0].std() > 0  # the scene is drawn
    for frame in idle:
        for eye in (0, 1):
            assert np.array_equal(frame.images[eye], before.images[eye])
        assert len(frame.quads) == len(before.quads) + 1  # the session menu, in front of the others
    menu = idle[0].quads[-1]
    assert menu.size == pytest.approx(PANEL.size) and menu.image is not None and menu.image.std() > 0
    assert np.allclose(menu.pose.position, PANEL.position, atol=1e-4)
    assert len(rt.frames[-1].quads) == len(before.quads)  # resumed: the menu is gone


def test_the_end_of_an_attempt_offers_try_again_and_quit(headset, tmp_path, emergency_pack):
    """``wait_at_end`` (an interactive ``vrmed run --input openxr``): when an attempt ends,
    the session menu offers Try again (row 1) and Quit (row 3) instead of exiting."""
    pack = emergency_pack
    source, rt = headset(Learner(clicks=[(2.5, "menu.choose:1"), (6.0, "menu.choose:3")]))
    path = tmp_path / "end.jsonl"
    play = _play(pack, source, "code_blue_pea", seconds=2, record=path)
    play.wait_at_end = True
    play.session.recorder.stream_to(path)
    try:
        frames = play.run()
        play.session.finish()
    finally:
        play.session.recorder.close()
        play.session.close()
    assert play.reason == "quit" and play.attempts == 2 and play.pauses == 0 and frames == 2 * RATE
    assert play.logs == [path] and play.record == tmp_path / "end-2.jsonl"
    assert [SessionLog.read(p).footer["frames"] for p in (path, play.record)] == [2 * RATE, 2 * RATE]


def test_restart_with_eye_images_keeps_the_xr_session_and_draws_the_new_attempt(
    manifest, monkeypatch, ctx, emergency_pack
):
    """Restart with headset rendering: the second session draws into the same swapchains
    and quad layers of the same OpenXR session (no runtime error, scene and panels shown)."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    pack = emergency_pack
    learner = Learner(holds=[(1.0, 2.6)], clicks=[(3.0, "menu.choose:2")])
    rt, _ = sim.install(MotionScript(learner.motion), DeviceConfig(rate=RATE), manifest=manifest)
    rt.keep_frames = 64
    source = XrInputSource(OpenXrBackend(ctx))
    source.gl_context = ctx
    try:
        play = _play(pack, source, "code_blue_pea", seconds=2)
        backend = source.backend
        try:
            play.run()
            frames = play.session.app.clock.frame
        finally:
            play.session.close()
        assert source.backend is backend and backend.running  # still the XR session of attempt 1
    finally:
        source.close()
    assert rt.errors == [], rt.errors[0]
    assert play.attempts == 2 and frames == 2 * RATE
    attempt1 = 3 + int(np.ceil(LONG_PRESS_S * RATE)) + 1  # held from frame 3, then the frame that paused
    assert len(rt.frames) == rt.frames_ended == attempt1 + 2 * RATE + play.idle_frames
    first = rt.frames[0]
    last = rt.frames[-1]  # attempt 2's last frame: the scene and the side panels again
    assert last.images[0].std() > 0 and len(last.quads) == len(first.quads) >= 1
