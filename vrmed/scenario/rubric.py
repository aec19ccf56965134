"""Score a session from its event log: rubric rules over recorded events and their times.

Everything here is a pure function of event records (``{"t", "type", "data"}`` as stored
in the session log), so a stored session can be re-scored without re-running it, and a
partial log (a session still running) can be scored for live cues.
Rule kinds (details in docs/scenario-language.md):

- ``deadline``: the first matching event happens (within ``within`` s of the window start).
- ``forbidden``: no matching event happens in the window.
- ``interval``: no stretch of the window longer than ``max`` s passes without a matching
  event (measured from the window start to the first, between events, and from the last
  to the window end) and consecutive events are at least ``min`` s apart.
- ``nth``: the n-th matching event satisfies ``expect`` (and comes after ``after_count``).
- ``fraction``: the share of the window spent between ``active`` and ``inactive`` events is at
  least ``min``, with no pause longer than ``max_pause`` (chest-compression fraction).
- ``before``: the ``first`` event happens before the ``then`` event (every ``then`` with
  ``each``, each with its own ``first`` since the previous ``then`` with ``since_last``,
  within ``within`` s, ``at_least`` times, for the same entity with ``same``).
- ``order``: the first occurrences of ``events`` come in the listed order.
- ``count``: the number of matching events, of ``distinct`` values of a field (distinct
  casualties, patients), or the ``total`` of a numeric field (fluid volume), is between
  ``min`` and ``max``.

A rule reads the events of one patient when the scenario declares its patient
(``patient:``): the events whose ``patient`` field names it or is ``""`` ("the only
patient"), or those of the patient the rule itself names (``patient: visitor``), plus every
event that acts on no patient (a state change, an injection); ``patient: any`` reads all.

Every rule is "must happen" by default (``required: true``): a window that never opens
(its ``from`` event never happened) or an event that never happens fails the rule, so a
learner who does nothing fails. ``required: false`` makes it "if it happens": then it is
*not applicable* and leaves the score's denominator. ``required: when_open`` is "must
happen once its window opens": a window that never opens (a casualty who never came) is not
applicable, an event that never comes in an open window is missed. ``forbidden`` rules
are always "if it happens" (nothing happening is compliance).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from .expr import Expr, ExprError
from .model import EventRef, Rubric, Rule, for_patient

MET, MISSED, NOT_APPLICABLE = "met", "missed", "not_applicable"


@lru_cache(maxsize=4096)
def _short(qualified: str) -> str:
    return qualified.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def short_type(record: dict[str, Any]) -> str:
    """An event record's class name (``vrmed.systems.clinical.events:DrugGiven`` -> ``DrugGiven``)."""
    return _short(record["type"])  # cached: a log has a handful of types, rules scan it often


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
    """How one rule went.

    ``status`` is ``met``, ``missed`` or ``not_applicable`` (an "if it happens" rule whose
    event or window never came; it counts neither for nor against the score). ``t`` is the
    session time that decided the rule (the late or forbidden event, the deadline that
    expired, the window end), ``detail`` the reason in words. ``pending`` is true when a
    later event could still change a ``missed`` result (scoring a partial log: live cues).
    """

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
    status: str = MET
    t: float | None = None
    pending: bool = False
    required: bool = True

    @property
    def applicable(self) -> bool:
        """False for an "if it happens" rule that never came into play."""
        return self.status != NOT_APPLICABLE


