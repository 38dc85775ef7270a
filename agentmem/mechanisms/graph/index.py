"""The knowledge graph of one user, in memory: entities, passages, facts, and its CSR form.

Nodes are entities (normalized names) and passages (turns, episodes or document chunks).
Edges, as in HippoRAG 2 (Gutiérrez et al. 2025):

* **fact** edges subject -- object, weight = number of passages stating the triple;
* **context** edges passage -- entity, weight 1, for every entity of the passage's triples;
* **synonym** edges entity -- entity, weight = cosine of the names' embeddings, kept when it is
  at least ``threshold``, at most ``max_neighbors`` per new entity;
* **topic** edges passage -- the entity its title names (documents only: a passage is *about*
  its title), weight ``topic_weight`` on top of the context edge, split evenly among the
  passages that share the topic (the chunks of one document). Not in HippoRAG: without it
  the mass that reaches an entity from the question's first hop is shared evenly by every
  passage that mentions the entity, although the passage about it is the likely second hop.

Every change is a :class:`GraphDelta` (:mod:`.delta`) computed by :func:`plan_add` /
:func:`plan_delete` (:mod:`.plan`, pure but for the ``embed`` callable) and applied both to SQL (:mod:`.repository`) and to the
cached :class:`GraphIndex`, so a replica that reloads from SQL and one that applied the
deltas in place hold the same graph. Adding passages compares only the *new* entities with
the index (HippoRAG recomputes every entity's neighbours on every insert).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from agentmem.kernels.ppr import Transition
from agentmem.mechanisms.graph.delta import (
    GraphDelta,
    PassageInput,
    entity_id,
    fact_id,
    normalize_name,
    topic_name,
)
from agentmem.mechanisms.graph.plan import plan_add, plan_delete, plan_topics
from agentmem.mechanisms.graph.vectors import RowView, rows_of
from agentmem.store.bm25 import BM25Index
from agentmem.store.dense import ExactIndex

__all__ = [
    "GraphDelta",
    "GraphIndex",
    "GraphSnapshot",
    "PassageInput",
    "entity_id",
    "fact_id",
    "normalize_name",
    "plan_add",
    "plan_delete",
    "plan_topics",
    "topic_name",
]


@dataclass(frozen=True)
class GraphSnapshot:
    """Immutable arrays for queries: node order is entities ``[0, E)`` then passages ``[E, E+P)``."""

    entity_ids: tuple[str, ...]
    entity_names: tuple[str, ...]
    entity_passages: np.ndarray  # number of passages mentioning each entity
    passage_ids: tuple[str, ...]
    passage_rows: RowView  # the passages' vectors, searchable
    fact_ids: tuple[str, ...]
    fact_triples: tuple[tuple[str, str, str], ...]
    fact_rows: RowView  # the facts' vectors
    fact_lexicon: FactLexicon  # BM25 over the fact strings
    fact_ends: np.ndarray  # [F, 2] entity rows of subject and object
    adjacency: sp.csr_matrix
    transition: Transition

    @property
    def n_entities(self) -> int:
        return len(self.entity_ids)


@dataclass(frozen=True)
class FactLexicon:
    """The graph's BM25 over the fact strings ``"s r o"``, scored for one snapshot's facts.

    The index is the graph's own, which writes update in place: a search that runs while a
    write applies scores with the corpus statistics (document count, frequencies) of either
    side of it, never with a half-applied write (both hold ``lock``).
    """

    index: BM25Index
    rows: np.ndarray  # [F] int64: snapshot fact row -> the index's row
    lock: threading.Lock

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every fact of the snapshot for ``query``, in fact-row order."""
        with self.lock:
            return self.index.scores(query)[self.rows]


