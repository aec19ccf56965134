"""Scoring a recorded session with its pack's ``score(log)``.

Convention: a pack's ``systems.py`` may define ``score(log: SessionLog) -> dict`` returning
``{"score", "max_score", "passed", "metrics": {name: float}, "targets": {name: float}}``,
computed only from the log so that stored sessions can be re-scored later.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..packs.loader import Pack, load_pack
from ..recording import SessionLog
from ..scenario.rubric import evaluate_rubric
from ..session import pack_for_log as session_pack_for_log
from .errors import ScoringError


@dataclass(frozen=True)
class AttemptScore:
    """A validated ``score(log)`` result."""

    score: float
    max_score: float
    passed: bool
    metrics: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    #: Which way each target is met: ``"lower"`` (metric <= target) or ``"higher"`` (>=).
    directions: dict[str, str] = field(default_factory=dict)
    #: The scenario rubric's rule-by-rule result (``RubricResult.as_dict()``), when it has one.
    rubric: dict[str, Any] | None = None

    def target_met(self, name: str) -> bool | None:
        """Whether metric ``name`` meets its target (None: no target, or no direction given)."""
        if name not in self.targets or name not in self.metrics or name not in self.directions:
            return None
        value, target = self.metrics[name], self.targets[name]
        return value <= target if self.directions[name] == "lower" else value >= target

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
            "directions": dict(self.directions),
            **({"rubric": self.rubric} if self.rubric is not None else {}),
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
        directions: dict[str, str] = {}
        for key in ("metrics", "targets"):
            raw = result.get(key, {}) or {}
            if not isinstance(raw, dict):
                raise ScoringError(f"{where}: {key} must be a mapping of name to number")
            clean = {}
            for name, value in raw.items():
                if key == "targets" and isinstance(value, dict):  # {target: 10, better: lower}
                    better = value.get("better")
                    if better not in ("lower", "higher") or "target" not in value:
                        raise ScoringError(
                            f"{where}: targets[{name!r}] must be a number or {{target: NUMBER, better: lower|higher}}"
                        )
                    directions[str(name)] = str(better)
                    value = value["target"]
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise ScoringError(f"{where}: {key}[{name!r}] is not a number") from None
                if not math.isfinite(number):
                    raise ScoringError(f"{where}: {key}[{name!r}] is not finite")
                clean[str(name)] = number
            maps[key] = clean
        return cls(score, max_score, result["passed"], maps["metrics"], maps["targets"], directions)


def pack_for_log(log: SessionLog, *, pack_path: str | Path | None = None, allow_code: bool = True) -> Pack:
    """Load the pack a log was recorded with: by its name and version among the installed
    packs, or from ``pack_path`` (never a folder named by the log; see
    :func:`vrmed.session.pack_for_log`)."""
    name = log.header.get("pack")
    try:
        return session_pack_for_log(log, pack_path=pack_path, allow_code=allow_code)
    except ScoringError:
        raise
    except Exception as exc:  # a VrmedError from the loader; re-raised with the log's context
        raise ScoringError(f"cannot score: the pack {name!r} recorded in the log cannot be loaded: {exc}") from None


def rubric_score(log: SessionLog, pack: Pack) -> AttemptScore | None:
    """The score a scenario gives itself through its rubric (percent of points, pass mark
    and critical rules), or None when the scenario has no rubric."""
    scenario = pack.scenarios.get(str(log.header.get("scenario")))
    if scenario is None or scenario.rubric is None:
        return None
    end = float((log.footer or {}).get("sim_time", 0.0))
    result = evaluate_rubric(scenario.rubric, log.event_records(), end)
    return AttemptScore(result.score, 100.0, result.passed, rubric=result.as_dict())


def score_log(log: SessionLog, pack: Pack | None = None) -> AttemptScore:
    """Score ``log`` with its pack's ``score(log)``, or, when the pack defines none, with
    its scenario's rubric. A ``score(log)`` result gets the rubric's rule-by-rule table
    too when the scenario has one."""
    pack = pack or pack_for_log(log)
    fn = getattr(pack.module, "score", None) if pack.module else None
    from_rubric = rubric_score(log, pack)
    if not callable(fn):
        if from_rubric is None:
            raise ScoringError(
                f"scenario {log.header.get('scenario')!r} of pack {pack.name!r} has no rubric and the "
                f"pack defines no score(log) in systems.py, so its sessions cannot be scored; add a "
                f"rubric (docs/scenario-language.md) or see docs/records.md"
            )
        return from_rubric
    score = AttemptScore.from_result(fn(log), pack.name)
    if from_rubric is not None:
        score = dataclasses.replace(score, rubric=from_rubric.rubric)
    return score


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
