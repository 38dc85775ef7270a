"""What differs between SQLite and Postgres: engine settings, the per-user write lock,
INSERT ... ON CONFLICT DO NOTHING, the WAL checkpoint; and what may be said about errors."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agentmem.errors import StorageError
from agentmem.types import Scope

__all__ = ["checkpoint", "create_engine", "db_reason", "insert_ignore", "lock_scope"]

log = logging.getLogger("agentmem.store")
_SQLITE_BUSY_S = 30.0  # how long a SQLite writer waits for another

_SCOPE_LOCK_NS = 7316  # namespace of the per-user advisory locks (lock_scope)


def db_reason(exc: BaseException) -> str:
    """What failed, for messages and logs: exception types and SQLSTATE / SQLite error name,
    never the driver's message (it quotes SQL and parameters, i.e. stored text)."""
    orig = getattr(exc, "orig", None)
    parts = [type(exc).__name__]
    if orig is not None:
        parts.append(type(orig).__name__)
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        if code:
            parts.append(str(code))
    return ": ".join(parts)


def create_engine(url: str) -> Engine:
    """An engine for ``url`` with settings that suit agentmem (WAL and FKs on SQLite).

    On SQLite every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up
    front, waiting up to the busy timeout for another writer, so a transaction that reads and
    then writes can never fail with "database is locked" when another connection committed in
    between (a deferred transaction cannot upgrade then, and waiting does not help it). Readers
    outside transactions are not blocked (WAL).
    """
    try:
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)  # a fresh AGENTMEM_HOME
            # Requests queued on the write lock hold a pooled connection while they wait: a pool
            # as large as the server's thread pool keeps them from timing out on the pool instead.
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_S},
                                      pool_size=8, max_overflow=56, pool_timeout=_SQLITE_BUSY_S)

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # transactions are begun by _begin below
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages
                cur.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise StorageError(f"cannot open database: {db_reason(exc)}") from exc


def checkpoint(engine: Engine) -> None:
    """SQLite: move the write-ahead log into the database file and truncate it, so text
    just deleted (zeroed in the database by ``secure_delete``) leaves the WAL file too.
    Best effort: a checkpoint that other connections keep busy is left for later."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    db: Any = raw.driver_connection
    try:
        db.execute("PRAGMA busy_timeout=2000")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except Exception as exc:  # sqlite3.Error; the delete itself has committed
        log.warning("WAL checkpoint after a deletion did not run: %s", type(exc).__name__)
    finally:
        try:
            db.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
        finally:
            raw.close()


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
