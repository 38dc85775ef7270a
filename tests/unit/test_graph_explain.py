"""explain_passage: the subgraph it returns agrees with rank_passages' PageRank walk."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from agentmem.mechanisms.graph.component import personalization, rank_passages, seed_facts
from agentmem.mechanisms.graph.explain import explain_passage
from agentmem.mechanisms.graph.index import GraphIndex, PassageInput, plan_add
from agentmem.types import Scope

DIM = 64
PASSAGES = {
    "p1": [("Acme Corp", "founded by", "John Miller"), ("Acme Corp", "founded in", "1990")],
    "p2": [("John Miller", "born in", "Springfield"), ("John Miller", "studied at", "MIT")],
    "p3": [("Springfield", "located in", "Illinois"), ("Illinois", "part of", "United States")],
    "p4": [("Beta Labs", "based in", "Boston")],
}


def trigram_embed(texts: Sequence[str]) -> np.ndarray:
    """A deterministic stand-in embedder: hashed character trigrams, unit norm."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        padded = f"  {text.lower()}  "
        for j in range(len(padded) - 2):
            h = int.from_bytes(hashlib.blake2b(padded[j : j + 3].encode(), digest_size=4).digest(), "little")
            out[i, h % DIM] += 1.0
        out[i] /= max(np.linalg.norm(out[i]), 1e-9)
    return out

QUERY = "Where was the founder of Acme Corp born?"


def _graph() -> GraphIndex:
    g = GraphIndex(DIM)
    passages = [PassageInput(p, trigram_embed([" ".join(" ".join(t) for t in triples)])[0], triples)
                for p, triples in PASSAGES.items()]
    g.apply(plan_add(g, Scope("t1", "alice"), passages, trigram_embed, threshold=0.6))
    return g


@pytest.mark.parametrize("pid", sorted(PASSAGES))
def test_mass_and_rank_match_rank_passages(pid: str) -> None:
    snap = _graph().snapshot()
    q = trigram_embed([QUERY])[0]
    facts = seed_facts(snap, q, top_facts=3)
    rows, scores = rank_passages(snap, q, facts=facts, link_top_k=3)
    got = explain_passage(snap, q, pid, facts, link_top_k=3)
    assert got is not None
    ranked = [snap.passage_ids[r] for r in rows]
    assert got.mass == pytest.approx(float(scores[ranked.index(pid)]), abs=1e-12)
    assert got.rank == 1 + int(np.sum(scores > got.mass))  # ties share the best rank


def test_subgraph_links_seed_facts_to_the_passage() -> None:
    snap = _graph().snapshot()
    q = trigram_embed([QUERY])[0]
    facts = seed_facts(snap, q, top_facts=3)
    got = explain_passage(snap, q, "p2", facts, link_top_k=3)
    assert got is not None
    ids = {n.id for n in got.nodes}
    assert all(e.source in ids and e.target in ids for e in got.edges)
    kinds = [n.kind for n in got.nodes]
    assert kinds.count("fact") == 3 and kinds.count("passage") == 1
    # every seed entity carries its reset weight; p2's own entities are linked to it
    reset = personalization(snap, q, facts, link_top_k=3)
    seeded = {f"entity:{snap.entity_ids[e]}" for e in np.flatnonzero(reset[: snap.n_entities])}
    assert seeded and seeded <= ids
    to_passage = {e.source for e in got.edges if e.target == "passage:p2"}
    names = {n.id: n.label for n in got.nodes}
    assert {"john miller", "springfield"} <= {names[s] for s in to_passage}
    masses = [n.mass for n in got.nodes if n.kind == "entity"]
    assert all(m > 0 for m in masses)


def test_unknown_passage_and_graph_without_facts() -> None:
    snap = _graph().snapshot()
    q = trigram_embed([QUERY])[0]
    assert explain_passage(snap, q, "nope", None) is None
    g = GraphIndex(DIM)
    g.apply(plan_add(g, Scope("t1", "bob"), [PassageInput("only", q, [])], trigram_embed, threshold=0.6))
    got = explain_passage(g.snapshot(), q, "only", None)
    assert got is not None and got.rank == 1 and [n.kind for n in got.nodes] == ["passage"]
