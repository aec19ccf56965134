"""Stereo rendering throughput for a laparoscopy-sized scene, headless (EGL).

Each stereo frame does what a headset frame needs from the renderer: deform an organ-like
streamed mesh (an icosphere of 5,120 triangles, noise-displaced, breathing and indented by
an instrument tip; positions recomputed in numpy into preallocated arrays, normals
recomputed, buffers rewritten in place), then for each of two eyes (63 mm apart, parallel
axes) render the organ, two instruments (shaft + two jaws each, one instanced capsule
draw), the ground with contact shadows, resolve MSAA and copy the image into that eye's
own framebuffer (standing in for an OpenXR swapchain image); ``ctx.finish()`` closes the
frame so the time is the real GPU/llvmpipe time. Reported: stereo frames per second and
frame-time p50/p99 over the measured frames (a warm-up is excluded), per eye size and
MSAA setting. The GL_RENDERER string goes into the notes.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from vrmed.components.scene.render import Camera, Light
from vrmed.render.camera import look_at, perspective
from vrmed.render.context import create_context, describe
from vrmed.render.meshes import icosphere
from vrmed.render.renderer import Renderer

IPD = 0.063
EYE = np.array([0.0, 0.16, 0.22])  # head position (m): about 25 cm from the organ
LOOK = np.array([0.0, 0.06, 0.0])


def _organ(subdivisions: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit icosphere directions, faces and a fixed per-vertex lumpiness (procedural noise)."""
    mesh = icosphere(subdivisions)
    d = mesh.positions.astype(np.float64)
    rng = np.random.default_rng(7)
    waves = rng.normal(size=(6, 3)) * 3.0
    phases = rng.uniform(0, 2 * np.pi, 6)
    lumps = sum(np.sin(d @ waves[k] + phases[k]) for k in range(6)) / 6.0
    return d, mesh.faces, lumps


class _Deformer:
    """Organ vertex positions for time t, written into one preallocated array."""

    def __init__(self) -> None:
        self.dirs, self.faces, self.lumps = _organ()
        self.scale = np.array([0.07, 0.045, 0.055])  # a liver-lobe-sized ellipsoid (m)
        self.centre = np.array([0.0, 0.05, 0.0])
        self.out = np.empty_like(self.dirs)
        self.radius = np.empty(len(self.dirs))
        self.tmp = np.empty(len(self.dirs))

    def __call__(self, t: float, tip: np.ndarray) -> np.ndarray:
        r, tmp = self.radius, self.tmp
        np.multiply(self.lumps, 0.12, out=r)
        r += 1.0 + 0.03 * math.sin(2 * math.pi * 0.25 * t)  # breathing
        # a dimple where the grasper presses: Gaussian in the angle to the tip direction
        d_tip = (tip - self.centre) / self.scale
        d_tip /= np.linalg.norm(d_tip)
        np.dot(self.dirs, d_tip, out=tmp)
        tmp -= 1.0
        tmp *= 25.0
        np.exp(tmp, out=tmp)
        tmp *= 0.15 * (0.5 + 0.5 * math.sin(2 * math.pi * 0.7 * t))
        r -= tmp
        np.multiply(self.dirs, r[:, None], out=self.out)
        self.out *= self.scale
        self.out += self.centre
        return self.out


def _instruments(t: float, caps_a: np.ndarray, caps_b: np.ndarray) -> np.ndarray:
    """Two graspers (shaft + two jaws each) into the (6, 3) capsule end arrays; returns tip 0."""
    for k, side in enumerate((-1.0, 1.0)):
        tip = np.array([0.045 * side, 0.10 + 0.01 * math.sin(t * 1.3 + k), 0.035])
        trocar = np.array([0.18 * side, 0.30, 0.20])
        axis = (tip - trocar) / np.linalg.norm(tip - trocar)
        side_dir = np.cross(axis, [0.0, 1.0, 0.0])
        side_dir /= np.linalg.norm(side_dir)
        opening = 0.004 + 0.003 * math.sin(t * 2.0 + k)
        caps_a[3 * k] = trocar
        caps_b[3 * k] = tip
        for j, s in enumerate((-1.0, 1.0)):
            caps_a[3 * k + 1 + j] = tip
            caps_b[3 * k + 1 + j] = tip + 0.018 * axis + s * opening * side_dir
    return caps_b[0]


