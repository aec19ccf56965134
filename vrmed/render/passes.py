"""Render passes: one ordered list of drawing steps, run for every view of a frame.

A :class:`RenderPipeline` (a per-App resource, plain data) holds :class:`RenderPass` objects.
The desktop/offscreen view (``RenderPlugin``: window and PNG capture) and each headset eye
(``vrmed.xr.render.XrSceneRenderer``) run the same pipeline, each into its own
:class:`RenderTarget`, in two phases:

1. ``"scene"`` passes draw 3D with :attr:`PassContext.renderer` between the renderer's
   ``begin`` and ``end``; after the last one the renderer draws the ground with contact
   shadows from everything drawn and resolves MSAA;
2. ``"overlay"`` passes draw over the finished image, in screen space, with
   :attr:`PassContext.overlay` (rectangles, text, polylines) or raw GL after
   :meth:`PassContext.bind`. In a headset eye their pixel space is a head-locked panel in
   front of the eyes (see :mod:`vrmed.xr.render`), not the eye's whole image.

Built in (:func:`default_pipeline`): ``scene`` (every ``Transform`` + ``VisualMesh``
entity, cut by the :class:`ClipPlane` resource when there is one, then the
:class:`~vrmed.render.drawlist.DrawList`'s spheres, capsules and streamed surfaces), then
the overlays ``monitor`` (the ``MonitorPanel`` resource) and ``hud`` (``HudState``). A
``VisualMesh`` whose colour alpha is below 1 is drawn translucent (after everything
opaque, back to front: :mod:`vrmed.render.renderer`). A pack adds its own passes::

    render_pipeline(app).add(MyBadge(), after="hud")

This module imports no GL: the pipeline can be filled before (or without) any renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from vrmed.components import Transform, VisualMesh
from vrmed.components.scene.render import Camera, ClipPlane, HudState, Light, MonitorPanel
from vrmed.errors import ConfigError

from .camera import model_matrix
from .drawlist import DrawList
from .meshes import MeshCache
from .overlay import OverlayRenderer

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from vrmed.app import App

    from .renderer import GpuMesh, Renderer, StreamedMesh

#: The phases of a view, in the order they run.
PHASES: tuple[str, ...] = ("scene", "overlay")
#: The names a view has: the desktop/offscreen view, and each headset eye.
VIEWS: tuple[str, ...] = ("main", "left", "right")

T = TypeVar("T")


@runtime_checkable
class RenderPass(Protocol):
    """One drawing step, run for every view (desktop/offscreen and each headset eye).

    ``name`` is unique in the pipeline (others are placed relative to it); ``phase`` is
    ``"scene"`` (3D: draw with ``ctx.renderer``, between the renderer's begin and end) or
    ``"overlay"`` (screen space over the finished image: draw with ``ctx.overlay``, or raw
    GL after ``ctx.bind()``). ``draw(ctx)`` draws one view; it must not change simulation
    state (a session's digest is the same with or without rendering). A plain class with
    ``name``/``phase`` class attributes and a ``draw`` method is a render pass.
    """

    @property
    def name(self) -> str:
        """Unique name in the pipeline."""
        ...

    @property
    def phase(self) -> str:
        """``"scene"`` or ``"overlay"``."""
        ...

    def draw(self, ctx: PassContext) -> None:
        """Draw this pass for one view."""
        ...


class PassContext:
    """What :meth:`RenderPass.draw` receives: one view of one frame.

    - ``app``: the App; ``frame``: its frame number; ``pipeline``: the pipeline being run;
    - ``view``: ``"main"`` (desktop window / PNG capture) or ``"left"``/``"right"`` (a
      headset eye); ``phase``: ``"scene"`` or ``"overlay"``;
    - ``renderer`` (:class:`~vrmed.render.renderer.Renderer`: ``draw_mesh``,
      ``draw_spheres``, ``draw_capsules``, ``static_mesh``, ...) and ``gl``, its moderngl
      context;
    - ``framebuffer``: where this phase draws (scene: the renderer's multisampled colour +
      depth framebuffer; overlay: the finished single-sample image); ``viewport``
      ``(x, y, width, height)`` in GL pixels (from the bottom-left) inside it, and
      ``size`` = ``(width, height)``: the pixel space overlays are laid out in;
    - ``view_matrix`` (world to eye), ``proj_matrix`` (eye to OpenGL clip), ``view_proj``
      (4x4 float64 arrays for column vectors) and ``eye_position`` ((3,)) of this view; read
      them, do not keep them across frames;
    - :attr:`overlay` (overlay phase): the screen-space drawer, :meth:`bind` for raw GL,
      :meth:`local` for GL objects a pass keeps per target.

    One is kept per target and updated for each view, so running the pipeline allocates
    nothing per frame.
    """

    def __init__(self, target: RenderTarget, app: App, pipeline: RenderPipeline) -> None:
        self._target = target
        self.app = app
        self.pipeline = pipeline
        self.view = "main"
        self.phase = "scene"
        self.frame = 0
        self.framebuffer: moderngl.Framebuffer = target.renderer.fbo
        self.viewport: tuple[int, int, int, int] = (0, 0, *target.renderer.size)
        self.size: tuple[int, int] = target.renderer.size
        self._overlay_open = False

    # -- what is being drawn ----------------------------------------------------------------
    @property
    def renderer(self) -> Renderer:
        """The offscreen renderer of this view's target."""
        return self._target.renderer

    @property
    def gl(self) -> moderngl.Context:
        """The moderngl context everything of this view lives in."""
        return self._target.renderer.ctx

    @property
    def view_matrix(self) -> np.ndarray:
        """World-to-eye matrix of this view (4x4)."""
        return self._target.renderer.view_matrix

    @property
    def proj_matrix(self) -> np.ndarray:
        """Eye-to-clip (OpenGL) projection of this view (4x4)."""
        return self._target.renderer.proj_matrix

    @property
    def view_proj(self) -> np.ndarray:
        """``proj_matrix @ view_matrix`` (``vrmed.render.camera.project`` takes it)."""
        return self._target.renderer.view_proj

    @property
    def eye_position(self) -> np.ndarray:
        """Where this view is seen from (world metres, (3,))."""
        return self._target.renderer.eye_position

    # -- drawing helpers ----------------------------------------------------------------------
    @property
    def overlay(self) -> OverlayRenderer:
        """The screen-space drawer (``rect``, ``text``, ``polyline``, ``measure``; pixels from
        the top-left of :attr:`size`), collecting into one batch that is drawn when the
        phase ends or a pass calls :meth:`bind`. Overlay phase only."""
        if self.phase != "overlay":
            raise ConfigError(
                "ctx.overlay draws in screen space over the finished image; only a pass with "
                "phase = 'overlay' may use it (scene passes draw with ctx.renderer)"
            )
        ov = self._target.overlay_renderer()
        if not self._overlay_open:
            ov.begin(self.framebuffer)
            self._overlay_open = True
        return ov

    def bind(self) -> moderngl.Framebuffer:
        """Draw what is batched in :attr:`overlay` so far, then bind :attr:`framebuffer`
        with :attr:`viewport` for raw GL drawing; returns the framebuffer."""
        self.flush()
        self.framebuffer.use()
        return self.framebuffer

    def flush(self) -> None:
        """Draw the overlay batch collected so far (nothing when there is none)."""
        if self._overlay_open:
            self._overlay_open = False
            self._target.overlay_renderer().end()

    def local(self, key: Hashable, make: Callable[[Renderer], T]) -> T:
        """The object a pass keeps for this target under ``key`` (usually the pass itself),
        made with ``make(renderer)`` on first use: GL objects live in one context and a
        renderer of one size, so a pass shared by the window and both eyes keeps one per
        target. Anything with a ``release()`` method is released with the target."""
        return self._target.local(key, make)


class RenderPipeline:
    """The ordered render passes every view runs: a per-App resource (plain data, no GL).

    Scene passes always run before overlay passes; within a phase, in the order they were
    placed. :func:`render_pipeline` gives the App's one (with the built-in ``scene``,
    ``monitor`` and ``hud`` passes). Mistakes raise :class:`~vrmed.errors.ConfigError`
    naming the passes there are.
    """

    def __init__(self, passes: Iterable[RenderPass] = ()) -> None:
        self._passes: list[RenderPass] = []
        self._phases: dict[str, tuple[RenderPass, ...]] = {phase: () for phase in PHASES}
        for render_pass in passes:
            self.add(render_pass)

    def add(self, render_pass: RenderPass, *, after: str | None = None, before: str | None = None) -> RenderPass:
        """Insert ``render_pass``: right after the pass named ``after``, right before the one
        named ``before`` (both of the same phase), or else at the end of its phase. Returns it."""
        name, phase = _checked(render_pass)
        if name in self:
            raise ConfigError(
                f"a render pass named {name!r} is already in the pipeline ({self._listing()}); "
                f"give the new one another name"
            )
        if after is not None and before is not None:
            raise ConfigError(f"render pass {name!r}: give after= or before=, not both")
        anchor = after if after is not None else before
        if anchor is None:
            rank = PHASES.index(phase)
            at = sum(1 for p in self._passes if PHASES.index(p.phase) <= rank)
        else:
            i = self._index(anchor, f"to place {name!r} {'after' if after is not None else 'before'}")
            other = self._passes[i].phase
            if other != phase:
                raise ConfigError(
                    f"render pass {name!r} (phase {phase!r}) cannot be placed relative to {anchor!r} "
                    f"(phase {other!r}): every scene pass runs before every overlay pass; place it "
                    f"relative to a pass of its own phase ({self._listing(phase)})"
                )
            at = i + 1 if after is not None else i
        self._passes.insert(at, render_pass)
        self._refresh()
        return render_pass

    def remove(self, name: str) -> RenderPass:
        """Take the pass named ``name`` out (e.g. a built-in one to replace); returns it."""
        render_pass = self._passes.pop(self._index(name, "to remove"))
        self._refresh()
        return render_pass

    def get(self, name: str) -> RenderPass:
        """The pass named ``name`` (ConfigError naming the passes there are if none)."""
        return self._passes[self._index(name, "")]

    def passes(self, phase: str) -> tuple[RenderPass, ...]:
        """The passes of one phase, in the order they run (no copy is made per call)."""
        try:
            return self._phases[phase]
        except KeyError:
            raise ConfigError(f"unknown render phase {phase!r}; phases are {', '.join(PHASES)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Every pass name in the order they run."""
        return tuple(p.name for p in self._passes)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self._passes)

    def __iter__(self) -> Iterator[RenderPass]:
        return iter(tuple(self._passes))

    def __len__(self) -> int:
        return len(self._passes)

    def __repr__(self) -> str:
        return f"RenderPipeline({', '.join(f'{p.name}:{p.phase}' for p in self._passes)})"

    def _index(self, name: str, purpose: str) -> int:
        for i, render_pass in enumerate(self._passes):
            if render_pass.name == name:
                return i
        what = f" {purpose}" if purpose else ""
        raise ConfigError(f"no render pass named {name!r}{what}; the pipeline has: {self._listing()}")

    def _listing(self, phase: str | None = None) -> str:
        names = [p.name for p in self._passes if phase is None or p.phase == phase]
        return ", ".join(names) if names else "no passes"

    def _refresh(self) -> None:
        # The per-phase tuples are rebuilt on change so that running them allocates nothing.
        for phase in PHASES:
            self._phases[phase] = tuple(p for p in self._passes if p.phase == phase)


def _checked(render_pass: object) -> tuple[str, str]:
    """The pass's name and phase, or a ConfigError saying what it lacks."""
    name = getattr(render_pass, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{render_pass!r} is not a render pass: it needs a non-empty str `name`")
    phase = getattr(render_pass, "phase", None)
    if phase not in PHASES:
        raise ConfigError(f"render pass {name!r}: phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if not callable(getattr(render_pass, "draw", None)):
        raise ConfigError(f"render pass {name!r} has no draw(ctx) method")
    return name, str(phase)


class RenderTarget:
    """One offscreen :class:`~vrmed.render.renderer.Renderer` (one view size in one GL
    context), its overlay drawer, and what passes keep for it (:meth:`PassContext.local`).

    The desktop/offscreen view has one; a headset has one per eye size. A view is drawn by
    :meth:`draw_scene` then :meth:`draw_overlays`; the finished image is
    ``renderer.output``. :meth:`release` frees every GL object (not the context).
    """

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        #: The screen-space drawer (made on the first overlay drawn).
        self.overlay: OverlayRenderer | None = None
        self._locals: dict[Hashable, Any] = {}
        self._ctx: PassContext | None = None
        width, height = renderer.size
        self._full = (0, 0, width, height)

    def overlay_renderer(self) -> OverlayRenderer:
        """The overlay drawer of this target (made on first use)."""
        if self.overlay is None:
            self.overlay = OverlayRenderer(self.renderer.ctx)
        return self.overlay

    def local(self, key: Hashable, make: Callable[[Renderer], T]) -> T:
        """See :meth:`PassContext.local`."""
        try:
            found: T = self._locals[key]
        except KeyError:
            found = self._locals[key] = make(self.renderer)
        return found

    def _context(self, app: App, pipeline: RenderPipeline) -> PassContext:
        pc = self._ctx
        if pc is None or pc.app is not app:
            pc = self._ctx = PassContext(self, app, pipeline)
        pc.pipeline = pipeline
        pc.frame = app.clock.frame
        return pc

    def draw_scene(
        self,
        app: App,
        pipeline: RenderPipeline,
        view: str,
        light: Light | None,
        *,
        camera: Camera | None = None,
        view_matrix: np.ndarray | None = None,
        proj_matrix: np.ndarray | None = None,
        eye_position: Sequence[float] | np.ndarray | None = None,
        far: float | None = None,
    ) -> PassContext:
        """Start ``view`` (a look-at ``camera``, or ``view_matrix`` + ``proj_matrix`` +
        ``eye_position``, with ``far`` where the ground fades), run the scene passes, then
        the renderer's ``end`` (ground, contact shadows, MSAA resolve)."""
        r = self.renderer
        if camera is not None:
            r.begin(camera, light)
        elif view_matrix is not None and proj_matrix is not None and eye_position is not None:
            r.begin_matrices(view_matrix, proj_matrix, eye_position, light, far=far)
        else:
            raise ValueError("give a camera, or view_matrix, proj_matrix and eye_position")
        pc = self._context(app, pipeline)
        pc.view, pc.phase = view, "scene"
        pc.framebuffer, pc.viewport, pc.size = r.fbo, self._full, r.size
        self._run(pc, pipeline.passes("scene"))
        r.end()
        return pc

    def draw_overlays(
        self,
        app: App,
        pipeline: RenderPipeline,
        viewport: tuple[int, int, int, int] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> PassContext:
        """Run the overlay passes over the finished image of the view :meth:`draw_scene`
        drew, in ``viewport`` (GL pixels from the bottom-left; default the whole image),
        except those named in ``skip`` (a headset shows them on world-space panels)."""
        r = self.renderer
        out = r.output
        full = self._full
        area = full if viewport is None else tuple(int(v) for v in viewport)
        if len(area) != 4 or area[2] < 1 or area[3] < 1:
            raise ValueError(f"viewport must be (x, y, width, height) with a positive size, got {viewport}")
        pc = self._context(app, pipeline)
        pc.phase = "overlay"
        pc.framebuffer, pc.viewport, pc.size = out, (area[0], area[1], area[2], area[3]), (area[2], area[3])
        out.viewport = pc.viewport  # the overlay drawer and bind() draw into this part only
        try:
            passes = pipeline.passes("overlay")
            self._run(pc, tuple(p for p in passes if p.name not in skip) if skip else passes)
            pc.flush()
        finally:
            pc._overlay_open = False
            out.viewport = full
        return pc

    @staticmethod
    def _run(pc: PassContext, passes: tuple[RenderPass, ...]) -> None:
        for render_pass in passes:
            try:
                render_pass.draw(pc)
            except Exception as exc:
                exc.add_note(f"in render pass {render_pass.name!r} ({pc.phase} phase, {pc.view} view)")
                raise

    def release(self) -> None:
        """Free what the passes kept, the overlay drawer and the renderer (not the context)."""
        for kept in self._locals.values():
            release = getattr(kept, "release", None)
            if callable(release):
                release()
        self._locals.clear()
        if self.overlay is not None:
            self.overlay.release()
            self.overlay = None
        ctx = self.renderer.ctx
        self.renderer.release()
        self._ctx = None
        # moderngl re-binds the framebuffer it bound last whenever it makes a new one; that was
        # this renderer's, now deleted (GL_INVALID_OPERATION for whoever uses the context next,
        # e.g. an OpenXR session's swapchains). Bind the default one.
        try:
            ctx.detect_framebuffer(0).use()
        except Exception:  # noqa: BLE001 - a context being torn down; nothing left to protect
            pass


# -- built-in passes ---------------------------------------------------------------------------
# ClipPlane (the cross-section resource) is plain scene data in vrmed.components.scene.render,
# so that pointer picking (vrmed.scenario.learner.pick_ray) skips the cut-away part too
# without importing the renderer; imported above and re-exported here.


class _SceneBuffers:
    """The scene pass's GPU meshes for one target: static meshes by file, streamed surfaces
    by DrawList key, and the frame whose surfaces were last uploaded."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.meshes: dict[str, GpuMesh] = {}
        self.surfaces: dict[Hashable, StreamedMesh] = {}
        self.uploaded = -1

    def mesh(self, path: str, cache: MeshCache) -> GpuMesh:
        """The GPU mesh of a mesh file (uploaded on first use)."""
        mesh = self.meshes.get(path)
        if mesh is None:
            mesh = self.meshes[path] = self.renderer.static_mesh(cache.get(path))
        return mesh

    def surface(self, key: Hashable, positions: np.ndarray, faces: np.ndarray) -> StreamedMesh:
        """The streamed mesh of a DrawList surface (remade only if its size changes)."""
        mesh = self.surfaces.get(key)
        if mesh is not None and (mesh.n_vertices != len(positions) or mesh.n_faces != len(faces)):
            mesh.release()
            mesh = None
        if mesh is None:
            mesh = self.surfaces[key] = self.renderer.streamed_mesh(faces, positions)
        return mesh

    def release(self) -> None:
        """Free every mesh."""
        for mesh in [*self.meshes.values(), *self.surfaces.values()]:
            mesh.release()
        self.meshes.clear()
        self.surfaces.clear()


class ScenePass:
    """Built-in ``scene`` pass: every ``Transform`` + ``VisualMesh`` entity (mesh files read
    once, through trimesh; cut by the :class:`ClipPlane` resource, translucent when its
    colour's alpha is below 1), then the DrawList's spheres, capsules (instruments) and streamed
    surfaces; all of them cast contact shadows on the ground unless queued with
    ``shadow=False``. Streamed surfaces are uploaded once per frame per target (the second
    eye of a frame draws them as uploaded)."""

    name = "scene"
    phase = "scene"

    def __init__(self) -> None:
        self._files = MeshCache()
        self._model = np.eye(4)

    def draw(self, ctx: PassContext) -> None:
        """Issue the scene's draw calls into ``ctx.renderer``."""
        app, r = ctx.app, ctx.renderer
        gpu = ctx.local(self, _SceneBuffers)
        upload = gpu.uploaded != ctx.frame
        gpu.uploaded = ctx.frame
        clip = app.try_resource(ClipPlane)
        for entity, (tf, vis) in app.query(Transform, VisualMesh):
            model = model_matrix(tf.position, tf.orientation, tf.scale * vis.scale, out=self._model)
            r.draw_mesh(
                gpu.mesh(str(vis.mesh), self._files),
                model,
                color=vis.color,
                roughness=vis.roughness,
                wetness=vis.wetness,
                shadow=vis.shadow,
                clip_plane=clip.plane if clip is not None and clip.applies_to(entity) else None,
            )
        draws = app.try_resource(DrawList)
        if draws is None:
            return
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
            mesh = gpu.surface(surf.key, surf.positions, surf.faces)
            if upload:
                mesh.update(surf.positions, surf.normals, surf.burn)
            r.draw_mesh(mesh, color=surf.color, roughness=surf.roughness, wetness=surf.wetness, shadow=surf.shadow)


class MonitorPass:
    """Built-in ``monitor`` overlay pass: the ``MonitorPanel`` resource, when present and visible."""

    name = "monitor"
    phase = "overlay"

    def draw(self, ctx: PassContext) -> None:
        """Draw the patient monitor panel."""
        panel = ctx.app.try_resource(MonitorPanel)
        if panel is not None and panel.visible:
            ctx.overlay.draw_monitor(panel)


class HudPass:
    """Built-in ``hud`` overlay pass: the ``HudState`` resource, when present and visible."""

    name = "hud"
    phase = "overlay"

    def draw(self, ctx: PassContext) -> None:
        """Draw the trainee HUD."""
        hud = ctx.app.try_resource(HudState)
        if hud is not None and hud.visible:
            ctx.overlay.draw_hud(hud)


def default_pipeline() -> RenderPipeline:
    """A pipeline with the built-in passes: ``scene``, then the overlays ``monitor``, ``hud``."""
    return RenderPipeline([ScenePass(), MonitorPass(), HudPass()])


def render_pipeline(app: App) -> RenderPipeline:
    """The App's :class:`RenderPipeline` resource, inserted with :func:`default_pipeline`
    on first use. No GL is involved: a pack may add its passes before any renderer exists
    (a renderer added later runs them; without one nothing draws them)."""
    pipeline = app.try_resource(RenderPipeline)
    if pipeline is None:
        pipeline = default_pipeline()
        app.insert_resource(pipeline)
    return pipeline
