"""Team scoring from a shared session's event log, as :class:`vrmed.scenario.rubric.RuleResult`s.

The scenario's own rubric scores the clinical care (who did it does not matter there);
these rules score the team, from the ``TeamActed`` events (who took which action, in which
role) that :class:`vrmed.team.roles.TeamPlugin` records:

- ``compressor_swap``: no one compresses for longer than ``swap_interval`` (120 s) plus
  15 s to finish the cycle without another compressor taking over (AHA 2020 adult BLS/ALS:
  switch compressors about every 2 minutes to limit fatigue; Panchal et al., Circulation
  2020;142:S366). Counted from the arrest (first ``RhythmChanged`` into VF/pVT/PEA/asystole)
  to ROSC or the end, of the scenario's patient (:attr:`TeamSpec.patient`): once the
  instructor has added a casualty, compressions on it neither start nor end a stint on the
  patient, and its rhythm changes are not the arrest.
- ``closed_loop``: every order (``order`` call-out to a role) is acknowledged by someone in
  that role within ``ack_within`` s and reported done by that role within
  ``report_within`` s (closed-loop communication, TeamSTEPPS; Härgestam et al., BMJ Open
  2013;3:e003525). An order whose report window had not closed when the session ended is
  not counted.
- ``role_clarity``: no action was refused for being outside its sender's role.
- ``leader_summary``: the leader gave at least one summary call-out during the arrest.

Per-learner results list each pseudonymous client's role, actions and refusals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..scenario.model import for_patient, patients_for
from ..scenario.rubric import MET, MISSED, NOT_APPLICABLE, RuleResult
from .roles import TeamSpec

#: Time allowed to finish a compression cycle beyond the swap interval (s).
SWAP_TOLERANCE = 15.0
ARREST_RHYTHMS = ("vf", "pvt", "pea", "asystole")


@dataclass
class LearnerResult:
    """One team member's part: role, accepted actions by id, refused actions."""

    client: str
    role: str
    actions: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    compressing_s: float = 0.0


@dataclass
class TeamResult:
    """Team rules and per-learner results of one shared session."""

    rules: list[RuleResult]
    learners: dict[str, LearnerResult]

    @property
    def passed(self) -> bool:
        """True when every applicable team rule was met."""
        return all(r.passed for r in self.rules)

    def rule(self, rule_id: str) -> RuleResult:
        """A rule's result by id."""
        return next(r for r in self.rules if r.id == rule_id)


def _short(record: dict[str, Any]) -> str:
    return str(record["type"]).rsplit(":", 1)[-1]


def _rule(
    rule_id: str, description: str, points: float, ok: bool | None, value: Any, detail: str, t: float | None = None
) -> RuleResult:
    status = NOT_APPLICABLE if ok is None else (MET if ok else MISSED)
    res = RuleResult(rule_id, "team", description, ok is not False, False, points, points if ok else 0.0, value, detail)
    res.status = status
    if ok is False and t is not None:
        res.violations.append({"t": t, "detail": detail})
    return res


def score_team(records: list[dict[str, Any]], spec: TeamSpec, end_time: float | None = None) -> TeamResult:
    """Score a shared session's event ``records`` (as the session log stores them)."""
    end = float(end_time if end_time is not None else (records[-1]["t"] if records else 0.0))
    patients = patients_for(None, spec.patient)  # the scenario's patient ("" too: the only one)
    rhythms = [r for r in records if _short(r) == "RhythmChanged" and for_patient(r["data"], patients)]
    arrest = next((float(r["t"]) for r in rhythms if r["data"].get("to_rhythm") in ARREST_RHYTHMS), None)
    rosc = next((float(r["t"]) for r in rhythms if r["data"].get("to_rhythm") == "rosc"), None)
    stop_at = rosc if rosc is not None else end
    acted = [r for r in records if _short(r) == "TeamActed"]
    learners: dict[str, LearnerResult] = {}
    for r in acted:
        d = r["data"]
        lr = learners.setdefault(d["client"], LearnerResult(d["client"], d["role"]))
        lr.actions[d["action"]] = lr.actions.get(d["action"], 0) + 1
    refused = [
        r
        for r in records
        if _short(r) == "ActionRejected" and str(r["data"].get("reason", "")).startswith("outside the role")
    ]
    for r in refused:
        client = str(r["data"]["reason"]).rsplit(" of ", 1)[-1]
        if client in learners:
            learners[client].refused += 1
        else:
            learners[client] = LearnerResult(
                client, str(r["data"]["reason"]).split("'")[1] if "'" in r["data"]["reason"] else "", refused=1
            )

    on_patient = [r for r in acted if for_patient(r["data"], patients)]
    rules = [
        _swap_rule(on_patient, spec, arrest, stop_at, learners),
        _closed_loop_rule(acted, spec, end),
        _rule(
            "role_clarity",
            "Everyone acts within their role (no action refused as outside it).",
            10,
            not refused,
            len(refused),
            f"{len(refused)} action(s) outside a role" if refused else "all actions within roles",
            float(refused[0]["t"]) if refused else None,
        ),
    ]
    summaries = [
        r for r in acted if r["data"]["action"] == "summary" and (arrest is None or arrest <= r["t"] <= stop_at)
    ]
    rules.append(
        _rule(
            "leader_summary",
            "The leader summarises the situation at least once during the arrest.",
            5,
            None if arrest is None else bool(summaries),
            len(summaries),
            f"{len(summaries)} summary call-out(s)",
            stop_at,
        )
    )
    return TeamResult(rules, learners)


