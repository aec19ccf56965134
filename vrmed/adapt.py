"""Learner model and adaptive difficulty.

Each skill has an Elo-style rating of the learner (Elo 1978; for learners and items see
Pelánek 2016, "Applications of the Elo rating system in adaptive educational systems",
Computers & Education 98:169-179). A scenario's difficulty is a *level* from 0 (easiest)
to 1 (hardest) that maps linearly to a difficulty on the rating's logit scale and to the
scenario's own parameters (time pressure, tissue stiffness, deterioration rate, number of
casualties, ...). After each attempt the rating moves by ``K * (outcome - expected)``,
with ``expected = 1 / (1 + exp(-(rating - difficulty)))`` (the Rasch/Elo logistic) and a
K that shrinks with the number of attempts (Pelánek's uncertainty function
``K = a / (1 + b n)``). The next level is the one where the expected success equals a
target rate, as in Klinkenberg, Straatemeier & van der Maas 2011 ("Computer adaptive
practice of Maths ability using a new item response model for on the fly ability and
difficulty estimation", Computers & Education 57:1813-1824), which keeps learners near
a 75 % success rate.

The model is a pure function of the learner's attempts (replayed oldest first), so there
is no model file to corrupt or to keep in step with the attempt store. See
docs/adaptive-training.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import VrmedError

#: The parameter names the clinical packs share (a scenario may declare any others).
STANDARD_PARAMETERS = ("time_pressure", "tissue_stiffness", "deterioration_rate", "casualties")


class DifficultyError(VrmedError):
    """A scenario's ``settings.difficulty`` block is malformed."""


@dataclass(frozen=True)
class DifficultyParam:
    """One parameter: its value at level 0 (``easy``) and level 1 (``hard``), linear in
    between; ``integer`` values (e.g. casualties) are rounded."""

    name: str
    easy: float
    hard: float
    integer: bool = False

    def value(self, level: float) -> float | int:
        """The parameter's value at ``level`` (clamped to [0, 1])."""
        level = min(1.0, max(0.0, level))
        raw = self.easy + (self.hard - self.easy) * level
        return int(round(raw)) if self.integer else round(raw, 6)


@dataclass(frozen=True)
class DifficultySpec:
    """A scenario's difficulty parameters, from ``settings.difficulty`` in its YAML::

    settings:
      difficulty:
        default_level: 0.3
        parameters:
          time_pressure: {easy: 0.8, hard: 1.6}
          casualties: {easy: 2, hard: 10, integer: true}
    """

    parameters: tuple[DifficultyParam, ...]
    default_level: float = 0.5

    def values(self, level: float) -> dict[str, float | int]:
        """Every parameter's value at ``level``."""
        return {p.name: p.value(level) for p in self.parameters}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], where: str) -> DifficultySpec | None:
        """Parse ``settings["difficulty"]`` (None when the scenario declares none);
        ``where`` names the scenario file in errors."""
        block = settings.get("difficulty")
        if block is None:
            return None
        if (
            not isinstance(block, Mapping)
            or not isinstance(block.get("parameters"), Mapping)
            or set(block) - {"parameters", "default_level"}
        ):
            raise DifficultyError(
                f"{where}: settings.difficulty: expected a mapping with parameters "
                f"(name -> {{easy, hard, integer}}) and optionally default_level"
            )
        params = []
        for name, spec in block["parameters"].items():
            key = f"{where}: settings.difficulty.parameters.{name}"
            if (
                not isinstance(spec, Mapping)
                or set(spec) - {"easy", "hard", "integer"}
                or not all(
                    isinstance(spec.get(k), (int, float)) and not isinstance(spec.get(k), bool)
                    for k in ("easy", "hard")
                )
            ):
                raise DifficultyError(f"{key}: expected {{easy: number, hard: number, integer: bool}}")
            params.append(
                DifficultyParam(str(name), float(spec["easy"]), float(spec["hard"]), bool(spec.get("integer", False)))
            )
        default = block.get("default_level", 0.5)
        if not isinstance(default, (int, float)) or not 0 <= default <= 1:
            raise DifficultyError(f"{where}: settings.difficulty.default_level: expected a number from 0 to 1")
        return cls(tuple(params), float(default))


