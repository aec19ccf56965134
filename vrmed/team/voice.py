"""Voice push-to-talk in a shared session: recorded clips, not speech recognition.

A client records a clip (from the microphone through ``sounddevice``, PortAudio's Python
binding, when it is installed: :func:`record_microphone`; or a WAV file, for scripted
clients and tests) and sends it in ``voice`` messages (base64 parts of at most
:data:`PART_BYTES`, so every message stays under the protocol's 64 KiB). The server
checks it is a PCM WAV of at most :data:`MAX_CLIP_S` seconds, names it by its SHA-256,
stores it beside the session log (``team.jsonl`` -> ``team.voice/SHA256.wav``), relays it
to every other member (through each member's writer, so a slow client never slows the
others), and queues a ``team.voice`` request tagged with the speaker in the recorded
input sample: the team plugin records ``VoiceCallOut(client, role, sha256, duration_s)``,
so the log holds who spoke when and the hash of what was said, and the replay repeats the
event without the audio. :func:`voice_clips` lists a log's clips with their files (each
checked against its hash) for the debrief; ``vrmed team-voice LOG --play`` plays them in
order. Nothing is transcribed: the words are for the people in the debrief.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VrmedError
from ..events import Event
from ..recording import SessionLog

#: Request id of a voice call-out (the team plugin records it; any role may speak).
VOICE = "team.voice"
#: Longest clip (s) and largest clip file accepted.
MAX_CLIP_S = 30.0
MAX_CLIP_BYTES = 2 * 1024 * 1024
#: Audio bytes per ``voice`` message (base64 makes it 4/3 larger: 60 KB, under 64 KiB).
PART_BYTES = 45_000
#: Microphone recording format: 16 kHz mono 16-bit PCM (wideband speech, ITU-T G.722's band).
MIC_RATE = 16_000


@dataclass(frozen=True)
class VoiceCallOut(Event):
    """A team member's push-to-talk clip: who, in which role, the SHA-256 of the WAV file
    (stored beside the session log) and its length."""

    client: str
    role: str
    sha256: str
    duration_s: float


def wav_duration(data: bytes) -> float:
    """The length (s) of a PCM WAV clip; a :class:`VrmedError` says why it is not one."""
    if len(data) > MAX_CLIP_BYTES:
        raise VrmedError(f"the clip is {len(data)} bytes; at most {MAX_CLIP_BYTES} are accepted")
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames, rate = w.getnframes(), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise VrmedError(f"not a PCM WAV clip ({exc})") from None
    if rate <= 0:
        raise VrmedError("the WAV clip has no sample rate")
    duration = frames / rate
    if duration > MAX_CLIP_S:
        raise VrmedError(f"the clip is {duration:.1f} s; push-to-talk clips are at most {MAX_CLIP_S:g} s")
    return duration


def clip_hash(data: bytes) -> str:
    """The clip's name: SHA-256 of its bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def parts(data: bytes) -> list[str]:
    """A clip as base64 parts for ``voice`` messages."""
    return [base64.b64encode(data[i : i + PART_BYTES]).decode() for i in range(0, max(len(data), 1), PART_BYTES)]


class ClipAssembler:
    """Collects one sender's ``voice`` parts into clips (bounded by :data:`MAX_CLIP_BYTES`)."""

    def __init__(self) -> None:
        self._parts: dict[str, list[bytes]] = {}

    def add(self, msg: dict[str, Any]) -> bytes | None:
        """Add one ``voice`` message {clip, part, last, data}; the whole clip once ``last``."""
        clip, part, data = msg.get("clip"), msg.get("part"), msg.get("data")
        if not isinstance(clip, str) or not 0 < len(clip) <= 64:
            raise ValueError("voice needs clip, an id of 1-64 characters")
        if not isinstance(part, int) or isinstance(part, bool) or not isinstance(data, str):
            raise ValueError("voice needs part (a whole number) and data (base64)")
        chunks = self._parts.setdefault(clip, [])
        if part != len(chunks):
            del self._parts[clip]
            raise ValueError(f"voice part {part} of clip {clip!r} out of order (expected {len(chunks)})")
        try:
            chunks.append(base64.b64decode(data, validate=True))
        except ValueError:
            del self._parts[clip]
            raise ValueError("voice data is not base64") from None
        if sum(map(len, chunks)) > MAX_CLIP_BYTES or len(self._parts) > 4:
            del self._parts[clip]
            raise ValueError(f"voice clip over {MAX_CLIP_BYTES} bytes (or too many clips at once)")
        if msg.get("last") is True:
            return b"".join(self._parts.pop(clip))
        return None


def record_microphone(seconds: float, rate: int = MIC_RATE) -> bytes:
    """Record ``seconds`` from the default microphone as a mono 16-bit WAV (needs the
    ``sounddevice`` package and PortAudio; a :class:`VrmedError` says so otherwise)."""
    if not 0.0 < seconds <= MAX_CLIP_S:
        raise VrmedError(f"a clip is 0 to {MAX_CLIP_S:g} s, not {seconds:g}")
    try:
        import sounddevice  # deferred: optional (pip install sounddevice; PortAudio), only to record
    except (ImportError, OSError) as exc:
        raise VrmedError(f"recording from the microphone needs sounddevice and PortAudio ({exc})") from None
    samples = sounddevice.rec(int(seconds * rate), samplerate=rate, channels=1, dtype="int16")
    sounddevice.wait()
    return pcm_wav(samples.tobytes(), rate)


