"""The physiology plugin: patients' vital signs, rhythm and drugs, stepped in the logic stage.

Enable it in a pack with ``plugins: [physiology]``; give entities a ``Patient`` component
(parameters in YAML). Learner actions arrive as events (:mod:`vrmed.systems.clinical.events`);
the model answers with ``RhythmChanged``, ``ShockResult`` and ``DrugRejected`` events.
All patients live in one :class:`PatientPopulation` so a step is a handful of numpy
operations over arrays (see :mod:`vrmed.systems.clinical.physiology_kernels`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vrmed.app import App
from vrmed.clock import Rng
from vrmed.components.clinical.patient import (
    ARREST_FIRST,
    CAUSE_CODE,
    CAUSES,
    DRUG_INDEX,
    DRUGS,
    PATIENT_SETTABLE,
    PATIENT_VARS,
    RHYTHM_CODE,
    RHYTHMS,
    SIDES,
    Casualty,
    CompressionSensor,
    Defibrillator,
    Patient,
    PatientIdentity,
    PatientMonitor,
    PatientPopulation,
    VitalTarget,
)
from vrmed.components.scene.core import Name
from vrmed.errors import VrmedError
from vrmed.events import EventInbox
from vrmed.scenario.runtime import scenario_bindings

from . import events as ev
from .compressions import compression_step
from .context import Physiology
from .draw import defib_pads_step, monitor_panel_step, triage_tags_step
from .news2 import News2Tracker, news2_step
from .physiology_kernels import (
    CARDIOVERSION_SUCCESS,
    DRUG_ALIASES,
    DRUG_SALTS,
    DRUG_SPECS,
    LN2,
    UNIT_FACTORS,
    VAGAL_SUCCESS,
    adenosine_threshold,
    cpr_quality,
    pao2_for_saturation,
    shock_conversion_probability,
    start_rosc,
    step_population,
)
from .triage import TriageTracker, triage_step
from .waveforms import NibpCuffs, monitor_step, nibp_step

_PER_PATIENT = (
    "alive",
    "rhythm",
    "hr",
    "sbp",
    "dbp",
    "rr",
    "spo2",
    "temp_c",
    "etco2",
    "glucose",
    "paco2",
    "washout",
    "avpu",
    "hr_0",
    "sbp_0",
    "dbp_0",
    "rr_0",
    "temp_0",
    "glucose_0",
    "aa_gradient",
    "fio2",
    "weight",
    "shock_success",
    "rosc_per_min",
    "opioid_sensitivity",
    "cpr",
    "cpr_quality",
    "ventilated",
    "cardiac_phase",
    "resp_phase",
    "no_flow_s",
    "low_flow_s",
    "coma_s",
    "spo2_scale",
    "confused",
    "volume",
    "volume_0",
    "cryst_transient",
    "cryst_left",
    "cryst_rate",
    "blood_left",
    "blood_rate",
    "bleed",
    "cause",
    "cause_factor",
    "potassium_0",
    "k_shift",
    "ptx_left",
    "shocks",
    "last_energy",
    "cpr_since_shock",
    "cpr_since_first_shock",
    "witnessed",
    "vent_rate",
    "atropine_response",
    "adenosine_threshold",
    "vagal_response",
    "pace_rate",
    "pace_ma",
    "pace_threshold",
    "sinus_hr",
)
_PER_DRUG = ("depot", "depot_ka", "central", "effect", "infusion")
#: Fluids the volume model knows: the share of a bolus that stays intravascular is
#: CRYSTALLOID_RETAINED for crystalloids, all of it for blood and colloid.
CRYSTALLOIDS = ("crystalloid", "saline", "hartmanns", "ringer_lactate", "plasmalyte")
BLOOD_OR_COLLOID = ("blood", "prbc", "whole_blood", "plasma", "colloid", "albumin")


class PhysiologyPlugin:
    """Adds the physiology system (``logic.physiology``) and its population component."""

    components = (Patient, Casualty, PatientIdentity, CompressionSensor, PatientMonitor, Defibrillator, VitalTarget)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    task_components = (Patient, Casualty)
    #: Components this plugin draws by themselves (none: patients need a VisualMesh).
    drawn_components = ()
    events = ev.CLINICAL_EVENTS

    def build(self, app: App) -> None:
        """Spawn the population entity, register components, the systems and the scenario bindings."""
        for comp in self.components:
            app.register_component(comp)
        pop = PatientPopulation()
        entity = app.spawn(pop)
        inbox = EventInbox(
            app,
            (
                ev.CompressionsStarted,
                ev.CompressionsStopped,
                ev.ShockDelivered,
                ev.DrugGiven,
                ev.AirwayPlaced,
                ev.OxygenApplied,
                ev.FluidGiven,
                ev.PulseChecked,
                ev.VentilationSet,
                ev.TemperatureControl,
                ev.InfusionStarted,
                ev.Pericardiocentesis,
                ev.NeedleDecompression,
                ev.VagalManoeuvre,
                ev.PacingStarted,
            ),
        )
        app.insert_resource(Physiology(entity, pop, inbox))
        app.insert_resource(TriageTracker(app))
        app.insert_resource(News2Tracker(app))
        app.insert_resource(NibpCuffs(EventInbox(app, (ev.NibpRequested,))))
        app.add_system(compression_step, in_set="control.instruments", name="physiology.compressions")
        app.add_system(physiology_step, in_set="logic.physiology", name="physiology.step")
        app.add_system(nibp_step, in_set="logic.physiology", after="physiology.step", name="physiology.nibp")
        app.add_system(
            vital_targets_step, in_set="logic.physiology", after="physiology.step", name="physiology.vital_targets"
        )
        app.add_system(triage_step, in_set="logic.interaction", name="physiology.triage")
        app.add_system(news2_step, in_set="logic.interaction", name="physiology.news2")
        app.add_system(monitor_step, in_set="render.prepare", name="physiology.monitor")
        app.add_system(
            monitor_panel_step, in_set="render.prepare", after="physiology.monitor", name="physiology.monitor_panel"
        )
        # the scene marks of learner actions: pads on the chest, triage tags (draw.py)
        app.add_system(defib_pads_step, in_set="render.prepare", name="physiology.defib_pads")
        app.add_system(triage_tags_step, in_set="render.prepare", name="physiology.triage_tags")
        scenario_bindings(app).register(Patient, patient_value, set_patient_value)


def population(app: App) -> PatientPopulation:
    """The App's patient population (ConfigError if the physiology plugin is not added)."""
    return app.resource(Physiology).population


