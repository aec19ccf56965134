"""The operating-room monitor: the endoscope's image on a screen in the scene.

In a headset (or a desktop room camera) a laparoscopic learner does not look through the
scope: as in a real OR, they look at a monitor showing the scope's image, with their hands
and the instruments' shafts in front of it. :class:`ScopeMonitorPass` (a ``scene`` pass)
does that for every view that is not the endoscope itself:

1. once per frame (per GL context; not once per eye) it renders the endoscope's view (the
   scope's camera, light and lens vignette) with the pipeline's other scene passes into
   an offscreen :class:`~vrmed.render.passes.RenderTarget` of :attr:`ScopeMonitor.resolution`
   pixels, and copies it into a texture;
2. in every view it draws that texture, unlit (a screen emits), on a world-space quad of
   :attr:`ScopeMonitor.size` at :attr:`ScopeMonitor.position` / ``orientation`` (the
   screen faces the quad's local +z), in a dark bezel, depth-tested like everything else.

It draws only when the App has a :class:`ScopeMonitor` resource (``visible``) and an
:class:`~vrmed.components.scene.render.Endoscope` on an entity with a ``Transform``; the
main view is skipped when it looks through the endoscope (the plugin's view selection).
:func:`add_scope_monitor` inserts the resource and the pass (plain data, no GL), e.g. from
a pack's ``setup``. The scope image is drawn with view name ``"scope"``; scene passes that
draw only for the learner's own views may skip it.

No GL is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components import Transform
from vrmed.components.scene.render import ActiveView, Camera, Endoscope, Light
from vrmed.errors import ConfigError
from vrmed.fields import vec3

from .camera import endoscope_camera, model_matrix
from .meshes import MeshData
from .passes import PassContext, RenderPipeline, RenderTarget, render_pipeline
from .plugin import DEFAULT_SCOPE_LIGHT, main_view

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .renderer import GpuMesh, Renderer

#: The view name the endoscope image is drawn with (besides "main", "left", "right").
SCOPE_VIEW = "scope"
#: The pass's name in the pipeline.
PASS_NAME = "scope_monitor"

_SCREEN_VERTEX = """
#version 330
uniform mat4 u_mvp;
in vec2 in_pos;
out vec2 v_uv;
void main() {
    v_uv = in_pos + 0.5;
    gl_Position = u_mvp * vec4(in_pos, 0.0, 1.0);
}
"""
_SCREEN_FRAGMENT = """
#version 330
uniform sampler2D u_image;
uniform float u_gain;
in vec2 v_uv;
out vec4 f_color;
void main() {
    f_color = vec4(texture(u_image, v_uv).rgb * u_gain, 1.0);
}
"""


@dataclass
class ScopeMonitor:
    """The OR monitor showing the endoscope's image (a resource, plain data).

    ``position`` is the centre of the screen (world metres), ``orientation`` a unit
    quaternion (w, x, y, z); the screen faces its local +z (identity: towards +z, i.e.
    towards a learner standing at the origin looking down -z is *not* it: place the
    monitor at negative z in front of them, as the default does). ``size`` is the visible
    screen (width, height) in metres, ``bezel`` the frame's width around it, ``depth``
    the housing's thickness behind it. ``resolution`` is the scope image's pixel size
    (its aspect should match ``size``'s). ``gain`` scales the screen's brightness.
    ``endoscope`` names the scope entity (None: the :class:`ActiveView`'s endoscope, else
    the first active Endoscope, else the first one). ``visible = False`` hides it.
    """

    position: np.ndarray = vec3(0.0, 1.6, -1.2)
    orientation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    size: tuple[float, float] = (0.6, 0.34)
    bezel: float = 0.025
    depth: float = 0.04
    bezel_color: tuple[float, float, float, float] = (0.015, 0.015, 0.018, 1.0)
    resolution: tuple[int, int] = (512, 290)
    gain: float = 1.0
    endoscope: int | None = None
    visible: bool = True

    def __post_init__(self) -> None:
        self.position = np.asarray(self.position, np.float64).reshape(3)
        self.orientation = np.asarray(self.orientation, np.float64).reshape(4)
        if self.size[0] <= 0 or self.size[1] <= 0 or self.bezel < 0 or self.depth < 0:
            raise ValueError(f"monitor size must be positive and bezel/depth not negative, got {self.size}")
        if self.resolution[0] < 1 or self.resolution[1] < 1:
            raise ValueError(f"resolution must be at least 1 x 1 pixels, got {self.resolution}")

    def corners(self) -> np.ndarray:
        """The screen's corners in world metres, (4, 3): bottom-left, bottom-right,
        top-right, top-left (as the learner sees it)."""
        m = model_matrix(self.position, self.orientation, 1.0)
        w, h = self.size[0] / 2.0, self.size[1] / 2.0
        local = np.array([[-w, -h, 0.0, 1.0], [w, -h, 0.0, 1.0], [w, h, 0.0, 1.0], [-w, h, 0.0, 1.0]])
        return (local @ m.T)[:, :3]


def find_endoscope(app: App, monitor: ScopeMonitor) -> tuple[Transform, Endoscope] | None:
    """The endoscope the monitor shows (see :attr:`ScopeMonitor.endoscope`), or None."""
    candidates = [monitor.endoscope]
    selected = app.try_resource(ActiveView)
    if monitor.endoscope is None and selected is not None:
        candidates = [selected.entity]
    for entity in candidates:
        if entity is not None:
            tf, scope = app.try_get(entity, Transform), app.try_get(entity, Endoscope)
            if tf is not None and scope is not None:
                return tf, scope
    found = app.query(Transform, Endoscope)
    for _, (tf, scope) in found:
        if scope.active:
            return tf, scope
    return found[0][1] if found else None


def _box(width: float, height: float, z0: float, z1: float) -> MeshData:
    """An axis-aligned box centred on x = y = 0 between z0 and z1, flat-shaded."""
    w, h = width / 2.0, height / 2.0
    faces_dirs = [
        ((0, 0, 1), [(-w, -h, z1), (w, -h, z1), (w, h, z1), (-w, h, z1)]),
        ((0, 0, -1), [(w, -h, z0), (-w, -h, z0), (-w, h, z0), (w, h, z0)]),
        ((1, 0, 0), [(w, -h, z1), (w, -h, z0), (w, h, z0), (w, h, z1)]),
        ((-1, 0, 0), [(-w, -h, z0), (-w, -h, z1), (-w, h, z1), (-w, h, z0)]),
        ((0, 1, 0), [(-w, h, z1), (w, h, z1), (w, h, z0), (-w, h, z0)]),
        ((0, -1, 0), [(-w, -h, z0), (w, -h, z0), (w, -h, z1), (-w, -h, z1)]),
    ]
    pos: list[tuple[float, float, float]] = []
    nrm: list[tuple[int, int, int]] = []
    faces: list[tuple[int, int, int]] = []
    for normal, quad in faces_dirs:
        base = len(pos)
        pos.extend(quad)
        nrm.extend([normal] * 4)
        faces.extend([(base, base + 1, base + 2), (base, base + 2, base + 3)])
    return MeshData(np.array(pos), np.array(nrm), np.array(faces))


class _ScopeImage:
    """Per GL context: the scope view's render target, the texture it is copied into, the
    screen quad's program, and the frame last rendered."""

    def __init__(self, gl: moderngl.Context, resolution: tuple[int, int]) -> None:
        from .renderer import Renderer, uniforms  # deferred: GL, only once a context exists

        width, height = int(resolution[0]), int(resolution[1])
        self.resolution = (width, height)
        self.target = RenderTarget(Renderer(gl, width, height, samples=min(4, gl.max_samples)))
        self.target.renderer.scope = DEFAULT_SCOPE_LIGHT
        self.texture = gl.texture((width, height), 4)
        self.texture.filter = (gl.LINEAR_MIPMAP_LINEAR, gl.LINEAR)
        self.program = gl.program(vertex_shader=_SCREEN_VERTEX, fragment_shader=_SCREEN_FRAGMENT)
        self.u = uniforms(self.program, "u_mvp", "u_gain", "u_image")
        self.u["u_image"].value = 1  # texture unit 1: the renderer binds base colour maps at 0
        quad = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]], np.float32)
        self.vbo = gl.buffer(quad.tobytes())
        self.vao = gl.vertex_array(self.program, [(self.vbo, "2f", "in_pos")])
        self.mvp = np.zeros((4, 4), np.float32)
        self.frame = -1
        self.users = 0

    def release(self) -> None:
        self.target.release()
        for obj in (self.vao, self.vbo, self.program, self.texture):
            obj.release()


