"""A person in a headset runs a code blue with the controllers only.

Everything goes through the real input path: the simulated OpenXR runtime (loaded by the
Khronos loader) reports scripted head and controller poses and trigger values, the OpenXR
backend reads them as actions, the session records them, and the headset pointer
(:mod:`vrmed.xr.pointer`) turns "aim at the defibrillator, pull the trigger, aim at the
'Shock' row of the menu panel, pull the trigger, ..." into the scenario's events. No
scripted ``learner:`` event is sent (``learner="person"``).

The sessions run headless (no eye images: nothing here needs pixels) at a low display
rate; the simulated headset runs at the same rate so its clock is the session's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

xr = pytest.importorskip("xr")

from openxr_env import headless_headsets  # noqa: E402

from vrmed.recording import SessionLog  # noqa: E402
from vrmed.scenario import evaluate_rubric  # noqa: E402
from vrmed.session import build_session, replay  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, Pose, sim  # noqa: E402
from vrmed.xr.interface import XrSessionEnded  # noqa: E402
from vrmed.xr.pointer import PointerState, aim_orientation, menu_panel, menu_row_centre  # noqa: E402

#: Display rate of these sessions (Hz) and of the simulated headset: 3 frames a second is
#: enough for a trigger press held 0.5 s; the logic still runs at the scenario's 20 Hz.
RATE = 3
#: The rescuer stands at the patient's right, looking across the bed (-z) and a little down.
HEAD_POSE = Pose((0.35, 1.65, 0.95), (0.9914449, -0.1305262, 0.0, 0.0))  # 15 degrees down
HAND = (0.6, 1.45, 0.6)
REST = (0.25, 1.0, 0.55)  # the left hand hangs by the side
#: Aim points (world m) on each interactable (centres of their Interactable boxes, or a
#: point of them the ray reaches over the patient).
TARGETS = {
    "patient": (0.4, 1.0, 0.1),
    "defibrillator": (-0.45, 1.08, -0.92),
    "crash_cart": (0.85, 0.9, -0.95),
    "bag_valve_mask": (-0.47, 0.785, 0.33),
}
CLICK_S = 1.0  # aim, press 0.25 s later, hold 0.5 s, release; the next click 1 s after the first


@dataclass
class Person:
    """A scripted person: a list of clicks ``(t, aim point)`` -> head and controller motion."""

    clicks: list[tuple[float, tuple[float, float, float]]] = field(default_factory=list)
    _cached: tuple[float, dict] | None = None

    def act(self, t: float, entity: str, *rows: str) -> float:
        """Point at ``entity`` and pull the trigger, then choose each menu row in turn
        (``"3"``: the third item, ``"back"``); returns the time after the last click."""
        panel = menu_panel(HEAD_POSE.position, HEAD_POSE.orientation)
        self.clicks.append((t, TARGETS[entity]))
        for i, row in enumerate(rows):
            cmd = "menu.back" if row == "back" else f"menu.choose:{row}"
            self.clicks.append((t + (i + 1) * CLICK_S, menu_row_centre(panel, cmd, 10)))
        return t + (len(rows) + 1) * CLICK_S

    def motion(self, t: float) -> dict:
        # The runtime asks for the same instant many times a frame (views, spaces, actions).
        if self._cached is None or self._cached[0] != t:
            self._cached = (t, self._motion(t))
        return self._cached[1]

    def _motion(self, t: float) -> dict:
        starts = [c[0] for c in self.clicks]
        i = int(np.searchsorted(starts, t, side="right")) - 1
        aim, trigger = (0.0, -0.3, -1.0), 0.0
        if i >= 0:
            t0, point = self.clicks[i]
            aim = tuple(np.subtract(point, HAND))
            trigger = 1.0 if 0.25 - 1e-9 <= t - t0 < 0.75 - 1e-9 else 0.0
        return {
            HEAD: HEAD_POSE.as_sample(),
            RIGHT_HAND: {**Pose(HAND, aim_orientation(aim)).as_sample(), "buttons": {"trigger": trigger}},
            LEFT_HAND: {**Pose(REST).as_sample(), "buttons": {"trigger": 0.0}},
        }


def shockable_person() -> Person:
    """The compliant code blue (VF from t = 2 s) done with the controllers: the timeline
    of the scenario's scripted learner, each action a pick and its menu choices. Menus
    (the order of code_blue.yaml's actions offered by each entity): patient 1 call help,
    2 start compressions, 3 stop; defibrillator 1 pads, 2 analyse, 3 shock (energy 3 =
    200 J); crash cart 1 epinephrine (dose 3 = 1 mg, route 1 = IV), 2 amiodarone (dose 2 =
    300 mg, 1 = 150 mg); bag-valve-mask 1 airway (2 = supraglottic)."""
    p = Person()
    p.act(3, "patient", "1")
    p.act(5, "patient", "2")
    p.act(8, "defibrillator", "1")
    for k in range(7):  # rhythm checks every 120 s from t = 30
        b = 30 + 120 * k
        p.act(b - 2, "patient", "3")
        p.act(b, "defibrillator", "2")
        if k <= 3:  # VF for four shocks, then PEA (the scenario's script)
            p.act(b + 2, "defibrillator", "3", "3")
            p.act(b + 5, "patient", "2")
        elif k < 6:
            p.act(b + 2, "patient", "2")
    p.act(160, "crash_cart", "1", "3", "1")
    p.act(170, "bag_valve_mask", "1", "2")
    p.act(280, "crash_cart", "2", "2", "1")
    p.act(400, "crash_cart", "1", "3", "1")
    p.act(410, "crash_cart", "2", "1", "1")
    p.act(640, "crash_cart", "1", "3", "1")
    p.clicks.sort(key=lambda c: c[0])
    return p


@pytest.fixture
def headset(manifest, monkeypatch):
    """``headset(person)`` -> an XrInputSource on a fresh simulated runtime driven by ``person``."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    yield from headless_headsets(manifest, RATE)


def score(session, log: SessionLog):
    return evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time))


