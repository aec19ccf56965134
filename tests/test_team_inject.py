"""The instructor's injections (vrmed.team.inject): an equipment failure refuses the
actions it blocks for its duration and then ends, a deterioration trend is linear from the
live value to the target, bad injections get one clear error, learners cannot inject, and
a session with injections replays exactly."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from team_common import emergency_pack
from websockets.asyncio.client import connect

from vrmed.scenario.runtime import scenario_bindings
from vrmed.session import build_session, replay
from vrmed.team.client import TeamClient
from vrmed.team.protocol import decode, encode
from vrmed.team.server import TeamInput, TeamServer

SCENARIO = "code_blue_team"


@pytest.fixture(scope="module")
def pack():
    return emergency_pack()


def _short(events: list[dict]) -> list[tuple[str, dict]]:
    return [(e["type"].rsplit(":", 1)[-1], e["data"]) for e in events]


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


async def _session(pack):
    server = TeamServer(pack, SCENARIO, speed=20, instructor_password="pw")
    await server.start()
    try:
        ws = await connect(server.url)
        await ws.send(encode("login", password="pw"))
        welcome = decode(await ws.recv())
        assert welcome["failures"]["defib_no_charge"] == "Defibrillator fails to charge"
        assert welcome["watch"] == ["patient"]
        leader = TeamClient(server.url, server.issue("leader"))
        await leader.connect()
        assert await leader.wait_time(1.0, 10)
        await ws.send(encode("inject", injection="failure", failure="defib_no_charge", duration_s=2.0))
        await ws.send(encode("inject", injection="deteriorate", entity="patient", var="hr", to=130, over_s=1.0))
        kinds = lambda: [e["type"] for e in leader.events]  # noqa: E731
        await _until(lambda: "EquipmentFailed" in kinds())
        await leader.act("shock", energy_j=200)  # refused: the defibrillator does not charge
        await leader.act("team.fail", failure="leads_off", duration_s=5.0)  # a learner cannot inject
        await _until(lambda: "EquipmentRestored" in kinds())
        await leader.act("shock", energy_j=200)  # works again
        await _until(lambda: "ShockDelivered" in kinds())
        # the console adds the declared casualty; its state streams to the team like the patient's
        assert leader.welcome["casualties"] == {"visitor": "A visitor collapses (second casualty)"}
        await ws.send(encode("inject", injection="casualty", casualty="visitor", position=[1.5, 0.1, 1.0]))
        await _until(lambda: "visitor" in leader.state.get("watch", {}))
        assert leader.state["watch"]["visitor"]["Patient.rhythm"] == "sinus"
        await leader.act_on("visitor", "call_help")
        await _until(lambda: "HelpCalled" in kinds())
        await _console_http(server, welcome["key"])
        # a malformed injection gets one clear error (and, like any bad message, the connection ends)
        await ws.send(encode("inject", injection="failure", failure="pacer_fails", duration_s=5))
        error = await _error(ws)
        assert error == "unknown failure 'pacer_fails'; the scenario declares: defib_no_charge, leads_off", error
        await leader.close()
        await ws.close()
    finally:
        await server.stop()
    log = server.finish()
    server.session.close()
    return log


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def _console_http(server, key: str) -> None:
    """The console's debrief and voice requests: the instructor's key is required (header or
    query), and a bad time or clip name gets one clear error, before any rendering starts."""
    base = f"http://127.0.0.1:{server.port}"
    loop = asyncio.get_running_loop()

    async def get(path: str, **headers: str) -> tuple[int, dict]:
        status, body = await loop.run_in_executor(None, _get, base + path, headers)
        return status, json.loads(body)

    paths = ("/debrief/frame?t=1&client=x", f"/debrief/state?t=1&key={key[:-1]}", "/voice/" + "0" * 64 + ".wav")
    for status, body in await asyncio.gather(*map(get, paths)):  # (each waits the login penalty)
        assert status == 401 and body["error"].startswith("log in to the instructor console"), body
    status, body = await get("/debrief/state?t=soon", Authorization=f"Bearer {key}")
    assert (status, body["error"]) == (400, "t must be a number of seconds, got 'soon'")
    status, body = await get(f"/debrief/frame?t=1e6&client=x&key={key}")
    assert status == 400 and body["error"].startswith("t must be 0 to ") and "(the recorded session)" in body["error"]
    status, body = await get(f"/debrief/frame?client=x&key={key}")
    assert (status, body["error"]) == (400, "/debrief/frame needs t, the simulated time in seconds")
    status, body = await get(f"/voice/..%2Fteam.jsonl?key={key}")
    assert status == 404 and "SHA-256" in body["error"]
    assert server.debrief._proc is None  # none of these started the render worker


async def _error(ws) -> str:
    while True:
        msg = decode(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "error":
            return msg["message"]


def test_failure_blocks_then_ends_learners_cannot_inject_and_replay_is_exact(pack):
    log = asyncio.run(_session(pack))
    events = _short(log.events)
    names = [n for n, _ in events]
    failed = next(d for n, d in events if n == "EquipmentFailed")
    assert failed == {
        "failure": "defib_no_charge",
        "label": "Defibrillator fails to charge",
        "duration_s": 2.0,
        "monitor": "",
    }
    t_fail = next(e["t"] for e in log.events if e["type"].endswith(":EquipmentFailed"))
    t_back = next(e["t"] for e in log.events if e["type"].endswith(":EquipmentRestored"))
    assert t_back - t_fail == pytest.approx(2.0, abs=0.051)  # one logic tick (20 Hz)
    refused = [d for n, d in events if n == "ActionRejected"]
    assert refused[0] == {
        "action": "shock",
        "reason": "the defibrillator does not charge (check the battery/mains; continue CPR)",
    }
    assert refused[1]["action"] == "team.fail" and refused[1]["reason"].startswith("outside the role 'leader'")
    assert names.count("ShockDelivered") == 1 and names.index("ShockDelivered") > names.index("EquipmentRestored")
    assert next(d for n, d in events if n == "HelpCalled")["patient"] == "visitor"  # act_on names the patient
    det = next(d for n, d in events if n == "Deteriorated")
    assert det["entity"] == "patient" and det["var"] == "hr" and det["to"] == 130.0 and det["over_s"] == 1.0
    result, again = replay(log, pack=pack)  # the injections are in the recorded samples
    again.close()
    assert result.ok, result.first_difference


def test_deterioration_trend_is_linear_and_a_step_is_immediate(pack):
    """The setter sees start + (to - start) (t - t0) / over_s at every logic tick of the
    trend, then exactly ``to``; a step sets ``to`` at once; a bad one is refused with why."""
    source = TeamInput()
    session = build_session(pack, SCENARIO, input_source=source, learner="person", display_rate=20)
    try:
        app = session.app
        app.step(4)
        bindings = scenario_bindings(app)
        ((ptype, setter),) = [(t, s) for t, s in bindings.setters.items() if t.__name__ == "Patient"]
        calls: list[tuple[float, str, float]] = []

        def recording(app_, name, key, value):
            calls.append((float(app_.clock.time), key, float(value)))
            setter(app_, name, key, value)

        bindings.setters[ptype] = recording
        start = float(bindings.getters[ptype](app, "patient", "sbp"))
        fields = {"entity": "patient", "var": "sbp", "to": 70.0, "over_s": 0.5}
        source.push("i", "instructor", {}, [{"id": "team.deteriorate", "fields": fields}])
        app.step(17)
        det = next(e for e in session.recorder.log.events if e["type"].endswith(":Deteriorated"))
        t0 = det["t"]
        assert det["data"]["start"] == start  # the live value when it was injected
        trend = [c for c in calls if c[1] == "sbp"]
        assert len(trend) >= 10 and trend[-1][2] == 70.0 and trend[0][0] > t0
        for t, _, v in trend:
            w = min(1.0, (t - t0) / 0.5)
            assert v == pytest.approx(start + (70.0 - start) * w, abs=1e-9), (t, v)
        calls.clear()
        step = {"entity": "patient", "var": "rr", "to": 32, "over_s": 0}
        bad = {"entity": "patient", "var": "colour", "to": 1, "over_s": 0}
        source.push("i", "instructor", {}, [{"id": "team.deteriorate", "fields": step}])
        source.push("i", "instructor", {}, [{"id": "team.deteriorate", "fields": bad}])
        source.push("i", "instructor", {}, [{"id": "team.fail", "fields": {"failure": "leads_off"}}])
        app.step(2)
        assert [c[1:] for c in calls] == [("rr", 32.0)]
        refused = [d for n, d in _short(session.recorder.log.events) if n == "ActionRejected"]
        assert refused == [
            {"action": "team.deteriorate", "reason": "'colour' of 'patient' cannot be set (no component binds it)"},
            {"action": "team.fail", "reason": "missing field 'duration_s'"},
        ], json.dumps(refused)
    finally:
        session.close()


def test_leads_off_failure_flattens_the_ecg_with_a_technical_alarm_then_the_rhythm_returns(pack):
    """While the declared ``leads_off`` failure lasts, the monitor panel draws a flat ECG, reads
    LEADS OFF with the "ECG LEADS OFF" technical alarm instead of the VF alarm, HR ``---``, and
    analysis is refused; once it ends the VF trace, label and alarm come back."""
    from vrmed.components.scene.render import MonitorPanel
    from vrmed.render.drawlist import DrawList
    from vrmed.systems.clinical.draw import LEADS_OFF_ALARM

    source = TeamInput()
    session = build_session(pack, SCENARIO, input_source=source, learner="person", display_rate=20)
    try:
        app = session.app
        app.insert_resource(DrawList())  # what a renderer adds: the monitor panel is filled
        app.run(seconds=8.0)  # VF from t = 2 s; the 6 s ECG window is all VF by now
        panel = app.resource(MonitorPanel)
        assert panel.rhythm_label == "VF" and np.ptp(panel.traces[0].samples) > 0.2
        fields = {"failure": "leads_off", "duration_s": 1.0}
        source.push("i", "instructor", {}, [{"id": "team.fail", "fields": fields}])
        source.push("l", "leader", {}, [{"id": "analyse"}])
        app.run(seconds=0.5)
        texts = [a.text for a in panel.alarms]
        assert panel.rhythm_label == "LEADS OFF" and LEADS_OFF_ALARM in texts and "VF" not in texts, texts
        assert next(a for a in panel.alarms if a.text == LEADS_OFF_ALARM).priority == "medium"
        assert not panel.traces[0].samples.any() and panel.hr is None  # a flat line at 0 mV
        assert np.ptp(panel.traces[2].samples) >= 0.0 and panel.traces[1].samples.shape == panel.traces[0].samples.shape
        events = _short(session.recorder.log.events)
        failed = next(d for n, d in events if n == "EquipmentFailed")
        assert failed["monitor"] == "leads_off"
        assert {
            "action": "analyse",
            "reason": "a monitor lead is off (no rhythm to analyse; check the pads and leads)",
        } in [d for n, d in events if n == "ActionRejected"]
        app.run(seconds=1.0)
        assert panel.rhythm_label == "VF" and [a.text for a in panel.alarms][0] == "VF"
        assert LEADS_OFF_ALARM not in [a.text for a in panel.alarms] and np.ptp(panel.traces[0].samples) > 0.2
    finally:
        session.close()


def test_an_added_casualty_has_its_own_vitals_actions_find_their_patient_and_replay_is_exact(pack):
    """The instructor adds the declared casualty: a second patient entity at the position
    given, with its own physiology (sinus while the original patient is in VF); an action
    aimed at it changes only it, one that names no patient goes to the original patient,
    an unknown patient or a second add is refused with why. Removing the original patient
    is refused; removing the casualty despawns it (no vitals, no actions on it, no second
    add or removal), and the log, removal included, replays exactly."""
    from vrmed.components import Name, Transform
    from vrmed.systems.clinical.physiology import Physiology

    source = TeamInput()
    session = build_session(pack, SCENARIO, input_source=source, learner="person", display_rate=20)
    try:
        app = session.app
        app.run(seconds=3.0)  # VF from t = 2 s
        add = {"id": "team.casualty", "fields": {"casualty": "visitor", "position": [1.5, 0.1, 1.0]}}
        source.push("i", "instructor", {}, [add])
        app.run(seconds=0.5)
        (ent,) = [e for e, n in app.query(Name) if n.value == "visitor"]
        assert app.get(ent, Transform).position.tolist() == [1.5, 0.1, 1.0]
        value = next(g for t, g in scenario_bindings(app).getters.items() if t.__name__ == "Patient")
        assert value(app, "visitor", "rhythm") == "sinus" and value(app, "patient", "rhythm") == "vf"
        assert value(app, "visitor", "hr") == 88.0  # the prefab's own baseline
        source.push("c1", "compressor", {}, [{"id": "start_compressions", "patient": "visitor"}])
        source.push("l", "leader", {}, [{"id": "call_help", "patient": "bob"}])
        source.push("i", "instructor", {}, [add])
        app.run(seconds=0.5)
        assert value(app, "visitor", "cpr") is True and value(app, "patient", "cpr") is False  # only the one aimed at
        source.push("c2", "compressor", {}, [{"id": "start_compressions"}])  # names no patient: the original one
        app.run(seconds=0.5)
        assert value(app, "patient", "cpr") is True
        events = _short(session.recorder.log.events)
        assert [d["patient"] for n, d in events if n == "CompressionsStarted"] == ["visitor", "patient"]
        assert (
            "CasualtyAdded",
            {"casualty": "visitor", "prefab": "adult_inpatient", "x": 1.5, "y": 0.1, "z": 1.0},
        ) in events
        assert [d for n, d in events if n == "ActionRejected"] == [
            {"action": "call_help", "reason": "no patient 'bob'; patients: patient, visitor"},
            {"action": "team.casualty", "reason": "casualty 'visitor' is already in the scene"},
        ]
        # remove_casualty: the original patient is refused; the visitor is transferred (its
        # entity despawned: no vitals, no actions on it, its trend stops) and is not added again
        remove = {"id": "team.remove_casualty", "fields": {"casualty": "patient"}}
        trend = {"entity": "visitor", "var": "hr", "to": 40, "over_s": 5.0}
        source.push("i", "instructor", {}, [remove, {"id": "team.deteriorate", "fields": trend}])
        app.run(seconds=0.5)
        remove = {"id": "team.remove_casualty", "fields": {"casualty": "visitor", "disposition": "transferred"}}
        source.push("i", "instructor", {}, [remove])
        app.run(seconds=0.5)
        assert [e for e, n in app.query(Name) if n.value == "visitor"] == []
        population = app.resource(Physiology).population  # its physiology slot is retired: not stepped
        assert not population.alive[population.slots["visitor"]] and population.alive[population.slots["patient"]]
        assert value(app, "patient", "rhythm") == "vf"  # the original patient runs on
        source.push("c1", "compressor", {}, [{"id": "stop_compressions", "patient": "visitor"}])
        source.push("i", "instructor", {}, [add, dict(remove, fields={"casualty": "visitor"})])
        app.run(seconds=0.5)
        events = _short(session.recorder.log.events)
        assert ("CasualtyRemoved", {"casualty": "visitor", "disposition": "transferred"}) in events
        assert [d for n, d in events if n == "ActionRejected"][2:] == [
            {
                "action": "team.remove_casualty",
                "reason": "'patient' is not a casualty the instructor added: the scenario's own patients "
                "cannot be removed (removable: visitor)",
            },
            {"action": "stop_compressions", "reason": "no patient 'visitor'; patients: patient"},
            {"action": "team.casualty", "reason": "casualty 'visitor' was removed; a casualty is added once"},
            {"action": "team.remove_casualty", "reason": "casualty 'visitor' was already removed"},
        ], json.dumps(events[-8:])  # (and no "trend stopped" refusal: the visitor's trend ended with it)
        result, again = replay(session.finish(), pack=pack)  # the injections are in the recorded samples
        again.close()
        assert result.ok, result.first_difference
    finally:
        session.close()
