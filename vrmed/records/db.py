"""The attempt database: every scored attempt of a cohort in one embedded SQLite file, for
learning curves, cohort statistics and the instructor dashboard (``vrmed dashboard``).

SQLite (Python's standard library ``sqlite3``) is the embedded analytical store: one file,
no server, safe for concurrent readers. Three tables, long format so any pack's metrics fit::

    attempts(attempt_id PK, learner, pack, scenario, skill, started, t_start, sim_time,
             score, max_score, scaled, passed, completed, mode, learner_kind, level, source)
    metrics(attempt_id, skill, name, value, target, direction)   one row per metric of an attempt
    findings(attempt_id, rule, status, t, reason)         every rubric rule not met
    sessions(attempt_id, session_id)                       the session log's SHA-256 (for the debrief)

Attempts come from the local record store (:meth:`AttemptDB.ingest_store`) or from an LRS
export (:meth:`AttemptDB.ingest_statements`: the ``passed``/``failed`` statements vrmed
sends carry the score, the metrics, their targets and the failed rules as result
extensions, so an institution's LRS is a complete source). Ingesting the same attempt
twice changes nothing (the attempt id is the primary key).

Aggregation runs in SQL (GROUP BY) with percentiles computed by NumPy over the one column
fetched; ``benchmarks/attempt_store.py`` measures 100,000 attempts.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..scenario.scorecard import rule_status
from .attempt import Attempt
from .errors import RecordsStoreError
from .xapi import XAPI_NS, task_completed

SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id TEXT PRIMARY KEY,
    learner TEXT NOT NULL,
    pack TEXT NOT NULL,
    scenario TEXT NOT NULL,
    skill TEXT NOT NULL,
    started TEXT NOT NULL,
    t_start REAL NOT NULL,
    sim_time REAL NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    scaled REAL NOT NULL,
    passed INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    mode TEXT NOT NULL DEFAULT 'formative',
    learner_kind TEXT NOT NULL DEFAULT 'person',
    level REAL,
    source TEXT NOT NULL DEFAULT 'store'
);
CREATE TABLE IF NOT EXISTS metrics (
    attempt_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    target REAL,
    direction TEXT,
    PRIMARY KEY (attempt_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings (
    attempt_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL,
    t REAL,
    reason TEXT,
    PRIMARY KEY (attempt_id, rule)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    attempt_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attempts_by_learner ON attempts (learner, skill, t_start);
CREATE INDEX IF NOT EXISTS attempts_by_skill ON attempts (skill, learner, t_start);
CREATE INDEX IF NOT EXISTS metrics_by_skill ON metrics (skill, name, value, target, direction);
"""

#: Percentiles reported per metric (the cohort distribution).
PERCENTILES = (10, 25, 50, 75, 90)


@dataclass(frozen=True)
class AttemptRow:
    """One attempt as the dashboard shows it (what the database holds)."""

    attempt_id: str
    learner: str
    pack: str
    scenario: str
    skill: str
    started: str
    sim_time: float
    score: float
    max_score: float
    passed: bool
    completed: bool
    mode: str
    level: float | None
    source: str


@dataclass(frozen=True)
class MetricStats:
    """A metric's distribution over a cohort (one value per attempt)."""

    name: str
    n: int
    mean: float
    percentiles: dict[int, float]
    target: float | None
    direction: str | None
    share_meeting_target: float | None


def _epoch(iso: str) -> float:
    when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=_dt.UTC)).timestamp()


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