def _register(app: App, ctx: Physiology, patients: list[tuple[int, Patient]]) -> None:
    """Give new patients a slot (and retire despawned ones). Runs only when the count changes."""
    pop = ctx.population
    present = set()
    new: list[tuple[str, Patient]] = []
    seed = app.resource(Rng).seed
    for entity, patient in patients:
        name_comp = app.try_get(entity, Name)
        name = name_comp.value if name_comp is not None else f"patient{entity}"
        present.add(name)
        if patient.slot < 0 or patient.slot >= pop.n:
            new.append((name, patient))
    for name, slot in pop.slots.items():
        if name not in present:
            pop.alive[slot] = False
    if new:
        k = len(new)
        base = {a: np.zeros(k, dtype=getattr(pop, a).dtype) for a in _PER_PATIENT}
        for i, (name, p) in enumerate(new):
            p.slot = pop.n + i
            pop.slots[name] = p.slot
            base["alive"][i] = True
            base["rhythm"][i] = RHYTHM_CODE[p.rhythm]
            for arr, val in (
                ("hr", p.hr),
                ("sbp", p.sbp),
                ("dbp", p.dbp),
                ("rr", p.rr),
                ("spo2", p.spo2),
                ("temp_c", p.temp_c),
                ("etco2", p.etco2),
                ("glucose", p.glucose),
                ("hr_0", p.hr),
                ("sbp_0", p.sbp),
                ("dbp_0", p.dbp),
                ("rr_0", p.rr),
                ("temp_0", p.temp_c),
                ("glucose_0", p.glucose),
                ("fio2", p.fio2),
                ("weight", p.weight_kg),
                ("shock_success", p.shock_success),
                ("rosc_per_min", p.rosc_per_min),
                ("opioid_sensitivity", p.opioid_sensitivity),
                ("spo2_scale", p.spo2_scale),
                ("confused", p.new_confusion),
                ("paco2", p.etco2 + 3.0),
                ("volume_0", p.blood_volume_ml_per_kg * p.weight_kg),
                ("volume", p.blood_volume_ml_per_kg * p.weight_kg - p.blood_loss_ml),
                ("cause", CAUSE_CODE[p.cause]),
                ("cause_factor", 1.0),
                ("potassium_0", p.potassium),
                ("ptx_left", p.pneumothorax_side == "left"),
                ("witnessed", p.witnessed_monitored),
                ("vent_rate", 10.0),  # 1 breath every 6 s with an advanced airway (AHA 2020)
                ("atropine_response", p.atropine_response),
                ("vagal_response", p.vagal_response),
                ("pace_threshold", p.pacing_threshold_ma),
                ("sinus_hr", p.sinus_hr),
            ):
                base[arr][i] = val
            # drawn from a generator of its own (App seed, slot), so that adding a patient
            # does not shift the App's random stream that every other outcome draws from
            base["adenosine_threshold"][i] = (
                p.adenosine_threshold_mg
                if p.adenosine_threshold_mg > 0
                else float(adenosine_threshold(np.random.default_rng([seed, 0xADE, p.slot]).standard_normal(1))[0])
            )
            if RHYTHM_CODE[p.rhythm] >= RHYTHM_CODE["vf"]:
                for arr in ("hr", "sbp", "dbp", "rr", "etco2"):
                    base[arr][i] = 0.0
        base["aa_gradient"] = _aa_gradient(base["fio2"], base["paco2"], base["spo2"])
        for a in _PER_PATIENT:
            setattr(pop, a, np.concatenate([getattr(pop, a), base[a]]))
        for a in _PER_DRUG:
            setattr(pop, a, np.concatenate([getattr(pop, a), np.zeros((k, len(DRUGS)))]))
        pop.n += k
    ctx.registered = len(patients)


