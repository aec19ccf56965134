"""Laparoscopy in the headset: grip to grab, trigger to actuate, through the simulated OpenXR
runtime and the session that ``--input openxr`` builds (the instrument clutch comes from the
scenario's instruments and their scripted start poses); contact haptics on the holding hand."""

from __future__ import annotations

import numpy as np
import pytest

xr = pytest.importorskip("xr")

from vrmed import App  # noqa: E402
from vrmed.components.instruments import Instrument  # noqa: E402
from vrmed.session import build_session, open_target, replay  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, MotionScript, Pose  # noqa: E402
from vrmed.xr import input as xr_input  # noqa: E402
from vrmed.xr.pointer import CONTACT_PULSE_S, FULL_CONTACT_N, HeadsetHaptics  # noqa: E402

#: The display rate of the session: the simulated headset's own (90 Hz), so the scripted
#: motion's time is the session's.
RATE = 90


def hands(t: float) -> dict:
    """The right hand, far from where the instrument is, pulls the trigger (nothing held:
    nothing happens), squeezes at 0.5 s, moves 4 cm right until 1.0 s and closes the jaws,
    lets go at 1.5 s and moves away; the left hand never squeezes."""
    dx = 0.04 * min(max(t - 0.5, 0.0), 0.5) / 0.5 - (0.2 if t >= 1.5 else 0.0)
    held = 0.5 <= t < 1.5
    trigger = 1.0 if t < 0.5 or 1.0 <= t < 1.5 else 0.0
    return {
        HEAD: Pose((0.0, 1.6, 0.3)).as_sample(),
        RIGHT_HAND: {
            **Pose((0.3 + dx, 1.2, -0.3)).as_sample(),
            "buttons": {"squeeze": 1.0 if held else 0.0, "trigger": trigger},
        },
        LEFT_HAND: {**Pose((-0.3, 1.2, -0.3)).as_sample(), "buttons": {"squeeze": 0.0, "trigger": 1.0}},
    }


@pytest.mark.slow
def test_grip_grabs_the_instrument_and_trigger_closes_it(manifest, monkeypatch):
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    monkeypatch.setattr(xr_input, "MotionScript", lambda overrides=None: MotionScript(hands))
    pack, _ = open_target("laparoscopy")
    scenario = pack.scenario("peg_transfer")
    source = xr_input.open_openxr_input(scenario)  # headless (no GL context): poses and buttons
    assert source.clutch is not None and set(source.clutch.hands) == {LEFT_HAND, RIGHT_HAND}
    track: dict[float, dict[str, tuple[np.ndarray, float]]] = {}
    try:
        session = build_session(pack, "peg_transfer", input_source=source, display_rate=RATE)
        try:
            for t in (0.4, 1.4, 2.0):
                session.run(seconds=round(t - float(session.app.clock.frame_time), 3))
                track[t] = {i.device: (i.hinge.copy(), i.closure) for _, i in session.app.query(Instrument)}
            log = session.finish()
        finally:
            session.close()
    finally:
        source.close()
    home = track[0.4]
    assert home[RIGHT_HAND][1] == 0.0 and home[LEFT_HAND][1] == 0.0  # trigger pulled, nothing held: jaws open
    moved, closed = track[1.4][RIGHT_HAND]
    assert moved - home[RIGHT_HAND][0] == pytest.approx(
        [0.04, 0.0, 0.0], abs=1e-6
    )  # OpenXR poses are float32 and closed == 1.0
    assert track[2.0][RIGHT_HAND][0] == pytest.approx(moved) and track[2.0][RIGHT_HAND][1] == 1.0  # let go: stays
    for t in track:  # the left instrument was never taken
        assert track[t][LEFT_HAND][0] == pytest.approx(home[LEFT_HAND][0]) and track[t][LEFT_HAND][1] == 0.0
    assert log.inputs[72]["data"]["right_controller"]["position"][0] == pytest.approx(0.3 + 0.04 * 0.3 / 0.5)
    again, replayed = replay(log)
    replayed.close()
    assert again.ok, again.first_difference


class Backend:
    """Records vibrations like an XR backend (running)."""

    running = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    def vibrate(self, hand: str, amplitude: float, duration: float, frequency: float = 0.0) -> None:
        self.calls.append((hand, amplitude, duration))


def test_contact_pulses_the_hand_holding_the_instrument_once_per_touch():
    app = App(seed=0)
    app.register_component(Instrument)
    inst = Instrument(tool="grasper", device=LEFT_HAND, pivot=False)
    app.spawn(inst)
    backend = Backend()
    app.add_plugin(HeadsetHaptics(backend))
    forces = [0.0, 2.0, 3.0, 0.0, 8.0]  # touch (2 N), still touching, off, touch hard (8 N)
    for f in forces:
        inst.force[:] = (0.0, f, 0.0)
        app.step()
    assert backend.calls == [
        (LEFT_HAND, 2.0 / FULL_CONTACT_N, CONTACT_PULSE_S),
        (LEFT_HAND, 1.0, CONTACT_PULSE_S),
    ]
