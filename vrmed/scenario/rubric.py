"""Score a session from its event log: rubric rules over recorded events and their times.

Everything here is a pure function of event records (``{"t", "type", "data"}`` as stored
in the session log), so a stored session can be re-scored without re-running it.
Rule kinds (details in docs/scenario-language.md):

- ``deadline``: the first matching event happens (within ``within`` s of ``from``).
- ``forbidden``: no matching event happens in the window.
- ``interval``: consecutive matching events are ``min``..``max`` s apart, and (with
  ``max``) the window does not end more than ``max`` s after the last one (overdue).
- ``nth``: the n-th matching event satisfies ``expect`` (and comes after ``after_count``).
- ``fraction``: the share of the window spent between ``active`` and ``inactive`` events is at
  least ``min``, with no pause longer than ``max_pause`` (chest-compression fraction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .expr import Expr, ExprError
from .model import EventRef, Rubric, Rule


def short_type(record: dict[str, Any]) -> str:
    """An event record's class name (``vrmed.systems.clinical.events:DrugGiven`` -> ``DrugGiven``)."""
    return record["type"].rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def _holds(expr: Expr | None, data: dict[str, Any]) -> bool:
    if expr is None:
        return True
    try:
        return bool(expr.evaluate(data.__getitem__))
    except (KeyError, TypeError, ExprError):
        return False


def matching(records: Iterable[dict[str, Any]], event: str | None, where: Expr | None = None) -> list[dict[str, Any]]:
    """Records of an event type whose data satisfy ``where``, in log order."""
    return [r for r in records if short_type(r) == event and _holds(where, r["data"])]


@dataclass
class RuleResult:
    """How one rule went: passed, points earned, the measured value and any violations."""

    id: str
    kind: str
    description: str
    passed: bool
    critical: bool
    points: float
    earned: float
    value: Any = None
    detail: str = ""
    violations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RubricResult:
    """Every rule's result, the score (percent of points) and whether the run passes."""

    rules: list[RuleResult]
    score: float
    passed: bool
    pass_score: float

    def rule(self, rule_id: str) -> RuleResult:
        """One rule's result by id (KeyError if there is no such rule)."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON output)."""
        return {
            "score": self.score,
            "passed": self.passed,
            "pass_score": self.pass_score,
            "rules": [asdict(r) for r in self.rules],
        }


def time_of(ref: EventRef | None, records: list[dict[str, Any]], end_time: float, default: float) -> float | None:
    """The time a reference points at; ``default`` for no reference, None if it never happened."""
    if ref is None:
        return default
    if ref.event == "start":
        return 0.0
    if ref.event == "end":
        return end_time
    found = matching(records, ref.event, ref.where)
    return float(found[ref.nth - 1]["t"]) if len(found) >= ref.nth else None


