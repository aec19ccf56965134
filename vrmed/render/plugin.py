"""RenderPlugin: draws the App's scene every ``every`` frames (offscreen, and in a
desktop window when given one) and optionally writes drawn frames as PNGs.

What is drawn: every entity with ``Transform`` + ``VisualMesh`` (mesh files loaded once
through trimesh and cached), plus the sphere and capsule batches and streamed surfaces
that systems queue in the :class:`~vrmed.render.drawlist.DrawList` resource during
``render.prepare``; then, in screen space, the :class:`MonitorPanel` and
:class:`HudState` resources when present.
The view is chosen by :func:`main_camera` (an :class:`ActiveView` selection, else the
first active ``Endoscope``, else the first ``Camera``, else the plugin's default); the
light is the first ``Light`` entity's or the plugin's. The GL context is created on the
first drawn frame.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vrmed.components import Transform, VisualMesh
from vrmed.components.scene.render import ActiveView, Camera, Endoscope, HudState, Light, MonitorPanel
from vrmed.errors import VrmedError

from .drawlist import DrawList
from .meshes import MeshCache
from .png import write_png

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .overlay import OverlayRenderer
    from .renderer import GpuMesh, Renderer, StreamedMesh
    from .window import Window


class ViewSelectionError(VrmedError):
    """:class:`ActiveView` names an entity that has neither a Camera nor an Endoscope with a Transform."""


def main_camera(app: App, default: Camera, scratch: Camera | None = None) -> Camera:
    """The camera the trainee watches this frame: the :class:`ActiveView` entity's
    Endoscope (with its Transform) or Camera when one is selected; else the first active
    Endoscope on an entity with a Transform; else the first Camera entity; else
    ``default``. An endoscope's camera is written into ``scratch`` when given."""
    from .camera import endoscope_camera

    selected = app.try_resource(ActiveView)
    if selected is not None and selected.entity is not None:
        e = selected.entity
        scope, tf = app.try_get(e, Endoscope), app.try_get(e, Transform)
        if scope is not None and tf is not None:
            return endoscope_camera(tf.position, tf.orientation, scope, scratch)
        cam = app.try_get(e, Camera)
        if cam is not None:
            return cam
        raise ViewSelectionError(
            f"ActiveView selects entity {e}, which has no Camera and no Endoscope "
            f"with a Transform (or no longer exists)"
        )
    for _, (tf, scope) in app.query(Transform, Endoscope):
        if scope.active:
            return endoscope_camera(tf.position, tf.orientation, scope, scratch)
    cams = app.query(Camera)
    return cams[0][1] if cams else default