class _Use:
    """What a view's target keeps: a reference to its context's scope image and the
    bezel mesh of its renderer; released with the target."""

    def __init__(self, owner: ScopeMonitorPass, key: int, renderer: Renderer) -> None:
        self.owner, self.key = owner, key
        self.bezel: GpuMesh | None = None
        self.bezel_shape: tuple[float, ...] = ()
        self.renderer = renderer

    def release(self) -> None:
        if self.bezel is not None:
            self.bezel.release()
            self.bezel = None
        self.owner._drop(self.key)


class ScopeMonitorPass:
    """The ``scope_monitor`` scene pass (see the module docstring). ``renders`` counts the
    scope images rendered (one per drawn frame and GL context, whatever the number of
    views), ``screens`` the monitor screens drawn (one per view; a single-pass stereo
    target counts both its eyes)."""

    name = PASS_NAME
    phase = "scene"

    def __init__(self) -> None:
        self.renders = 0
        self.screens = 0
        self._images: dict[int, _ScopeImage] = {}
        self._scratch = Camera()
        self._default = Camera()
        self._model = np.eye(4)
        self._screen = np.eye(4)

    def draw(self, ctx: PassContext) -> None:
        """Render the scope image (first view of the frame) and draw the monitor."""
        if ctx.view == SCOPE_VIEW:
            return
        app = ctx.app
        monitor = app.try_resource(ScopeMonitor)
        if monitor is None or not monitor.visible:
            return
        found = find_endoscope(app, monitor)
        if found is None:
            return
        if ctx.view == "main" and main_view(app, self._default, self._scratch)[1] is not None:
            return  # the main view looks through the scope itself
        gl = ctx.gl
        key = id(gl)
        use = ctx.local(self, lambda r: self._use(key, r, monitor.resolution))
        image = self._images[key]
        if image.frame != ctx.frame:
            self._render_scope(ctx, image, found)
        self._draw_screen(ctx, image, monitor, use)

    # -- per-context state ----------------------------------------------------------------------
    def _use(self, key: int, renderer: Renderer, resolution: tuple[int, int]) -> _Use:
        # one scope image per GL context, at the resolution the monitor has when first drawn there
        image = self._images.get(key)
        if image is None:
            image = self._images[key] = _ScopeImage(renderer.ctx, resolution)
        image.users += 1
        return _Use(self, key, renderer)

    def _drop(self, key: int) -> None:
        image = self._images.get(key)
        if image is not None:
            image.users -= 1
            if image.users <= 0:
                image.release()
                del self._images[key]

    # -- drawing --------------------------------------------------------------------------------
    def _render_scope(self, ctx: PassContext, image: _ScopeImage, found: tuple[Transform, Endoscope]) -> None:
        app, gl = ctx.app, ctx.gl
        tf, scope = found
        camera = endoscope_camera(tf.position, tf.orientation, scope, self._scratch)
        lights = app.query(Light)
        pipeline = app.resource(RenderPipeline) if app.has_resource(RenderPipeline) else ctx.pipeline
        image.target.draw_scene(app, pipeline, SCOPE_VIEW, lights[0][1] if lights else None, camera=camera)
        gl.copy_framebuffer(image.texture, image.target.renderer.output)
        image.texture.build_mipmaps()
        image.frame = ctx.frame
        self.renders += 1
        # back to this view's frame: its framebuffer and the renderer's GL state
        ctx.framebuffer.use()
        gl.enable_only(gl.DEPTH_TEST)

    def _draw_screen(self, ctx: PassContext, image: _ScopeImage, monitor: ScopeMonitor, use: _Use) -> None:
        r = ctx.renderer
        width, height = monitor.size
        shape = (width, height, monitor.bezel, monitor.depth)
        if use.bezel is None or use.bezel_shape != shape:
            if use.bezel is not None:
                use.bezel.release()
            b = 2.0 * monitor.bezel
            use.bezel = r.static_mesh(_box(width + b, height + b, -monitor.depth, 0.0))
            use.bezel_shape = shape
        model = model_matrix(monitor.position, monitor.orientation, 1.0, out=self._model)
        r.draw_mesh(use.bezel, model, color=monitor.bezel_color, roughness=0.5, wetness=0.0, shadow=False)
        # the screen: just in front of the bezel's face, unlit
        screen = model_matrix(monitor.position, monitor.orientation, np.array([width, height, 1.0]), out=self._screen)
        screen[:3, 3] += 0.002 * model[:3, 2]
        image.u["u_gain"].value = float(monitor.gain)
        image.texture.use(1)
        fbo = ctx.framebuffer
        eyes = _stereo_eye_matrices(r)
        if eyes is None:
            self._screen_draw(image, fbo, ctx.view_proj, screen, None)
            return
        # a single-pass stereo target: both eyes side by side, each half with its own matrices
        x, y, width_px, height_px = ctx.viewport
        half = width_px // 2
        try:
            for e in (0, 1):
                self._screen_draw(image, fbo, eyes[e], screen, (x + e * half, y, half, height_px))
        finally:
            fbo.viewport = (x, y, width_px, height_px)
            fbo.use()

    def _screen_draw(
        self,
        image: _ScopeImage,
        fbo: moderngl.Framebuffer,
        view_proj: np.ndarray,
        screen: np.ndarray,
        viewport: tuple[int, int, int, int] | None,
    ) -> None:
        np.copyto(image.mvp, (view_proj @ screen).T)
        image.u["u_mvp"].write(image.mvp)
        if viewport is not None:
            fbo.viewport = viewport
        fbo.use()
        image.vao.render(image.vao.ctx.TRIANGLE_STRIP)
        self.screens += 1


