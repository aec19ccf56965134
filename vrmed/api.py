"""The public pack API: everything a content pack's ``systems.py`` may import from vrmed.

A pack imports ``vrmed.api`` (``import vrmed.api as vm``) and, for the kernel names alone,
``vrmed`` itself (every name of :mod:`vrmed` is also here). Every other vrmed module is
internal and can move between releases; ``tests/test_architecture.py`` fails a built-in or
example pack that imports one. See docs/authoring-packs.md ("The pack API") for what each
group is for and docs/architecture.md for the layers behind it.

Groups:

- kernel: the App, systems, components, events, input, resources, ordering sets and the
  simulation settings (:class:`SimSettings`: display, physics and logic rates, substeps);
- scenarios and scoring: the running :class:`Scenario`, the :class:`SessionLog`, rubric
  evaluation and the helpers behind ``score(log)``;
- scene components and each feature's components and events (tissue, collision,
  instruments, planar rigid bodies, clinical);
- extension seams: instrument tool behaviours, tissue constraints, render passes;
- analytics: motion, error and view metrics computed from a session log;
- drawing: the :class:`DrawList` a pack fills in ``render.prepare`` (plain data, no GL),
  and render passes: the :class:`RenderPass` protocol, the :class:`PassContext` a pass
  draws with, and the App's :class:`RenderPipeline` (:func:`render_pipeline`) run for the
  desktop view and each headset eye; :class:`RenderPlugin` draws it offscreen (PNG capture,
  e.g. in a pack's own tests);
- running and testing: :func:`load_pack` and :func:`build_session` for a pack's own tests.
"""

from __future__ import annotations

