"""Proficiency-based curricula: modules with prerequisites and proficiency criteria,
a learner's standing in them, and feedback on the metrics that fell short.

Proficiency-based training (Ritter & Scott 2007, "Design of a proficiency-based skills
training curriculum for the fundamentals of laparoscopic surgery", Surgical Innovation
14(2):107-112) sets expert-derived targets per task and asks for them to be met on
consecutive attempts (two consecutive, in their FLS curriculum) before moving on. A
curriculum is a YAML file::

    name: sandbox-basics
    title: Sandbox basics
    modules:
      - id: first-pokes
        title: Poke the balls
        scenario: sandbox/ball_pit
        proficiency:
          consecutive: 2              # attempts in a row that meet every criterion
          passed: true                # the pack's own verdict (default true)
          min_score: 0.5              # scaled score, optional
          metrics:
            pokes: {at_least: target, hint: keep the trigger down while you sweep}
            time_to_first_poke: {at_most: 2.0, label: time to first poke, hint: start as the balls land}
      - id: fast-pokes
        scenario: sandbox/ball_pit
        requires: [first-pokes]
        proficiency: {consecutive: 2, min_score: 0.9}

``at_least``/``at_most`` take a number or ``target`` (the pack's own proficiency target
from ``score(log)["targets"]``). See docs/adaptive-training.md.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import VrmedError

#: A pack name as ``pack.yaml`` allows it (vrmed/packs/schema.py): never ``.``, ``..`` or a path.
_PACK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class CurriculumError(VrmedError):
    """A curriculum file is missing or invalid; the message names the file and key."""


@dataclass(frozen=True)
class MetricCriterion:
    """A bound on one metric: ``at_least`` or ``at_most`` a number or the pack's target."""

    metric: str
    bound: str  # "at_least" | "at_most"
    value: float | None  # None: use the attempt's target for this metric
    label: str
    hint: str = ""

    def limit(self, targets: dict[str, float]) -> float | None:
        """The number to compare with (None when it refers to a target the pack did not give)."""
        return self.value if self.value is not None else targets.get(self.metric)

    def met(self, metrics: dict[str, float], targets: dict[str, float]) -> bool:
        """Whether an attempt's metrics meet the criterion (a missing metric does not)."""
        limit, value = self.limit(targets), metrics.get(self.metric)
        if limit is None or value is None:
            return False
        return value >= limit if self.bound == "at_least" else value <= limit

    def feedback(self, metrics: dict[str, float], targets: dict[str, float]) -> str:
        """A message for a criterion that was not met, e.g. ``path length 2.1x the
        proficiency level: plan your moves before lifting``."""
        limit, value = self.limit(targets), metrics.get(self.metric)
        if value is None or limit is None:
            text = f"{self.label} was not measured in this attempt"
        elif self.bound == "at_most":
            ratio = value / limit if limit else math.inf
            text = (
                f"{self.label} {ratio:.1f}x the proficiency level"
                if math.isfinite(ratio)
                else f"{self.label} {value:g}, the proficiency level is {limit:g}"
            )
        else:
            share = f" ({value / limit:.0%} of the proficiency level)" if limit else ""
            text = f"{self.label} {value:g}, {limit:g} needed{share}"
        return f"{text}: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Proficiency:
    """When a module counts as mastered."""

    consecutive: int = 2
    passed: bool = True
    min_score: float | None = None
    metrics: tuple[MetricCriterion, ...] = ()

    def shortfalls(self, attempt: Any) -> list[str]:
        """Feedback for each criterion an attempt did not meet (empty: it met all)."""
        s = attempt.score
        out = [c.feedback(s.metrics, s.targets) for c in self.metrics if not c.met(s.metrics, s.targets)]
        if self.min_score is not None and s.scaled < self.min_score:
            out.append(f"score {s.scaled:.0%}, {self.min_score:.0%} needed")
        if self.passed and not s.passed and not out:
            out.append("the attempt did not pass the scenario's own criteria")
        return out


@dataclass(frozen=True)
class Module:
    """One curriculum module: a scenario with prerequisites and a proficiency criterion."""

    id: str
    title: str
    pack: str
    scenario: str | None
    requires: tuple[str, ...] = ()
    proficiency: Proficiency = field(default_factory=Proficiency)

    def matches(self, attempt: Any) -> bool:
        """Whether an attempt was made on this module's scenario."""
        return attempt.pack == self.pack and (self.scenario is None or attempt.scenario == self.scenario)


