"""Rubric lint: a rubric that a learner who does nothing, or acts at random, can pass is not
an assessment. ``vrmed validate --rubric-lint`` runs every scenario of a pack twice more:

- **do-nothing**: the scenario's script and physiology with no learner actions at all;
- **random**: as many actions as the scenario's own scripted learner sends, of the same
  event types, each with the fields of a randomly chosen action of that type (taken from
  every learner of the scenarios that share the rubric, the error-making ones included),
  at uniformly random times over the scenario's duration.

A rubric that passes either run is reported. The runs use the scenario's script and
systems exactly (events that the simulation answers with, such as ``RhythmChanged`` or
``News2Scored``, come from the model), at a 2 Hz logic rate (1 Hz display): every time constant in the
built-in models is at least 3 s and scenario timers are in seconds. They run in exam mode (no
live cues: the learners are scripted and read none).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from .packs.model import Pack, Scenario
from .scenario import LearnerAction, RubricResult, ScenarioState, evaluate_rubric
from .session import build_session

#: Logic rate of the lint runs, Hz; the display (render preparation: monitors, panels) runs
#: at 1 Hz since nothing is drawn.
LINT_RATE = 2


@dataclass
class LintRun:
    """One lint run of one scenario: which learner, its score, and whether it passed."""

    scenario: str
    learner: str
    result: RubricResult
    end_time: float

    @property
    def passed(self) -> bool:
        """True when the rubric passed this learner: a problem with the rubric."""
        return self.result.passed

    def line(self) -> str:
        """One line for the command line."""
        verdict = "PASSES (the rubric cannot tell this learner from a good one)" if self.passed else "fails"
        return f"{self.scenario}: {self.learner} learner scores {self.result.score:.0f}% and {verdict}"


def random_learner(scenario: Scenario, pool: list[LearnerAction], rng: random.Random) -> tuple[LearnerAction, ...]:
    """As many actions as ``scenario``'s learner, drawn from ``pool`` at random times."""
    by_type: dict[Any, list[dict[str, Any]]] = {}
    for act in pool:
        by_type.setdefault(act.event, []).append(dict(act.fields))
    types = sorted(by_type, key=lambda t: t.__name__)
    if not types:
        return ()
    horizon = float(scenario.duration or max((a.t for a in pool), default=60.0))
    acts = [
        LearnerAction(round(rng.uniform(0.0, horizon), 2), etype, dict(rng.choice(by_type[etype])))
        for etype in (rng.choice(types) for _ in range(max(len(scenario.learner), 1)))
    ]
    return tuple(sorted(acts, key=lambda a: a.t))


def run_with_learner(
    pack: Pack, scenario: Scenario, learner: tuple[LearnerAction, ...], seed: int = 0, mode: str = "exam"
) -> tuple[RubricResult, float, list[dict[str, Any]]]:
    """Run ``scenario`` with ``learner`` in place of its own (and no scripted input) at the
    lint rate; its rubric result, end time and event records.

    ``mode`` is the session's (:func:`vrmed.session.build_session`): ``"exam"`` by default,
    the mode whose verdict counts. A scripted learner reads no live cues, so ``"formative"``
    only adds ``CueShown`` records (no built-in rubric reads them: every lint run of the
    built-in packs scores identically in both modes) for ~20 % more time re-evaluating the
    rubric as the events arrive."""
    variant = dataclasses.replace(scenario, learner=learner, scripted_input=None)
    copy = dataclasses.replace(pack, scenarios={**pack.scenarios, scenario.name: variant})
    sim = scenario.sim_settings.with_overrides({"display": 1, "logic": LINT_RATE}, where="rubric lint")
    session = build_session(copy, scenario.name, seed=seed, settings=sim, mode=mode)
    try:
        state = session.app.resource(ScenarioState) if scenario.script is not None else None
        duration = float(scenario.duration or 600.0)
        while session.app.clock.frame_time < duration and not (state is not None and state.ended):
            session.run(seconds=min(10.0, duration - float(session.app.clock.frame_time)))
        log = session.finish()
        end = float(session.app.clock.frame_time)
        records = list(log.events)
        return evaluate_rubric(scenario.rubric, records, end), end, records
    finally:
        session.close()


def lint_rubrics(
    pack: Pack, scenarios: list[str] | None = None, *, random_runs: int = 1, seed: int = 0
) -> list[LintRun]:
    """Run each scenario's rubric against a do-nothing and ``random_runs`` random learners.

    Scenarios that share a script and rubric (an error-making variant ``uses:`` the case)
    are linted once. Returns every run; the rubric has a problem where ``run.passed``.
    """
    runs: list[LintRun] = []
    seen: list[tuple[Any, Any]] = []
    names = scenarios if scenarios is not None else sorted(pack.scenarios)
    for name in names:
        scenario = pack.scenario(name)
        if scenario.rubric is None:
            continue
        key = (scenario.script, scenario.rubric)
        if key in seen:
            continue
        seen.append(key)
        pool = [act for other in pack.scenarios.values() if other.rubric == scenario.rubric for act in other.learner]
        result, end, _ = run_with_learner(pack, scenario, (), seed)
        runs.append(LintRun(name, "do-nothing", result, end))
        for k in range(random_runs):
            rng = random.Random(f"{seed}:{name}:{k}")
            result, end, _ = run_with_learner(pack, scenario, random_learner(scenario, pool, rng), seed)
            runs.append(LintRun(name, f"random #{k + 1}", result, end))
    return runs
