"""The clinical feature's drawing: the bedside monitor on the screen-space panel, and the
scene marks of learner actions (defibrillator pads on the chest, triage tags).

This is the only clinical module that imports the renderer's data types; it adds nothing
when no renderer is present.
"""

from __future__ import annotations

import math

import numpy as np

from vrmed.app import App
from vrmed.components.clinical.patient import (
    ARREST_FIRST,
    RHYTHMS,
    Casualty,
    Patient,
    PatientMonitor,
    PatientPopulation,
)
from vrmed.components.scene.core import Name, Transform
from vrmed.components.scene.render import MonitorAlarm, MonitorPanel, MonitorReadout, VitalTrace
from vrmed.components.scene.visual import VisualMesh
from vrmed.geometry import quat_matrix
from vrmed.render.drawlist import DrawList
from vrmed.team.inject import LEADS_OFF, EquipmentFailed, EquipmentRestored

from .context import Physiology
from .events import PadsAttached, TriageTagged
from .waveforms import PLETH_MIN, MonitorTrack, MonitorTracks, NibpCuffs, NibpReading, patient_name, pulse_amplitude

#: Monitor colours and ranges: ECG lead II in mV, pleth as a fraction, capnogram in mmHg
#: (0-60 leaves room for the post-ROSC CO2 washout); the capnogram's scale is labelled.
_PANEL_TRACES = (
    ("II", "ecg", -0.5, 1.5, (0.25, 1.0, 0.35, 1.0), ""),
    ("Pleth", "pleth", 0.0, 1.0, (0.3, 0.85, 1.0, 1.0), ""),
    ("CO2", "co2", 0.0, 60.0, (1.0, 0.9, 0.3, 1.0), "mmHg"),
)
#: Where the monitor sits in every view (fractions: x, y, width, height): the bottom band,
#: tall enough that its numbers stay at least 2.5 % of the view height, in a window and in
#: each headset eye's overlay panel alike.
PANEL_VIEW_RECT = (0.01, 0.62, 0.98, 0.37)
#: What a value reads when the monitor cannot measure it.
NOT_MEASURABLE = "---"
#: Rhythm labels of the arrest rhythms (perfusing rhythms are labelled by rate).
RHYTHM_LABELS = {"vf": "VF", "pvt": "VT", "asystole": "ASYSTOLE", "pea": "PEA"}
#: Perfusing rhythms not named by their rate (their rate alarms still apply).
PERFUSING_LABELS = {"svt": "SVT", "heart_block": "COMPLETE HEART BLOCK"}
#: Alarm limits (inclusive): the NEWS2 single-parameter red bands (score 3; RCP 2017), our
#: choice of monitor defaults. None: no limit on that side.
ALARM_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "hr": (40.0, 131.0),
    "spo2": (91.0, None),
    "sbp": (90.0, 220.0),
    "rr": (8.0, 25.0),
}
#: Seconds without a breath on the capnogram before the apnoea alarm (capnographs commonly
#: default to 20-30 s; our choice 20 s).
APNOEA_S = 20.0
#: EtCO2 below this during cardiac arrest: improve CPR quality (AHA 2020 algorithm).
ETCO2_CPR_LOW = 10.0
#: EtCO2 above this with a perfusing rhythm: hypoventilation (our choice of alarm limit).
ETCO2_HIGH = 50.0
#: The technical alarm while the ECG leads are off. IEC 60601-2-27:2011 (clause 201.12.4,
#: alarm systems) requires ECG monitoring equipment to indicate a lead/electrode off as a
#: *technical* alarm condition (IEC 60601-1-8: equipment, not patient, state); the text and
#: its medium priority are our choice (common monitors show "LEADS OFF" as a technical alarm).
LEADS_OFF_ALARM = "ECG LEADS OFF"
#: What the rhythm label reads while the leads are off (no rhythm can be seen).
LEADS_OFF_LABEL = "LEADS OFF"
_PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
_ALARMS: dict[tuple[str, str], MonitorAlarm] = {}  # one object per message, reused every frame