@dataclass(frozen=True)
class EloSettings:
    """Tuning of the learner model; the defaults follow the sources in the module docstring."""

    #: Success rate to aim for. Klinkenberg et al. (2011) use 0.75; 0.7 leaves a little
    #: more room to fail in a simulator, where failing is safe and informative.
    target_success: float = 0.7
    #: Logits between level 0 and level 1: a learner rated at the middle succeeds at level
    #: 0 with p = 0.88 and at level 1 with p = 0.12.
    span: float = 4.0
    #: K = max(k_min, k0 / (1 + k_decay * n)) after n attempts (Pelánek 2016, §3.2, with a
    #: floor): the decay makes early ratings converge fast, the floor keeps the rating able to
    #: follow a learner who is still improving (without it K is 0.09 by attempt 200 and the
    #: rating lags; benchmarks/adaptive_difficulty.py compares both with a staircase).
    k0: float = 1.0
    k_decay: float = 0.05
    k_min: float = 0.3
    #: Largest change of level between two attempts (no sudden jumps for the learner).
    max_step: float = 0.2
    initial_rating: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.target_success < 1:
            raise DifficultyError("target_success must be strictly between 0 and 1")
        if self.span <= 0 or self.k0 <= 0 or self.k_decay < 0 or not 0 < self.max_step <= 1:
            raise DifficultyError("span and k0 must be positive, k_decay >= 0 and 0 < max_step <= 1")
        if not 0 <= self.k_min <= self.k0:
            raise DifficultyError("k_min must be between 0 and k0")

    def difficulty(self, level: float) -> float:
        """The logit difficulty of ``level``."""
        return self.span * (level - 0.5)


@dataclass(frozen=True)
class SkillState:
    """The learner's standing on one skill."""

    skill: str
    rating: float
    attempts: int = 0
    successes: int = 0
    last_level: float | None = None

    def expected_success(self, level: float, settings: EloSettings) -> float:
        """Predicted probability of passing at ``level``."""
        return 1.0 / (1.0 + math.exp(-(self.rating - settings.difficulty(level))))

    def updated(self, level: float, success: bool, settings: EloSettings) -> SkillState:
        """The state after an attempt at ``level`` that passed (``success``) or not."""
        k = max(settings.k_min, settings.k0 / (1.0 + settings.k_decay * self.attempts))
        rating = self.rating + k * ((1.0 if success else 0.0) - self.expected_success(level, settings))
        return SkillState(self.skill, rating, self.attempts + 1, self.successes + int(success), level)

    def next_level(self, settings: EloSettings, default_level: float = 0.5) -> float:
        """The level whose expected success is the target, at most ``max_step`` from the
        last one (the default level for a first attempt)."""
        if self.attempts == 0:
            return default_level
        logit = math.log(settings.target_success / (1.0 - settings.target_success))
        ideal = 0.5 + (self.rating - logit) / settings.span
        last = self.last_level if self.last_level is not None else default_level
        step = max(-settings.max_step, min(settings.max_step, ideal - last))
        return round(min(1.0, max(0.0, last + step)), 4)


@dataclass
class LearnerModel:
    """Per-skill states of one learner."""

    settings: EloSettings = field(default_factory=EloSettings)
    skills: dict[str, SkillState] = field(default_factory=dict)

    def state(self, skill: str) -> SkillState:
        """The state of ``skill`` (the initial rating when never attempted)."""
        return self.skills.get(skill) or SkillState(skill, self.settings.initial_rating)

    def observe(self, skill: str, level: float, success: bool) -> SkillState:
        """Update ``skill`` with one attempt; returns the new state."""
        self.skills[skill] = self.state(skill).updated(level, success, self.settings)
        return self.skills[skill]

    def next_level(self, skill: str, default_level: float = 0.5) -> float:
        """The level to play ``skill`` at next."""
        return self.state(skill).next_level(self.settings, default_level)

    @classmethod
    def from_attempts(
        cls, attempts: Iterable[Any], settings: EloSettings | None = None, default_level: float = 0.5
    ) -> LearnerModel:
        """Replay stored attempts (``vrmed.records.Attempt``, oldest first); an attempt
        without a recorded level counts as played at ``default_level``."""
        model = cls(settings or EloSettings())
        for attempt in attempts:
            level = attempt.level if attempt.level is not None else default_level
            model.observe(attempt.skill, level, attempt.score.passed)
        return model


