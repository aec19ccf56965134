"""A person in a headset joins a shared session (``vrmed join --input openxr``).

Everything goes through the real paths: the simulated OpenXR runtime (loaded by the
Khronos loader, with the Khronos core validation layer when pyopenxr ships it) reports a
scripted head and right controller; the headset client's mirror steps the server's App;
the single-learner headset pointer, run on the headset's own poses against the mirror's
interactables and the role's menu, turns "aim at the patient, pull the trigger, aim at the
first row of the menu panel, pull the trigger" into a request the server applies and logs
with the client's pseudonym. An action outside the role (queued as a command, as a voice
front end would) is refused by the server and the refusal is shown in the headset's cues.
The headset's head pose reaches the server's log as the member's ``head`` device, and its
tracked hands (XR_EXT_hand_tracking on the simulated runtime) as ``<hand>.joints`` devices
that every mirror's hand interpolator gets. ``vrmed join`` takes ``vrmed run``'s headset
options; a rendering headset draws its controller rays from each XR frame's poses while
the instructor pauses the session.
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from team_common import FileMic, ServerThread, emergency_pack

xr = pytest.importorskip("xr")

from openxr_env import enable_core_validation, validation_errors  # noqa: E402

from vrmed.errors import VrmedError  # noqa: E402
from vrmed.input import InputState, clean_sample  # noqa: E402
from vrmed.scenario.learner import LearnerView, MenuState  # noqa: E402
from vrmed.team.debrief import PeoplePass  # noqa: E402
from vrmed.team.headset import TALK_BUTTON, hand_devices, join_headset  # noqa: E402
from vrmed.team.inject import CASUALTY  # noqa: E402
from vrmed.team.member import HAND_BONES, PushToTalk, TeamAvatarPass  # noqa: E402
from vrmed.team.voice import ClipPlayer, clip_hash, pcm_wav  # noqa: E402
from vrmed.xr import HEAD, LEFT_HAND, RIGHT_HAND, DeviceConfig, MotionScript, Pose, sim  # noqa: E402
from vrmed.xr.input import XrInputSource  # noqa: E402
from vrmed.xr.interface import HAND_JOINT_NAMES  # noqa: E402
from vrmed.xr.openxr_backend import OpenXrBackend  # noqa: E402
from vrmed.xr.pointer import PointerState, aim_orientation, menu_row_centre  # noqa: E402

#: The compressor stands at the patient's right, looking across the bed and down 15 degrees
#: (the pose of tests/test_headset_code_blue.py, in the same resuscitation room).
HEAD_POSE = Pose((0.35, 1.65, 0.95), (0.9914449, -0.1305262, 0.0, 0.0))
HAND = (0.6, 1.45, 0.6)
PATIENT = (0.4, 1.0, 0.1)  # a point of the patient's Interactable the ray reaches over the bed
CLIP = pcm_wav(bytes(8000), 16_000)  # 0.25 s of silence
LEADER_CLIP = pcm_wav(bytes(32000), 16_000)  # 1 s


class Person:
    """The headset's wearer, moved by the test between XR frames: where the right
    controller points and which buttons are held (the runtime reads them each frame)."""

    def __init__(self) -> None:
        self.aim: Any = PATIENT
        self.trigger = 0.0
        self.menu = 0.0
        self.primary = 0.0  # A: push-to-talk
        self.squeeze = 0.0  # the grip: the next patient

    def motion(self, t: float) -> dict[str, Any]:
        direction = tuple(a - h for a, h in zip(self.aim, HAND))
        return {
            HEAD: HEAD_POSE.as_sample(),
            RIGHT_HAND: {
                **Pose(HAND, aim_orientation(direction)).as_sample(),
                "buttons": {"trigger": self.trigger, "primary": self.primary, "squeeze": self.squeeze},
            },
            # the menu button is on the left controller (Oculus Touch, the runtime's profile)
            LEFT_HAND: {**Pose((0.25, 1.0, 0.55)).as_sample(), "buttons": {"trigger": 0.0, "menu": self.menu}},
        }


@pytest.fixture
def validation(manifest: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The simulated runtime (XR_RUNTIME_JSON) and the Khronos core validation layer where
    pyopenxr ships it (the layers to enable); after the test no validation error."""
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    log = tmp_path / "validation.txt"
    yield enable_core_validation(monkeypatch, log)
    errors = validation_errors(log)
    assert errors == [], errors[:3]


