"""The scenario language: YAML state machines, rubrics and scripted learners for every pack.

See docs/scenario-language.md. ``validate`` checks a scenario's ``script``, ``rubric`` and
``learner`` when its pack loads; ``runtime`` runs them in an App; ``rubric`` scores a
session from its event log.
"""

from .expr import Expr, ExprError, compile_expr
from .model import (
    Action,
    EventRef,
    InstructionShown,
    LearnerAction,
    PromptPlayed,
    Rubric,
    Rule,
    ScenarioEnded,
    Script,
    State,
    StateEntered,
    Transition,
)
from .rubric import RubricResult, RuleResult, evaluate_rubric, matching, short_type
from .runtime import ScenarioBindings, ScenarioError, ScenarioPlugin, ScenarioState, scenario_bindings

__all__ = [
    "Action",
    "EventRef",
    "Expr",
    "ExprError",
    "InstructionShown",
    "LearnerAction",
    "PromptPlayed",
    "Rubric",
    "RubricResult",
    "Rule",
    "RuleResult",
    "ScenarioBindings",
    "ScenarioEnded",
    "ScenarioError",
    "ScenarioPlugin",
    "ScenarioState",
    "Script",
    "State",
    "StateEntered",
    "Transition",
    "compile_expr",
    "evaluate_rubric",
    "matching",
    "scenario_bindings",
    "short_type",
]
