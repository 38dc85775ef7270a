"""The read path in one place: query → every component's candidates → fusion → hits.

:func:`search` is what :meth:`agentmem.Memory.search` and :meth:`~agentmem.Memory.recall` run
once the facade has checked the arguments and built the scope; :func:`episode_context` reads
the turns of the episodes that cover a recall's hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from agentmem._time import as_utc, utcnow
from agentmem.config import MemoryConfig
from agentmem.embedding import embed_query
from agentmem.kernels.threads import one_torch_thread
from agentmem.mechanisms.base import Candidate, MemoryComponent, Query, Services, TurnFilter
from agentmem.mechanisms.turns.passages import long_turns
from agentmem.recall.fusion import fuse_candidates
from agentmem.recall.pack import episode_spans_of
from agentmem.recall.reader import default_reader, read
from agentmem.recall.timeparse import parse_time_window
from agentmem.types import Hit, Scope, Turn

__all__ = ["episode_context", "search"]


def search(
    services: Services, components: Sequence[MemoryComponent], scope: Scope, query: str, *, k: int,
    flt: TurnFilter, now: datetime | None,
) -> tuple[list[Hit], list[list[Candidate]]]:
    """The ``k`` best hits for ``query`` in ``scope`` and every component's candidate list.

    ``flt`` is the parsed filter; a structured one is first resolved to the turn ids it
    admits, so every index masks exactly.
    """
    s = services
    if flt.where is not None:
        allowed = s.sql.list_turns(scope, where=flt)
        flt = replace(flt, allowed=frozenset(t.id for t in allowed))
    with one_torch_thread():  # a single query's tensor work: see agentmem.kernels.threads
        q = Query(
            text=query,
            vector=embed_query(s.embedder, query),
            scope=scope,
            k=max(k, s.config.recall.candidates),
            versions=s.sql.versions(scope),
            time_hint=parse_time_window(query, as_utc(now) if now else utcnow()),
            filter=flt,
        )
        lists = [c.search(q) for c in components]
    rc = s.config.recall
    if rc.reader:
        fused = read(lists, query_text=query, has_time_window=q.time_hint is not None,
                     model=default_reader(), weights=rc.weights, rrf_k=rc.rrf_k)
    else:
        fused = fuse_candidates(
            lists, weights=rc.weights, k=rc.rrf_k, primary=rc.primary, head=rc.head, lead=rc.lead
        )
    return _hits(s, scope, fused, lists, flt, k), lists


def _hits(s: Services, scope: Scope, fused: list[Any], lists: list[list[Candidate]], flt: TurnFilter,
          k: int) -> list[Hit]:
    extra = {(c.kind, c.id): c for cands in lists for c in cands if c.kind != "turn"}
    passage = {c.id: c.passage for cands in lists for c in cands if c.kind == "turn" and c.passage is not None}
    want = [f for f in fused][: k * 4 if flt.structured() else k * 2]
    turns = {t.id: t for t in s.sql.get_turns(scope, [f.key[1] for f in want if f.key[0] == "turn"])}
    hits: list[Hit] = []
    for f in want:
        kind, rid = f.key
        if kind == "turn":
            t = turns.get(rid)
            if t is None or not flt.accepts(t):  # deleted meanwhile, or filtered out
                continue
            text, meta = _passage_text(t, passage.get(rid), s.config)
            hits.append(Hit(rid, "turn", text, f.score, scope, t.timestamp, dict(f.ranks), dict(f.raw),
                            speaker=t.speaker, metadata=meta))
        else:
            c = extra[(kind, rid)]
            hits.append(Hit(rid, c.kind, c.text or "", f.score, scope, c.timestamp, dict(f.ranks), dict(f.raw),
                            metadata=dict(c.metadata), superseded_by=c.superseded_by, contradicts=c.contradicts))
        if len(hits) == k:
            break
    return hits


def _passage_text(t: Turn, passage: int | None, cfg: MemoryConfig) -> tuple[str, dict[str, Any]]:
    """A turn hit's text and metadata: a long turn shows the passage that matched."""
    text, meta = t.content, {**t.metadata, "session_id": t.scope.session_id, "seq": t.seq}
    if passage is not None:
        parts = long_turns([t.content], longer_than=cfg.long_turn_chars, size=cfg.passage_chars,
                           overlap=cfg.passage_overlap).get(0, [])
        if passage < len(parts):
            text = parts[passage]
            meta.update(passage=passage, passages=len(parts), chars=len(t.content))
    return text, meta


def episode_context(
    s: Services, scope: Scope, hits: list[Hit], lists: list[list[Candidate]], flt: TurnFilter
) -> dict[str, list[Hit]] | None:
    """For each turn hit inside a recalled episode, that episode's turns as hits (score 0), in
    order; ``None`` when no hit is covered. Turns ``flt`` rejects are left out."""
    covering = episode_spans_of(hits, [c for cands in lists for c in cands if c.kind == "episode"])
    if not covering:
        return None
    ids = list(dict.fromkeys(t for span in covering.values() for t in span))
    turns = {t.id: t for t in s.sql.get_turns(scope, ids) if flt.accepts(t)}
    return {hid: [_turn_hit(turns[t], scope) for t in span if t in turns] for hid, span in covering.items()}


def _turn_hit(t: Turn, scope: Scope) -> Hit:
    return Hit(t.id, "turn", t.content, 0.0, scope, t.timestamp, {}, {},
               speaker=t.speaker, metadata={**t.metadata, "session_id": t.scope.session_id, "seq": t.seq})