def _rank(alarm: MonitorAlarm) -> int:
    return _PRIORITY_RANK[alarm.priority]


def _alarm(text: str, priority: str) -> MonitorAlarm:
    alarm = _ALARMS.get((text, priority))
    if alarm is None:
        alarm = _ALARMS[text, priority] = MonitorAlarm(text, priority)
    return alarm


def _clock(t: float) -> str:
    """Simulation time as MM:SS (a reading's time stamp)."""
    secs = max(0, int(t))
    return f"{secs // 60:02d}:{secs % 60:02d}"


def _limit(key: str, value: float) -> str:
    """ "LOW"/"HIGH" when a displayed ``value`` is at or beyond its alarm limit, else ""."""
    lo, hi = ALARM_LIMITS[key]
    if lo is not None and value <= lo:
        return "LOW"
    if hi is not None and value >= hi:
        return "HIGH"
    return ""


def monitor_readouts() -> list[MonitorReadout]:
    """The monitor's numeric blocks, in display order, with their units (two columns:
    HR and SpO2, NIBP across both, EtCO2 and RR)."""
    return [
        MonitorReadout("hr", "HR", "bpm"),
        MonitorReadout("spo2", "SpO2", "%"),
        MonitorReadout("nibp", "NIBP", "mmHg", span=2),
        MonitorReadout("etco2", "EtCO2", "mmHg"),
        MonitorReadout("rr", "RR", "/min"),
    ]


