"""Shared fixtures: every test builds its own App; pack fixtures are written to tmp folders."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vrmed import App
from vrmed.benchmarks import mesh_path

REPO = Path(__file__).resolve().parents[1]
MESHES = mesh_path("liver.msh").parent  # the SOFA meshes shipped in benchmarks/meshes/


@pytest.fixture
def app():
    """A fresh App, closed after the test."""
    a = App(seed=1)
    yield a
    a.close()


@pytest.fixture(scope="module")
def ctx():
    """One headless EGL moderngl context per test module (skipped where no GL can be made)."""
    from vrmed.render import RenderUnavailable, create_context

    try:
        context = create_context("egl")
    except RenderUnavailable as exc:
        pytest.skip(f"no headless OpenGL here: {exc}")
    yield context
    context.release()


def run_scenario(pack, name: str, display_rate: float = 10.0) -> dict:
    """Run a scenario to its end (at a low display rate: the logic rate is unchanged) and
    return its event records, rubric result and outcome."""
    from vrmed.scenario import ScenarioState, evaluate_rubric
    from vrmed.session import build_session

    session = build_session(pack, name, display_rate=display_rate)
    try:
        session.run()
        log = session.finish()
        result = evaluate_rubric(session.scenario.rubric, log.events, float(session.app.clock.frame_time))
        return {"records": list(log.events), "result": result, "outcome": session.app.resource(ScenarioState).outcome}
    finally:
        session.close()


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under root (text is dedented)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def pip_install_target(source: Path, target: Path) -> Path:
    """Install the distribution at ``source`` normally (built, not editable) into ``target``,
    offline and without dependencies (they come from this venv); returns ``target``."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> Path:
    """The simulated OpenXR runtime's manifest, its C shim compiled once per test session
    (skipped only where no runtime can be built: no pyopenxr or no C compiler)."""
    pytest.importorskip("xr")
    from vrmed.xr import sim  # deferred: pyopenxr is optional for the rest of the suite

    try:
        return sim.write_manifest(tmp_path_factory.mktemp("xr-shim"))
    except sim.ShimBuildError as exc:
        pytest.skip(f"no simulated OpenXR runtime here: {exc}")