# The kernel names have one list, vrmed.__all__: star-imported here and re-exported by
# unpacking it into __all__ below (tests/test_architecture.py checks every name resolves).
from vrmed import *  # noqa: F403
from vrmed import __all__ as _KERNEL_NAMES
from vrmed import shapes
from vrmed.adapt import applied_parameters
from vrmed.analytics.errors import (
    AllowedRegion,
    TissueOverstrained,
    count_events,
    events_of,
    fls_score,
    object_drops,
    peg_transfer_penalty,
    task_time,
    tissue_damage,
)
from vrmed.analytics.motion import (
    MotionMetrics,
    Track,
    bimanual_dexterity,
    economy_of_motion,
    idle_time,
    motion_metrics,
    normalized_jerk,
    number_of_movements,
    path_length,
    tracks_from_log,
)
from vrmed.analytics.view import (
    EndoscopeView,
    endoscope_view,
    in_view,
    tip_out_of_view_time,
    tip_tracks_from_log,
    views_from_log,
)
from vrmed.components.clinical import (
    Casualty,
    CompressionSensor,
    Defibrillator,
    Patient,
    PatientIdentity,
    PatientMonitor,
    PatientPopulation,
    VitalTarget,
)
from vrmed.components.cloth import ClothMaterial, ClothSheet
from vrmed.components.collision import Collider, TissueContact
from vrmed.components.instruments import BodyWall, Instrument, InstrumentError, ToolBehaviour, ToolState, ToolType
from vrmed.components.planar import Peg, PlanarBody, WorkSurface
from vrmed.components.scene import (
    Camera,
    Endoscope,
    HudState,
    HudText,
    Interactable,
    Light,
    MonitorAlarm,
    MonitorPanel,
    MonitorReadout,
    Name,
    Transform,
    VisualMesh,
    VitalTrace,
)
from vrmed.components.tissue import EmbeddedSurface, Material, SoftBody, TissueAppearance, TissueBand, TissueVessel
from vrmed.components.tissue.constraints import (
    AttachmentConstraint,
    ConstraintError,
    PinConstraint,
    SlideConstraint,
    TissueConstraint,
)
from vrmed.components.tissue.ligament import (
    LigamentPatch,
    attach_ligament_below,
    attach_ligament_patch,
    attach_ligament_vertices,
)
from vrmed.events import EventInbox
from vrmed.geometry import quat_from_axis_angle, quat_matrix, quat_multiply
from vrmed.input import TrackingLost
from vrmed.packs.loader import load_pack
from vrmed.packs.model import Pack, Scenario
from vrmed.records.scoring import record_score
from vrmed.render.drawlist import DrawList
from vrmed.render.passes import ClipPlane, PassContext, RenderPass, RenderPipeline, render_pipeline
from vrmed.render.plugin import RenderPlugin
from vrmed.render.scope_monitor import ScopeMonitor, ScopeMonitorPass, add_scope_monitor
from vrmed.scenario import RubricResult, RuleResult, ScenarioState, evaluate_rubric, matching, short_type
from vrmed.scenario.interaction import ActionRejected, CueShown, StepCompleted
from vrmed.scenario.learner import LearnerView, MenuState, pick_ray
from vrmed.scenario.model import ANY_PATIENT, for_patient, patients_for
from vrmed.session import Session, build_session
from vrmed.systems.clinical.events import (
    AdministrationDocumented,
    AirwayPlaced,
    AllergiesChecked,
    CasualtyAssessed,
    CasualtyReached,
    CompressionsStarted,
    CompressionsStopped,
    DoseCalculated,
    DrugGiven,
    DrugRejected,
    DrugSelected,
    DrugWithheld,
    EcgRecorded,
    Escalated,
    FluidGiven,
    HelpCalled,
    IdentityChecked,
    InfusionStarted,
    NeedleDecompression,
    News2Scored,
    NibpMeasured,
    NibpRequested,
    OxygenApplied,
    PacingStarted,
    PadsAttached,
    Pericardiocentesis,
    PulseChecked,
    PulseResult,
    RhythmAnalysed,
    RhythmChanged,
    ShockDelivered,
    ShockResult,
    TemperatureControl,
    TriageResult,
    TriageTagged,
    VagalManoeuvre,
    VentilationSet,
    VitalsObserved,
    VitalTargetChanged,
)
from vrmed.systems.clinical.metrics import resuscitation_metrics, triage_metrics
from vrmed.systems.clinical.news2 import news2
from vrmed.systems.clinical.news2 import response as news2_response
from vrmed.systems.cloth import ClothCut, ClothSettings, cloth_pieces
from vrmed.systems.collision.system import TissuePunctured, ToolInsideTissue
from vrmed.systems.instruments.behaviours import BurnBehaviour, CutBehaviour, GraspBehaviour
from vrmed.systems.instruments.system import (
    InstrumentGrasped,
    InstrumentReleased,
    InstrumentsCollided,
    TissueBurned,
    TissueContactEnded,
    TissueContactStarted,
    TissueCut,
    TissueTorn,
    instrument_name,
    tip_in_view,
    tissue_in_jaw,
)
from vrmed.systems.instruments.tools import ToolRegistry, register_tool_type
from vrmed.systems.planar.draw import PlanarDrawStyle
from vrmed.systems.planar.system import ObjectHandedOver, ObjectLanded, ObjectLifted, ObjectLost, ObjectReleased
from vrmed.systems.tissue.solver import (
    max_principal_strain,
    register_tissue_constraint,
    tet_strain,
    tet_stress,
    von_mises_stress,
)