class AttemptDB:
    """An attempt database file (created on first use); ``":memory:"`` for a throwaway one."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, check_same_thread=False)
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RecordsStoreError(f"{self.path}: not an attempt database ({exc}); move it aside") from None
        self.conn.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")

    def close(self) -> None:
        """Close the database file."""
        self.conn.close()

    # -- ingest ----------------------------------------------------------------------
    def add_rows(
        self,
        attempts: Iterable[Sequence[Any]],
        metrics: Iterable[Sequence[Any]] = (),
        findings: Iterable[Sequence[Any]] = (),
        sessions: Iterable[Sequence[Any]] = (),
    ) -> int:
        """Bulk insert raw rows in one transaction (columns in :data:`SCHEMA` order);
        rows whose attempt id is already stored are ignored. Returns attempts added."""
        with self.conn:
            before = self.conn.total_changes
            self.conn.executemany("INSERT OR IGNORE INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", attempts)
            added = self.conn.total_changes - before
            self.conn.executemany("INSERT OR IGNORE INTO metrics VALUES (?,?,?,?,?,?)", metrics)
            self.conn.executemany("INSERT OR IGNORE INTO findings VALUES (?,?,?,?,?)", findings)
            self.conn.executemany("INSERT OR IGNORE INTO sessions VALUES (?,?)", sessions)
        return added

    def add_attempts(self, attempts: Iterable[Attempt], source: str = "store") -> int:
        """Add stored :class:`~vrmed.records.attempt.Attempt` records; returns how many were new."""
        rows, mrows, frows, srows = [], [], [], []
        for a in attempts:
            s = a.score
            rows.append(
                (
                    a.attempt_id,
                    a.learner,
                    a.pack,
                    a.scenario,
                    a.skill,
                    a.started,
                    _epoch(a.started),
                    a.sim_time,
                    s.score,
                    s.max_score,
                    s.scaled,
                    int(s.passed),
                    int(task_completed(a)),
                    a.mode,
                    a.learner_kind,
                    a.level,
                    source,
                )  # fmt: skip
            )
            srows.append((a.attempt_id, a.session_id))
            for name, value in s.metrics.items():
                v = _finite(value)
                if v is not None:
                    target = _finite(s.targets.get(name))
                    mrows.append((a.attempt_id, a.skill, name, v, target, s.directions.get(name)))
            for f in _findings(s.rubric):
                frows.append((a.attempt_id, *f))
        return self.add_rows(rows, mrows, frows, srows)

    def ingest_store(self, store: Any) -> int:
        """Add every attempt of a :class:`~vrmed.records.store.RecordStore`; returns new ones."""
        return sum(self.add_attempts(store.attempts(learner)) for learner in store.learners())

    def ingest_statements(self, statements: Iterable[Any], source: str = "lrs") -> int:
        """Add the attempts described by vrmed's xAPI statements (an LRS export: a list of
        statements, e.g. ``GET /statements`` pages, or ``vrmed records export-cohort``).
        Only the ``passed``/``failed`` verdicts carry a score; other statements and other
        tools' statements are skipped. The learner is the account name (a pseudonym)."""
        rows, mrows, frows, srows = [], [], [], []
        completed: set[str] = set()
        verdicts = []
        for i, st in enumerate(statements):
            if not isinstance(st, dict):
                raise RecordsStoreError(f"statement {i}: not a JSON object")
            verb = str((st.get("verb") or {}).get("id", "")).rsplit("/", 1)[-1]
            reg = (st.get("context") or {}).get("registration")
            if verb == "completed" and reg:
                completed.add(str(reg))
            elif verb in ("passed", "failed") and reg:
                verdicts.append((verb, st))
        for verb, st in verdicts:
            ctx = st.get("context") or {}
            ext = ctx.get("extensions") or {}
            result = st.get("result") or {}
            score = result.get("score") or {}
            account = (st.get("actor") or {}).get("account") or {}
            pack, scenario = ext.get(XAPI_NS + "context/pack"), ext.get(XAPI_NS + "context/scenario")
            if not (pack and scenario and account.get("name") and "timestamp" in st):
                continue  # not one of vrmed's verdict statements
            aid = str(ctx["registration"])
            skill = str(ext.get(XAPI_NS + "context/skill") or f"{pack}/{scenario}")
            duration = _iso_seconds(str(result.get("duration", "PT0S")))
            ended = _epoch(str(st["timestamp"]))
            started = ended - duration
            level = (ext.get(XAPI_NS + "context/difficulty") or {}).get("level")
            rows.append(
                (
                    aid,
                    str(account["name"]),
                    str(pack),
                    str(scenario),
                    skill,
                    _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(),
                    started,
                    duration,
                    float(score.get("raw", 0.0)),
                    float(score.get("max", 1.0)),
                    float(score.get("scaled", 0.0)),
                    int(verb == "passed"),
                    int(bool(result.get("completion")) or aid in completed),
                    str(ext.get(XAPI_NS + "context/mode", "formative")),
                    str(ext.get(XAPI_NS + "context/learner-kind", "person")),
                    _finite(level),
                    source,
                )  # fmt: skip
            )
            sid = ext.get(XAPI_NS + "context/session-id")
            if isinstance(sid, str) and sid:
                srows.append((aid, sid))
            rext = result.get("extensions") or {}
            targets = {k.rsplit("/", 1)[-1]: v for k, v in rext.items() if k.startswith(XAPI_NS + "targets/")}
            ways = {k.rsplit("/", 1)[-1]: v for k, v in rext.items() if k.startswith(XAPI_NS + "directions/")}
            for key, value in rext.items():
                if key.startswith(XAPI_NS + "metrics/") and _finite(value) is not None:
                    name = key[len(XAPI_NS + "metrics/") :]
                    way = ways.get(name) if ways.get(name) in ("lower", "higher") else None
                    mrows.append((aid, skill, name, float(value), _finite(targets.get(name)), way))
            for f in rext.get(XAPI_NS + "rubric/findings") or []:
                if isinstance(f, dict) and f.get("id"):
                    frows.append(
                        (aid, str(f["id"]), str(f.get("status", "missed")), _finite(f.get("t")), f.get("reason"))
                    )
        return self.add_rows(rows, mrows, frows, srows)

    # -- queries ---------------------------------------------------------------------
    def count(self) -> int:
        """Number of attempts stored."""
        return int(self.conn.execute("SELECT count(*) FROM attempts").fetchone()[0])

    def learners(self, skill: str | None = None) -> list[str]:
        """Learner pseudonyms (of one skill, or all)."""
        q = "SELECT DISTINCT learner FROM attempts" + (" WHERE skill = ?" if skill else "") + " ORDER BY learner"
        return [r[0] for r in self.conn.execute(q, (skill,) if skill else ())]

    def skills(self, learner: str | None = None) -> list[str]:
        """Skills with attempts (of one learner, or all)."""
        q = "SELECT DISTINCT skill FROM attempts" + (" WHERE learner = ?" if learner else "") + " ORDER BY skill"
        return [r[0] for r in self.conn.execute(q, (learner,) if learner else ())]

    def attempts(self, learner: str | None = None, skill: str | None = None) -> list[AttemptRow]:
        """Attempts, oldest first, filtered by learner and/or skill."""
        where, args = _where(learner=learner, skill=skill)
        q = (
            "SELECT attempt_id, learner, pack, scenario, skill, started, sim_time, score, max_score, passed, "
            f"completed, mode, level, source FROM attempts{where} ORDER BY t_start, attempt_id"
        )
        return [_row(r) for r in self.conn.execute(q, args)]

    def attempt(self, attempt_id: str) -> AttemptRow | None:
        """One attempt by id."""
        q = (
            "SELECT attempt_id, learner, pack, scenario, skill, started, sim_time, score, max_score, passed, "
            "completed, mode, level, source FROM attempts WHERE attempt_id = ?"
        )
        r = self.conn.execute(q, (attempt_id,)).fetchone()
        return None if r is None else _row(r)

    def session_of(self, attempt_id: str) -> str | None:
        """The SHA-256 of the attempt's session log (``vrmed.records.session_id``), if known."""
        r = self.conn.execute("SELECT session_id FROM sessions WHERE attempt_id = ?", (attempt_id,)).fetchone()
        return None if r is None else str(r[0])

    def metrics_of(self, attempt_id: str) -> list[tuple[str, float, float | None, str | None]]:
        """(name, value, target, direction) of one attempt's metrics."""
        q = "SELECT name, value, target, direction FROM metrics WHERE attempt_id = ? ORDER BY name"
        return list(self.conn.execute(q, (attempt_id,)))

    def findings_of(self, attempt_id: str) -> list[tuple[str, str, float | None, str | None]]:
        """(rule, status, t, reason) of one attempt's unmet rubric rules, in time order."""
        q = "SELECT rule, status, t, reason FROM findings WHERE attempt_id = ? ORDER BY t IS NULL, t, rule"
        return list(self.conn.execute(q, (attempt_id,)))

    def metric_names(self, skill: str | None = None) -> list[str]:
        """Metric names recorded for a skill (or any)."""
        if skill:
            q = "SELECT DISTINCT m.name FROM metrics m JOIN attempts a USING (attempt_id) WHERE a.skill = ? ORDER BY 1"
            return [r[0] for r in self.conn.execute(q, (skill,))]
        return [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM metrics ORDER BY 1")]

    def series(self, learner: str, skill: str, metric: str) -> tuple[np.ndarray, float | None, str | None]:
        """A learner's values of ``metric`` on ``skill``, oldest attempt first, with the target
        and its direction (the most recent ones recorded)."""
        q = (
            "SELECT m.value, m.target, m.direction FROM metrics m JOIN attempts a USING (attempt_id) "
            "WHERE a.learner = ? AND a.skill = ? AND m.name = ? ORDER BY a.t_start, a.attempt_id"
        )
        rows = self.conn.execute(q, (learner, skill, metric)).fetchall()
        target = next((r[1] for r in reversed(rows) if r[1] is not None), None)
        direction = next((r[2] for r in reversed(rows) if r[2] is not None), None)
        return np.array([r[0] for r in rows], float), target, direction

    def outcomes(self, learner: str, skill: str) -> np.ndarray:
        """A learner's pass (1) / fail (0) sequence on ``skill``, oldest first."""
        q = "SELECT passed FROM attempts WHERE learner = ? AND skill = ? ORDER BY t_start, attempt_id"
        return np.array([r[0] for r in self.conn.execute(q, (learner, skill))], float)

    def cohort_metric(self, skill: str, metric: str, learner: str | None = None) -> MetricStats:
        """Distribution of ``metric`` over the skill's attempts (one learner's, or all)."""
        if learner is None:
            return next((m for m in self.cohort(skill, [metric])), _stats(metric, np.empty(0), None, None))
        values, target, direction = self.series(learner, skill, metric)
        return _stats(metric, values, target, direction)

    def cohort(self, skill: str, names: Sequence[str] | None = None) -> list[MetricStats]:
        """Every metric's distribution over a skill's attempts, computed inside SQLite on
        the (skill, name, value) index: count, mean and target by GROUP BY, percentiles by
        reading the two order statistics around each rank (linear interpolation, NumPy's
        default ``percentile`` method), the share meeting the target by a range count."""
        q = (
            "SELECT name, count(*), avg(value), max(target), max(direction) FROM metrics WHERE skill = ? "
            "GROUP BY name ORDER BY name"
        )
        out = []
        for name, n, mean, target, direction in self.conn.execute(q, (skill,)):
            if names is not None and name not in names:
                continue
            pct = {}
            for p in PERCENTILES:
                rank = (n - 1) * p / 100.0
                lo = int(math.floor(rank))
                pair = [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT value FROM metrics WHERE skill = ? AND name = ? ORDER BY value LIMIT 2 OFFSET ?",
                        (skill, name, lo),
                    )
                ]
                hi = pair[1] if len(pair) > 1 else pair[0]
                pct[p] = float(pair[0] + (hi - pair[0]) * (rank - lo))
            meeting = None
            if target is not None and direction in ("lower", "higher"):
                op = "<=" if direction == "lower" else ">="
                hits = self.conn.execute(
                    f"SELECT count(*) FROM metrics WHERE skill = ? AND name = ? AND value {op} ?", (skill, name, target)
                ).fetchone()[0]
                meeting = hits / n
            out.append(MetricStats(name, int(n), float(mean), pct, target, direction, meeting))
        return out

    def pass_rates(self, skill: str | None = None) -> list[tuple[str, str, int, int, float]]:
        """(learner, skill, attempts, passes, pass rate) per learner and skill (GROUP BY)."""
        where, args = _where(skill=skill)
        q = (
            f"SELECT learner, skill, count(*), sum(passed), avg(passed) FROM attempts{where} "
            "GROUP BY learner, skill ORDER BY learner, skill"
        )
        return list(self.conn.execute(q, args))

    def failing_rules(
        self, skill: str | None = None, learner: str | None = None, limit: int = 10
    ) -> list[tuple[str, int, float]]:
        """(rule, attempts that missed it, share of the attempts) most-missed first."""
        where, args = _where(skill=skill, learner=learner, alias="a")
        total = self.conn.execute(f"SELECT count(*) FROM attempts a{where}", args).fetchone()[0] or 1
        q = (
            f"SELECT f.rule, count(*) FROM findings f JOIN attempts a USING (attempt_id){where} "
            "AND f.status = 'missed' GROUP BY f.rule ORDER BY count(*) DESC, f.rule LIMIT ?"
        )
        return [(r, n, n / total) for r, n in self.conn.execute(q, (*args, limit))]

    def iter_rows(self, skill: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Raw attempt rows (for export)."""
        where, args = _where(skill=skill)
        yield from self.conn.execute(f"SELECT * FROM attempts{where} ORDER BY learner, t_start", args)

    def gradebook_csv(self, skill: str | None = None) -> str:
        """A gradebook: one CSV row per attempt (learner pseudonym, scenario, start time,
        score, percent, passed, completed, mode, level, the missed rules), RFC 4180 quoting."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(
            [
                "learner",
                "skill",
                "pack",
                "scenario",
                "attempt_id",
                "started",
                "duration_s",
                "score",
                "max_score",
                "percent",
                "passed",
                "completed",
                "mode",
                "level",
                "missed_rules",
            ]  # fmt: skip
        )
        where, args = _where(skill=skill, alias="a")
        q = (
            "SELECT a.learner, a.skill, a.pack, a.scenario, a.attempt_id, a.started, a.sim_time, a.score, "
            "a.max_score, a.scaled, a.passed, a.completed, a.mode, a.level, "
            "(SELECT group_concat(rule, '; ') FROM findings f WHERE f.attempt_id = a.attempt_id "
            f"AND f.status = 'missed') FROM attempts a{where} ORDER BY a.learner, a.t_start"
        )
        for r in self.conn.execute(q, args):
            w.writerow(
                [
                    *r[:6],
                    f"{r[6]:.2f}",
                    f"{r[7]:g}",
                    f"{r[8]:g}",
                    f"{100 * r[9]:.1f}",
                    "yes" if r[10] else "no",
                    "yes" if r[11] else "no",
                    r[12],
                    "" if r[13] is None else f"{r[13]:.2f}",
                    r[14] or "",
                ]  # fmt: skip
            )
        return out.getvalue()


