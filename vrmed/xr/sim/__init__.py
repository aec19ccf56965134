"""A simulated OpenXR runtime: a real runtime the Khronos loader loads, for tests and for
developing without a headset.

>>> runtime, manifest = install()            # doctest: +SKIP
>>> os.environ["XR_RUNTIME_JSON"] = str(manifest)  # then use pyopenxr as usual

Global state, forced by the C boundary: the loader finds the runtime through one shared
library, whose one ``getInstanceProcAddr`` pointer is per process. :func:`install` points
it at a :class:`SimRuntime`; every runtime ever installed stays referenced in this module
(``_INSTALLED``) because the loader (or an instance created earlier) may still call its
ctypes callbacks, and freeing them would crash the process.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
from pathlib import Path

from ..interface import XrError
from ..script import DeviceConfig, MotionScript
from .build import RUNTIME_NAME, ShimBuildError, cache_dir, is_sim_manifest, write_manifest
from .runtime import API_VERSION, EPOCH_NS, Haptic, SimRuntime, SubmittedFrame

_INSTALLED: list[SimRuntime] = []
_LIBS: dict[str, ctypes.CDLL] = {}


def _library(path: Path) -> ctypes.CDLL:
    key = str(path.resolve())
    lib = _LIBS.get(key)
    if lib is None:
        # Same path as the manifest's library_path: dlopen hands the loader this mapping,
        # so the pointer stored below is the one its negotiate call returns.
        try:
            lib = ctypes.CDLL(key)
        except OSError as exc:
            raise XrError(
                f"cannot load the simulated runtime's shim {key}: {exc}; rewrite the manifest "
                f"with `python -m vrmed.xr.sim`"
            ) from None
        _LIBS[key] = lib
        lib.vrmed_xr_sim_install.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.vrmed_xr_sim_install.restype = None
    return lib


def _manifest_library(manifest: Path) -> Path:
    if not is_sim_manifest(manifest):
        raise XrError(f"{manifest} is not a manifest of the vrmed simulated OpenXR runtime")
    return Path(json.loads(manifest.read_text())["runtime"]["library_path"])


def install(
    script: MotionScript | None = None,
    config: DeviceConfig | None = None,
    *,
    manifest: Path | None = None,
    directory: Path | None = None,
) -> tuple[SimRuntime, Path]:
    """Make a fresh :class:`SimRuntime` the process's runtime; return it and its manifest.

    Without ``manifest`` the shim is built (if needed) in ``directory`` (default: the user
    cache) and a manifest written beside it; with ``manifest`` (an existing one, e.g. from
    ``XR_RUNTIME_JSON``) the library it names is used. Set ``XR_RUNTIME_JSON`` to the
    returned path yourself: this function does not touch the environment. Instances
    created afterwards talk to the new runtime; older instances keep their runtime.
    """
    manifest = Path(manifest) if manifest is not None else write_manifest(directory)
    lib = _library(_manifest_library(manifest))
    runtime = SimRuntime(script, config)
    lib.vrmed_xr_sim_install(runtime.get_instance_proc_addr, API_VERSION)
    _INSTALLED.append(runtime)
    return runtime, manifest


def bootstrap(library: bytes) -> None:
    """Install a runtime for an application that did not: the shim calls this (with its own
    path) when the loader negotiates in a Python process where nothing is installed.

    ``VRMED_XR_SIM_EXIT_AFTER`` (frames) makes the runtime ask the session to exit after
    that many xrWaitFrame calls, so demo programs that run until the runtime stops them end;
    ``VRMED_XR_SIM_REPORT`` (a file) receives a JSON summary when the process exits.
    """
    exit_after = os.environ.get("VRMED_XR_SIM_EXIT_AFTER")
    try:
        frames = int(exit_after) if exit_after else None
    except ValueError:
        raise XrError(f"VRMED_XR_SIM_EXIT_AFTER must be a number of frames, got {exit_after!r}") from None
    runtime = SimRuntime(exit_after_frames=frames)
    _library(Path(os.fsdecode(library))).vrmed_xr_sim_install(runtime.get_instance_proc_addr, API_VERSION)
    _INSTALLED.append(runtime)
    report = os.environ.get("VRMED_XR_SIM_REPORT")
    if report:
        atexit.register(_write_report, runtime, Path(report))


def _write_report(runtime: SimRuntime, path: Path) -> None:
    """What the application did, as JSON (``VRMED_XR_SIM_REPORT``): for checking programs
    that run in their own process."""
    last = runtime.frames[-1] if runtime.frames else None
    data = {
        "frames_ended": runtime.frames_ended,
        "errors": runtime.errors,
        "calls": runtime.calls,
        "last_frame": None
        if last is None
        else {
            "layer_types": list(last.layer_types),
            "eye_mean_rgba": {str(eye): img.reshape(-1, 4).mean(axis=0).tolist() for eye, img in last.images.items()},
        },
    }
    path.write_text(json.dumps(data, indent=1))


def uninstall(manifest: Path) -> None:
    """Make the shim refuse negotiation again (the loader then reports the runtime unavailable)."""
    _library(_manifest_library(Path(manifest))).vrmed_xr_sim_install(None, 0)


def active() -> SimRuntime | None:
    """The most recently installed runtime, if any."""
    return _INSTALLED[-1] if _INSTALLED else None


def configured() -> Path | None:
    """The manifest ``XR_RUNTIME_JSON`` points at if it is this simulated runtime's, else None."""
    path = os.environ.get("XR_RUNTIME_JSON")
    return Path(path) if path and is_sim_manifest(path) else None


__all__ = [
    "API_VERSION",
    "DeviceConfig",
    "EPOCH_NS",
    "Haptic",
    "MotionScript",
    "RUNTIME_NAME",
    "ShimBuildError",
    "SimRuntime",
    "SubmittedFrame",
    "active",
    "bootstrap",
    "cache_dir",
    "configured",
    "install",
    "is_sim_manifest",
    "uninstall",
    "write_manifest",
]
