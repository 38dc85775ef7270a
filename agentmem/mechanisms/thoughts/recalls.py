"""Recall statistics of thoughts: counted in memory by searches, written with the next read.

A search that returns a thought counts as a recall of it (``recall_count``, ``last_recalled_at``),
statistics the capacity and decay policies read. Searching must not write, so the thought
repository keeps each user's recalls in a :class:`RecallTally` and writes them in the
transaction of its next read of that user's thoughts — a listing, ``get``, and every policy
decision of a write (``think``, ``insert``, ``forget``, a deletion of turns) — or when flushed
(``Memory.close``). Every read in this process therefore sees every recall counted so far;
another process sees them once they are written. A transaction that fails puts its recalls
back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from agentmem.types import Scope

__all__ = ["RecallTally"]

Owner = tuple[str, str]  # (tenant, user_id)


class RecallTally:
    """Pending recalls per user: thought id → (recalls, time of the latest)."""

    def __init__(self) -> None:
        self._pending: dict[Owner, dict[str, tuple[int, datetime]]] = {}
        self._lock = threading.Lock()

    def record(self, owner: Scope, ids: Sequence[str], now: datetime) -> None:
        """Count one recall of each of ``ids`` at ``now``."""
        if not ids:
            return
        with self._lock:
            pending = self._pending.setdefault((owner.tenant, owner.user_id), {})
            for tid in ids:
                n, _ = pending.get(tid, (0, now))
                pending[tid] = (n + 1, now)

    def take(self, owner: Scope) -> dict[str, tuple[int, datetime]]:
        """The user's pending recalls, no longer pending."""
        with self._lock:
            return self._pending.pop((owner.tenant, owner.user_id), {})

    def owners(self) -> list[Scope]:
        """The users with pending recalls."""
        with self._lock:
            return [Scope(tenant, user) for tenant, user in self._pending]

    def restore(self, owner: Scope, taken: dict[str, tuple[int, datetime]]) -> None:
        """Put back recalls :meth:`take` removed (their write failed), merged with newer ones."""
        with self._lock:
            pending = self._pending.setdefault((owner.tenant, owner.user_id), {})
            for tid, (n, at) in taken.items():
                m, later = pending.get(tid, (0, at))
                pending[tid] = (n + m, max(at, later))

    def drop(self, owner: Scope) -> None:
        """Forget the user's pending recalls (the user is gone)."""
        with self._lock:
            self._pending.pop((owner.tenant, owner.user_id), None)