def update_monitor_display(
    panel: MonitorPanel,
    pop: PatientPopulation,
    slot: int,
    now: float,
    track: MonitorTrack | None = None,
    nibp: NibpReading | None = None,
    nibp_running: bool = False,
    leads_off: bool = False,
) -> None:
    """Fill ``panel``'s display strings, alarms and numbers for the patient in ``slot``
    by the monitor rules (docs/clinical.md, "Monitor panel"), not from raw model numbers:

    - rhythm label: VF, VT, ASYSTOLE, PEA; perfusing rhythms by rate (SINUS BRADY < 60,
      SINUS TACHY > 100 /min, else SINUS RHYTHM), ROSC included;
    - HR ``---`` when there are no QRS complexes to count (VF, asystole) or compressions
      swamp the ECG; otherwise the rate (VT and PEA have countable complexes);
    - SpO2 ``---`` without a pulsatile signal (any arrest rhythm, CPR included, or a pleth
      below :data:`PLETH_MIN`);
    - NIBP only from a cuff reading (``nibp``), with its time; a failed cycle ``---/---``;
    - EtCO2 the end-tidal value of the last breath on the capnogram (``track``), ``---``
      without one in :data:`APNOEA_S`, RR ``0`` then (apnoea);
    - alarms (most urgent first) and ``alarm_tone``: the highest priority, if audio is on;
    - ``leads_off`` (an injected "lead off" equipment failure): no ECG, so no rhythm label
      (:data:`LEADS_OFF_LABEL`), no rhythm alarm, HR ``---``, and the technical alarm
      :data:`LEADS_OFF_ALARM` instead (the pleth, capnogram and cuff still measure).

    ``now`` is the time of the newest waveform sample; without a ``track`` the live model
    values stand in for the capnogram's last breath.
    """
    code = int(pop.rhythm[slot])
    rhythm = RHYTHMS[code]
    arrest = code >= ARREST_FIRST
    cpr = bool(pop.cpr[slot])
    hr, spo2, rr = float(pop.hr[slot]), float(pop.spo2[slot]), float(pop.rr[slot])
    if len(panel.readouts) != 5:
        panel.readouts = monitor_readouts()
    r_hr, r_spo2, r_nibp, r_etco2, r_rr = panel.readouts
    alarms = panel.alarms
    alarms.clear()
    for r in panel.readouts:
        r.alarm, r.detail = "", ""

    # rhythm and heart rate (from the ECG: nothing to show while its leads are off)
    if leads_off:
        panel.rhythm_label = LEADS_OFF_LABEL
        alarms.append(_alarm(LEADS_OFF_ALARM, "medium"))
        r_hr.alarm = "medium"
    elif rhythm in RHYTHM_LABELS:
        panel.rhythm_label = RHYTHM_LABELS[rhythm]
        alarms.append(_alarm(panel.rhythm_label, "high"))
        r_hr.alarm = "high"
    else:
        panel.rhythm_label = PERFUSING_LABELS.get(rhythm) or (
            "SINUS BRADY" if hr < 60.0 else "SINUS TACHY" if hr > 100.0 else "SINUS RHYTHM"
        )
    countable = not cpr and not leads_off and rhythm not in ("vf", "asystole")
    panel.hr = float(round(hr)) if countable else None
    r_hr.value = f"{round(hr)}" if countable else NOT_MEASURABLE
    if leads_off:
        r_hr.detail = "leads off"
    elif cpr:
        r_hr.detail = "CPR artefact"
    elif countable and not arrest and (level := _limit("hr", round(hr))):
        alarms.append(_alarm(f"HR {level}", "high"))
        r_hr.alarm = "high"

    # SpO2: needs a pulsatile signal
    flow, _ = pulse_amplitude(pop, slot)
    pulsatile = not arrest and flow >= PLETH_MIN
    panel.spo2 = float(round(spo2)) if pulsatile else None
    r_spo2.value = f"{round(spo2)}" if pulsatile else NOT_MEASURABLE
    if not pulsatile:
        r_spo2.detail = "no pulse" if arrest else "weak signal"
    elif level := _limit("spo2", round(spo2)):
        alarms.append(_alarm(f"SpO2 {level}", "high"))
        r_spo2.alarm = "high"

    # capnography: the last breath's end-tidal CO2
    if track is None:
        breathing, apnoea = rr > 0.5 and float(pop.etco2[slot]) > 0.0, False
        end_tidal = float(pop.etco2[slot])
    else:
        seen = not math.isnan(track.breath_t)
        breathing = seen and now - track.breath_t <= APNOEA_S
        since = now - (track.breath_t if seen else track.started)
        apnoea = not breathing and since > APNOEA_S
        end_tidal = track.end_tidal
    panel.etco2 = float(round(end_tidal)) if breathing else None
    panel.rr = float(round(rr)) if breathing else 0.0 if apnoea else None
    r_etco2.value = f"{round(end_tidal)}" if breathing else NOT_MEASURABLE
    r_rr.value = f"{round(rr)}" if breathing else "0" if apnoea else NOT_MEASURABLE
    if apnoea:
        alarms.append(_alarm("APNOEA", "high"))
        r_etco2.alarm = r_rr.alarm = "high"
    elif breathing:
        if level := _limit("rr", round(rr)):
            alarms.append(_alarm(f"RR {level}", "high"))
            r_rr.alarm = "high"
        if arrest and end_tidal < ETCO2_CPR_LOW:
            alarms.append(_alarm("EtCO2 LOW", "medium"))
            r_etco2.alarm, r_etco2.detail = "medium", "CPR quality?"
        elif not arrest and end_tidal > ETCO2_HIGH:
            alarms.append(_alarm("EtCO2 HIGH", "medium"))
            r_etco2.alarm = "medium"

    # NIBP: only what a cuff measured, stamped with its time
    panel.sbp = panel.dbp = None
    if nibp is None:
        r_nibp.value = ""
    elif nibp.ok:
        panel.sbp, panel.dbp = nibp.sbp, nibp.dbp
        r_nibp.value = f"{nibp.sbp:.0f}/{nibp.dbp:.0f} ({nibp.mean:.0f})"
        r_nibp.detail = f"@ {_clock(nibp.t)}"
        if level := _limit("sbp", nibp.sbp):
            alarms.append(_alarm(f"NIBP {level}", "high"))
            r_nibp.alarm = "high"
    else:
        r_nibp.value = f"{NOT_MEASURABLE}/{NOT_MEASURABLE}"
        r_nibp.detail = f"@ {_clock(nibp.t)} no pulse"
    if nibp_running:
        r_nibp.detail = "measuring" if not r_nibp.detail else f"{r_nibp.detail}, measuring"

    alarms.sort(key=_rank)  # stable: the rhythm stays first among the high-priority alarms
    panel.alarm = {r.key for r in panel.readouts if r.alarm}
    panel.alarm_tone = alarms[0].priority if alarms and panel.alarm_audio else ""
    panel.time_s = now


