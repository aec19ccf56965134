"""Rendering the App's scene into a headset: both eyes of every XR frame.

:class:`XrSceneRenderer` is the ``draw`` of an :class:`~vrmed.xr.plugin.XrPlugin`. Each eye
runs the App's :class:`~vrmed.render.passes.RenderPipeline`, the same passes as the desktop
view (``RenderPlugin``): the scene passes with that eye's own view matrix and asymmetric
projection, then the comfort vignette, then the overlay passes, into an offscreen
framebuffer of the eye's size, and the result is copied into the eye's swapchain image.
Everything lives in the moderngl context the OpenXR backend was created with (one EGL
context for both; :func:`add_headset_rendering`).

Overlay passes (HUD, monitor panel, a pack's badge) are head-locked: in each eye their pixel
space is the image of one flat panel ``overlay_distance`` metres in front of the head,
``overlay_fov_deg`` wide, centred on the head's forward axis. Both eyes see the same panel
from their own positions, so it fuses at that distance (drawing the same pixels into both
eye images would put it at infinity, and their corners lie where lenses blur or hide them).

Per frame nothing is allocated on the GPU: the offscreen renderer (one per eye size),
mesh buffers and instance buffers are made once and reused. The DrawList is consumed once
per frame: streamed surfaces are uploaded for the first eye only, and the ``xr.scene.clear``
system empties the list after ``xr.present`` (also on frames the runtime does not render).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components.scene.render import Light
from vrmed.render.camera import model_matrix
from vrmed.render.drawlist import DrawList
from vrmed.render.passes import RenderPipeline, RenderTarget, default_pipeline, render_pipeline
from vrmed.render.plugin import RenderPlugin
from vrmed.render.renderer import Renderer

from .input import XrInputSource
from .interface import EyeView, Fov, Pose
from .panels import HeadsetPanels
from .plugin import XrPlugin

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

#: The pipeline's view name of each eye index (OpenXR's stereo order: left, then right).
EYE_VIEWS: tuple[str, str] = ("left", "right")


def _single_pass_default(ctx: moderngl.Context) -> bool:
    """Whether single-pass stereo is chosen by default on ``ctx``: geometry shaders and not a
    software rasteriser."""
    name = str(ctx.info.get("GL_RENDERER", "")).lower()
    software = any(s in name for s in ("llvmpipe", "softpipe", "swrast", "lavapipe"))
    return ctx.version_code >= 320 and not software


class XrSceneRenderer:
    """Draws the App's render pipeline for one eye: ``draw(app, eye, fbo)`` (an
    :data:`~vrmed.xr.plugin.EyeDraw`).

    ``ctx`` is the moderngl context the OpenXR backend renders with (it must be the same:
    the swapchain images live there). ``samples`` is the MSAA sample count (capped by the
    GL), ``near``/``far`` the clip distances of each eye's projection, ``light`` the
    default light (the first ``Light`` entity wins), ``ground`` draws the floor with
    contact shadows. Overlay passes draw on a head-locked panel ``overlay_distance``
    metres ahead, ``overlay_fov_deg`` wide with ``overlay_aspect`` = width / height.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        *,
        samples: int = 4,
        near: float = 0.05,
        far: float = 100.0,
        light: Light | None = None,
        ground: bool = True,
        overlay_distance: float = 1.5,
        overlay_fov_deg: float = 50.0,
        overlay_aspect: float = 4.0 / 3.0,
        single_pass: bool | None = None,
    ) -> None:
        if not 0.0 < near < far:
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        if not near < overlay_distance < far:
            raise ValueError(f"overlay_distance must lie between near and far, got {overlay_distance}")
        if not 0.0 < overlay_fov_deg < 170.0 or overlay_aspect <= 0.0:
            raise ValueError(
                f"need 0 < overlay_fov_deg < 170 and overlay_aspect > 0, got {overlay_fov_deg}, {overlay_aspect}"
            )
        self.ctx = ctx
        self.samples = int(samples)
        self.near, self.far = float(near), float(far)
        self.light = light or Light()
        self.ground = ground
        #: One render target (offscreen renderer + pass state) per eye size.
        self._targets: dict[tuple[int, int], RenderTarget] = {}
        self._projections: dict[Fov, np.ndarray] = {}
        self._pipeline: RenderPipeline | None = None  # used without XrPlugin.build (no App resource)
        # The overlay panel's corners in head space (homogeneous rows), and scratch for projecting them.
        half_w = overlay_distance * math.tan(math.radians(overlay_fov_deg) / 2.0)
        half_h = half_w / overlay_aspect
        d = -float(overlay_distance)
        self._panel = np.array([[-half_w, -half_h, d, 1.0], [half_w, -half_h, d, 1.0],
                                [half_w, half_h, d, 1.0], [-half_w, half_h, d, 1.0]])  # fmt: skip
        self._head = np.eye(4)
        self._panel_to_clip = np.zeros((4, 4))
        self._clip = np.zeros((4, 4))
        #: Eye images drawn so far.
        self.eyes_drawn = 0
        #: Single-pass (instanced) stereo: both eyes' scene in one pass (a geometry shader
        #: draws each batch into both halves of a side-by-side target), then each half is
        #: copied into its eye before that eye's vignette and overlays. None: on when the
        #: GL has geometry shaders (3.2+) and is a hardware GPU; off on software
        #: rasterisers (llvmpipe: the geometry-shader path measured ~3x slower than two
        #: per-eye passes, ``vrmed bench render``). False: the per-eye path.
        self.single_pass = _single_pass_default(ctx) if single_pass is None else bool(single_pass)
        #: Side-by-side stereo render targets by eye size, and the frame each last drew.
        self._stereo: dict[tuple[int, int], RenderTarget] = {}
        self._stereo_frame: tuple[int, int] | None = None
        #: Overlay passes shown on world-space panels instead (the App's one pipeline runs
        #: in each eye without them, in the head-locked overlay).
        self.world_panels: frozenset[str] = frozenset()

    # -- plugin hooks (called by XrPlugin) ------------------------------------------------
    def build(self, app: Any) -> None:
        """Register the render components, make sure the DrawList (so ``render.prepare``
        systems fill it) and the RenderPipeline exist, and add ``xr.scene.clear``, which
        empties the DrawList after ``xr.present``."""
        for comp in RenderPlugin.components:
            app.register_component(comp)
        if not app.has_resource(DrawList):
            app.insert_resource(DrawList())
        render_pipeline(app)
        app.add_system(self._clear_draws, stage="render", after="xr.present", name="xr.scene.clear")

    def cleanup(self, app: Any) -> None:
        """Release the offscreen renderers, meshes and pass state (not the context)."""
        for target in [*self._targets.values(), *self._stereo.values()]:
            target.release()
        self._targets.clear()
        self._stereo.clear()

    def _clear_draws(self, app: Any) -> None:
        draws = app.try_resource(DrawList)
        if draws is not None:
            draws.clear()

    # -- drawing ------------------------------------------------------------------------------
    @staticmethod
    def vignette_amount(app: Any) -> float:
        """This frame's comfort vignette (0..1) from the XR source's comfort rig (0 without one)."""
        source = app.try_resource(XrInputSource)
        rig = getattr(source, "comfort", None)
        return float(rig.vignette_amount) if rig is not None else 0.0

    def _eye_canvas(self, width: int, height: int) -> RenderTarget:
        """The single-sample eye-sized target a single-pass eye's half is copied into (its
        vignette and overlays draw there)."""
        key = (-width, -height)  # kept with the per-eye targets, apart from the MSAA ones
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = RenderTarget(Renderer(self.ctx, width, height, samples=0, ground=False))
        return target

    def target_for(self, width: int, height: int) -> RenderTarget:
        """The render target (offscreen renderer and pass state) for one eye size."""
        target = self._targets.get((width, height))
        if target is None:
            renderer = Renderer(
                self.ctx, width, height, samples=min(self.samples, self.ctx.max_samples), ground=self.ground
            )
            target = self._targets[(width, height)] = RenderTarget(renderer)
        return target

    def stereo_target_for(self, width: int, height: int) -> RenderTarget:
        """The side-by-side single-pass stereo target (2 * width x height) for one eye size."""
        target = self._stereo.get((width, height))
        if target is None:
            renderer = Renderer(
                self.ctx,
                2 * width,
                height,
                samples=min(self.samples, self.ctx.max_samples),
                ground=self.ground,
                stereo=True,
            )
            target = self._stereo[(width, height)] = RenderTarget(renderer)
        return target

    def _draw_stereo_scene(self, app: Any, pipeline: RenderPipeline, eyes: tuple[EyeView, ...], light: Light) -> None:
        """Draw both eyes' scene passes in one pass (views run as "left" for the passes)."""
        left, right = eyes[0], eyes[1]
        target = self.stereo_target_for(left.width, left.height)
        r = target.renderer
        r.begin_stereo(
            (left.view_matrix(), right.view_matrix()),
            (self.projection(left), self.projection(right)),
            (left.pose.position, right.pose.position),
            light,
            far=self.far,
        )
        pc = target._context(app, pipeline)
        pc.view, pc.phase = "left", "scene"
        pc.framebuffer, pc.viewport, pc.size = r.fbo, target._full, r.size
        target._run(pc, pipeline.passes("scene"))
        r.end()

    def _stereo_eyes(self, app: Any, eye: EyeView) -> tuple[EyeView, ...] | None:
        """Both eyes of this frame when it can be drawn single-pass (two eyes of one size)."""
        if not self.single_pass:
            return None
        source = app.try_resource(XrInputSource)
        frame = source.open_frame if source is not None else None
        if frame is None or len(frame.eyes) != 2:
            return None
        eyes = tuple(sorted(frame.eyes, key=lambda e: e.index))
        if (eyes[0].index, eyes[1].index) != (0, 1) or (eyes[0].width, eyes[0].height) != (
            eyes[1].width,
            eyes[1].height,
        ):
            return None
        if eye.index not in (0, 1) or (eye.width, eye.height) != (eyes[0].width, eyes[0].height):
            return None
        return eyes

    def projection(self, eye: EyeView) -> np.ndarray:
        """The eye's projection at this renderer's near/far (cached per field of view)."""
        proj = self._projections.get(eye.fov)
        if proj is None:
            proj = self._projections[eye.fov] = eye.projection_matrix(self.near, self.far)
        return proj

    def pipeline(self, app: Any) -> RenderPipeline:
        """The App's render pipeline (a default one of this renderer's own when the App has none)."""
        pipeline = app.try_resource(RenderPipeline)
        if pipeline is None:
            if self._pipeline is None:
                self._pipeline = default_pipeline()
            pipeline = self._pipeline
        return pipeline

    def overlay_viewport(self, head: Pose, renderer: Renderer) -> tuple[int, int, int, int]:
        """Where the head-locked overlay panel lies in the eye ``renderer`` has begun
        (GL pixels from the bottom-left: x, y, width, height; at least 1 x 1)."""
        model_matrix(head.position, head.orientation, 1.0, out=self._head)
        np.matmul(renderer.view_proj, self._head, out=self._panel_to_clip)
        np.matmul(self._panel, self._panel_to_clip.T, out=self._clip)
        clip = self._clip
        width, height = renderer.size
        xs = (clip[:, 0] / clip[:, 3] + 1.0) * (0.5 * width)
        ys = (clip[:, 1] / clip[:, 3] + 1.0) * (0.5 * height)
        x0, y0 = round(float(xs.min())), round(float(ys.min()))
        return x0, y0, max(1, round(float(xs.max())) - x0), max(1, round(float(ys.max())) - y0)

    def __call__(self, app: Any, eye: EyeView, fbo: Any) -> None:
        """Draw the pipeline as eye ``eye`` sees it and copy it into ``fbo`` (its swapchain image)."""
        pipeline = self.pipeline(app)
        lights = app.query(Light)
        light = lights[0][1] if lights else self.light
        stereo_eyes = self._stereo_eyes(app, eye)
        if stereo_eyes is not None:
            # Single pass: the scene of both eyes is drawn with the first eye of the frame;
            # each eye then takes its half into its own (single-sample) overlay target.
            frame_key = (int(app.clock.frame), id(app))
            if self._stereo_frame != frame_key or eye.index == 0:
                self._draw_stereo_scene(app, pipeline, stereo_eyes, light)
                self._stereo_frame = frame_key
            stereo = self.stereo_target_for(eye.width, eye.height).renderer
            target = self._eye_canvas(eye.width, eye.height)
            r = target.renderer
            stereo.copy_eye(eye.index, r.output)
            r.view_matrix = eye.view_matrix()
            r.proj_matrix = self.projection(eye)
            r.view_proj = r.proj_matrix @ r.view_matrix
        else:
            target = self.target_for(eye.width, eye.height)
            target.draw_scene(
                app,
                pipeline,
                EYE_VIEWS[eye.index] if 0 <= eye.index < 2 else f"eye{eye.index}",
                light,
                view_matrix=eye.view_matrix(),
                proj_matrix=self.projection(eye),
                eye_position=eye.pose.position,
                far=self.far,
            )
            r = target.renderer
        r.vignette(self.vignette_amount(app))  # before the overlays: head-locked text stays readable
        source = app.try_resource(XrInputSource)
        frame = source.open_frame if source is not None else None
        head = frame.head if frame is not None else eye.pose
        target.draw_overlays(app, pipeline, self.overlay_viewport(head, r), skip=self.world_panels)
        self.ctx.copy_framebuffer(fbo, r.output)
        self.eyes_drawn += 1


def add_headset_rendering(app: Any, source: XrInputSource, **options: Any) -> XrSceneRenderer:
    """Present the App's scene in the headset of ``source`` (an OpenXR source opened with a
    GL context, e.g. by ``--input openxr``): adds ``XrPlugin(source, XrSceneRenderer(...))``
    and returns the renderer. ``options`` go to :class:`XrSceneRenderer`, except ``panels``
    (default True): add :class:`~vrmed.xr.panels.HeadsetPanels`, the world-space guidance,
    menu and monitor panels as composition quad layers."""
    ctx = getattr(source, "gl_context", None)
    if ctx is None:
        raise ValueError(
            "this XR source has no GL context (a headless session cannot show images); open it "
            "with open_openxr_input(ctx=...) or openxr_or_fallback(..., render=True)"
        )
    panels = options.pop("panels", True)
    scene = XrSceneRenderer(ctx, **options)
    app.add_plugin(XrPlugin(source, scene))
    if panels:
        # World-space panels (guidance, action menu, patient monitor) as quad layers; the
        # monitor then has no head-locked copy in the eyes.
        app.add_plugin(HeadsetPanels(ctx, source))
        scene.world_panels = frozenset({"monitor", "learner"})
    return scene
