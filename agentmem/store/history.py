"""The history log: the audit trail of every ADD / UPDATE / DELETE, per user."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import from_db, to_db, utcnow
from agentmem.store import schema as t
from agentmem.store.sql_base import SqlBase, scoped
from agentmem.types import HistoryEvent, Scope

__all__ = ["HistoryLog", "dumps"]


class HistoryLog(SqlBase):
    """Append to, redact and read the history of a user's records."""

    def log(
        self,
        conn: Connection,
        scope: Scope,
        events: Sequence[tuple[str, str, str, str | None, str | None]],
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Append ``(record_id, record_kind, event, before, after)`` entries to the history."""
        if not events:
            return
        now = to_db(utcnow())
        conn.execute(
            sa.insert(t.history),
            [
                {
                    "tenant": scope.tenant,
                    "user_id": scope.user_id,
                    "record_id": rid,
                    "record_kind": kind,
                    "event": event,
                    "before": before,
                    "after": after,
                    "at": now,
                    "meta": meta or {},
                }
                for rid, kind, event, before, after in events
            ],
        )

    def forget_history(self, conn: Connection, scope: Scope, record_ids: Sequence[str]) -> None:
        """Drop the text (``before`` / ``after``) of every history event of ``record_ids``; the
        events themselves stay (what happened and when, not what was said)."""
        if record_ids:
            conn.execute(
                sa.update(t.history)
                .where(scoped(t.history, scope), t.history.c.record_id.in_(list(record_ids)))
                .values(before=None, after=None)
            )

    def history(self, scope: Scope, record_id: str | None = None) -> list[HistoryEvent]:
        q = sa.select(t.history).where(scoped(t.history, scope))
        if record_id is not None:
            q = q.where(t.history.c.record_id == record_id)
        with self.begin() as conn:
            rows = conn.execute(q.order_by(t.history.c.id)).all()
        return [
            HistoryEvent(
                id=r.id,
                scope=Scope(r.tenant, r.user_id),
                record_id=r.record_id,
                record_kind=r.record_kind,
                event=r.event,
                before=r.before,
                after=r.after,
                at=from_db(r.at),  # type: ignore[arg-type]
                metadata=dict(r.meta or {}),
            )
            for r in rows
        ]



def dumps(obj: Any) -> str:
    """JSON for history before/after payloads (stable key order)."""
    return json.dumps(obj, sort_keys=True, default=str)
