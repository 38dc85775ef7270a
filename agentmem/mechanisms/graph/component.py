"""Knowledge-graph recall (HippoRAG 2) as a :class:`~agentmem.mechanisms.base.MemoryComponent`.

Query time (Gutiérrez et al. 2025, §3.2, with its defaults):

1. score every fact by cosine with the query, min-max normalize, keep the top ``top_facts``
   (optionally filtered by a chat model: "recognition memory"). With ``lexical_weight`` > 0
   the fact score also counts BM25 over the fact strings ``"s r o"`` (:func:`fact_scores`):
   entity names are rare tokens that a small sentence encoder embeds poorly;
2. seed each entity of those facts with ``fact score / |passages mentioning the entity|``
   (an entity keeps its best score), keep the ``link_top_k`` strongest;
3. seed every passage with its min-max normalized dense score times ``passage_weight``;
4. run personalized PageRank with damping ``d`` on the graph of
   :mod:`agentmem.mechanisms.graph.index`; rank passages by their PageRank mass

.. math:: x = d\\,(P^\\top x) + (1 - d)\\, r, \\qquad r \\propto \\text{seeds}.

The component also answers a second signal, ``bridge``, when fusion reads it: passages by
cosine with the embedding of the query followed by its best fact (:func:`bridge_query`). In a
multi-hop question the best fact often states the first hop (*jump for glory — directed by —
raoul walsh* for "Who is the spouse of the director of Jump for Glory?"), so the expanded query
also points at the bridge entity that the second hop is about and the question never names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agentmem.embedding import embed_query
from agentmem.kernels.ppr import personalized_pagerank, personalized_pagerank_torch
from agentmem.mechanisms.base import Candidate, Query, Services, TurnFilter, min_max, stored_vectors
from agentmem.mechanisms.graph.index import (
    GraphDelta,
    GraphIndex,
    GraphSnapshot,
    PassageInput,
    plan_add,
    plan_delete,
    plan_topics,
)
from agentmem.mechanisms.graph.offline import extract_entities, extract_triples
from agentmem.mechanisms.graph.repository import (
    delete_graph_user,
    delete_passages,
    load_graph,
    write_delta,
)
from agentmem.mechanisms.graph.runner import ExtractionRunner
from agentmem.store.cache import VersionedCache
from agentmem.types import Scope, Turn

if TYPE_CHECKING:
    from agentmem.mechanisms.graph.explain import GraphExplanation

__all__ = [
    "BRIDGE", "GraphComponent", "bridge_query", "fact_scores", "passage_text", "passage_title",
    "personalization", "rank_passages", "seed_facts", "seed_mentions",
]


BRIDGE = "bridge"  # the signal of the fact-expanded query


def fact_scores(dense: np.ndarray, lexical: np.ndarray | None = None, *, lexical_weight: float = 0.0) -> np.ndarray:
    """Query-to-fact scores in [0, 1]: ``min_max(min_max(dense) + w * min_max(lexical))``.

    With ``lexical_weight`` 0 (or no lexical scores) this is HippoRAG 2's ``min_max(dense)``.
    A query that matches no fact string lexically (all BM25 scores equal) adds a constant,
    which the outer normalization removes.

    Examples
    --------
    >>> fact_scores(np.array([0.2, 0.6, 0.4]), np.array([3.0, 0.0, 1.0]), lexical_weight=1.0).tolist()
    [1.0, 1.0, 0.0]
    """
    score = min_max(np.asarray(dense, dtype=np.float64), constant=1.0)
    if lexical is not None and lexical_weight > 0 and score.size:
        score = min_max(score + lexical_weight * min_max(np.asarray(lexical, dtype=np.float64), constant=1.0),
                        constant=1.0)
    return score


def seed_facts(
    snap: GraphSnapshot,
    qvec: np.ndarray,
    *,
    query_text: str | None = None,
    lexical_weight: float = 0.0,
    top_facts: int = 5,
    keep_facts: Callable[[list[int]], list[int]] | None = None,
) -> tuple[list[int], np.ndarray]:
    """The query's best ``top_facts`` fact rows, best first (after ``keep_facts``, the optional
    recognition filter), and every fact's score (:func:`fact_scores`)."""
    if not len(snap.fact_ids):
        return [], np.zeros(0)
    q = np.asarray(qvec, dtype=np.float32).ravel()
    lexical = snap.fact_lexicon.scores(query_text) if query_text and lexical_weight > 0 else None
    fact = fact_scores(snap.fact_vecs @ q, lexical, lexical_weight=lexical_weight)
    top = [int(i) for i in np.argsort(-fact, kind="stable")[:top_facts]]
    return (keep_facts(top) if keep_facts is not None else top), fact