@dataclass(frozen=True)
class NextAttempt:
    """What to play next: level, the scenario parameters at that level, and the
    predicted success."""

    skill: str
    level: float
    parameters: dict[str, float | int]
    expected_success: float

    def header(self) -> dict[str, Any]:
        """The ``difficulty`` entry recorded in the session-log header."""
        return {"level": self.level, "parameters": dict(self.parameters), "skill": self.skill}


def skill_of(pack: Any, scenario_name: str) -> str:
    """The skill a scenario trains: ``settings.skill``, else ``PACK/SCENARIO``."""
    scenario = pack.scenario(scenario_name)
    return str(scenario.settings.get("skill") or f"{pack.name}/{scenario.name}")


def plan_next(
    pack: Any, scenario_name: str | None, attempts: Iterable[Any], settings: EloSettings | None = None
) -> NextAttempt:
    """Choose the next attempt's level and parameters for a learner with ``attempts``; a
    :class:`DifficultyError` when the scenario declares no difficulty parameters (there is
    nothing to adapt, so no plan is made up)."""
    scenario = pack.scenario(scenario_name)
    spec = DifficultySpec.from_settings(scenario.settings, f"{pack.name}/scenarios/{scenario.file}")
    if spec is None or not spec.parameters:
        raise DifficultyError(
            f"{pack.name}/{scenario.name} declares no difficulty parameters (settings.difficulty in {scenario.file})"
        )
    default = spec.default_level
    skill = skill_of(pack, scenario.name)
    model = LearnerModel.from_attempts([a for a in attempts if a.skill == skill], settings, default)
    level = model.next_level(skill, default)
    return NextAttempt(
        skill,
        level,
        spec.values(level),
        round(model.state(skill).expected_success(level, model.settings), 4),
    )


def adapted_pack(pack: Any, scenario_name: str | None, difficulty: Mapping[str, Any]) -> Any:
    """A copy of ``pack`` whose scenario carries ``difficulty`` (a :meth:`NextAttempt.header`,
    or a log header's ``difficulty``) as ``settings["applied_difficulty"]``; the original
    pack is untouched."""
    scenario = pack.scenario(scenario_name)
    adapted = dataclasses.replace(scenario, settings={**scenario.settings, "applied_difficulty": dict(difficulty)})
    return dataclasses.replace(pack, scenarios={**pack.scenarios, scenario.name: adapted})


def replay_pack(pack: Any, log: Any) -> Any:
    """The pack to replay ``log`` with: adapted to the difficulty recorded in its header
    (``vrmed.session.replay(log, pack=replay_pack(pack, log))``), else ``pack`` itself."""
    difficulty = log.header.get("difficulty")
    if not isinstance(difficulty, Mapping):
        return pack
    return adapted_pack(pack, str(log.header.get("scenario")), difficulty)


def applied_parameters(scenario: Any, pack_name: str = "") -> dict[str, float | int]:
    """The difficulty parameters a session runs with: those applied by
    :func:`vrmed.session.build_adapted_session`, else the scenario's values at its default level, else {}.
    Packs call this from ``setup(app, scenario)``."""
    applied = scenario.settings.get("applied_difficulty")
    if isinstance(applied, Mapping):
        return dict(applied.get("parameters", {}))
    spec = DifficultySpec.from_settings(scenario.settings, f"{pack_name}/scenarios/{scenario.file}")
    return spec.values(spec.default_level) if spec else {}


__all__ = [
    "STANDARD_PARAMETERS",
    "DifficultyError",
    "DifficultyParam",
    "DifficultySpec",
    "EloSettings",
    "LearnerModel",
    "NextAttempt",
    "SkillState",
    "adapted_pack",
    "applied_parameters",
    "plan_next",
    "replay_pack",
    "skill_of",
]
