"""Rendering the App's scene into a headset: both eyes of every XR frame.

:class:`XrSceneRenderer` is the ``draw`` of an :class:`~vrmed.xr.plugin.XrPlugin`. It draws
what :class:`~vrmed.render.RenderPlugin` draws (every ``Transform`` + ``VisualMesh``
entity, the :class:`~vrmed.render.drawlist.DrawList`'s spheres, capsules and streamed
surfaces, the ground with contact shadows) once per eye, with that eye's own view matrix
and asymmetric projection, into an offscreen framebuffer of the eye's size, and copies the
result into the eye's swapchain image. Everything lives in the moderngl context the OpenXR
backend was created with (one EGL context for both; :func:`add_headset_rendering`).

Per frame nothing is allocated on the GPU: the offscreen renderer (one per eye size),
mesh buffers and instance buffers are made once and reused. The DrawList is consumed once
per frame: streamed surfaces are uploaded for the first eye only, and the ``xr.scene.clear``
system empties the list after ``xr.present`` (also on frames the runtime does not render).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .interface import EyeView, Fov

if TYPE_CHECKING:  # pragma: no cover
    import moderngl
    import numpy as np

    from vrmed.components.scene.render import Light
    from vrmed.render import RenderPlugin

    from .input import XrInputSource


class XrSceneRenderer:
    """Draws the App's scene for one eye: ``draw(app, eye, fbo)`` (an
    :data:`~vrmed.xr.plugin.EyeDraw`).

    ``ctx`` is the moderngl context the OpenXR backend renders with (it must be the same:
    the swapchain images live there). ``samples`` is the MSAA sample count (capped by the
    GL), ``near``/``far`` the clip distances of each eye's projection, ``light`` the
    default light (the first ``Light`` entity wins), ``ground`` draws the floor with
    contact shadows. Screen-space overlays (HUD, monitor panel) are not drawn in the
    headset.
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
    ) -> None:
        from vrmed.components.scene.render import Light
        from vrmed.render.drawlist import DrawList

        if not 0.0 < near < far:
            raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
        self.ctx = ctx
        self.samples = int(samples)
        self.near, self.far = float(near), float(far)
        self.light = light or Light()
        self.ground = ground
        #: One scene drawer (a RenderPlugin that is never added to the App) per eye size.
        self._scenes: dict[tuple[int, int], RenderPlugin] = {}
        self._projections: dict[Fov, np.ndarray] = {}
        self._uploaded: dict[tuple[int, int], int] = {}
        self._no_draws = DrawList()
        #: Eye images drawn so far.
        self.eyes_drawn = 0

    # -- plugin hooks (called by XrPlugin) ------------------------------------------------
    def build(self, app: Any) -> None:
        """Register the render components, make sure the DrawList exists (so ``render.prepare``
        systems fill it) and add ``xr.scene.clear``, which empties it after ``xr.present``."""
        from vrmed.render import RenderPlugin
        from vrmed.render.drawlist import DrawList

        for comp in RenderPlugin.components:
            app.register_component(comp)
        if not app.has_resource(DrawList):
            app.insert_resource(DrawList())
        app.add_system(self._clear_draws, stage="render", after="xr.present", name="xr.scene.clear")

    def cleanup(self, app: Any) -> None:
        """Release the offscreen renderers and meshes (not the context)."""
        for scene in self._scenes.values():
            scene.cleanup(app)
        if self._scenes:
            # moderngl rebinds the framebuffer it last bound whenever it makes a new one; that
            # was the renderer's, now deleted (GL_INVALID_OPERATION for whoever uses the
            # context next, e.g. a new OpenXR session's swapchains). Bind the default one.
            try:
                self.ctx.detect_framebuffer(0).use()
            except Exception:  # noqa: BLE001 - a context being torn down; nothing left to protect
                pass
        self._scenes.clear()

    def _clear_draws(self, app: Any) -> None:
        from vrmed.render.drawlist import DrawList

        draws = app.try_resource(DrawList)
        if draws is not None:
            draws.clear()

    # -- drawing ------------------------------------------------------------------------------
    @staticmethod
    def vignette_amount(app: Any) -> float:
        """This frame's comfort vignette (0..1) from the XR source's comfort rig (0 without one)."""
        from .input import XrInputSource

        source = app.try_resource(XrInputSource)
        rig = getattr(source, "comfort", None)
        return float(rig.vignette_amount) if rig is not None else 0.0

    def scene_for(self, width: int, height: int) -> RenderPlugin:
        """The scene drawer (and through it the offscreen renderer) for one eye size."""
        scene = self._scenes.get((width, height))
        if scene is None:
            from vrmed.render import RenderPlugin

            scene = RenderPlugin(
                width, height, samples=self.samples, light=self.light, ground=self.ground, context=self.ctx
            )
            self._scenes[(width, height)] = scene
        return scene

    def projection(self, eye: EyeView) -> np.ndarray:
        """The eye's projection at this renderer's near/far (cached per field of view)."""
        proj = self._projections.get(eye.fov)
        if proj is None:
            proj = self._projections[eye.fov] = eye.projection_matrix(self.near, self.far)
        return proj

    def __call__(self, app: Any, eye: EyeView, fbo: Any) -> None:
        """Draw the scene as eye ``eye`` sees it and copy it into ``fbo`` (its swapchain image)."""
        from vrmed.components.scene.render import Light
        from vrmed.render.drawlist import DrawList

        scene = self.scene_for(eye.width, eye.height)
        r = scene._renderer()
        draws = app.try_resource(DrawList)
        if draws is None:  # used without XrPlugin.build: only entities
            draws = self._no_draws
        frame = app.clock.frame
        key = (eye.width, eye.height)
        upload = self._uploaded.get(key) != frame  # surfaces: once per frame per renderer, not per eye
        self._uploaded[key] = frame
        lights = app.query(Light)
        r.begin_matrices(
            eye.view_matrix(),
            self.projection(eye),
            eye.pose.position,
            lights[0][1] if lights else self.light,
            far=self.far,
        )
        scene.draw_scene(app, r, draws, upload=upload)
        r.end()
        r.vignette(self.vignette_amount(app))
        self.ctx.copy_framebuffer(fbo, r.output)
        self.eyes_drawn += 1


def add_headset_rendering(app: Any, source: XrInputSource, **options: Any) -> XrSceneRenderer:
    """Present the App's scene in the headset of ``source`` (an OpenXR source opened with a
    GL context, e.g. by ``--input openxr``): adds ``XrPlugin(source, XrSceneRenderer(...))``
    and returns the renderer. ``options`` go to :class:`XrSceneRenderer`."""
    from .plugin import XrPlugin

    ctx = getattr(source, "gl_context", None)
    if ctx is None:
        raise ValueError(
            "this XR source has no GL context (a headless session cannot show images); open it "
            "with open_openxr_input(ctx=...) or openxr_or_fallback(..., render=True)"
        )
    scene = XrSceneRenderer(ctx, **options)
    app.add_plugin(XrPlugin(source, scene))
    return scene
