"""Nursing depth: NEWS2 SpO2 scale 2 chosen per patient, the new-confusion state ("C" of
ACVPU) scoring 3, both settable from a scenario (RCP 2017)."""

from __future__ import annotations

import pytest

from vrmed import App
from vrmed.components import Name
from vrmed.components.clinical.patient import Patient
from vrmed.errors import VrmedError
from vrmed.systems.clinical import events as ev
from vrmed.systems.clinical.physiology import PhysiologyPlugin, population, set_patient_value


def scores(app: App) -> dict[str, int]:
    return {e.patient: e.score for e in app.test_events if isinstance(e, ev.News2Scored)}  # type: ignore[attr-defined]


@pytest.fixture
def ward():
    app = App(seed=0, display_rate=5, rates={"logic": 5, "physics": None})
    log: list = []
    app.events.listen(lambda s: log.append(s.event))
    app.test_events = log  # type: ignore[attr-defined]
    app.add_plugin(PhysiologyPlugin())
    # both at SpO2 88 % on air, otherwise NEWS2 0; the first has a scale-2 target (COPD)
    app.spawn(Patient(spo2=88.0, spo2_scale=2), Name("copd"))
    app.spawn(Patient(spo2=88.0), Name("other"))
    app.run(seconds=60)
    yield app
    app.close()


def test_spo2_scale_is_per_patient(ward):
    for name in ("copd", "other"):
        ward.send(ev.VitalsObserved(name))
    ward.run(seconds=1)
    assert scores(ward) == {"copd": 0, "other": 3}  # 88 % on air: scale 2 -> 0, scale 1 (<= 91) -> 3


def test_new_confusion_scores_three_and_reads_c(ward):
    set_patient_value(ward, "other", "new_confusion", True)
    set_patient_value(ward, "copd", "new_confusion", True)
    ward.send(ev.VitalsObserved("copd"))
    ward.run(seconds=1)
    pop = population(ward)
    assert pop.value(pop.slot_of("copd"), "avpu") == "C" and scores(ward) == {"copd": 3}


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="spo2_scale must be 1 or 2"):
        Patient(spo2_scale=3)


def test_scale_set_from_a_scenario(ward):
    set_patient_value(ward, "other", "spo2_scale", 2)
    ward.send(ev.VitalsObserved("other"))
    ward.run(seconds=1)
    assert scores(ward) == {"other": 0}
    with pytest.raises(VrmedError, match="spo2_scale must be 1 or 2"):
        set_patient_value(ward, "other", "spo2_scale", 5)
