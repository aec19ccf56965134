"""`vrmed serve` with the scenario's scripted team in-process, recorded, then `vrmed replay`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vrmed.cli import cli
from vrmed.team.commands import _value


@pytest.mark.slow
def test_serve_a_scripted_team_records_a_log_that_replays(tmp_path):
    log = tmp_path / "team.jsonl"
    slots = ["leader", "compressor.1", "compressor.2", "airway", "medications"]
    args = ["serve", "emergency/code_blue_team", "--port", "0", "--speed", "200", "--record", str(log)]
    for slot in slots:
        args += ["--scripted", slot]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert out.output.count("token compressor.") == 2 and "instructor console: http://127.0.0.1:" in out.output
    result = json.loads(out.output[out.output.index("{") :])
    assert all(rule["passed"] for rule in result["team"].values()), result["team"]
    again = CliRunner().invoke(cli, ["replay", str(log)])
    assert again.exit_code == 0 and "replay OK" in again.output, again.output


def test_serve_refuses_a_scenario_without_a_team():
    out = CliRunner().invoke(cli, ["serve", "emergency/code_blue", "--port", "0"])
    assert out.exit_code == 1 and "declares no team" in out.output


def test_stdin_values_are_typed():
    assert (_value("200"), _value("0.5"), _value("iv")) == (200, 0.5, "iv")


@pytest.mark.slow
def test_join_plays_a_scripted_slot_and_refuses_a_wrong_one():
    import asyncio
    import threading

    from team_common import emergency_pack

    from vrmed.errors import VrmedError
    from vrmed.team.commands import join
    from vrmed.team.server import TeamServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = TeamServer(emergency_pack(), "code_blue_team", speed=20)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        lines: list[str] = []
        sent = join(server.url, server.issue("airway"), scripted="airway", echo=lines.append)
        assert sent == 3 and lines[0].startswith("joined as p") and "(airway)" in lines[0]
        with pytest.raises(VrmedError, match="not the role this token grants"):
            join(server.url, server.issue("recorder"), scripted="airway", echo=lines.append)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    acted = [e["data"]["action"] for e in server.finish().events if e["type"].endswith(":TeamActed")]
    server.session.close()
    assert acted == ["acknowledge", "airway", "report"]
