"""The knowledge graph in SQL: write a :class:`GraphDelta`, load a :class:`GraphIndex`.

Every statement filters on tenant and user id. Ids are hashes of (tenant, user, name), and
inserts ignore conflicts, so two replicas adding the same entity or fact do not clash.
Deletion is decided in SQL (what no remaining passage supports), not from a possibly stale
in-memory graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentmem._time import to_db, utcnow
from agentmem.mechanisms.graph.index import GraphDelta, GraphIndex
from agentmem.store import schema as t
from agentmem.store.sql import SqlStore, insert_ignore, scoped
from agentmem.types import Scope

__all__ = ["delete_graph_user", "delete_passages", "graph_stats", "load_graph", "write_delta"]

_CHUNK = 500



def _blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()


def _vec(b: bytes | None, dim: int) -> np.ndarray:
    if b is None:
        return np.zeros(dim, dtype=np.float32)
    return np.frombuffer(b, dtype=np.float32)


def _insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for s in range(0, len(rows), _CHUNK):
        insert_ignore(conn, table, rows[s : s + _CHUNK])


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(ids)
    for s in range(0, len(items), _CHUNK):
        yield items[s : s + _CHUNK]


def write_delta(conn: Connection, scope: Scope, delta: GraphDelta) -> None:
    """Insert what ``delta`` adds (removals go through :func:`delete_passages`)."""
    now = to_db(utcnow())
    own = {"tenant": scope.tenant, "user_id": scope.user_id}
    _insert(conn, t.entities, [
        {**own, "id": e, "name": name, "vector": _blob(delta.entity_vecs[e]), "created_at": now}
        for e, name in delta.entities.items()
    ])
    _insert(conn, t.facts, [
        {**own, "id": f, "subject": s, "relation": r, "object": o, "subject_id": sid,
         "object_id": oid, "vector": _blob(delta.fact_vecs[f]), "created_at": now}
        for f, (s, r, o, sid, oid) in delta.facts.items()
    ])
    _insert(conn, t.graph_passages, [
        {**own, "passage_id": p, "vector": _blob(v), "created_at": now}
        for p, v in delta.passages.items()
    ])
    _insert(conn, t.graph_mentions, [
        {**own, "entity_id": e, "passage_id": p} for e, p in sorted(delta.mentions)
    ])
    _insert(conn, t.graph_fact_sources, [
        {**own, "fact_id": f, "passage_id": p} for f, p in sorted(delta.sources)
    ])
    _insert(conn, t.graph_synonyms, [
        {**own, "a": a, "b": b, "score": w} for (a, b), w in sorted(delta.synonyms.items())
    ])
    _insert(conn, t.graph_topics, [
        {**own, "passage_id": p, "entity_id": e} for p, e in sorted(delta.topics.items())
    ])


def delete_passages(conn: Connection, scope: Scope, passage_ids: Sequence[str]) -> None:
    """Remove passages, their links, and the facts/entities/synonyms left without support."""
    for chunk in _chunks(passage_ids):
        for table in (t.graph_mentions, t.graph_fact_sources, t.graph_topics, t.graph_passages):
            conn.execute(sa.delete(table).where(scoped(table, scope), table.c.passage_id.in_(chunk)))
    live_facts = sa.select(t.graph_fact_sources.c.fact_id).where(scoped(t.graph_fact_sources, scope))
    conn.execute(sa.delete(t.facts).where(scoped(t.facts, scope), t.facts.c.id.not_in(live_facts)))
    live_entities = sa.select(t.graph_mentions.c.entity_id).where(scoped(t.graph_mentions, scope))
    conn.execute(
        sa.delete(t.entities).where(scoped(t.entities, scope), t.entities.c.id.not_in(live_entities))
    )
    known = sa.select(t.entities.c.id).where(scoped(t.entities, scope))
    conn.execute(
        sa.delete(t.graph_synonyms).where(
            scoped(t.graph_synonyms, scope),
            sa.or_(t.graph_synonyms.c.a.not_in(known), t.graph_synonyms.c.b.not_in(known)),
        )
    )


def delete_graph_user(conn: Connection, scope: Scope) -> None:
    """Drop every graph row of this user (``SqlStore.delete_user`` does this too)."""
    for table in (t.graph_synonyms, t.graph_topics, t.graph_mentions, t.graph_fact_sources, t.graph_passages,
                  t.facts, t.entities):
        conn.execute(sa.delete(table).where(scoped(table, scope)))


def load_graph(sql: SqlStore, scope: Scope, dim: int, *, topic_weight: float = 0.0) -> GraphIndex:
    """Build the user's :class:`GraphIndex` from SQL (the batch path; replicas reload with it);
    ``topic_weight`` is the weight its snapshot gives topic edges."""
    delta = GraphDelta()
    with sql.begin() as conn:
        for r in conn.execute(sa.select(t.entities).where(scoped(t.entities, scope))):
            delta.entities[r.id] = r.name
            delta.entity_vecs[r.id] = _vec(r.vector, dim)
        for r in conn.execute(sa.select(t.facts).where(scoped(t.facts, scope))):
            delta.facts[r.id] = (r.subject, r.relation, r.object, r.subject_id, r.object_id)
            delta.fact_vecs[r.id] = _vec(r.vector, dim)
        q = sa.select(t.graph_passages.c.passage_id, t.graph_passages.c.vector)
        for pid, vec in conn.execute(q.where(scoped(t.graph_passages, scope))):
            delta.passages[pid] = _vec(vec, dim)
        m = t.graph_mentions
        delta.mentions = {
            (e, p) for e, p in conn.execute(sa.select(m.c.entity_id, m.c.passage_id).where(scoped(m, scope)))
        }
        s = t.graph_fact_sources
        delta.sources = {
            (f, p) for f, p in conn.execute(sa.select(s.c.fact_id, s.c.passage_id).where(scoped(s, scope)))
        }
        y = t.graph_synonyms
        delta.synonyms = {
            (a, b): float(w)
            for a, b, w in conn.execute(sa.select(y.c.a, y.c.b, y.c.score).where(scoped(y, scope)))
        }
        o = t.graph_topics
        delta.topics = {
            p: e for p, e in conn.execute(sa.select(o.c.passage_id, o.c.entity_id).where(scoped(o, scope)))
        }
    index = GraphIndex(dim, topic_weight=topic_weight)
    index.apply(delta)
    return index


def graph_stats(sql: SqlStore, scope: Scope) -> dict[str, int]:
    """Row counts of the user's graph tables (entities, facts, passages, links, synonyms)."""
    out: dict[str, int] = {}
    with sql.begin() as conn:
        for name, table in (
            ("entities", t.entities), ("facts", t.facts), ("passages", t.graph_passages),
            ("mentions", t.graph_mentions), ("fact_sources", t.graph_fact_sources),
            ("synonyms", t.graph_synonyms), ("topics", t.graph_topics),
        ):
            q = sa.select(sa.func.count()).select_from(table).where(scoped(table, scope))
            out[name] = int(conn.execute(q).scalar() or 0)
    return out