def _swap_rule(
    acted: list[dict[str, Any]],
    spec: TeamSpec,
    arrest: float | None,
    stop_at: float,
    learners: dict[str, LearnerResult],
) -> RuleResult:
    limit = spec.swap_interval + SWAP_TOLERANCE
    desc = f"Compressors swap at least every {spec.swap_interval:g} s (tolerance {SWAP_TOLERANCE:g} s)."
    if arrest is None:
        return _rule("compressor_swap", desc, 15, None, None, "no arrest")
    # stints: (client, start, stop) of each continuous run of compressions
    stints: list[tuple[str, float, float]] = []
    running: tuple[str, float] | None = None
    for r in acted:
        t, d = min(float(r["t"]), stop_at), r["data"]
        if float(r["t"]) > stop_at:
            break
        if d["action"] in ("start_compressions", "stop_compressions") and running is not None:
            stints.append((running[0], running[1], t))  # a start by anyone else also ends a stint
            running = None
        if d["action"] == "start_compressions":
            running = (d["client"], t)
    if running is not None:
        stints.append((running[0], running[1], stop_at))
    for client, t0, t1 in stints:
        learners[client].compressing_s += t1 - t0
    # shifts: consecutive stints by one person, until someone else compresses
    shifts: list[tuple[str, float, float]] = []
    for client, t0, t1 in stints:
        if shifts and shifts[-1][0] == client:
            shifts[-1] = (client, shifts[-1][1], t1)
        else:
            shifts.append((client, t0, t1))
    if not shifts:
        return _rule("compressor_swap", desc, 15, False, 0.0, "no compressions during the arrest", arrest)
    longest = max(shifts, key=lambda s: s[2] - s[1])
    span = longest[2] - longest[1]
    ok = span <= limit
    detail = f"longest shift {span:.0f} s by {longest[0]}" + ("" if ok else f" (over {limit:g} s without a swap)")
    return _rule("compressor_swap", desc, 15, ok, round(span, 3), detail, longest[1] + limit)


def _first_reply(
    calls: list[tuple[float, dict[str, Any], dict[str, Any]]],
    action: str,
    task: Any,
    role: Any,
    t0: float,
    within: float,
) -> float | None:
    """Time (s) of the first ``action`` call-out (acknowledge, report) by ``role`` about ``task``
    from ``t0`` to ``t0 + within`` seconds; None if there is none."""
    return next(
        (
            t
            for t, data, fields in calls
            if data["action"] == action
            and fields.get("task") == task
            and data["role"] == role
            and t0 <= t <= t0 + within
        ),
        None,
    )


def _closed_loop_rule(acted: list[dict[str, Any]], spec: TeamSpec, end: float) -> RuleResult:
    desc = (
        f"Every order is acknowledged by the ordered role within {spec.ack_within:g} s and reported done "
        f"within {spec.report_within:g} s (closed-loop communication)."
    )
    calls = [(float(r["t"]), r["data"], json.loads(r["data"].get("fields") or "{}")) for r in acted]
    orders = [(t, d, f) for t, d, f in calls if d["action"] == "order"]
    counted = closed = 0
    first_open: tuple[float, str] | None = None
    for t, _d, f in orders:
        task, to_role = f.get("task"), f.get("to_role")
        ack = _first_reply(calls, "acknowledge", task, to_role, t, spec.ack_within)
        report = _first_reply(calls, "report", task, to_role, t, spec.report_within)
        if ack is not None and report is not None:
            counted += 1
            closed += 1
            continue
        if report is None and ack is not None and t + spec.report_within > end:
            continue  # still open when the session ended: neither closed nor failed
        counted += 1
        if first_open is None:
            first_open = (
                t,
                f"order {task!r} to {to_role} was {'not acknowledged' if ack is None else 'not reported done'}",
            )
    if not orders:
        return _rule("closed_loop", desc, 15, False, 0.0, "no orders were given as call-outs", end)
    if counted == 0:
        return _rule("closed_loop", desc, 15, None, None, "every order was still open at the end")
    ok = closed == counted
    detail = f"{closed}/{counted} orders closed" + ("" if first_open is None else f"; first open: {first_open[1]}")
    return _rule(
        "closed_loop", desc, 15, ok, round(closed / counted, 3), detail, None if first_open is None else first_open[0]
    )