def _aa_gradient(fio2: np.ndarray, paco2: np.ndarray, spo2: np.ndarray) -> np.ndarray:
    """A-a gradient that makes the baseline SpO2 come out of the alveolar gas equation."""
    return np.maximum(0.0, fio2 * 713.0 - paco2 / 0.8 - pao2_for_saturation(np.minimum(spo2, 99.5)))


def _slot(app: App, pop: PatientPopulation, name: str) -> int | None:
    try:
        return pop.slot_of(name)
    except KeyError:
        return None


def give_drug(pop: PatientPopulation, slot: int, drug: str, dose: float, unit: str, route: str) -> str | None:
    """Put a dose into a patient's depot; returns why it was refused, or None."""
    potency = 1.0
    if drug in DRUG_SALTS:  # a salt: its unit converts straight to the element's amount
        element, per_unit = DRUG_SALTS[drug]
        amount = per_unit.get(unit.lower())
        if amount is None:
            return f"{drug} is dosed in {', '.join(per_unit)} (ml of the 10 % solution); {unit!r} does not convert"
        drug, dose, unit = element, dose * amount, DRUG_SPECS[element].unit
    if drug in DRUG_ALIASES:
        drug, potency = DRUG_ALIASES[drug]
    spec = DRUG_SPECS.get(drug)
    if spec is None:
        return f"unknown drug {drug!r}; the model knows: {', '.join(DRUGS)}"
    factor = UNIT_FACTORS[spec.unit].get(unit.lower())
    if factor is None:
        return f"{drug} is dosed in {spec.unit}; {unit!r} does not convert"
    route = route.lower()
    if route not in spec.absorption_t_half_s:
        return f"route {route!r} is not modelled for {drug} (routes: {', '.join(spec.absorption_t_half_s)})"
    d = DRUG_INDEX[drug]
    pop.depot[slot, d] += dose * factor * potency * spec.bioavailability[route]
    pop.depot_ka[slot, d] = LN2 / spec.absorption_t_half_s[route]
    return None


def set_rhythm(app: App, pop: PatientPopulation, slot: int, rhythm: str, name: str) -> None:
    """Change a patient's rhythm now (scenario control, shock) and report it."""
    before = RHYTHMS[int(pop.rhythm[slot])]
    if before == rhythm:
        return
    pop.rhythm[slot] = RHYTHM_CODE[rhythm]
    if rhythm == "rosc":
        mask = np.zeros(pop.n, dtype=bool)
        mask[slot] = True
        start_rosc(pop, mask)
    app.send(ev.RhythmChanged(name, before, rhythm))


