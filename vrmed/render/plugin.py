"""RenderPlugin: draws the App's scene headless every ``every`` frames and optionally
writes each drawn frame as a PNG.

What is drawn: every entity with ``Transform`` + ``VisualMesh`` (mesh files loaded once
through trimesh and cached), plus the sphere batches and streamed surfaces that systems
queue in the :class:`~vrmed.render.drawlist.DrawList` resource during ``render.prepare``.
The camera and light come from the first entity with a ``Camera`` / ``Light`` component,
else from the plugin's defaults. The GL context is created on the first drawn frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Hashable

import numpy as np

from vrmed.components import Transform, VisualMesh
from vrmed.components.render import Camera, Light

from .drawlist import DrawList
from .meshes import MeshCache
from .png import write_png

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .renderer import GpuMesh, Renderer, StreamedMesh


class RenderPlugin:
    """Headless renderer for an App.

    ``width`` x ``height`` pixels, MSAA ``samples``; renders the frames whose number is a
    multiple of ``every`` and, when ``capture_dir`` is set, writes them there as
    ``frame_000000.png`` (the App's frame number). ``camera``/``light`` are defaults used
    when no entity carries one. ``context`` shares an existing moderngl context (then the
    plugin does not release it); otherwise one is made with ``backend`` ("egl").
    """

    #: Component types this plugin registers (for pack validation without an App).
    components = (Camera, Light)

    def __init__(self, width: int = 640, height: int = 480, capture_dir: str | Path | None = None,
                 every: int = 1, *, samples: int = 4, camera: Camera | None = None,
                 light: Light | None = None, ground: bool = True, png_level: int = 3,
                 context: "moderngl.Context | None" = None, backend: str | None = "egl") -> None:
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.width, self.height, self.every, self.samples = int(width), int(height), int(every), int(samples)
        self.capture_dir = Path(capture_dir) if capture_dir is not None else None
        self.camera = camera or Camera()
        self.light = light or Light()
        self.ground = ground
        self.png_level = png_level
        self.backend = backend
        self._ctx = context
        self._owns_ctx = context is None
        self.renderer: "Renderer | None" = None
        self._meshes = MeshCache()
        self._gpu_meshes: dict[str, "GpuMesh"] = {}
        self._surfaces: dict[Hashable, "StreamedMesh"] = {}
        self._model = np.eye(4)
        #: Paths of the PNGs written so far.
        self.captured: list[Path] = []
        #: Number of frames drawn.
        self.frames_drawn = 0

    # -- plugin protocol ----------------------------------------------------------------
    def build(self, app: "App") -> None:
        """Register Camera/Light, insert the DrawList resource, add the ``render.draw`` system."""
        for comp in self.components:
            app.register_component(comp)
        if not app.has_resource(DrawList):
            app.insert_resource(DrawList())
        if self.capture_dir is not None:
            self.capture_dir.mkdir(parents=True, exist_ok=True)
        app.add_system(self.draw, in_set="render.draw", name="render.draw")

    def cleanup(self, app: "App") -> None:
        """Release every GL object (and the context if the plugin made it)."""
        for mesh in [*self._gpu_meshes.values(), *self._surfaces.values()]:
            mesh.release()
        self._gpu_meshes.clear()
        self._surfaces.clear()
        if self.renderer is not None:
            self.renderer.release()
            self.renderer = None
        if self._ctx is not None and self._owns_ctx:
            self._ctx.release()
            self._ctx = None

    # -- drawing ------------------------------------------------------------------------
    def _renderer(self) -> "Renderer":
        if self.renderer is None:
            from .context import create_context
            from .renderer import Renderer

            if self._ctx is None:
                self._ctx = create_context(self.backend)
            self.renderer = Renderer(self._ctx, self.width, self.height, samples=min(self.samples, self._ctx.max_samples),
                                     ground=self.ground)
        return self.renderer

    def _mesh_for(self, path: str) -> "GpuMesh":
        mesh = self._gpu_meshes.get(path)
        if mesh is None:
            mesh = self._gpu_meshes[path] = self._renderer().static_mesh(self._meshes.get(path))
        return mesh

    def _surface_for(self, key: Hashable, positions: np.ndarray, faces: np.ndarray) -> "StreamedMesh":
        mesh = self._surfaces.get(key)
        if mesh is not None and (mesh.n_vertices != len(positions) or mesh.n_faces != len(faces)):
            mesh.release()
            mesh = None
        if mesh is None:
            mesh = self._surfaces[key] = self._renderer().streamed_mesh(faces, positions)
        return mesh

    def draw(self, app: "App") -> None:
        """The ``render.draw`` system: draw this frame (if due), capture it, clear the DrawList."""
        from .camera import model_matrix

        draws = app.resource(DrawList)
        frame = app.clock.frame
        if frame % self.every:
            draws.clear()
            return
        r = self._renderer()
        cams = app.query(Camera)
        lights = app.query(Light)
        r.begin(cams[0][1] if cams else self.camera, lights[0][1] if lights else self.light)
        for _, (tf, vis) in app.query(Transform, VisualMesh):
            model = model_matrix(tf.position, tf.orientation, tf.scale * vis.scale, out=self._model)
            r.draw_mesh(self._mesh_for(str(vis.mesh)), model, color=vis.color)
        for batch in draws.spheres:
            r.draw_spheres(batch.centres, batch.radii, batch.colors, roughness=batch.roughness,
                           wetness=batch.wetness, shadow=batch.shadow)
        for surf in draws.surfaces:
            mesh = self._surface_for(surf.key, surf.positions, surf.faces)
            mesh.update(surf.positions, surf.normals, surf.burn)
            r.draw_mesh(mesh, color=surf.color, roughness=surf.roughness, wetness=surf.wetness,
                        shadow=surf.shadow)
        r.end()
        draws.clear()
        self.frames_drawn += 1
        if self.capture_dir is not None:
            path = self.capture_dir / f"frame_{frame:06d}.png"
            write_png(path, np.ascontiguousarray(r.read()), level=self.png_level)
            self.captured.append(path)

    def image(self) -> np.ndarray:
        """A copy of the last drawn frame, (H, W, 3) uint8 (RuntimeError before any)."""
        if self.renderer is None or not self.frames_drawn:
            raise RuntimeError("nothing has been rendered yet")
        return self.renderer.read().copy()

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"capture_dir": str(self.capture_dir) if self.capture_dir else None}
        return f"RenderPlugin({self.width}x{self.height}, every={self.every}, {extra})"
