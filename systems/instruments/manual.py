"""Instruments and the endoscope driven by desktop controls (mouse, keyboard, gamepad).

The desktop input (:mod:`vrmed.desktop.source`) records named control *targets* on the
``"desktop"`` pseudo-device of :class:`vrmed.InputState`, per instrument device
(``"<device>.yaw"``, ``.pitch``, ``.insert``, ``.roll`` as offsets from the start pose in
radians and metres, ``.jaw`` 0..1) and for the scope (``"scope.yaw"``, ``.pitch``, ``.zoom``,
``.roll``). ``instruments.manual`` (``control.instruments``, before ``instruments.control``)
turns them into device poses, every display frame, as a pure function of the recorded
samples (so a replay is exact):

- every tool moves about a pivot: its trocar (``pivot: true``), or for box-trainer tools
  (``pivot: false``) a virtual port :data:`PORT_DEPTH` behind the start jaw hinge along the
  shaft. The start direction ``d0`` is turned by ``R_x(pitch) R_z(yaw)`` (rotations about
  the world x and z axes through the pivot): for a tool pointing down into a field seen
  from the front and above, yaw moves the tip right/left and pitch away from / towards the
  camera, so the mouse moves the tip the way the cursor would (the fulcrum's mirror effect
  is taken out, as in desktop laparoscopy trainers); insertion moves the hinge along the
  shaft; roll turns the jaws about it;
- motion towards the targets is smoothed (first order, :data:`SMOOTHING_S`) and
  rate-limited: the jaw hinge moves at most :data:`MAX_TIP_SPEED` m/s, the shaft turns at
  most :data:`MAX_PIVOT_RATE` rad/s, rolls at most :data:`MAX_ROLL_RATE` rad/s, and the jaw
  closes/opens fully in no less than 1 / :data:`MAX_JAW_RATE` s. A mouse jump therefore
  moves the tip a few millimetres per frame (0.25 m/s / 90 Hz = 2.8 mm), small against the
  physics substeps' contact handling, never through tissue in one step;
- the endoscope (the first active ``Endoscope`` entity with a ``Transform``) pans about a
  virtual port :data:`SCOPE_PORT_DEPTH` behind its lens, zooms by moving along its shaft and
  rolls about it (an angled scope then sweeps its view), with the same smoothing and limits.

The start pose of each tool is its device's pose when the first desktop controls arrive
(the desktop input's first sample carries the scenario's start poses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vrmed.components.instruments.instrument import Instrument
from vrmed.components.scene.core import Transform
from vrmed.components.scene.render import Endoscope
from vrmed.geometry import quat_matrix
from vrmed.input import InputState

if TYPE_CHECKING:  # pragma: no cover
    from vrmed.app import App

#: The pseudo-device carrying desktop control targets (vrmed.desktop.DESKTOP).
DESKTOP = "desktop"
#: Virtual port of a box-trainer tool (pivot: false): this far behind the start jaw hinge (m).
PORT_DEPTH = 0.15
#: A box-trainer tool whose start pose does not point down (shaft less than 60 degrees
#: below horizontal) is turned to come down from its own side (x < 0: from the left) with
#: this horizontal:vertical slope, about 24 degrees from vertical, like a box trainer's top ports.
BOX_PORT_TILT = 0.45
#: Virtual port of the endoscope: this far behind its lens along the shaft (m).
SCOPE_PORT_DEPTH = 0.10
#: Closest the jaw hinge (or lens) may come to its pivot (m).
MIN_DEPTH = 0.01
#: First-order smoothing time constant of every control (s).
SMOOTHING_S = 0.03
#: Rate limits: jaw-hinge (lens) speed (m/s), shaft angular speed about the pivot (rad/s),
#: roll rate (rad/s) and jaw closure rate (full closures per second).
MAX_TIP_SPEED = 0.25
MAX_PIVOT_RATE = 3.0
MAX_ROLL_RATE = 4.0
MAX_JAW_RATE = 10.0


@dataclass
class ManualPose:
    """One manually driven tool (or the scope): its pivot, start direction, start depth and
    roll reference, and the current (smoothed, rate-limited) yaw, pitch, depth offset, roll
    and jaw."""

    port: np.ndarray
    d0: np.ndarray
    depth0: float
    x0: np.ndarray
    q: np.ndarray = field(default_factory=lambda: np.zeros(4))
    jaw: float = 0.0


@dataclass
class ManualControl:
    """Resource: the manual pose of every desktop-driven instrument (by entity) and the scope."""

    tools: dict[int, ManualPose] = field(default_factory=dict)
    scope: ManualPose | None = None
    scope_entity: int = -1


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation matrix about a unit axis."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def frame_of(pose: ManualPose, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hinge or lens position, tool frame 3x3 with columns x, y, z = -direction) of a pose
    at controls ``q`` = (yaw, pitch, depth offset, roll)."""
    rot = _rot_x(float(q[1])) @ _rot_z(float(q[0]))
    d = rot @ pose.d0
    x = rot @ pose.x0
    x = _axis_angle(d, float(q[3])) @ x
    x -= (x @ d) * d
    x /= np.linalg.norm(x)
    z = -d
    y = np.cross(z, x)
    point = pose.port + max(pose.depth0 + float(q[2]), MIN_DEPTH) * d
    return point, np.stack([x, y, z], axis=1)


def quat_from_frame(m: np.ndarray) -> list[float]:
    """Unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method)."""
    tr = float(m[0, 0] + m[1, 1] + m[2, 2])
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    arr = np.asarray(q, float)
    arr /= np.linalg.norm(arr)
    return [float(v) for v in (arr if arr[0] >= 0 else -arr)]