def _stereo_cameras() -> tuple[Camera, Camera]:
    fwd = LOOK - EYE
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    return tuple(
        Camera(position=EYE + s * IPD / 2 * right, target=LOOK + s * IPD / 2 * right, fov_deg=90.0, near=0.01, far=3.0)
        for s in (-1.0, 1.0)
    )  # type: ignore[return-value]


def _measure(ctx: Any, size: int, samples: int, frames: int, warmup: int) -> dict[str, Any]:
    r = Renderer(ctx, size, size, samples=samples)
    eye_images = [ctx.framebuffer([ctx.renderbuffer((size, size), 4)]) for _ in range(2)]
    deform = _Deformer()
    organ = r.streamed_mesh(deform.faces, deform(0.0, np.array([0.0, 0.1, 0.05])))
    cams = _stereo_cameras()
    light = Light()
    caps_a, caps_b = np.zeros((6, 3)), np.zeros((6, 3))
    radii = np.array([0.0025, 0.0012, 0.0012] * 2)
    colors = np.tile([0.62, 0.64, 0.68, 1.0], (6, 1))
    times = np.empty(frames)
    update = np.empty(frames)
    try:
        for i in range(warmup + frames):
            t = i / 90.0
            t0 = time.perf_counter()
            tip = _instruments(t, caps_a, caps_b)
            organ.update(deform(t, tip))
            t1 = time.perf_counter()
            for cam, target in zip(cams, eye_images):
                r.begin(cam, light)
                r.draw_mesh(organ, color=(0.50, 0.17, 0.13, 1.0), wetness=0.8)
                r.draw_capsules(caps_a, caps_b, radii, colors)
                r.end()
                ctx.copy_framebuffer(target, r.output)
            ctx.finish()
            t2 = time.perf_counter()
            if i >= warmup:
                times[i - warmup] = (t2 - t0) * 1e3
                update[i - warmup] = (t1 - t0) * 1e3
        img = r.read()
        assert img.std() > 5, "benchmark frame is blank"  # sanity: something was drawn
    finally:
        organ.release()
        for fb in eye_images:
            for att in fb.color_attachments:
                att.release()
            fb.release()
        r.release()
    return {
        "case": f"stereo 2x{size}x{size}" + (f" {samples}x MSAA" if samples else ""),
        "triangles": int(len(deform.faces)) + 6 * 2 * 24 * 17,
        "frames": frames,
        "stereo_fps": 1e3 / float(np.mean(times)),
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "mesh_update_ms": float(np.mean(update)),
        "target_fps": 90,
    }


