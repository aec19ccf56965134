"""A person joins a shared session from the desktop window (``vrmed join --input desktop``):
xdotool key presses on an Xvfb display reach the desktop client, which sends its role's
action to the server (applied there, recorded with the client's pseudonym); a hotkey
outside the role is refused by the server and the refusal is shown in the window's cues.
The window's mirror of the simulation stays event-for-event equal to the server's log;
the local menu offers only the role's actions; a teammate's head is drawn where it is and
an order to this role is shown."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest
from conftest import xvfb_display
from team_common import FileMic, ServerThread, emergency_pack

from vrmed.scenario.learner import LearnerView
from vrmed.team.client import TeamClient
from vrmed.team.desktop import PushToTalk, RoleMenu, join_desktop, look_quaternion
from vrmed.team.roles import team_of
from vrmed.team.server import TeamServer
from vrmed.team.voice import ClipPlayer, clip_hash, pcm_wav

SCENARIO = "code_blue_team"
CLIP = pcm_wav(bytes(8000), 16_000)  # 0.25 s of silence
LEADER_CLIP = pcm_wav(bytes(16000), 16_000)  # 0.5 s


@pytest.fixture(scope="module")
def pack() -> Any:
    return emergency_pack()


@pytest.fixture(scope="module")
def display() -> Any:
    """An Xvfb display of our own (DISPLAY set for this module), or skip without Xvfb/xdotool."""
    yield from xvfb_display("640x480x24")


def xdo(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


@pytest.mark.slow
def test_desktop_member_acts_within_role_and_is_refused_outside(display: str, pack: Any) -> None:
    from vrmed.render.window import open_window

    window, why = open_window(240, 180, title="vrmed team test", vsync=False)
    if window is None:
        pytest.skip(f"no window on Xvfb: {why}")
    import glfw

    xdo("windowfocus", "--sync", str(glfw.get_x11_window(window.handle)))
    srv = ServerThread(pack)
    seen: dict[str, Any] = {"phase": 0, "start": time.monotonic()}

    def on_frame(session: Any, source: Any) -> None:
        app, phase = session.app, seen["phase"]
        types = [e["type"].rsplit(":", 1)[-1] for e in session.recorder.log.events]
        if phase == 0 and app.clock.time > 2.5:
            xdo("key", "c")  # start_compressions: the compressor's own action
            srv.run(srv.leader.send_voice(LEADER_CLIP))  # the leader speaks: relayed to this window
            seen["phase"] = 1
        elif phase == 1 and "CompressionsStarted" in types:
            xdo("key", "s")  # shock: the leader's action, outside the role
            seen["phase"] = 2
        elif phase == 2 and any("outside the role" in c.text for c in app.resource(LearnerView).cues):
            seen["cue"] = [c.text for c in app.resource(LearnerView).cues]
            xdo("key", "F1")  # the role's menu
            seen["phase"] = 3
        elif phase == 3 and seen.get("menu") is None:
            from vrmed.scenario.learner import MenuState

            menu = app.resource(MenuState)
            if menu.open:
                seen["menu"] = [i.value for i in menu.items]
                xdo("key", "Escape")  # closes the menu
                seen["phase"] = 4
        elif phase == 4:
            from vrmed.scenario.learner import MenuState

            if not app.resource(MenuState).open:
                seen["avatars"] = avatars_of(app)
                xdo("keydown", "F4")  # push-to-talk: held...
                seen["phase"] = 5
        elif phase == 5 and mic.started:
            xdo("keyup", "F4")  # ...and released: the clip goes to the team
            seen["phase"] = 6
        elif phase == 6 and any(  # back from the server, in the mirror's log
            e["type"].endswith(":VoiceCallOut") and e["data"]["role"] == "compressor"
            for e in session.recorder.log.events
        ):
            srv.loop.call_soon_threadsafe(add_casualty)  # the instructor adds a second casualty
            seen["phase"] = 9
        elif phase == 9 and any(e["type"].endswith(":CasualtyAdded") for e in session.recorder.log.events):
            from vrmed.render.learner_hud import DesktopOverlay

            seen["hint"] = app.resource(DesktopOverlay).keys_hint  # the selected patient, in view
            xdo("key", "F3")  # the picker key: the next patient, without the menu
            seen["phase"] = 10
        elif phase == 10 and "actions on: visitor" in overlay(app).notices:
            seen["hint2"] = overlay(app).keys_hint
            xdo("key", "Escape")  # leaves
            seen["phase"] = 7
        if time.monotonic() - seen["start"] > 30.0 and seen["phase"] not in (7, 8):  # stuck: leave, and fail below
            seen["phase"] = 8
            xdo("key", "Escape")

    def add_casualty() -> None:  # what the console's inject message queues (vrmed.team.server)
        fields = {"casualty": "visitor", "position": [1.6, 0.0, 0.6]}
        srv.server.input.push("instructor-t", "instructor", {}, [{"id": "team.casualty", "fields": fields}])

    def overlay(app: Any) -> Any:
        from vrmed.render.learner_hud import DesktopOverlay

        return app.resource(DesktopOverlay)

    def avatars_of(app: Any) -> list[tuple[str, str]]:
        from vrmed.render.passes import RenderPipeline

        people = app.resource(RenderPipeline).get("team.avatars").people()
        return [(role, device) for role, _, device, _ in people]

    mic = FileMic(CLIP)
    played: list[tuple[int, int]] = []
    try:
        res = join_desktop(
            srv.server.url,
            srv.server.issue("compressor"),
            window=window,
            pack=pack,
            redraw_hz=2.0,
            samples=1,
            on_frame=on_frame,
            talk=PushToTalk("F4", recorder=lambda: mic),
            echo=lambda _: None,
            player=ClipPlayer(lambda samples, rate: played.append((len(samples), rate))),
        )
    finally:
        window.close()
        log = srv.stop()
    assert res.reason == "quit" and seen["phase"] == 7, (res.reason, seen)
    me = res.client
    events = log.event_records()
    acted = [e["data"] for e in events if e["type"].endswith(":TeamActed") and e["data"]["client"] == me]
    assert [a["action"] for a in acted] == ["start_compressions"] and acted[0]["role"] == "compressor"
    refused = [e["data"] for e in events if e["type"].endswith(":ActionRejected")]
    assert refused == [{"action": "shock", "reason": f"outside the role 'compressor' of {me}"}], refused
    assert any("outside the role 'compressor'" in c for c in seen["cue"])  # shown in the window
    # the local menu: only the compressor's actions, in the scenario's order
    allowed = team_of(pack.scenario(SCENARIO)).roles["compressor"].actions
    assert set(seen["menu"]) == set(allowed), seen["menu"]
    # the window's mirror stepped the server's frames to the same events (as a replay does)
    mirrored = res.session.recorder.log.event_records()
    assert res.in_step and len(mirrored) >= 5 and mirrored == events[: len(mirrored)]
    # the leader's head is drawn; the leader's order to the compressors was shown
    assert ("leader", "head") in seen["avatars"], seen["avatars"]
    assert any("order for compressor: swap" in n for n in res.notices), res.notices
    # the push-to-talk clip: recorded once while F4 was held, sent, recorded with its hash
    said = [e["data"] for e in events if e["type"].endswith(":VoiceCallOut") and e["data"]["client"] == me]
    assert mic.started == 1 and said == [
        {"client": me, "role": "compressor", "sha256": clip_hash(CLIP), "duration_s": 0.25}
    ]
    # the leader's relayed clip was played as it arrived, and who spoke was shown
    assert played == [(8000, 16_000)] and f"leader {srv.leader.client} speaking (0.5 s)" in res.notices, res.notices
    # once the casualty is in, the HUD names the patient actions go to (the original by default)
    assert seen["hint"].endswith("actions on: patient") and "casualty added: visitor" in " ".join(res.notices)
    # F3 steps the picker to the next patient without the menu; the HUD names it
    assert seen["hint2"].endswith("F3 next patient   actions on: visitor"), seen["hint2"]
    # the desktop's own head pose reached the server (an avatar for everyone else)
    assert any(k.startswith(f"compressor/{me}/head") for k in srv.server._devices())


def test_role_menu_and_head_pose(pack: Any) -> None:
    """Without a window: the role menu keeps menu choices for the server (never in the
    App), offers only the role's actions, passes an outside hotkey on for the server to
    refuse, and ignores pause; look_quaternion is the camera's rotation."""
    import numpy as np

    from vrmed.geometry import quat_rotate
    from vrmed.session import build_session

    session = build_session(pack, SCENARIO, learner="person")
    try:
        app = session.app
        scen = session.scenario
        menu = RoleMenu(scen.interaction, {"start_compressions", "acknowledge", "report"})
        menu.command(app, "menu.open")
        assert [i.value for i in menu.menu.items] == ["start_compressions", "acknowledge", "report"]
        menu.command(app, "menu.choose:2")  # acknowledge: choose its task
        menu.command(app, "menu.choose:1")
        menu.command(app, "menu.action:shock")  # outside the role: for the server to refuse
        menu.command(app, "menu.action:no_such")  # not an action at all: nothing
        menu.command(app, "session.pause")
        assert menu.take() == [{"id": "acknowledge", "fields": {"task": "pads"}}, {"id": "shock", "fields": {}}]
        from vrmed.input import InputState

        assert app.resource(InputState).actions == [] and not app.resource(LearnerView).paused
        assert session.recorder.log.events == []
    finally:
        session.close()
    pos, target = np.array([0.4, 1.72, 1.4]), np.array([-0.1, 0.1, -0.55])
    q = look_quaternion(pos, target)
    forward = quat_rotate(q, [0.0, 0.0, -1.0])
    want = (target - pos) / np.linalg.norm(target - pos)
    assert abs(np.linalg.norm(q) - 1) < 1e-12 and np.allclose(forward, want, atol=1e-12)
    up = quat_rotate(q, [0.0, 1.0, 0.0])
    assert up[1] > 0 and abs(float(np.dot(up, want))) < 1e-12
    # looking along +Z (a half turn about Y: trace -1) takes the other branch of Shepperd's method
    q2 = look_quaternion([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    assert np.allclose(q2, [0.0, 0.0, 1.0, 0.0], atol=1e-12) or np.allclose(q2, [0.0, 0.0, -1.0, 0.0], atol=1e-12)
    assert np.allclose(quat_rotate(q2, [0.0, 0.0, -1.0]), [0.0, 0.0, 1.0], atol=1e-12)


def test_role_menu_patient_picker(pack: Any) -> None:
    """Without a window: once a casualty is added, the role's full menu starts with the
    patient picker naming the selected patient (the original by default); choosing it
    steps to the next patient, and the requests of actions taken on a patient name the
    chosen one (one pointed at wins), never a call-out's."""
    from vrmed.session import build_session
    from vrmed.team.member import PATIENT_ITEM, role_menu

    session = build_session(pack, SCENARIO, learner="person")
    try:
        app = session.app
        menu = role_menu(session, {"actions": ["start_compressions", "stop_compressions", "acknowledge"]})
        assert menu.patients == ["patient"] and menu.patient == "patient"
        menu.command(app, "menu.open")  # one patient: no picker, no patient named
        assert [i.value for i in menu.menu.items] == ["start_compressions", "stop_compressions", "acknowledge"]
        menu.command(app, "menu.choose:1")
        assert menu.take() == [{"id": "start_compressions", "fields": {}}]
        menu.command(app, "menu.open")
        menu.add_patient("visitor")  # CasualtyAdded while the menu is open: the picker appears
        items = menu.menu.items
        assert items[0].kind == PATIENT_ITEM and "Patient: patient (1/2" in items[0].label
        assert menu.menu.title == "Actions - patient: patient"
        menu.command(app, "menu.choose:2")  # the default: the original patient, named
        menu.command(app, "menu.open")
        menu.command(app, "menu.choose:1")  # the picker: the next patient, the menu stays open
        assert menu.menu.open and menu.patient == "visitor" and "Patient: visitor (2/2" in menu.menu.items[0].label
        assert menu.menu.title == "Actions - patient: visitor"
        menu.command(app, "menu.choose:3")  # stop compressions, on the visitor
        menu.command(app, "menu.open")
        menu.command(app, "menu.choose:4")  # acknowledge (a call-out: on nobody) ...
        menu.command(app, "menu.choose:1")  # ... its task
        menu.command(app, "pick:patient")  # pointed at the original patient: that one, whatever is chosen
        menu.command(app, "menu.choose:1")
        menu.command(app, "menu.action:stop_compressions")  # a hotkey: the chosen patient
        assert menu.take() == [
            {"id": "start_compressions", "fields": {}, "patient": "patient"},
            {"id": "stop_compressions", "fields": {}, "patient": "visitor"},
            {"id": "acknowledge", "fields": {"task": "pads"}},
            {"id": "start_compressions", "fields": {}, "target": "patient", "patient": "patient"},
            {"id": "stop_compressions", "fields": {}, "patient": "visitor"},
        ]
        menu.command(app, "patient:patient")  # chosen by name (a binding or a front end)
        assert menu.patient == "patient" and session.recorder.log.events == []
        menu.command(app, "patient.next")
        menu.remove_patient("visitor")  # CasualtyRemoved: back to the original, no picker
        menu.remove_patient("patient")  # the original patient never leaves the picker
        menu.command(app, "menu.open")
        assert menu.patients == ["patient"] and menu.patient == "patient" and menu.menu.items[0].kind == "action"
    finally:
        session.close()


def test_a_late_mirror_gets_the_history_in_chunks_and_steps_to_the_servers_events(
    pack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror joining 3 s into a session (history sent in chunks of 5 frames here) builds
    the server's App from the welcome and, stepped with the received samples, has exactly
    the server's events at the server's frame (what the desktop window shows)."""
    from vrmed.input import ReplayInput
    from vrmed.session import build_session
    from vrmed.settings import SimSettings
    from vrmed.team import server as server_mod
    from vrmed.team.local import scripted_team

    monkeypatch.setattr(server_mod, "INPUTS_PER_MESSAGE", 5)

    async def run() -> tuple[TeamClient, list[dict[str, Any]], int]:
        server = TeamServer(pack, SCENARIO, speed=10)
        await server.start()
        try:
            team = await scripted_team(server, ["leader", "compressor.1"])
            tasks = [asyncio.create_task(c.play(30, until=8.0)) for c in team.values()]
            head = {"position": [0.0, 1.7, 0.5], "orientation": [1.0, 0.0, 0.0, 0.0]}
            while team["leader"].time < 3.0:
                await team["leader"].send(devices={"head": head})  # a sample in many frames
                head["position"][0] += 0.01
                await asyncio.sleep(0.005)
            mirror = TeamClient(server.url, server.issue("airway"), mirror=True)
            await mirror.connect()
            while mirror.frame < 20 * 5:  # until 5 s, after the scripted shocks' pads and analysis
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
            for c in [*team.values(), mirror]:
                await c.close()
        finally:
            await server.stop()
        log = server.finish()
        server.session.close()
        return mirror, log.event_records(), len(log.inputs)

    mirror, events, recorded = asyncio.run(run())
    sim = mirror.welcome["sim"]
    assert recorded > 20 and mirror.history_messages >= 3  # the history came in several chunks
    session = build_session(
        pack,
        SCENARIO,
        seed=int(sim["seed"]),
        input_source=ReplayInput(mirror.inputs),
        settings=SimSettings.from_header(sim),
        learner=sim["learner"],
        mode=sim["mode"],
    )
    try:
        frame, total = mirror.sync
        session.app.step(frame)
        mirrored = session.recorder.log.event_records()
    finally:
        session.close()
    assert len(mirrored) == total and mirrored == events[:total]
    assert any(e["type"].endswith(":CompressionsStarted") for e in mirrored)
