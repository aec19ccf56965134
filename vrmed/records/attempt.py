"""An attempt: one scored session of one learner (pseudonymous), as stored locally."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..recording import SessionLog
from .errors import RecordsStoreError
from .scoring import AttemptScore

#: Namespace of attempt ids (UUIDv5 over learner pseudonym and session id).
ATTEMPT_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/vrmed/xapi/attempts")


def session_id(log: SessionLog) -> str:
    """SHA-256 of the log's canonical JSON (header, inputs, events, footer): the same
    recorded session always has the same id, a different one (another start time, seed or
    input) never does."""
    canonical = json.dumps(
        {
            "header": log.header,
            "inputs": {str(k): v for k, v in sorted(log.inputs.items())},
            "events": log.events,
            "footer": log.footer,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """A scored attempt. ``learner`` is always a pseudonym, never the learner's id."""

    attempt_id: str
    learner: str
    session_id: str
    pack: str
    pack_version: str
    scenario: str
    engine: str
    seed: int
    started: str
    sim_time: float
    score: AttemptScore
    skill: str
    difficulty: dict[str, Any] | None = None
    statement_ids: list[str] = field(default_factory=list)
    #: "formative" (live cues shown) or "exam" (none); logs from before modes: "formative".
    mode: str = "formative"
    #: Who acted: "person" or "scripted" (a scripted learner is not a person's attempt).
    learner_kind: str = "scripted"
    #: The input path: desktop, openxr, scripted, replay...
    input: str = ""
    #: Wall-clock end of the session (the log footer's ``ended_at``; "" for older logs).
    ended: str = ""

    def ended_at(self) -> _dt.datetime:
        """When the session ended (wall clock; the start when no end was recorded)."""
        if not self.ended:
            return self.started_at()
        when = _dt.datetime.fromisoformat(self.ended.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=_dt.UTC)

    def started_at(self) -> _dt.datetime:
        """When the session started (from the log header's ``recorded_at``)."""
        when = _dt.datetime.fromisoformat(self.started.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=_dt.UTC)

    @property
    def level(self) -> float | None:
        """The difficulty level the attempt was played at (0 easiest, 1 hardest), if recorded."""
        if self.difficulty and isinstance(self.difficulty.get("level"), (int, float)):
            return float(self.difficulty["level"])
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the stored file's content)."""
        return {
            "format": "vrmed-attempt/1",
            "attempt_id": self.attempt_id,
            "learner": self.learner,
            "session_id": self.session_id,
            "pack": self.pack,
            "pack_version": self.pack_version,
            "scenario": self.scenario,
            "engine": self.engine,
            "seed": self.seed,
            "started": self.started,
            "sim_time": self.sim_time,
            "score": self.score.to_dict(),
            "skill": self.skill,
            "difficulty": self.difficulty,
            "statement_ids": list(self.statement_ids),
            "mode": self.mode,
            "learner_kind": self.learner_kind,
            "input": self.input,
            "ended": self.ended,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Attempt:
        """Rebuild from ``to_dict`` output; ``where`` names the file in errors."""
        if not isinstance(data, dict) or data.get("format") != "vrmed-attempt/1":
            raise RecordsStoreError(f"{where}: not a vrmed attempt record")
        try:
            sc = data["score"]
            score = AttemptScore(
                float(sc["score"]),
                float(sc["max_score"]),
                bool(sc["passed"]),
                dict(sc.get("metrics", {})),
                dict(sc.get("targets", {})),
                dict(sc.get("directions", {})),
                sc.get("rubric"),
            )
            return cls(
                str(data["attempt_id"]),
                str(data["learner"]),
                str(data["session_id"]),
                str(data["pack"]),
                str(data["pack_version"]),
                str(data["scenario"]),
                str(data["engine"]),
                int(data["seed"]),
                str(data["started"]),
                float(data["sim_time"]),
                score,
                str(data["skill"]),
                data.get("difficulty"),
                list(data.get("statement_ids", [])),
                mode=str(data.get("mode", "formative")),
                learner_kind=str(data.get("learner_kind", "scripted")),
                input=str(data.get("input", "")),
                ended=str(data.get("ended") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordsStoreError(
                f"{where}: attempt record is incomplete ({exc!r}); restore it from a backup or re-add the session log"
            ) from None


def make_attempt(log: SessionLog, learner: str, score: AttemptScore, *, skill: str | None = None) -> Attempt:
    """The attempt of pseudonymous ``learner`` for a recorded, scored session."""
    h, footer = log.header, log.footer or {}
    sid = session_id(log)
    pack, scenario = str(h.get("pack")), str(h.get("scenario"))
    difficulty = h.get("difficulty") if isinstance(h.get("difficulty"), dict) else None
    return Attempt(
        attempt_id=str(uuid.uuid5(ATTEMPT_NS, f"{learner}/{sid}")),
        learner=learner,
        session_id=sid,
        pack=pack,
        pack_version=str(h.get("pack_version")),
        scenario=scenario,
        engine=str(h.get("engine")),
        seed=int(h.get("seed", 0)),
        started=str(h.get("recorded_at") or "1970-01-01T00:00:00+00:00"),
        sim_time=float(footer.get("sim_time", 0.0)),
        score=score,
        skill=skill or f"{pack}/{scenario}",
        difficulty=difficulty,
        mode=str(h.get("mode", "formative")),
        learner_kind=str(h.get("learner", "scripted")),
        input=str(h.get("input") or ""),
        ended=str(footer.get("ended_at") or ""),
    )