def _start_pose(port: np.ndarray, direction: np.ndarray, depth: float, x_hint: np.ndarray) -> ManualPose:
    d = direction / np.linalg.norm(direction)
    x = x_hint - (x_hint @ d) * d
    if np.linalg.norm(x) < 1e-6:
        alt = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
        x = alt - (alt @ d) * d
    return ManualPose(np.asarray(port, float), d, float(depth), x / np.linalg.norm(x))


def step_pose(pose: ManualPose, target: np.ndarray, dt: float) -> None:
    """Move ``pose.q`` towards ``target`` (yaw, pitch, depth offset, roll) by one frame of
    ``dt`` s: first-order smoothing, then the rate limits of the module docstring."""
    if dt <= 0.0:
        return
    alpha = 1.0 - math.exp(-dt / SMOOTHING_S)
    step = (np.asarray(target, float) - pose.q) * alpha
    ang = math.hypot(step[0], step[1])
    if ang > MAX_PIVOT_RATE * dt:
        step[:2] *= MAX_PIVOT_RATE * dt / ang
    step[3] = float(np.clip(step[3], -MAX_ROLL_RATE * dt, MAX_ROLL_RATE * dt))
    old, _ = frame_of(pose, pose.q)
    limit = MAX_TIP_SPEED * dt
    for _ in range(4):  # scale the whole move so the tip keeps its path; the chord is not
        new, _ = frame_of(pose, pose.q + step)  # linear in the angles, so check again
        travel = float(np.linalg.norm(new - old))
        if travel <= limit:
            break
        step[:3] *= limit / travel * (1.0 - 1e-9)
    pose.q += step


def instruments_manual_system(app: App) -> None:
    """control.instruments (before instruments.control): desktop control targets ->
    instrument device poses and jaw values, and the endoscope's Transform."""
    inputs = app.try_resource(InputState)
    if inputs is None or DESKTOP not in inputs.devices:
        return
    controls = inputs.devices[DESKTOP].buttons
    if not controls:
        return
    state = app.try_resource(ManualControl)
    if state is None:
        state = ManualControl()
        app.insert_resource(state)
    dt = float(app.clock.exact_dt)
    target = np.zeros(4)
    for entity, inst in sorted(app.query(Instrument), key=lambda e: e[0]):
        key = inst.device
        if f"{key}.yaw" not in controls:
            continue
        dev = inputs.device(key)
        pose = state.tools.get(entity)
        if pose is None:
            rot = quat_matrix(tuple(float(v) for v in dev.orientation))
            if inst.pivot:
                handle = np.asarray(dev.position, float)
                d = np.asarray(inst.trocar, float) - handle
                depth = inst.shaft_length - float(np.linalg.norm(d))
                pose = _start_pose(np.asarray(inst.trocar, float), d, depth, rot[:, 0])
            else:
                d = -rot[:, 2]
                hinge = np.asarray(dev.position, float)
                if d[1] > -0.5:  # not pointing down into the field: come down from the tool's side
                    d = np.array([-math.copysign(BOX_PORT_TILT, hinge[0] or 1.0), -1.0, 0.0])
                    d /= np.linalg.norm(d)
                pose = _start_pose(hinge - PORT_DEPTH * d, d, PORT_DEPTH, rot[:, 0])
            state.tools[entity] = pose
        for i, dof in enumerate(("yaw", "pitch", "insert", "roll")):
            target[i] = controls.get(f"{key}.{dof}", 0.0)
        step_pose(pose, target, dt)
        jaw = float(np.clip(controls.get(f"{key}.jaw", 0.0), 0.0, 1.0))
        pose.jaw += float(np.clip(jaw - pose.jaw, -MAX_JAW_RATE * dt, MAX_JAW_RATE * dt))
        hinge, frame = frame_of(pose, pose.q)
        # with a trocar the device is the handle, shaft_length behind the hinge (frame z = -direction)
        position = hinge + inst.shaft_length * frame[:, 2] if inst.pivot else hinge
        dev.position[:] = position
        dev.orientation[:] = quat_from_frame(frame)
        dev.buttons[inst.jaw_button] = pose.jaw
    if "scope.yaw" in controls:
        _drive_scope(app, state, controls, dt)


def _drive_scope(app: App, state: ManualControl, controls: dict[str, float], dt: float) -> None:
    if state.scope is None:
        for entity, (tf, scope) in sorted(app.query(Transform, Endoscope), key=lambda e: e[0]):
            if scope.active:
                rot = quat_matrix(tuple(float(v) for v in tf.orientation))
                d = -rot[:, 2]
                lens = np.asarray(tf.position, float) + scope.tip_offset * d
                state.scope = _start_pose(lens - SCOPE_PORT_DEPTH * d, d, SCOPE_PORT_DEPTH, rot[:, 0])
                state.scope_entity = entity
                break
        else:
            return
    tf = app.try_get(state.scope_entity, Transform)
    scope = app.try_get(state.scope_entity, Endoscope)
    if tf is None or scope is None:
        return
    target = np.array([controls.get(f"scope.{d}", 0.0) for d in ("yaw", "pitch", "zoom", "roll")])
    step_pose(state.scope, target, dt)
    lens, frame = frame_of(state.scope, state.scope.q)
    tf.position[:] = lens + scope.tip_offset * frame[:, 2]
    tf.orientation[:] = quat_from_frame(frame)


__all__ = [
    "MAX_JAW_RATE",
    "MAX_PIVOT_RATE",
    "MAX_ROLL_RATE",
    "MAX_TIP_SPEED",
    "PORT_DEPTH",
    "SCOPE_PORT_DEPTH",
    "ManualControl",
    "ManualPose",
    "frame_of",
    "instruments_manual_system",
    "quat_from_frame",
    "step_pose",
]