@dataclass
class RubricResult:
    """Every rule's result, the score (percent of the applicable rules' points) and whether
    the run passes (score at least ``pass_score`` and every applicable critical rule met)."""

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

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Every missed or not-applicable rule with its time and reason, in rubric order:
        what explains a score (session result, debrief, xAPI result extensions)."""
        return [
            {
                "id": r.id,
                "status": r.status,
                "t": r.t,
                "reason": r.detail,
                "critical": r.critical,
                "points": r.points,
                "description": r.description,
            }
            for r in self.rules
            if r.status != MET
        ]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON output)."""
        return {
            "score": self.score,
            "passed": self.passed,
            "pass_score": self.pass_score,
            "rules": [{**asdict(r), "applicable": r.applicable} for r in self.rules],
            "findings": self.findings,
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


def _describe(ref: EventRef | None) -> str:
    if ref is None:
        return "the session start"
    text = ref.event if ref.where is None else f"{ref.event} ({ref.where.text})"
    return text if ref.nth == 1 else f"{text} #{ref.nth}"


def _subject(event: str | None, where: Expr | None) -> str:
    return f"{event} ({where.text})" if where is not None else str(event)


def _absent(res: RuleResult, rule: Rule, reason: str, t: float | None) -> RuleResult:
    """The rule's subject never happened: missed if required, otherwise not applicable."""
    res.t = t
    if rule.required:
        res.passed, res.status, res.detail = False, MISSED, reason
    else:
        res.status, res.detail = NOT_APPLICABLE, f"not applicable: {reason}"
    return res


def evaluate_rule(rule: Rule, records: list[dict[str, Any]], end_time: float) -> RuleResult:
    """Evaluate one rule over event records of a session that lasted, or has lasted so far
    (a live cue on a partial log), ``end_time`` seconds."""
    if any(a["t"] > b["t"] for a, b in zip(records, records[1:])):  # callers usually pass log order
        records = sorted(records, key=lambda r: (r["t"], r.get("seq", 0)))
    if rule.patients is not None:  # the rule's patient: another patient's events are not read at all
        records = [r for r in records if for_patient(r["data"], rule.patients)]
    res = RuleResult(rule.id, rule.kind, rule.description, True, rule.critical, rule.points, 0.0)
    res.required = rule.required and rule.kind != "forbidden"
    res = _evaluate(rule, res, records, end_time)
    if res.status == MET and not res.passed:
        res.status = MISSED
    res.earned = rule.points if res.passed and res.status == MET else 0.0
    return res


def _evaluate(rule: Rule, res: RuleResult, records: list[dict[str, Any]], end_time: float) -> RuleResult:
    t0 = time_of(rule.start, records, end_time, 0.0)
    t1 = time_of(rule.end, records, end_time, end_time)
    open_end = t1 is None or rule.end is None or rule.end.event == "end"
    if t0 is None:
        res.pending = True  # the window may still open
        if rule.kind == "forbidden" or not rule.required or rule.when_open:
            res.status, res.detail = (
                NOT_APPLICABLE,
                f"not applicable: the window never opened ({_describe(rule.start)})",
            )
            return res
        return _absent(res, rule, f"the window never opened: {_describe(rule.start)} never happened", end_time)
    if t1 is None:
        t1 = end_time
    in_window = [r for r in records if t0 <= r["t"] <= t1]
    kind = rule.kind
    if kind == "deadline":
        found = matching(in_window, rule.event, rule.where)
        if not found:
            limit = t0 + rule.within if rule.within is not None else t1
            res.pending = open_end and end_time < limit
            return _absent(res, rule, f"{_subject(rule.event, rule.where)} never happened", min(limit, t1))
        res.value = round(found[0]["t"] - t0, 6)
        res.t = float(found[0]["t"])
        if rule.within is not None and res.value > rule.within:
            res.passed = False
            res.detail = f"after {res.value:.1f} s (limit {rule.within:g} s)"
        else:
            res.detail = f"after {res.value:.1f} s"
    elif kind == "forbidden":
        found = matching(in_window, rule.event, rule.where)
        res.value = len(found)
        res.violations = [{"t": r["t"], "data": r["data"]} for r in found]
        res.passed = not found
        res.t = float(found[0]["t"]) if found else None
        res.detail = f"{len(found)} occurrence(s)"
        # an event that carries its own reason (ActionRejected, a pack's check events) explains it
        reasons = [r["data"]["reason"] for r in found if isinstance(r["data"].get("reason"), str)]
        if reasons:
            res.detail += ": " + "; ".join(reasons[:3]) + (f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else "")
    elif kind == "interval":
        _interval(rule, res, in_window, t0, t1, open_end, end_time)
    elif kind == "nth":
        found = matching(in_window, rule.event, rule.where)
        if len(found) < rule.n:
            res.pending = open_end
            return _absent(res, rule, f"only {len(found)} {_subject(rule.event, rule.where)} (needed #{rule.n})", t1)
        rec = found[rule.n - 1]
        res.value = rec["data"]
        res.t = float(rec["t"])
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
    elif kind == "fraction":
        res.value, pauses = _fraction(rule, records, t0, t1)
        longest = max((p["duration"] for p in pauses), default=0.0)
        res.violations = [p for p in pauses if rule.max_pause is not None and p["duration"] > rule.max_pause]
        res.passed = (rule.min is None or res.value >= rule.min) and not res.violations
        res.t = float(res.violations[0]["t"]) if res.violations else t1
        res.detail = f"{res.value:.1%} of {t1 - t0:.0f} s; {len(pauses)} pause(s), longest {longest:.1f} s"
    elif kind == "before":
        return _before(rule, res, records, t0, t1, open_end)
    elif kind == "order":
        return _order(rule, res, in_window, t1, open_end)
    elif kind == "count":
        found = matching(in_window, rule.event, rule.where)
        if rule.distinct is not None:
            keys = {repr(r["data"].get(rule.distinct)) for r in found if rule.distinct in r["data"]}
            res.value, what = len(keys), f"distinct {rule.distinct}"
        elif rule.total is not None:
            amounts = [r["data"].get(rule.total) for r in found]
            res.value = round(sum(float(a) for a in amounts if isinstance(a, (int, float))), 6)
            what = f"{rule.total} in total"
        else:
            res.value, what = len(found), str(rule.event)
        if not found and not rule.required:
            return _absent(res, rule, f"{_subject(rule.event, rule.where)} never happened", t1)
        low = rule.min is not None and res.value < rule.min
        high = rule.max is not None and res.value > rule.max
        res.passed = not (low or high)
        res.pending = low and open_end
        res.t = t1 if low else (float(found[-1]["t"]) if found else t1)
        if rule.min is not None and rule.max is not None:
            bounds = f"{rule.min:g} to {rule.max:g}"
        else:
            bounds = f"at least {rule.min:g}" if rule.min is not None else f"at most {rule.max:g}"
        res.detail = f"{res.value} {what} (needs {bounds})"
    return res


def _interval(
    rule: Rule,
    res: RuleResult,
    in_window: list[dict[str, Any]],
    t0: float,
    t1: float,
    open_end: bool,
    end_time: float,
) -> None:
    """Gaps between consecutive events, the first measured from the window start."""
    times = [float(r["t"]) for r in matching(in_window, rule.event, rule.where)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    res.value = [round(g, 3) for g in gaps]
    if not times and rule.max is None:
        _absent(res, rule, f"{_subject(rule.event, rule.where)} never happened", t1)
        return
    if times and rule.max is not None and times[0] - t0 > rule.max:  # a late first event is late
        res.violations.append({"t": t0 + rule.max, "first": round(times[0] - t0, 3)})
    for a, g in zip(times, gaps):
        if (rule.min is not None and g < rule.min) or (rule.max is not None and g > rule.max):
            res.violations.append({"t": a + g, "gap": round(g, 3)})
    last = times[-1] if times else t0
    if rule.max is not None and t1 - last > rule.max:  # overdue at the window end (none at all too)
        res.violations.append({"t": last + rule.max, "overdue": round(t1 - last, 3)})
    res.passed = not res.violations
    res.t = float(res.violations[0]["t"]) if res.violations else None
    first = f"first after {times[0] - t0:.0f} s; " if times else "none; "
    res.detail = first + f"gaps {', '.join(f'{g:.0f}' for g in gaps) or 'none'} s"
    if not times:
        res.detail = f"{rule.event} never happened in {t1 - t0:.0f} s"
    res.pending = open_end and not res.passed and end_time == t1 and all("overdue" in v for v in res.violations)


def _key(rec: dict[str, Any], same: str | None) -> Any:
    return repr(rec["data"].get(same)) if same else None


def _before(
    rule: Rule, res: RuleResult, records: list[dict[str, Any]], t0: float, t1: float, open_end: bool
) -> RuleResult:
    """Each ``then`` event (or only the first) has ``at_least`` ``first`` events before it."""
    assert rule.first is not None and rule.then is not None  # the validator guarantees both
    idx = [i for i, r in enumerate(records) if t0 <= r["t"] <= t1]
    window = [records[i] for i in idx]
    is_a = [short_type(r) == rule.first.event and _holds(rule.first.where, r["data"]) for r in window]
    is_b = [short_type(r) == rule.then.event and _holds(rule.then.where, r["data"]) for r in window]
    bs = [j for j, b in enumerate(is_b) if b]
    if not bs:
        res.pending = open_end
        return _absent(res, rule, f"{_subject(rule.then.event, rule.then.where)} never happened", t1)
    checked = bs if rule.each else bs[:1]
    last_b: dict[Any, int] = {}
    prev = {}
    for j in bs:  # the B before each B (of the same entity), for ``since_last``
        k = _key(window[j], rule.same)
        prev[j] = last_b.get(k, -1)
        last_b[k] = j
    for j in checked:
        rec = window[j]
        k = _key(rec, rule.same)
        lo = prev[j] + 1 if rule.since_last else 0
        a_times = [
            float(window[i]["t"])
            for i in range(lo, j)
            if is_a[i] and (rule.same is None or _key(window[i], rule.same) == k)
        ]
        problem = None
        if len(a_times) < rule.at_least:
            since = " since the previous one" if rule.since_last and prev[j] >= 0 else ""
            first = _subject(rule.first.event, rule.first.where)
            problem = f"{len(a_times)} {first} before it{since} (needs {rule.at_least})"
        elif rule.within is not None and rec["t"] - a_times[-1] > rule.within:
            problem = f"{rule.first.event} {rec['t'] - a_times[-1]:.1f} s before it (limit {rule.within:g} s)"
        if problem:
            entity = f" ({rule.same} {rec['data'].get(rule.same)})" if rule.same else ""
            res.violations.append(
                {"t": rec["t"], "data": rec["data"], "problem": f"{rule.then.event}{entity}: {problem}"}
            )
    res.value = len(checked) - len(res.violations)
    res.passed = not res.violations
    if res.violations:
        res.t = float(res.violations[0]["t"])
        res.detail = res.violations[0]["problem"] + (
            f" (+{len(res.violations) - 1} more)" if len(res.violations) > 1 else ""
        )
    else:
        res.t = float(window[checked[-1]]["t"])
        res.detail = f"{len(checked)} {rule.then.event} preceded by {rule.first.event}"
    return res


def _order(rule: Rule, res: RuleResult, in_window: list[dict[str, Any]], t1: float, open_end: bool) -> RuleResult:
    """The first occurrence of each listed event exists and they come in the listed order."""
    firsts: list[tuple[int, dict[str, Any]] | None] = []
    for ref in rule.sequence:
        hit = next(
            ((i, r) for i, r in enumerate(in_window) if short_type(r) == ref.event and _holds(ref.where, r["data"])),
            None,
        )
        firsts.append(hit)
    names = [_subject(ref.event, ref.where) for ref in rule.sequence]
    missing = [n for n, f in zip(names, firsts) if f is None]
    if len(missing) == len(names):
        res.pending = open_end
        return _absent(res, rule, f"none of {', '.join(names)} happened", t1)
    res.value = [None if f is None else float(f[1]["t"]) for f in firsts]
    if missing:
        res.pending = open_end
        res.passed, res.t = False, t1
        res.detail = f"{', '.join(missing)} never happened"
        return res
    present = [(n, f) for n, f in zip(names, firsts) if f is not None]
    for (na, fa), (nb, fb) in zip(present, present[1:]):
        if fb[0] < fa[0]:
            res.violations.append({"t": fb[1]["t"], "problem": f"{nb} came before {na}"})
    res.passed = not res.violations
    res.t = float(res.violations[0]["t"]) if res.violations else float(present[-1][1][1]["t"])
    res.detail = "; ".join(v["problem"] for v in res.violations) or "in order"
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

    ``end_time`` defaults to the time of the last record. The score is the percentage of
    the applicable rules' points earned (100 when no rule applies); the run passes when the
    score reaches ``pass_score`` and every applicable critical rule is met.
    """
    records = sorted(records, key=lambda r: (r["t"], r.get("seq", 0)))
    end = float(end_time if end_time is not None else (records[-1]["t"] if records else 0.0))
    results = [evaluate_rule(rule, records, end) for rule in rubric.rules]
    total = sum(r.points for r in results if r.applicable)
    earned = sum(r.earned for r in results)
    score = 100.0 * earned / total if total else 100.0
    passed = score >= rubric.pass_score and all(r.passed for r in results if r.critical and r.applicable)
    return RubricResult(results, round(score, 2), passed, rubric.pass_score)