def set_patient_value(app: App, name: str, key: str, value: Any) -> None:
    """Scenario control: set a rhythm or a new baseline (keys in ``PATIENT_SETTABLE``)."""
    ctx = app.resource(Physiology)
    if ctx.registered != len(app.query(Patient)):  # a scenario may act before the first physiology tick
        _register(app, ctx, app.query(Patient))
    pop = ctx.population
    slot = _slot(app, pop, name)
    if slot is None:
        raise VrmedError(f"no patient named {name!r}; patients: {', '.join(sorted(pop.slots)) or 'none'}")
    if key not in PATIENT_SETTABLE:
        raise VrmedError(f"cannot set {key!r} on a patient; settable: {', '.join(PATIENT_SETTABLE)}")
    if key == "rhythm":
        if value not in RHYTHM_CODE:
            raise VrmedError(f"unknown rhythm {value!r}; rhythms: {', '.join(RHYTHMS)}")
        set_rhythm(app, pop, slot, str(value), name)
    elif key == "spo2":
        pop.aa_gradient[slot] = _aa_gradient(pop.fio2[slot : slot + 1], np.array([40.0]), np.array([float(value)]))[0]
    elif key == "temp_c":  # a scenario sets the temperature it wants now (fever onset is scripted)
        pop.temp_0[slot] = pop.temp_c[slot] = float(value)
    elif key == "new_confusion":
        pop.confused[slot] = bool(value)
    elif key == "spo2_scale":
        if value not in (1, 2):
            raise VrmedError(f"spo2_scale must be 1 or 2 (NEWS2 SpO2 scales), not {value!r}")
        pop.spo2_scale[slot] = int(value)
    elif key in ("fio2", "shock_success", "rosc_per_min", "aa_gradient", "atropine_response", "vagal_response"):
        getattr(pop, key)[slot] = float(value)
    elif key == "adenosine_threshold_mg":
        pop.adenosine_threshold[slot] = float(value)
    elif key == "sinus_hr":
        pop.sinus_hr[slot] = float(value)
    elif key == "cause":
        if value not in CAUSE_CODE:
            raise VrmedError(f"unknown cause {value!r}; causes: {', '.join(c for c in CAUSES if c)}")
        pop.cause[slot] = CAUSE_CODE[str(value)]
    elif key == "potassium":  # the measured serum value now: the total is set from it
        k = float(value)
        if not 1.0 <= k <= 12.0:
            raise VrmedError(f"potassium must be between 1 and 12 mmol/l, not {value!r}")
        pop.potassium_0[slot] = k + pop.k_shift[slot]
    elif key == "pneumothorax_side":
        if value not in SIDES:
            raise VrmedError(f"pneumothorax_side must be one of {', '.join(SIDES)}, not {value!r}")
        pop.ptx_left[slot] = value == "left"
    elif key == "witnessed_monitored":
        pop.witnessed[slot] = bool(value)
    elif key == "blood_loss_ml":  # the total lost so far: the volume is set from it
        loss = float(value)
        if not 0.0 <= loss < pop.volume_0[slot]:
            raise VrmedError(f"blood_loss_ml must be between 0 and the blood volume ({pop.volume_0[slot]:.0f} ml)")
        pop.volume[slot] = pop.volume_0[slot] - loss
        pop.cryst_transient[slot] = 0.0
    elif key == "bleed_ml_per_min":
        pop.bleed[slot] = max(0.0, float(value)) / 60.0
    else:
        target = {"hr": "hr_0", "sbp": "sbp_0", "dbp": "dbp_0", "rr": "rr_0", "glucose": "glucose_0"}[key]
        getattr(pop, target)[slot] = float(value)
        if key == "glucose":
            pop.glucose[slot] = float(value)


def patient_value(app: App, name: str, var: str) -> Any:
    """A live value of a patient by entity name (keys in ``PATIENT_VARS``)."""
    ctx = app.resource(Physiology)
    if ctx.registered != len(app.query(Patient)):
        _register(app, ctx, app.query(Patient))
    slot = _slot(app, ctx.population, name)
    if slot is None:
        raise VrmedError(f"no patient named {name!r}")
    if var not in PATIENT_VARS:
        raise VrmedError(f"unknown patient variable {var!r}; known: {', '.join(PATIENT_VARS)}")
    return ctx.population.value(slot, var)


