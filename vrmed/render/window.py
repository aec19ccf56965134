"""A desktop window (GLFW) that shows the rendered frames.

The renderer keeps drawing offscreen exactly as in headless mode; each drawn frame's
finished image (:attr:`Renderer.output`) is blitted to the window's back buffer and
swapped. The window owns its moderngl context (made current on the creating thread).

Closing the window or pressing Esc sets :attr:`Window.should_close`; runs end cleanly
*between* frames through :meth:`Window.pacer`, whose callback (the ``progress`` argument
of ``App.run``/``Session.run``) paces the run to real time and raises
:class:`WindowClosed` after the frame in which the window was closed.

GLFW comes from the ``glfw`` package (a wheel with the GLFW library for X11 and Wayland
built in). :func:`open_window` returns ``None`` with the reason when no display can be
used, so callers can fall back to headless.
"""

from __future__ import annotations

import ctypes
import re
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .context import MIN_GL_VERSION, RenderUnavailable, create_context

if TYPE_CHECKING:  # pragma: no cover
    import moderngl


class WindowUnavailable(RenderUnavailable):
    """No window could be opened (no display, no GLFW, or no OpenGL 3.3 on the display)."""


class WindowClosed(Exception):
    """Raised by a :meth:`Window.pacer` callback between frames once the window is closed."""


class _EglBinding:
    """The calling thread's current EGL context, if any, saved so a GLX window context can
    be made current and the EGL one restored afterwards.

    Mesa's GLX refuses to make a context current (an X ``BadAccess`` error, which Xlib
    turns into process exit) while an EGL context is current on the same thread, which
    happens when a headless renderer ran earlier in the process. Nothing happens where
    libEGL is absent or no EGL context is current.
    """

    _DRAW, _READ = 0x3059, 0x305A

    def __init__(self) -> None:
        self._egl: Any = None
        self.saved: tuple[int | None, int | None, int | None, int | None] | None = None
        try:
            egl = ctypes.CDLL("libEGL.so.1")
        except OSError:
            return
        for name in ("eglGetCurrentDisplay", "eglGetCurrentContext", "eglGetCurrentSurface"):
            getattr(egl, name).restype = ctypes.c_void_p
        egl.eglGetCurrentSurface.argtypes = [ctypes.c_int]
        egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
        egl.eglMakeCurrent.restype = ctypes.c_uint
        self._egl = egl

    def release_current(self) -> None:
        """Unbind the thread's current EGL context, remembering it."""
        egl = self._egl
        if egl is None or not egl.eglGetCurrentContext():
            return
        display = egl.eglGetCurrentDisplay()
        self.saved = (
            display,
            egl.eglGetCurrentSurface(self._DRAW),
            egl.eglGetCurrentSurface(self._READ),
            egl.eglGetCurrentContext(),
        )
        egl.eglMakeCurrent(display, None, None, None)

    def restore(self) -> None:
        """Make the saved EGL context current again (ignored if it no longer exists)."""
        if self._egl is not None and self.saved is not None:
            self._egl.eglMakeCurrent(*self.saved)
            self.saved = None


def _glfw() -> Any:
    try:
        import glfw  # deferred: GLFW loads its native library; only a desktop window needs it
    except ImportError as exc:  # pragma: no cover - glfw comes with pyopenxr
        raise WindowUnavailable(f"the glfw package is missing ({exc}); pip install glfw") from None
    return glfw


