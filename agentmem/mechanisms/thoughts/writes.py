"""The steps of a thought write, inside the caller's transaction: find the thoughts a draft
may contradict or repeat, insert, merge, forget, and apply the capacity and decay policies
(:mod:`agentmem.mechanisms.thoughts.policy`) through the
:class:`~agentmem.mechanisms.thoughts.repository.ThoughtRepository`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from agentmem.config import ThoughtConfig
from agentmem.errors import NotFoundError
from agentmem.mechanisms.thoughts import policy
from agentmem.mechanisms.thoughts.extract import ThoughtDraft
from agentmem.mechanisms.thoughts.repository import ThoughtRepository
from agentmem.types import Scope, Thought

__all__ = ["evict", "forget_rows", "insert_row", "merge_row", "same_subject_relation", "term"]


def term(value: str | None) -> str | None:
    """A triple part with its whitespace collapsed (``None`` when absent or blank)."""
    return " ".join(value.split()) or None if value is not None else None


def same_subject_relation(repo: ThoughtRepository, conn: Connection, owner: Scope, draft: ThoughtDraft) -> list[Thought]:
    """The live thoughts with the draft's subject and relation (none when it has no triple)."""
    if draft.triple() is None:
        return []
    return repo.live_with(conn, owner, draft.subject or "", draft.relation or "")


def insert_row(
    repo: ThoughtRepository, conn: Connection, owner: Scope, new_id: str, draft: ThoughtDraft, codes: np.ndarray,
    signature: str, source_ids: tuple[str, ...], now: datetime,
) -> Thought:
    """Insert the draft as thought ``new_id`` with its LSH ``codes`` (under the index ``signature``)."""
    th = Thought(
        id=new_id, scope=owner, text=draft.text, subject=draft.subject, relation=draft.relation,
        object=draft.object, source_ids=tuple(dict.fromkeys(source_ids)), created_at=now,
        updated_at=now, valid_from=now,
    )
    lsh_codes = {"sig": signature, "codes": [int(c) for c in codes]}
    repo.insert(conn, owner, th, lsh_codes, now)
    return th


def merge_row(
    repo: ThoughtRepository, conn: Connection, owner: Scope, target_id: str, new_id: str,
    source_ids: tuple[str, ...], now: datetime,
) -> Thought:
    """Merge the new thought ``new_id`` into ``target_id`` (:func:`.policy.merged`); the merged thought."""
    before = repo.get(owner, target_id, conn)
    if before is None:
        raise NotFoundError(f"no thought {target_id!r} to merge into")
    after = policy.merged(before, new_id, source_ids, now)
    repo.merge(conn, owner, before, after, new_id, now)
    return after


def forget_rows(
    repo: ThoughtRepository, conn: Connection, owner: Scope, victims: Sequence[Thought], now: datetime,
    reason: str, by: str | None = None,
) -> None:
    """End the validity of ``victims`` at ``now``, recording ``reason`` (and the thought ``by``)."""
    for th in victims:
        meta: dict[str, Any] = {"reason": reason} | ({"by": by} if by else {})
        repo.end(conn, owner, th, now, meta)


def evict(
    repo: ThoughtRepository, conn: Connection, owner: Scope, now: datetime, config: ThoughtConfig, *, protect: str
) -> list[str]:
    """Apply the capacity and decay policies; returns the ids forgotten."""
    live_n = repo.count_live(conn, owner)
    ttl = timedelta(days=config.ttl_days) if config.ttl_days else None
    if live_n <= config.capacity and ttl is None:
        return []
    live = repo.live(conn, owner)
    decayed = policy.stale(live, now, ttl, protect=[protect])
    forget_rows(repo, conn, owner, [th for th in live if th.id in set(decayed)], now, "decay")
    rest = [th for th in live if th.id not in set(decayed)]
    over = policy.capacity_victims(rest, config.capacity, protect=[protect])
    forget_rows(repo, conn, owner, [th for th in rest if th.id in set(over)], now, "capacity")
    return [*decayed, *over]
