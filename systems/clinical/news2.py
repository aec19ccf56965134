"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, London, 2017).

Each observation scores 0-3; the total and any single "red" score of 3 set the clinical
response. Observations are rounded as charted (integers; temperature to 0.1 deg C).

| parameter | 3 | 2 | 1 | 0 | 1 | 2 | 3 |
|---|---|---|---|---|---|---|---|
| respiration /min | <=8 | | 9-11 | 12-20 | | 21-24 | >=25 |
| SpO2 scale 1 % | <=91 | 92-93 | 94-95 | >=96 | | | |
| air or oxygen | | oxygen | | air | | | |
| systolic BP mmHg | <=90 | 91-100 | 101-110 | 111-219 | | | >=220 |
| pulse /min | <=40 | | 41-50 | 51-90 | 91-110 | 111-130 | >=131 |
| consciousness | | | | alert | | | new confusion, V, P or U |
| temperature C | <=35.0 | | 35.1-36.0 | 36.1-38.0 | 38.1-39.0 | >=39.1 | |

SpO2 scale 2 (hypercapnic respiratory failure, target 88-92%): <=83: 3, 84-85: 2,
86-87: 1, 88-92 or >=93 on air: 0, 93-94 on oxygen: 1, 95-96 on oxygen: 2, >=97 on
oxygen: 3.

Response thresholds: 0 -> at least 12-hourly observations; 1-4 -> 4-6-hourly, the
registered nurse assesses (``ward``); a 3 in any single parameter -> at least hourly,
urgent ward-based review; 5-6 -> at least hourly, urgent response (``urgent``);
>= 7 -> continuous monitoring, emergency response (``emergency``).
"""

from __future__ import annotations

from vrmed.app import App
from vrmed.events import EventInbox

from . import events as ev
from .context import Physiology


def news2_components(
    *, rr: float, spo2: float, on_oxygen: bool, sbp: float, hr: float, avpu: str, temp_c: float, scale: int = 1
) -> dict[str, int]:
    """The score of each NEWS2 parameter (values rounded as charted)."""
    rr, spo2, sbp, hr = round(rr), round(spo2), round(sbp), round(hr)
    temp = round(temp_c, 1)
    s: dict[str, int] = {}
    s["rr"] = 3 if rr <= 8 else 1 if rr <= 11 else 0 if rr <= 20 else 2 if rr <= 24 else 3
    if scale == 1:
        s["spo2"] = 3 if spo2 <= 91 else 2 if spo2 <= 93 else 1 if spo2 <= 95 else 0
    else:
        if spo2 <= 83:
            s["spo2"] = 3
        elif spo2 <= 85:
            s["spo2"] = 2
        elif spo2 <= 87:
            s["spo2"] = 1
        elif spo2 <= 92 or not on_oxygen:
            s["spo2"] = 0
        else:
            s["spo2"] = 1 if spo2 <= 94 else 2 if spo2 <= 96 else 3
    s["oxygen"] = 2 if on_oxygen else 0
    s["sbp"] = 3 if sbp <= 90 else 2 if sbp <= 100 else 1 if sbp <= 110 else 0 if sbp <= 219 else 3
    s["hr"] = 3 if hr <= 40 else 1 if hr <= 50 else 0 if hr <= 90 else 1 if hr <= 110 else 2 if hr <= 130 else 3
    s["consciousness"] = 0 if avpu == "A" else 3  # new confusion ("C"), V, P or U
    s["temp"] = 3 if temp <= 35.0 else 1 if temp <= 36.0 else 0 if temp <= 38.0 else 1 if temp <= 39.0 else 2
    return s


def news2(**obs: object) -> tuple[int, bool]:
    """(aggregate score, whether any single parameter scores 3) for a set of observations."""
    parts = news2_components(**obs)  # type: ignore[arg-type]
    return sum(parts.values()), any(v == 3 for v in parts.values())


def response(score: int, red_flag: bool) -> str:
    """The RCP 2017 clinical response level: routine, ward, urgent_ward, urgent or emergency."""
    if score >= 7:
        return "emergency"
    if score >= 5:
        return "urgent"
    if red_flag:
        return "urgent_ward"
    return "ward" if score >= 1 else "routine"


class News2Tracker:
    """Buffers ``VitalsObserved`` events until the NEWS2 system scores them (a resource)."""

    def __init__(self, app: App) -> None:

        self.inbox = EventInbox(app, (ev.VitalsObserved,))


def news2_step(app: App) -> None:
    """Answer each ``VitalsObserved`` with ``News2Scored`` from the patient's current values."""
    tracker = app.resource(News2Tracker)  # inserted by PhysiologyPlugin.build
    observed = tracker.inbox.drain()
    if not observed:
        return

    pop = app.resource(Physiology).population
    for e in observed:
        try:
            slot = pop.slot_of(e.patient)
        except KeyError:
            continue
        v = pop.vitals(slot)
        score, red = news2(
            rr=v["rr"],
            spo2=v["spo2"],
            on_oxygen=bool(pop.fio2[slot] > 0.21),
            sbp=v["sbp"],
            hr=v["hr"],
            avpu=v["avpu"],
            temp_c=v["temp_c"],
            scale=int(pop.spo2_scale[slot]),  # per patient (a recorded decision, RCP 2017)
        )
        app.send(ev.News2Scored(e.patient or next(iter(pop.slots)), score, red))