@pytest.mark.slow
def test_controllers_alone_complete_code_blue_with_a_pass(headset, emergency_pack):
    pack = emergency_pack
    source, rt = headset(shockable_person())
    session = build_session(pack, "code_blue", input_source=source, display_rate=RATE)
    try:
        assert session.recorder.log.header["learner"] == "person"
        session.run()
        log = session.finish()
        result = score(session, log)
        counts = session.event_counts()
        pointer = session.app.resource(PointerState)
    finally:
        session.close()
    # every action came from the pointer: picks of the four interactables and menu choices
    picked = {cmd for _, _, cmd in pointer.sent if cmd.startswith("pick:")}
    assert picked == {f"pick:{e}" for e in TARGETS}
    assert counts["ShockDelivered"] == 4 and counts["DrugGiven"] == 5 and counts["AirwayPlaced"] == 1
    assert counts.get("ActionRejected", 0) == 0
    failed = [r.id for r in result.rules if not r.passed]
    assert result.passed, (result.score, failed)
    assert "ScenarioEnded" in counts  # ROSC reached by the actions, not by the time running out
    assert log.header["input"] == "openxr" and log.header["learner"] == "person"
    # (replaying a headset session: the PEA test below, which is 25x shorter)


def pea_shock_person() -> Person:
    """The start of code_blue_pea (PEA from t = 2 s) with a wrong action: after the rhythm
    analysis the learner shocks the non-shockable rhythm (defibrillator 3, 200 J)."""
    p = Person()
    p.act(3, "patient", "1")
    p.act(5, "patient", "2")
    p.act(8, "defibrillator", "1")
    p.act(20, "patient", "3")
    p.act(22, "defibrillator", "2")
    p.act(24, "defibrillator", "3", "3")
    return p


