"""Progress of a long benchmark on stderr (stdout carries the JSON result).

One line per update, at most every ``every`` seconds and at the end of each phase, so it reads
the same on a terminal and in a CI log. ``agentmem bench ... --quiet`` turns it off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``step()`` through ``total`` items of a named phase; prints ``label: done/total (pct) s``."""

    def __init__(self, label: str, total: int, *, enabled: bool = True, stream: TextIO | None = None,
                 every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.enabled = label, max(0, total), enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.clock = every, clock
        self.done = 0
        self.start = self.last = clock()

    def step(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.done >= self.total or now - self.last >= self.every:
            self._print(now)

    def _print(self, now: float) -> None:
        self.last = now
        if not self.enabled:
            return
        pct = 100.0 * self.done / self.total if self.total else 100.0
        self.stream.write(f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {now - self.start:.1f} s\n")
        self.stream.flush()
