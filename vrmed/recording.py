"""Session logs: what a replay or a re-scoring needs, and nothing it must guess.

A log is JSON Lines: a header (engine and pack versions, scenario, seed, rates, input
kind), then every input sample and every event with its simulation time, then a footer
(``end``: frame count and a digest of the final state) and a seal.

Integrity (see docs/records.md, "Threat model"):

* **Crash-safe.** ``vrmed run --record`` writes the log as the session runs (flushed every
  frame, fsynced every second), so a crash keeps everything up to it. A log without its
  end record and seal is *incomplete*: readable with ``allow_incomplete=True`` (to see
  what happened), never replayed or scored.
* **Hash-chained.** Every line ends with ``"h"``, the SHA-256 of the previous line's ``h``
  and this line's text; the seal holds the last ``h`` and the line count. Editing,
  inserting, removing or reordering a line breaks the chain at that line, and appending
  after the seal is refused. A chain is not a signature: whoever can write the file can
  recompute it, which is why ``vrmed records add`` also re-simulates the session.
* **Signed (optional).** With ``VRMED_SIGNING_KEY`` naming an Ed25519 private key (PEM,
  e.g. ``openssl genpkey -algorithm ed25519 -out sim.pem``), the seal carries a signature
  of the chain digest (``cryptography``'s Ed25519, RFC 8032), so a receiving system holding
  the public key can check which simulator recorded the session.

:meth:`SessionLog.write` writes a whole log atomically (temporary file, fsync, rename).
Logs written before the chain existed (no ``h``) are still read.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import threading
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import VrmedError
from .events import SentEvent, event_to_record
from .input import InputPlugin
from .settings import SimSettings

FORMAT = "vrmed-session/1"
#: The chain's starting value: SHA-256 of this label (so a chain cannot start mid-file).
CHAIN_SEED = hashlib.sha256(b"vrmed-session-chain/1").hexdigest()
#: Environment variable naming the simulator's Ed25519 signing key (PEM, unencrypted).
SIGNING_KEY_ENV = "VRMED_SIGNING_KEY"
#: Longest line read (bytes): a frame's input sample is a few hundred bytes.
MAX_LINE_BYTES = 1 << 20
#: Most frames a log may claim (about 31 h at 90 Hz): a log cannot make replay run forever.
MAX_FRAMES = 10_000_000
_H_SUFFIX = re.compile(r', "h": "([0-9a-f]{64})"\}$')


class SessionLogError(VrmedError):
    """A session log file is missing, truncated, tampered with or not a vrmed session log."""


def chain_step(previous: str, body: str) -> str:
    """The chain value after a line whose JSON text (without ``h``) is ``body``."""
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


def seal_message(digest: str, lines: int) -> bytes:
    """The bytes a seal signature covers."""
    return f"vrmed-session-seal/1\n{digest}\n{lines}".encode()


def _finite(value: Any) -> Any:
    # JSON has no NaN/Infinity (RFC 8259 §6): a non-finite number is written as null, so
    # a log stays valid JSON and a replay normalises the same way.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, sort_keys=True, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(record), sort_keys=True, allow_nan=False)


class _ChainWriter:
    """Writes chained lines to an open text file."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.digest = CHAIN_SEED
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        body = _dumps(record)
        self.digest = chain_step(self.digest, body)
        self.lines += 1
        self.fh.write(f'{body[:-1]}, "h": "{self.digest}"}}\n')

    def seal(self, signer: Any = None) -> dict[str, Any]:
        seal: dict[str, Any] = {"kind": "seal", "alg": "sha256-chain/1", "digest": self.digest, "lines": self.lines}
        if signer is not None:
            seal.update(signer.sign_seal(self.digest, self.lines))
        self.fh.write(_dumps(seal) + "\n")
        return seal


