"""START triage (Simple Triage And Rapid Treatment; Benson, Koenig & Schultz 1996, from
the Newport Beach Fire Department and Hoag Hospital, 1983).

Decision order, as in the algorithm:

1. Walking wounded -> **minor** (green).
2. Not breathing -> open the airway: still not breathing -> **expectant** (black);
   breathing -> **immediate** (red).
3. Respiratory rate over 30 /min -> **immediate**.
4. No radial pulse, or capillary refill over 2 s -> **immediate**.
5. Cannot follow simple commands -> **immediate**.
6. Otherwise -> **delayed** (yellow).
"""

from __future__ import annotations

from vrmed.app import App
from vrmed.components.clinical.patient import Casualty, Patient, PatientPopulation
from vrmed.components.scene.core import Name
from vrmed.events import EventInbox

from . import events as ev
from .context import Physiology

CATEGORIES = ("immediate", "delayed", "minor", "expectant")


def start_triage(
    *,
    walking: bool,
    rr: float,
    breathes_after_airway: bool,
    radial_pulse: bool,
    cap_refill_s: float,
    follows_commands: bool,
) -> str:
    """The START category for a casualty's findings (see the module docstring)."""
    if walking:
        return "minor"
    if rr < 1.0:
        return "immediate" if breathes_after_airway else "expectant"
    if rr > 30.0:
        return "immediate"
    if not radial_pulse or cap_refill_s > 2.0:
        return "immediate"
    if not follows_commands:
        return "immediate"
    return "delayed"


def findings(casualty: Casualty, pop: PatientPopulation, slot: int) -> dict[str, object]:
    """What a START assessment finds now: walking, breathing rate, pulse, refill, commands."""
    sbp = float(pop.sbp[slot])
    radial = casualty.radial_pulse if casualty.radial_pulse is not None else sbp >= casualty.radial_pulse_sbp
    return {
        "walking": casualty.ambulatory,
        "rr": round(float(pop.rr[slot]), 1),
        "breathes_after_airway": casualty.breathes_after_airway,
        "radial_pulse": bool(radial),
        "cap_refill_s": casualty.cap_refill_s,
        "follows_commands": casualty.follows_commands,
    }


class TriageTracker:
    """Remembers each casualty's START category once assessed (a resource), to check tags."""

    def __init__(self, app: App) -> None:

        self.inbox = EventInbox(app, (ev.CasualtyReached, ev.TriageTagged))
        self.expected: dict[str, str] = {}


def triage_step(app: App) -> None:
    """Answer ``CasualtyReached`` with the START findings and check every ``TriageTagged``."""
    tracker = app.resource(TriageTracker)  # inserted by PhysiologyPlugin.build
    events = tracker.inbox.drain()
    if not events:
        return

    pop = app.resource(Physiology).population
    by_name = {}
    for entity, (patient, casualty) in app.query(Patient, Casualty):
        name = app.try_get(entity, Name)
        by_name[name.value if name else f"patient{entity}"] = (patient, casualty)
    for e in events:  # in the order sent: a tag is checked against the assessment before it
        if isinstance(e, ev.CasualtyReached):
            if e.patient not in by_name or by_name[e.patient][0].slot < 0:
                continue
            patient, casualty = by_name[e.patient]
            found = findings(casualty, pop, patient.slot)
            category = start_triage(**found)  # type: ignore[arg-type]
            tracker.expected[e.patient] = category
            app.send(ev.CasualtyAssessed(e.patient, category, **found))  # type: ignore[arg-type]
        elif e.patient in tracker.expected:
            app.send(ev.TriageResult(e.patient, e.category, tracker.expected[e.patient]))
        elif e.patient in by_name and by_name[e.patient][0].slot >= 0:
            # A tag without an assessment is still judged against what START would have
            # found, so guessing cannot escape the under/over-triage rules.
            patient, casualty = by_name[e.patient]
            category = start_triage(**findings(casualty, pop, patient.slot))  # type: ignore[arg-type]
            app.send(ev.TriageResult(e.patient, e.category, category, assessed=False))