def bridge_query(query: str, fact: Sequence[str]) -> str:
    """The query followed by a fact's words: what the ``bridge`` signal embeds.

    >>> bridge_query("Who is the spouse of the director of Jump for Glory?",
    ...              ("jump for glory", "directed by", "raoul walsh"))
    'Who is the spouse of the director of Jump for Glory? jump for glory directed by raoul walsh'
    """
    return " ".join([query, *fact])


def seed_mentions(snap: GraphSnapshot, fact_rows: Sequence[int]) -> np.ndarray:
    """Per passage row, how many distinct entities of the facts ``fact_rows`` it mentions
    (the seed facts: a passage that names them is where PageRank's walk starts)."""
    n_e = snap.n_entities
    if not fact_rows or not len(snap.passage_ids):
        return np.zeros(len(snap.passage_ids))
    ents = np.unique(snap.fact_ends[list(fact_rows)].ravel())
    linked = snap.adjacency[ents][:, n_e:]
    return np.asarray((linked > 0).sum(axis=0), dtype=np.float64).ravel()


def rank_passages(
    snap: GraphSnapshot,
    qvec: np.ndarray,
    *,
    query_text: str | None = None,
    lexical_weight: float = 0.0,
    top_facts: int = 5,
    link_top_k: int = 5,
    passage_weight: float = 0.05,
    damping: float = 0.5,
    keep_facts: Callable[[list[int]], list[int]] | None = None,
    device: str = "cpu",
    facts: tuple[list[int], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Passages of ``snap`` ranked by HippoRAG 2's personalized PageRank for one query.

    Parameters
    ----------
    snap
        The user's graph.
    qvec
        Unit-norm query embedding.
    query_text, lexical_weight
        The query's text and the weight of BM25 over the fact strings in :func:`fact_scores`
        (0, or no text: HippoRAG 2's dense-only fact scores).
    keep_facts
        Optional recognition filter: given fact rows (best first), the rows to keep.
    facts
        :func:`seed_facts`' answer for this query, when the caller has it already
        (``query_text``, ``lexical_weight``, ``top_facts`` and ``keep_facts`` are then unused).

    Returns
    -------
    (rows, scores)
        Passage rows of ``snap`` (best first) and their PageRank mass; empty when the graph
        has no passages.
    """
    n_e, n_p = snap.n_entities, len(snap.passage_ids)
    if n_p == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    q = np.asarray(qvec, dtype=np.float32).ravel()
    if len(snap.fact_ids) and facts is None:
        facts = seed_facts(snap, q, query_text=query_text, lexical_weight=lexical_weight,
                           top_facts=top_facts, keep_facts=keep_facts)
    reset = personalization(snap, q, facts, link_top_k=link_top_k, passage_weight=passage_weight)
    if device == "cpu":
        x = personalized_pagerank(snap.transition, reset, damping=damping)
    else:
        x = personalized_pagerank_torch(snap.transition, reset, damping=damping, device=device).cpu().numpy()
    scores = x[n_e:]
    order = np.argsort(-scores, kind="stable")
    return order, scores[order]


def personalization(
    snap: GraphSnapshot, qvec: np.ndarray, facts: tuple[list[int], np.ndarray] | None, *,
    link_top_k: int = 5, passage_weight: float = 0.05,
) -> np.ndarray:
    """The PageRank reset vector of :func:`rank_passages` (steps 2 and 3), nodes in snapshot order.

    ``facts`` is :func:`seed_facts`' answer (``None`` for a graph without facts): each seed
    fact's entities get ``fact score / |passages mentioning the entity|`` (their best), the
    ``link_top_k`` strongest are kept; every passage gets its min-max dense score times
    ``passage_weight``. A vector that would be all zero seeds every passage with 1.
    """
    n_e, n_p = snap.n_entities, len(snap.passage_ids)
    reset = np.zeros(n_e + n_p, dtype=np.float64)
    if facts is not None and len(snap.fact_ids):
        top, fact = facts
        ent = np.zeros(n_e, dtype=np.float64)
        for f in top:
            for e in snap.fact_ends[f]:
                ent[e] = max(ent[e], float(fact[f]) / max(1.0, snap.entity_passages[e]))
        if np.count_nonzero(ent) > link_top_k:
            ent[np.argsort(-ent, kind="stable")[link_top_k:]] = 0.0
        reset[:n_e] = ent
    q = np.asarray(qvec, dtype=np.float32).ravel()
    reset[n_e:] = min_max(snap.passage_vecs @ q, constant=1.0).astype(np.float64) * passage_weight
    if reset.sum() <= 0:  # a single passage with zero weight: rank it anyway
        reset[n_e:] = 1.0
    return reset


def passage_title(turn: Turn) -> str | None:
    """A document's title (``Memory.add_documents`` keeps it as the speaker); ``None`` for a
    conversation turn or an untitled document."""
    if turn.role == "document" and turn.speaker and turn.speaker != "document":
        return turn.speaker
    return None


def passage_text(turn: Turn) -> str:
    """The text extraction reads: ``title\\ntext`` for documents, ``speaker: text`` otherwise."""
    if turn.role == "document":
        title = passage_title(turn)
        return f"{title}\n{turn.content}" if title else turn.content
    return f"{turn.speaker}: {turn.content}"


class GraphComponent:
    """HippoRAG-2 knowledge-graph memory: extraction on add, PPR recall on search.

    Triples come, per turn, from ``turn.metadata["triples"]`` (a list of ``[s, r, o]``, plus
    ``metadata["entities"]`` when present), else from the chat model (HippoRAG's two OpenIE
    prompts) when one is configured, else from the offline extractor.
    """

    name = "graph"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.config = services.config.graph
        self.cache: VersionedCache[GraphIndex] = VersionedCache(self._load)
        self._write = threading.Lock()
        use_llm = services.chat_model is not None and self.config.extractor != "offline"
        if self.config.extractor == "llm" and services.chat_model is None:
            from agentmem.errors import ConfigError

            raise ConfigError("graph.extractor='llm' needs a chat_model")
        self.runner = (
            ExtractionRunner(services.chat_model, max_concurrency=self.config.max_concurrency)
            if use_llm and services.chat_model is not None
            else None
        )

    def _load(self, scope: Scope) -> GraphIndex:
        return load_graph(self.services.sql, scope, self.services.embedder.dim, topic_weight=self.config.topic_weight)

    def _version(self, scope: Scope) -> int:
        return self.services.sql.versions(scope).get(self.name, 0)

    def index(self, scope: Scope) -> GraphIndex:
        """The user's graph at the stored version (rebuilt from SQL when another replica wrote)."""
        return self.cache.get(scope.owner(), self._version(scope.owner()))

    # -- writes -----------------------------------------------------------------------------
    def _passages(self, turns: Sequence[Turn], vectors: np.ndarray) -> list[PassageInput]:
        todo = [i for i, t in enumerate(turns) if "triples" not in t.metadata]
        extracted: dict[int, tuple[list[tuple[str, str, str]], list[str]]] = {}
        if todo and self.runner is not None:
            got = self.runner.extract([passage_text(turns[i]) for i in todo])
            for i, r in zip(todo, got, strict=True):
                extracted[i] = (list(r.triples), list(r.entities))
        else:
            for i in todo:
                text = passage_text(turns[i])
                extracted[i] = (extract_triples(text), extract_entities(text))
        out = []
        for i, t in enumerate(turns):
            if i in extracted:
                triples, ents = extracted[i]
            else:
                triples = [tuple(x) for x in t.metadata["triples"] if len(x) == 3]  # type: ignore[misc]
                ents = list(t.metadata.get("entities") or [])
            out.append(
                PassageInput(
                    t.id, vectors[i], triples, ents if self.config.ner_context else (), title=passage_title(t)
                )
            )
        return out

    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        if not turns:
            return
        passages = self._passages(turns, vectors)  # model calls happen outside any lock
        owner = scope.owner()
        self._write_planned(owner, lambda index: plan_add(index, owner, passages, **self._planning))

    @property
    def _planning(self) -> dict[str, Any]:
        """What :func:`plan_add` and :func:`plan_topics` need beside the graph and the passages."""
        c = self.config
        return {"embed": self.services.embedder.embed, "threshold": c.synonym_threshold,
                "max_neighbors": c.synonym_max_neighbors}

    def _write_planned(self, owner: Scope, plan: Callable[[GraphIndex], GraphDelta]) -> None:
        """Plan a delta on the current graph, write it and advance the cache (one writer at a time)."""
        with self._write:
            delta = plan(self.index(owner))
            if delta.empty():
                return
            with self.services.sql.begin() as conn:
                write_delta(conn, owner, delta)
                v = self.services.sql.bump_version(conn, owner, self.name)
            self.cache.advance(owner, v, lambda g: g.apply(delta))

    def catch_up(self, scope: Scope) -> int:
        """Add the passages of the session's stored turns that the graph lacks (a crash kept
        their ``on_add`` from running); returns how many. Every turn added becomes a passage.
        Documents that are in the graph without their topic edge (indexed before topic edges
        existed) get it."""
        index = self.index(scope.owner())
        turns = self.services.sql.session_turns(scope, scope.session_id)
        missed = [x for x in turns if x.id not in index.passages]
        if missed:
            self.on_add(scope, missed, stored_vectors(self.services, scope, missed), 0)
        titles = {x.id: title for x in turns if x.id in index.passages and x.id not in index.topics
                  and (title := passage_title(x)) is not None}
        if titles:
            owner = scope.owner()
            self._write_planned(owner, lambda index: plan_topics(index, owner, titles, **self._planning))
        return len(missed)

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        if not turns:
            return
        owner = scope.owner()
        with self._write:
            delta = plan_delete(self.index(owner), [t.id for t in turns])
            with self.services.sql.begin() as conn:
                delete_passages(conn, owner, [t.id for t in turns])
                v = self.services.sql.bump_version(conn, owner, self.name)
            self.cache.advance(owner, v, lambda g: g.apply(delta))

    def on_delete_user(self, scope: Scope) -> None:
        owner = scope.owner()
        with self._write:
            with self.services.sql.begin() as conn:
                delete_graph_user(conn, owner)
            self.cache.drop(owner)

    # -- reads ------------------------------------------------------------------------------
    def search(self, query: Query) -> list[Candidate]:
        owner = query.scope.owner()
        version = query.versions.get(self.name)
        with self.cache.reading(owner, self._version(owner) if version is None else version) as index:
            snap = index.snapshot()  # taken while no local write applies a delta
        facts = self._seed_facts(snap, query.text, query.vector)
        rows, scores = rank_passages(
            snap, query.vector, link_top_k=self.config.link_top_k, passage_weight=self.config.passage_weight,
            damping=self.config.damping, device=self.services.device, facts=facts,
        )
        lists = [(self.name, rows, scores)]
        mentions = (seed_mentions(snap, facts[0]), seed_mentions(snap, facts[0][:1]))
        if facts[0] and self.services.config.recall.reads(BRIDGE):
            qvec = embed_query(self.services.embedder, bridge_query(query.text, snap.fact_triples[facts[0][0]]))
            sims = snap.passage_vecs @ np.asarray(qvec, dtype=np.float32)
            order = np.argsort(-sims, kind="stable")
            lists.append((BRIDGE, order, sims[order]))
        return self._accepted(query, snap, lists, mentions)

    def _seed_facts(self, snap: GraphSnapshot, text: str, vector: np.ndarray) -> tuple[list[int], np.ndarray]:
        keep = None
        if self.runner is not None and self.config.recognition_filter:
            runner = self.runner

            def keep(rows: list[int]) -> list[int]:
                facts = [snap.fact_triples[r] for r in rows]
                return [rows[i] for i in runner.filter_facts(text, facts)]

        return seed_facts(snap, vector, query_text=text, lexical_weight=self.config.lexical_weight,
                          top_facts=self.config.top_facts, keep_facts=keep)

    def explain(self, scope: Scope, text: str, vector: np.ndarray, passage_id: str) -> GraphExplanation | None:
        """The subgraph that led this query's PageRank walk to ``passage_id`` (``None`` when
        the passage is not in the user's graph); see :func:`~agentmem.mechanisms.graph.explain.explain_passage`."""
        from agentmem.mechanisms.graph.explain import explain_passage

        snap = self.index(scope.owner()).snapshot()
        c = self.config
        facts = self._seed_facts(snap, text, vector) if len(snap.fact_ids) else None
        return explain_passage(snap, vector, passage_id, facts, link_top_k=c.link_top_k,
                               passage_weight=c.passage_weight, damping=c.damping)

    def _accepted(self, query: Query, snap: GraphSnapshot, lists: Sequence[tuple[str, np.ndarray, np.ndarray]],
                  mentions: tuple[np.ndarray, np.ndarray]) -> list[Candidate]:
        """Per ``(signal, rows, scores)`` list (best first), its first ``query.k`` passages that
        pass the query's filter; the turns of every list are read from SQL in one call. Each
        candidate carries how many seed-fact entities (and entities of the best fact) it names."""
        unfiltered = query.filter == TurnFilter()
        want = query.k if unfiltered else query.k * 5
        seeds, best = mentions
        per_list = [
            [Candidate(id=snap.passage_ids[r], kind="turn", score=float(s), signal=signal,
                       features={"seed": float(seeds[r]), "seed_best": float(best[r])})
             for r, s in zip(rows[:want], scores[:want], strict=True)]
            for signal, rows, scores in lists
        ]
        if unfiltered:
            return [c for cands in per_list for c in cands]
        ids = list(dict.fromkeys(c.id for cands in per_list for c in cands))
        ok = {t.id for t in self.services.sql.get_turns(query.scope.owner(), ids) if query.filter.accepts(t)}
        return [c for cands in per_list for c in [x for x in cands if x.id in ok][: query.k]]
