"""A body's state must stay finite: a NaN written into ``SoftBody.x`` by a script, or one a
diverging solve made, is one clear error naming the vertex, never a body that silently turns
to NaN in the learner's view and records (issue #16 item 2: "nothing ever becomes
non-finite")."""

from __future__ import annotations

import numpy as np
from numba import njit

from vrmed.components.tissue.softbody import SoftBody
from vrmed.errors import VrmedError


@njit(cache=True)
def first_non_finite(a):
    """The first row of the 2-D array ``a`` holding a NaN or infinite value, or -1 (no
    allocation: it runs on every step)."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            if not np.isfinite(a[i, j]):
                return i
    return -1


class NonFiniteState(VrmedError, FloatingPointError):
    """A soft body's positions or velocities hold a NaN or an infinite value."""


def check_finite(body: SoftBody, when: str) -> None:
    """Raise :class:`NonFiniteState` if ``body.x`` or ``body.v`` has a non-finite entry.
    ``when``: ``"before"`` (it came from outside the solver: a script or a plugin wrote it) or
    ``"after"`` (the step made it)."""
    for name in ("x", "v"):
        i = first_non_finite(getattr(body, name))
        if i < 0:
            continue
        value = getattr(body, name)[i].tolist()
        if when == "before":
            raise NonFiniteState(
                f"SoftBody.{name}[{i}] is {value} before the step: something outside the solver wrote "
                "it (a script, a plugin, a constraint's kernel). Set positions and velocities to finite "
                "values in m and m/s."
            )
        raise NonFiniteState(
            f"SoftBody.{name}[{i}] became {value} in this step: the solve diverged. The body is "
            f"{body.n_tets} tets, {body.material}; check the loads and constraints applied this step "
            "(a force or target far too large), or step with more substeps."
        )
