"""The durable SQL store: turns, sessions, users and the history log.

One class, sync, over a SQLAlchemy engine (SQLite file by default, Postgres by URL — same
code). SQLAlchemy exceptions are translated to :class:`StorageError` here, at the boundary.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agentmem._time import from_db, to_db, utcnow
from agentmem.errors import NotFoundError, StorageError
from agentmem.store import schema as t
from agentmem.store.dialect import checkpoint, create_engine, db_reason, insert_ignore, lock_scope
from agentmem.store.filter_sql import pushdown
from agentmem.types import HistoryEvent, Scope, Turn

if TYPE_CHECKING:
    from agentmem.mechanisms.base import TurnFilter

__all__ = ["NewTurn", "SqlStore", "create_engine", "db_reason", "insert_ignore", "lock_scope", "scoped"]

@dataclass(frozen=True, slots=True)
class NewTurn:
    """A turn about to be inserted (id and seq are assigned by the store)."""

    speaker: str
    role: str
    content: str
    content_hash: str
    timestamp: datetime
    session_id: str | None
    agent_id: str | None
    metadata: dict[str, Any]


def _turn_clauses(where: TurnFilter) -> list[sa.ColumnElement[bool]]:
    c = t.turns.c
    out: list[sa.ColumnElement[bool]] = []
    for col, want in ((c.session_id, where.session_id), (c.speaker, where.speaker), (c.role, where.role)):
        if want is not None:
            out.append(col == want)
    if where.window is not None and where.window.start is not None:
        out.append(c.ts >= to_db(where.window.start))
    if where.window is not None and where.window.end is not None:
        out.append(c.ts < to_db(where.window.end))
    columns: dict[tuple[str, ...], sa.ColumnElement[Any]] = {
        (name,): c[name] for name in ("session_id", "agent_id", "speaker", "role")}
    pushed = pushdown(where.where, columns)
    return out if pushed is None else [*out, pushed]


def scoped(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
    """The predicate every query on a per-user table carries: this tenant AND this user."""
    return sa.and_(table.c.tenant == scope.tenant, table.c.user_id == scope.user_id)


def _create_schema(conn: Connection) -> None:
    """Create missing tables, and missing indexes of existing tables (added in later versions)."""
    t.metadata.create_all(conn)
    for table in t.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _turn(row: Any) -> Turn:
    return Turn(
        id=row.id,
        scope=Scope(row.tenant, row.user_id, row.agent_id, row.session_id),
        content=row.content,
        speaker=row.speaker,
        role=row.role,
        timestamp=from_db(row.ts),  # type: ignore[arg-type]
        seq=row.seq,
        content_hash=row.content_hash,
        metadata=dict(row.meta or {}),
        created_at=from_db(row.created_at),
        updated_at=from_db(row.updated_at),
    )


class SqlStore:
    """Scoped CRUD over the SQL tables. Every method takes the caller's :class:`Scope`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            if engine.dialect.name == "postgresql":
                # Replicas starting together on a fresh database would race in CREATE TABLE;
                # a transaction-scoped advisory lock lets one create and the others find it.
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7316820385)"))
                    _create_schema(conn)
            else:
                with engine.begin() as conn:
                    _create_schema(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create schema: {db_reason(exc)}") from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; SQLAlchemy errors surface as :class:`StorageError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {db_reason(exc)}") from exc

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

    # -- turns ---------------------------------------------------------------------------
    def insert_turns(self, conn: Connection, scope: Scope, new: Sequence[NewTurn]) -> list[Turn]:
        """Insert turns; ones whose content hash already exists in the scope are skipped.

        Returns the turns actually inserted, in insertion order.
        """
        if not new:
            return []
        lock_scope(conn, scope)
        hashes = [n.content_hash for n in new]
        existing = set(
            conn.execute(
                sa.select(t.turns.c.content_hash).where(
                    scoped(t.turns, scope), t.turns.c.content_hash.in_(hashes)
                )
            ).scalars()
        )
        now = to_db(utcnow())
        rows, seen = [], set(existing)
        for n in new:
            if n.content_hash in seen:
                continue
            seen.add(n.content_hash)
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "tenant": scope.tenant,
                    "user_id": scope.user_id,
                    "agent_id": n.agent_id,
                    "session_id": n.session_id,
                    "speaker": n.speaker,
                    "role": n.role,
                    "content": n.content,
                    "content_hash": n.content_hash,
                    "ts": to_db(n.timestamp),
                    "meta": n.metadata,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if not rows:
            return []
        # Concurrent writers may race on the same hash: the unique constraint decides, the
        # loser's row is ignored, and we read back only what this call inserted.
        insert_ignore(conn, t.turns, rows)
        ids = [r["id"] for r in rows]
        got = conn.execute(sa.select(t.turns).where(t.turns.c.id.in_(ids)).order_by(t.turns.c.seq))
        return [_turn(r) for r in got]

    def get_turns(self, scope: Scope, ids: Sequence[str]) -> list[Turn]:
        """The turns with these ids in this scope (missing ids are left out), in seq order."""
        if not ids:
            return []
        with self.begin() as conn:
            # No ORDER BY: with one, SQLite walks the (tenant, user_id, seq) index over the whole
            # user instead of probing ix_turns_scope_id (far slower; docs/benchmarks.md).
            rows = conn.execute(sa.select(t.turns).where(scoped(t.turns, scope), t.turns.c.id.in_(list(ids))))
            return sorted((_turn(r) for r in rows), key=lambda turn: turn.seq)

    def get_turn(self, scope: Scope, turn_id: str) -> Turn:
        got = self.get_turns(scope, [turn_id])
        if not got:
            raise NotFoundError(f"no memory {turn_id!r} for user {scope.user_id!r}")
        return got[0]

    def list_turns(
        self,
        scope: Scope,
        *,
        session_id: str | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        where: TurnFilter | None = None,
    ) -> list[Turn]:
        """A scope's turns in order; ``where`` keeps the turns it accepts.

        The parts of ``where`` SQL can answer exactly go into the query as bound parameters
        (see :mod:`agentmem.store.filter_sql`); the whole filter is then tested on each row.
        """
        q = sa.select(t.turns).where(scoped(t.turns, scope))
        if session_id is not None:
            q = q.where(t.turns.c.session_id == session_id)
        if after_seq is not None:
            q = q.where(t.turns.c.seq > after_seq)
        if where is not None:
            q = q.where(*_turn_clauses(where))
        q = q.order_by(t.turns.c.seq)
        if limit is not None and where is None:
            q = q.limit(limit)
        with self.begin() as conn:
            if where is None:
                return [_turn(r) for r in conn.execute(q)]
            out: list[Turn] = []
            for r in conn.execute(q):
                turn = _turn(r)
                if where.accepts(turn):
                    out.append(turn)
                    if limit is not None and len(out) >= limit:
                        break
            return out

    def session_turns(self, scope: Scope, session_id: str | None, *, after_seq: int | None = None) -> list[Turn]:
        """One session's turns in order (the turns without a session when ``session_id`` is None)."""
        q = sa.select(t.turns).where(scoped(t.turns, scope))
        q = q.where(t.turns.c.session_id.is_(None) if session_id is None else t.turns.c.session_id == session_id)
        if after_seq is not None:
            q = q.where(t.turns.c.seq > after_seq)
        with self.begin() as conn:
            return [_turn(r) for r in conn.execute(q.order_by(t.turns.c.seq))]

    def previous_turn(self, scope: Scope, session_id: str | None, seq: int) -> Turn | None:
        """The turn just before ``seq`` in a session (among turns without one when ``None``)."""
        q = sa.select(t.turns).where(scoped(t.turns, scope), t.turns.c.seq < seq)
        q = q.where(t.turns.c.session_id.is_(None) if session_id is None else t.turns.c.session_id == session_id)
        with self.begin() as conn:
            row = conn.execute(q.order_by(t.turns.c.seq.desc()).limit(1)).first()
        return None if row is None else _turn(row)

    def existing_hashes(self, scope: Scope, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self.begin() as conn:
            return set(
                conn.execute(
                    sa.select(t.turns.c.content_hash).where(
                        scoped(t.turns, scope), t.turns.c.content_hash.in_(list(hashes))
                    )
                ).scalars()
            )

    def count_turns(self, scope: Scope) -> int:
        with self.begin() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(t.turns).where(scoped(t.turns, scope))).scalar()
                or 0
            )

    def update_turn(
        self, conn: Connection, scope: Scope, turn_id: str, *, content: str,
        metadata: dict[str, Any] | None,
    ) -> tuple[Turn, Turn]:
        """Change a turn's content (and metadata); returns ``(before, after)``."""
        row = conn.execute(
            sa.select(t.turns).where(scoped(t.turns, scope), t.turns.c.id == turn_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no memory {turn_id!r} for user {scope.user_id!r}")
        values: dict[str, Any] = {
            "content": content,
            "updated_at": to_db(utcnow()),
        }
        if metadata is not None:
            values["meta"] = metadata
        conn.execute(sa.update(t.turns).where(t.turns.c.id == turn_id).values(**values))
        after = conn.execute(sa.select(t.turns).where(t.turns.c.id == turn_id)).one()
        return _turn(row), _turn(after)

    def delete_turns(self, conn: Connection, scope: Scope, ids: Sequence[str]) -> list[Turn]:
        """Delete these turns in this scope; returns what was deleted."""
        rows = conn.execute(
            sa.select(t.turns).where(scoped(t.turns, scope), t.turns.c.id.in_(list(ids)))
        ).all()
        if rows:
            conn.execute(
                sa.delete(t.turns).where(scoped(t.turns, scope), t.turns.c.id.in_([r.id for r in rows]))
            )
        return [_turn(r) for r in rows]

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

    # -- history -------------------------------------------------------------------------
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

    def checkpoint(self) -> None:
        """After a deletion: see :func:`agentmem.store.dialect.checkpoint`."""
        checkpoint(self.engine)

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
