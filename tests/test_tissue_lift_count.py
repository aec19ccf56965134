"""The inversion recovery's lift may stop counting the non-positive tets around a tet once past
the count it is compared with (``kernels._not_positive_around``'s ``limit``, issue #16 item 6:
docs/physics.md, "Benchmark", "Where the raptor's frame goes"): the same answer to that comparison
as the full count, so the solver's results are unchanged bit for bit.
"""

from __future__ import annotations

import numpy as np

from vrmed.mesh import box_tets
from vrmed.systems.tissue import kernels as K


def test_the_lift_count_stops_past_its_limit_with_the_same_answer() -> None:
    """``_not_positive_around(..., limit)`` against the full count, for every tet of a box with
    its vertices scattered (many tets inverted) and every limit up to past the count: at most
    the limit exactly when the full count is, and then equal to it."""
    mesh = box_tets((0.1, 0.1, 0.1), (4, 4, 4))
    rng = np.random.default_rng(7)
    x = mesh.points + rng.normal(0.0, 0.006, mesh.points.shape)
    tets = mesh.tets
    w = np.ones_like(x)
    Q = np.tile(np.eye(3), (tets.shape[0], 1, 1))
    scratch = K.recovery_scratch(tets, Q, w)
    m, n = tets.shape[0], x.shape[0]
    off = scratch[2 * m + n : 2 * m + 2 * n + 1]
    adj = scratch[2 * m + 2 * n + 1 : 6 * m + 2 * n + 1]
    counts = []
    for t in range(m):
        full = K._not_positive_around(x, tets, off, adj, t, -1)  # -1: no limit (one compiled version)
        counts.append(full)
        for limit in range(full + 2):
            got = K._not_positive_around(x, tets, off, adj, t, limit)
            assert (got <= limit) == (full <= limit), (t, limit, got, full)
            if full <= limit:
                assert got == full
    assert max(counts) > 3 and min(counts) == 0  # the scatter made both kinds
