"""Time and memory budget of one script run, enforced by the ``_tick_()`` calls the policy injects.

sys.settrace cannot enforce a deadline (a one-line ``while True: pass`` emits no line events), so the
compiled script calls the tick itself. Once over budget the tick stays raised and raises a
BaseException, so ``try/except`` in the script cannot keep it alive.
"""

from __future__ import annotations

import sys
import time

try:
    import resource
except ImportError:  # pragma: no cover - not available on Windows
    resource = None  # type: ignore[assignment]

MAX_MEMORY_GROWTH = 256 * 1024 * 1024
_MEMORY_CHECK_INTERVAL = 0.001


class ScriptAbort(BaseException):
    """Raised by the tick; a BaseException so ``except Exception`` in a script cannot swallow it."""


def peak_rss() -> int:
    """Peak resident set size of this process in bytes (0 where the platform cannot tell)."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class ScriptClock:
    """Deadline and memory budget shared by every tick of one script run."""

    def __init__(self, time_limit: float) -> None:
        self.time_limit = time_limit
        self.deadline = time.monotonic() + time_limit
        self.base_rss = peak_rss()
        self.next_memory_check = 0.0
        self.reason: str | None = None

    def tick(self) -> bool:
        if self.reason is not None:
            raise ScriptAbort(self.reason)
        now = time.monotonic()
        if now > self.deadline:
            self.reason = f"script exceeded its time limit of {self.time_limit:g} s"
        elif now >= self.next_memory_check:
            self.next_memory_check = now + _MEMORY_CHECK_INTERVAL
            if peak_rss() - self.base_rss > MAX_MEMORY_GROWTH:
                self.reason = f"script used more than {MAX_MEMORY_GROWTH // (1024 * 1024)} MB of memory"
        if self.reason is not None:
            raise ScriptAbort(self.reason)
        return True