def _stereo_eye_matrices(renderer: Renderer) -> tuple[np.ndarray, np.ndarray] | None:
    """Each eye's ``P @ V`` of a single-pass stereo renderer's frame (None for a one-view
    renderer). The renderer keeps them transposed (GL column-major) for its shaders."""
    if not getattr(renderer, "stereo", False):
        return None
    return renderer.eye_view_projs


def add_scope_monitor(app: App, monitor: ScopeMonitor | None = None) -> ScopeMonitorPass:
    """Show the endoscope's image on an OR monitor in every view that is not the scope
    itself: insert ``monitor`` (default :class:`ScopeMonitor`) as a resource unless one is
    there, and add :class:`ScopeMonitorPass` to the App's render pipeline after the
    built-in ``scene`` pass (once). No GL is involved. Returns the pass."""
    if not app.has_resource(ScopeMonitor):
        app.insert_resource(monitor or ScopeMonitor())
    pipeline = render_pipeline(app)
    if PASS_NAME in pipeline:
        existing = pipeline.get(PASS_NAME)
        if not isinstance(existing, ScopeMonitorPass):
            raise ConfigError(f"a render pass named {PASS_NAME!r} is in the pipeline but is not a ScopeMonitorPass")
        return existing
    render_pass = ScopeMonitorPass()
    if "scene" in pipeline:
        pipeline.add(render_pass, after="scene")
    else:
        pipeline.add(render_pass)
    return render_pass


__all__ = ["PASS_NAME", "SCOPE_VIEW", "ScopeMonitor", "ScopeMonitorPass", "add_scope_monitor", "find_endoscope"]
