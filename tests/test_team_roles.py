"""Team roles: validation with file:line, tokens, protocol, and refusal of out-of-role actions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from team_common import emergency_pack

from vrmed.packs.issues import PackError
from vrmed.packs.loader import load_pack
from vrmed.session import replay
from vrmed.team.client import Interpolator
from vrmed.team.local import run_local_team
from vrmed.team.protocol import VERSION, ProtocolError, TokenIssuer, check_input, decode, encode
from vrmed.team.roles import ScriptedStep, team_of

SCENARIO = "code_blue_team"


@pytest.fixture(scope="module")
def pack():
    return emergency_pack()


def test_team_declaration_is_read(pack):
    spec = team_of(pack.scenario(SCENARIO))
    assert spec is not None and spec.roles["compressor"].max == 2
    assert spec.allows("leader", "shock") and not spec.allows("medications", "shock")
    assert spec.allows("instructor", "inject_rhythm") and not spec.allows("leader", "inject_rhythm")
    assert team_of(pack.scenario("code_blue")) is None


def test_bad_role_declaration_names_file_and_line(tmp_path: Path, pack):
    root = tmp_path / "emergency"
    shutil.copytree(pack.root, root)
    path = root / "scenarios" / f"{SCENARIO}.yaml"
    text = path.read_text()
    bad = text.replace(
        "actions: [call_help, attach_pads, analyse, shock,", "actions: [call_help, attach_pads, analyse, shok,"
    )
    bad = bad.replace(
        "      recorder: {label: Recorder (timekeeper), actions: [acknowledge, report]}",
        "      recorder: {label: Recorder, actions: [acknowledge], max: 0}",
    )
    bad = bad.replace("blocks: [shock]", "blocks: [shoq]")
    bad = bad.replace("{prefab: adult_inpatient, label: A visitor", "{prefab: adult_inpatent, label: A visitor")
    bad = bad.replace("monitor: leads_off, message", "monitor: lead_off, message")
    assert bad != text
    path.write_text(bad)
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "shok," in ln)
    with pytest.raises(PackError) as err:
        load_pack(root, "path")
    message = str(err.value)
    assert (
        f"code_blue_team.yaml:{line}: settings.team.roles.leader.actions[3]: "
        "unknown action 'shok' (did you mean 'shock'?)" in message
    )
    assert "settings.team.roles.recorder.max: max must be a whole number from 1 to 32, got 0" in message
    assert "settings.team.failures.defib_no_charge.blocks[0]: unknown action 'shoq' (did you mean 'shock'?)" in message
    casualty = next(i for i, ln in enumerate(bad.splitlines(), 1) if "adult_inpatent" in ln)
    assert (
        f"code_blue_team.yaml:{casualty}: settings.team.casualties.visitor.prefab: unknown prefab "
        "'adult_inpatent' (did you mean 'adult_inpatient'?)" in message
    ), message
    assert "settings.team.failures.leads_off.monitor: unknown monitor effect 'lead_off'; effects: leads_off" in message
    # the scripted leader's shocks are now outside its role, and say so
    assert "role 'leader' may not take 'shock'" in message


def test_tokens_expire_and_cannot_be_forged():
    now = [1000.0]
    issuer = TokenIssuer(b"k" * 32, clock=lambda: now[0])
    token = issuer.issue("airway", ttl_s=60)
    assert issuer.check(token).role == "airway"
    body, mac = token.split(".")
    forged = TokenIssuer(b"x" * 32, clock=lambda: now[0]).issue("leader", ttl_s=60).split(".")[0] + "." + mac
    with pytest.raises(ProtocolError, match="not issued by this server"):
        issuer.check(forged)
    now[0] += 61
    with pytest.raises(ProtocolError, match="expired"):
        issuer.check(token)


def test_protocol_is_versioned_and_bounded():
    msg = decode(encode("input", seq=1, actions=[{"id": "shock", "fields": {"energy_j": 200}}]))
    assert msg["v"] == VERSION and check_input(msg)[2] == [{"id": "shock", "fields": {"energy_j": 200}}]
    with pytest.raises(ProtocolError, match="version"):
        decode('{"v": 99, "type": "input"}')
    with pytest.raises(ProtocolError, match="at most"):
        check_input({"seq": 1, "actions": [{"id": "a"}] * 100})
    with pytest.raises(ProtocolError, match="seq"):
        check_input({"seq": 0})


def test_action_outside_role_is_refused_and_replays(pack):
    spec = team_of(pack.scenario(SCENARIO))
    scripts = {
        "leader": spec.scripted["leader"][:1],  # call_help at 3 s
        "medications": (
            ScriptedStep(3.0, "shock", {"energy_j": 200}),
            ScriptedStep(4.0, "epinephrine", {"dose": 1, "route": "iv"}),
        ),
    }
    session = run_local_team(pack, SCENARIO, scripts, max_seconds=6)
    try:
        counts = session.event_counts()
        assert "ShockDelivered" not in counts  # refused, never executed
        rejected = [e for e in session.recorder.log.events if e["type"].endswith(":ActionRejected")]
        assert [e["data"]["action"] for e in rejected] == ["shock"]
        assert rejected[0]["data"]["reason"] == "outside the role 'medications' of c-medications"
        assert counts["DrugGiven"] == 1 and counts["HelpCalled"] == 1  # in-role actions go through
        result, again = replay(session.recorder.log, pack=pack)
        again.close()
        assert result.ok, result.first_difference
    finally:
        session.close()


def test_remote_avatars_interpolate_between_updates():
    half = np.sqrt(0.5)
    avatars = Interpolator(delay=0.1)
    avatars.add(1.0, {"leader/p1/head": [[0.0, 1.6, 0.0], [1.0, 0.0, 0.0, 0.0]]})
    # 90 degrees about y, sent with the opposite sign (same rotation): the short arc is taken
    avatars.add(1.2, {"leader/p1/head": [[0.4, 1.6, 0.0], [-half, 0.0, -half, 0.0]]})
    pos, quat = avatars.pose("leader/p1/head")  # drawn at 1.2 - 0.1 = 1.1 s: half way
    np.testing.assert_allclose(pos, [0.2, 1.6, 0.0], atol=1e-12)
    # nlerp half way between identity and 90 deg about y is exactly the 45 deg rotation
    np.testing.assert_allclose(quat, [np.cos(np.pi / 8), 0.0, np.sin(np.pi / 8), 0.0], atol=1e-12)
    assert avatars.pose("leader/p1/head", 5.0)[0][0] == 0.4  # held at the newest update
    assert avatars.pose("nobody") is None
