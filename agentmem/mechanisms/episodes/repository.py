"""The episode mechanism's tables: ``episodes`` and ``episode_streams`` (all its SQL).

Methods that take a ``conn`` run inside the caller's transaction (``with repo.begin() as
conn``), so a stream's episodes, its saved state and the version bump commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import from_db, to_db, utcnow
from agentmem.store import schema as t
from agentmem.store.dialect import lock_scope
from agentmem.store.sql import SqlStore, scoped
from agentmem.types import Episode, Scope

__all__ = ["EpisodeRepository", "EpisodeTrace", "StoredStream", "episode_of_row", "episode_row"]


def _episode(row: Any) -> Episode:
    return Episode(
        id=row.id,
        scope=Scope(row.tenant, row.user_id, None, row.session_id),
        turn_ids=tuple(row.turn_ids),
        start=from_db(row.start_ts),  # type: ignore[arg-type]
        end=from_db(row.end_ts),  # type: ignore[arg-type]
        text=row.text,
        seq=row.seq,
        surprise_mean=row.surprise_mean,
        surprise_max=row.surprise_max,
        boundary_method=row.method,
    )


class _UnitLike(Protocol):
    turn_id: str | None
    text: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class EpisodeTrace:
    """One stored episode's units in order as ``(turn id, score)``; the turn id is ``None``
    for a deleted turn's unit, the score ``None`` in episodes stored before scores were kept."""

    episode_id: str
    stream: str
    is_open: bool
    method: str
    units: tuple[tuple[str | None, float | None], ...]


def episode_row(scope: Scope, stream: str, units: Sequence[_UnitLike], *, seq: int, surprise_mean: float,
                surprise_max: float, method: str, is_open: bool, scores: Sequence[float]) -> dict[str, Any]:
    """A new ``episodes`` row covering ``units`` (turn units, in order; none deleted), each
    stored as ``[turn_id, text, score]`` with its surprise (or drift) score from ``scores``."""
    return {
        "id": uuid.uuid4().hex, "tenant": scope.tenant, "user_id": scope.user_id,
        "session_id": stream or None, "stream": stream, "seq": seq,
        "start_ts": to_db(min(u.ts for u in units)), "end_ts": to_db(max(u.ts for u in units)),
        "text": "\n".join(u.text for u in units), "turn_ids": list(dict.fromkeys(u.turn_id for u in units if u.turn_id)),
        "units": [[u.turn_id, u.text, float(sc)] for u, sc in zip(units, scores, strict=True)],
        "surprise_mean": surprise_mean, "surprise_max": surprise_max,
        "method": method, "is_open": is_open, "created_at": to_db(utcnow()),
    }


def episode_of_row(row: dict[str, Any]) -> Episode:
    """The :class:`Episode` that reading ``row`` (:func:`episode_row`'s, once inserted) back
    from the database gives."""
    return _episode(SimpleNamespace(**row))


class StoredStream:
    """A stream's saved row: the segmenter that wrote it and its state."""

    __slots__ = ("method", "state", "stream")

    def __init__(self, stream: str, method: str, state: dict[str, Any]) -> None:
        self.stream, self.method, self.state = stream, method, state


