"""The physiology context resource shared by the clinical systems (population, inbox)."""

from __future__ import annotations

from dataclasses import dataclass

from vrmed.components.clinical.patient import PatientPopulation
from vrmed.events import EventInbox


@dataclass
class Physiology:
    """Per-App physiology context (a resource): the population entity and the learner-action inbox."""

    entity: int
    population: PatientPopulation
    inbox: EventInbox
    registered: int = 0