@pytest.fixture
def headset(manifest: Path, validation: tuple[str, ...]) -> Any:
    """``headset(person)`` -> a headless XrInputSource on a fresh simulated runtime driven by
    ``person``, with hand tracking and core validation on; after the test no runtime error;
    ``source.last`` is the newest XR sample read."""
    made: list[tuple[XrInputSource, sim.SimRuntime]] = []

    def make(person: Person) -> XrInputSource:
        rt, _ = sim.install(MotionScript(person.motion), DeviceConfig(rate=30), manifest=manifest)
        source = XrInputSource(OpenXrBackend(None, api_layers=validation, hand_tracking=True))
        read = source.sample

        def sample(t: float, frame: int) -> Any:
            source.last = read(t, frame) or source.last  # type: ignore[attr-defined]
            source.history.append(source.last)  # type: ignore[attr-defined]
            return source.last  # type: ignore[attr-defined]

        source.last, source.sample = {}, sample  # type: ignore[attr-defined, method-assign]
        source.history = deque(maxlen=4000)  # type: ignore[attr-defined]
        made.append((source, rt))
        return source

    yield make
    for source, rt in made:
        source.close()
        assert rt.errors == [], rt.errors[0]


def test_headset_member_acts_within_role_is_refused_outside_and_is_seen(headset: Any) -> None:
    pack = emergency_pack()
    person = Person()
    source = headset(person)
    srv = ServerThread(pack)
    seen: dict[str, Any] = {"phase": 0, "start": time.monotonic(), "n": 0}

    def click(next_phase: int, button: str = "trigger") -> None:
        """Press the trigger (or the menu button) for 3 XR frames, release it for 3, then go on."""
        seen["n"] += 1
        setattr(person, button, 1.0 if seen["n"] <= 3 else 0.0)
        if seen["n"] >= 6:
            seen["n"], seen["phase"] = 0, next_phase

    def add_casualty() -> None:  # what the console's inject message queues (vrmed.team.server)
        fields = {"casualty": "visitor", "position": [1.6, 0.0, 0.6]}
        srv.server.input.push("instructor-t", "instructor", {}, [{"id": CASUALTY, "fields": fields}])

    def on_frame(session: Any, src: Any) -> bool:
        app, phase = session.app, seen["phase"]
        if time.monotonic() - seen["start"] > 60.0:
            return True  # stuck: leave, and fail below
        if phase == 0 and app.clock.time > 2.5:
            if seen["n"] == 0:
                srv.run(srv.leader.send_voice(LEADER_CLIP))  # the leader speaks: relayed to the headset
            click(1)  # on the patient: the menu of what it offers this role
        elif phase == 1:
            menu = app.resource(MenuState)
            panel = app.resource(PointerState).panels.get("menu")
            if menu.open and panel is not None:
                seen["menu"] = [i.value for i in menu.items]
                person.aim = menu_row_centre(panel, "menu.choose:1", len(menu.items))
                seen["phase"] = 2
        elif phase == 2:
            click(3)  # the first row: start compressions
        elif phase == 3 and any(e["type"].endswith(":CompressionsStarted") for e in session.recorder.log.events):
            src.pending_commands.append("menu.action:shock")  # the leader's action: refused
            seen["phase"] = 4
        elif phase == 4 and any("outside the role" in c.text for c in app.resource(LearnerView).cues):
            srv.loop.call_soon_threadsafe(add_casualty)  # the instructor adds a second casualty
            seen["phase"] = 5
        elif phase == 5 and any("casualty added: visitor" in c.text for c in app.resource(LearnerView).cues):
            click(6, "menu")  # the role's full menu, the patient picker first
        elif phase == 6:
            menu = app.resource(MenuState)
            panel = app.resource(PointerState).panels.get("menu")
            if menu.open and panel is not None:
                seen["full"] = [i.label for i in menu.items]
                person.aim = menu_row_centre(panel, "menu.choose:1", len(menu.items))
                seen["phase"] = 7
        elif phase == 7:
            click(8)  # the picker: the visitor
        elif phase == 8 and "visitor" in app.resource(MenuState).title:
            panel = app.resource(PointerState).panels["menu"]
            person.aim = menu_row_centre(panel, "menu.choose:3", len(app.resource(MenuState).items))
            seen["phase"] = 9
        elif phase == 9:
            click(10)  # stop compressions, on the visitor
        elif phase == 10 and any(e["type"].endswith(":CompressionsStopped") for e in session.recorder.log.events):
            click(13, "squeeze")  # the grip: back to the original patient, without the menu
        elif phase == 13 and any(c.text == "actions on: patient" for c in app.resource(LearnerView).cues):
            person.primary = 1.0  # push-to-talk: held...
            seen["phase"] = 11
        elif phase == 11 and mic.started:
            person.primary = 0.0  # ...and released: the clip goes to the team
            seen["phase"] = 12
        elif phase == 12 and any(
            e["type"].endswith(":VoiceCallOut") and e["data"]["role"] == "compressor"
            for e in session.recorder.log.events
        ):
            return True
        return False

    mic = FileMic(CLIP)
    played: list[tuple[int, int]] = []

    try:
        res = join_headset(
            srv.server.url,
            srv.server.issue("compressor"),
            source=source,
            pack=pack,
            on_frame=on_frame,
            echo=print,
            talk=PushToTalk(TALK_BUTTON, recorder=lambda: mic),
            player=ClipPlayer(lambda samples, rate: played.append((len(samples), rate))),
        )
    finally:
        log = srv.stop()
    assert res.reason == "left" and seen["phase"] == 12, (res.reason, seen)
    me = res.client
    events = log.event_records()
    acted = [e["data"] for e in events if e["type"].endswith(":TeamActed") and e["data"]["client"] == me]
    assert [(a["action"], a["role"]) for a in acted] == [
        ("start_compressions", "compressor"),
        ("stop_compressions", "compressor"),
    ], acted
    refused = [e["data"] for e in events if e["type"].endswith(":ActionRejected")]
    assert refused == [{"action": "shock", "reason": f"outside the role 'compressor' of {me}"}], refused
    assert seen["menu"] == ["start_compressions", "stop_compressions"]  # the patient's, for this role only
    # the mirror stepped the server's frames to the same events; the leader's order was shown
    mirrored = res.session.recorder.log.event_records()
    assert res.in_step and len(mirrored) >= 5 and mirrored == events[: len(mirrored)]
    assert any("order for compressor: swap" in n for n in res.notices), res.notices
    # the headset's head pose is in the server's log as this member's head device
    heads = [
        rec["data"][f"compressor/{me}/head"] for rec in log.inputs.values() if f"compressor/{me}/head" in rec["data"]
    ]
    assert heads and all(abs(a - b) < 1e-4 for a, b in zip(heads[-1]["position"], HEAD_POSE.position)), heads[-1:]
    assert res.pose_updates >= 1 and res.xr_frames > 10
    # the patient picker in the headset menu: the stop went to the casualty, the start to Mr Jones
    assert seen["full"][0].startswith("Patient: patient (1/2"), seen["full"]
    on = {e["type"].rsplit(":", 1)[-1]: e["data"].get("patient") for e in events if "Compressions" in e["type"]}
    assert on == {"CompressionsStarted": "", "CompressionsStopped": "visitor"}, on
    # one squeeze of the grip (a rising edge): the picker stepped once, back to Mr Jones
    assert [n for n in res.notices if n.startswith("actions on")] == ["actions on: patient"], res.notices
    # push-to-talk on the A button: one clip while it was held, recorded with its hash; the
    # leader's relayed clip was played as it arrived
    said = [e["data"] for e in events if e["type"].endswith(":VoiceCallOut") and e["data"]["client"] == me]
    assert mic.started == 1 and said == [
        {"client": me, "role": "compressor", "sha256": clip_hash(CLIP), "duration_s": 0.25}
    ], said
    assert played == [(16000, 16_000)] and any("leader" in n and "speaking" in n for n in res.notices), res.notices
    # hand tracking: each hand's 26 joints as a <hand>.joints device in the server's log, in
    # whole millimetres from the wrist, decoding to the runtime's joints within 1 mm
    assert source.backend.hand_tracking and res.joint_updates >= 1
    name = f"compressor/{me}/right_hand.joints"
    sent = [rec["data"][name] for rec in log.inputs.values() if name in rec["data"]]
    last = source.last
    assert sent and len(sent[-1]["joints"]) == 78 and sent[-1]["joints"][3:6] == [0, 0, 0], sent[-1:]
    decoded = np.asarray(sent[-1]["position"]) + np.reshape(sent[-1]["joints"], (26, 3)) * 1e-3
    # the last one sent is one of the runtime's samples, not necessarily the newest: poses go out
    # at POSE_HZ, so a busy machine can read frames (fingers moving) after the last send
    samples = [
        np.array([s[f"right_hand.{j}"]["position"] for j in HAND_JOINT_NAMES])
        for s in source.history
        if all(f"right_hand.{j}" in s for j in HAND_JOINT_NAMES)
    ]
    errors = [float(np.abs(decoded - t).max()) for t in samples]
    assert errors and min(errors) <= 5.1e-4, min(errors, default=None)
    tracked = samples[int(np.argmin(errors))]
    assert 0.05 < np.linalg.norm(tracked[10] - tracked[1]) < 0.25  # the index tip is a hand's length away
    # sent only when changed: fewer joint updates than XR frames, every one compact
    per_update = res.joint_bytes / res.joint_updates
    # against each joint as its own pose device (5 and 6 decimals, as head and hands go)
    plain = {
        f"{h}.{j}": {
            "position": [round(v, 5) for v in last[f"{h}.{j}"]["position"]],
            "orientation": [round(v, 6) for v in last[f"{h}.{j}"]["orientation"]],
        }
        for h in ("left_hand", "right_hand")
        for j in HAND_JOINT_NAMES
    }
    plain_bytes = len(json.dumps(plain, separators=(",", ":")))
    print(f"hand joints: {res.joint_updates} updates in {res.xr_frames} XR frames, {per_update:.0f} B each "
          f"(both hands; {plain_bytes} B as 52 pose devices)")  # fmt: skip
    assert res.joint_updates < res.xr_frames and per_update < plain_bytes / 5, (res.joint_updates, per_update)
    # every mirror (another member's too) steps the server's samples: its hand interpolator
    # has the compressor's hand, drawn by another client (its own is never drawn to itself)
    other = TeamAvatarPass("someone-else")
    other.hands = res.avatars.hands
    hands = {(role, client, hand): joints for role, client, hand, joints in other.hand_joints()}
    assert res.avatars.hand_joints() == [] and ("compressor", me, "right_hand") in hands, list(hands)
    mine = [rec["data"][name] for rec in res.session.recorder.log.inputs.values() if name in rec["data"]]
    newest = other.hands.pose(name, t=1e9)  # the newest the mirror stepped to, exactly as sent
    assert newest is not None and mine[-1] in sent
    assert np.allclose(newest[0], np.asarray(mine[-1]["position"]) + np.reshape(mine[-1]["joints"], (26, 3)) * 1e-3)
    assert hands["compressor", me, "right_hand"].shape == (26, 3)  # drawn 100 ms behind: interpolated
    # the debrief views replay the log: its people pass draws the recorded hand as a skeleton
    replayed = InputState()
    replayed.apply(clean_sample({**log.inputs[max(log.inputs)]["data"], name: sent[-1]})[0])
    drawn = Drawn()
    PeoplePass().draw(Drawn.context(replayed, drawn))
    # the last sample may carry the left hand too (whether the runtime tracked it at that frame
    # depends on timing): the right hand is one of the drawn 26-joint blocks, with its bones
    centres, bone_ends = drawn.spheres[-1][0], drawn.capsules[-1][1]
    n_hands = len(centres) // 26
    assert n_hands in (1, 2) and len(centres) == 26 * n_hands, len(centres)
    assert len(drawn.capsules[-1][0]) == len(HAND_BONES) * n_hands
    nb = len(HAND_BONES)
    right = [i for i in range(n_hands) if np.allclose(centres[26 * i : 26 * (i + 1)], decoded)]
    assert len(right) == 1, "the right hand's joints are not among the drawn spheres"
    i = right[0]
    assert np.allclose(bone_ends[nb * i : nb * (i + 1)], decoded[[b for _, b in HAND_BONES]])