class MonitorLeads:
    """Whether the bedside monitor's ECG leads are off (a resource made by
    :func:`monitor_panel_step`): the ids of the injected equipment failures with the
    ``leads_off`` monitor effect (``settings.team.failures.<id>.monitor``, vrmed.team.inject)
    now in effect, followed from ``EquipmentFailed``/``EquipmentRestored`` every frame, with
    or without a renderer, so the state is a function of the event log."""

    def __init__(self, app: App) -> None:
        self.failed = app.events.reader(EquipmentFailed)
        self.restored = app.events.reader(EquipmentRestored)
        self.off: set[str] = set()

    def update(self) -> bool:
        """Follow this frame's events; True while any lead-off failure lasts."""
        for failed in self.failed.read():
            if failed.monitor == LEADS_OFF:
                self.off.add(failed.failure)
        for restored in self.restored.read():
            self.off.discard(restored.failure)
        return bool(self.off)


def monitor_panel_step(app: App) -> None:
    """When a renderer is present, show the first PatientMonitor on the screen-space
    monitor panel: its waveforms, and the numbers, labels and alarms of
    :func:`update_monitor_display`; while a lead-off failure lasts (:class:`MonitorLeads`)
    the ECG is a flat line at 0 mV and the panel shows the lead-off technical alarm."""
    leads = app.try_resource(MonitorLeads)
    if leads is None:
        leads = MonitorLeads(app)
        app.insert_resource(leads)
    leads_off = leads.update()
    if not app.has_resource(DrawList):
        return
    monitors = app.query(PatientMonitor)
    if not monitors:
        return

    pop = app.resource(Physiology).population
    entity, m = monitors[0]
    try:
        slot = pop.slot_of(m.patient)
    except KeyError:
        return
    panel = app.try_resource(MonitorPanel)
    if panel is None:
        panel = MonitorPanel(
            traces=[
                VitalTrace(label, np.zeros(2), lo, hi, color, unit) for label, _, lo, hi, color, unit in _PANEL_TRACES
            ],
            view_rect=PANEL_VIEW_RECT,
            trace_fraction=0.6,
            text_size=16,
            readout_columns=2,
            header=True,
            readouts=monitor_readouts(),
        )
        app.insert_resource(panel)
    for trace, (_, name, _, _, _, _) in zip(panel.traces, _PANEL_TRACES):
        if name == "ecg" and leads_off:  # no signal: the baseline, as a monitor draws a lead-off trace
            if trace.samples.shape != m.ecg.shape or trace.samples.any():
                trace.samples = np.zeros_like(m.ecg)
            continue
        trace.samples = m.window(name)
    tracks = app.try_resource(MonitorTracks)
    track = None if tracks is None else tracks.by_entity.get(entity)
    cuffs = app.try_resource(NibpCuffs)
    name = patient_name(pop, slot)
    reading = None if cuffs is None else cuffs.last.get(name)
    running = cuffs is not None and name in cuffs.running
    update_monitor_display(panel, pop, slot, m.t_last, track, reading, running, leads_off)


# --- the scene: defibrillator pads and triage tags ---------------------------------------
# Both are drawn in a patient's *anatomical frame*, the convention the clinical scene meshes
# follow (docs/clinical.md, "Scenes and their assets"): the Transform's origin on the front
# of the chest over the lower sternum (where compressions go), local -x towards the head,
# +y anterior (out of the chest), +z the patient's right. A supine patient has the identity
# orientation; a sitting one is turned so that local -x points up.

