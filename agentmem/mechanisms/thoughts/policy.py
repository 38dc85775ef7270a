"""Think-in-Memory's insert / forget / merge, as pure policies over thought records.

Think-in-Memory (Liu et al. 2023, §3.3) organises thoughts with three operations; here each is a
function of the records alone (no I/O), and :class:`agentmem.mechanisms.thoughts.component.ThoughtComponent`
applies their decisions in one transaction and logs them in the history:

* **insert** — a new thought is stored unless it merges (below).
* **merge** (:func:`merge_target`, :func:`merged`) — a new thought whose nearest live thought
  (LSH candidates re-ranked by exact cosine) has cosine ``>= threshold``, or which states the
  same ``(subject, relation, object)``, is folded into that thought: its text, triple and
  vector stay; the provenance of both is kept (``source_ids`` united, the new thought's id
  appended to ``merged_from``). Keeping the old vector is what keeps the invariant "no two
  live thoughts above the threshold".
* **forget by contradiction** (:func:`contradicted`) — a newer thought with the same subject and
  relation but another object ends the validity of the older ones (``valid_to = now``): they
  are no longer recalled but stay in the store and the history.
* **forget by capacity / decay** (:func:`capacity_victims`, :func:`stale`) — when a user holds
  more than ``capacity`` live thoughts, the least recalled go first, oldest first among equals;
  with a ``ttl``, thoughts neither recalled nor updated for that long are forgotten too. The
  thought just written is never its own victim.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from agentmem.types import Thought

__all__ = [
    "capacity_victims",
    "contradicted",
    "merge_target",
    "merged",
    "norm_term",
    "same_fact",
    "stale",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def norm_term(term: str | None) -> str | None:
    """Case- and whitespace-insensitive form of a triple term (``None`` stays ``None``)."""
    if term is None:
        return None
    text = " ".join(term.split()).lower()
    return text or None


def _key(t: Thought) -> tuple[str | None, str | None, str | None]:
    return norm_term(t.subject), norm_term(t.relation), norm_term(t.object)


def contradicted(
    subject: str | None, relation: str | None, obj: str | None, live: Iterable[Thought]
) -> list[str]:
    """Ids of live thoughts that the triple ``(subject, relation, obj)`` contradicts.

    A thought is contradicted when it has the same subject and relation (normalized) and a
    different object. A thought without a triple contradicts nothing.
    """
    s, r, o = norm_term(subject), norm_term(relation), norm_term(obj)
    if s is None or r is None or o is None:
        return []
    out = []
    for t in live:
        ts, tr, to = _key(t)
        if t.live and ts == s and tr == r and to is not None and to != o:
            out.append(t.id)
    return out


def same_fact(
    subject: str | None, relation: str | None, obj: str | None, live: Iterable[Thought]
) -> str | None:
    """Id of a live thought stating exactly this triple (normalized), if any."""
    key = (norm_term(subject), norm_term(relation), norm_term(obj))
    if None in key:
        return None
    for t in live:
        if t.live and _key(t) == key:
            return t.id
    return None


def merge_target(
    neighbours: Sequence[tuple[str, float]], threshold: float, *, exclude: Iterable[str] = ()
) -> str | None:
    """The nearest neighbour with cosine ``>= threshold`` that is not excluded, or ``None``.

    ``neighbours`` are ``(id, cosine)`` pairs, best first (LSH candidates after exact re-rank).
    """
    skip = set(exclude)
    for tid, sim in neighbours:
        if tid in skip:
            continue
        return tid if sim >= threshold else None
    return None


def merged(target: Thought, new_id: str, source_ids: Sequence[str], now: datetime) -> Thought:
    """``target`` after absorbing the thought ``new_id``: provenance of both, text of the target."""
    sources = tuple(dict.fromkeys((*target.source_ids, *source_ids)))
    return replace(
        target,
        source_ids=sources,
        merged_from=(*target.merged_from, new_id),
        updated_at=now,
    )


def _last_active(t: Thought) -> datetime:
    return max(
        (d for d in (t.last_recalled_at, t.updated_at, t.created_at) if d is not None),
        default=_EPOCH,
    )


def capacity_victims(live: Sequence[Thought], capacity: int, *, protect: Iterable[str] = ()) -> list[str]:
    """Ids to forget so that at most ``capacity`` live thoughts remain.

    Order of forgetting: fewest recalls first, then least recently active (recalled, updated
    or created), then oldest created, then id — a total order, so the choice is deterministic.
    Ids in ``protect`` are never chosen.
    """
    excess = sum(1 for t in live if t.live) - capacity
    if excess <= 0:
        return []
    keep = set(protect)
    pool = [t for t in live if t.live and t.id not in keep]
    pool.sort(key=lambda t: (t.recall_count, _last_active(t), t.created_at or _EPOCH, t.id))
    return [t.id for t in pool[:excess]]


def stale(
    live: Iterable[Thought], now: datetime, ttl: timedelta | None, *, protect: Iterable[str] = ()
) -> list[str]:
    """Ids of live thoughts not recalled or updated within ``ttl`` of ``now`` (none if no ttl)."""
    if ttl is None:
        return []
    keep = set(protect)
    return [t.id for t in live if t.live and t.id not in keep and now - _last_active(t) > ttl]
