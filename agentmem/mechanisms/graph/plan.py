"""Planning graph changes: the :class:`~agentmem.mechanisms.graph.delta.GraphDelta` that adds
passages (:func:`plan_add`), links passages to their titles' entities (:func:`plan_topics`) or
removes passages (:func:`plan_delete`), and the texts adding passages embeds
(:func:`planned_texts`), computed against a
:class:`~agentmem.mechanisms.graph.index.GraphIndex` without changing it. Pure but for the
``embed`` callable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from agentmem.mechanisms.graph.delta import (
    GraphDelta,
    PassageInput,
    entity_id,
    fact_id,
    normalize_name,
    topic_name,
)
from agentmem.types import Scope

if TYPE_CHECKING:
    from agentmem.mechanisms.graph.index import GraphIndex

__all__ = ["Embed", "plan_add", "plan_delete", "plan_topics", "planned_texts"]

Embed = Callable[[Sequence[str]], np.ndarray]


def _synonyms_for(
    new_ids: list[str],
    new_vecs: np.ndarray,
    names: dict[str, str],
    old_ids: list[str],
    old_vecs: np.ndarray,
    *,
    threshold: float,
    max_neighbors: int,
) -> dict[tuple[str, str], float]:
    """Synonym edges of the new entities against old + new ones (cosine >= threshold, top-K)."""
    out: dict[tuple[str, str], float] = {}
    if not new_ids or max_neighbors == 0:
        return out
    all_ids = old_ids + new_ids
    all_vecs = np.concatenate([old_vecs, new_vecs]) if len(old_ids) else new_vecs
    # HippoRAG skips names with fewer than three letters/digits (numbers, initials).
    ok = np.array([len(re.sub(r"[^0-9a-z]", "", names[i])) > 2 for i in all_ids])
    for s in range(0, len(new_ids), 1024):
        sims = new_vecs[s : s + 1024] @ all_vecs.T
        sims[:, ~ok] = -1.0
        for r in range(sims.shape[0]):
            me = new_ids[s + r]
            if not ok[len(old_ids) + s + r]:
                continue
            sims[r, len(old_ids) + s + r] = -1.0
            hits = np.flatnonzero(sims[r] >= threshold)
            if len(hits) > max_neighbors:
                hits = hits[np.argsort(-sims[r, hits], kind="stable")[:max_neighbors]]
            for j in hits:
                other = all_ids[j]
                key = (me, other) if me < other else (other, me)
                out[key] = max(out.get(key, 0.0), round(float(sims[r, j]), 6))
    return out


def plan_add(
    index: GraphIndex,
    scope: Scope,
    passages: Sequence[PassageInput],
    embed: Embed,
    *,
    threshold: float = 0.8,
    max_neighbors: int = 100,
) -> GraphDelta:
    """The delta that adds ``passages`` (their triples, mentions and synonym edges) to ``index``.

    Only entities and facts not yet in the index are embedded, and only new entities are
    compared with the index for synonym edges. Triples with an empty part are dropped.
    """
    d, new_fact_text = _structure(index, scope, passages)
    _embed_entities(d, index, embed, threshold=threshold, max_neighbors=max_neighbors)
    new_f = sorted(new_fact_text)
    if new_f:
        fvecs = np.asarray(embed([new_fact_text[f] for f in new_f]), dtype=np.float32)
        d.fact_vecs = dict(zip(new_f, fvecs, strict=True))
    return d


def planned_texts(index: GraphIndex, scope: Scope, passages: Sequence[PassageInput]) -> list[str]:
    """The texts :func:`plan_add` of ``passages`` embeds: new entities' names, then new facts'
    ``"subject relation object"``."""
    d, new_fact_text = _structure(index, scope, passages)
    return [d.entities[e] for e in sorted(d.entities)] + [new_fact_text[f] for f in sorted(new_fact_text)]


def _structure(index: GraphIndex, scope: Scope, passages: Sequence[PassageInput]) -> tuple[GraphDelta, dict[str, str]]:
    """The delta of :func:`plan_add` before anything is embedded, and the texts of its new facts."""
    d = GraphDelta()
    new_fact_text: dict[str, str] = {}
    for p in passages:
        if p.id in index.passages:
            continue
        d.passages[p.id] = np.asarray(p.vector, dtype=np.float32)
        names: list[str] = []
        for s, r, o in p.triples:
            s, r, o = normalize_name(s), normalize_name(r), normalize_name(o)
            if not (s and r and o):
                continue
            sid, oid = entity_id(scope, s), entity_id(scope, o)
            fid = fact_id(scope, s, r, o)
            names += [s, o]
            if fid not in index.facts:
                d.facts.setdefault(fid, (s, r, o, sid, oid))
                new_fact_text.setdefault(fid, f"{s} {r} {o}")
            d.sources.add((fid, p.id))
        names += [n for n in (normalize_name(e) for e in p.entities) if n]
        for name in names:
            _mention(d, index, scope, name, p.id)
        topic = topic_name(p.title) if p.title else ""
        if topic:
            d.topics[p.id] = _mention(d, index, scope, topic, p.id)
    return d, new_fact_text


def plan_topics(
    index: GraphIndex,
    scope: Scope,
    titles: Mapping[str, str],
    embed: Embed,
    *,
    threshold: float = 0.8,
    max_neighbors: int = 100,
) -> GraphDelta:
    """The delta that links passages already in ``index`` (``passage id -> title``) to the
    entities their titles name, for graphs built before topic edges existed. Passages that
    have a topic already, or are not in the graph, are left alone."""
    d = GraphDelta()
    for pid, title in titles.items():
        name = topic_name(title)
        if pid not in index.passages or pid in index.topics or not name:
            continue
        d.topics[pid] = _mention(d, index, scope, name, pid)
    _embed_entities(d, index, embed, threshold=threshold, max_neighbors=max_neighbors)
    return d


def _mention(d: GraphDelta, index: GraphIndex, scope: Scope, name: str, passage_id: str) -> str:
    """Record that a passage mentions the entity ``name`` (new to the index or not); its id."""
    eid = entity_id(scope, name)
    if eid not in index.entities:
        d.entities.setdefault(eid, name)
    d.mentions.add((eid, passage_id))
    return eid


def _embed_entities(d: GraphDelta, index: GraphIndex, embed: Embed, *, threshold: float, max_neighbors: int) -> None:
    """Embed the delta's new entities and find their synonym edges (against the index and
    each other)."""
    new_e = sorted(d.entities)
    if not new_e:
        return
    vecs = np.asarray(embed([d.entities[e] for e in new_e]), dtype=np.float32)
    d.entity_vecs = dict(zip(new_e, vecs, strict=True))
    old_ids, old_vecs = index.entity_matrix()
    d.synonyms = _synonyms_for(
        new_e, vecs, {**index.entities, **d.entities}, old_ids, old_vecs,
        threshold=threshold, max_neighbors=max_neighbors,
    )


def plan_delete(index: GraphIndex, passage_ids: Sequence[str]) -> GraphDelta:
    """The delta that removes passages and whatever only they supported.

    A fact goes when no remaining passage states it; an entity goes (with its synonym edges)
    when no remaining passage mentions it.
    """
    d = GraphDelta()
    gone = {p for p in passage_ids if p in index.passages}
    d.removed_passages = gone
    for p in gone:
        for f in index.passage_facts.get(p, ()):
            if index.sources.get(f, set()) <= gone:
                d.removed_facts.add(f)
        for e in index.passage_entities.get(p, ()):
            if index.mentions.get(e, set()) <= gone:
                d.removed_entities.add(e)
    return d
