"""The instruments plugin: components, the InstrumentWorld and ToolRegistry resources and the
systems, drawing included."""

from __future__ import annotations

from vrmed.app import App
from vrmed.components.collision.collider import Collider
from vrmed.components.instruments.instrument import BodyWall, Instrument
from vrmed.components.scene.render import Endoscope
from vrmed.components.tissue.appearance import TissueAppearance
from vrmed.components.tissue.softbody import SoftBody
from vrmed.systems.collision.system import CollisionPlugin

from .behaviours import BUILTIN_TOOL_TYPES
from .draw import instruments_draw_system
from .manual import instruments_manual_system
from .system import (
    InstrumentGrasped,
    InstrumentReleased,
    InstrumentsCollided,
    InstrumentWorld,
    TissueBurned,
    TissueContactEnded,
    TissueContactStarted,
    TissueCut,
    TissueTorn,
    instruments_control_system,
    instruments_forces_system,
    instruments_track_system,
)
from .tools import ToolRegistry


class InstrumentPlugin:
    """Registers :class:`Instrument` and :class:`BodyWall`, the :class:`InstrumentWorld`
    resource, the :class:`ToolRegistry` resource holding the built-in tool types, and the
    instrument systems; adds :class:`CollisionPlugin` if missing."""

    # Endoscope: the view cone of tip_in_view; TissueAppearance: read by instruments.draw, which
    # draws the tissue surfaces
    components = (Instrument, BodyWall, Collider, Endoscope, TissueAppearance)
    #: Components that take part in the task (pack validation: each needs something that draws it).
    task_components = (Instrument, Collider)
    #: Components ``instruments.draw`` draws: tools, and every SoftBody's tissue surface.
    drawn_components = (Instrument, SoftBody)
    #: Events a scenario may name (rubrics, guidance steps, cues).
    events = (
        InstrumentGrasped,
        InstrumentReleased,
        TissueTorn,
        TissueCut,
        TissueBurned,
        TissueContactStarted,
        TissueContactEnded,
        InstrumentsCollided,
    )

    def build(self, app: App) -> None:
        """Add components, resources and systems."""
        if not app.has_plugin(CollisionPlugin):
            app.add_plugin(CollisionPlugin())
        for comp in self.components:
            app.register_component(comp)
        app.insert_resource(InstrumentWorld())
        registry = ToolRegistry()
        for kind in BUILTIN_TOOL_TYPES:
            registry.register(kind)
        app.insert_resource(registry)
        # desktop controls -> device poses, before the tools are placed from them
        app.add_system(instruments_manual_system, in_set="control.instruments", name="instruments.manual", priority=-50)
        app.add_system(instruments_control_system, in_set="control.instruments", name="instruments.control")
        app.add_system(instruments_track_system, in_set="physics.collision", name="instruments.track", priority=10)
        app.add_system(instruments_forces_system, in_set="physics.forces", name="instruments.forces", priority=-10)
        app.add_system(instruments_draw_system, in_set="render.prepare", name="instruments.draw")