#: Half-depth and half-width (m) of the chest's elliptic section behind the origin, which
#: the pads follow (an adult chest is about 22 x 36 cm; the packs' patient meshes match).
CHEST_HALF_DEPTH, CHEST_HALF_WIDTH = 0.11, 0.18
#: Adult pads in the anterolateral position (AHA 2020 / ERC 2021): (along the body, across
#: it) in metres from the origin. The sternal pad right of the sternum below the clavicle,
#: the apical pad at the left mid-axillary line at the level of V6.
PAD_PLACES = ((-0.10, 0.075), (0.03, -0.15))
#: Pad size (along the body, across, thickness; m): adult pads are about 8 x 12 cm or more.
PAD_SIZE = (0.13, 0.09, 0.006)
#: Linear RGBA of the pads' white foam backing (contrasts with skin and with the floor).
PAD_COLOR = (0.82, 0.84, 0.86, 1.0)
#: Linear RGBA of a triage tag by START category (the tag colours of START: black
#: expectant, red immediate, yellow delayed, green minor); ``None``, a casualty not tagged
#: yet (or tagged with an unknown category), carries a blank white card.
TRIAGE_TAG_COLORS: dict[str | None, tuple[float, float, float, float]] = {
    "immediate": (0.75, 0.02, 0.02, 1.0),
    "delayed": (0.90, 0.62, 0.02, 1.0),
    "minor": (0.03, 0.42, 0.06, 1.0),
    "expectant": (0.012, 0.012, 0.012, 1.0),
    None: (0.85, 0.85, 0.82, 1.0),
}
#: The tag card: centre (m, anatomical frame; on the chest, just clear of it) and size
#: (along the body, thickness, across). Larger than a real tag (about 8 x 16 cm) so the
#: colour reads across the scene.
TAG_CENTRE = (-0.05, 0.02, 0.0)
TAG_SIZE = (0.17, 0.008, 0.25)


