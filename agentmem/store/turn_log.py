"""The turn log: the ``turns`` table, scoped reads and the writes of the write path.

Writes take the caller's connection (the engine's transaction also logs history and bumps
versions); reads open their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import from_db, to_db, utcnow
from agentmem.errors import NotFoundError
from agentmem.store import schema as t
from agentmem.store.dialect import insert_ignore, lock_scope
from agentmem.store.filter_sql import pushdown
from agentmem.store.sql_base import SqlBase, scoped
from agentmem.types import Scope, Turn

if TYPE_CHECKING:
    from agentmem.mechanisms.base import TurnFilter

__all__ = ["NewTurn", "TurnLog"]


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


class TurnLog(SqlBase):
    """Scoped CRUD over the turns. Every method takes the caller's :class:`Scope`."""

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
        before = self.previous_turns(scope, session_id, seq, 1)
        return before[0] if before else None

    def previous_turns(self, scope: Scope, session_id: str | None, seq: int, n: int) -> list[Turn]:
        """Up to ``n`` turns of a session before ``seq``, nearest first (among turns without a
        session when ``None``)."""
        q = sa.select(t.turns).where(scoped(t.turns, scope), t.turns.c.seq < seq)
        q = q.where(t.turns.c.session_id.is_(None) if session_id is None else t.turns.c.session_id == session_id)
        with self.begin() as conn:
            return [_turn(r) for r in conn.execute(q.order_by(t.turns.c.seq.desc()).limit(max(0, n)))]

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

