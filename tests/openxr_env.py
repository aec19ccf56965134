"""The simulated OpenXR runtime as the XR tests use it: the Khronos core validation layer
(test_xr_openxr.py, test_xr_render.py, test_xr_conformance.py, test_team_headset.py,
test_pack_rehab.py) and headless simulated headsets (test_headset_code_blue.py,
test_headset_session_menu.py). Import after ``pytest.importorskip("xr")``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vrmed.xr import DeviceConfig, MotionScript, sim
from vrmed.xr.input import XrInputSource
from vrmed.xr.openxr_backend import OpenXrBackend

#: The API layer name of the Khronos core validation layer.
VALIDATION_LAYER = "XR_APILAYER_LUNARG_core_validation"

MakeHeadset = Callable[[Any], tuple[XrInputSource, sim.SimRuntime]]


def core_validation_dir() -> Path | None:
    """The folder where pyopenxr ships the core validation layer for this platform (its
    manifest ``XrApiLayer_core_validation.json``), or None where it ships none."""
    import xr.api_layer  # deferred: pyopenxr's layer package, found only for this lookup
    from xr.platform_folder import platform_folder

    folder = Path(xr.api_layer.__file__).parent / platform_folder()[0]
    return folder if (folder / "XrApiLayer_core_validation.json").is_file() else None


def enable_core_validation(monkeypatch: pytest.MonkeyPatch, log: Path) -> tuple[str, ...]:
    """Let the OpenXR loader find the core validation layer and have it write its findings
    to ``log`` as text (for the test's duration); the API layers an instance enables to
    load it, () where pyopenxr ships no layer here."""
    folder = core_validation_dir()
    if folder is None:
        return ()
    monkeypatch.setenv("XR_API_LAYER_PATH", str(folder))
    monkeypatch.setenv("XR_CORE_VALIDATION_EXPORT_TYPE", "text")
    monkeypatch.setenv("XR_CORE_VALIDATION_FILE_NAME", str(log))
    return (VALIDATION_LAYER,)


def validation_errors(log: Path) -> list[str]:
    """The ``VALID_ERROR`` lines the core validation layer wrote to ``log`` (none where it
    wrote no file: no layer, or no finding)."""
    if not log.is_file():
        return []
    return [ln for ln in log.read_text(errors="replace").splitlines() if "VALID_ERROR" in ln]


def headless_headsets(manifest: Path, rate: int) -> Iterator[MakeHeadset]:
    """Generator body of a ``headset`` fixture (XR_RUNTIME_JSON already pointing at
    ``manifest``): yields ``make(person)`` -> (XrInputSource, SimRuntime), a fresh simulated
    runtime at ``rate`` Hz driven by ``person.motion``, the source headless (poses and
    buttons only, no GL). After the test each source is closed and each runtime must have
    seen no API usage error."""
    made: list[tuple[XrInputSource, sim.SimRuntime]] = []

    def make(person: Any) -> tuple[XrInputSource, sim.SimRuntime]:
        rt, _ = sim.install(MotionScript(person.motion), DeviceConfig(rate=rate), manifest=manifest)
        source = XrInputSource(OpenXrBackend(None))
        made.append((source, rt))
        return source, rt

    yield make
    for source, rt in made:
        source.close()
        assert rt.errors == [], rt.errors[0]