def _box(size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A box centred on the origin with four vertices per face, so the renderer's vertex
    normals are face normals (a flat card, not a pillow): positions (24, 3), faces (12, 3)
    counter-clockwise seen from outside."""
    half = np.asarray(size, float) / 2.0
    positions: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3  # e_u x e_v = e_axis
        for sign in (-1.0, 1.0):
            corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
            if sign < 0:
                corners.reverse()
            base = len(positions)
            for cu, cv in corners:
                p = [0.0, 0.0, 0.0]
                p[axis], p[u], p[v] = sign * half[axis], cu * half[u], cv * half[v]
                positions.append(p)
            faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(positions), np.array(faces, np.int32)


def _pad_template() -> tuple[np.ndarray, np.ndarray]:
    """Both pads in the anatomical frame, each tilted to lie on the chest's ellipse."""
    a, b = CHEST_HALF_DEPTH, CHEST_HALF_WIDTH
    box, box_faces = _box((PAD_SIZE[0], PAD_SIZE[2], PAD_SIZE[1]))  # thin along y (anterior)
    parts, faces = [], []
    for i, (x, z) in enumerate(PAD_PLACES):
        y = -a + a * math.sqrt(max(0.0, 1.0 - (z / b) ** 2))
        tilt = math.atan2(z / b**2, (y + a) / a**2)  # the outward normal's angle from +y towards +z
        c, s = math.cos(tilt), math.sin(tilt)
        rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        lift = PAD_SIZE[2] / 2.0 + 0.003  # clear of the skin (no depth fighting)
        centre = np.array([x, y + c * lift, z + s * lift])
        parts.append(box @ rot.T + centre)
        faces.append(box_faces + i * len(box))
    return np.concatenate(parts), np.concatenate(faces)


_PAD_POSITIONS, _PAD_FACES = _pad_template()
_TAG_BOX, _TAG_FACES = _box(TAG_SIZE)
_TAG_POSITIONS = _TAG_BOX + np.asarray(TAG_CENTRE)


class PosedMesh:
    """A template mesh (anatomical frame) placed at an entity's Transform; the world
    positions are recomputed only when the Transform changes (static patients: once)."""

    def __init__(self, local: np.ndarray) -> None:
        self.local = local
        self.world = np.empty_like(local)
        self._pose = np.full(10, np.nan)  # position, orientation, scale last posed at
        self._matrix = np.empty((3, 3))

    def at(self, tf: Transform) -> np.ndarray:
        """World positions (N, 3) of the template at ``tf`` (a view of a reused array)."""
        pose = self._pose
        if not (
            (pose[0:3] == tf.position).all() and (pose[3:7] == tf.orientation).all() and (pose[7:10] == tf.scale).all()
        ):
            pose[0:3], pose[3:7], pose[7:10] = tf.position, tf.orientation, tf.scale
            np.multiply(quat_matrix(tf.orientation.tolist()), tf.scale, out=self._matrix)  # scales the local axes
            np.matmul(self.local, self._matrix.T, out=self.world)
            self.world += tf.position
        return self.world


def _entity_name(app: App, entity: int) -> str:
    """The name learner events use for a patient (as the physiology registers it)."""
    name = app.try_get(entity, Name)
    return name.value if name is not None else f"patient{entity}"


class DefibPads:
    """Which patients have defibrillator pads on (a resource made by
    :func:`defib_pads_step`): names from ``PadsAttached`` ("" = every patient in the
    scene), and each patient's posed pads."""

    def __init__(self, app: App) -> None:
        self.reader = app.events.reader(PadsAttached)
        self.attached: set[str] = set()
        self.meshes: dict[int, PosedMesh] = {}


def defib_pads_step(app: App) -> None:
    """Once ``PadsAttached`` names a patient (or no patient: all of them), draw the two
    pads on the chest of that patient's Transform (anatomical frame) while a renderer is
    present, for patients that are shown (with a ``VisualMesh``). Events are followed
    every frame, with or without a renderer."""
    pads = app.try_resource(DefibPads)
    if pads is None:
        pads = DefibPads(app)
        app.insert_resource(pads)
    for event in pads.reader.read():
        pads.attached.add(event.patient)
    draws = app.try_resource(DrawList)
    if draws is None or not pads.attached:
        return
    everyone = "" in pads.attached
    for entity, (_, tf, _) in app.query(Patient, Transform, VisualMesh):
        if not everyone and _entity_name(app, entity) not in pads.attached:
            continue
        posed = pads.meshes.get(entity)
        if posed is None:
            posed = pads.meshes[entity] = PosedMesh(_PAD_POSITIONS)
        draws.add_surface(
            ("defib_pads", entity),
            posed.at(tf),
            _PAD_FACES,
            color=PAD_COLOR,
            roughness=0.8,
            wetness=0.0,
            shadow=False,
            entity=entity,
        )


class TriageTags:
    """Each casualty's current triage tag (a resource made by :func:`triage_tags_step`):
    the category of the last ``TriageTagged`` by casualty name, and the posed tag cards."""

    def __init__(self, app: App) -> None:
        self.reader = app.events.reader(TriageTagged)
        self.category: dict[str, str] = {}
        self.meshes: dict[int, PosedMesh] = {}


def triage_tags_step(app: App) -> None:
    """Draw a tag card on the chest of every casualty that is shown (``Casualty`` +
    ``Transform`` + ``VisualMesh``) in the colour of its current category
    (:data:`TRIAGE_TAG_COLORS`; a blank white card until it is tagged), changing when the
    learner re-tags it. Events are followed every frame, with or without a renderer."""
    tags = app.try_resource(TriageTags)
    if tags is None:
        tags = TriageTags(app)
        app.insert_resource(tags)
    for event in tags.reader.read():
        tags.category[event.patient] = event.category
    draws = app.try_resource(DrawList)
    if draws is None:
        return
    for entity, (_, tf, _) in app.query(Casualty, Transform, VisualMesh):
        category = tags.category.get(_entity_name(app, entity))
        color = TRIAGE_TAG_COLORS.get(category, TRIAGE_TAG_COLORS[None])
        posed = tags.meshes.get(entity)
        if posed is None:
            posed = tags.meshes[entity] = PosedMesh(_TAG_POSITIONS)
        draws.add_surface(
            ("triage_tag", entity),
            posed.at(tf),
            _TAG_FACES,
            color=color,
            roughness=0.7,
            wetness=0.0,
            shadow=False,
            entity=entity,
        )
