"""Per-system wall-clock timing (for profiling only; never read by systems)."""

from __future__ import annotations

import numpy as np


class SystemTimer:
    """A fixed-size ring buffer of call durations for one system, in nanoseconds."""

    __slots__ = ("samples", "count")

    def __init__(self, capacity: int = 4096) -> None:
        self.samples = np.zeros(capacity, dtype=np.int64)
        self.count = 0

    def add(self, ns: int) -> None:
        """Record one call's duration."""
        self.samples[self.count % self.samples.shape[0]] = ns
        self.count += 1

    def stats(self) -> dict[str, float]:
        """Mean and 99th percentile in milliseconds over the retained calls, and the call count."""
        n = min(self.count, self.samples.shape[0])
        if n == 0:
            return {"calls": 0, "mean_ms": 0.0, "p99_ms": 0.0}
        window = self.samples[:n] / 1e6
        return {"calls": self.count, "mean_ms": float(window.mean()), "p99_ms": float(np.percentile(window, 99))}