def pcm_wav(pcm16: bytes, rate: int) -> bytes:
    """Mono 16-bit little-endian PCM samples as WAV file bytes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)
    return buf.getvalue()


def voice_dir(log_path: str | Path) -> Path:
    """Where a session log's clips are stored: ``team.jsonl`` -> ``team.voice/``."""
    path = Path(log_path)
    return path.with_name(path.stem + ".voice")


@dataclass(frozen=True)
class Clip:
    """One push-to-talk clip of a session: when, who, the file and whether it matches its hash."""

    t: float
    client: str
    role: str
    sha256: str
    duration_s: float
    path: Path
    verified: bool


def voice_clips(log: SessionLog, folder: str | Path | None = None) -> list[Clip]:
    """The clips a log records, in order, with their files (``folder``, default beside the
    log) and whether each file's SHA-256 is the one the log holds (an edited or missing
    file is not ``verified``)."""
    if folder is None:
        if log.path is None:
            raise VrmedError("give the folder of the clips (the log was not read from a file)")
        folder = voice_dir(log.path)
    base = Path(folder)
    out = []
    for e in log.event_records():
        if not e["type"].endswith(":VoiceCallOut"):
            continue
        d = e["data"]
        path = base / f"{d['sha256']}.wav"
        ok = path.is_file() and clip_hash(path.read_bytes()) == d["sha256"]
        out.append(Clip(float(e["t"]), d["client"], d["role"], d["sha256"], float(d["duration_s"]), path, ok))
    return out


def pcm16(data: bytes) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV clip's samples (frames, channels) and rate; a :class:`VrmedError`
    says why it cannot be played here (not a WAV, too long, not 16-bit)."""
    wav_duration(data)
    with wave.open(io.BytesIO(data)) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise VrmedError("only 16-bit clips can be played here; the file plays in any audio player")
    return np.frombuffer(raw, "<i2").reshape(-1, channels), rate


def play(data: bytes) -> None:
    """Play a WAV clip on the default output (sounddevice; a :class:`VrmedError` without it)."""
    try:
        import sounddevice  # deferred: optional (pip install sounddevice; PortAudio), only to play
    except (ImportError, OSError) as exc:
        raise VrmedError(f"playing clips needs sounddevice and PortAudio ({exc}); the files are ordinary WAV") from None
    samples, rate = pcm16(data)
    sounddevice.play(samples, rate)
    sounddevice.wait()


class ClipPlayer:
    """Plays teammates' relayed clips live, in the order they arrive, one after another,
    without blocking the caller's loop (the desktop team window calls :meth:`poll` every
    frame). ``output(samples, rate)`` starts playback and returns at once (default:
    ``sounddevice.play``, which stops a clip still playing: hence the queue); without an
    output (``sounddevice``/PortAudio missing, or ``audio=False``) each call-out is shown
    as text with its speaker and duration instead, so no call-out goes unnoticed."""

    def __init__(self, output: Callable[[np.ndarray, int], Any] | None = None, *, audio: bool = True) -> None:
        self.unavailable: str | None = None
        if output is None and audio:
            try:
                import sounddevice  # deferred: optional (pip install sounddevice; PortAudio), only to play
            except (ImportError, OSError) as exc:
                self.unavailable = f"no audio output: {exc}"
            else:
                output = sounddevice.play
        elif output is None:
            self.unavailable = "audio off"
        self._output = output
        self._queue: deque[tuple[str, str, str, bytes]] = deque()
        self._seen: set[str] = set()
        self._busy_until = -math.inf
        #: (sha256, duration_s, played aloud) of every clip handled, in order
        self.handled: list[tuple[str, float, bool]] = []

    def offer(self, voice: dict[str, tuple[str, str, bytes]]) -> None:
        """Queue the clips of ``voice`` (``TeamClient.voice``: sha256 -> (client, role,
        WAV), in arrival order) not offered before."""
        for sha in list(voice):  # a copy: the client's reader may add clips meanwhile
            if sha not in self._seen:
                self._seen.add(sha)
                client, role, wav = voice[sha]
                self._queue.append((sha, client, role, wav))

    def poll(self, now: float, notice: Callable[[str], None]) -> None:
        """Start the next queued clip once the one playing has ended (``now``: a monotonic
        clock in seconds); say who speaks, for how long, and, without audio, that it is text only."""
        while self._queue and now >= self._busy_until:
            sha, client, role, wav = self._queue.popleft()
            try:
                samples, rate = pcm16(wav)
            except VrmedError as exc:
                notice(f"{role} {client}: a voice call-out that cannot be played ({exc})")
                continue
            duration = len(samples) / rate
            aloud = False
            if self._output is not None:
                try:
                    self._output(samples, rate)
                    aloud = True
                except Exception as exc:  # noqa: BLE001 (PortAudioError: the device went away; fall back to text)
                    self.unavailable, self._output = f"audio output failed: {exc}", None
            self.handled.append((sha, duration, aloud))
            if aloud:
                notice(f"{role} {client} speaking ({duration:.1f} s)")
                self._busy_until = now + duration
            else:
                why = f"{self.unavailable}; the server keeps the clip with the session log"
                notice(f"{role} {client}: voice call-out, {duration:.1f} s ({why})")
