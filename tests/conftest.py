"""Shared fixtures: every test builds its own App; pack fixtures are written to tmp folders."""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vrmed import App
from vrmed.benchmarks import mesh_path

REPO = Path(__file__).resolve().parents[1]
MESHES = mesh_path("liver.msh").parent  # the SOFA meshes shipped in benchmarks/meshes/


_BACKGROUND: list[subprocess.Popen] = []

#: Test files that share a costly session fixture (or a costly compiled version of a numba kernel),
#: run in one pytest-xdist worker so that it is
#: built once (``--dist loadfile``; :func:`pytest_xdist_make_scheduler`).
SHARED_FIXTURE_GROUPS = {
    "test_cautery_effects.py": "dissection_logs",  # ~20 s of dissection sessions
    "test_laparoscopy_dissection.py": "dissection_logs",
    "test_clinical_records.py": "code_blue_runs",  # ~10 s of code-blue sessions
    "test_code_blue.py": "code_blue_runs",
    # numba compiles the tissue step once per argument-type signature; a version only some files
    # use is compiled by the first of them, and again by another worker that needs it before the
    # first has written it to the on-disk cache. The volume barrier's and the pull-back's
    # versions (and the recovery kernels the pull-back test calls): ~30 s of CPU each, cold
    "test_tissue_robustness.py": "tissue_step_barrier",
    "test_softbody_kernels.py": "tissue_step_barrier",
    # the nodal volume term's version (~25 s of CPU cold, with the base step already compiled)
    "test_tissue_nodal_volume.py": "tissue_step_nodal",
    "test_softbody_pack.py": "tissue_step_nodal",
}

#: Work units (file names or group names above) handed out before all others, in this order:
#: the longest first. xdist orders the units by their number of tests, so the two-test file with
#: the suite's longest unit (~100 s: the two PyInstaller builds, tests/simulator_builds.py) came
#: near the end, and the worker that got it finished last while the other had run out of work
#: (measured: it started at 84 % of the run, the workers ended 43 s apart on a loaded machine).
#: The other long units of few tests came last for the same reason (test_desktop_scissors.py,
#: one test, ~23 s, was among the last eight units handed out); listed here after the largest
#: unit, they start early and the files of a second or two fill the end. CPU seconds of each
#: unit in one serial run on a clean clone (2026-12-02, loaded VM): builds 153, tissue_step_barrier
#: 272, dissection_logs 68, scissors dissection 68, laparoscopy 60, desktop pattern cutting 44,
#: external tools pack 34, contact sweep 33, headset code blue 28, desktop scissors 23.
LONG_UNITS_FIRST = (
    "test_simulator_builds.py",
    "tissue_step_barrier",  # the largest unit: the other worker starts it at once, as before
    "dissection_logs",
    "test_laparoscopy_dissection_scissors.py",
    "test_laparoscopy.py",
    "test_desktop_pattern_cutting.py",
    "test_external_tools_pack.py",
    "test_contact_sweep.py",
    "test_headset_code_blue.py",
    "test_desktop_scissors.py",
)