@pytest.mark.slow
def test_shock_into_pea_is_cued_fails_its_rule_and_replays_with_the_cli(headset, tmp_path, emergency_pack):
    from click.testing import CliRunner

    from vrmed.cli import cli

    pack = emergency_pack
    source, rt = headset(pea_shock_person())
    session = build_session(pack, "code_blue_pea", input_source=source, display_rate=RATE)
    try:
        session.run(seconds=32)
        log = session.finish()
        result = score(session, log)
        haptics = [(h.hand, h.amplitude) for h in rt.haptics if h.time <= rt.time_of_frame(RATE * 27)]
    finally:
        session.close()
    shock = next(e for e in log.events if e["type"].endswith(":ShockDelivered"))
    assert shock["data"]["energy_j"] == 200 and 26.0 < shock["t"] < 27.5  # the third click of the shock
    cues = [
        e for e in log.events if e["type"].endswith(":CueShown") and e["data"]["source"] == "rule:no_shock_nonshockable"
    ]
    assert len(cues) == 1 and cues[0]["t"] >= shock["t"] and cues[0]["data"]["severity"] == "error"
    rule = next(r for r in result.rules if r.id == "no_shock_nonshockable")
    assert not rule.passed
    # the controllers felt it: a click per pick or choice (0.25 on the hand that chose), and
    # both hands at full strength in the frame of the shock (its cue, 0.9, merges into it)
    assert haptics.count((RIGHT_HAND, 0.25)) == 12 and (LEFT_HAND, 0.25) not in haptics
    assert haptics[-2:] == [(LEFT_HAND, 1.0), (RIGHT_HAND, 1.0)]
    path = tmp_path / "pea.jsonl"
    log.write(path)
    out = CliRunner().invoke(cli, ["replay", str(path)], catch_exceptions=False)
    assert out.exit_code == 0 and "replay OK" in out.output, out.output


@pytest.mark.slow
def test_headset_lost_mid_session_stops_with_one_message_and_a_closed_log(headset, emergency_pack):
    pack = emergency_pack
    source, rt = headset(pea_shock_person())
    session = build_session(pack, "code_blue_pea", input_source=source, display_rate=RATE)
    try:
        session.run(seconds=6)
        rt.request_exit()  # the user quits from the runtime's menu: STOPPING, then EXITING
        with pytest.raises(XrSessionEnded, match=r"session ended \(OpenXR session state: exiting\) at 6\.00 s"):
            session.run(seconds=10)
        log = session.finish()
    finally:
        session.close()
    # the frame that found the session gone did nothing: the log ends with the 6 s that ran
    assert log.footer["frames"] == 6 * RATE and log.footer["sim_time"] == 6.0
    again, replayed = replay(log, pack=pack)
    replayed.close()
    assert again.ok, again.first_difference


@pytest.mark.slow
def test_cli_headset_lost_prints_one_line_and_seals_the_log(manifest, monkeypatch, tmp_path):
    """``vrmed run --input openxr`` (headset rendering on, as a user runs it) when the
    runtime ends the session 0.5 s in: one line on stderr, exit 0, a sealed log that replays."""
    from click.testing import CliRunner

    from vrmed.cli import cli
    from vrmed.xr.input import close_openxr_inputs

    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    runtimes: list[sim.SimRuntime] = []
    install = sim.install

    def install_and_quit_at_half_a_second(script=None, config=None, **kw):
        rt, path = install(script, config, **kw)
        runtimes.append(rt)
        sample = rt.script.sample

        def quitting(t, frame=0):
            if t >= 0.5:  # (the headset's own clock: the same 90 Hz as the session)
                rt.request_exit()
            return sample(t, frame)

        rt.script.sample = quitting
        return rt, path

    monkeypatch.setattr(sim, "install", install_and_quit_at_half_a_second)
    log = tmp_path / "lost.jsonl"
    try:
        out = CliRunner().invoke(
            cli,
            [
                "run",
                "emergency/code_blue_pea",
                "--headless",
                "--input",
                "openxr",
                "--seconds",
                "3",
                "--record",
                str(log),
            ],
            catch_exceptions=False,
        )
    finally:
        close_openxr_inputs()  # the loader allows one XrInstance per process
    assert out.exit_code == 0, out.output + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if "headset session ended" in ln]
    assert len(lines) == 1 and "state: exiting" in lines[0] and "log is closed" in lines[0], out.stderr
    assert runtimes and runtimes[-1].errors == []
    recorded = SessionLog.read(log)
    assert recorded.footer is not None and 0.5 <= recorded.footer["sim_time"] < 0.6
    assert "vrmed report" in out.output or "session log" in out.output
    again = CliRunner().invoke(cli, ["replay", str(log)], catch_exceptions=False)
    assert again.exit_code == 0 and "replay OK" in again.output, again.output
