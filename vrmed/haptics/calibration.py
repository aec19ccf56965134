"""Device calibration: the device workspace mapped to the world, saved per station.

A device reports its stylus in its own frame (a Touch: millimetres about its base). A
:class:`Calibration` maps it to the world, ``x_world = s R x_dev + o``, and maps forces
back, ``F_dev = c R^T F_world``. :meth:`Calibration.from_trocar` centres the device's
workspace on a trocar's working point; a station (one training rig with its devices) keeps
its calibrations in one YAML file, so a device set up once stays set up
(:func:`save_calibration`, :func:`load_calibration`).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ConfigError
from ..geometry import quat_matrix, quat_multiply
from . import kernels as K


def _matrix_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method)."""
    tr = float(np.trace(R))
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    out = np.array(q)
    return out / np.linalg.norm(out)


@dataclass
class Calibration:
    """Device-to-world mapping: ``scale`` (world m per device m), ``rotation`` (w, x, y, z,
    device frame to world), ``offset`` (world m) and ``force_scale`` (device N per world N;
    1 renders the simulated force as is, ``scale`` would keep power equal on both sides)."""

    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0]))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    force_scale: float = 1.0

    def __post_init__(self) -> None:
        self.rotation = np.asarray(self.rotation, float)
        self.offset = np.asarray(self.offset, float)
        if self.rotation.shape != (4,) or not np.isfinite(self.rotation).all() or np.linalg.norm(self.rotation) < 0.5:
            raise ConfigError(f"calibration rotation must be a unit quaternion [w, x, y, z], got {self.rotation}")
        self.rotation = self.rotation / np.linalg.norm(self.rotation)
        if self.offset.shape != (3,) or not np.isfinite(self.offset).all():
            raise ConfigError(f"calibration offset must be 3 finite numbers (m), got {self.offset}")
        for name in ("scale", "force_scale"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and 0 < v <= 100):
                raise ConfigError(f"calibration {name} must be a number in (0, 100], got {v!r}")

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 rotation, device to world."""
        return quat_matrix(self.rotation.tolist())

    def to_world(self, p_dev: np.ndarray) -> np.ndarray:
        """A device position in world coordinates (m)."""
        return self.scale * (self.matrix @ np.asarray(p_dev, float)) + self.offset

    def to_device(self, p_world: np.ndarray) -> np.ndarray:
        """A world position in device coordinates (m)."""
        return self.matrix.T @ (np.asarray(p_world, float) - self.offset) / self.scale

    def orientation_to_world(self, q_dev: np.ndarray) -> np.ndarray:
        """A device orientation (w, x, y, z) in the world frame."""
        return np.asarray(quat_multiply(self.rotation.tolist(), list(q_dev)), float)

    def orientation_to_device(self, q_world: np.ndarray) -> np.ndarray:
        """A world orientation (w, x, y, z) in the device frame."""
        conj = self.rotation * np.array([1.0, -1.0, -1.0, -1.0])
        return np.asarray(quat_multiply(conj.tolist(), list(q_world)), float)

    def write(self, cfg: np.ndarray) -> None:
        """Into the servo's configuration array (``kernels.C_*``)."""
        cfg[K.C_SCALE] = self.scale
        cfg[K.C_ROT : K.C_ROT + 9] = self.matrix.reshape(-1)
        cfg[K.C_OFFSET : K.C_OFFSET + 3] = self.offset
        cfg[K.C_FSCALE] = self.force_scale

    @classmethod
    def from_trocar(
        cls,
        trocar: np.ndarray,
        *,
        depth: float,
        direction: np.ndarray = (0.0, -1.0, 0.0),  # type: ignore[assignment]
        workspace_center: np.ndarray = (0.0, 0.0, 0.0),  # type: ignore[assignment]
        scale: float = 1.0,
        rotation: np.ndarray | None = None,
        force_scale: float = 1.0,
    ) -> Calibration:
        """Centre the device workspace on a trocar's working point: ``workspace_center``
        (device m) lands ``depth`` m from the trocar pivot along ``direction`` (into the
        body). For a pivoting instrument the device drives the handle, outside the body:
        use a negative depth (the handle sits ``shaft_length - insertion`` behind the
        pivot); for a tool without a pivot it drives the jaw hinge: a positive depth."""
        d = np.asarray(direction, float)
        d = d / np.linalg.norm(d)
        rot = np.array([1.0, 0.0, 0.0, 0.0]) if rotation is None else np.asarray(rotation, float)
        target = np.asarray(trocar, float) + depth * d
        R = quat_matrix((rot / np.linalg.norm(rot)).tolist())
        offset = target - scale * (R @ np.asarray(workspace_center, float))
        return cls(scale, rot, offset, force_scale)

    @classmethod
    def fit(cls, device_points: np.ndarray, world_points: np.ndarray, force_scale: float = 1.0) -> Calibration:
        """Least-squares similarity transform from >= 3 touched landmarks (device positions
        and their known world positions), by Umeyama's method (1991)."""
        P = np.asarray(device_points, float)
        Q = np.asarray(world_points, float)
        if P.shape != Q.shape or P.ndim != 2 or P.shape[1] != 3 or P.shape[0] < 3:
            raise ConfigError("calibration needs >= 3 matching device and world points, each (x, y, z)")
        mp, mq = P.mean(0), Q.mean(0)
        A, B = P - mp, Q - mq
        U, S, Vt = np.linalg.svd(B.T @ A / len(P))
        D = np.eye(3)
        if np.linalg.det(U) * np.linalg.det(Vt) < 0:
            D[2, 2] = -1
        R = U @ D @ Vt
        var = float((A**2).sum() / len(P))
        if var <= 0:
            raise ConfigError("calibration points are all the same; touch distinct landmarks")
        s = float(np.trace(np.diag(S) @ D) / var)
        return cls(s, _matrix_quat(R), mq - s * R @ mp, force_scale)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a station file."""
        return {
            "scale": float(self.scale),
            "rotation": [float(v) for v in self.rotation],
            "offset": [float(v) for v in self.offset],
            "force_scale": float(self.force_scale),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibration") -> Calibration:
        """From a station file's entry (``where`` names it in errors)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping with scale, rotation, offset, force_scale")
        unknown = sorted(set(data) - {"scale", "rotation", "offset", "force_scale"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; known: force_scale, offset, rotation, scale")
        try:
            return cls(
                float(data.get("scale", 1.0)),
                np.array(data.get("rotation", [1.0, 0.0, 0.0, 0.0]), float),
                np.array(data.get("offset", [0.0, 0.0, 0.0]), float),
                float(data.get("force_scale", 1.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def stations_dir() -> Path:
    """Where station files live: ``$VRMED_STATIONS``, else ``~/.config/vrmed/stations``."""
    env = os.environ.get("VRMED_STATIONS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vrmed" / "stations"


def _station_file(station: str, directory: Path | None) -> Path:
    if not station or not all(c.isalnum() or c in "-_" for c in station):
        raise ConfigError(f"station name {station!r}: use letters, digits, '-' and '_' only")
    return (directory or stations_dir()) / f"{station}.yaml"


def load_station(station: str, directory: Path | None = None) -> dict[str, Calibration]:
    """Every device calibration of a station (empty when the station has none yet)."""
    path = _station_file(station, directory)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid station file: {exc}") from None
    devices = data.get("devices", {}) if isinstance(data, dict) else None
    if not isinstance(devices, dict):
        raise ConfigError(f"{path}: expected 'devices:' mapping device names to calibrations")
    return {str(k): Calibration.from_dict(v, f"{path}: devices.{k}") for k, v in devices.items()}


def load_calibration(station: str, device: str, directory: Path | None = None) -> Calibration | None:
    """A device's saved calibration at a station, or None if it was never calibrated there."""
    return load_station(station, directory).get(device)


def save_calibration(station: str, device: str, calibration: Calibration, directory: Path | None = None) -> Path:
    """Save (or replace) one device's calibration in the station file, atomically."""
    path = _station_file(station, directory)
    current = load_station(station, directory)
    current[device] = calibration
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        {"station": station, "devices": {k: v.to_dict() for k, v in sorted(current.items())}}, sort_keys=False
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{station}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
