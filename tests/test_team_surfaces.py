"""Streaming deforming surfaces to thin clients: quantised (0.1 mm), delta-encoded,
versioned. The decoder's positions stay within half a step of the encoder's at every frame
(integer deltas: no drift), deltas are far smaller than keyframes, a vertex count change
sends a keyframe, and a team server streams the defibrillator pads the leader attaches."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from team_common import SCENARIO, emergency_pack

from vrmed.team.client import TeamClient
from vrmed.team.server import TeamServer
from vrmed.team.surfaces import STEP_M, SurfaceDecoder, SurfaceEncoder


def _sheet(t: float, n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A 0.2 m square sheet pressed in the middle (a 1 cm travelling bump)."""
    u, v = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    z = 0.01 * np.exp(-((u - 0.05 * np.sin(t)) ** 2 + v**2) / 0.002)
    pos = np.column_stack([u.ravel(), z.ravel() + 0.9, v.ravel()])
    i = np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]
    faces = np.concatenate([np.stack([i, i + 1, i + n], -1), np.stack([i + 1, i + n + 1, i + n], -1)]).reshape(-1, 3)
    return pos, faces


def test_round_trip_is_within_half_a_step_and_deltas_are_small():
    enc, dec = SurfaceEncoder(), SurfaceDecoder()
    sizes = []
    for k in range(12):
        pos, faces = _sheet(0.05 * k)
        entries = enc.encode({"tissue/1": (pos, faces)})
        dec.apply(json.loads(json.dumps(entries)))  # through JSON, as on the wire
        assert [e["kind"] for e in entries] == (["key"] if k == 0 else ["delta"])
        sizes.append(len(json.dumps(entries)))
        assert np.abs(dec.positions("tissue/1") - pos).max() <= STEP_M / 2 + 1e-12
        assert np.array_equal(dec.faces["tissue/1"], faces)
    assert max(sizes[1:]) < sizes[0] / 3, sizes  # a delta is a fraction of a keyframe
    assert enc.encode({"tissue/1": _sheet(0.55)}) == []  # unchanged: nothing sent
    cut = _sheet(0.6, n=31)  # more vertices (a cut): a keyframe
    assert [e["kind"] for e in enc.encode({"tissue/1": cut})] == ["key"]
    gone = enc.encode({})
    assert gone == [{"key": "tissue/1", "fmt": 1, "kind": "gone"}]
    dec.apply(gone)
    assert "tissue/1" not in dec.grids
    with pytest.raises(ValueError, match="format 2 is not supported"):
        dec.apply([{**gone[0], "fmt": 2}])
    with pytest.raises(ValueError, match="before its keyframe"):
        dec.apply([{"key": "x", "fmt": 1, "kind": "delta", "n": 1, "step": STEP_M, "pos": entries[0]["pos"]}])


async def _pads():
    server = TeamServer(emergency_pack(), SCENARIO, speed=20, stream_surfaces=True)
    await server.start()
    try:
        leader = TeamClient(server.url, server.issue("leader"))
        thin = TeamClient(server.url, server.issue("recorder"), surfaces=True)
        await leader.connect()
        await thin.connect()
        await leader.act("attach_pads")
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while not any(k.startswith("defib_pads/") for k in thin.surfaces.grids):
            assert loop.time() < end, "no pads streamed"
            await asyncio.sleep(0.01)
        key = next(k for k in thin.surfaces.grids if k.startswith("defib_pads/"))
        await asyncio.sleep(0.2)
        got = thin.surfaces.positions(key)
        want = server._surfaces[key][0]
        assert leader.surfaces is None and thin.surface_error is None
        await leader.close()
        await thin.close()
    finally:
        await server.stop()
    server.session.close()
    return got, want


def test_team_server_streams_the_pads_surface():
    got, want = asyncio.run(_pads())
    assert got.shape == want.shape and np.abs(got - want).max() <= STEP_M / 2 + 1e-12
