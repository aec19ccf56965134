"""Patient physiology: 100 patients stepped at 90 Hz (issue 8 target: under 1 ms per frame).

The physiology system runs once per 90 Hz display frame here (logic rate set to 90 Hz,
one step per frame, the most demanding schedule a headset would use). Patients carry a
mix of rhythms and drugs on board so every branch of the vectorised kernel does work.
Reported: the physiology system's own time per frame (mean and p99) and the whole
frame's time (engine overhead included). A warm-up of 100 frames is excluded.

``vrmed bench physiology kernel`` instead times one call of the compiled step
(``step_population``) against its numpy reference (``step_population_reference``) for 1,
100 and 1,000 such patients, the two alternated in one process (best of 7 rounds).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from vrmed import App
from vrmed.components.clinical.patient import RHYTHMS, Patient
from vrmed.components.scene.core import Name
from vrmed.systems.clinical import events as ev
from vrmed.systems.clinical.physiology import PhysiologyPlugin, population
from vrmed.systems.clinical.physiology_kernels import step_population, step_population_reference


def _make_app(patients: int) -> App:
    app = App(seed=0, display_rate=90, rates={"logic": 90, "physics": None})
    app.add_plugin(PhysiologyPlugin())
    for i in range(patients):
        app.spawn(Patient(rhythm=RHYTHMS[i % len(RHYTHMS)], hr=60.0 + i % 40, rosc_per_min=0.5), Name(f"p{i}"))
    app.step(2)
    for i in range(patients):
        if i % 4 == 0:
            app.send(ev.CompressionsStarted(f"p{i}", 110, 5.5))
        app.send(
            ev.DrugGiven(
                ("epinephrine", "morphine", "amiodarone", "insulin")[i % 4],
                1.0,
                "units" if i % 4 == 3 else "mg",
                "iv",
                f"p{i}",
            )
        )
    return app


def _kernel_ab(quick: bool) -> dict[str, Any]:
    """Per-call cost (ms) of the compiled step and of its numpy reference, alternated."""
    rounds = 3 if quick else 7
    rows = []
    for patients in (1, 100, 1000):
        app = _make_app(patients)
        try:
            app.step(100)  # drugs absorbed, CPR running: every branch has work
            pops = {"compiled": population(app), "reference": copy.deepcopy(population(app))}
        finally:
            app.close()
        steps = {"compiled": step_population, "reference": step_population_reference}
        draws = np.random.default_rng(0).random(patients)
        best = {k: float("inf") for k in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                calls = max(20, (2000 if name == "compiled" else 200) // max(1, patients // 10))
                t0 = time.perf_counter_ns()
                for _ in range(calls):
                    step(pops[name], 1.0 / 90.0, draws)
                best[name] = min(best[name], (time.perf_counter_ns() - t0) / calls / 1e6)
        rows.append(
            {
                "patients": patients,
                "compiled_ms": best["compiled"],
                "reference_ms": best["reference"],
                "ratio": best["reference"] / best["compiled"],
            }
        )
    return {
        "suite": "physiology",
        "rows": rows,
        "notes": [
            "one step_population call (numba loop over patients) against step_population_reference "
            "(numpy over the population arrays), same populations, alternated in one process; "
            "best of the rounds, so load on the machine inflates both less",
        ],
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    """Per-frame cost of stepping 100 (and 1,000) patients at 90 Hz, in ms; with the
    argument ``kernel``, the per-call cost of the compiled step against its numpy reference."""
    if "kernel" in options.get("targets", []):
        return _kernel_ab(bool(options.get("quick")))
    frames = 300 if options.get("quick") else 3000
    rows = []
    for patients in (100, 1000):
        app = _make_app(patients)
        try:
            app.step(100)  # warm-up
            frame = np.empty(frames)
            timer = app._timers["physiology.step"]  # the App's per-system ring buffer (ns)
            first = timer.count
            for i in range(frames):
                t0 = time.perf_counter_ns()
                app.step(1)
                frame[i] = (time.perf_counter_ns() - t0) / 1e6
            idx = np.arange(first, timer.count) % timer.samples.shape[0]
            system = timer.samples[idx] / 1e6
            system_mean, system_p99 = float(system.mean()), float(np.percentile(system, 99))
        finally:
            app.close()
        rows.append(
            {
                "patients": patients,
                "rate_hz": 90,
                "frames": frames,
                "physiology_mean_ms": system_mean,
                "physiology_p99_ms": system_p99,
                "frame_mean_ms": float(np.mean(frame)),
                "frame_p99_ms": float(np.percentile(frame, 99)),
                "target_ms": 1.0 if patients == 100 else None,
            }
        )
    return {
        "suite": "physiology",
        "rows": rows,
        "notes": [
            "one physiology step per 90 Hz frame (logic stage set to 90 Hz); a numba-compiled loop "
            "over all patients (vrmed bench physiology kernel: against the numpy reference)",
            "physiology_* is the physiology system alone; frame_* is the whole App frame (engine "
            "overhead included); both after a 100-frame warm-up",
            "target: 100 patients under 1 ms per frame in total",
        ],
    }