if importlib.util.find_spec("xdist") is not None:  # the hook exists only with pytest-xdist

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        """Under ``pytest -n N --dist loadfile`` (the README's test command) each test file is
        one unit of work for one worker, so its module fixtures are built once; the files in
        :data:`SHARED_FIXTURE_GROUPS` are one unit together, and the units of
        :data:`LONG_UNITS_FIRST` are handed out first, in that order. (xdist's own ``loadgroup`` marks
        do not group under pytest 9: the node id they rename is no longer used.)"""
        if config.getvalue("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling  # deferred: only under xdist

        class SharedFixtureScheduling(LoadFileScheduling):
            def _split_scope(self, nodeid: str) -> str:
                scope = super()._split_scope(nodeid)
                return SHARED_FIXTURE_GROUPS.get(Path(scope).name, scope)

            def _assign_work_unit(self, node: Any) -> None:
                # the units of LONG_UNITS_FIRST still waiting go to the front of the queue, in
                # that tuple's order (the longest first)
                waiting = {Path(s).name: s for s in self.workqueue}
                for name in reversed(LONG_UNITS_FIRST):
                    if name in waiting:
                        self.workqueue.move_to_end(waiting[name], last=False)
                super()._assign_work_unit(node)

        return SharedFixtureScheduling(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    """When an LRS test will run and ralph's virtualenv is not built (a fresh clone), build it
    now in a niced background process, so its ~45 s pip install overlaps the tests before it
    (tests/ralph_venv.py; the LRS fixture waits on the same lock)."""
    first = next((i for i, item in enumerate(session.items) if item.path.name == "test_records_lrs.py"), None)
    if first:  # not when an LRS test runs first: then nothing overlaps, and its fixture builds unniced
        from ralph_venv import start_background_build  # deferred: only when LRS tests run

        proc = start_background_build()
        if proc is not None:
            _BACKGROUND.append(proc)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop a background build the session did not wait for (its venv is rebuilt next time)."""
    import signal  # deferred: only needed at the end of a session

    for proc in _BACKGROUND:
        if proc.poll() is None:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGTERM)  # its own process group: pip with it
            else:
                proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def app():
    """A fresh App, closed after the test."""
    a = App(seed=1)
    yield a
    a.close()


@pytest.fixture(scope="session")
def emergency_pack():
    """The built-in emergency pack, loaded once per test session (loading validates every
    scenario, a few seconds); tests must not modify it."""
    # deferred: only the clinical tests need a pack; the team tests' copy is this same one
    from team_common import emergency_pack as shared

    return shared()


@pytest.fixture(scope="session")
def nursing_pack():
    """The built-in nursing pack, loaded once per test session; tests must not modify it."""
    from vrmed.session import open_target  # deferred: only the clinical tests need a pack

    return open_target("nursing")[0]


@pytest.fixture(scope="session")
def laparoscopy_pack():
    """The built-in laparoscopy pack, loaded once per test session; tests must not modify it."""
    from vrmed.session import open_target  # deferred: only the laparoscopy tests need a pack

    return open_target("laparoscopy")[0]


@pytest.fixture(scope="session")
def dissection_logs(laparoscopy_pack):
    """The expert's and the novice's dissection runs (seed 0, whole duration), recorded once
    per test session: several modules check them (a few seconds of tissue simulation each)."""
    from vrmed.session import build_session  # deferred: only the laparoscopy tests need it

    logs = {}
    for name in ("dissection", "dissection_novice"):
        session = build_session(laparoscopy_pack, name, seed=0)
        try:
            session.run(seconds=session.scenario.duration)
            logs[name] = session.finish()
        finally:
            session.close()
    return logs


@pytest.fixture(scope="session")
def packaged_simulators(tmp_path_factory):
    """test_guide's and test_packaging's ``vrmed package`` builds, made side by side once per
    session (~45 s of single-threaded PyInstaller each: tests/simulator_builds.py)."""
    from simulator_builds import build_both  # deferred: only the two packaging tests build

    return build_both(tmp_path_factory.mktemp("simulators"))


def _egl_context():
    """Generator body of the GL context fixtures: a headless EGL moderngl context (GL 3.3+),
    released after, or a skip where no GL can be made."""
    from vrmed.render import RenderUnavailable, create_context  # deferred: GL only for GL tests

    try:
        context = create_context("egl")
    except RenderUnavailable as exc:
        pytest.skip(f"no headless OpenGL here: {exc}")
    yield context
    context.release()


@pytest.fixture(scope="module")
def ctx():
    """One headless EGL moderngl context per test module (skipped where no GL can be made)."""
    yield from _egl_context()


@pytest.fixture
def gl_ctx():
    """A fresh headless EGL moderngl context for each test (the XR tests: the runtime's
    swapchains and the app's renderer share it, no GL state carried between tests)."""
    yield from _egl_context()


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


def run_code_blue(pack, name: str, tmp_path_factory) -> dict:
    """Run an emergency code-blue scenario (seed 0, 10 Hz display; logic 20 Hz as in the
    scenario), sampling the patient during CPR, at ROSC and 15 s after; returns the stored
    log's path, rubric result, samples, records, outcome, state history and live summary."""
    from vrmed.scenario import ScenarioState, evaluate_rubric
    from vrmed.session import build_session
    from vrmed.systems.clinical.physiology import population

    session = build_session(pack, name, seed=0, display_rate=10)
    samples = {}
    try:
        session.run(seconds=100)
        samples["cpr"] = population(session.app).vitals(0)
        state = session.app.resource(ScenarioState)
        while not state.ended and session.app.clock.frame_time < session.scenario.duration:
            session.run(frames=1)
        samples["at_rosc"] = population(session.app).vitals(0)
        session.run(seconds=15)
        samples["after_rosc"] = population(session.app).vitals(0)
        log = session.finish()
        path = tmp_path_factory.mktemp(name) / "session.jsonl"
        log.write(path)
        end = float(session.app.clock.frame_time)
        return {
            "log": path,
            "result": evaluate_rubric(session.scenario.rubric, log.events, end),
            "samples": samples,
            "end": end,
            "records": list(log.events),
            "outcome": state.outcome,
            "history": [h[1:3] for h in state.history],
            "summary": pack.summary(session.app),
        }
    finally:
        session.close()


@pytest.fixture(scope="session")
def code_blue_runs(emergency_pack, tmp_path_factory):
    """code_blue and code_blue_errors run once per test session (``run_code_blue``): the
    code-blue and clinical-records modules both check them (~10 s of simulation)."""
    return {name: run_code_blue(emergency_pack, name, tmp_path_factory) for name in ("code_blue", "code_blue_errors")}


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


# -- a virtual X display for window, desktop-input and X11 tests ------------------------


def _die_with_parent() -> None:
    """In the Xvfb child (Linux): get SIGTERM when the test process dies, even by a crash."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_xvfb(screen: str = "640x480x24") -> tuple[subprocess.Popen, str] | None:
    """Start Xvfb on a free display number it picks itself; (process, ":N") or None."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    os.close(write_fd)
    number = b""
    try:
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 10.0)
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                break
            number += chunk
    finally:
        os.close(read_fd)
    if not number.strip().isdigit():
        stop_process(proc)
        return None
    return proc, f":{number.strip().decode()}"


def xvfb_display(screen: str):
    """Generator body of a module's display fixture: an Xvfb display of its own (DISPLAY set
    while the module runs, restored after), ready for X clients, or a skip without
    Xvfb/xdotool. Use as ``yield from xvfb_display("1024x768x24")``."""
    import time  # deferred: only the desktop tests wait for a display

    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (.ci/run installs them)")
    # -displayfd: Xvfb picks a free display and reports it only once it accepts clients (a
    # socket file can exist before that, which made an early window open fail)
    started = start_xvfb(screen)
    if started is None:
        pytest.skip("Xvfb did not start")
    proc, name = started
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = name
    try:
        # a window opened right after the start could still fail ("Failed to open display"):
        # poll until an X client connects (short intervals, 10 s at most)
        deadline = time.monotonic() + 10.0
        while subprocess.run(["xdotool", "getdisplaygeometry"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.skip(f"Xvfb {name} accepts no clients")
            time.sleep(0.05)
        yield name
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        stop_process(proc)


def own_or_current_display(screen: str = "640x480x24"):
    """Generator body of a module's display fixture for tests that need no xdotool: an Xvfb
    display of its own when Xvfb is installed (DISPLAY set, WAYLAND_DISPLAY unset while the
    module runs), else the current $DISPLAY, else a skip. Use as
    ``yield from own_or_current_display()``."""
    started = start_xvfb(screen)
    with pytest.MonkeyPatch.context() as mp:
        if started is not None:
            mp.setenv("DISPLAY", started[1])
            mp.delenv("WAYLAND_DISPLAY", raising=False)
        elif not os.environ.get("DISPLAY"):
            pytest.skip("no X display: neither Xvfb nor DISPLAY is available (apt install xvfb)")
        try:
            yield os.environ["DISPLAY"]
        finally:
            if started is not None:
                stop_process(started[0])


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a helper process (Xvfb), killing it if it does not stop within 5 s."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def bilinear(image, rows, cols):
    """``image`` sampled at fractional (row, col) texel coordinates, bilinearly, edges clamped
    (what GL's LINEAR filter does with clamped texture coordinates): the reference the image
    drawing tests compare rendered pixels with."""
    import numpy as np  # deferred: only the image tests need it

    r = np.clip(rows, 0, image.shape[0] - 1)
    c = np.clip(cols, 0, image.shape[1] - 1)
    r0 = np.minimum(np.floor(r).astype(int), image.shape[0] - 2)
    c0 = np.minimum(np.floor(c).astype(int), image.shape[1] - 2)
    fr, fc = r - r0, c - c0
    return (
        image[r0, c0] * (1 - fr) * (1 - fc)
        + image[r0 + 1, c0] * fr * (1 - fc)
        + image[r0, c0 + 1] * (1 - fr) * fc
        + image[r0 + 1, c0 + 1] * fr * fc
    )


def patient_cohort(n: int, **patient):
    """An App with the physiology plugin at 2 Hz and ``n`` identical patients (keyword
    arguments of ``Patient``), registered: (app, population)."""
    # deferred: only the physiology tests need these
    from vrmed.components.clinical import Patient
    from vrmed.components.scene.core import Name
    from vrmed.systems.clinical.physiology import PhysiologyPlugin, population

    app = App(seed=0, display_rate=2, rates={"logic": 2, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    for i in range(n):
        app.spawn(Patient(**patient), Name(f"p{i}"))
    app.step(1)  # registers every patient in the population
    return app, population(app)
