"""Job state of ``agentmem index``: identity, watermark and reported errors, kept in SQL.

A job is identified by what it indexes (tenant, user, format, the resolved input paths), so
running the same command again finds the same job. The input is read as one stream of
records in a deterministic order; the *watermark* is the number of leading records whose
turns are fully stored (SQL rows, vectors, components). It only moves after that, in the
same database as the turns, so after a crash every record below it is stored and every
record above it is re-added (``Memory.add`` is idempotent by message id). ``inflight_end``
marks the records that were being stored when the process stopped: their turns may be in SQL
without vectors, which a resumed run repairs, or not yet consumed by the components (episodes,
graph), which catch up when the re-add meets those stored messages.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agentmem._time import to_db, utcnow
from agentmem.store.schema import index_jobs
from agentmem.store.sql import SqlStore

__all__ = ["JobState", "job_id"]

MAX_ERRORS_KEPT = 1000


def job_id(paths: list[Path], *, fmt: str, tenant: str, user: str | None) -> str:
    """A stable id for indexing these files (order-insensitive) into this tenant/user."""
    key = json.dumps([tenant, user or "", fmt, sorted(str(p.resolve()) for p in paths)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class JobState:
    """A job row in memory; :meth:`save` writes it back."""

    job_id: str
    tenant: str
    user_id: str
    inputs: list[str]
    status: str = "running"
    watermark: int = 0
    inflight_end: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, sql: SqlStore, jid: str, *, tenant: str, user: str | None, inputs: list[str],
             resume: bool) -> JobState:
        """Load the job (``resume``) or start it afresh (its previous state is replaced)."""
        with sql.begin() as conn:
            row = conn.execute(sa.select(index_jobs).where(index_jobs.c.job_id == jid)).first()
        if row is not None and resume:
            return cls(jid, row.tenant, row.user_id, list(row.inputs), "running", int(row.watermark),
                       int(row.inflight_end), dict(row.counts or {}), list(row.errors or []))
        state = cls(jid, tenant, user or "", inputs)
        now = to_db(utcnow())
        with sql.begin() as conn:
            conn.execute(sa.delete(index_jobs).where(index_jobs.c.job_id == jid))
            conn.execute(sa.insert(index_jobs).values(
                job_id=jid, tenant=tenant, user_id=user or "", inputs=inputs, status="running",
                watermark=0, inflight_end=0, counts={}, errors=[], started_at=now, updated_at=now))
        return state

    @property
    def resumed_from(self) -> int:
        return self.watermark

    def add_error(self, message: str) -> None:
        self.counts["errors"] = self.counts.get("errors", 0) + 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)

    def bump(self, **counts: int) -> None:
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def save(self, sql: SqlStore) -> None:
        with sql.begin() as conn:
            conn.execute(sa.update(index_jobs).where(index_jobs.c.job_id == self.job_id).values(
                status=self.status, watermark=self.watermark, inflight_end=self.inflight_end,
                counts=dict(self.counts), errors=list(self.errors), updated_at=to_db(utcnow())))

    def as_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "status": self.status, "watermark": self.watermark,
                "counts": dict(self.counts), "errors": list(self.errors)}
