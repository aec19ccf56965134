"""Voice push-to-talk: a clip (a WAV file, as a scripted client sends it) goes to the
server in parts, is stored beside the session log under its SHA-256, relayed to the other
members intact, recorded as ``VoiceCallOut`` with its hash (the replay stays exact), and
listed for the debrief with its file checked against the hash. No speech recognition."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from click.testing import CliRunner
from team_common import SCENARIO, emergency_pack

from vrmed.cli import cli
from vrmed.errors import VrmedError
from vrmed.recording import SessionLog
from vrmed.session import replay
from vrmed.team.client import TeamClient
from vrmed.team.server import TeamServer
from vrmed.team.voice import PART_BYTES, ClipPlayer, clip_hash, pcm_wav, voice_clips, voice_dir


def _tone(seconds: float, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return pcm_wav((8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes(), rate)


async def _session(folder):
    server = TeamServer(emergency_pack(), SCENARIO, speed=20, voice_dir=folder)
    await server.start()
    try:
        leader = TeamClient(server.url, server.issue("leader"))
        airway = TeamClient(server.url, server.issue("airway"))
        await leader.connect()
        await airway.connect()
        clip = _tone(2.0)  # 64 kB: more than one part
        assert len(clip) > PART_BYTES
        with pytest.raises(VrmedError, match="not a PCM WAV clip"):
            await leader.send_voice(b"RIFF....not a wav")
        sha = await leader.send_voice(clip)
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while sha not in airway.voice or not any(e["type"] == "VoiceCallOut" for e in airway.events):
            assert loop.time() < end, "the clip was not relayed"
            await asyncio.sleep(0.02)
        assert airway.voice[sha] == (leader.client, "leader", clip)  # relayed intact
        assert sha not in leader.voice  # not echoed to the speaker
        # what the console's audio players get (GET /voice/SHA.wav): the stored clip, hash-checked
        assert server.clip(sha) == clip
        stored = folder / f"{sha}.wav"
        stored.write_bytes(clip[:-2] + b"\x00\x00")
        with pytest.raises(VrmedError, match="does not match its hash"):
            server.clip(sha)
        stored.write_bytes(clip)
        with pytest.raises(VrmedError, match="no clip 000000000000"):
            server.clip("0" * 64)
        who = leader.client
        await leader.close()
        await airway.close()
    finally:
        await server.stop()
    log = server.finish()
    server.session.close()
    return log, sha, clip, who


def test_clip_is_stored_relayed_recorded_and_listed(tmp_path):
    path = tmp_path / "team.jsonl"
    log, sha, clip, who = asyncio.run(_session(voice_dir(path)))
    assert sha == clip_hash(clip) and (tmp_path / "team.voice" / f"{sha}.wav").read_bytes() == clip
    said = [e["data"] for e in log.events if e["type"].endswith(":VoiceCallOut")]
    assert said == [{"client": who, "role": "leader", "sha256": sha, "duration_s": 2.0}]
    log.write(path)
    clips = voice_clips(SessionLog.read(path))
    assert [(c.client, c.role, c.duration_s, c.verified) for c in clips] == [(who, "leader", 2.0, True)]
    res = CliRunner().invoke(cli, ["team-voice", str(path)])
    assert res.exit_code == 0 and f"leader       {who}   2.0 s" in res.output and "MISSING" not in res.output, (
        res.output
    )
    clips[0].path.write_bytes(clip[:-2] + b"\x00\x00")  # an edited clip no longer matches the log
    assert not voice_clips(SessionLog.read(path))[0].verified
    assert "MISSING OR CHANGED" in CliRunner().invoke(cli, ["team-voice", str(path)]).output
    result, again = replay(log, pack=emergency_pack())  # the hash is in the log, the audio beside it
    again.close()
    assert result.ok, result.first_difference


def test_relayed_clips_play_one_after_another_or_show_as_text():
    """The desktop window's player starts each teammate's clip once, in arrival order, only
    after the previous one has had its duration; without an audio output (or when it fails)
    each call-out is shown as text with its speaker and duration; a clip that is not a WAV
    is named, not played."""
    a, b = _tone(0.5), _tone(1.5)
    voice = {clip_hash(a): ("c1", "leader", a), clip_hash(b): ("c2", "airway", b)}
    started: list[tuple[int, int, float]] = []
    said: list[str] = []
    player = ClipPlayer(lambda samples, rate: started.append((len(samples), rate, float(samples.max()))))
    player.offer(voice)
    player.poll(10.0, said.append)
    assert started == [(8000, 16000, 8000.0)] and said == ["leader c1 speaking (0.5 s)"]
    player.poll(10.49, said.append)  # still playing the first
    assert len(started) == 1
    player.offer(voice)  # the same clips again: not replayed
    player.poll(10.5, said.append)
    player.poll(20.0, said.append)
    assert [n for n, _, _ in started] == [8000, 24000] and said[-1] == "airway c2 speaking (1.5 s)"
    assert player.handled == [(clip_hash(a), 0.5, True), (clip_hash(b), 1.5, True)]

    quiet, text = ClipPlayer(audio=False), []
    quiet.offer({**voice, "bad": ("c3", "recorder", b"RIFF....not a wav")})
    quiet.poll(0.0, text.append)  # no audio: every call-out is shown at once
    assert text[:2] == [
        "leader c1: voice call-out, 0.5 s (audio off; the server keeps the clip with the session log)",
        "airway c2: voice call-out, 1.5 s (audio off; the server keeps the clip with the session log)",
    ]
    assert text[2].startswith("recorder c3: a voice call-out that cannot be played (not a PCM WAV clip")

    def broken(samples, rate):
        raise RuntimeError("device unplugged")

    failing, text = ClipPlayer(broken), []
    failing.offer(voice)
    failing.poll(0.0, text.append)
    assert text[0].startswith("leader c1: voice call-out, 0.5 s (audio output failed: device unplugged")
    assert failing.handled[0][2] is False
