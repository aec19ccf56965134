"""Plain-text score cards: a rubric's rule-by-rule table and metric targets with direction.

``vrmed run`` and ``vrmed report`` print these; they work on plain data
(``RubricResult.as_dict()`` and ``AttemptScore.to_dict()``), so a stored result prints the
same as a live one.
"""

from __future__ import annotations

from typing import Any

_MARK = {"met": "met", "missed": "MISSED", "not_applicable": "n/a"}


def rule_status(rule: dict[str, Any]) -> str:
    """``met``, ``missed`` or ``not_applicable`` for one rule result (older results without
    a ``status`` derive it from ``passed`` and the detail)."""
    status = rule.get("status")
    if status in _MARK:
        return str(status)
    if str(rule.get("detail", "")).startswith("not applicable"):
        return "not_applicable"
    return "met" if rule.get("passed") else "missed"


def _when(rule: dict[str, Any]) -> str:
    t = rule.get("t")
    if t is None:
        times = [v.get("t") for v in rule.get("violations") or [] if isinstance(v, dict) and v.get("t") is not None]
        t = times[0] if times else None
    return f"{float(t):7.1f} s" if t is not None else "      -  "


def rubric_lines(result: dict[str, Any], indent: str = "  ") -> list[str]:
    """The rule-by-rule table of a rubric result: status, time, points, rule and reason."""
    rules = result.get("rules") or []
    if not rules:
        return []
    width = max(len(str(r.get("id", ""))) for r in rules)
    lines = [
        f"{indent}rubric: score {float(result.get('score', 0.0)):g}% (pass mark "
        f"{float(result.get('pass_score', 0.0)):g}%, every critical rule met): "
        f"{'PASSED' if result.get('passed') else 'NOT PASSED'}",
        f"{indent}  {'status':<7}{'time':>9}  {'points':>9}  {'rule':<{width}}  reason",
    ]
    for r in rules:
        status = rule_status(r)
        pts = "-" if status == "not_applicable" else f"{float(r.get('earned', 0)):g}/{float(r.get('points', 0)):g}"
        crit = " (critical)" if r.get("critical") else ""
        reason = str(r.get("detail") or r.get("description") or "")
        lines.append(
            f"{indent}  {_MARK[status]:<7}{_when(r):>9}  {pts:>9}  {str(r.get('id', '')):<{width}}  {reason}{crit}"
        )
    return lines


def target_lines(score: dict[str, Any], indent: str = "  ") -> list[str]:
    """Each metric with a target: value, target, which way is better and met/missed."""
    metrics, targets = score.get("metrics") or {}, score.get("targets") or {}
    directions = score.get("directions") or {}
    lines = []
    for name in sorted(targets):
        if name not in metrics:
            continue
        value, target = float(metrics[name]), float(targets[name])
        better = directions.get(name)
        if better == "lower":
            verdict = "met" if value <= target else "MISSED"
            rule = f"<= {target:g} (lower is better)"
        elif better == "higher":
            verdict = "met" if value >= target else "MISSED"
            rule = f">= {target:g} (higher is better)"
        else:
            verdict, rule = "", f"target {target:g}"
        lines.append(f"{indent}{name:<30} {value:>10.4g}  {rule:<30} {verdict}".rstrip())
    return lines


__all__ = ["rubric_lines", "rule_status", "target_lines"]