class Signer:
    """An Ed25519 signing key for session seals (``cryptography``; RFC 8032)."""

    def __init__(self, private_key: Any) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes_raw()
        self.public_key = base64.b64encode(raw).decode("ascii")
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def from_pem(cls, path: str | os.PathLike[str]) -> Signer:
        """Load an unencrypted Ed25519 private key (PEM), with one clear error otherwise."""
        try:
            # deferred: `cryptography` is only needed when logs are signed (extra "signing")
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            # deferred: `cryptography` is only needed for signed logs (extra "signing")
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
        except ImportError:
            raise SessionLogError(
                f"{SIGNING_KEY_ENV} is set but the 'cryptography' package is not installed "
                f"(pip install 'vrmed[signing]')"
            ) from None
        try:
            key = load_pem_private_key(Path(path).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SessionLogError(f"{path}: cannot read the signing key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SessionLogError(f"{path}: not an Ed25519 private key (openssl genpkey -algorithm ed25519)")
        return cls(key)

    @classmethod
    def from_env(cls) -> Signer | None:
        """The signer named by ``VRMED_SIGNING_KEY``, or None when it is not set."""
        path = os.environ.get(SIGNING_KEY_ENV)
        return cls.from_pem(path) if path else None

    def sign_seal(self, digest: str, lines: int) -> dict[str, str]:
        """Seal fields: the signature of the chain digest, the public key and its id."""
        sig = self._key.sign(seal_message(digest, lines))
        return {
            "signature": base64.b64encode(sig).decode("ascii"),
            "public_key": self.public_key,
            "key_id": self.key_id,
        }


def verify_signature(seal: dict[str, Any], trusted: list[bytes]) -> str:
    """Check a seal's Ed25519 signature against the ``trusted`` raw public keys; returns
    the signing key's id, or raises :class:`SessionLogError` saying what is wrong."""
    if "signature" not in seal:
        raise SessionLogError("the log is not signed, but a signature from a trusted simulator key is required")
    try:
        # deferred: `cryptography` is only needed when logs are signed (extra "signing")
        from cryptography.exceptions import InvalidSignature

        # deferred: `cryptography` is only needed for signed logs (extra "signing")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise SessionLogError("checking signed logs needs the 'cryptography' package (vrmed[signing])") from None
    try:
        raw = base64.b64decode(str(seal.get("public_key")), validate=True)
        sig = base64.b64decode(str(seal.get("signature")), validate=True)
    except ValueError:
        raise SessionLogError("the seal's signature or public key is not base64") from None
    if raw not in trusted:
        raise SessionLogError(
            f"the log is signed by key {hashlib.sha256(raw).hexdigest()[:16]}, which is not a trusted simulator key"
        )
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, seal_message(str(seal["digest"]), int(seal["lines"])))
    except (InvalidSignature, ValueError):
        raise SessionLogError("the seal's signature does not match: the log was changed after it was signed") from None
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class SessionLog:
    """A recorded session: header, input samples by frame, events, and the footer.

    ``seal`` is the seal record of a chained log (None for a log written before chains,
    or an incomplete one); ``chained`` says whether its lines carry the hash chain.
    """

    header: dict[str, Any]
    inputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    footer: dict[str, Any] | None = None
    seal: dict[str, Any] | None = None
    chained: bool = False
    #: The file it was read from (None for a log built in this process, never on disk).
    path: str | None = None

    @property
    def complete(self) -> bool:
        """True when the log has its end record (and its seal, for a chained log)."""
        return self.footer is not None and (self.seal is not None or not self.chained)

    def event_records(self) -> list[dict[str, Any]]:
        """Events as plain, JSON-normalised records (type, time, frame, data)."""
        return [_normalise({k: e[k] for k in ("t", "frame", "type", "data")}) for e in self.events]

    def _records(self) -> list[dict[str, Any]]:
        lines = [{"kind": "header", **self.header}]
        for frame in sorted(self.inputs):
            lines.append({"kind": "input", "frame": frame, **self.inputs[frame]})
        for ev in self.events:
            lines.append({"kind": "event", **ev})
        if self.footer is not None:
            lines.append({"kind": "end", **self.footer})
        return lines

    def write(self, path: str | os.PathLike[str], *, signer: Signer | None = None) -> Path:
        """Write the log atomically, chained and (when complete) sealed; returns the path.
        ``signer``: sign the seal (default: the key named by ``VRMED_SIGNING_KEY``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        signer = signer if signer is not None else Signer.from_env()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                chain = _ChainWriter(fh)
                for rec in self._records():
                    chain.write(rec)
                if self.footer is not None:
                    self.seal = chain.seal(signer)
                    self.chained = True
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> SessionLog:
        """Read a log, verifying its hash chain and seal, with an error naming the file and
        line for anything malformed or tampered with. ``allow_incomplete``: return a log
        cut short by a crash (no end record or seal) instead of refusing it."""
        path = Path(path)
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such session log"
            raise SessionLogError(f"{path}: {what}; record one with `vrmed run ... --record FILE`")
        try:
            with path.open("rb") as fh:
                return cls._parse(path, fh, allow_incomplete)
        except OSError as exc:
            raise SessionLogError(f"{path}: cannot read the session log ({exc.strerror or exc})") from None

    @classmethod
    def _parse(cls, path: Path, fh: IO[bytes], allow_incomplete: bool) -> SessionLog:
        log: SessionLog | None = None
        digest, count = CHAIN_SEED, 0
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            lineno += 1
            where = f"{path}:{lineno}"
            if len(raw) > MAX_LINE_BYTES:
                raise SessionLogError(f"{where}: line longer than {MAX_LINE_BYTES} bytes; not a vrmed session log")
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise SessionLogError(f"{where}: not UTF-8 text (byte {exc.start}); the log is corrupt") from None
            if not line.strip():
                continue
            if log is not None and log.seal is not None:
                raise SessionLogError(f"{where}: text after the seal; lines were appended to a finished log")
            rec = _loads(line, where)
            kind = rec.pop("kind", None)
            chained = "h" in rec
            if chained:
                h = rec.pop("h")
                match = _H_SUFFIX.search(line)
                if match is None or match.group(1) != h:
                    raise SessionLogError(f"{where}: malformed chain hash; the log was edited")
                digest = chain_step(digest, line[: match.start()] + "}")
                count += 1
                if digest != h:
                    raise SessionLogError(
                        f"{where}: the hash chain breaks here: this line, or one before it, was changed, "
                        f"inserted or removed after the session was recorded"
                    )
            if log is None:
                if kind != "header" or rec.get("format") != FORMAT:
                    raise SessionLogError(f"{where}: not a vrmed session log (expected a {FORMAT!r} header line first)")
                log = cls(header=rec, chained=chained, path=str(path))
                continue
            if kind == "seal":
                if not log.chained:
                    raise SessionLogError(f"{where}: a seal in a log without a hash chain")
                if rec.get("digest") != digest or rec.get("lines") != count:
                    raise SessionLogError(
                        f"{where}: the seal does not match the lines before it (lines were removed or added)"
                    )
                if log.footer is None:
                    raise SessionLogError(f"{where}: a seal without an end record")
                log.seal = rec
                continue
            if chained != log.chained:
                raise SessionLogError(
                    f"{where}: {'a chained line in an unchained log' if chained else 'a line without its chain hash'}"
                    f"; the log was edited"
                )
            if log.footer is not None:
                raise SessionLogError(f"{where}: a {kind!r} record after the end record")
            if kind == "input":
                frame = rec.pop("frame", None)
                if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame <= MAX_FRAMES:
                    raise SessionLogError(f"{where}: input record without a valid frame number")
                if not isinstance(rec.get("data"), dict):
                    raise SessionLogError(f"{where}: input record without a data mapping")
                log.inputs[frame] = rec
            elif kind == "event":
                if not all(k in rec for k in ("t", "frame", "type", "data")):
                    raise SessionLogError(f"{where}: event record needs t, frame, type and data")
                log.events.append(rec)
            elif kind == "meta":  # a header fact learned mid-session (e.g. a hot reload)
                log.header.update(rec)
            elif kind == "end":
                frames = rec.get("frames")
                if not isinstance(frames, int) or isinstance(frames, bool) or not 0 <= frames <= MAX_FRAMES:
                    raise SessionLogError(f"{where}: end record frame count must be an integer 0..{MAX_FRAMES}")
                log.footer = rec
            else:
                raise SessionLogError(f"{where}: unknown record kind {kind!r}")
        if log is None:
            raise SessionLogError(f"{path}: empty file, not a vrmed session log")
        if not allow_incomplete:
            if log.footer is None:
                raise SessionLogError(
                    f"{path}: the log has no end record; the session was cut short (incomplete: "
                    f"{len(log.inputs)} input samples, {len(log.events)} events kept) and cannot be replayed exactly"
                )
            if log.chained and log.seal is None:
                raise SessionLogError(f"{path}: the log has no seal; it was cut short after its end record")
        return log


def _loads(line: str, where: str) -> dict[str, Any]:
    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        rec = json.loads(line, parse_constant=no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise SessionLogError(f"{where}: not valid JSON ({msg}); the log is corrupt") from None
    except RecursionError:
        raise SessionLogError(f"{where}: JSON nested too deeply; the log is corrupt") from None
    if not isinstance(rec, dict):
        raise SessionLogError(f"{where}: a record must be a JSON object; the log is corrupt")
    return rec


def _fsync_quietly(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:  # the file was closed meanwhile: close() fsyncs it itself
        pass


def _normalise(value: Any) -> Any:
    return json.loads(_dumps(value) if isinstance(value, dict) else json.dumps(_finite(value), sort_keys=True))


class RecorderPlugin:
    """Records the session into a :class:`SessionLog` resource as it runs.

    Input samples come from the :class:`~vrmed.input.InputPlugin`; events are captured at
    the moment they are sent, with their simulation time.
    """

    def __init__(self, header: dict[str, Any]) -> None:
        self.log = SessionLog(header={"format": FORMAT, **header, "recorded_at": _dt.datetime.now(_dt.UTC).isoformat()})
        #: Wall-clock display frame times (ms), harvested from the App's frame timer. They go
        #: into the footer only: never the events, inputs or state digest (replay stays exact).
        self.frame_ms: list[float] = []
        self._timed = 0
        self._app: Any = None
        self._fh: IO[str] | None = None
        self._chain: _ChainWriter | None = None
        self._synced = 0.0
        self._signer: Signer | None = None
        self._fsyncer: threading.Thread | None = None
        #: The file the log is being written to as the session runs (:meth:`stream_to`).
        self.path: Path | None = None

    @property
    def streaming(self) -> bool:
        """True when the log is written to a file as the session runs."""
        return self.path is not None

    def stream_to(self, path: str | os.PathLike[str], *, signer: Signer | None = None) -> None:
        """Write the log to ``path`` as the session runs (header now, each frame's input
        and events as they happen, flushed every frame and fsynced every second), so a
        crash keeps everything up to it; :meth:`finalize` adds the end record and seal.
        ``signer``: sign the seal (default: the key named by ``VRMED_SIGNING_KEY``)."""
        path = Path(path)
        self._signer = signer if signer is not None else Signer.from_env()  # a bad key fails before the run
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise SessionLogError(f"{path}: cannot write the session log ({exc.strerror or exc})") from None
        self.path = path
        self._chain = _ChainWriter(self._fh)
        self._chain.write({"kind": "header", **self.log.header})
        for frame in sorted(self.log.inputs):  # anything recorded before streaming started
            self._chain.write({"kind": "input", "frame": frame, **self.log.inputs[frame]})
        for ev in self.log.events:
            self._chain.write({"kind": "event", **ev})
        self._sync(force=True)

    def mark(self, **facts: Any) -> None:
        """Add facts to the header mid-session (e.g. ``hot_reloaded=True``); a streamed log
        gets them as a ``meta`` line, which readers merge into the header."""
        self.log.header.update(facts)
        if self._chain is not None:
            self._chain.write({"kind": "meta", **facts})

    def _sync(self, force: bool = False) -> None:
        if self._fh is None:
            return
        self._fh.flush()  # in the OS: survives the process being killed
        now = _time.monotonic()
        if force:
            if self._fsyncer is not None:
                self._fsyncer.join()
            os.fsync(self._fh.fileno())
            self._synced = now
        elif now - self._synced >= 1.0 and (self._fsyncer is None or not self._fsyncer.is_alive()):
            # On disk once a second (survives a power cut), off the frame loop: an fsync can
            # take milliseconds, a visible hitch in a headset. fsync releases the GIL.
            self._fsyncer = threading.Thread(target=_fsync_quietly, args=(self._fh.fileno(),), daemon=True)
            self._fsyncer.start()
            self._synced = now

    def close(self) -> None:
        """Stop streaming (the file keeps what was written; without a seal it is incomplete)."""
        if self._fh is not None:
            try:
                self._sync(force=True)
            finally:
                self._fh.close()
                self._fh = None
                self._chain = None

    def build(self, app: Any) -> None:
        """Insert the SessionLog resource and hook into events and input."""
        app.insert_resource(self.log)
        self._app = app
        timer = getattr(app, "_frame_timer", None)
        self._timed = timer.count if timer is not None else 0
        app.events.listen(self._on_event)
        source = app.try_resource(InputPlugin)
        if source is None:
            raise VrmedError("RecorderPlugin needs the InputPlugin: add InputPlugin before RecorderPlugin")
        source.listen(self._on_input)
        for key, value in app.resource(SimSettings).header().items():
            self.log.header.setdefault(key, value)
        self.log.header.setdefault("seed", app.seed)

    def _on_event(self, sent: SentEvent) -> None:
        record = {"seq": sent.seq, **event_to_record(sent)}
        self.log.events.append(record)
        if self._chain is not None:
            self._chain.write({"kind": "event", **record})

    def _on_input(self, frame: int, time: float, sample: dict[str, Any]) -> None:
        self._harvest_frame_times()
        if sample:
            self.log.inputs[frame] = {"t": time, "data": _normalise(sample)}
            if self._chain is not None:
                self._chain.write({"kind": "input", "frame": frame, **self.log.inputs[frame]})
        self._sync()

    def finalize(self, app: Any) -> SessionLog:
        """Close the log with the frame count, simulation time and final-state digest."""
        self.log.footer = {
            "frames": app.clock.frame,
            "sim_time": float(app.clock.frame_time),
            "digest": app.state_digest(),
            # wall-clock end: xAPI statement times are real times even for faster-than-real-time runs
            "ended_at": _dt.datetime.now(_dt.UTC).isoformat(),
            **self.frame_stats(app),
        }
        if self._chain is not None:
            self._chain.write({"kind": "end", **self.log.footer})
            self.log.seal = self._chain.seal(self._signer)
            self.log.chained = True
            self.close()
        return self.log

    def _harvest_frame_times(self) -> None:
        """Copy the frame times the App measured since the last call (every frame, from the
        input listener, so the App's ring buffer never wraps past unread ones)."""
        timer = getattr(self._app, "_frame_timer", None)
        if timer is None:
            return
        cap = timer.samples.shape[0]
        start = max(self._timed, timer.count - cap)
        for i in range(start, timer.count):
            self.frame_ms.append(float(timer.samples[i % cap]) / 1e6)
        self._timed = timer.count

    def frame_stats(self, app: Any) -> dict[str, Any]:
        """Wall-clock frame statistics for the footer: ``frame_ms`` (mean, p50, p99, max),
        ``dropped_frames`` (frames longer than 1 / ``target_hz``) and ``target_hz`` (the
        :class:`~vrmed.xr.comfort.ComfortSettings` refresh rate, else the display rate)."""
        # The XR package is not imported here: it imports the scenario package (the headset
        # pointer), which imports this module: an import cycle. A session with comfort
        # settings has loaded vrmed.xr.comfort already.
        comfort_module = sys.modules.get("vrmed.xr.comfort")
        self._harvest_frame_times()
        comfort = app.try_resource(comfort_module.ComfortSettings) if comfort_module is not None else None
        target = (
            comfort.refresh_hz
            if comfort is not None and comfort.refresh_hz
            else float(app.resource(SimSettings).display_rate)
        )
        times = np.asarray(self.frame_ms, dtype=float)
        if times.size:
            stats = {
                "mean": float(times.mean()),
                "p50": float(np.percentile(times, 50)),
                "p99": float(np.percentile(times, 99)),
                "max": float(times.max()),
            }
        else:
            stats = {"mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
        period_ms = 1000.0 / float(target)
        return {
            "frame_ms": {k: round(v, 3) for k, v in stats.items()},
            "timed_frames": int(times.size),
            "dropped_frames": int((times > period_ms).sum()),
            "target_hz": float(target),
        }
