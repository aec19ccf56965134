"""Render-stage wiring: draw each eye of the XR frame the input stage began, then end it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .input import XrInputSource
from .interface import EyeView

#: ``draw(app, eye, framebuffer)``: render the scene for one eye into a moderngl framebuffer
#: (already bound), using ``eye.view_matrix()`` and ``eye.projection_matrix(near, far)``.
EyeDraw = Callable[[Any, EyeView, Any], None]


class XrPlugin:
    """Presents an :class:`XrInputSource`'s frames: the input stage (``InputPlugin`` with this
    source) begins the XR frame; this plugin's ``xr.present`` system, after every render
    set, draws both eyes with ``draw`` (when the runtime wants images) and ends the frame.

    Without ``draw`` frames are ended empty, which keeps a headless session running.
    A ``draw`` object with ``build(app)``/``cleanup(app)`` methods (like
    :class:`vrmed.xr.render.XrSceneRenderer`) is built with the plugin and cleaned up
    before the session closes.
    """

    def __init__(self, source: XrInputSource, draw: EyeDraw | None = None) -> None:
        self.source = source
        self.draw = draw
        source.defer_end = True  # the frame stays open from the input stage to the render stage

    def build(self, app: Any) -> None:
        """Insert the source as a resource and add the ``xr.present`` render system."""
        app.insert_resource(self.source, XrInputSource)
        rig = getattr(self.source, "comfort", None)
        if rig is not None and not app.has_resource(type(rig.settings)):
            app.insert_resource(rig.settings)  # ComfortSettings: the recorder's target rate
        # After every render set by name: an empty set orders nothing, and render.prepare
        # (which fills the DrawList) must run first even when no RenderPlugin is present.
        app.add_system(
            self._present, stage="render", after=("render.prepare", "render.draw", "render.overlay"), name="xr.present"
        )
        build = getattr(self.draw, "build", None)
        if callable(build):
            build(app)

    def _present(self, app: Any) -> None:
        frame = self.source.open_frame
        if frame is None:
            return
        backend = self.source.backend
        if self.draw is not None and frame.should_render:
            for eye in frame.eyes:
                fbo = backend.eye_framebuffer(eye.index)
                fbo.use()
                self.draw(app, eye, fbo)
        self.source.end_open_frame()

    def cleanup(self, app: Any) -> None:
        """Release what ``draw`` holds, then close the XR session with the App."""
        cleanup = getattr(self.draw, "cleanup", None)
        try:
            if callable(cleanup):
                cleanup(app)
        finally:
            self.source.close()
