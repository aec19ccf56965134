"""Session logs: what a replay or a re-scoring needs, and nothing it must guess.

A log is JSON Lines: a header (engine and pack versions, scenario, seed, rates, input
kind), then every input sample and every event with its simulation time, then a footer
with the frame count and a digest of the final state. Files are written atomically (a
temporary file renamed into place) so a crash never leaves a learner's record half-written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import VrmedError
from .events import SentEvent, event_to_record
from .input import InputPlugin
from .settings import SimSettings

FORMAT = "vrmed-session/1"


class SessionLogError(VrmedError):
    """A session log file is missing, truncated or not a vrmed session log."""


@dataclass
class SessionLog:
    """A recorded session: header, input samples by frame, events, and the footer."""

    header: dict[str, Any]
    inputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    footer: dict[str, Any] | None = None

    def event_records(self) -> list[dict[str, Any]]:
        """Events as plain, JSON-normalised records (type, time, frame, data)."""
        return [_normalise({k: e[k] for k in ("t", "frame", "type", "data")}) for e in self.events]

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the log atomically; returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"kind": "header", **self.header}, sort_keys=True)]
        for frame in sorted(self.inputs):
            lines.append(json.dumps({"kind": "input", "frame": frame, **self.inputs[frame]}, sort_keys=True))
        for ev in self.events:
            lines.append(json.dumps({"kind": "event", **ev}, sort_keys=True))
        if self.footer is not None:
            lines.append(json.dumps({"kind": "end", **self.footer}, sort_keys=True))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SessionLog:
        """Read a log, with an error naming the file and line for anything malformed."""
        path = Path(path)
        if not path.is_file():
            raise SessionLogError(f"{path}: no such session log; record one with `vrmed run ... --record FILE`")
        log: SessionLog | None = None
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SessionLogError(f"{path}:{lineno}: not valid JSON ({exc.msg}); the log is corrupt") from None
                kind = rec.pop("kind", None) if isinstance(rec, dict) else None
                if log is None:
                    if kind != "header" or rec.get("format") != FORMAT:
                        raise SessionLogError(
                            f"{path}:{lineno}: not a vrmed session log (expected a {FORMAT!r} header line first)"
                        )
                    log = cls(header=rec)
                elif kind == "input":
                    log.inputs[int(rec.pop("frame"))] = rec
                elif kind == "event":
                    log.events.append(rec)
                elif kind == "end":
                    log.footer = rec
                else:
                    raise SessionLogError(f"{path}:{lineno}: unknown record kind {kind!r}")
        if log is None:
            raise SessionLogError(f"{path}: empty file, not a vrmed session log")
        if log.footer is None:
            raise SessionLogError(
                f"{path}: the log has no end record; the session was cut short and cannot be replayed exactly"
            )
        return log


def _normalise(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


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
        self.log.events.append({"seq": sent.seq, **event_to_record(sent)})

    def _on_input(self, frame: int, time: float, sample: dict[str, Any]) -> None:
        self._harvest_frame_times()
        if sample:
            self.log.inputs[frame] = {"t": time, "data": _normalise(sample)}

    def finalize(self, app: Any) -> SessionLog:
        """Close the log with the frame count, simulation time and final-state digest."""
        self.log.footer = {
            "frames": app.clock.frame,
            "sim_time": float(app.clock.frame_time),
            "digest": app.state_digest(),
            **self.frame_stats(app),
        }
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
        # deferred: keeps the XR package (~10 ms) out of `import vrmed` and `vrmed --help`
        from .xr.comfort import ComfortSettings

        self._harvest_frame_times()
        comfort = app.try_resource(ComfortSettings)
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