class RenderPlugin:
    """Headless renderer for an App.

    ``width`` x ``height`` pixels, MSAA ``samples``; renders the frames whose number is a
    multiple of ``every`` and, when ``capture_dir`` is set, writes them there as
    ``frame_000000.png`` (the App's frame number). ``camera``/``light`` are defaults used
    when no entity carries one. ``context`` shares an existing moderngl context (then the
    plugin does not release it); otherwise one is made with ``backend`` ("egl").
    ``window`` (a :class:`~vrmed.render.window.Window`) shows every drawn frame on the
    desktop; the image is then the window's framebuffer size, the window's context is used,
    and the plugin closes the window in :meth:`cleanup`. ``capture_every`` (default
    ``every``) picks which drawn frames are written to ``capture_dir``.
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
        self.ground = ground
        self.png_level = png_level
        self.backend = backend
        self._ctx = context
        self._owns_ctx = context is None
        self.renderer: Renderer | None = None
        self.overlay: OverlayRenderer | None = None
        self._scope_camera = Camera()
        self._meshes = MeshCache()
        self._gpu_meshes: dict[str, GpuMesh] = {}
        self._surfaces: dict[Hashable, StreamedMesh] = {}
        self._model = np.eye(4)
        #: Paths of the PNGs written so far.
        self.captured: list[Path] = []
        #: Number of frames drawn.
        self.frames_drawn = 0
        #: Clear the DrawList after drawing. False when a later render system (the headset's
        #: ``xr.present``) draws the same list this frame and clears it itself.
        self.clear_draws = True

    # -- plugin protocol ----------------------------------------------------------------
    def build(self, app: App) -> None:
        """Register Camera/Light, insert the DrawList resource, add the ``render.draw`` system."""
        for comp in self.components:
            app.register_component(comp)
        if not app.has_resource(DrawList):
            app.insert_resource(DrawList())
        if self.capture_dir is not None:
            self.capture_dir.mkdir(parents=True, exist_ok=True)
        app.add_system(self.draw, in_set="render.draw", name="render.draw")

    def cleanup(self, app: App) -> None:
        """Release every GL object (and the context if the plugin made it)."""
        for mesh in [*self._gpu_meshes.values(), *self._surfaces.values()]:
            mesh.release()
        self._gpu_meshes.clear()
        self._surfaces.clear()
        if self.overlay is not None:
            self.overlay.release()
            self.overlay = None
        if self.renderer is not None:
            self.renderer.release()
            self.renderer = None
        if self._ctx is not None and self._owns_ctx:
            self._ctx.release()
        self._ctx = None
        if self.window is not None:
            self.window.close()

    # -- drawing ------------------------------------------------------------------------
    def _renderer(self) -> Renderer:
        if self.renderer is None:
            from .context import create_context
            from .renderer import Renderer

            if self._ctx is None:
                self._ctx = create_context(self.backend)
            self.renderer = Renderer(
                self._ctx, self.width, self.height, samples=min(self.samples, self._ctx.max_samples), ground=self.ground
            )
        return self.renderer

    def _mesh_for(self, path: str) -> GpuMesh:
        mesh = self._gpu_meshes.get(path)
        if mesh is None:
            mesh = self._gpu_meshes[path] = self._renderer().static_mesh(self._meshes.get(path))
        return mesh

    def _surface_for(self, key: Hashable, positions: np.ndarray, faces: np.ndarray) -> StreamedMesh:
        mesh = self._surfaces.get(key)
        if mesh is not None and (mesh.n_vertices != len(positions) or mesh.n_faces != len(faces)):
            mesh.release()
            mesh = None
        if mesh is None:
            mesh = self._surfaces[key] = self._renderer().streamed_mesh(faces, positions)
        return mesh

    def draw(self, app: App) -> None:
        """The ``render.draw`` system: draw this frame (if due), capture it, clear the DrawList."""
        draws = app.resource(DrawList)
        frame = app.clock.frame
        if frame % self.every:
            if self.clear_draws:
                draws.clear()
            return
        r = self._renderer()
        lights = app.query(Light)
        r.begin(main_camera(app, self.camera, self._scope_camera), lights[0][1] if lights else self.light)
        self.draw_scene(app, r, draws)
        r.end()
        if self.clear_draws:
            draws.clear()
        self._draw_overlays(app, r)
        self.frames_drawn += 1
        if self.capture_dir is not None and frame % self.capture_every == 0:
            path = self.capture_dir / f"frame_{frame:06d}.png"
            write_png(path, np.ascontiguousarray(r.read()), level=self.png_level)
            self.captured.append(path)
        if self.window is not None:
            self.window.present(r.output)

    def draw_scene(self, app: App, r: Renderer, draws: DrawList, *, upload: bool = True) -> None:
        """Issue the scene's draw calls into ``r`` (this plugin's renderer, between its
        ``begin``/``begin_matrices`` and ``end``): every ``Transform`` + ``VisualMesh``
        entity, then the DrawList's spheres, capsules and streamed surfaces. With
        ``upload=False`` surfaces are drawn as last uploaded (the second eye of a frame)."""
        from .camera import model_matrix

        for _, (tf, vis) in app.query(Transform, VisualMesh):
            model = model_matrix(tf.position, tf.orientation, tf.scale * vis.scale, out=self._model)
            r.draw_mesh(self._mesh_for(str(vis.mesh)), model, color=vis.color)
        for batch in draws.spheres:
            r.draw_spheres(
                batch.centres,
                batch.radii,
                batch.colors,
                roughness=batch.roughness,
                wetness=batch.wetness,
                shadow=batch.shadow,
            )
        for caps in draws.capsules:
            r.draw_capsules(
                caps.a,
                caps.b,
                caps.radii,
                caps.colors,
                roughness=caps.roughness,
                wetness=caps.wetness,
                shadow=caps.shadow,
            )
        for surf in draws.surfaces:
            mesh = self._surface_for(surf.key, surf.positions, surf.faces)
            if upload:
                mesh.update(surf.positions, surf.normals, surf.burn)
            r.draw_mesh(mesh, color=surf.color, roughness=surf.roughness, wetness=surf.wetness, shadow=surf.shadow)

    def _draw_overlays(self, app: App, r: Renderer) -> None:
        """The monitor panel, then the HUD, over the finished frame (when present)."""
        panel, hud = app.try_resource(MonitorPanel), app.try_resource(HudState)
        if (panel is None or not panel.visible) and (hud is None or not hud.visible):
            return
        if self.overlay is None:
            from .overlay import OverlayRenderer

            self.overlay = OverlayRenderer(r.ctx)
        ov = self.overlay
        ov.begin(r.output)
        if panel is not None:
            ov.draw_monitor(panel)
        if hud is not None:
            ov.draw_hud(hud)
        ov.end()

    def image(self) -> np.ndarray:
        """A copy of the last drawn frame, (H, W, 3) uint8 (RuntimeError before any)."""
        if self.renderer is None or not self.frames_drawn:
            raise RuntimeError("nothing has been rendered yet")
        return self.renderer.read().copy()

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"capture_dir": str(self.capture_dir) if self.capture_dir else None}
        return f"RenderPlugin({self.width}x{self.height}, every={self.every}, {extra})"
