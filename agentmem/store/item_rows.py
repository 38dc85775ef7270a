"""The SQL of the item store (:mod:`agentmem.items`): item turns, and the legacy item table.

Items are turns with a fixed role and speaker, so reading them is a query on ``turns``; a
tenant-wide read (no user) is what the sidecar's ``/store`` routes need for listings that
span the tenant. ``store_items`` is the table the sidecar kept items in before items were
turns; :meth:`ItemRows.legacy` pages through what is left of it so the item store can move
those rows into turns (:meth:`agentmem.items.ItemStore.import_legacy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from agentmem._time import from_db
from agentmem.store import schema as t
from agentmem.store.sql import SqlStore
from agentmem.store.turn_log import _turn
from agentmem.types import Turn

__all__ = ["ItemRows", "LegacyItem"]


@dataclass(frozen=True, slots=True)
class LegacyItem:
    """One row of the ``store_items`` table."""

    tenant: str
    user_id: str
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    ttl: float | None


class ItemRows:
    """Reads of item turns and of the legacy ``store_items`` table."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def turns(
        self, tenant: str, user_id: str | None, *, role: str, speaker: str, session_id: str | None = None
    ) -> list[Turn]:
        """The turns of one user (every user of the tenant when ``user_id`` is None) with this
        role and speaker, optionally of one session, in insertion order."""
        c = t.turns.c
        q = sa.select(t.turns).where(c.tenant == tenant, c.role == role, c.speaker == speaker)
        if user_id is not None:
            q = q.where(c.user_id == user_id)
        if session_id is not None:
            q = q.where(c.session_id == session_id)
        with self.sql.begin() as conn:
            return [_turn(r) for r in conn.execute(q.order_by(c.seq))]

    def count(self, *, role: str, speaker: str) -> int:
        """Turns with this role and speaker across tenants."""
        c = t.turns.c
        q = sa.select(sa.func.count()).select_from(t.turns).where(c.role == role, c.speaker == speaker)
        with self.sql.begin() as conn:
            return int(conn.execute(q).scalar() or 0)

    def legacy(self, limit: int) -> list[LegacyItem]:
        """Up to ``limit`` rows of ``store_items``."""
        c = t.store_items.c
        q = sa.select(t.store_items).order_by(c.tenant, c.namespace, c.key).limit(limit)
        with self.sql.begin() as conn:
            rows = conn.execute(q).all()
        return [
            LegacyItem(
                tenant=r.tenant, user_id=r.user_id, namespace=tuple(r.namespace.split(".")), key=r.key,
                value=dict(r.value or {}), created_at=from_db(r.created_at),  # type: ignore[arg-type]
                updated_at=from_db(r.updated_at),  # type: ignore[arg-type]
                expires_at=from_db(r.expires_at), ttl=r.ttl_minutes,
            )
            for r in rows
        ]

    def drop_legacy(self, rows: Sequence[LegacyItem]) -> None:
        """Delete these rows from ``store_items``."""
        c = t.store_items.c
        with self.sql.begin() as conn:
            for r in rows:
                conn.execute(sa.delete(t.store_items).where(
                    c.tenant == r.tenant, c.namespace == ".".join(r.namespace), c.key == r.key))