class Drawn:
    """A renderer that keeps what it was asked to draw (centres / capsule ends)."""

    def __init__(self) -> None:
        self.spheres: list[tuple[Any, ...]] = []
        self.capsules: list[tuple[Any, ...]] = []

    def draw_spheres(self, centres: Any, radii: Any, colours: Any, **_: Any) -> None:
        self.spheres.append((np.asarray(centres), radii))

    def draw_capsules(self, a: Any, b: Any, radii: Any, colours: Any, **_: Any) -> None:
        self.capsules.append((np.asarray(a), np.asarray(b)))

    @staticmethod
    def context(inputs: Any, renderer: Any) -> Any:
        class App:
            def resource(self, kind: type) -> Any:
                return inputs

        class Ctx:
            view = "main"
            app = App()

        Ctx.renderer = renderer  # type: ignore[attr-defined]
        return Ctx()


def test_join_without_a_runtime_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No active OpenXR runtime: a VrmedError before the client joins (no role taken), one
    error line from ``vrmed join --input openxr``."""
    monkeypatch.delenv("XR_RUNTIME_JSON", raising=False)
    for var in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"):
        monkeypatch.setenv(var, str(tmp_path))
    from vrmed.xr import openxr_backend

    if openxr_backend.active_runtime_manifest() is not None:
        pytest.skip("this machine has a system-wide OpenXR runtime (/etc/openxr)")
    with pytest.raises(VrmedError, match="no OpenXR runtime is active"):
        join_headset("ws://127.0.0.1:9/ws", "token", echo=lambda _: None)
    from click.testing import CliRunner

    from vrmed.cli import cli

    res = CliRunner().invoke(cli, ["join", "ws://127.0.0.1:9/ws", "--token", "t", "--input", "openxr"])
    assert res.exit_code == 1 and "no OpenXR runtime is active" in res.output and "Traceback" not in res.output


def test_headset_member_sees_the_team_in_both_eyes(
    validation: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``join_headset`` opening the headset itself, as ``vrmed join --input openxr`` does
    (an EGL context for the swapchains, the comfort rig): both eyes are rendered from the
    mirror with the leader's head drawn as an avatar sphere, and the guidance and monitor
    panels are submitted as quad layers; the XR frames are ended by the render stage. Once
    the instructor pauses, the mirror's frame stands still while the controller rays are
    drawn from each XR frame's poses (the runtime's default motion moves the controllers)."""
    moderngl = pytest.importorskip("moderngl")
    try:
        moderngl.create_standalone_context(backend="egl").release()
    except Exception as exc:
        pytest.skip(f"no EGL context on this machine: {exc}")
    if validation:  # the loader enables the layer for a session the engine opens itself
        monkeypatch.setenv("XR_ENABLE_API_LAYERS", ":".join(validation))
    pack = emergency_pack()
    srv = ServerThread(pack)
    seen: dict[str, Any] = {"frames": 0}

    def on_frame(session: Any, src: Any) -> bool:
        from vrmed.render.passes import RenderPipeline
        from vrmed.xr.panels import HeadsetPanels

        seen["frames"] += 1
        seen["source"] = src
        pipeline = session.app.resource(RenderPipeline)
        avatars = pipeline.get("team.avatars")
        if seen["frames"] == 1:  # a remote tracked hand: its skeleton goes through the GL renderer too
            hand = np.array([(0.0, 1.2, 0.3)] * 26) + np.linspace(0.0, 0.1, 26)[:, None]
            avatars.hands.add(0.0, {"leader/p-remote/right_hand.joints": [hand, [1.0, 0.0, 0.0, 0.0]]})
        seen["hands"] = [(role, h) for role, _, h, _ in avatars.hand_joints()]
        seen["drawn"] = avatars.drawn
        seen["people"] = [(role, device) for role, _, device, _ in avatars.people()]
        seen["panels"] = session.app.resource(HeadsetPanels).submitted or seen.get("panels", ())
        if "paused_at" not in seen and seen["drawn"] >= 4 and session.app.clock.time > 1.0:
            srv.loop.call_soon_threadsafe(srv.server.input.command, "session.pause")  # the instructor
            seen["paused_at"] = seen["frames"]
        elif "paused_at" in seen and session.app.resource(LearnerView).paused:
            rays = pipeline.get("team.rays")  # this XR frame's pointer, drawn in this XR frame
            live = [r.origin for r in session.app.resource(PointerState).rays.values() if r.origin != (0.0, 0.0, 0.0)]
            seen.setdefault("paused", []).append((session.app.clock.frame, tuple(rays.origins), rays.drawn))
            assert rays.origins == live
        return seen["frames"] >= 600 or len(seen.get("paused", ())) >= 6

    try:
        res = join_headset(srv.server.url, srv.server.issue("airway"), pack=pack, on_frame=on_frame, echo=print)
    finally:
        srv.stop()
    rt = sim.active()
    assert rt is not None and rt.errors == [], rt and rt.errors[:1]
    assert res.reason == "left" and res.in_step and seen["drawn"] >= 4, seen
    assert ("leader", "head") in seen["people"], seen
    assert seen["hands"] == [("leader", "right_hand")], seen["hands"]
    assert {"guidance", "monitor"} <= set(seen["panels"]), seen
    assert seen["source"].comfort is not None and seen["source"].gl_context is None  # released with the session
    # paused: one mirror frame, the rays drawn anew in every XR frame, following the controllers
    paused = seen.get("paused", [])
    assert len(paused) >= 6 and len({f for f, _, _ in paused}) == 1, paused
    assert len({o for _, o, _ in paused}) > 1 and paused[-1][2] > paused[0][2], paused


