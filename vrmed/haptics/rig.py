"""A station's haptic devices bound to a scenario's instruments (bimanual setups).

A scenario declares its devices under ``settings.haptics`` (see
``content/laparoscopy/scenarios/peg_transfer_haptic.yaml``)::

    haptics:
      rate: 1000                     # servo Hz (4000 for stiff contacts)
      devices:
        left_hand:                   # the InputState name the instrument reads (its `device`)
          family: openhaptics        # openhaptics | forcedimension | simulated
          name: "Left Device"        # the SDK's device name / id (optional)
          limits: touch              # a key of DEVICE_LIMITS
          target: [-0.06, 0.06, 0.0] # world point the workspace centre maps to (m)
          scale: 1.0                 # world m per device m
        right_hand: {family: openhaptics, name: "Right Device", limits: touch, target: [0.06, 0.06, 0.0]}

:meth:`HapticRig.from_settings` opens the devices; a calibration saved for the station
(:func:`~vrmed.haptics.calibration.save_calibration`) replaces the scenario's default
mapping. ``rig.input(base)`` is the input source and ``rig.plugin()`` the App plugin.
The ``simulated`` family replays an input source (e.g. the scenario's scripted trainee)
through simulated devices, so the whole device path runs without hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..input import InputSource
from .calibration import Calibration, load_station
from .device import (
    DEVICE_LIMITS,
    HapticDevice,
    NativeDevice,
    SimulatedHapticDevice,
    open_forcedimension,
    open_openhaptics,
)
from .loop import HapticLoop
from .native import ForceDimensionDevice, find_libdhd
from .plugin import BUTTON_NAMES, HapticInput, HapticPlugin

FAMILIES = ("openhaptics", "forcedimension", "simulated")
_DEVICE_KEYS = {"family", "name", "limits", "target", "scale", "rotation", "force_scale", "jaw_button"}


@dataclass
class DeviceSpec:
    """One device of ``settings.haptics.devices`` (validated)."""

    binding: str
    family: str
    name: str | None
    limits: str
    calibration: Calibration


def parse_settings(settings: Any, where: str = "settings.haptics") -> tuple[float, list[DeviceSpec]]:
    """Validate a scenario's ``haptics`` settings; errors name the key."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'devices:'")
    unknown = sorted(set(settings) - {"rate", "devices"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: devices, rate")
    rate = settings.get("rate", 1000.0)
    if not isinstance(rate, int | float) or not 100 <= rate <= 10_000:
        raise ConfigError(f"{where}.rate: a servo rate in Hz between 100 and 10000, got {rate!r}")
    devices = settings.get("devices")
    if not isinstance(devices, Mapping) or not devices:
        raise ConfigError(f"{where}.devices: map InputState device names to device settings")
    specs = []
    for binding, data in devices.items():
        at = f"{where}.devices.{binding}"
        if not isinstance(data, Mapping):
            raise ConfigError(f"{at}: expected a mapping")
        bad = sorted(set(data) - _DEVICE_KEYS)
        if bad:
            raise ConfigError(f"{at}: unknown key(s) {bad}; known: {', '.join(sorted(_DEVICE_KEYS))}")
        family = data.get("family", "openhaptics")
        if family not in FAMILIES:
            raise ConfigError(f"{at}.family: {family!r} is not one of {', '.join(FAMILIES)}")
        limits = data.get("limits", "touch")
        if limits not in DEVICE_LIMITS:
            raise ConfigError(f"{at}.limits: {limits!r} is not one of {', '.join(DEVICE_LIMITS)}")
        try:
            cal = Calibration(
                float(data.get("scale", 1.0)),
                np.array(data.get("rotation", [1.0, 0.0, 0.0, 0.0]), float),
                np.zeros(3),
                float(data.get("force_scale", 1.0)),
            )
            target = np.array(data.get("target", [0.0, 0.0, 0.0]), float)
            if target.shape != (3,) or not np.isfinite(target).all():
                raise ConfigError(f"target must be 3 finite numbers (m), got {data.get('target')!r}")
        except (TypeError, ValueError, ConfigError) as exc:
            raise ConfigError(f"{at}: {exc}") from None
        cal.offset = target
        name = data.get("name")
        if family == "forcedimension" and name is not None and not (isinstance(name, int) and 0 <= name < 128):
            raise ConfigError(f"{at}.name: a Force Dimension device is named by its index 0..127, got {name!r}")
        specs.append(DeviceSpec(str(binding), family, None if name is None else str(name), limits, cal))
    return float(rate), specs


class HapticRig:
    """Devices and their servo loops, by the InputState name each one drives."""

    def __init__(self, loops: Mapping[str, HapticLoop], *, lockstep: bool = False) -> None:
        self.loops = dict(loops)
        self.lockstep = lockstep

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        station: str | None = None,
        stations: Path | None = None,
        script: InputSource | None = None,
        duration: float = 60.0,
        lockstep: bool = False,
    ) -> HapticRig:
        """Open every device of a scenario's ``haptics`` settings. ``station``: use the
        calibrations saved for that station where there are any. ``script``: the input
        source simulated devices replay (sampled every 2 ms over ``duration`` s)."""
        rate, specs = parse_settings(settings)
        saved = load_station(station, stations) if station else {}
        loops: dict[str, HapticLoop] = {}
        try:
            for spec in specs:
                cal = saved.get(spec.binding, spec.calibration)
                device: HapticDevice | NativeDevice
                if spec.family == "simulated":
                    device = simulated_from_input(script, spec.binding, cal, duration=duration)
                elif spec.family == "openhaptics":
                    device = open_openhaptics(spec.name or "Default Device")
                elif find_libdhd() is not None:  # the SDK is there: the compiled, GIL-free loop
                    device = ForceDimensionDevice(None if spec.name is None else int(spec.name))
                else:
                    device = open_forcedimension(None if spec.name is None else int(spec.name))
                loops[spec.binding] = HapticLoop(device, rate=rate, limits=spec.limits, calibration=cal)
        except BaseException:
            for loop in loops.values():
                loop.stop()
            raise
        return cls(loops, lockstep=lockstep)

    def input(self, base: InputSource | None = None) -> HapticInput:
        """The input source: ``base``'s samples plus every device."""
        return HapticInput(self.loops, base, lockstep=self.lockstep)

    def plugin(self, **options: Any) -> HapticPlugin:
        """The App plugin (servo threads start with the App unless lock-stepped)."""
        return HapticPlugin(self.loops, start=not self.lockstep, **options)

    def attach(self, app: Any) -> None:
        """Add the plugin to an App built with :meth:`input` as its source (before its
        first frame)."""
        app.add_plugin(self.plugin())

    def close(self) -> None:
        """Stop every loop."""
        for loop in self.loops.values():
            loop.stop()


def simulated_from_input(
    source: InputSource | None, device: str, calibration: Calibration, *, duration: float = 60.0, dt: float = 2e-3
) -> SimulatedHapticDevice:
    """A simulated stylus that replays ``device``'s poses and buttons from an input source
    (world poses mapped into the device frame by ``calibration``), so a scripted trainee
    drives an instrument through the haptic path."""
    n = int(round(duration / dt)) + 1
    pos = np.zeros((n, 3))
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    but = np.zeros((n, 4))
    world_pos = calibration.offset.copy()
    world_q = np.array([1.0, 0.0, 0.0, 0.0])
    buttons: dict[str, float] = {}
    for i in range(n):
        data = source.sample(i * dt, 0).get(device, {}) if source is not None else {}
        if "position" in data:
            world_pos = np.asarray(data["position"], float)
        if "orientation" in data:
            world_q = np.asarray(data["orientation"], float)
        buttons.update(data.get("buttons", {}))
        pos[i] = calibration.to_device(world_pos)
        quat[i] = calibration.orientation_to_device(world_q)
        for j, label in enumerate(BUTTON_NAMES):
            but[i, j] = buttons.get(label, 0.0)
    return SimulatedHapticDevice(pos, orientations=quat, buttons=but, dt=dt, name=f"simulated-{device}")
