"""Clinical metrics computed from a session's event records (so stored sessions can be
re-scored): resuscitation quality and START triage performance.

Records are the session log's event records: ``{"t": seconds, "type": "module:Class",
"data": {...}}``. Definitions and sources are in docs/clinical.md.
"""

from __future__ import annotations

from typing import Any

from vrmed.scenario.model import for_patient
from vrmed.scenario.rubric import RubricResult, matching, short_type

ARREST_RHYTHMS = ("vf", "pvt", "asystole", "pea")
#: START categories from most to least urgent (expectant is not "more urgent" than immediate:
#: it is ranked by priority of treatment, so tagging a salvageable casualty expectant is under-triage).
START_PRIORITY = {"immediate": 0, "delayed": 1, "minor": 2, "expectant": 3}


def resuscitation_metrics(
    records: list[dict[str, Any]],
    end_time: float,
    rubric: RubricResult | None = None,
    patients: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Time to first compression and shock, chest-compression fraction and pauses, drug
    timing errors (from the rubric's drug rules) and outcome.

    ``patients``: the ``patient`` field values that count (``vrmed.api.patients_for`` of the
    scenario's patient), so a second casualty's rhythm, compressions and shocks do not enter
    the arrested patient's metrics; None counts every event (a single-patient session)."""
    records = sorted(
        (r for r in records if for_patient(r.get("data") or {}, patients)),
        key=lambda r: (r["t"], r.get("seq", 0)),
    )
    onsets = [r for r in matching(records, "RhythmChanged") if r["data"]["to_rhythm"] in ARREST_RHYTHMS]
    if not onsets:
        return {"arrest": False}
    t_arrest = float(onsets[0]["t"])
    rosc = [r for r in matching(records, "RhythmChanged") if r["data"]["to_rhythm"] == "rosc" and r["t"] >= t_arrest]
    t_end = float(rosc[0]["t"]) if rosc else end_time

    def first(name: str) -> float | None:
        """Seconds from arrest onset to the first such event (None if none)."""
        found = [r for r in matching(records, name) if r["t"] >= t_arrest]
        return round(float(found[0]["t"]) - t_arrest, 3) if found else None

    # Compression fraction from the first compression (or the arrest) to ROSC / the end.
    on, t_on, total, pauses = False, None, 0.0, []
    start = None
    for r in records:
        name = short_type(r)
        if name not in ("CompressionsStarted", "CompressionsStopped") or r["t"] < t_arrest or r["t"] > t_end:
            continue
        t = float(r["t"])
        if name == "CompressionsStarted" and not on:
            if start is None:
                start = t
            elif t_on is not None:
                pauses.append(round(t - t_on, 3))
            on, t_on = True, t
        elif name == "CompressionsStopped" and on:
            total += t - (t_on or t)
            on, t_on = False, t
    if on and t_on is not None:
        total += t_end - t_on
    elif not on and t_on is not None and t_end > t_on:
        pauses.append(round(t_end - t_on, 3))
    window = t_end - (start if start is not None else t_arrest)
    ccf = total / window if window > 0 else 0.0
    drug_errors = None
    if rubric is not None:
        drug_errors = sum(
            max(1, len(r.violations))
            for r in rubric.rules
            if not r.passed and (r.id.startswith("epinephrine") or r.id.startswith("amiodarone"))
        )
    return {
        "arrest": True,
        "time_to_first_compression_s": first("CompressionsStarted"),
        "time_to_first_shock_s": first("ShockDelivered"),
        "chest_compression_fraction": round(ccf, 4),
        "pauses": len(pauses),
        "longest_pause_s": max(pauses, default=0.0),
        "pauses_over_10s": sum(p > 10.0 for p in pauses),
        "shocks": len([r for r in matching(records, "ShockDelivered") if r["t"] >= t_arrest]),
        "drug_timing_errors": drug_errors,
        "outcome": "rosc" if rosc else "no_rosc",
        "time_to_rosc_s": round(t_end - t_arrest, 3) if rosc else None,
    }


def triage_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """START accuracy, over- and under-triage rates and time per patient.

    Over-triage: a tag more urgent than START gives; under-triage: less urgent. Time per
    patient runs from reaching a casualty (``CasualtyAssessed``) to tagging it.
    """
    expected: dict[str, tuple[str, float]] = {}
    for r in matching(records, "CasualtyAssessed"):
        expected.setdefault(r["data"]["patient"], (r["data"]["expected"], float(r["t"])))
    tags: dict[str, tuple[str, float]] = {}
    for r in matching(records, "TriageTagged"):
        tags.setdefault(r["data"]["patient"], (r["data"]["category"], float(r["t"])))
    rows: list[dict[str, Any]] = []
    for patient, (exp, t_seen) in sorted(expected.items()):
        tag, t_tag = tags.get(patient, (None, None))
        rows.append(
            {
                "patient": patient,
                "expected": exp,
                "tagged": tag,
                "seconds": None if t_tag is None else round(t_tag - t_seen, 3),
            }
        )
    n = len(rows)
    tagged = [r for r in rows if r["tagged"] is not None]
    correct = sum(r["tagged"] == r["expected"] for r in tagged)
    over = sum(START_PRIORITY.get(r["tagged"], 9) < START_PRIORITY[r["expected"]] for r in tagged)
    under = sum(START_PRIORITY.get(r["tagged"], -1) > START_PRIORITY[r["expected"]] for r in tagged)
    times = [r["seconds"] for r in tagged]
    return {
        "casualties": n,
        "tagged": len(tagged),
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else None,
        "over_triage_rate": round(over / n, 4) if n else None,
        "under_triage_rate": round(under / n, 4) if n else None,
        "mean_seconds_per_patient": round(sum(times) / len(times), 3) if times else None,
        "per_patient": rows,
    }
