"""The thought mechanism's table, ``thoughts``, and its history entries (all its SQL).

Methods that take a ``conn`` run inside the caller's transaction (``with repo.begin() as
conn``), so a thought's row, its history entry and the version bump commit together.
History entries use ``record_kind="thought"`` and the thought's JSON form (:func:`thought_json`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import from_db, to_db
from agentmem.mechanisms.thoughts.recalls import RecallTally
from agentmem.store import schema as t
from agentmem.store.sql import SqlStore, dumps, scoped
from agentmem.types import Scope, Thought

__all__ = ["LiveRow", "ThoughtRepository", "thought_json"]

_TABLE = t.thoughts


def _scoped(scope: Scope) -> sa.ColumnElement[bool]:
    return scoped(_TABLE, scope)


def _thought(row: Any) -> Thought:
    return Thought(
        id=row.id,
        scope=Scope(row.tenant, row.user_id),
        text=row.text,
        subject=row.subject,
        relation=row.relation,
        object=row.object,
        source_ids=tuple(row.source_ids or ()),
        merged_from=tuple(row.merged_from or ()),
        created_at=from_db(row.created_at),
        updated_at=from_db(row.updated_at),
        last_recalled_at=from_db(row.last_recalled_at),
        recall_count=int(row.recall_count or 0),
        valid_from=from_db(row.valid_from),
        valid_to=from_db(row.valid_to),
    )


def thought_json(th: Thought) -> str:
    """A thought as its history entries record it."""
    return dumps(
        {
            "text": th.text,
            "triple": [th.subject, th.relation, th.object] if th.subject else None,
            "source_ids": list(th.source_ids),
            "merged_from": list(th.merged_from),
            "valid_from": th.valid_from,
            "valid_to": th.valid_to,
        }
    )


class LiveRow:
    """What recall needs of a live thought: id, text, stored LSH codes, ``valid_from``."""

    __slots__ = ("id", "lsh_codes", "text", "valid_from")

    def __init__(self, id: str, text: str, lsh_codes: dict[str, Any] | None, valid_from: datetime | None) -> None:
        self.id, self.text, self.lsh_codes, self.valid_from = id, text, lsh_codes, valid_from


class ThoughtRepository:
    """Thoughts of each scope (the owner scope: tenant and user), on the shared :class:`SqlStore`."""

    def __init__(self, sql: SqlStore, name: str = "thought") -> None:
        self.sql = sql
        self.name = name  # the version counter bumped by writes
        self._recalls = RecallTally()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; recalls it wrote (:meth:`_settle`) are pending again if it fails."""
        taken: list[tuple[Scope, dict[str, tuple[int, datetime]]]] = []
        try:
            with self.sql.begin() as conn:
                conn.info["agentmem.recalls"] = taken
                yield conn
        except BaseException:
            for owner, recalls in taken:
                self._recalls.restore(owner, recalls)
            raise

    # -- recall statistics (see agentmem.mechanisms.thoughts.recalls) -------------------------
    def record_recalls(self, owner: Scope, ids: Sequence[str], now: datetime) -> None:
        """Count one recall of each of ``ids`` (in memory; written by the next read of the user)."""
        self._recalls.record(owner, ids, now)

    def flush_recalls(self) -> None:
        """Write every pending recall."""
        for owner in self._recalls.owners():
            with self.begin() as conn:
                self._settle(conn, owner)

    def _settle(self, conn: Connection, owner: Scope) -> None:
        """Write ``owner``'s pending recalls in ``conn``'s transaction: per thought ``(n, at)``,
        ``recall_count += n`` and ``last_recalled_at = at`` (not logged, no version bump)."""
        recalls = self._recalls.take(owner)
        if not recalls:
            return
        conn.info.setdefault("agentmem.recalls", []).append((owner, recalls))
        for tid, (n, at) in recalls.items():
            conn.execute(
                sa.update(_TABLE).where(_scoped(owner), _TABLE.c.id == tid)
                .values(recall_count=_TABLE.c.recall_count + n, last_recalled_at=to_db(at))
            )

    def ensure_user(self, conn: Connection, owner: Scope) -> None:
        self.sql.ensure_user(conn, owner)

    def bump_version(self, conn: Connection, owner: Scope) -> int:
        return self.sql.bump_version(conn, owner, self.name)

    def version(self, owner: Scope) -> int:
        return self.sql.versions(owner).get(self.name, 0)

    # -- reads -------------------------------------------------------------------------------
    def get(self, owner: Scope, thought_id: str, conn: Connection | None = None) -> Thought | None:
        q = sa.select(_TABLE).where(_scoped(owner), _TABLE.c.id == thought_id)
        if conn is not None:
            self._settle(conn, owner)
            row = conn.execute(q).first()
        else:
            with self.begin() as c:
                self._settle(c, owner)
                row = c.execute(q).first()
        return None if row is None else _thought(row)

    def thoughts(self, owner: Scope, include_forgotten: bool = False) -> list[Thought]:
        """Oldest first; live ones only unless ``include_forgotten``."""
        q = sa.select(_TABLE).where(_scoped(owner))
        if not include_forgotten:
            q = q.where(_TABLE.c.valid_to.is_(None))
        with self.begin() as conn:
            self._settle(conn, owner)
            rows = conn.execute(q.order_by(_TABLE.c.created_at, _TABLE.c.id)).all()
        return [_thought(r) for r in rows]

    def all_thoughts(self, conn: Connection, owner: Scope) -> list[Thought]:
        self._settle(conn, owner)
        return [_thought(r) for r in conn.execute(sa.select(_TABLE).where(_scoped(owner))).all()]

    def live(self, conn: Connection, owner: Scope) -> list[Thought]:
        self._settle(conn, owner)
        rows = conn.execute(sa.select(_TABLE).where(_scoped(owner), _TABLE.c.valid_to.is_(None))).all()
        return [_thought(r) for r in rows]

    def count_live(self, conn: Connection, owner: Scope) -> int:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(_TABLE).where(_scoped(owner), _TABLE.c.valid_to.is_(None))
        ).scalar_one())

    def live_rows(self, owner: Scope) -> list[LiveRow]:
        """The live thoughts for an index, oldest first."""
        with self.sql.begin() as conn:
            rows = conn.execute(
                sa.select(_TABLE.c.id, _TABLE.c.text, _TABLE.c.lsh_codes, _TABLE.c.valid_from)
                .where(_scoped(owner), _TABLE.c.valid_to.is_(None)).order_by(_TABLE.c.created_at, _TABLE.c.id)
            ).all()
        return [LiveRow(r.id, r.text, r.lsh_codes, from_db(r.valid_from)) for r in rows]

    def live_with(self, conn: Connection, owner: Scope, subject: str, relation: str) -> list[Thought]:
        """Live thoughts with this subject and relation (case-insensitive)."""
        self._settle(conn, owner)
        rows = conn.execute(
            sa.select(_TABLE).where(
                _scoped(owner), _TABLE.c.valid_to.is_(None),
                sa.func.lower(_TABLE.c.subject) == subject.lower(),
                sa.func.lower(_TABLE.c.relation) == relation.lower(),
            )
        ).all()
        return [_thought(r) for r in rows]

    # -- writes (each logged) ----------------------------------------------------------------
    def insert(self, conn: Connection, owner: Scope, th: Thought, lsh_codes: dict[str, Any], now: datetime) -> None:
        conn.execute(
            sa.insert(_TABLE).values(
                id=th.id, tenant=owner.tenant, user_id=owner.user_id, text=th.text, subject=th.subject,
                relation=th.relation, object=th.object, source_ids=list(th.source_ids), merged_from=[],
                lsh_codes=lsh_codes, created_at=to_db(now), updated_at=to_db(now), recall_count=0,
                valid_from=to_db(now),
            )
        )
        self.sql.log(conn, owner, [(th.id, "thought", "ADD", None, thought_json(th))])

    def merge(self, conn: Connection, owner: Scope, before: Thought, after: Thought, merged: str, now: datetime) -> None:
        conn.execute(
            sa.update(_TABLE).where(_scoped(owner), _TABLE.c.id == before.id).values(
                source_ids=list(after.source_ids), merged_from=list(after.merged_from), updated_at=to_db(now)
            )
        )
        self.sql.log(
            conn, owner, [(before.id, "thought", "MERGE", thought_json(before), thought_json(after))],
            meta={"merged": merged},
        )

    def set_sources(self, conn: Connection, owner: Scope, before: Thought, source_ids: Sequence[str],
                    reason: str) -> None:
        after = replace(before, source_ids=tuple(source_ids))
        conn.execute(
            sa.update(_TABLE).where(_scoped(owner), _TABLE.c.id == before.id).values(source_ids=list(source_ids))
        )
        self.sql.log(conn, owner, [(before.id, "thought", "UPDATE", thought_json(before), thought_json(after))],
                     meta={"reason": reason})

    def delete(self, conn: Connection, owner: Scope, th: Thought, reason: str) -> None:
        """Delete a thought's row (logged as ``DELETE``)."""
        conn.execute(sa.delete(_TABLE).where(_scoped(owner), _TABLE.c.id == th.id))
        self.sql.log(conn, owner, [(th.id, "thought", "DELETE", thought_json(th), None)], meta={"reason": reason})

    def end(self, conn: Connection, owner: Scope, th: Thought, now: datetime, meta: dict[str, Any]) -> None:
        """End a thought's validity at ``now`` (logged as ``FORGET`` with ``meta``)."""
        conn.execute(sa.update(_TABLE).where(_scoped(owner), _TABLE.c.id == th.id).values(valid_to=to_db(now)))
        after = replace(th, valid_to=now)
        self.sql.log(conn, owner, [(th.id, "thought", "FORGET", thought_json(th), thought_json(after))], meta=meta)


    def delete_user(self, owner: Scope) -> None:
        self._recalls.drop(owner)
        with self.sql.begin() as conn:
            conn.execute(sa.delete(_TABLE).where(_scoped(owner)))
