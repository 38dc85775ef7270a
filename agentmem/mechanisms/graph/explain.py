"""Why the knowledge graph ranked a passage: the subgraph from the query's seed facts to it.

:func:`explain_passage` runs the same personalized PageRank as
:func:`~agentmem.mechanisms.graph.component.rank_passages` and keeps the part of the graph a reader needs
to follow the walk: the seed facts, their entities (with the reset weight each got), the
entities linked to the passage, the edges between them, and every node's PageRank mass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from agentmem.kernels.ppr import pagerank_one
from agentmem.mechanisms.graph.index import GraphSnapshot
from agentmem.mechanisms.graph.rank import personalization

__all__ = ["ExplainedEdge", "ExplainedNode", "GraphExplanation", "explain_passage"]

NodeKind = Literal["fact", "entity", "passage"]


@dataclass(frozen=True, slots=True)
class ExplainedNode:
    """A node of the explanation. ``seed``: a fact's score, an entity's or the passage's reset
    weight; ``mass``: PageRank mass (0 for facts, which are not graph nodes)."""

    id: str
    kind: NodeKind
    label: str
    seed: float
    mass: float


@dataclass(frozen=True, slots=True)
class ExplainedEdge:
    source: str
    target: str
    weight: float


@dataclass(frozen=True, slots=True)
class GraphExplanation:
    """The subgraph that led to ``passage_id``; ``rank`` is 1-based among all passages."""

    passage_id: str
    rank: int
    mass: float
    nodes: tuple[ExplainedNode, ...]
    edges: tuple[ExplainedEdge, ...]


def explain_passage(
    snap: GraphSnapshot,
    qvec: np.ndarray,
    passage_id: str,
    facts: tuple[list[int], np.ndarray] | None,
    *,
    link_top_k: int = 5,
    passage_weight: float = 0.05,
    damping: float = 0.5,
    max_entities: int = 8,
) -> GraphExplanation | None:
    """The seed facts → entities → passage subgraph of one query's PageRank walk.

    Parameters
    ----------
    snap, qvec, facts, link_top_k, passage_weight, damping
        As for :func:`~agentmem.mechanisms.graph.component.rank_passages` (``facts`` from
        :func:`~agentmem.mechanisms.graph.component.seed_facts`; ``None`` for a graph without facts).
    passage_id
        The passage to explain.
    max_entities
        How many of the passage's own entities to keep (those with the most mass).

    Returns
    -------
    GraphExplanation or None
        ``None`` when the passage is not in the graph. Entity node ids are ``entity:<id>``,
        fact node ids ``fact:<id>``, the passage's is ``passage:<id>``.
    """
    if passage_id not in snap.passage_ids:
        return None
    n_e = snap.n_entities
    reset = personalization(snap, qvec, facts, link_top_k=link_top_k, passage_weight=passage_weight)
    x = pagerank_one(snap.transition, reset, damping=damping)
    p_row = n_e + snap.passage_ids.index(passage_id)
    passage_mass = x[n_e:]
    rank = 1 + int(np.sum(passage_mass > x[p_row]))

    adj = snap.adjacency.tocsr()
    linked = [int(c) for c in adj.indices[adj.indptr[p_row]: adj.indptr[p_row + 1]] if c < n_e]
    linked = sorted(linked, key=lambda e: (-x[e], e))[:max_entities]
    top, fact_score = facts if facts is not None and len(snap.fact_ids) else ([], np.zeros(0))
    fact_ends = [int(e) for f in top for e in snap.fact_ends[f]]
    seeds = [int(e) for e in np.flatnonzero(reset[:n_e])]
    entities = list(dict.fromkeys(fact_ends + seeds + linked))

    def eid(e: int) -> str:
        return f"entity:{snap.entity_ids[e]}"

    pid = f"passage:{passage_id}"
    nodes = [ExplainedNode(f"fact:{snap.fact_ids[f]}", "fact", " ".join(snap.fact_triples[f]),
                           float(fact_score[f]), 0.0) for f in top]
    nodes += [ExplainedNode(eid(e), "entity", snap.entity_names[e], float(reset[e]), float(x[e])) for e in entities]
    nodes.append(ExplainedNode(pid, "passage", passage_id, float(reset[p_row]), float(x[p_row])))
    edges = [ExplainedEdge(f"fact:{snap.fact_ids[f]}", eid(int(e)), float(fact_score[f]))
             for f in top for e in dict.fromkeys(snap.fact_ends[f])]
    for i, a in enumerate(entities):
        for b in entities[i + 1:]:
            w = float(adj[a, b])
            if w > 0:
                edges.append(ExplainedEdge(eid(a), eid(b), w))
    edges += [ExplainedEdge(eid(e), pid, float(adj[e, p_row])) for e in linked]
    return GraphExplanation(passage_id, rank, float(x[p_row]), tuple(nodes), tuple(edges))
