"""Deterministic snapshots and digests of an App's component state.

Replay compares the final state of a re-run with the recorded one; the digest covers every
dataclass component's array and scalar fields, so one flipped bit anywhere is caught.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from .fields import AssetPath


def component_state(component: Any) -> dict[str, Any] | None:
    """The comparable fields of a component: arrays copied, scalars as they are.

    A component may define ``state()`` returning its own dict; otherwise dataclass fields
    holding numpy arrays, numbers, strings, booleans or lists/tuples of those are used.
    Returns None for objects that are not dataclasses and define no ``state()``.
    """
    custom = getattr(component, "state", None)
    if callable(custom):
        return custom()
    if not dataclasses.is_dataclass(component):
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(component):
        value = getattr(component, f.name)
        if isinstance(value, np.ndarray):
            out[f.name] = value.copy()
        elif isinstance(value, AssetPath):  # as the pack wrote it: the install folder is no state
            out[f.name] = value.relative
        elif isinstance(value, (int, float, str, bool, np.generic)) or value is None:
            out[f.name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str, bool)) for v in value):
            out[f.name] = list(value)
    return out


def update_digest(h: hashlib._Hash, value: Any) -> None:
    """Feed one value into a hash in a type-tagged, order-stable way."""
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"nd{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            h.update(repr(k).encode())
            update_digest(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            update_digest(h, v)
        h.update(b"]")
    else:
        h.update(repr(value).encode())


def digest(snapshot: dict[int, dict[str, dict[str, Any]]]) -> str:
    """SHA-256 of a snapshot (as returned by ``App.snapshot``)."""
    h = hashlib.sha256()
    update_digest(h, snapshot)
    return h.hexdigest()
