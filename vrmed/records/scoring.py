"""Scoring a recorded session with its pack's ``score(log)``.

Convention: a pack's ``systems.py`` may define ``score(log: SessionLog) -> dict`` returning
``{"score", "max_score", "passed", "metrics": {name: float}, "targets": {name: float}}``,
computed only from the log so that stored sessions can be re-scored later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..packs.loader import Pack, load_pack
from ..recording import SessionLog
from ..session import open_target
from .errors import ScoringError


@dataclass(frozen=True)
class AttemptScore:
    """A validated ``score(log)`` result."""

    score: float
    max_score: float
    passed: bool
    metrics: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)

    @property
    def scaled(self) -> float:
        """score / max_score, clamped to [0, 1] (xAPI ``result.score.scaled`` range is [-1, 1])."""
        return max(0.0, min(1.0, self.score / self.max_score)) if self.max_score > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "metrics": dict(self.metrics),
            "targets": dict(self.targets),
        }

    @classmethod
    def from_result(cls, result: Any, pack_name: str) -> AttemptScore:
        """Validate what a pack's ``score(log)`` returned."""
        where = f"pack {pack_name!r}: score(log)"
        if not isinstance(result, dict):
            raise ScoringError(
                f"{where} returned {type(result).__name__}, expected a dict with score, "
                f"max_score, passed, metrics and targets"
            )
        missing = [k for k in ("score", "max_score", "passed") if k not in result]
        if missing:
            raise ScoringError(f"{where} result lacks {', '.join(missing)}")
        try:
            score, max_score = float(result["score"]), float(result["max_score"])
        except (TypeError, ValueError):
            raise ScoringError(f"{where}: score and max_score must be numbers") from None
        if not (math.isfinite(score) and math.isfinite(max_score)) or max_score <= 0 or not 0 <= score <= max_score:
            raise ScoringError(
                f"{where}: need 0 <= score <= max_score and max_score > 0, got score={score}, max_score={max_score}"
            )
        if not isinstance(result["passed"], bool):
            raise ScoringError(f"{where}: passed must be true or false")
        maps = {}
        for key in ("metrics", "targets"):
            raw = result.get(key, {}) or {}
            if not isinstance(raw, dict):
                raise ScoringError(f"{where}: {key} must be a mapping of name to number")
            clean = {}
            for name, value in raw.items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise ScoringError(f"{where}: {key}[{name!r}] is not a number") from None
                if not math.isfinite(number):
                    raise ScoringError(f"{where}: {key}[{name!r}] is not finite")
                clean[str(name)] = number
            maps[key] = clean
        return cls(score, max_score, result["passed"], maps["metrics"], maps["targets"])


def pack_for_log(log: SessionLog) -> Pack:
    """Load the pack a log was recorded with (its recorded folder, else by name)."""
    name = log.header.get("pack")
    root = Path(str(log.header.get("pack_root", "")))
    try:
        if (root / "pack.yaml").is_file():
            return load_pack(root)
        return open_target(str(name))[0]
    except ScoringError:
        raise
    except Exception as exc:  # a VrmedError from the loader; re-raised with the log's context
        raise ScoringError(f"cannot score: the pack {name!r} recorded in the log cannot be loaded: {exc}") from None


def score_log(log: SessionLog, pack: Pack | None = None) -> AttemptScore:
    """Score ``log`` with its pack's ``score(log)``."""
    pack = pack or pack_for_log(log)
    fn = getattr(pack.module, "score", None) if pack.module else None
    if not callable(fn):
        raise ScoringError(
            f"pack {pack.name!r} defines no score(log) in systems.py, so its sessions cannot "
            f"become learning records; see docs/records.md for the convention"
        )
    return AttemptScore.from_result(fn(log), pack.name)


def record_score(log: Any, pack_root: Any, evaluate: Any) -> dict[str, Any]:
    """A pack's ``score(log)`` for learning records, built on its rubric.

    ``evaluate(records, end_time, scenario) -> {"score", "passed", "metrics"}`` is the
    pack's own scoring; the result is put in the records convention (score out of 100,
    numeric metrics only). Uses the log alone, so a stored session can be re-scored.
    """
    scenario = load_pack(pack_root).scenario(str(log.header.get("scenario")))
    end = float((log.footer or {}).get("sim_time", 0.0))
    result = evaluate(log.events, end, scenario)
    metrics = {
        k: float(v)
        for k, v in (result.get("metrics") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    return {
        "score": float(result.get("score", 0.0)),
        "max_score": 100.0,
        "passed": bool(result.get("passed", False)),
        "metrics": metrics,
        "targets": {},
    }
