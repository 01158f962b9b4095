"""The clock the live loops pace themselves by. `SystemClock` is the real one; tests drive the same
loops with a faster one (an hour of a call in seconds) through this two-method interface."""

from __future__ import annotations

import time


class SystemClock:
    """Seconds on the monotonic clock."""

    @staticmethod
    def now() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM = SystemClock()