@dataclass(frozen=True)
class Curriculum:
    """A validated curriculum (modules in file order)."""

    name: str
    title: str
    modules: tuple[Module, ...]
    file: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Curriculum:
        """Read and validate a curriculum file."""
        path = Path(path)
        if not path.is_file():
            raise CurriculumError(f"{path}: no such curriculum file")
        if path.stat().st_size > 1 << 20:
            raise CurriculumError(f"{path}: larger than 1 MiB; not a curriculum file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CurriculumError(f"{path}: cannot read the curriculum ({exc})") from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise CurriculumError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "<curriculum>") -> Curriculum:
        """Validate a parsed curriculum; errors name ``where`` and the key."""
        if not isinstance(data, dict) or not isinstance(data.get("modules"), list) or not data["modules"]:
            raise CurriculumError(f"{where}: expected a mapping with name and a non-empty list of modules")
        _no_unknown(data, {"name", "title", "modules", "description"}, where, "")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise CurriculumError(f"{where}: name: expected a non-empty string")
        modules: list[Module] = []
        for i, raw in enumerate(data["modules"]):
            modules.append(_module(raw, where, f"modules[{i}]"))
        ids = [m.id for m in modules]
        dup = next((m for m in ids if ids.count(m) > 1), None)
        if dup:
            raise CurriculumError(f"{where}: modules: duplicate module id {dup!r}")
        for i, m in enumerate(modules):
            for req in m.requires:
                if req not in ids:
                    raise CurriculumError(
                        f"{where}: modules[{i}].requires: unknown module {req!r}; modules are: {', '.join(ids)}"
                    )
        _check_cycles(modules, where)
        return cls(name, str(data.get("title") or name), tuple(modules), where)

    def module(self, module_id: str) -> Module:
        """A module by id."""
        for m in self.modules:
            if m.id == module_id:
                return m
        raise CurriculumError(f"{self.file}: no module {module_id!r}")


def _no_unknown(data: dict[str, Any], allowed: set[str], where: str, key: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise CurriculumError(
            f"{where}: {key + '.' if key else ''}{extra[0]}: unknown key; expected one of {', '.join(sorted(allowed))}"
        )


def _number(value: Any, where: str, key: str, lo: float | None = None, hi: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (lo is not None and value < lo)
        or (hi is not None and value > hi)
    ):
        rng = f" from {lo:g} to {hi:g}" if lo is not None and hi is not None else ""
        raise CurriculumError(f"{where}: {key}: expected a number{rng}, got {value!r}")
    return float(value)


def _module(raw: Any, where: str, key: str) -> Module:
    if not isinstance(raw, dict):
        raise CurriculumError(f"{where}: {key}: expected a mapping with id and scenario")
    _no_unknown(raw, {"id", "title", "scenario", "requires", "proficiency", "description"}, where, key)
    mid, target = raw.get("id"), raw.get("scenario")
    if not isinstance(mid, str) or not mid:
        raise CurriculumError(f"{where}: {key}.id: expected a non-empty string")
    if not isinstance(target, str) or not target:
        raise CurriculumError(f"{where}: {key}.scenario: expected PACK or PACK/SCENARIO")
    pack, _, scenario = target.partition("/")
    if not _PACK_NAME.match(pack):
        # A curriculum names installed packs only: a path here would select code to run.
        raise CurriculumError(
            f"{where}: {key}.scenario: {pack!r} is not a pack name (letters, digits, '_', '.', '-'); a "
            f"curriculum names installed packs, never folders"
        )
    requires = raw.get("requires", []) or []
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise CurriculumError(f"{where}: {key}.requires: expected a list of module ids")
    prof = raw.get("proficiency", {}) or {}
    pkey = f"{key}.proficiency"
    if not isinstance(prof, dict):
        raise CurriculumError(f"{where}: {pkey}: expected a mapping")
    _no_unknown(prof, {"consecutive", "passed", "min_score", "metrics"}, where, pkey)
    consecutive = prof.get("consecutive", 2)
    if isinstance(consecutive, bool) or not isinstance(consecutive, int) or consecutive < 1:
        raise CurriculumError(f"{where}: {pkey}.consecutive: expected a whole number of at least 1")
    if not isinstance(prof.get("passed", True), bool):
        raise CurriculumError(f"{where}: {pkey}.passed: expected true or false")
    min_score = prof.get("min_score")
    if min_score is not None:
        min_score = _number(min_score, where, f"{pkey}.min_score", 0, 1)
    criteria = []
    metrics = prof.get("metrics", {}) or {}
    if not isinstance(metrics, dict):
        raise CurriculumError(f"{where}: {pkey}.metrics: expected a mapping of metric name to criterion")
    for metric, spec in metrics.items():
        mkey = f"{pkey}.metrics.{metric}"
        if not isinstance(spec, dict):
            raise CurriculumError(f"{where}: {mkey}: expected {{at_least|at_most: number or target}}")
        _no_unknown(spec, {"at_least", "at_most", "label", "hint"}, where, mkey)
        bounds = [b for b in ("at_least", "at_most") if b in spec]
        if len(bounds) != 1:
            raise CurriculumError(f"{where}: {mkey}: give exactly one of at_least or at_most")
        value = spec[bounds[0]]
        number = None if value == "target" else _number(value, where, f"{mkey}.{bounds[0]}")
        criteria.append(
            MetricCriterion(
                str(metric),
                bounds[0],
                number,
                str(spec.get("label") or str(metric).replace("_", " ")),
                str(spec.get("hint") or ""),
            )
        )
    return Module(
        mid,
        str(raw.get("title") or mid),
        pack,
        scenario or None,
        tuple(requires),
        Proficiency(consecutive, prof.get("passed", True), min_score, tuple(criteria)),
    )


def _check_cycles(modules: list[Module], where: str) -> None:
    requires = {m.id: m.requires for m in modules}
    state: dict[str, int] = {}

    def visit(mid: str, chain: list[str]) -> None:
        if state.get(mid) == 2:
            return
        if state.get(mid) == 1:
            loop = chain[chain.index(mid) :] + [mid]
            raise CurriculumError(f"{where}: modules: cyclic prerequisites: {' -> '.join(loop)}")
        state[mid] = 1
        for req in requires[mid]:
            visit(req, chain + [mid])
        state[mid] = 2

    for m in modules:
        visit(m.id, [])


@dataclass(frozen=True)
class ModuleProgress:
    """A learner's standing in one module. ``reached_at`` is when proficiency was reached
    (the start time of the attempt that completed the streak)."""

    module: Module
    status: str  # "proficient" | "in progress" | "not started" | "locked"
    attempts: int
    streak: int
    missing_prerequisites: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()
    reached_at: _dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.module.id,
            "title": self.module.title,
            "status": self.status,
            "attempts": self.attempts,
            "consecutive": self.streak,
            "consecutive_needed": self.module.proficiency.consecutive,
            "missing_prerequisites": list(self.missing_prerequisites),
            "feedback": list(self.feedback),
            "proficient_since": self.reached_at.isoformat() if self.reached_at else None,
        }


def module_progress(
    module: Module, attempts: list[Any], unlocked_at: _dt.datetime | None, missing: tuple[str, ...] = ()
) -> ModuleProgress:
    """Standing in ``module`` from the learner's attempts (oldest first). Only attempts
    made after the module was unlocked (``unlocked_at``: when the last prerequisite was
    mastered; None for a module without prerequisites) count, as in a proficiency-based
    curriculum the next task starts once the previous one is mastered. Proficiency, once
    reached (``consecutive`` qualifying attempts in a row), is kept."""
    if missing:
        return ModuleProgress(module, "locked", 0, 0, missing)
    mine = [a for a in attempts if module.matches(a) and (unlocked_at is None or a.started_at() > unlocked_at)]
    streak, reached_at = 0, None
    for attempt in mine:
        streak = streak + 1 if not module.proficiency.shortfalls(attempt) else 0
        if reached_at is None and streak >= module.proficiency.consecutive:
            reached_at = attempt.started_at()
    if reached_at is not None:
        return ModuleProgress(module, "proficient", len(mine), streak, reached_at=reached_at)
    feedback = tuple(module.proficiency.shortfalls(mine[-1])) if mine else ()
    return ModuleProgress(module, "in progress" if mine else "not started", len(mine), streak, (), feedback)


def progress(curriculum: Curriculum, attempts: Iterable[Any]) -> list[ModuleProgress]:
    """Standing in every module (listed in file order; computed prerequisites first)."""
    attempts = sorted(attempts, key=lambda a: a.started_at())
    done: dict[str, ModuleProgress] = {}
    pending = list(curriculum.modules)
    while pending:  # the file is acyclic (checked on load), so each pass places one or more
        for m in list(pending):
            if all(r in done for r in m.requires):
                missing = tuple(r for r in m.requires if done[r].status != "proficient")
                times = [t for t in (done[r].reached_at for r in m.requires) if t is not None]
                done[m.id] = module_progress(m, attempts, max(times) if times and not missing else None, missing)
                pending.remove(m)
    return [done[m.id] for m in curriculum.modules]


def next_module(report: list[ModuleProgress]) -> ModuleProgress | None:
    """The first module (in file order) that is open and not yet mastered."""
    return next((p for p in report if p.status in ("in progress", "not started")), None)


__all__ = [
    "Curriculum",
    "CurriculumError",
    "MetricCriterion",
    "Module",
    "ModuleProgress",
    "Proficiency",
    "module_progress",
    "next_module",
    "progress",
]
