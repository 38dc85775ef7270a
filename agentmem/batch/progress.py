"""Where indexing time goes (per-stage clocks) and the live progress display.

:class:`StageClock` times named stages with exclusive attribution: time spent in a stage
nested inside another (a Chroma write inside a component's ``on_add``) counts for the inner
stage only. Each thread keeps its own stack; totals are summed across threads, so with
parallel workers the stage seconds can exceed wall time. It is the indexer's
:class:`~agentmem.protocols.WriteObserver`: ``Memory(observer=clock)`` reports the write
path's stages (``embed``, ``store_chroma``, ``component_<name>``) to it.

:class:`Display` draws a rich progress bar on a terminal (turns/s, ETA from input bytes read,
per-stage counts) and stays silent otherwise; the summary is printed by the CLI either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Display", "StageClock"]


class StageClock:
    """Exclusive wall time per stage, across threads, and counts of items per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        stack: list[list[Any]] = getattr(self._local, "stack", None) or []
        self._local.stack = stack
        now = time.perf_counter()
        if stack:  # pause the enclosing stage
            outer = stack[-1]
            self._add(outer[0], now - outer[1])
        stack.append([name, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            _, start = stack.pop()
            self._add(name, end - start)
            if stack:
                stack[-1][1] = end

    def _add(self, name: str, dt: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + dt

    def count(self, name: str, n: int) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def merge(self, other: dict[str, float]) -> None:
        for k, v in other.items():
            self._add(k, v)

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in sorted(self.seconds.items())}


class Display:
    """A rich progress bar over input bytes with live counters; a no-op when disabled."""

    def __init__(self, total_bytes: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._t0 = time.perf_counter()
        if not enabled:
            return
        try:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:  # rich is optional: no bar, the summary still prints
            self.enabled = False
            return
        self._progress = Progress(
            TextColumn("[bold]indexing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(), TextColumn("{task.fields[stats]}"), transient=False,
        )
        self._task = self._progress.add_task("index", total=max(total_bytes, 1), stats="")
        self._progress.start()

    def update(self, bytes_read: int, counts: dict[str, int]) -> None:
        if not self.enabled:
            return
        dt = max(time.perf_counter() - self._t0, 1e-9)
        stats = (f"{counts.get('turns_added', 0) / dt:,.0f} turns/s · read {counts.get('messages', 0):,} · "
                 f"embedded {counts.get('embedded', 0):,} · stored {counts.get('turns_added', 0):,} · "
                 f"dup {counts.get('duplicates', 0):,} · errors {counts.get('errors', 0):,}")
        self._progress.update(self._task, completed=bytes_read, stats=stats)

    def close(self) -> None:
        if self.enabled and self._progress is not None:
            self._progress.stop()
