"""Durations of a loop that may run for twelve hours: memory stays bounded.

compute = Timings()
compute.add(seconds)
compute.summary_ms()   # {"count", "mean", "p95"}: count and mean over the whole run,
                       # p95 over the most recent `window` values
"""

from __future__ import annotations

from collections import deque

import numpy as np


class Timings:
    def __init__(self, window: int = 2048):
        self.recent: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.recent.append(seconds)
        self.count += 1
        self.total += seconds

    def __len__(self) -> int:
        return self.count

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def last(self) -> float:
        return self.recent[-1] if self.recent else 0.0

    def summary_ms(self) -> dict | None:
        if not self.count:
            return None
        return {
            "count": self.count,
            "mean": round(1000 * self.mean, 2),
            "p95": round(1000 * float(np.percentile(self.recent, 95)), 2),
        }
