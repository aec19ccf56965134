"""RenderPlugin: draws the App's main view every ``every`` frames (offscreen, and in a
desktop window when given one) and optionally writes drawn frames as PNGs.

What is drawn is the App's :class:`~vrmed.render.passes.RenderPipeline` (the same one each
headset eye runs): the built-in ``scene`` pass (every ``Transform`` + ``VisualMesh`` entity
and what systems queue in the :class:`~vrmed.render.drawlist.DrawList` during
``render.prepare``), then the overlay passes (``monitor``, ``hud`` and any a pack adds).
The frame is split over the render sets::

    render.prepare  systems fill the DrawList, HudState, MonitorPanel, ...
    render.draw     this plugin's "render.draw": the scene passes of the main view
    render.overlay  systems that change overlay state late (or draw on the scene image)
    render.present  this plugin's "render.present": the overlay passes, then the PNG
                    capture and the window; the DrawList is cleared

so whatever a ``render.overlay`` system does is in this frame's capture and window.
The view is chosen by :func:`main_camera` (an :class:`ActiveView` selection, else the
first active ``Endoscope``, else the first ``Camera``, else the plugin's default); the
light is the first ``Light`` entity's or the plugin's, and a view through an endoscope
adds the scope's own light and lens vignette (``scope_light``). The GL context is created on the
first drawn frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components import Transform
from vrmed.components.scene.render import ActiveView, Camera, Endoscope, Light
from vrmed.errors import VrmedError

from .camera import endoscope_camera
from .context import create_context
from .drawlist import DrawList
from .learner_hud import LearnerHudPass
from .passes import RenderPipeline, RenderTarget, render_pipeline
from .png import write_png
from .renderer import Renderer, ScopeLight

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .overlay import OverlayRenderer
    from .window import Window


#: The scope light a RenderPlugin uses unless told otherwise (frozen, so safe to share).
DEFAULT_SCOPE_LIGHT = ScopeLight()


class ViewSelectionError(VrmedError):
    """:class:`ActiveView` names an entity that has neither a Camera nor an Endoscope with a Transform."""


def main_camera(app: App, default: Camera, scratch: Camera | None = None) -> Camera:
    """The camera the trainee watches this frame: the :class:`ActiveView` entity's
    Endoscope (with its Transform) or Camera when one is selected; else the first active
    Endoscope on an entity with a Transform; else the first Camera entity; else
    ``default``. An endoscope's camera is written into ``scratch`` when given."""
    return main_view(app, default, scratch)[0]


def main_view(app: App, default: Camera, scratch: Camera | None = None) -> tuple[Camera, Endoscope | None]:
    """:func:`main_camera` and the :class:`Endoscope` it looks through (None for a
    Camera entity or ``default``): an endoscope view carries the scope's light."""
    selected = app.try_resource(ActiveView)
    if selected is not None and selected.entity is not None:
        e = selected.entity
        scope, tf = app.try_get(e, Endoscope), app.try_get(e, Transform)
        if scope is not None and tf is not None:
            return endoscope_camera(tf.position, tf.orientation, scope, scratch), scope
        cam = app.try_get(e, Camera)
        if cam is not None:
            return cam, None
        raise ViewSelectionError(
            f"ActiveView selects entity {e}, which has no Camera and no Endoscope "
            f"with a Transform (or no longer exists)"
        )
    for _, (tf, scope) in app.query(Transform, Endoscope):
        if scope.active:
            return endoscope_camera(tf.position, tf.orientation, scope, scratch), scope
    cams = app.query(Camera)
    return (cams[0][1] if cams else default), None


