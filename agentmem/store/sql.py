"""The durable SQL store: turns, sessions, users and the history log.

One class, sync, over a SQLAlchemy engine (SQLite file by default, Postgres by URL — same
code), composed of the turn log (:mod:`agentmem.store.turn_log`) and the history log
(:mod:`agentmem.store.history`) over a shared base (:mod:`agentmem.store.sql_base`: schema,
transactions, scoping); users, versions and settings live here. SQLAlchemy exceptions are
translated to :class:`StorageError` at that boundary.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import to_db, utcnow
from agentmem.store import schema as t
from agentmem.store.dialect import checkpoint, create_engine, db_reason, insert_ignore, lock_scope
from agentmem.store.history import HistoryLog, dumps
from agentmem.store.sql_base import scoped
from agentmem.store.turn_log import NewTurn, TurnLog
from agentmem.types import Scope

__all__ = [
    "NewTurn", "SqlStore", "create_engine", "db_reason", "dumps", "insert_ignore", "lock_scope", "scoped",
]


class SqlStore(TurnLog, HistoryLog):
    """Scoped CRUD over the SQL tables. Every method takes the caller's :class:`Scope`."""

    # -- users and versions -------------------------------------------------------------
    def ensure_user(self, conn: Connection, scope: Scope) -> None:
        now = to_db(utcnow())
        for table, values in (
            (t.tenants, {"tenant": scope.tenant, "created_at": now}),
            (t.users, {"tenant": scope.tenant, "user_id": scope.user_id, "created_at": now}),
        ):
            insert_ignore(conn, table, [values])
        if scope.session_id is not None:
            insert_ignore(
                conn,
                t.sessions,
                [
                    {
                        "tenant": scope.tenant,
                        "user_id": scope.user_id,
                        "session_id": scope.session_id,
                        "agent_id": scope.agent_id,
                        "started_at": now,
                    }
                ],
            )

    def bump_version(self, conn: Connection, scope: Scope, name: str) -> int:
        """Increment and return the version of index ``name`` (inside the writing transaction)."""
        where = sa.and_(scoped(t.versions, scope), t.versions.c.name == name)
        insert_ignore(
            conn, t.versions, [{"tenant": scope.tenant, "user_id": scope.user_id, "name": name, "version": 0}]
        )
        conn.execute(sa.update(t.versions).where(where).values(version=t.versions.c.version + 1))
        return int(conn.execute(sa.select(t.versions.c.version).where(where)).scalar_one())

    def settings(self) -> dict[str, Any]:
        """The store's settings (see :mod:`agentmem.profile`)."""
        with self.begin() as conn:
            return {r.name: r.value for r in conn.execute(sa.select(t.store_settings))}

    def save_settings(self, values: dict[str, Any]) -> None:
        """Record settings (replacing those of the same name)."""
        if not values:
            return
        with self.begin() as conn:
            for name, value in values.items():
                insert_ignore(conn, t.store_settings, [{"name": name, "value": value}])
                conn.execute(sa.update(t.store_settings).where(t.store_settings.c.name == name).values(value=value))

    def versions(self, scope: Scope) -> dict[str, int]:
        """Every index version of this user (absent names are version 0)."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(t.versions.c.name, t.versions.c.version).where(scoped(t.versions, scope))
            )
            return {name: int(v) for name, v in rows}

    def users(self, tenant: str) -> list[str]:
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(t.users.c.user_id).where(t.users.c.tenant == tenant).order_by(t.users.c.user_id)
            )
            return [r[0] for r in rows]

    def delete_user(self, conn: Connection, scope: Scope) -> int:
        """Remove every row of this user from every scoped table; returns turns removed."""
        n = conn.execute(sa.delete(t.turns).where(scoped(t.turns, scope))).rowcount
        for table in t.metadata.sorted_tables:
            if table.name in ("tenants", "api_keys", "turns", "users", "versions"):
                continue
            if "tenant" in table.c and "user_id" in table.c:
                conn.execute(sa.delete(table).where(scoped(table, scope)))
        conn.execute(sa.delete(t.users).where(scoped(t.users, scope)))
        # Version counters survive the user and move on: were they reset, a user re-created
        # later could reach a version another replica's stale cache still holds.
        conn.execute(
            sa.update(t.versions).where(scoped(t.versions, scope)).values(version=t.versions.c.version + 1)
        )
        return int(n or 0)

    def checkpoint(self) -> None:
        """After a deletion: see :func:`agentmem.store.dialect.checkpoint`."""
        checkpoint(self.engine)