__all__ = [
    # kernel: every name of vrmed itself (one list, vrmed.__all__), plus the events' inbox
    *_KERNEL_NAMES,
    "EventInbox",
    # scenarios and scoring
    "Pack",
    "RubricResult",
    "RuleResult",
    "Scenario",
    "ScenarioState",
    "evaluate_rubric",
    "matching",
    "for_patient",
    "patients_for",
    "ANY_PATIENT",
    "record_score",
    "short_type",
    # scene components
    "Camera",
    "Endoscope",
    "HudState",
    "HudText",
    "Light",
    "MonitorAlarm",
    "MonitorPanel",
    "MonitorReadout",
    "VitalTrace",
    "Name",
    "Transform",
    "VisualMesh",
    # tissue
    "AttachmentConstraint",
    "ConstraintError",
    "EmbeddedSurface",
    "Material",
    "LigamentPatch",
    "PinConstraint",
    "SlideConstraint",
    "SoftBody",
    "TissueAppearance",
    "TissueBand",
    "TissueVessel",
    "TissueConstraint",
    "attach_ligament_below",
    "attach_ligament_patch",
    "attach_ligament_vertices",
    "max_principal_strain",
    "register_tissue_constraint",
    "tet_strain",
    "tet_stress",
    "von_mises_stress",
    # cloth (triangle membranes: gauze, drapes; docs/cloth.md)
    "ClothCut",
    "ClothMaterial",
    "ClothSettings",
    "ClothSheet",
    "cloth_pieces",
    # collision and instruments
    "BodyWall",
    "Collider",
    "TissueContact",
    "Instrument",
    "InstrumentError",
    "InstrumentGrasped",
    "Interactable",
    "LearnerView",
    "MenuState",
    "CueShown",
    "ActionRejected",
    "StepCompleted",
    "TrackingLost",
    "pick_ray",
    "tip_in_view",
    "applied_parameters",
    "InstrumentReleased",
    "InstrumentsCollided",
    "TissueBurned",
    "TissueContactEnded",
    "TissueContactStarted",
    "TissueCut",
    "TissueTorn",
    "TissuePunctured",
    "ToolInsideTissue",
    # instrument tool types (extension seam: docs/interaction.md, "Tool types and behaviours")
    "BurnBehaviour",
    "CutBehaviour",
    "GraspBehaviour",
    "ToolBehaviour",
    "ToolRegistry",
    "ToolState",
    "ToolType",
    "instrument_name",
    "register_tool_type",
    "tissue_in_jaw",
    # planar rigid bodies
    "ObjectHandedOver",
    "ObjectLanded",
    "ObjectLifted",
    "ObjectLost",
    "ObjectReleased",
    "Peg",
    "PlanarBody",
    "PlanarDrawStyle",
    "WorkSurface",
    # clinical
    "AdministrationDocumented",
    "AirwayPlaced",
    "AllergiesChecked",
    "Casualty",
    "CasualtyAssessed",
    "CasualtyReached",
    "CompressionSensor",
    "CompressionsStarted",
    "CompressionsStopped",
    "DoseCalculated",
    "DrugGiven",
    "DrugRejected",
    "DrugSelected",
    "DrugWithheld",
    "Escalated",
    "HelpCalled",
    "IdentityChecked",
    "News2Scored",
    "NibpMeasured",
    "NibpRequested",
    "OxygenApplied",
    "PadsAttached",
    "Patient",
    "PatientIdentity",
    "PatientMonitor",
    "PatientPopulation",
    "RhythmAnalysed",
    "RhythmChanged",
    "ShockDelivered",
    "ShockResult",
    "TriageResult",
    "TriageTagged",
    "VitalsObserved",
    "resuscitation_metrics",
    "triage_metrics",
    "news2",
    "news2_response",
    # analytics
    "AllowedRegion",
    "EndoscopeView",
    "MotionMetrics",
    "TissueOverstrained",
    "Track",
    "bimanual_dexterity",
    "count_events",
    "economy_of_motion",
    "endoscope_view",
    "events_of",
    "fls_score",
    "idle_time",
    "in_view",
    "motion_metrics",
    "normalized_jerk",
    "number_of_movements",
    "object_drops",
    "path_length",
    "peg_transfer_penalty",
    "task_time",
    "tip_out_of_view_time",
    "tip_tracks_from_log",
    "tissue_damage",
    "tracks_from_log",
    "views_from_log",
    # drawing
    "DrawList",
    # pose maths
    "quat_matrix",
    # asset generators: mesh building blocks (a module)
    "shapes",
    "quat_multiply",
    "quat_from_axis_angle",
    "ClipPlane",
    "PassContext",
    "RenderPass",
    "RenderPipeline",
    "RenderPlugin",
    "ScopeMonitor",
    "ScopeMonitorPass",
    "add_scope_monitor",
    "render_pipeline",
    # running and testing a pack
    "Session",
    "build_session",
    "load_pack",
    "Defibrillator",
    "VitalTarget",
    "EcgRecorded",
    "FluidGiven",
    "InfusionStarted",
    "NeedleDecompression",
    "PacingStarted",
    "Pericardiocentesis",
    "PulseChecked",
    "PulseResult",
    "TemperatureControl",
    "VagalManoeuvre",
    "VentilationSet",
    "VitalTargetChanged",
]