class RenderPlugin:
    """Headless renderer for an App: the main view of its :class:`RenderPipeline`.

    ``width`` x ``height`` pixels, MSAA ``samples``; renders the frames whose number is a
    multiple of ``every`` and, when ``capture_dir`` is set, writes them there as
    ``frame_000000.png`` (the App's frame number). ``camera``/``light`` are defaults used
    when no entity carries one. ``context`` shares an existing moderngl context (then the
    plugin does not release it); otherwise one is made with ``backend`` ("egl").
    ``window`` (a :class:`~vrmed.render.window.Window`) shows every drawn frame on the
    desktop; the image is then the window's framebuffer size, the window's context is used,
    and the plugin closes the window in :meth:`cleanup`. ``capture_every`` (default
    ``every``) picks which drawn frames are written to ``capture_dir``.
    ``scope_light`` is the light and lens vignette of frames seen through an
    :class:`Endoscope` (None: an endoscope view is lit like any other).
    """

    #: Component types this plugin registers (for pack validation without an App).
    components = (Camera, Light, Endoscope)

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        capture_dir: str | Path | None = None,
        every: int = 1,
        *,
        samples: int = 4,
        camera: Camera | None = None,
        light: Light | None = None,
        ground: bool = True,
        png_level: int = 3,
        context: moderngl.Context | None = None,
        backend: str | None = "egl",
        window: Window | None = None,
        capture_every: int | None = None,
        scope_light: ScopeLight | None = DEFAULT_SCOPE_LIGHT,
    ) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if every < 1 or (capture_every is not None and capture_every < 1):
            raise ValueError(f"every and capture_every must be at least 1, got {every}, {capture_every}")
        if window is not None:
            if context is not None:
                raise ValueError("give a window or a context, not both (the window brings its own)")
            width, height = window.size
            context = window.ctx
        self.window = window
        self.capture_every = int(capture_every or every)
        self.width, self.height, self.every, self.samples = int(width), int(height), int(every), int(samples)
        self.capture_dir = Path(capture_dir) if capture_dir is not None else None
        self.camera = camera or Camera()
        self.light = light or Light()
        #: Light and vignette of endoscope views (None: lit like any other view).
        self.scope_light = scope_light
        self.ground = ground
        self.png_level = png_level
        self.backend = backend
        self._ctx = context
        self._owns_ctx = context is None
        #: The main view's renderer and pass state (made on the first drawn frame).
        self.target: RenderTarget | None = None
        self._scope_camera = Camera()
        self._drawn_frame = -1
        #: Paths of the PNGs written so far.
        self.captured: list[Path] = []
        #: Number of frames drawn.
        self.frames_drawn = 0
        #: Clear the DrawList after presenting. False when a later render system (the
        #: headset's ``xr.present``) draws the same list this frame and clears it itself.
        self.clear_draws = True

    @property
    def renderer(self) -> Renderer | None:
        """The main view's offscreen renderer (None before the first drawn frame and after cleanup)."""
        return self.target.renderer if self.target is not None else None

    @property
    def overlay(self) -> OverlayRenderer | None:
        """The main view's overlay drawer (None until an overlay was drawn, and after cleanup)."""
        return self.target.overlay if self.target is not None else None

    # -- plugin protocol ----------------------------------------------------------------
    def build(self, app: App) -> None:
        """Register Camera/Light, insert the DrawList and RenderPipeline resources, add the
        ``render.draw`` and ``render.present`` systems."""
        for comp in self.components:
            app.register_component(comp)
        if not app.has_resource(DrawList):
            app.insert_resource(DrawList())
        pipeline = render_pipeline(app)
        if "learner" not in pipeline:  # the learner's HUD (guidance, cues, menu), drawn in the main view
            pipeline.add(LearnerHudPass(), after="hud" if "hud" in pipeline else None)
        if self.capture_dir is not None:
            self.capture_dir.mkdir(parents=True, exist_ok=True)
        app.add_system(self.draw, in_set="render.draw", name="render.draw")
        app.add_system(self.present, in_set="render.present", name="render.present")

    def cleanup(self, app: App) -> None:
        """Release every GL object (and the context if the plugin made it)."""
        if self.target is not None:
            self.target.release()
            self.target = None
        if self._ctx is not None and self._owns_ctx:
            self._ctx.release()
        self._ctx = None
        if self.window is not None:
            self.window.close()

    # -- drawing ------------------------------------------------------------------------
    def _target(self) -> RenderTarget:
        if self.target is None:
            if self._ctx is None:
                self._ctx = create_context(self.backend)
            renderer = Renderer(
                self._ctx, self.width, self.height, samples=min(self.samples, self._ctx.max_samples), ground=self.ground
            )
            self.target = RenderTarget(renderer)
        return self.target

    def draw(self, app: App) -> None:
        """The ``render.draw`` system: the scene passes of the main view (on frames due)."""
        if app.clock.frame % self.every:
            return
        lights = app.query(Light)
        camera, scope = main_view(app, self.camera, self._scope_camera)
        target = self._target()
        target.renderer.scope = self.scope_light if scope is not None else None
        target.draw_scene(
            app,
            app.resource(RenderPipeline),
            "main",
            lights[0][1] if lights else self.light,
            camera=camera,
        )
        self._drawn_frame = app.clock.frame

    def present(self, app: App) -> None:
        """The ``render.present`` system: the overlay passes over this frame's image (when it
        was drawn), the PNG capture and the window; then clear the DrawList."""
        frame = app.clock.frame
        if self._drawn_frame == frame and self.target is not None:
            target = self.target
            target.draw_overlays(app, app.resource(RenderPipeline))
            self.frames_drawn += 1
            if self.capture_dir is not None and frame % self.capture_every == 0:
                path = self.capture_dir / f"frame_{frame:06d}.png"
                write_png(path, np.ascontiguousarray(target.renderer.read()), level=self.png_level)
                self.captured.append(path)
            if self.window is not None:
                self.window.present(target.renderer.output)
        if self.clear_draws:
            app.resource(DrawList).clear()

    def image(self) -> np.ndarray:
        """A copy of the last drawn frame, (H, W, 3) uint8 (RuntimeError before any)."""
        if self.target is None or not self.frames_drawn:
            raise RuntimeError("nothing has been rendered yet")
        return self.target.renderer.read().copy()

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"capture_dir": str(self.capture_dir) if self.capture_dir else None}
        return f"RenderPlugin({self.width}x{self.height}, every={self.every}, {extra})"