def _row(r: Sequence[Any]) -> AttemptRow:
    return AttemptRow(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[6]), float(r[7]), float(r[8]),
        bool(r[9]), bool(r[10]), str(r[11]), None if r[12] is None else float(r[12]), str(r[13]),
    )  # fmt: skip


def _where(*, learner: str | None = None, skill: str | None = None, alias: str = "") -> tuple[str, tuple[Any, ...]]:
    p = f"{alias}." if alias else ""
    conds, args = ["1=1"], []
    if learner:
        conds.append(f"{p}learner = ?")
        args.append(learner)
    if skill:
        conds.append(f"{p}skill = ?")
        args.append(skill)
    return " WHERE " + " AND ".join(conds), tuple(args)


def _stats(name: str, values: np.ndarray, target: float | None, direction: str | None) -> MetricStats:
    if values.size == 0:
        return MetricStats(name, 0, math.nan, {p: math.nan for p in PERCENTILES}, target, direction, None)
    pct = np.percentile(values, PERCENTILES)
    meeting = None
    if target is not None and direction in ("lower", "higher"):
        meeting = float(np.mean(values <= target if direction == "lower" else values >= target))
    return MetricStats(
        name,
        int(values.size),
        float(values.mean()),
        {p: float(v) for p, v in zip(PERCENTILES, pct)},
        target,
        direction,
        meeting,
    )


def _findings(rubric: dict[str, Any] | None) -> list[tuple[str, str, float | None, str | None]]:
    if not rubric:
        return []
    found = rubric.get("findings") or [
        {"id": r.get("id"), "status": rule_status(r), "t": r.get("t"), "reason": r.get("detail")}
        for r in rubric.get("rules", [])
        if rule_status(r) != "met"
    ]
    return [
        (str(f["id"]), str(f.get("status", "missed")), _finite(f.get("t")), f.get("reason"))
        for f in found
        if f.get("id")
    ]


def _iso_seconds(text: str) -> float:
    """Seconds of an ISO 8601 duration such as ``PT1M5.25S`` (hours, minutes, seconds)."""
    m = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?", text
    )
    if not m:
        return 0.0
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


__all__ = ["PERCENTILES", "AttemptDB", "AttemptRow", "MetricStats"]
