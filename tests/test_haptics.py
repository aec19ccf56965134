"""Haptics: virtual coupling and interpolation (exact maths), the servo thread, and a
device that disconnects mid-session."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vrmed import App, InputPlugin
from vrmed.haptics import (
    HapticDisconnected,
    HapticInput,
    HapticLoop,
    HapticPlugin,
    HapticTarget,
    HapticUnavailable,
    SimulatedHapticDevice,
    open_openhaptics,
)


def test_coupling_force_is_contact_plus_spring_minus_damper():
    loop = HapticLoop(SimulatedHapticDevice(), k=200.0, b=2.0, max_force=100.0)
    loop.publish(0.0, np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    loop.publish(0.01, np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    f = loop.coupling_force(0.01, np.array([0.0, -0.002, 0.0]), np.array([0.0, -0.1, 0.0]))
    # 1 N contact + 200 N/m * 2 mm + 2 N s/m * 0.1 m/s
    assert np.allclose(f, [0.0, 1.0 + 0.4 + 0.2, 0.0])


def test_interpolation_between_simulation_steps_and_hold_after_the_last():
    loop = HapticLoop(SimulatedHapticDevice(), k=0.0, b=0.0)
    loop.publish(0.000, np.zeros(3), np.array([0.0, 0.0, 0.0]))
    loop.publish(0.010, np.zeros(3), np.array([0.0, 2.0, 0.0]))
    for t, expected in ((0.0, 0.0), (0.0025, 0.5), (0.005, 1.0), (0.010, 2.0), (0.05, 2.0)):
        assert loop.coupling_force(t, np.zeros(3), np.zeros(3))[1] == pytest.approx(expected)


def test_force_is_clamped_to_the_device_maximum():
    loop = HapticLoop(SimulatedHapticDevice(), k=1e4, max_force=3.3)
    loop.publish(0.0, np.array([0.0, 0.1, 0.0]), np.zeros(3))
    assert np.linalg.norm(loop.coupling_force(0.0, np.zeros(3), np.zeros(3))) == pytest.approx(3.3)


def test_static_press_renders_the_published_contact_force():
    """A stylus held still at the proxy feels exactly the contact force physics computed."""
    device = SimulatedHapticDevice(lambda t: np.array([0.0, 0.05, 0.0]))
    loop = HapticLoop(device)
    for k in range(3):
        loop.publish(k / 900, np.array([0.0, 0.05, 0.0]), np.array([0.0, 1.25, 0.0]))
    for i in range(5):
        loop.servo_once(0.01 + i * 0.001)
    assert np.allclose(device.logged(), [[0.0, 1.25, 0.0]] * 5)


def test_servo_thread_runs_beside_the_simulation_and_disconnect_is_an_event():
    device = SimulatedHapticDevice(lambda t: np.array([0.0, 0.1 + 0.01 * t, 0.0]), disconnect_after=150)
    loop = HapticLoop(device)
    app = App(seed=0)
    try:
        app.add_plugin(InputPlugin(HapticInput(loop)))
        app.add_plugin(HapticPlugin(loop))
        reader = app.event_reader(HapticDisconnected)
        seen = []
        deadline = time.perf_counter() + 5.0
        while not seen and time.perf_counter() < deadline:
            app.step()
            app.resource(HapticTarget).force[:] = (0.0, 0.5, 0.0)
            seen += reader.read()
            time.sleep(0.002)
        assert len(seen) == 1 and seen[0].device == "haptic"
        assert device.count == 150 and loop.error == "haptic device 'simulated' disconnected"
        frame = app.clock.frame
        app.step(10)  # the simulation keeps running without the device
        assert app.clock.frame == frame + 10 and reader.read() == []
    finally:
        app.close()
    assert not loop.running


def test_openhaptics_without_the_sdk_is_a_clear_error():
    with pytest.raises(HapticUnavailable, match="needs the pyopenhaptics package"):
        open_openhaptics()