def test_hand_joints_on_the_wire() -> None:
    """The wire form of a tracked hand: a hand not tracked is an empty joint list, which a
    mirror's input reads as no joints; joints that are not whole numbers are dropped at the
    input boundary with a TrackingLost reason naming the device."""
    assert hand_devices({}) == {"left_hand.joints": {"joints": []}, "right_hand.joints": {"joints": []}}
    state = InputState()
    wrist = {"position": [0.1, 1.0, 0.2], "orientation": [1.0, 0.0, 0.0, 0.0]}
    state.apply(clean_sample({"a/b/right_hand.joints": {**wrist, "joints": [10, -20, 30] * 26}})[0])
    dev = state.devices["a/b/right_hand.joints"]
    assert dev.joints is not None and np.allclose(dev.joints[3], (0.010, -0.020, 0.030))
    state.apply(clean_sample({"a/b/right_hand.joints": {"joints": []}})[0])
    assert state.devices["a/b/right_hand.joints"].joints is None
    out, dropped = clean_sample({"a/b/left_hand.joints": {**wrist, "joints": [0.5, 1, 2]}})
    assert "joints" not in out["a/b/left_hand.joints"] and dropped[0][0] == "a/b/left_hand.joints"
    assert "whole numbers" in dropped[0][1]


def test_join_takes_the_headset_options_of_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """``vrmed join --input openxr`` takes ``vrmed run``'s headset options (one shared set),
    passed to the headset client as its ComfortSettings; a bad value is a usage error."""
    from click.testing import CliRunner

    import vrmed.team.headset as headset_mod
    from vrmed.cli import cli

    got: dict[str, Any] = {}

    class Done:
        sent: list[Any] = []

    def fake_join(url: str, token: str, **kw: Any) -> Done:
        got.update(kw, url=url, token=token)
        return Done()

    monkeypatch.setattr(headset_mod, "join_headset", fake_join)
    args = ["join", "ws://h:1/ws", "--token", "t", "--input", "openxr", "--reference", "seated"]
    res = CliRunner().invoke(cli, [*args, "--refresh-hz", "120", "--snap-turn", "45", "--vignette", "0"])
    assert res.exit_code == 0, res.output
    comfort = got["comfort"]
    assert (comfort.reference, comfort.refresh_hz, comfort.snap_turn_deg, comfort.vignette) == ("seated", 120, 45, 0)
    res = CliRunner().invoke(cli, ["join", "ws://h:1/ws", "--token", "t", "--input", "openxr"])
    assert res.exit_code == 0 and got["comfort"].reference == "standing" and got["comfort"].vignette == 0.6
    bad = CliRunner().invoke(cli, [*args[:-1], "lying"])
    assert bad.exit_code == 2 and "'lying' is not one of 'seated', 'standing'" in bad.output, bad.output
    help_join = CliRunner().invoke(cli, ["join", "--help"]).output
    help_run = CliRunner().invoke(cli, ["run", "--help"]).output
    for option in ("--reference", "--refresh-hz", "--snap-turn", "--vignette"):
        assert option in help_join and option in help_run