def evaluate_rule(rule: Rule, records: list[dict[str, Any]], end_time: float) -> RuleResult:
    """Evaluate one rule over event records of a session that lasted ``end_time`` seconds."""
    res = RuleResult(rule.id, rule.kind, rule.description, True, rule.critical, rule.points, 0.0)
    t0 = time_of(rule.start, records, end_time, 0.0)
    t1 = time_of(rule.end, records, end_time, end_time)
    if t0 is None:
        res.detail = "not applicable: the window never opened"
        res.earned = rule.points
        return res
    if t1 is None:
        t1 = end_time
    in_window = [r for r in records if t0 <= r["t"] <= t1]
    if rule.kind == "deadline":
        found = matching(in_window, rule.event, rule.where)
        if not found:
            res.passed = False
            res.detail = f"{rule.event} never happened"
        else:
            res.value = round(found[0]["t"] - t0, 6)
            if rule.within is not None and res.value > rule.within:
                res.passed = False
                res.detail = f"after {res.value:.1f} s (limit {rule.within:g} s)"
            else:
                res.detail = f"after {res.value:.1f} s"
    elif rule.kind == "forbidden":
        found = matching(in_window, rule.event, rule.where)
        res.value = len(found)
        res.violations = [{"t": r["t"], "data": r["data"]} for r in found]
        res.passed = not found
        res.detail = f"{len(found)} occurrence(s)"
    elif rule.kind == "interval":
        times = [float(r["t"]) for r in matching(in_window, rule.event, rule.where)]
        gaps = [b - a for a, b in zip(times, times[1:])]
        res.value = [round(g, 3) for g in gaps]
        for a, g in zip(times, gaps):
            if (rule.min is not None and g < rule.min) or (rule.max is not None and g > rule.max):
                res.violations.append({"t": a + g, "gap": round(g, 3)})
        if rule.max is not None and times and t1 - times[-1] > rule.max:
            res.violations.append({"t": times[-1] + rule.max, "overdue": round(t1 - times[-1], 3)})
        res.passed = not res.violations
        res.detail = f"gaps {', '.join(f'{g:.0f}' for g in gaps) or 'none'} s"
    elif rule.kind == "nth":
        found = matching(in_window, rule.event, rule.where)
        if len(found) < rule.n:
            res.passed = not rule.required
            res.detail = f"only {len(found)} {rule.event} (needed #{rule.n})" if rule.required else "not given"
        else:
            rec = found[rule.n - 1]
            res.value = rec["data"]
            ok = _holds(rule.expect, rec["data"])
            detail = [] if ok else [f"expected {rule.expect.text if rule.expect else ''}"]
            if rule.after_count is not None:
                ev, where, count = rule.after_count
                idx = records.index(rec)
                before = len(matching(records[:idx], ev, where))
                if before < count:
                    ok = False
                    detail.append(f"given after {before} {ev}, needs at least {count}")
            res.passed = ok
            res.detail = "; ".join(detail) or f"at {rec['t']:.1f} s"
            if not ok:
                res.violations.append({"t": rec["t"], "data": rec["data"]})
    elif rule.kind == "fraction":
        res.value, pauses = _fraction(rule, records, t0, t1)
        longest = max((p["duration"] for p in pauses), default=0.0)
        res.violations = [p for p in pauses if rule.max_pause is not None and p["duration"] > rule.max_pause]
        res.passed = (rule.min is None or res.value >= rule.min) and not res.violations
        res.detail = f"{res.value:.1%} of {t1 - t0:.0f} s; {len(pauses)} pause(s), longest {longest:.1f} s"
    res.earned = rule.points if res.passed else 0.0
    return res


def _fraction(rule: Rule, records: list[dict[str, Any]], t0: float, t1: float) -> tuple[float, list[dict[str, Any]]]:
    """Share of [t0, t1] in the 'on' state, and the pauses ('off' stretches) inside it."""
    on = False
    changes: list[tuple[float, bool]] = []
    for r in records:
        name = short_type(r)
        if name == rule.on and _holds(rule.on_where, r["data"]):
            state = True
        elif name == rule.off and _holds(rule.off_where, r["data"]):
            state = False
        else:
            continue
        if r["t"] <= t0:
            on = state
        elif r["t"] < t1:
            changes.append((float(r["t"]), state))
    total = 0.0
    pauses = []
    t, cur = t0, on
    for when, state in changes + [(t1, False)]:  # the sentinel closes the last stretch
        if cur:
            total += when - t
        elif when > t:
            pauses.append({"t": t, "duration": round(when - t, 3)})
        t, cur = when, state
    span = t1 - t0
    return (total / span if span > 0 else 0.0), pauses


def evaluate_rubric(rubric: Rubric, records: list[dict[str, Any]], end_time: float | None = None) -> RubricResult:
    """Score a session's event records against a rubric.

    ``end_time`` defaults to the time of the last record.
    """
    records = sorted(records, key=lambda r: (r["t"], r.get("seq", 0)))
    end = float(end_time if end_time is not None else (records[-1]["t"] if records else 0.0))
    results = [evaluate_rule(rule, records, end) for rule in rubric.rules]
    total = sum(r.points for r in results)
    earned = sum(r.earned for r in results)
    score = 100.0 * earned / total if total else 100.0
    passed = score >= rubric.pass_score and all(r.passed for r in results if r.critical)
    return RubricResult(results, round(score, 2), passed, rubric.pass_score)
