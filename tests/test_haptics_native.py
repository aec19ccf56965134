"""The Force Dimension device driven from the compiled servo loop, against a stand-in for
the SDK's libdhd built here from C (the real SDK needs the hardware): the loop reads the
stylus, renders the local model and writes the force through the C functions, and an SDK
error inside the servo thread becomes one HapticDisconnected event."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time

import numpy as np
import pytest

from vrmed import App, InputPlugin
from vrmed.haptics import (
    ContactPlane,
    HapticDisconnected,
    HapticInput,
    HapticLoop,
    HapticPlugin,
    HapticTarget,
    LocalModel,
)
from vrmed.haptics.native import ForceDimensionDevice
from vrmed.input import InputState

FAKE_DHD = r"""
/* Stand-in for libdhd: a stylus moving down 10 um per read (1 cm/s at 1 kHz). */
static long reads = 0, writes = 0, fail_after = -1;
static double last[3];
int dhdOpen(void) { return 0; }
int dhdOpenID(char id) { return id; }
int dhdClose(char id) { return 0; }
int dhdGetPosition(double *x, double *y, double *z, char id) {
    reads++; *x = 0.0; *y = 0.001 - 1e-5 * reads; *z = 0.0; return 0; }
int dhdGetLinearVelocity(double *x, double *y, double *z, char id) { *x = 0; *y = -0.01; *z = 0; return 0; }
int dhdSetForce(double fx, double fy, double fz, char id) {
    if (fail_after >= 0 && writes >= fail_after) return -1;
    last[0] = fx; last[1] = fy; last[2] = fz; writes++; return 0; }
int dhdGetButton(int index, char id) { return index == 0 ? 1 : 0; }
int dhdErrorGetLast(void) { return 7; }
const char *dhdErrorGetLastStr(void) { return "communication error"; }
void fake_fail_after(long n) { fail_after = n; }
long fake_writes(void) { return writes; }
void fake_last(double *out) { out[0] = last[0]; out[1] = last[1]; out[2] = last[2]; }
"""


@pytest.fixture
def libdhd(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the libdhd stand-in")
    src = tmp_path / "fakedhd.c"
    src.write_text(FAKE_DHD)
    lib = tmp_path / "libdhd.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src)], check=True)
    return str(lib)


@pytest.mark.slow
def test_native_force_dimension_loop_renders_through_the_sdk_and_a_failure_is_an_event(libdhd):
    fake = ctypes.CDLL(libdhd)
    fake.fake_writes.restype = ctypes.c_long
    device = ForceDimensionDevice(library=libdhd)
    loop = HapticLoop(device, limits="omega3")
    loop.publish_model(LocalModel(planes=[ContactPlane(np.zeros(3), np.array([0.0, 1.0, 0.0]), 1000.0)]))
    assert loop.native and loop.run_ticks(300) == 300
    # 300 reads: the stylus is 2 mm below the plane -> 1000 N/m * 2 mm, through dhdSetForce
    out = (ctypes.c_double * 3)()
    fake.fake_last(out)
    assert np.allclose(list(out), [0.0, 2.0, 0.0]) and np.allclose(loop.last_force, [0.0, 2.0, 0.0])
    assert np.allclose(loop.device_position, [0.0, -0.002, 0.0]) and loop.buttons[0] == 1.0

    # In real time on the servo thread: the SDK starts failing after 100 more writes.
    fake.fake_fail_after(ctypes.c_long(fake.fake_writes() + 100))
    app = App(seed=0)
    try:
        app.add_plugin(InputPlugin(HapticInput(loop)))
        app.add_plugin(HapticPlugin(loop))
        reader = app.event_reader(HapticDisconnected)
        seen: list[HapticDisconnected] = []
        deadline = time.perf_counter() + 20.0
        while not seen and time.perf_counter() < deadline:
            app.step()
            seen += reader.read()
            time.sleep(0.002)
        assert len(seen) == 1 and "device error 7" in (loop.error or "")
        assert app.resource(InputState).device("haptic").button("trigger") == 1.0
        frame = app.clock.frame
        app.step(5)
        assert app.clock.frame == frame + 5
    finally:
        app.close()
    assert not loop.running


def test_missing_sdk_library_is_a_clear_error(tmp_path):
    from vrmed.haptics import HapticUnavailable

    bad = tmp_path / "libdhd.so"
    bad.write_text("not a library")
    with pytest.raises(HapticUnavailable, match="not a usable Force Dimension SDK library"):
        ForceDimensionDevice(library=str(bad))


def _fake_pyopenhaptics(monkeypatch, fail_after: int):
    """A stand-in for pyOpenHaptics (its API: ``HapticDevice(callback, name)`` schedules a
    callback in the OpenHaptics servo thread; ``hd.get_transform()`` is a column-major 4x4
    with millimetres; ``hd.get_buttons()`` a bit mask; ``hd.set_force``). The scheduler stops
    calling the callback after ``fail_after`` calls, as OpenHaptics does after a device error."""
    import sys
    import threading
    import types

    forces: list[list[float]] = []
    hd = types.ModuleType("pyOpenHaptics.hd")
    hd.get_transform = lambda: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [12.0, 34.0, -5.0, 1]]
    hd.get_buttons = lambda: 0b01
    hd.set_force = forces.append
    cb = types.ModuleType("pyOpenHaptics.hd_callback")
    cb.hd_callback = lambda f: f

    class Device:
        def __init__(self, callback, name):
            self.stop = threading.Event()

            def run():
                for _ in range(fail_after):
                    if self.stop.is_set():
                        return
                    callback()
                    time.sleep(0.001)

            threading.Thread(target=run, daemon=True).start()

        def close(self):
            self.stop.set()

    dev = types.ModuleType("pyOpenHaptics.hd_device")
    dev.HapticDevice = Device
    pkg = types.ModuleType("pyOpenHaptics")
    for name, mod in (("pyOpenHaptics", pkg), ("pyOpenHaptics.hd", hd), ("pyOpenHaptics.hd_callback", cb)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setitem(sys.modules, "pyOpenHaptics.hd_device", dev)
    return forces


def test_openhaptics_adapter_maps_units_buttons_forces_and_a_stalled_scheduler(monkeypatch):
    from vrmed.haptics import open_openhaptics

    forces = _fake_pyopenhaptics(monkeypatch, fail_after=400)
    loop = HapticLoop(open_openhaptics("Left Device"), limits="touch")
    app = App(seed=0)
    try:
        app.add_plugin(InputPlugin(HapticInput(loop)))
        app.add_plugin(HapticPlugin(loop))
        reader = app.event_reader(HapticDisconnected)
        target = app.resource(HapticTarget)  # the tool pressed with 0.5 N where the stylus is
        target.proxy[:], target.force[:] = (0.012, 0.034, -0.005), (0.0, 0.5, 0.0)
        app.step()
        time.sleep(0.1)
        app.step()
        dev = app.resource(InputState).device("haptic")
        assert np.allclose(dev.position, [0.012, 0.034, -0.005]) and dev.button("trigger") == 1.0
        seen: list[HapticDisconnected] = []
        deadline = time.perf_counter() + 10.0
        while not seen and time.perf_counter() < deadline:
            app.step()
            seen += reader.read()
            time.sleep(0.005)
        assert len(seen) == 1 and "no update from the OpenHaptics scheduler" in (loop.error or "")
        assert any(np.allclose(f, [0.0, 0.5, 0.0], atol=1e-9) for f in forces)  # the loop's force reached the device
    finally:
        app.close()