def _handle_events(app: App, ctx: Physiology) -> None:
    """Apply learner actions in the order sent (a few per second: a loop over events, not patients)."""
    pop = ctx.population
    rng = app.resource(Rng).generator
    for e in ctx.inbox.drain():
        s = _slot(app, pop, e.patient)
        if isinstance(e, ev.DrugGiven):
            reason = "no such patient" if s is None else give_drug(pop, s, e.drug, e.dose, e.unit, e.route)
            if reason is not None:
                app.send(ev.DrugRejected(e.patient, e.drug, reason))
            continue
        if s is None:
            continue
        if isinstance(e, ev.CompressionsStarted):
            pop.cpr[s] = True
            pop.cpr_quality[s] = cpr_quality(e.rate_per_min, e.depth_cm)
            pop.cpr_since_shock[s] = True
            pop.cpr_since_first_shock[s] = bool(pop.cpr_since_first_shock[s] or pop.shocks[s] > 0)
        elif isinstance(e, ev.CompressionsStopped):
            pop.cpr[s] = False
        elif isinstance(e, ev.AirwayPlaced):
            pop.ventilated[s] = True
            pop.fio2[s] = 1.0  # bag-valve ventilation with oxygen reservoir
        elif isinstance(e, ev.OxygenApplied):
            pop.fio2[s] = min(1.0, max(0.21, e.fio2))
        elif isinstance(e, ev.ShockDelivered):
            _shock(app, pop, s, e, rng)
        elif isinstance(e, ev.PulseChecked):
            app.send(
                ev.PulseResult(
                    e.patient or _name_of(pop, s), pop.pulse_palpable(s), RHYTHMS[int(pop.rhythm[s])], e.duration_s
                )
            )
        elif isinstance(e, ev.FluidGiven):
            _fluid(app, pop, s, e)
        elif isinstance(e, ev.VentilationSet):
            pop.vent_rate[s] = min(40.0, max(0.0, e.rate_per_min))
        elif isinstance(e, ev.TemperatureControl):
            pop.temp_0[s] = e.target_c  # reached with the temperature time constant (30 min)
        elif isinstance(e, ev.InfusionStarted):
            _infusion(app, pop, s, e)
        elif isinstance(e, ev.Pericardiocentesis):
            if pop.cause[s] == CAUSE_CODE["tamponade"]:
                pop.cause[s] = CAUSE_CODE[""]
        elif isinstance(e, ev.NeedleDecompression):  # relieves a tension on the same side only
            if pop.cause[s] == CAUSE_CODE["tension_pneumothorax"] and (e.side == "left") == bool(pop.ptx_left[s]):
                pop.cause[s] = CAUSE_CODE[""]
        elif isinstance(e, ev.PacingStarted):
            pop.pace_rate[s], pop.pace_ma[s] = max(0.0, e.rate_per_min), max(0.0, e.current_ma)
        elif isinstance(e, ev.VagalManoeuvre):
            p = VAGAL_SUCCESS.get(e.kind, 0.0) * float(pop.vagal_response[s])
            if int(pop.rhythm[s]) == RHYTHM_CODE["svt"] and rng.random() < p:
                pop.hr_0[s] = pop.sinus_hr[s]
                set_rhythm(app, pop, s, "sinus", e.patient or _name_of(pop, s))


def _device(app: App, name: str) -> Defibrillator:
    """The defibrillator a shock came from: the named one, else the scene's (a default
    biphasic one when the scene declares none)."""
    devices = app.query(Defibrillator)
    for entity, d in devices:
        comp = app.try_get(entity, Name)
        if name and comp is not None and comp.value == name:
            return d
    return devices[0][1] if devices else Defibrillator()


def _shock(app: App, pop: PatientPopulation, s: int, e: ev.ShockDelivered, rng: np.random.Generator) -> None:
    """Apply a shock: conversion chance, and how it fits the device and the arrest."""
    name = e.patient or _name_of(pop, s)
    code = int(pop.rhythm[s])
    before = RHYTHMS[code]
    device = _device(app, e.device)
    number = int(pop.shocks[s]) + 1
    stacked = number > 1 and not bool(pop.cpr_since_shock[s])
    allowed = bool(pop.witnessed[s]) and number <= 3 and not bool(pop.cpr_since_first_shock[s])
    if e.synchronised:  # cardioversion of a tachycardia with a pulse
        ok = e.energy_j >= device.sync_min_energy_j and e.energy_j <= device.max_energy_j
        p = CARDIOVERSION_SUCCESS if (ok and code == RHYTHM_CODE["svt"]) else 0.0
    else:
        ok = device.energy_ok(e.energy_j, float(pop.last_energy[s]) if number > 1 else 0.0)
        p = shock_conversion_probability(pop, s)
    converted = bool(p > 0.0 and rng.random() < p)
    if code >= ARREST_FIRST or not e.synchronised:
        pop.shocks[s] = number
        pop.last_energy[s] = e.energy_j
        pop.cpr_since_shock[s] = False
    app.send(
        ev.ShockResult(
            name, before, converted, e.energy_j, device.waveform, ok, number, stacked, allowed, e.synchronised
        )
    )
    if converted:
        if e.synchronised:
            pop.hr_0[s] = pop.sinus_hr[s]
        set_rhythm(app, pop, s, "sinus" if e.synchronised else "rosc", name)


