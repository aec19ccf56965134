"""The validated form of a scenario's ``script`` (state machine), ``rubric`` and ``learner``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .expr import Expr


@dataclass(frozen=True)
class StateEntered(Event):
    """The scenario script entered ``state`` from ``previous`` because of ``trigger``."""

    state: str
    previous: str
    trigger: str


@dataclass(frozen=True)
class ScenarioEnded(Event):
    """The script reached a final state; ``outcome`` names how it ended."""

    outcome: str


@dataclass(frozen=True)
class InstructionShown(Event):
    """A text instruction shown to the learner (the UI layer displays it)."""

    text: str


@dataclass(frozen=True)
class PromptPlayed(Event):
    """An audio or voice prompt played (by id; the audio layer maps ids to sounds)."""

    prompt: str


#: Events every scenario can use, whatever plugins the pack enables.
SCENARIO_EVENTS: tuple[type[Event], ...] = (StateEntered, ScenarioEnded, InstructionShown, PromptPlayed)


#: ``patient: any``: a rule, step or transition that reads events of every patient.
ANY_PATIENT = "any"


def for_patient(data: Any, patients: tuple[str, ...] | None) -> bool:
    """Whether an event (its fields as a mapping, or the event itself) concerns one of
    ``patients``: always for ``patients`` None and for events that act on no patient (no
    ``patient`` field: a state change, a call-out, an injection)."""
    if patients is None:
        return True
    value = data.get("patient") if isinstance(data, dict) else getattr(data, "patient", None)
    return value is None or value in patients


def patients_for(name: str | None, primary: str | None) -> tuple[str, ...] | None:
    """The ``patient`` field values a rule, step or transition answers to: ``name`` (its
    ``patient:``; None: the scenario's patient ``primary``), where the scenario's patient
    also owns events that name none (``""``: "the only patient", as a single-patient
    session records them); ``"any"``, or no patient named and none declared: None."""
    who = primary if name is None else name
    if who is None or who == ANY_PATIENT:
        return None
    return ("", who) if who == primary else (who,)


@dataclass(frozen=True)
class Action:
    """One action: ``kind`` (set, physiology, spawn, despawn, instruction, prompt, end) and
    its validated arguments."""

    kind: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Transition:
    """Leave the state (or, with ``to`` None, stay and run ``actions``) when the event
    ``on`` (YAML key ``event``) arrives, ``after`` seconds in the state have passed, and
    ``when`` holds."""

    to: str | None
    on: str | None
    when: Expr | None
    after: float | None
    actions: tuple[Action, ...]
    index: int
    #: For a "from any state" transition (``script.any_state``): the states it does not
    #: apply in (besides final states and the state it leads to).
    except_states: frozenset[str] = frozenset()
    #: The values of an event's ``patient`` field this transition answers to (see
    #: :func:`for_patient`); None: events of any patient.
    patients: tuple[str, ...] | None = None

    def applies_in(self, state: str) -> bool:
        """Whether this global transition may fire while the script is in ``state``: not
        in its own target (an interrupt does not interrupt itself) nor in ``except``."""
        return state != self.to and state not in self.except_states

    def describe(self) -> str:
        """The trigger, for traces: ``on ShockDelivered``, ``after 120 s``, ``when ...``."""
        parts = []
        if self.on:
            parts.append(f"on {self.on}")
        if self.after is not None:
            parts.append(f"after {self.after:g} s")
        if self.when is not None:
            parts.append(f"when {self.when.text}")
        return " ".join(parts) or "immediately"


@dataclass(frozen=True)
class State:
    """A state: actions on entry, outgoing transitions in priority order, final or not."""

    name: str
    on_enter: tuple[Action, ...]
    transitions: tuple[Transition, ...]
    final: bool
    description: str = ""


@dataclass(frozen=True)
class Script:
    """A validated state machine."""

    initial: str
    vars: dict[str, Any]
    states: dict[str, State]
    #: Transitions checked in every non-final state before the state's own ("from any
    #: state": interrupts such as a collapse that preempts whatever the learner is doing).
    any_state: tuple[Transition, ...] = ()
    #: The ``patient`` field values of the events ``count.EVENT`` counts: the scenario's
    #: patient's (see :func:`for_patient`); None: every event.
    patients: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EventRef:
    """A point in time in the session log: the ``nth`` event of a type matching ``where``,
    or the session start / end (``event`` = "start" / "end")."""

    event: str
    where: Expr | None = None
    nth: int = 1


@dataclass(frozen=True)
class Rule:
    """One rubric rule (see docs/scenario-language.md for every kind)."""

    id: str
    kind: str
    description: str
    points: float
    critical: bool
    event: str | None = None
    where: Expr | None = None
    start: EventRef | None = None
    end: EventRef | None = None
    within: float | None = None
    min: float | None = None
    max: float | None = None
    n: int = 1
    expect: Expr | None = None
    after_count: tuple[str, Expr | None, int] | None = None
    required: bool = True
    #: ``required: when_open``: must happen once its window opens; a window that never
    #: opens (a casualty who was never added) makes it not applicable rather than missed.
    when_open: bool = False
    on: str | None = None
    off: str | None = None
    max_pause: float | None = None
    on_where: Expr | None = None
    off_where: Expr | None = None
    #: ``before``: the event that must come first (A), the event that needs it (B), how many
    #: A's each B needs, whether every B is checked (``each``) and needs its own A since the
    #: previous B (``since_last``), and a field A and B must share (``same``: one entity).
    first: EventRef | None = None
    then: EventRef | None = None
    at_least: int = 1
    each: bool = False
    since_last: bool = False
    same: str | None = None
    #: ``order``: events whose first occurrences must come in this order.
    sequence: tuple[EventRef, ...] = ()
    #: ``count``: count distinct values of this event field (entities) rather than events, or
    #: add up this numeric field (``total``: millilitres of fluid) rather than count.
    distinct: str | None = None
    total: str | None = None
    #: The values of an event's ``patient`` field this rule reads (see :func:`for_patient`):
    #: ("", P) for the scenario's patient P ("" is "the only patient"), (X,) for another
    #: patient X named by the rule's ``patient:``; None: events of any patient.
    patients: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rubric:
    """Rules and the pass mark (percent of points; every critical rule must pass too)."""

    rules: tuple[Rule, ...]
    pass_score: float = 70.0


@dataclass(frozen=True)
class LearnerAction:
    """One scripted learner action: send ``event`` with ``fields`` at simulation time ``t``."""

    t: float
    event: type[Event]
    fields: dict[str, Any] = field(default_factory=dict)

    def make(self) -> Event:
        """The event instance to send."""
        return self.event(**self.fields)
