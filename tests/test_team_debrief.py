"""Debrief with every learner's view: a shared session's replay rendered from each member's
recorded head pose (headless EGL), the other members drawn where they were; the replay
stays exact while it draws, and the console's debrief player (a worker process) draws the
same pixels."""

from __future__ import annotations

import asyncio
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from team_common import SCENARIO, emergency_pack

from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.session import build_session
from vrmed.team.debrief import head_camera, recorded_views, render_views
from vrmed.team.player import DebriefPlayer
from vrmed.team.server import TeamInput

IDENTITY = [1.0, 0.0, 0.0, 0.0]  # looking along -Z


def read_png(path) -> np.ndarray:
    """An RGB PNG as vrmed.render.png writes them (8-bit, filter type 0 on every row)."""
    data, pos, idat, size = path.read_bytes(), 8, b"", (0, 0)
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(h, w, 3)


def _shared_log():
    """1.5 s of a shared session: the leader's head 1 m behind the compressor's, both
    looking along -Z (the leader sees the compressor's head in the middle of the view)."""
    source = TeamInput()
    session = build_session(emergency_pack(), SCENARIO, input_source=source, learner="person", display_rate=20)
    try:
        source.push("p00000001", "leader", {"head": {"position": [0.0, 1.7, 1.0], "orientation": IDENTITY}}, [])
        source.push("p00000002", "compressor", {"head": {"position": [0.0, 1.7, 0.0], "orientation": IDENTITY}}, [])
        session.run(seconds=1.5)
        return session.finish()
    finally:
        session.close()


async def _snapshot(player, t):
    return await player.request(t)


@pytest.mark.slow
def test_each_members_view_is_rendered_from_their_head_and_the_replay_stays_exact(tmp_path):
    log = _shared_log()
    assert recorded_views(log) == {"p00000001": "leader", "p00000002": "compressor"}
    try:
        written, result = render_views(log, tmp_path, [1.0], pack=emergency_pack(), width=96, height=72, samples=1)
    except VrmedError as exc:  # pragma: no cover - a machine without EGL
        pytest.skip(f"no headless GL: {exc}")
    assert result.ok, result.first_difference
    leader = read_png(written["p00000001"][0]).astype(int)
    compressor = read_png(written["p00000002"][0]).astype(int)
    assert leader.shape == (72, 96, 3)
    # the compressor's head (blue sphere, 0.11 m at 1 m: about 9 px across) fills the middle
    # of the leader's view; the compressor, looking away, sees no one there
    r, g, b = leader[36, 48]
    assert b > r + 60 and b > g + 30, (r, g, b)
    r2, g2, b2 = compressor[36, 48]
    assert not (b2 > r2 + 60 and b2 > g2 + 30), (r2, g2, b2)
    # the console's player (a worker process) draws the same pixels at the same frame, and
    # a seek back replays from frame 0 again; the replay stays exact
    player = DebriefPlayer(emergency_pack(), log, ["patient"], width=96, height=72, samples=1)
    try:
        with pytest.raises(VrmedError, match=r"t must be 0 to 1\.50 s \(the recorded session\), got 2"):
            player.frame_of(2.0)
        snap = asyncio.run(_snapshot(player, 0.99))  # rounded up to the next frame
        assert (snap.t, snap.frame, snap.exact, snap.rebuilt) == (1.0, 20, True, True)
        assert snap.events == sum(1 for e in log.events if e["frame"] < 20)
        for client, path in (("p00000001", written["p00000001"][0]), ("p00000002", written["p00000002"][0])):
            (tmp_path / "player.png").write_bytes(snap.images[client])
            assert np.array_equal(read_png(tmp_path / "player.png"), read_png(path)), client
        assert snap.watch["patient"]["Patient.rhythm"] == "sinus"
        back = asyncio.run(_snapshot(player, 0.5))
        assert (back.frame, back.exact, back.rebuilt) == (10, True, True)
    finally:
        player.close()
    with pytest.raises(VrmedError, match="no recorded head pose for p0000000f"):
        render_views(log, tmp_path, [1.0], clients=["p0000000f"], pack=emergency_pack())
    path = log.write(tmp_path / "team.jsonl")
    res = CliRunner().invoke(cli, ["team-views", str(path), "--at", "1", "--out", str(tmp_path), "--size", "big"])
    assert res.exit_code == 2 and "give WxH" in res.output, res.output


def test_head_camera_follows_the_pose():
    half_turn = [0.0, 0.0, 1.0, 0.0]  # 180 degrees about +Y: looking along +Z
    cam = head_camera([1.0, 1.6, 0.0], half_turn)
    assert np.allclose(cam.target - cam.position, [0.0, 0.0, 1.0]) and np.allclose(cam.up, [0.0, 1.0, 0.0])