class Window:
    """A non-resizable window of ``width`` x ``height`` screen units with an OpenGL 3.3 core
    context; :attr:`size` is its framebuffer size in pixels (larger on HiDPI screens).
    ``visible=False`` makes a hidden window (tests); ``vsync`` swaps on the display's
    refresh. Raises :class:`WindowUnavailable` naming the reason when it cannot be made.
    """

    def __init__(
        self, width: int = 960, height: int = 720, title: str = "vrmed", *, visible: bool = True, vsync: bool = True
    ) -> None:
        glfw = self._glfw = _glfw()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if not glfw.init():
                raise WindowUnavailable(f"no display: {self._reason(caught, 'GLFW could not initialise')}")
            glfw.default_window_hints()
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, MIN_GL_VERSION // 100)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, MIN_GL_VERSION % 100 // 10)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
            glfw.window_hint(glfw.RESIZABLE, False)
            glfw.window_hint(glfw.VISIBLE, bool(visible))
            self._egl = _EglBinding()
            self._egl.release_current()  # GLFW makes the new context current while creating it
            handle = glfw.create_window(int(width), int(height), title, None, None)
            if not handle:
                glfw.terminate()
                self._egl.restore()
                raise WindowUnavailable(f"cannot open a window: {self._reason(caught, 'no OpenGL 3.3 window')}")
        self.handle = handle
        glfw.make_context_current(handle)
        glfw.swap_interval(1 if vsync else 0)
        try:
            self.ctx: moderngl.Context = create_context(None, standalone=False)
        except RenderUnavailable as exc:
            glfw.make_context_current(None)
            glfw.destroy_window(handle)
            glfw.terminate()
            self._egl.restore()
            raise WindowUnavailable(str(exc)) from None
        self.size: tuple[int, int] = tuple(glfw.get_framebuffer_size(handle))
        self._screen = self.ctx.detect_framebuffer(0)
        glfw.set_key_callback(handle, self._on_key)
        self._closed = False
        #: Frames shown so far.
        self.frames_shown = 0

    @staticmethod
    def _reason(caught: list, default: str) -> str:
        """GLFW's warnings as one readable line ("(65550) b'X11: ...'" becomes "X11: ...")."""
        msgs = []
        for w in caught:
            text = str(w.message)
            m = re.fullmatch(r"\(\d+\) b?['\"](.*)['\"]", text, re.S)
            msgs.append(m.group(1) if m else text)
        return "; ".join(msgs) if msgs else default

    def _on_key(self, handle: Any, key: int, scancode: int, action: int, mods: int) -> None:
        """GLFW key callback: Esc asks the window to close."""
        if key == self._glfw.KEY_ESCAPE and action == self._glfw.PRESS:
            self._glfw.set_window_should_close(handle, True)

    @property
    def should_close(self) -> bool:
        """True once the user closed the window or pressed Esc (or after :meth:`close`)."""
        return self._closed or bool(self._glfw.window_should_close(self.handle))

    def request_close(self) -> None:
        """Ask the run to end after the current frame (as the close button does)."""
        self._glfw.set_window_should_close(self.handle, True)

    def poll(self) -> None:
        """Process pending window events (key presses, the close button)."""
        if not self._closed:
            self._glfw.poll_events()

    def present(self, framebuffer: moderngl.Framebuffer) -> None:
        """Copy a finished frame (single-sample, e.g. :attr:`Renderer.output`) to the
        window, swap buffers and process events."""
        if self._closed:
            return
        self.ctx.copy_framebuffer(self._screen, framebuffer)
        self._glfw.swap_buffers(self.handle)
        self._glfw.poll_events()
        self.frames_shown += 1

    def read_screen(self) -> Any:
        """The window's back buffer (what the next swap shows) as an (H, W, 3) uint8 array,
        top row first. After a swap its content is whatever the driver leaves there."""
        data = self._screen.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(self.size[1], self.size[0], 3)[::-1]

    def pacer(self, rate: float, *, realtime: bool = True) -> Callable[[int], None]:
        """A ``progress`` callback for ``run``: after frame n it processes window events,
        raises :class:`WindowClosed` if the window was closed, and (``realtime``) sleeps
        until n / ``rate`` seconds after the first call so the simulation runs in real time."""
        start: list[float] = []

        def tick(n: int) -> None:
            if not start:
                start.append(time.perf_counter() - 1.0 / rate)
            self.poll()
            if self.should_close:
                raise WindowClosed
            if realtime:
                delay = start[0] + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)

        return tick

    def close(self) -> None:
        """Release the context and destroy the window (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.ctx.release()
        self._glfw.make_context_current(None)
        self._glfw.destroy_window(self.handle)
        self._glfw.terminate()
        self._egl.restore()


def open_window(width: int = 960, height: int = 720, title: str = "vrmed", **kwargs: Any) -> tuple[Window | None, str]:
    """Try to open a :class:`Window`: ``(window, "")``, or ``(None, reason)`` when no
    display (or GL 3.3 on it) is available, so the caller can fall back to headless."""
    try:
        return Window(width, height, title, **kwargs), ""
    except WindowUnavailable as exc:
        return None, str(exc)