def _fluid(app: App, pop: PatientPopulation, s: int, e: ev.FluidGiven) -> None:
    """Queue a bolus on the patient's line (run in over ``over_s``)."""
    kind = e.fluid.lower()
    if kind not in CRYSTALLOIDS + BLOOD_OR_COLLOID or e.volume_ml <= 0:
        known = ", ".join(CRYSTALLOIDS + BLOOD_OR_COLLOID)
        app.send(
            ev.DrugRejected(
                e.patient, e.fluid, f"fluid {e.fluid!r} ({e.volume_ml} ml) is not modelled; fluids: {known}"
            )
        )
        return
    rate = e.volume_ml / max(e.over_s, 1.0)
    left, rates = (pop.cryst_left, pop.cryst_rate) if kind in CRYSTALLOIDS else (pop.blood_left, pop.blood_rate)
    # a new bolus adds to what is still running, at the faster of the two rates
    rates[s] = rate if left[s] <= 0 else max(rates[s], rate)
    left[s] += e.volume_ml


def _infusion(app: App, pop: PatientPopulation, s: int, e: ev.InfusionStarted) -> None:
    drug = e.drug
    spec = DRUG_SPECS.get(drug)
    factor = UNIT_FACTORS[spec.unit].get(e.unit.lower()) if spec is not None else None
    if spec is None or factor is None or e.rate < 0:
        app.send(ev.DrugRejected(e.patient, e.drug, f"cannot infuse {e.drug} at {e.rate} {e.unit}/min"))
        return
    pop.infusion[s, DRUG_INDEX[drug]] = e.rate * factor / 60.0


def _name_of(pop: PatientPopulation, slot: int) -> str:
    for name, s in pop.slots.items():
        if s == slot:
            return name
    return ""


def physiology_step(app: App) -> None:
    """One logic tick for every patient: register new ones, apply actions, step the model."""
    ctx = app.resource(Physiology)
    patients = app.query(Patient)
    if len(patients) != ctx.registered:
        _register(app, ctx, patients)
    pop = ctx.population
    _handle_events(app, ctx)
    if pop.n == 0:
        return
    draws = app.resource(Rng).generator.random(pop.n) if pop.rosc_per_min.any() else None
    before = pop.rhythm.copy()
    step_population(pop, app.clock.dt, draws)
    changed = np.flatnonzero((before != pop.rhythm) & pop.alive)
    for s in changed:  # rare: only patients whose rhythm changed this tick
        app.send(ev.RhythmChanged(_name_of(pop, int(s)), RHYTHMS[int(before[s])], RHYTHMS[int(pop.rhythm[s])]))


def vital_targets_step(app: App) -> None:
    """Report every ``VitalTarget`` whose value entered or left its range this tick (a few
    comparisons per target; nothing is sent while the state holds)."""
    targets = app.query(VitalTarget)
    if not targets:
        return
    pop = app.resource(Physiology).population
    for entity, target in targets:
        slot = _slot(app, pop, target.patient)
        if slot is None or not pop.alive[slot]:
            continue
        value = float(pop.value(slot, target.var))
        inside = int(target.low <= value <= target.high)
        if inside != target.inside:
            target.inside = inside
            comp = app.try_get(entity, Name)
            app.send(
                ev.VitalTargetChanged(
                    target.patient or _name_of(pop, slot),
                    comp.value if comp is not None else "",
                    target.var,
                    bool(inside),
                    round(value, 3),
                    target.low if math.isfinite(target.low) else None,
                    target.high if math.isfinite(target.high) else None,
                )
            )
