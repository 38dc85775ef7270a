"""Knowledge-graph recall (HippoRAG 2) as a :class:`~agentmem.mechanisms.base.MemoryComponent`.

Query time: :mod:`agentmem.mechanisms.graph.rank` (fact scores, entity and passage seeds,
personalized PageRank).

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
from agentmem.mechanisms.base import Candidate, Query, Services, TurnFilter, stored_vectors
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
from agentmem.mechanisms.graph.plan import planned_texts
from agentmem.mechanisms.graph.rank import (
    bridge_query,
    fact_scores,
    personalization,
    rank_passages,
    seed_facts,
    seed_mentions,
)
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


def passage_title(turn: Turn) -> str | None:
    """A document's title (``Memory.add_documents`` keeps it as the speaker); ``None`` for a
    conversation turn or an untitled document."""
    if turn.role == "document" and turn.speaker and turn.speaker != "document":
        return turn.speaker
    return None


def passage_text(turn: Turn) -> str:
    """The text a chat-model extractor reads: ``title\\ntext`` for documents, ``speaker: text``
    otherwise (the offline extractor's entities are read from it too)."""
    if turn.role == "document":
        title = passage_title(turn)
        return f"{title}\n{turn.content}" if title else turn.content
    return f"{turn.speaker}: {turn.content}"


def offline_extract(turn: Turn) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The offline extractor's facts and entities of one turn. A conversation turn's facts are
    read from its content with "I" as its speaker; its entities include the speaker's name."""
    text = passage_text(turn)
    if turn.role == "document" or not turn.speaker:
        return extract_triples(text), extract_entities(text)
    return extract_triples(turn.content, speaker=turn.speaker), extract_entities(text)


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
                extracted[i] = offline_extract(turns[i])
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

    def planned_texts(self, scope: Scope, turns: Sequence[Turn]) -> list[str]:
        """The entity names and fact texts :meth:`on_add` of ``turns`` embeds (see
        :class:`~agentmem.mechanisms.base.PlansEmbeddings`); none with a model extractor, whose
        triples are known only once it has run."""
        if self.runner is not None and any("triples" not in t.metadata for t in turns):
            return []
        passages = self._passages(turns, np.zeros((len(turns), 0), dtype=np.float32))
        return planned_texts(self.index(scope.owner()), scope.owner(), passages)

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
        want = _wanted(query)
        rows, scores = rank_passages(
            snap, query.vector, link_top_k=self.config.link_top_k, passage_weight=self.config.passage_weight,
            damping=self.config.damping, device=self.services.device, facts=facts, top=want,
        )
        lists = [(self.name, rows, scores)]
        mentions = (seed_mentions(snap, facts[0]), seed_mentions(snap, facts[0][:1]))
        if facts[0] and self.services.config.recall.reads(BRIDGE):
            qvec = embed_query(self.services.embedder, bridge_query(query.text, snap.fact_triples[facts[0][0]]))
            order, sims = snap.passage_rows.top(np.asarray(qvec, dtype=np.float32), want)
            lists.append((BRIDGE, order, sims))
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

        owner = scope.owner()
        with self.cache.reading(owner, self._version(owner)) as index:
            snap = index.snapshot()  # taken while no local write applies a delta
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
        want = _wanted(query)
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


def _wanted(query: Query) -> int:
    """How many passages of each list a search reads: ``query.k``, five times that under a
    filter (the filter then keeps ``query.k``)."""
    return query.k if query.filter == TurnFilter() else query.k * 5
