"""XR devices as a vrmed :class:`~vrmed.input.InputSource`, and the ``--input openxr``
factory with its fallback."""

from __future__ import annotations

import atexit
import sys
from collections.abc import Callable
from typing import Any

from ..render import context as render_context
from .comfort import ComfortRig
from .interface import XrBackend, XrError, XrFrame, XrUnavailable
from .openxr_backend import OpenXrBackend, active_runtime_manifest
from .script import MotionScript

#: ``draw(frame, backend)``: render the eyes of a frame (called only when it should render).
DrawCallback = Callable[[XrFrame, Any], None]


class XrInputSource:
    """Samples an XR backend once per engine frame: poll events, begin the XR frame, turn its
    head and controller poses and buttons into an input sample.

    With ``defer_end=False`` (input only) the XR frame is ended right away, after ``draw``
    if given. With ``defer_end=True`` the frame stays open for a render-stage system to
    draw into and end (:class:`vrmed.xr.plugin.XrPlugin`); a frame left open is ended at the
    next sample so the runtime never stalls.
    """

    def __init__(
        self, backend: XrBackend, *, draw: DrawCallback | None = None, defer_end: bool = False, kind: str = "openxr"
    ) -> None:
        self.backend = backend
        self.kind = kind
        self.draw = draw
        self.defer_end = defer_end
        #: The frame begun by the latest sample while it is still open (defer_end mode).
        self.open_frame: XrFrame | None = None
        #: The latest frame sampled (None before the session runs).
        self.last_frame: XrFrame | None = None
        self.frames = 0
        #: The moderngl context the backend's swapchains live in (None: headless session);
        #: released after the backend by :meth:`close` when ``owns_context`` is True.
        self.gl_context: Any = None
        self.owns_context = False
        #: The comfort rig (:class:`vrmed.xr.comfort.ComfortRig`): when set, every frame is
        #: snap-turned/moved by it into the world and it rates the artificial motion.
        self.comfort: Any = None

    @property
    def exit_requested(self) -> bool:
        """True once the runtime asked the app to quit."""
        return self.backend.exit_requested

    def sample(self, time: float, frame: int) -> dict[str, dict[str, Any]]:
        """One XR frame's head/hand poses and buttons (empty while the session is not running)."""
        self.end_open_frame()
        self.backend.poll_events()
        xr_frame = self.backend.begin_frame()
        if xr_frame is None:
            return {}
        if self.comfort is not None:
            self.comfort.update(xr_frame)
            xr_frame = self.comfort.apply(xr_frame)
        self.last_frame = xr_frame
        self.frames += 1
        if self.defer_end:
            self.open_frame = xr_frame
        else:
            try:
                if self.draw is not None and xr_frame.should_render:
                    self.draw(xr_frame, self.backend)
            finally:
                self.backend.end_frame()
        return xr_frame.sample()

    def end_open_frame(self) -> None:
        """End the frame left open in ``defer_end`` mode (nothing submitted: nothing shown)."""
        if self.open_frame is not None:
            self.open_frame = None
            self.backend.end_frame()

    def close(self) -> None:
        """End any open frame and close the backend (idempotent; ``App.close`` calls it
        through the InputPlugin)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if self in _OPENED:
            _OPENED.remove(self)
        try:
            self.end_open_frame()
        finally:
            try:
                self.backend.close()
            finally:
                if self.owns_context and self.gl_context is not None:
                    self.gl_context.release()
                    self.gl_context = None


def open_openxr_input(
    scenario: Any = None, *, ctx: Any | None = None, api_layers: tuple[str, ...] = (), comfort: Any = None
) -> XrInputSource:
    """An :class:`XrInputSource` on OpenXR; raises :class:`XrUnavailable` if there is no runtime.

    When ``XR_RUNTIME_JSON`` names the simulated runtime (:mod:`vrmed.xr.sim`), it is started
    in this process first, its controllers following the scenario's scripted input (if any)
    and its head the default motion.
    """
    try:
        from . import sim  # imports pyopenxr, which loads the Khronos loader
    except (ImportError, OSError) as exc:
        raise XrUnavailable(f"pyopenxr cannot load the OpenXR loader ({exc})") from None
    manifest = sim.configured()
    if manifest is not None:
        scripted = getattr(scenario, "scripted_input", None)
        try:
            sim.install(MotionScript(overrides=scripted), manifest=manifest)
        except XrError as exc:
            raise XrUnavailable(f"the simulated OpenXR runtime cannot start: {exc}") from None
    if comfort is None:
        backend = OpenXrBackend(ctx, api_layers=api_layers)
    else:  # comfort: a vrmed.xr.comfort.ComfortSettings (reference space, refresh rate, rig)
        backend = OpenXrBackend(ctx, api_layers=api_layers, reference=comfort.reference, refresh_hz=comfort.refresh_hz)
    source = XrInputSource(backend)
    if comfort is not None:
        source.comfort = ComfortRig(comfort)
    source.gl_context = ctx
    if not _OPENED:
        # Destroy OpenXR instances while Python (and the runtime's callbacks) still exist.
        atexit.register(close_openxr_inputs)
    _OPENED.append(source)
    return source


#: Sources made by open_openxr_input and not yet closed by close_openxr_inputs. Process
#: state by necessity: ``make_input`` hands out a bare InputSource that nothing closes, and
#: the Khronos loader allows one XrInstance per process, so someone must close it.
_OPENED: list[XrInputSource] = []


def close_openxr_inputs() -> None:
    """Close every source :func:`open_openxr_input` made (also runs at interpreter exit).

    The Khronos loader supports one XrInstance per process at a time, so a program that
    runs several OpenXR sessions one after another (tests, a launcher) calls this between
    them, or closes each source itself.
    """
    while _OPENED:
        source = _OPENED.pop()
        try:
            source.close()
        except XrError:
            pass


def openxr_or_fallback(
    scenario: Any, fallback: Any, *, stream: Any = None, render: bool = False, comfort: Any = None
) -> Any:
    """``open_openxr_input(scenario)``, or ``fallback`` after printing one line saying why.

    With ``render`` the session gets swapchains in a new headless EGL moderngl context
    (``source.gl_context``, released when the source closes) so the scene can be drawn
    into the headset (:func:`vrmed.xr.render.add_headset_rendering`); where no GL context
    can be made, one line says so and the session runs without images.
    """
    ctx, no_gl = None, None
    if render:
        if active_runtime_manifest() is not None:  # no GL context at all when there is no runtime
            try:
                ctx = render_context.create_context("egl")
            except render_context.RenderUnavailable as exc:
                no_gl = str(exc)
    try:
        source = open_openxr_input(scenario, ctx=ctx, comfort=comfort)
    except XrUnavailable as exc:
        if ctx is not None:
            ctx.release()
        kind = getattr(fallback, "kind", "none")
        print(f"vrmed: --input openxr: {exc}; falling back to --input {kind}, headless", file=stream or sys.stderr)
        return fallback
    except BaseException:
        if ctx is not None:
            ctx.release()
        raise
    if ctx is not None:
        source.owns_context = True
    if no_gl is not None:
        print(f"vrmed: --input openxr: cannot render ({no_gl}); the headset gets no images", file=stream or sys.stderr)
    return source
