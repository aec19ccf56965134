"""Compile the runtime shim (on first use) and write the runtime manifest.

The shared library lands in a per-user cache (``$VRMED_CACHE_DIR`` or
``$XDG_CACHE_HOME/vrmed/xr`` or ``~/.cache/vrmed/xr``), named after a hash of the C
source and compiler flags, so an edited shim is rebuilt and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..interface import XrError

SOURCE = Path(__file__).with_name("shim.c")
CFLAGS = ("-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", "-Werror")
LDLIBS = ("-ldl",)  # dlsym/dladdr (part of libc since glibc 2.34; a separate library before)
RUNTIME_NAME = "vrmed simulated runtime"


class ShimBuildError(XrError):
    """The C shim could not be compiled (no compiler, or it failed)."""


def cache_dir() -> Path:
    """Where the compiled shim and the manifest live."""
    env = os.environ.get("VRMED_CACHE_DIR")
    if env:
        return Path(env) / "xr"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vrmed" / "xr"


def _compiler() -> str:
    for cand in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cand and shutil.which(cand):
            return cand
    raise ShimBuildError(
        "the simulated OpenXR runtime needs a C compiler to build its 140-line shim; install gcc (or set CC)"
    )


def shim_path(directory: Path | None = None) -> Path:
    """The compiled shim, building it first if needed."""
    if sys.platform == "win32":
        raise ShimBuildError("the simulated OpenXR runtime is not supported on Windows yet")
    try:
        source = SOURCE.read_bytes()
    except OSError:
        raise ShimBuildError(
            f"{SOURCE} is missing: this vrmed was installed without the shim's C source (package data of vrmed.xr.sim)"
        ) from None
    key = hashlib.sha256(source + " ".join(CFLAGS + LDLIBS).encode()).hexdigest()[:16]
    directory = directory or cache_dir()
    target = directory / f"libvrmed_xr_sim-{key}.so"
    if target.is_file():
        return target
    compiler = _compiler()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename: concurrent test workers never see half a file.
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=directory)
    except OSError as exc:
        raise ShimBuildError(f"cannot write the shim to {directory} ({exc}); set VRMED_CACHE_DIR") from None
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *CFLAGS, "-o", tmp, str(SOURCE), *LDLIBS], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ShimBuildError(f"compiling {SOURCE.name} with {compiler} failed:\n{proc.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def write_manifest(directory: Path | None = None) -> Path:
    """Write (if changed) the OpenXR runtime manifest for the shim; point ``XR_RUNTIME_JSON`` at it."""
    lib = shim_path(directory)
    manifest = {"file_format_version": "1.0.0", "runtime": {"name": RUNTIME_NAME, "library_path": str(lib.resolve())}}
    path = lib.parent / "vrmed_xr_sim.json"
    text = json.dumps(manifest, indent=2) + "\n"
    if not path.is_file() or path.read_text() != text:
        fd, tmp = tempfile.mkstemp(suffix=".json", dir=lib.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return path


def is_sim_manifest(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is a manifest of this simulated runtime."""
    if not path:
        return False
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    runtime = data.get("runtime") if isinstance(data, dict) else None
    return isinstance(runtime, dict) and runtime.get("name") == RUNTIME_NAME