class EpisodeRepository:
    """Episodes and stream states of each scope, on the shared :class:`SqlStore`."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.sql.begin() as conn:
            yield conn

    def bump_version(self, conn: Connection, scope: Scope, name: str) -> int:
        return self.sql.bump_version(conn, scope, name)

    @contextmanager
    def writing(self, scope: Scope) -> Iterator[Connection]:
        """A transaction holding the user's write lock (Postgres): replicas writing one user's
        streams take turns, so a stream's revision read in it is the last committed one."""
        with self.sql.begin() as conn:
            lock_scope(conn, scope)
            yield conn

    # -- streams -----------------------------------------------------------------------------
    def load_stream(self, conn: Connection, scope: Scope, stream: str) -> StoredStream | None:
        row = conn.execute(
            sa.select(t.episode_streams.c.state, t.episode_streams.c.method).where(
                scoped(t.episode_streams, scope), t.episode_streams.c.stream == stream
            )
        ).first()
        return None if row is None else StoredStream(stream, row.method, dict(row.state))

    def save_stream(self, conn: Connection, scope: Scope, stream: str, method: str, state: dict[str, Any]) -> None:
        where = sa.and_(scoped(t.episode_streams, scope), t.episode_streams.c.stream == stream)
        conn.execute(sa.delete(t.episode_streams).where(where))
        conn.execute(
            sa.insert(t.episode_streams).values(
                tenant=scope.tenant, user_id=scope.user_id, stream=stream, method=method,
                state=state, updated_at=to_db(utcnow()),
            )
        )

    def streams(self, conn: Connection, scope: Scope) -> list[StoredStream]:
        rows = conn.execute(sa.select(t.episode_streams).where(scoped(t.episode_streams, scope))).all()
        return [StoredStream(r.stream, r.method, dict(r.state)) for r in rows]

    def update_stream_state(self, conn: Connection, scope: Scope, stream: str, state: dict[str, Any]) -> None:
        conn.execute(
            sa.update(t.episode_streams)
            .where(scoped(t.episode_streams, scope), t.episode_streams.c.stream == stream)
            .values(state=state, updated_at=to_db(utcnow()))
        )

    # -- episodes ----------------------------------------------------------------------------
    def held(self, scope: Scope, stream: str, ids: set[str]) -> set[str]:
        """Those of ``ids`` that one of the stream's stored episodes covers."""
        held: set[str] = set()
        q = sa.select(t.episodes.c.turn_ids).where(scoped(t.episodes, scope), t.episodes.c.stream == stream)
        with self.sql.begin() as conn:
            for turn_ids in conn.execute(q).scalars():
                held.update(ids.intersection(turn_ids))
        return held

    def open_ids(self, conn: Connection, scope: Scope, stream: str) -> list[str]:
        return list(conn.execute(
            sa.select(t.episodes.c.id).where(
                scoped(t.episodes, scope), t.episodes.c.stream == stream, t.episodes.c.is_open.is_(True)
            )
        ).scalars())

    def next_seq(self, conn: Connection, scope: Scope) -> int:
        top = conn.execute(sa.select(sa.func.max(t.episodes.c.seq)).where(scoped(t.episodes, scope))).scalar()
        return int(top) + 1 if top is not None else 0

    def delete(self, conn: Connection, scope: Scope, ids: Collection[str]) -> None:
        conn.execute(sa.delete(t.episodes).where(scoped(t.episodes, scope), t.episodes.c.id.in_(list(ids))))

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            conn.execute(sa.insert(t.episodes), list(rows))

    def all_rows(self, conn: Connection, scope: Scope) -> list[Any]:
        """The scope's episode rows (``id``, ``stream``, ``turn_ids``, ``units``, ...)."""
        return list(conn.execute(sa.select(t.episodes).where(scoped(t.episodes, scope))).all())

    def set_units(self, conn: Connection, scope: Scope, episode_id: str, units: list[list[Any]]) -> None:
        """Replace an episode's units (its text and turn ids follow from them)."""
        conn.execute(
            sa.update(t.episodes).where(t.episodes.c.id == episode_id, scoped(t.episodes, scope)).values(
                units=units, text="\n".join(u[1] for u in units),
                turn_ids=list(dict.fromkeys(u[0] for u in units)),
            )
        )

    def units(self, scope: Scope, ids: Sequence[str]) -> dict[str, list[list[Any]]]:
        """Episode id → its stored units ``[turn_id, text]`` (ids not stored are left out)."""
        with self.sql.begin() as conn:
            got = conn.execute(sa.select(t.episodes.c.id, t.episodes.c.units).where(
                scoped(t.episodes, scope), t.episodes.c.id.in_(list(ids)))).all()
        return {r.id: r.units for r in got}

    def episodes(self, scope: Scope, *, session_id: str | None = None, include_open: bool = True) -> list[Episode]:
        """The scope's episodes by start time, then ``seq``."""
        q = sa.select(t.episodes).where(scoped(t.episodes, scope))
        if session_id is not None:
            q = q.where(t.episodes.c.stream == session_id)
        if not include_open:
            q = q.where(t.episodes.c.is_open.is_(False))
        with self.sql.begin() as conn:
            rows = conn.execute(q.order_by(t.episodes.c.start_ts, t.episodes.c.seq)).all()
        return [_episode(r) for r in rows]

    def traces(self, scope: Scope, *, session_id: str | None = None) -> list[EpisodeTrace]:
        """Each episode's units with their scores, in :meth:`episodes` order."""
        e = t.episodes
        q = sa.select(e.c.id, e.c.stream, e.c.is_open, e.c.method, e.c.units).where(scoped(e, scope))
        if session_id is not None:
            q = q.where(e.c.stream == session_id)
        with self.sql.begin() as conn:
            rows = conn.execute(q.order_by(e.c.start_ts, e.c.seq)).all()
        return [EpisodeTrace(r.id, r.stream, bool(r.is_open), r.method,
                             tuple((u[0], float(u[2]) if len(u) > 2 and u[2] is not None else None) for u in r.units))
                for r in rows]

    def delete_user(self, scope: Scope) -> None:
        with self.sql.begin() as conn:
            conn.execute(sa.delete(t.episodes).where(scoped(t.episodes, scope)))
            conn.execute(sa.delete(t.episode_streams).where(scoped(t.episode_streams, scope)))
