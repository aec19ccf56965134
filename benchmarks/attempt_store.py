"""The attempt database at cohort scale: 100,000 attempts loaded and aggregated.

A synthetic cohort (500 learners x 4 skills x 50 attempts, four metrics per attempt and
rubric findings on the failed ones; seeded, so every run builds the same data) is written
to an SQLite file with :class:`vrmed.records.db.AttemptDB`. Timed separately:

* ``ingest_s``: bulk insert of every attempt, metric and finding row (one transaction);
* ``load_aggregate_s``: open the file cold (new connection) and compute what the dashboard's
  cohort page shows for every skill: per-learner pass rates (GROUP BY), every metric's
  percentiles and share meeting its target, and the most-missed rubric rules.

Target (issue #18): ``load_aggregate_s`` under 1 s for 100,000 attempts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vrmed.records.db import AttemptDB

METRICS = (
    ("task_time_s", 60.0, "lower"),
    ("path_length_m", 2.5, "lower"),
    ("economy", 0.6, "higher"),
    ("sparc", -2.0, "higher"),
)
RULES = ("hand_hygiene", "check_identity", "check_allergy", "confirm_dose", "document")


def synthetic_rows(
    n_learners: int, n_skills: int, per_learner: int, seed: int = 7
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Attempt, metric and finding rows of a synthetic cohort whose learners improve along a
    power law of practice with learner-specific rates (some never reach the target)."""
    rng = np.random.default_rng(seed)
    attempts, metrics, findings = [], [], []
    t0 = 1.75e9
    for li in range(n_learners):
        learner = f"l-{li:032x}"
        rate = rng.uniform(0.05, 0.6)
        for si in range(n_skills):
            skill = f"pack/scenario_{si}"
            n = np.arange(1, per_learner + 1)
            skill_level = 1.0 - np.exp(-rate * n / 10)
            passed = rng.random(per_learner) < 0.1 + 0.85 * skill_level
            for k in range(per_learner):
                aid = f"{li:08x}-{si:04x}-5{k:03x}-8000-{li * 1000 + si * 100 + k:012x}"
                t = t0 + (li * n_skills * per_learner + si * per_learner + k) * 60.0
                score = 40.0 + 60.0 * skill_level[k]
                started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))
                attempts.append(
                    (
                        aid,
                        learner,
                        "pack",
                        f"scenario_{si}",
                        skill,
                        started,
                        t,
                        120.0,
                        score,
                        100.0,
                        score / 100,
                        int(passed[k]),
                        int(passed[k]),
                        "formative",
                        "person",
                        None,
                        "bench",
                    )  # fmt: skip
                )
                for name, target, direction in METRICS:
                    noise = rng.normal(0, 0.05)
                    good = skill_level[k] + noise
                    value = target * (1.6 - 0.8 * good) if direction == "lower" else target * (0.4 + 0.8 * good)
                    metrics.append((aid, skill, name, float(value), target, direction))
                if not passed[k]:
                    findings.append((aid, RULES[(li + k) % len(RULES)], "missed", 30.0 + k, "not done"))
    return attempts, metrics, findings


def aggregate(db: AttemptDB) -> dict[str, Any]:
    """Everything the cohort page needs, for every skill."""
    out: dict[str, Any] = {"pass_rates": db.pass_rates()}
    for skill in db.skills():
        out[skill] = (db.cohort(skill), db.failing_rules(skill))
    return out


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Ingest and aggregate 100,000 attempts (10,000 with ``--quick``)."""
    learners = 50 if options.get("quick") else 500
    rows = synthetic_rows(learners, 4, 50)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attempts.sqlite"
        db = AttemptDB(path)
        t0 = time.perf_counter()
        db.add_rows(*rows)
        ingest = time.perf_counter() - t0
        db.close()
        t0 = time.perf_counter()
        db = AttemptDB(path)
        n = db.count()
        result = aggregate(db)
        load_aggregate = time.perf_counter() - t0
        db.close()
    return {
        "suite": "attempt_store",
        "rows": [
            {
                "attempts": n,
                "metric_rows": len(rows[1]),
                "finding_rows": len(rows[2]),
                "ingest_s": round(ingest, 3),
                "load_aggregate_s": round(load_aggregate, 3),
                "skills": len(result) - 1,
                "learner_skill_groups": len(result["pass_rates"]),
                "target_s": 1.0,
            }
        ],
        "notes": [
            "SQLite (Python sqlite3) file in WAL mode; long-format metrics table",
            "load_aggregate_s: cold open + pass rates per learner and skill + percentiles of every metric "
            "per skill + most-missed rules per skill",
        ],
    }
