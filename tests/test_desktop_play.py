"""A person at the desktop, driven through the real input path: synthetic OS-level mouse and
keyboard events (``xdotool``, XTest) on an Xvfb display reach GLFW, the desktop input turns
them into recorded samples, and the play loop runs the session (vrmed.desktop.play).

The laparoscopy driver computes each mouse move from the scripted expert's keyframes (the
pack's own ``peg_transfer_script``): the tip positions become pivot angles and insertion
about each tool's pivot (the inverse of ``instruments.manual``), the difference to the
desktop input's current targets becomes pixels of mouse motion and wheel notches, and the
jaws are the mouse buttons. The sessions run at a 30 Hz display rate and draw every few
frames into a small window (software GL on two cores is slow); the events are real.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import xvfb_display

from vrmed.desktop.bindings import BindingsError, load_bindings
from vrmed.desktop.play import play
from vrmed.desktop.source import DesktopInput
from vrmed.recording import SessionLog
from vrmed.scenario.learner import LearnerView, MenuState
from vrmed.session import build_session, replay

pytestmark = pytest.mark.slow

GAIN = 0.0015  # DEFAULT_SETTINGS["mouse_rad_per_px"]
WHEEL = 0.003  # DEFAULT_SETTINGS["wheel_m_per_notch"]


@pytest.fixture(scope="module")
def display() -> Any:
    """An Xvfb display of our own (DISPLAY set for this module), or skip without Xvfb/xdotool."""
    yield from xvfb_display("1024x768x24")


def xdo(*args: str) -> None:
    """One xdotool command line (XTest events on our display)."""
    subprocess.run(["xdotool", *args], check=True, timeout=10)


def _window(width: int = 200, height: int = 150) -> Any:
    from vrmed.render.window import open_window

    window, why = open_window(width, height, title="vrmed test", vsync=False)
    for _ in range(10):  # seen once in a full run: GLFW's X connection refused right after the
        if window is not None or "open display" not in str(why):  # module's Xvfb started
            break
        time.sleep(0.2)
        window, why = open_window(width, height, title="vrmed test", vsync=False)
    if window is None:
        pytest.skip(f"no window on Xvfb: {why}")
    import glfw

    xdo("windowfocus", "--sync", str(glfw.get_x11_window(window.handle)))
    window.poll()
    return window


def _builder(pack: Any, rate: int | None = None, **kw: Any) -> Any:
    def build(name: str, source: DesktopInput, attempt: int) -> Any:
        return build_session(pack, name, input_source=source, display_rate=rate, **kw)

    return build


def _play(pack: Any, scenario: str, window: Any, *, rate: int, record: Path, **options: Any) -> Any:
    """`play` the scenario in the test's window with its own session builder at ``rate`` Hz,
    recording to ``record``, one sample, no wait at the end; the window is closed however
    the run ends."""
    try:
        return play(
            pack,
            scenario,
            window,
            _builder(pack, rate=rate),
            record=record,
            wait_at_end=False,
            samples=1,
            **options,
        )
    finally:
        window.close()


def _play_peg(pack: Any, window: Any, record: Path, **options: Any) -> Any:
    """`_play` the quick peg transfer at 30 Hz, 50 x real time."""
    return _play(pack, "peg_transfer_quick", window, rate=30, record=record, speed=50.0, **options)


# ----------------------------------------------------------------------------- laparoscopy


class PegDriver:
    """An on_frame callback that plays the expert's peg transfer with xdotool events.

    Steps come from the expert keyframes in time order: ``move`` (a hand's tip to a point:
    Tab to that hand if needed, then mouse motion and wheel notches until the desktop
    targets are there) and ``jaw`` (wait until both tools have arrived, then press or
    release that hand's mouse button). ``drop_at``: the index of the handover at which the
    giving hand lets go before the other has closed (the ring falls)."""

    def __init__(self, pack: Any, scenario: str, stop_after: int | None = None, drop_at: int = -1) -> None:
        mod = pack.module
        scen = pack.scenario(scenario)
        left, right = mod._pegs(scen)
        rings = int(scen.settings["rings"])
        style = mod.STYLES["expert"]
        if drop_at >= 0:
            style = type(style)(**{**style.__dict__, "drop_at": drop_at})
        tracks, _ = mod.peg_transfer_script(left, right, rings, style)
        events = []
        for hand, keys in tracks.items():
            for k in keys:
                tip = np.asarray(k.position) + mod.JAW * mod.SHAFT[hand]
                events.append((k.t, hand, tip, k.buttons.get("trigger", 0.0)))
        events.sort(key=lambda e: (e[0], e[1]))
        self.jaw_len = mod.JAW
        self.steps: list[tuple[str, str, Any]] = []
        last: dict[str, Any] = {}
        for _, hand, tip, trig in events:
            prev = last.get(hand)
            if prev is None or np.linalg.norm(tip - prev[0]) > 2e-4:
                self.steps.append(("move", hand, tip))
            if prev is not None and trig != prev[1]:
                self.steps.append(("jaw", hand, trig))
            last[hand] = (tip, trig)
        if stop_after is not None:
            self.steps = self.steps[:stop_after]
        self.i = 0
        self.wait = 0
        self.done = False

    def _q(self, app: Any, hand: str, tip: np.ndarray) -> np.ndarray:
        """Targets (yaw, pitch, insertion offset) that put ``hand``'s tip at ``tip``."""
        from desktop_driver import port_aim  # deferred: it imports this module's xdo

        from vrmed.components.instruments.instrument import Instrument
        from vrmed.systems.instruments.manual import ManualControl

        state = app.resource(ManualControl)
        ent = next(e for e, inst in app.query(Instrument) if inst.device == hand)
        pose = state.tools[ent]
        yaw, pitch, dist, _ = port_aim(pose, tip)
        return np.array([yaw, pitch, dist - self.jaw_len - pose.depth0])

    def __call__(self, session: Any, source: DesktopInput) -> None:
        if session is None or self.done:
            return
        app = session.app
        if self.wait > 0:
            self.wait -= 1
            return
        from vrmed.systems.instruments.manual import ManualControl

        state = app.try_resource(ManualControl)
        if state is None or len(state.tools) < 2:
            return
        if self.i >= len(self.steps):
            self.done = True
            return
        kind, hand, value = self.steps[self.i]
        index = source.hands.index(hand)
        if kind == "move":
            q = self._q(app, hand, value)
            t = source.targets
            px = round((q[0] - t[f"{hand}.yaw"]) / GAIN)
            py = -round((q[1] - t[f"{hand}.pitch"]) / GAIN)
            notches = round((q[2] - t[f"{hand}.insert"]) / WHEEL)
            if px == 0 and py == 0 and notches == 0:
                self.i += 1
                return
            cmd: list[str] = []
            if source.active != index:
                cmd += ["key", "Tab"]
            if px or py:
                cmd += ["mousemove_relative", "--", str(px), str(py)]
            if notches:
                cmd += ["click", "--repeat", str(abs(notches)), "--delay", "1", "4" if notches > 0 else "5"]
            xdo(*cmd)
            self.wait = 1  # let GLFW deliver them before checking again
            return
        # jaw: both tools must have arrived where their targets are
        from vrmed.components.instruments.instrument import Instrument

        for ent, inst in app.query(Instrument):
            pose = state.tools.get(ent)
            tgt = np.array([source.targets[f"{inst.device}.{d}"] for d in ("yaw", "pitch", "insert", "roll")])
            if pose is not None and np.max(np.abs(pose.q - tgt)) > 2e-3:
                return
        button = "1" if index == 0 else "3"
        if source.targets[f"{hand}.jaw"] != value:
            xdo("mousedown" if value >= 0.5 else "mouseup", button)
            self.wait = 1
            return
        self.i += 1
        self.wait = 4  # ~0.13 s at 30 Hz: the jaw closes (MAX_JAW_RATE) and grasps


@pytest.fixture(scope="module")
def lap_pack(laparoscopy_pack) -> Any:
    return laparoscopy_pack


def test_peg_transfer_played_with_mouse_and_keyboard_passes(display: str, lap_pack: Any, tmp_path: Path) -> None:
    """Two rings, both ways, from xdotool events only: the pack's score passes, the steps are
    done, and the recorded session replays bit-exactly with `vrmed replay`."""
    window = _window()
    driver = PegDriver(lap_pack, "peg_transfer_quick")
    record = tmp_path / "peg.jsonl"
    res = _play_peg(lap_pack, window, record, max_frames=30 * 60, on_frame=driver, render_every=6)
    log = SessionLog.read(record)
    score = lap_pack.module.score(log)
    assert res.reason == "ended", f"{res.reason}; driver at step {driver.i} of {len(driver.steps)}"
    assert res.session.app.resource(LearnerView).end_reason == "TaskCompleted"
    assert score["metrics"]["completed"] == 1.0 and score["metrics"]["rings_placed"] == 4.0, score["metrics"]
    assert score["passed"], score
    assert log.header["input"] == "desktop" and log.header["learner"] == "person"
    assert res.latencies_ms and max(res.latencies_ms) < 5000
    result, session = replay(log, pack=lap_pack)
    session.close()
    assert result.ok, result.first_difference


def test_ring_drop_gives_the_cue_and_pause_is_recorded(display: str, lap_pack: Any, tmp_path: Path) -> None:
    """The expert's path with the first ring let go at the handover: the drop cue is shown.
    The second ring is lifted and let go beyond the board's edge: the loss cue, and the FLS
    penalty (100 % x lost / rings) in the pack's score. Pausing (F5) stops the simulation
    and records SessionPaused; Esc ends the session with its log written and closed."""
    window = _window()
    driver = PegDriver(lap_pack, "peg_transfer_quick", drop_at=0)
    # up to the drop: lift, carry, the giving jaw opens
    stop = next(i for i, s in enumerate(driver.steps) if s[0] == "jaw" and s[2] == 0.0) + 1
    left_pegs, _ = lap_pack.module._pegs(lap_pack.scenario("peg_transfer_quick"))
    px, pz = left_pegs[1]
    hover, low, off = np.array([px, 0.045, pz]), np.array([px, 0.003, pz]), np.array([-0.15, 0.06, pz])
    lose = [("move", "left_hand", hover), ("move", "left_hand", low), ("jaw", "left_hand", 1.0)]
    lose += [("move", "left_hand", hover), ("move", "left_hand", off), ("jaw", "left_hand", 0.0)]
    driver.steps = driver.steps[:stop] + lose
    record = tmp_path / "drop.jsonl"
    phase = {"n": 0, "frame": -1}

    def on_frame(session: Any, source: DesktopInput) -> None:
        driver(session, source)
        if session is None or not driver.done:
            return
        view = session.app.resource(LearnerView)
        phase["n"] += 1
        if phase["n"] == 30:
            xdo("key", "F5")  # pause
        elif phase["n"] == 40:
            phase["frame"] = session.app.clock.frame
        elif phase["n"] == 60:
            assert session.app.clock.frame == phase["frame"], "the simulation advanced while paused"
            xdo("key", "F5")  # resume
        elif phase["n"] >= 70 and len(view.cues) >= 2:
            xdo("key", "Escape")
        elif phase["n"] > 200:
            xdo("key", "Escape")

    res = _play_peg(lap_pack, window, record, max_frames=30 * 40, on_frame=on_frame, render_every=6)
    assert res.reason == "quit", res.reason
    log = SessionLog.read(record)
    assert log.footer is not None and log.footer.get("frames"), "the log was not finished"
    kinds = [e["type"].rsplit(":", 1)[-1] for e in log.events]
    cues = [e["data"]["text"] for e in log.events if e["type"].endswith(":CueShown")]
    assert any("dropped" in c.lower() for c in cues), cues
    assert any("lost" in c.lower() for c in cues), cues
    paused = [e["data"]["paused"] for e in log.events if e["type"].endswith(":SessionPaused")]
    assert paused == [True, False], paused
    assert "ObjectLanded" in kinds
    score = lap_pack.module.score(log)
    metrics = score["metrics"]
    assert metrics["rings_dropped"] >= 1.0 and metrics["rings_lost_out_of_view"] == 1.0, metrics
    assert metrics["fls_penalty"] == 50.0 and not score["passed"]


# ----------------------------------------------------------------------------- clinical


def _entity_pixel(app: Any, entity: str, window: Any) -> tuple[int, int]:
    """Window pixel of the centre of an entity's Interactable (the main camera's projection)."""
    import glfw

    from vrmed.components.scene import Interactable, Name, Transform
    from vrmed.components.scene.render import Camera
    from vrmed.geometry import quat_matrix
    from vrmed.render.camera import project, view_projection
    from vrmed.render.plugin import main_camera

    for ent, name in app.query(Name):
        if name.value == entity:
            inter, tf = app.get(ent, Interactable), app.get(ent, Transform)
            centre = tf.position + quat_matrix(tf.orientation) @ (np.asarray(inter.offset) * tf.scale)
            w, h = glfw.get_window_size(window.handle)
            px = project(centre[None], view_projection(main_camera(app, Camera()), w / h), w, h)[0]
            return int(px[0]), int(px[1])
    raise KeyError(entity)


class ClinicalDriver:
    """Replays the scenario's scripted learner events as a person would: for each event, the
    action that sends it, a click on an object that offers it (or its hotkey), then the
    menu choices by number keys; waits for the event to be recorded before the next."""

    def __init__(self, scenario: Any, window: Any, skip: set[str] = frozenset(), speed_to: float = 0.0) -> None:
        self.window = window
        self.plan = []
        inter = scenario.interaction
        for step in scenario.learner:
            data = dict(step.fields) if hasattr(step, "fields") else dict(step.data)
            name = step.event if isinstance(step.event, str) else step.event.__name__
            if name in skip:
                continue
            action = self._action_for(inter, name, data)
            if action is not None:
                self.plan.append((float(step.t), name, action, data))
        self.i = 0
        self.wait = 0
        self.sent = False
        self.retry = False
        self.done = False

    @staticmethod
    def _action_for(inter: Any, name: str, data: dict[str, Any]) -> Any:
        for a in inter.actions:
            if a.event.__name__ != name:
                continue
            if all(_norm(data.get(k)) == _norm(v) for k, v in a.fields.items()) and all(
                data.get(k) in vals for k, vals in a.options
            ):
                return a
        return None

    def __call__(self, session: Any, source: DesktopInput) -> None:
        if session is None or self.done:
            return
        if self.wait > 0:
            self.wait -= 1
            return
        app = session.app
        if self.i >= len(self.plan):
            self.done = True
            return
        t, name, action, data = self.plan[self.i]
        if app.clock.time < t:
            return
        log = session.recorder.log
        count = sum(1 for e in log.events if e["type"].endswith(":" + name))
        if not self.sent:
            self.before = count
            self.targets = [e for e in action.at if e]
            self.sent = True
            self._point(app, action)
            return
        menu = app.resource(MenuState)
        if count > self.before:
            self.i += 1
            self.sent = False
            return
        if not menu.open:
            if self.retry:
                self.retry = False
                self._point(app, action)
            return
        values = [it.value for it in menu.items]
        if menu.pending is None:
            if action.id not in values:  # the click hit a neighbouring object: close, try the next
                _xdo_settled("key", "Escape")
                self.wait = 2
                self.retry = True
                return
            n = values.index(action.id) + 1
        else:
            opt = next(o for o, _ in action.options if o not in menu.chosen)
            n = values.index(data[opt]) + 1
        _xdo_settled("key", str(n))
        self.wait = 2

    def _point(self, app: Any, action: Any) -> None:
        """Click the next object that offers the action (its hotkey once none is left)."""
        if self.targets:
            x, y = _entity_pixel(app, self.targets.pop(0), self.window)
            # --delay 0: xdotool sleeps its click delay (100 ms) after a single click too
            _xdo_settled("mousemove", "--window", str(_xid(self.window)), str(x), str(y), "click", "--delay", "0", "1")
        else:
            _xdo_settled("key", action.key)
        self.wait = max(self.wait, 2)


#: Wall time (s) each of the clinical driver's X events gets to reach the window before the
#: loop goes on: the session is paced much faster than real time, so frames alone are no
#: measure of delivery time (at ``speed=50``, 5 Hz, the two frames it also waits were 8 ms).
SETTLE_S = 0.01


def _xdo_settled(*args: str) -> None:
    xdo(*args)
    time.sleep(SETTLE_S)


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _xid(window: Any) -> int:
    import glfw

    return int(glfw.get_x11_window(window.handle))


def test_medication_completed_by_clicks_and_identity_skip_caught(
    display: str, tmp_path: Path, nursing_pack: Any
) -> None:
    """Desktop clicks on the wristband, cart and patient and number keys in the menus give
    every medication event; the rubric passes. Without the identity check, its rule fails."""
    pack = nursing_pack
    scenario = pack.scenario("medication")
    results = {}
    for label, skip in (("full", set()), ("no_id", {"IdentityChecked"})):
        window = _window(320, 240)
        driver = ClinicalDriver(scenario, window, skip=skip)
        record = tmp_path / f"{label}.jsonl"
        res = _play(
            pack,
            "medication",
            window,
            rate=5,
            record=record,
            speed=250.0,  # 0.8 ms a frame: the driver's clicks and keys wait SETTLE_S each
            max_frames=5 * 160,
            on_frame=driver,
            render_every=400,
        )
        view = res.session.app.resource(LearnerView)
        # the last observation completes the round: the scenario ends before the driver sees it
        assert view.end_reason == "scenario ended: round_complete", (label, driver.i, len(driver.plan), view.end_reason)
        from vrmed.scenario.rubric import evaluate_rubric

        log = SessionLog.read(record)
        end = float(log.footer["sim_time"])
        results[label] = evaluate_rubric(scenario.rubric, log.event_records(), end)
    full, no_id = results["full"], results["no_id"]
    rule = {r.id: r for r in no_id.rules}
    assert full.passed, [(r.id, r.detail) for r in full.rules if not r.passed]
    assert not rule["right_patient"].passed and not no_id.passed


# ----------------------------------------------------------------------------- bad input


def test_unplugged_gamepad_and_closed_window(display: str, lap_pack: Any, tmp_path: Path) -> None:
    """A gamepad drives the left grasper, then goes away: one notice, the keyboard keeps
    working; closing the window ends the session with its log finished."""
    window = _window()
    state = {"n": 0}
    notes: list[str] = []

    def pad() -> Any:
        state["n"] += 1
        if state["n"] < 20:
            return set(), {"pad_left_x": 1.0}  # full right on the left stick
        return None

    seen: dict[str, float] = {}

    def on_frame(session: Any, source: DesktopInput) -> None:
        if session is None:
            return
        n = state["n"]
        if n == 19:
            seen["pad"] = source.targets["left_hand.yaw"]
        elif n == 25:
            xdo("keydown", "d")
        elif n == 40:
            xdo("keyup", "d")
            seen["keys"] = source.targets["left_hand.yaw"]
        elif n == 45:
            window.request_close()  # what the window manager's close button does

    record = tmp_path / "pad.jsonl"
    res = _play_peg(
        lap_pack, window, record, max_frames=300, on_frame=on_frame, echo=notes.append, render_every=10, pad=pad
    )
    assert res.reason == "window closed"
    gone = [n for n in notes if "gamepad disconnected" in n]
    assert len(gone) == 1, notes
    assert seen["pad"] > 0.05  # the stick moved the left grasper's yaw target
    assert seen["keys"] > seen["pad"] + 0.01  # the keyboard still drives it afterwards
    log = SessionLog.read(record)
    assert log.footer is not None and log.footer["frames"] == res.frames


def test_binding_file_with_unknown_action_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("bindings:\n  session.pause: [f5]\n  instrument.jawz: space\n")
    with pytest.raises(BindingsError) as err:
        load_bindings(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:3:") and "unknown action 'instrument.jawz'" in msg
    assert "instrument.jaw," in msg  # lists the valid ones
