"""The simulated OpenXR runtime with X11 applications: an Xlib/GLX graphics binding (as GLFW
programs make), and the pyopenxr project's own example programs run unmodified against it
(tests/data/pyopenxr_examples, each in its own process, all at once, under Xvfb).

Where ``Xvfb`` is installed the module starts its own virtual display (``Xvfb -displayfd``,
terminated at teardown); otherwise it uses $DISPLAY, and skips when there is none.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from ctypes import byref
from pathlib import Path

import pytest

xr = pytest.importorskip("xr")

from conftest import own_or_current_display  # noqa: E402

from vrmed.xr import sim  # noqa: E402

EXAMPLES = Path(__file__).parent / "data" / "pyopenxr_examples"


@pytest.fixture(scope="module")
def display():
    """An X display: our own Xvfb when installed, else $DISPLAY."""
    yield from own_or_current_display()


def test_xlib_glx_binding_renders_through_swapchains(display, manifest, monkeypatch):
    if os.environ.get("VRMED_GLX_CHILD") != "1":
        # In its own process: GLFW/Xlib state left by earlier tests that used another
        # (since terminated) X display makes Xlib's default error handler exit the whole
        # test process; a fresh interpreter opens exactly one display.
        env = {**os.environ, "VRMED_GLX_CHILD": "1"}
        here = f"{Path(__file__).resolve()}::test_xlib_glx_binding_renders_through_swapchains"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", here],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        if " passed" not in proc.stdout:
            pytest.skip(f"skipped in its own process: {proc.stdout.strip().splitlines()[-1:]}")
        return
    glfw = pytest.importorskip("glfw")
    gl = pytest.importorskip("OpenGL.GL")
    glx = pytest.importorskip("OpenGL.GLX")
    if not glfw.init():
        pytest.skip("GLFW cannot start on this display")
    glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    window = glfw.create_window(16, 16, "glx", None, None)
    if not window:
        glfw.terminate()
        pytest.skip("no GLX 3.3 context on this display")
    monkeypatch.setenv("XR_RUNTIME_JSON", str(manifest))
    monkeypatch.delenv("XR_API_LAYER_PATH", raising=False)
    rt, _ = sim.install(manifest=manifest)
    instance = session = None
    try:
        glfw.make_context_current(window)
        instance = xr.create_instance(xr.InstanceCreateInfo(enabled_extension_names=["XR_KHR_opengl_enable"]))
        system = xr.get_system(instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        req_fn = ctypes.cast(
            xr.get_instance_proc_addr(instance, "xrGetOpenGLGraphicsRequirementsKHR"),
            xr.PFN_xrGetOpenGLGraphicsRequirementsKHR,
        )
        assert req_fn(instance, system, byref(xr.GraphicsRequirementsOpenGLKHR())) == 0
        binding = xr.GraphicsBindingOpenGLXlibKHR(
            x_display=glx.glXGetCurrentDisplay(),
            glx_drawable=glx.glXGetCurrentDrawable(),
            glx_context=glx.glXGetCurrentContext(),
        )
        session = xr.create_session(
            instance, xr.SessionCreateInfo(system_id=system, next=ctypes.cast(ctypes.pointer(binding), ctypes.c_void_p))
        )
        xr.begin_session(session, xr.SessionBeginInfo(xr.ViewConfigurationType.PRIMARY_STEREO))
        space = xr.create_reference_space(session, xr.ReferenceSpaceCreateInfo(xr.ReferenceSpaceType.STAGE))
        formats = [int(f) for f in xr.enumerate_swapchain_formats(session)]
        assert 0x8058 in formats  # GL_RGBA8
        info = xr.SwapchainCreateInfo(
            usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT,
            format=0x8058,
            sample_count=1,
            width=8,
            height=8,
            face_count=1,
            array_size=1,
            mip_count=1,
        )
        swapchain = xr.create_swapchain(session, info)
        images = xr.enumerate_swapchain_images(swapchain, xr.SwapchainImageOpenGLKHR)
        fs = xr.wait_frame(session)
        xr.begin_frame(session)
        index = xr.acquire_swapchain_image(swapchain, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(swapchain, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
        fbo = gl.glGenFramebuffers(1)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, images[index].image, 0)
        gl.glClearColor(0.2, 0.4, 0.6, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        gl.glDeleteFramebuffers(1, [fbo])
        xr.release_swapchain_image(swapchain, xr.SwapchainImageReleaseInfo())
        views = (xr.CompositionLayerProjectionView * 2)()
        for v in views:
            v._type = xr.StructureType.COMPOSITION_LAYER_PROJECTION_VIEW.value
            v.pose = xr.Posef()
            v.fov = xr.Fovf(-0.7, 0.7, 0.7, -0.7)
            v.sub_image.swapchain = swapchain
            v.sub_image.image_rect.extent = xr.Extent2Di(8, 8)
        layer = xr.CompositionLayerProjection(space=space, views=views)
        xr.end_frame(
            session,
            xr.FrameEndInfo(
                display_time=fs.predicted_display_time,
                environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
                layers=[ctypes.byref(layer)],
            ),
        )
        frame = rt.frames[-1]
        assert frame.images[0][0, 0].tolist() == [51, 102, 153, 255]  # what GL drew, read back through GLX
        assert rt.errors == []
    finally:
        if session is not None:
            xr.destroy_session(session)
        if instance is not None:
            xr.destroy_instance(instance)
        glfw.destroy_window(window)
        glfw.terminate()


#: Example program -> (a line its output must contain or None, whether it renders frames).
PROGRAMS = {
    "runtime_name.py": ("The current active OpenXR runtime is: vrmed simulated runtime", False),
    "openxr_version.py": ("OpenXR version", False),
    "extension_properties.py": ("XR_EXT_hand_tracking", False),
    "api_dump_layer.py": ("XR_APILAYER_LUNARG_api_dump", False),
    "headless.py": ("OpenXR session state changed to xr.SessionState.FOCUSED", False),
    "track_hmd.py": ("position=(x=-0.032, y=1.600", False),  # the left eye of the scripted head
    "track_hmd2.py": ("position=(x=-0.032, y=1.600", False),
    "track_controller.py": ("position=(x=0.250, y=1.201, z=-0.300)", False),  # the scripted right hand
    "pink_world.py": (None, True),
    "green_blue.py": (None, True),
    "color_cube.py": (None, True),
    "gl_example.py": (None, True),
    "debug_all_the_things.py": ("Hey, this logging thing works!", False),
    "hello_xr.py": ("Grab is bound to 'Left Hand HTC Vive Controller Trigger'", True),
}


@pytest.mark.slow
def test_pyopenxr_examples_run_unmodified(display, manifest, tmp_path):
    """Every example in its own process (all at once), the runtime bootstrapped by the shim
    because the program never calls vrmed; each must exit 0 after its session ends."""
    env = {
        **os.environ,
        "XR_RUNTIME_JSON": str(manifest),
        "VRMED_XR_SIM_EXIT_AFTER": "3",  # the scripted user quits after three frames
        "PYTHONPATH": str(EXAMPLES),  # hello_xr imports its package as xr_examples.hello_xr
    }
    env.pop("XR_API_LAYER_PATH", None)
    procs = {}
    for name in PROGRAMS:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        procs[name] = (
            subprocess.Popen(
                [sys.executable, str(EXAMPLES / "xr_examples" / name)],
                cwd=tmp_path,
                env={**env, "VRMED_XR_SIM_REPORT": str(tmp_path / f"{name}.json")},
                stdin=subprocess.PIPE,  # hello_xr quits on a key press (or EOF): stdin stays open
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
        )
    deadline = time.monotonic() + 90
    results = {}
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            log.close()
        out = (tmp_path / f"{name}.log").read_text(errors="replace")
        results[name] = (proc.returncode, out, tmp_path / f"{name}.json")
    for name, (rc, out, report) in results.items():
        expected, renders = PROGRAMS[name]
        if name == "hello_xr.py":
            # hello_xr never destroys its instance on Linux (a SteamVR workaround), so the loader
            # does at process exit and calls hello_xr's Python debug messenger after the
            # interpreter is gone: a crash (SIGSEGV, or SIGILL/SIGBUS/SIGABRT/SIGTRAP depending on
            # what the freed memory holds: a CI run saw SIGTRAP, 1 in 4 runs) after a complete
            # session, on any runtime.
            crashed_at_exit = rc in (
                -signal.SIGSEGV,
                -signal.SIGILL,
                -signal.SIGBUS,
                -signal.SIGABRT,
                -signal.SIGTRAP,
            )
            assert rc == 0 or crashed_at_exit, f"{name}: exit {rc}\n{out[-3000:]}"
            assert "state 1->8" in out  # IDLE -> EXITING: the session ended normally
        else:
            assert rc == 0, f"{name}: exit {rc}\n{out[-3000:]}"
        if expected is not None:
            assert expected in out, f"{name}: {out[-3000:]}"
        if report.is_file():  # programs that created an instance
            data = json.loads(report.read_text())
            assert data["errors"] == [], f"{name}: {data['errors']}"
            if renders:
                assert data["frames_ended"] >= 3 and "projection" in data["last_frame"]["layer_types"], name
    pink = json.loads((tmp_path / "pink_world.py.json").read_text())["last_frame"]["eye_mean_rgba"]
    # pink_world clears each eye to (1, 0.7, 0.7): what reached the runtime is that colour.
    assert pink["0"] == pytest.approx([255, 178.5, 178.5, 255], abs=1) and pink["1"] == pink["0"]
