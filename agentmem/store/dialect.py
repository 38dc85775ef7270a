"""What differs between SQLite and Postgres: engine settings, the per-user write lock, and
INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agentmem.errors import StorageError
from agentmem.types import Scope

__all__ = ["create_engine", "insert_ignore", "lock_scope"]

_SCOPE_LOCK_NS = 7316  # namespace of the per-user advisory locks (lock_scope)


def create_engine(url: str) -> Engine:
    """An engine for ``url`` with settings that suit agentmem (WAL and FKs on SQLite)."""
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (SQLAlchemyError, ImportError) as exc:
        raise StorageError(f"cannot open database {url!r}: {exc}") from exc


def lock_scope(conn: Connection, scope: Scope) -> None:
    """Hold the user's write lock until this transaction ends (Postgres; SQLite has one writer).

    Postgres allocates a turn's ``seq`` at INSERT, so two writers of one user could commit out of
    ``seq`` order; a reader between the commits would see the higher ``seq`` without the lower
    one. The episode stream's ``consumed`` mark takes every stored ``seq`` up to it as seen, so
    the lower writer's turns would be skipped for good if it died before its ``on_add``. With
    this lock taken before the INSERT, a user's turns commit in ``seq`` order. Users whose keys
    collide (32 bits) only wait for each other.
    """
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"{scope.tenant}\0{scope.user_id}".encode(), digest_size=4).digest()
    key = int.from_bytes(digest, "big", signed=True)
    # The two-int4 form: its key space is apart from the bigint one of the schema lock.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _SCOPE_LOCK_NS, "key": key})


def insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and Postgres; returns the driver's row count
    (for one row: 1 when it was inserted, 0 when it existed)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:  # pragma: no cover - other dialects: plain insert, duplicates raise
        conn.execute(sa.insert(table), rows)
        return len(rows)
    # one row: a single execute, whose row count every driver reports
    params: Any = rows[0] if len(rows) == 1 else rows
    return int(conn.execute(insert(table).on_conflict_do_nothing(), params).rowcount)
