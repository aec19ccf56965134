"""Task time, errors, tissue damage and the FLS score, computed from a session log's events.

Every function reads ``log.events`` only (records ``{"t", "type", "data"}`` whose ``type``
is ``module:ClassName``), so a stored session can be re-scored at any time.

Definitions and sources:

- **Task time** (s): from the first event of a starting type (e.g. the first object lifted:
  in FLS the clock starts when the first object is touched) to the event that completes the
  task (Derossis et al. 1998, "Development of a model for training and evaluation of
  laparoscopic skills", Am J Surg 175:482; Fraser et al. 2003, "Evaluating laparoscopic
  skills: setting the pass/fail score for the MISTELS system", Surg Endosc 17:964). Shorter
  is better.
- **Dropped objects**: releases followed by a landing anywhere but on a peg (recoverable,
  they cost time), and **objects lost** out of the field (landing off the work surface,
  unrecoverable; the FLS penalty of the peg transfer). Fewer is better (Fraser 2003).
- **FLS score**: ``score = cutoff - completion time - penalty``, floored at 0; the time
  is the cutoff when the task is not completed; for peg transfer the penalty is the
  percentage of objects dropped out of the field of view (Derossis 1998; Fraser 2003), cutoff
  300 s.
- **Tissue damage** (counts of tetrahedra): tets burned (cautery) or cut outside the allowed
  region, tets whose strain went above the damage threshold (sent by the simulator as
  :class:`TissueOverstrained` events) and tears (grasps torn off, ``TissueTorn``). VR
  laparoscopy trainers score thermal injury outside the target and tissue tearing/excess
  force as errors (Oropesa 2011, table 2: "tissue damage", "burn outside target";
  Aggarwal et al. 2006, Ann Surg 246:771; the strain threshold idea follows the tissue-damage
  metrics of surgical simulators, e.g. Dargar et al. 2015, "Towards immersive virtual
  reality (iVR): a route to surgical expertise", J Comput Surg 2:2). Less is better.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..events import Event


@dataclass(frozen=True)
class TissueOverstrained(Event):
    """Tets of ``body`` (source tet ids) whose largest principal Green strain first went
    above ``threshold`` (the simulator checks it; the metric counts them from the log)."""

    body: str
    tets: tuple[int, ...]
    threshold: float


@dataclass(frozen=True)
class AllowedRegion(Event):
    """Source tet ids of ``body`` that may be cut or burned (the marked dissection line)."""

    body: str
    tets: tuple[int, ...]


def _kind(record: dict[str, Any]) -> str:
    return record["type"].rsplit(":", 1)[-1]


def events_of(log: Any, *kinds: str) -> list[dict[str, Any]]:
    """The log's event records whose class name is one of ``kinds``, in order."""
    return [e for e in log.events if _kind(e) in kinds]


def task_time(log: Any, start: str, end: str) -> float | None:
    """Seconds from the first ``start`` event to the first ``end`` event after it (class
    names); None if either is missing."""
    t0 = next((float(e["t"]) for e in log.events if _kind(e) == start), None)
    if t0 is None:
        return None
    t1 = next((float(e["t"]) for e in log.events if _kind(e) == end and float(e["t"]) >= t0), None)
    return None if t1 is None else t1 - t0


def object_drops(log: Any) -> dict[str, int]:
    """``dropped``: objects released that landed off a peg; ``lost``: objects that landed
    off the work surface (unrecoverable)."""
    released: set[int] = set()
    dropped = lost = 0
    for e in log.events:
        kind, d = _kind(e), e["data"]
        if kind == "ObjectReleased":
            released.add(int(d["entity"]))
        elif kind == "ObjectLanded" and int(d["entity"]) in released:
            released.discard(int(d["entity"]))
            dropped += int(d["peg"]) < 0
        elif kind == "ObjectLost":
            released.discard(int(d["entity"]))
            lost += 1
    return {"dropped": dropped, "lost": lost}


def fls_score(cutoff_s: float, completion_s: float | None, penalty: float = 0.0) -> float:
    """FLS/MISTELS raw score: cutoff - completion time - penalty, at least 0 (an incomplete
    task scores with completion = cutoff)."""
    t = cutoff_s if completion_s is None else min(float(completion_s), cutoff_s)
    return max(0.0, cutoff_s - t - penalty)


def peg_transfer_penalty(lost: int, objects: int) -> float:
    """FLS peg-transfer penalty: the percentage of objects dropped out of the field of view."""
    return 100.0 * lost / objects if objects else 0.0


def tissue_damage(log: Any, body: str | None = None) -> dict[str, int]:
    """Damage counts from the events of one body (its entity id as logged, ``str``) or all:
    ``burned_outside`` / ``cut_outside`` (tets outside the :class:`AllowedRegion`, all of
    them when none is logged), ``burned_inside``, ``overstrained`` tets and ``tears``."""
    allowed: dict[str, set[int]] = {}
    for e in events_of(log, "AllowedRegion"):
        allowed.setdefault(str(e["data"]["body"]), set()).update(int(t) for t in e["data"]["tets"])
    out = {"burned_inside": 0, "burned_outside": 0, "cut_inside": 0, "cut_outside": 0, "overstrained": 0, "tears": 0}
    for e in log.events:
        kind, d = _kind(e), e["data"]
        if kind not in ("TissueBurned", "TissueCut", "TissueOverstrained", "TissueTorn"):
            continue
        b = str(d["body"])
        if body is not None and b != str(body):
            continue
        if kind == "TissueTorn":
            out["tears"] += 1
        elif kind == "TissueOverstrained":
            out["overstrained"] += len(d["tets"])
        else:
            ok = allowed.get(b, set())
            inside = sum(1 for t in d["tets"] if int(t) in ok)
            key = "burned" if kind == "TissueBurned" else "cut"
            out[f"{key}_inside"] += inside
            out[f"{key}_outside"] += len(d["tets"]) - inside
    return out


def count_events(log: Any, kinds: Iterable[str]) -> int:
    """How many events of the given class names the log holds (generic error counts)."""
    return len(events_of(log, *kinds))