class GraphIndex:
    """The mutable graph of one user (what SQL holds), with a cached :class:`GraphSnapshot`."""

    def __init__(self, dim: int, *, topic_weight: float = 0.0) -> None:
        self.dim = dim
        self.topic_weight = topic_weight  # of the topic edges in snapshots (set here, not changed later)
        self.entities: dict[str, str] = {}
        self.entity_vecs: dict[str, np.ndarray] = {}
        self.facts: dict[str, tuple[str, str, str, str, str]] = {}
        self.passages: set[str] = set()  # their vectors are in passage_index
        self.mentions: dict[str, set[str]] = {}  # entity id -> passage ids
        self.passage_entities: dict[str, set[str]] = {}
        self.sources: dict[str, set[str]] = {}  # fact id -> passage ids
        self.passage_facts: dict[str, set[str]] = {}
        self.synonyms: dict[tuple[str, str], float] = {}
        self.topics: dict[str, str] = {}  # passage id -> entity id
        # the passage vectors in an exact index whose sketch grows with the graph; the fact
        # vectors and fact strings in indexes that writes update in place
        self.passage_index = ExactIndex(dim)
        self.fact_index = ExactIndex(dim, sketch_rank=0)
        self.fact_lexicon = BM25Index(compact=False)
        self._lexicon_lock = threading.Lock()
        self._snapshot: GraphSnapshot | None = None
        self._freezing = threading.Lock()
        self._name_matrix: tuple[list[str], np.ndarray] | None = None

    # -- mutation ---------------------------------------------------------------------------
    def apply(self, delta: GraphDelta) -> None:
        """Apply a delta (removals first, then additions)."""
        for e in delta.removed_entities:
            self.entities.pop(e, None)
            self.entity_vecs.pop(e, None)
            self.mentions.pop(e, None)
        for f in delta.removed_facts:
            self.facts.pop(f, None)
            self.sources.pop(f, None)
        for p in delta.removed_passages:
            self.passages.discard(p)
            self.topics.pop(p, None)
            for e in self.passage_entities.pop(p, set()):
                self.mentions.get(e, set()).discard(p)
            for f in self.passage_facts.pop(p, set()):
                self.sources.get(f, set()).discard(p)
        if delta.removed_entities:
            self.synonyms = {
                k: v for k, v in self.synonyms.items()
                if k[0] not in delta.removed_entities and k[1] not in delta.removed_entities
            }
        self.entities.update(delta.entities)
        self.entity_vecs.update(delta.entity_vecs)
        self.facts.update(delta.facts)
        self.passages.update(delta.passages.keys())
        for e, p in delta.mentions:
            self.mentions.setdefault(e, set()).add(p)
            self.passage_entities.setdefault(p, set()).add(e)
        for f, p in delta.sources:
            self.sources.setdefault(f, set()).add(p)
            self.passage_facts.setdefault(p, set()).add(f)
        self.synonyms.update(delta.synonyms)
        self.topics.update(delta.topics)
        self.passage_index.remove(list(delta.removed_passages))
        if delta.passages:
            self.passage_index.add(list(delta.passages), np.stack(list(delta.passages.values())))
        self.fact_index.remove(list(delta.removed_facts))
        if delta.fact_vecs:
            self.fact_index.add(list(delta.fact_vecs), np.stack(list(delta.fact_vecs.values())))
        with self._lexicon_lock:
            self.fact_lexicon.remove(list(delta.removed_facts))
            new_facts = [f for f in delta.facts if f not in self.fact_lexicon]
            self.fact_lexicon.add(new_facts, [" ".join(self.facts[f][:3]) for f in new_facts])
        self._snapshot = None
        if delta.entities or delta.removed_entities:
            self._name_matrix = None

    # -- views ------------------------------------------------------------------------------
    def entity_matrix(self) -> tuple[list[str], np.ndarray]:
        """Entity ids and their name vectors (rows aligned), cached until entities change."""
        if self._name_matrix is None:
            ids = sorted(self.entity_vecs)
            mat = (
                np.stack([self.entity_vecs[i] for i in ids]).astype(np.float32)
                if ids else np.zeros((0, self.dim), dtype=np.float32)
            )
            self._name_matrix = (ids, mat)
        return self._name_matrix

    def snapshot(self) -> GraphSnapshot:
        """The CSR view for queries (built on first use after a change, once: readers share it,
        and building it brings the passage index's sketch up to date)."""
        with self._freezing:
            if self._snapshot is None:
                self._snapshot = _freeze(self)
            return self._snapshot

    def edge_set(self) -> dict[tuple[str, str], float]:
        """Every undirected edge ``(u, v)`` (u < v, node ids) with its weight — for tests."""
        snap = self.snapshot()
        names = snap.entity_ids + snap.passage_ids
        coo = sp.triu(snap.adjacency).tocoo()
        return {
            tuple(sorted((names[i], names[j]))): round(float(w), 6)  # type: ignore[misc]
            for i, j, w in zip(coo.row, coo.col, coo.data, strict=True)
        }