def _passes(ctx: Any, w: int, h: int, samples: int, mode: str, frames: int, warmup: int) -> dict[str, Any]:
    """Per-pass times (ms, glFinish after each) of one frame: ``mode`` is "mono" (one eye),
    "stereo per-eye" (two scene passes) or "stereo single-pass" (one side-by-side pass,
    geometry-shader instanced, then each half copied out). Overlay = the comfort vignette
    per eye (a full-screen blended draw, standing in for the overlay passes)."""
    single = mode == "stereo single-pass"
    eyes = 1 if mode == "mono" else 2
    r = Renderer(ctx, 2 * w if single else w, h, samples=samples, stereo=single)
    canvas = Renderer(ctx, w, h) if single else r
    images = [ctx.framebuffer([ctx.renderbuffer((w, h), 4)]) for _ in range(eyes)]
    deform = _Deformer()
    organ = r.streamed_mesh(deform.faces, deform(0.0, np.array([0.0, 0.1, 0.05])))
    cams = _stereo_cameras()
    views = [look_at(c.position, c.target, c.up) for c in cams]
    proj = perspective(90.0, w / h, 0.01, 3.0)
    light = Light()
    caps_a, caps_b = np.zeros((6, 3)), np.zeros((6, 3))
    radii = np.array([0.0025, 0.0012, 0.0012] * 2)
    colors = np.tile([0.62, 0.64, 0.68, 1.0], (6, 1))
    keys = ("scene", "overlay", "copy", "frame")
    t = {k: np.empty(frames) for k in keys}

    def scene() -> None:
        r.draw_mesh(organ, color=(0.50, 0.17, 0.13, 1.0), wetness=0.8)
        r.draw_capsules(caps_a, caps_b, radii, colors)

    try:
        for i in range(warmup + frames):
            tip = _instruments(i / 90.0, caps_a, caps_b)
            organ.update(deform(i / 90.0, tip))
            ctx.finish()
            acc = dict.fromkeys(keys, 0.0)
            if single:
                t0 = time.perf_counter()
                r.begin_stereo(views, (proj, proj), [c.position for c in cams], light, far=3.0)
                scene()
                r.end()
                ctx.finish()
                acc["scene"] += time.perf_counter() - t0
            for e in range(eyes):
                if not single:
                    t0 = time.perf_counter()
                    r.begin_matrices(views[e], proj, cams[e].position, light, far=3.0)
                    scene()
                    r.end()
                    ctx.finish()
                    acc["scene"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                if single:
                    r.copy_eye(e, canvas.output)
                    ctx.finish()
                t1 = time.perf_counter()
                canvas.vignette(0.5)
                ctx.finish()
                t2 = time.perf_counter()
                ctx.copy_framebuffer(images[e], canvas.output)
                ctx.finish()
                t3 = time.perf_counter()
                acc["overlay"] += t2 - t1
                acc["copy"] += (t1 - t0) + (t3 - t2)
            acc["frame"] = acc["scene"] + acc["overlay"] + acc["copy"]
            if i >= warmup:
                for k in keys:
                    t[k][i - warmup] = acc[k] * 1e3
    finally:
        organ.release()
        for fb in images:
            for att in fb.color_attachments:
                att.release()
            fb.release()
        if canvas is not r:
            canvas.release()
        r.release()
    return {
        "case": f"{mode} {'2x' if eyes == 2 else ''}{w}x{h}" + (f" {samples}x MSAA" if samples else ""),
        "frames": frames,
        **{f"{k}_ms": float(np.mean(t[k])) for k in keys},
        "frame_p99_ms": float(np.percentile(t["frame"], 99)),
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Stereo frames per second of the laparoscopy scene at 2 x 800 x 800 (no MSAA and 4x)
    and 2 x 512 x 512 (4x MSAA), headless."""
    quick = bool(options.get("quick"))
    frames, warmup = (20, 3) if quick else (150, 10)
    ctx = create_context("egl")
    try:
        renderer_name = describe(ctx)
        cases = [(800, 0), (800, 4), (512, 4)]
        rows = [_measure(ctx, size, min(samples, ctx.max_samples), frames, warmup) for size, samples in cases]
        # Per-pass times, mono vs stereo per-eye vs stereo single-pass, measured in this run.
        pf, pw = (3, 1) if quick else (int(options.get("pass_frames", 12)), 2)
        for w, h, samples in [(1832, 1920, 4), (800, 800, 4), (512, 512, 4)]:
            samples = min(samples, ctx.max_samples)
            group = [
                _passes(ctx, w, h, samples, mode, pf, pw) for mode in ("mono", "stereo per-eye", "stereo single-pass")
            ]
            mono = group[0]["frame_ms"]
            for row in group:
                row["stereo_mono_ratio"] = row["frame_ms"] / mono
            rows += group
    finally:
        ctx.release()
    notes = [
        f"GL_RENDERER: {renderer_name}",
        "scene: organ = noise-displaced icosphere (5,120 triangles) deformed and re-uploaded every frame "
        "(normals recomputed), 2 graspers = 6 capsules in one instanced draw, ground with contact shadows",
        "per stereo frame: 1 mesh update, 2 eye renders (63 mm IPD, 90 deg fov) each copied to its own "
        "framebuffer, then glFinish; frame time = all of it, warm-up excluded",
        "triangles counts the organ plus the capsule templates; target_fps is a headset's 90 Hz",
        "per-pass rows: scene/overlay/copy ms per frame (glFinish after each, so they add up), mono = one eye, "
        "stereo per-eye = two scene passes, stereo single-pass = one geometry-shader pass into a side-by-side "
        "target + one half-copy per eye; overlay = the comfort vignette per eye; stereo_mono_ratio = frame_ms / "
        "the mono frame_ms of the same size in this run",
    ]
    if options.get("peers"):
        notes.append("no peer engines are compared for rendering")
    return {"suite": "render", "rows": rows, "notes": notes}
