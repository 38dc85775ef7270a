"""Knowledge-graph ranking (HippoRAG 2) as pure functions over a
:class:`~agentmem.mechanisms.graph.index.GraphSnapshot`.

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from agentmem.kernels.order import stable_top
from agentmem.kernels.ppr import pagerank_one, personalized_pagerank_torch
from agentmem.mechanisms.base import min_max
from agentmem.mechanisms.graph.index import GraphSnapshot

__all__ = ["bridge_query", "fact_scores", "personalization", "rank_passages", "seed_facts", "seed_mentions"]


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
    fact = fact_scores(snap.fact_rows.all_scores(q), lexical, lexical_weight=lexical_weight)
    top = [int(i) for i in stable_top(fact, top_facts)]
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
    top: int | None = None,
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
    top
        Only the best ``top`` passages (``None``: every passage).

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
        x = pagerank_one(snap.transition, reset, damping=damping)
    else:
        x = personalized_pagerank_torch(snap.transition, reset, damping=damping, device=device).cpu().numpy()
    scores = x[n_e:]
    order = stable_top(scores, n_p if top is None else top)
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
            kept = np.zeros(n_e, dtype=bool)
            kept[stable_top(ent, link_top_k)] = True
            ent[~kept] = 0.0
        reset[:n_e] = ent
    q = np.asarray(qvec, dtype=np.float32).ravel()
    reset[n_e:] = min_max(snap.passage_rows.all_scores(q), constant=1.0).astype(np.float64) * passage_weight
    if reset.sum() <= 0:  # a single passage with zero weight: rank it anyway
        reset[n_e:] = 1.0
    return reset