def _columns(edges: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = np.array(edges, dtype=np.float64).reshape(-1, 3)
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]


def _both_ways(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO rows, columns and weights of the edges ``u[i] -- v[i]`` (weight ``w[i]``) in both
    directions, ``(u, v)`` then ``(v, u)`` for each in turn; self-loops and weights <= 0 left out."""
    keep = (u != v) & (w > 0)
    u, v, w = u[keep], v[keep], w[keep]
    return np.column_stack([u, v]).ravel(), np.column_stack([v, u]).ravel(), np.repeat(w, 2)


def _freeze(g: GraphIndex) -> GraphSnapshot:
    ent_ids = sorted(g.entities)
    pas_ids = sorted(g.passages)
    row = {e: i for i, e in enumerate(ent_ids)}
    n_e = len(ent_ids)
    row.update({p: n_e + i for i, p in enumerate(pas_ids)})
    # A fact whose entity is missing is left out: a replica that loaded the tables while another
    # one committed can read a fact before its entity; the version has moved, so the next
    # search loads the graph again, whole.
    fact_ids = sorted(f for f, (_, _, _, sid, oid) in g.facts.items() if sid in row and oid in row)
    facts = [g.facts[f] for f in fact_ids]
    ends = np.array([(row[x[3]], row[x[4]]) for x in facts], dtype=np.int64).reshape(-1, 2)
    sources = np.fromiter((len(g.sources.get(f, ())) for f in fact_ids), dtype=np.float64, count=len(fact_ids))
    linked = np.array([(row[e], row[p]) for e, ps in g.mentions.items() if e in row for p in ps if p in row],
                      dtype=np.int64).reshape(-1, 2)
    synonyms = [(row[a], row[b], w) for (a, b), w in g.synonyms.items() if a in row and b in row]
    # Passages sharing a topic (the chunks of one document) share its weight, so a long
    # document's title does not become a hub that pulls all its chunks along.
    sharing = Counter(g.topics.values())
    topics = [(row[e], row[p], g.topic_weight / sharing[e]) for p, e in g.topics.items() if p in row and e in row]
    parts = [_both_ways(ends[:, 0], ends[:, 1], sources),
             _both_ways(linked[:, 0], linked[:, 1], np.ones(len(linked))),
             *(_both_ways(*_columns(x)) for x in (synonyms, topics))]
    rows, cols, weights = (np.concatenate([part[i] for part in parts]) for i in range(3))
    n = n_e + len(pas_ids)
    adj = sp.csr_matrix((weights, (rows, cols)), shape=(n, n), dtype=np.float64)
    adj.sum_duplicates()
    return GraphSnapshot(
        entity_ids=tuple(ent_ids),
        entity_names=tuple(g.entities[e] for e in ent_ids),
        entity_passages=np.array([len(g.mentions.get(e, ())) for e in ent_ids], dtype=np.float64),
        passage_ids=tuple(pas_ids),
        passage_rows=RowView.of(g.passage_index, pas_ids),
        fact_ids=tuple(fact_ids),
        fact_triples=tuple(x[:3] for x in facts),
        fact_rows=RowView.of(g.fact_index, fact_ids),
        fact_lexicon=FactLexicon(g.fact_lexicon, rows_of(g.fact_lexicon, fact_ids), g._lexicon_lock),
        fact_ends=ends,
        adjacency=adj,
        transition=Transition.from_adjacency(adj),
    )
