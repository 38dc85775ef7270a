"""Fact memory's SQL tables and every query on them (each filtered on tenant and user).

``fact_mentions`` keeps what each turn said (one row per statement, the provenance facts are
derived from); ``fact_memory`` keeps the derived facts of each subject, replaced as a whole
whenever that subject's mentions change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Connection, Engine

from agentmem._time import from_db, to_db
from agentmem.mechanisms.facts.algorithms import Mention
from agentmem.statements import Statement
from agentmem.store import schema as t
from agentmem.store.sql import scoped
from agentmem.types import Fact, Scope

__all__ = ["FactRepository", "fact_memory", "fact_mentions"]

fact_mentions = Table(
    "fact_mentions",
    t.metadata,
    Column("tenant", t.NAME, nullable=False),
    Column("user_id", t.NAME, nullable=False),
    Column("turn_id", t.ID, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("seq", sa.BigInteger, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("subject", Text, nullable=False),
    Column("subject_key", String(255), nullable=False),
    Column("relation", String(128), nullable=False),
    Column("object", Text, nullable=False),
    Column("negated", Boolean, nullable=False),
    Column("ended", Boolean, nullable=False),
    Column("changed", Boolean, nullable=False),
    Column("previous", Text),
    Column("first_person", Boolean, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "turn_id", "idx"),
    Index("ix_fact_mentions_subject", "tenant", "user_id", "subject_key"),
)

fact_memory = Table(
    "fact_memory",
    t.metadata,
    Column("id", t.ID, primary_key=True),
    Column("tenant", t.NAME, nullable=False),
    Column("user_id", t.NAME, nullable=False),
    Column("subject", Text, nullable=False),
    Column("subject_key", String(255), nullable=False),
    Column("relation", String(128), nullable=False),
    Column("object", Text, nullable=False),
    Column("negated", Boolean, nullable=False),
    Column("valid_from", DateTime),
    Column("valid_to", DateTime),
    Column("source_ids", JSON, nullable=False),
    Column("superseded_by", t.ID),
    Column("contradicts", JSON, nullable=False),
    Column("text", Text, nullable=False),
    Column("first_person", Boolean, nullable=False),
    Column("ord", Integer, nullable=False),
    Index("ix_fact_memory_subject", "tenant", "user_id", "subject_key"),
)


def subject_key(subject: str) -> str:
    return " ".join(subject.lower().split())[:255]


def _fact(row: Any) -> Fact:
    return Fact(
        id=row.id, scope=Scope(row.tenant, row.user_id), subject=row.subject, relation=row.relation,
        object=row.object, negated=bool(row.negated), valid_from=from_db(row.valid_from),
        valid_to=from_db(row.valid_to), source_ids=tuple(row.source_ids or ()), superseded_by=row.superseded_by,
        contradicts=tuple(row.contradicts or ()), text=row.text,
    )


class FactRepository:
    """Scoped reads and writes of the fact tables (created on first use if missing)."""

    def __init__(self, engine: Engine) -> None:
        t.metadata.create_all(engine, tables=[fact_mentions, fact_memory])

    def add_mentions(self, conn: Connection, owner: Scope, mentions: Sequence[Mention], firsts: Sequence[bool]) -> None:
        rows = []
        per_turn: dict[str, int] = {}
        for m, first in zip(mentions, firsts, strict=True):
            idx = per_turn.get(m.turn_id, 0)
            per_turn[m.turn_id] = idx + 1
            s = m.statement
            rows.append({
                "tenant": owner.tenant, "user_id": owner.user_id, "turn_id": m.turn_id, "idx": idx, "seq": m.seq,
                "at": to_db(m.at), "subject": s.subject, "subject_key": subject_key(s.subject),
                "relation": s.relation, "object": s.object, "negated": s.negated, "ended": s.ended,
                "changed": s.changed, "previous": s.previous, "first_person": first,
            })
        if rows:
            conn.execute(sa.insert(fact_mentions), rows)

    def drop_turns(self, conn: Connection, owner: Scope, turn_ids: Sequence[str]) -> set[str]:
        """Delete the mentions of these turns; returns the subject keys they touched."""
        cond = sa.and_(scoped(fact_mentions, owner), fact_mentions.c.turn_id.in_(list(turn_ids)))
        keys = {r[0] for r in conn.execute(sa.select(fact_mentions.c.subject_key).where(cond))}
        if keys:
            conn.execute(sa.delete(fact_mentions).where(cond))
        return keys

    def mentions(self, conn: Connection, owner: Scope, keys: Iterable[str]) -> tuple[list[Mention], set[str]]:
        """The mentions of these subjects, and the subject keys stated in the first person."""
        rows = conn.execute(
            sa.select(fact_mentions).where(scoped(fact_mentions, owner), fact_mentions.c.subject_key.in_(list(keys)))
            .order_by(fact_mentions.c.at, fact_mentions.c.seq, fact_mentions.c.idx)
        ).all()
        out = [
            Mention(r.turn_id, from_db(r.at), int(r.seq), Statement(  # type: ignore[arg-type]
                r.subject, r.relation, r.object, bool(r.negated), bool(r.ended), bool(r.changed), r.previous,
                bool(r.first_person)))
            for r in rows
        ]
        return out, {r.subject_key for r in rows if r.first_person}

    def replace_facts(
        self, conn: Connection, owner: Scope, keys: Iterable[str], facts: Sequence[Fact], first_person: set[str]
    ) -> None:
        """Replace the facts of these subjects by ``facts``."""
        keys = list(keys)
        conn.execute(sa.delete(fact_memory).where(scoped(fact_memory, owner), fact_memory.c.subject_key.in_(keys)))
        rows = [
            {
                "id": f.id, "tenant": owner.tenant, "user_id": owner.user_id, "subject": f.subject,
                "subject_key": subject_key(f.subject), "relation": f.relation, "object": f.object,
                "negated": f.negated, "valid_from": to_db(f.valid_from) if f.valid_from else None,
                "valid_to": to_db(f.valid_to) if f.valid_to else None, "source_ids": list(f.source_ids),
                "superseded_by": f.superseded_by, "contradicts": list(f.contradicts), "text": f.text,
                "first_person": subject_key(f.subject) in first_person, "ord": i,
            }
            for i, f in enumerate(facts)
        ]
        if rows:
            conn.execute(sa.insert(fact_memory), rows)

    def facts(self, conn: Connection, owner: Scope, *, subject: str | None = None) -> list[tuple[Fact, bool]]:
        """Every fact of the user (or of one subject) with whether it is about the user themself."""
        cond = [scoped(fact_memory, owner)]
        if subject is not None:
            cond.append(fact_memory.c.subject_key == subject_key(subject))
        rows = conn.execute(
            sa.select(fact_memory).where(*cond).order_by(fact_memory.c.subject_key, fact_memory.c.ord)
        ).all()
        return [(_fact(r), bool(r.first_person)) for r in rows]

    def delete_user(self, conn: Connection, owner: Scope) -> None:
        conn.execute(sa.delete(fact_mentions).where(scoped(fact_mentions, owner)))
        conn.execute(sa.delete(fact_memory).where(scoped(fact_memory, owner)))
