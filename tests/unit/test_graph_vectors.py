"""The graph's passage searches (RowView over an ExactIndex) against the full product."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from agentmem.mechanisms.base import min_max
from agentmem.mechanisms.graph.index import GraphDelta, GraphIndex, plan_delete
from agentmem.mechanisms.graph.rank import personalization, seed_facts
from agentmem.mechanisms.graph.vectors import RowView, top_rows_reference
from agentmem.store.bm25 import BM25Index
from agentmem.store.dense import ExactIndex


def _embeddings(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit rows concentrated in a few directions, as sentence embeddings are."""
    rng = np.random.default_rng(seed)
    axes = rng.standard_normal((8, dim))
    x = rng.standard_normal((n, 8)) * np.linspace(3.0, 0.5, 8) @ axes + 0.3 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _queries(m: int, dim: int = 64, seed: int = 1) -> np.ndarray:
    return _embeddings(m, dim, seed)


def _view(mat: np.ndarray, *, min_rows: int = 10_000) -> RowView:
    index = ExactIndex(mat.shape[1], sketch_min_rows=min_rows)
    index.add([f"r{i}" for i in range(len(mat))], mat)
    return RowView.of(index, [f"r{i}" for i in range(len(mat))])


@pytest.fixture(scope="module")
def search() -> RowView:
    s = _view(_embeddings(4000), min_rows=1000)
    assert s.sketch is not None  # the sketched path is the one under test
    return s


def test_top_rows_match_the_full_product(search: RowView) -> None:
    mat = _embeddings(4000)
    for q in _queries(20):
        for k in (1, 5, 37):
            rows, scores = search.top(q, k)
            ref_rows, ref_scores = top_rows_reference(mat, q, k)
            assert rows.tolist() == ref_rows.tolist()
            np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-6)
            low, _ = search.top(-q, 1)
            assert low[0] == int(np.argmin(mat @ q))


def test_a_view_of_some_rows_searches_those_alone() -> None:
    """A view holding a third of the index's rows (the sketch's masked path) answers as the
    full product over those rows; a view holding none answers nothing."""
    mat = _embeddings(4000)
    index = ExactIndex(64, sketch_min_rows=1000)
    index.add([f"r{i}" for i in range(4000)], mat)
    held = np.flatnonzero(np.random.default_rng(3).random(4000) < 0.3)
    view = RowView.of(index, [f"r{i}" for i in held])
    assert view.sketch is not None and view.in_view is not None
    for q in _queries(10, seed=4):
        rows, _ = view.top(q, 10)
        assert rows.tolist() == top_rows_reference(mat[held], q, 10)[0].tolist()
    assert RowView.of(index, []).top(_queries(1)[0], 5)[0].size == 0
    with pytest.raises(KeyError, match="nope"):
        RowView.of(index, ["r1", "nope"])


def test_a_small_matrix_is_scanned_whole() -> None:
    mat = _embeddings(50)
    s = _view(mat)
    assert s.sketch is None
    rows, _ = s.top(_queries(1)[0], 100)
    assert sorted(rows.tolist()) == list(range(50))
    assert _view(np.zeros((0, 64), np.float32)).top(_queries(1)[0], 3)[0].size == 0


def test_a_view_reads_its_snapshot_rows_in_their_order_and_not_later_writes() -> None:
    """Rows are addressed in the snapshot's order, rows deleted or left out of the snapshot are
    never answered, and adds after the view was taken (new rows, a grown matrix, an extended
    sketch) do not change what it answers."""
    mat = _embeddings(3000, seed=11)
    index = ExactIndex(64, sketch_min_rows=1000)
    index.add([f"r{i}" for i in range(3000)], mat)
    index.remove(["r5", "r17"])
    rng = np.random.default_rng(2)
    kept = [i for i in rng.permutation(3000).tolist() if i not in (5, 17, 40)]  # r40 stored, not in the snapshot
    view = RowView.of(index, [f"r{i}" for i in kept])
    assert view.sketch is not None and view.in_view is not None
    sub = mat[kept]
    np.testing.assert_array_equal(view.matrix(), sub)
    queries = _queries(8, seed=12)
    before = [view.top(q, 10) for q in queries]
    index.add([f"n{i}" for i in range(3000)], _embeddings(3000, seed=13))  # grows the matrix and the sketch
    index.remove([f"r{kept[0]}"])
    for q, (rows, scores) in zip(queries, before, strict=True):
        again = view.top(q, 10)
        assert again[0].tolist() == rows.tolist()
        ref_rows, ref_scores = top_rows_reference(sub, q, 10)
        assert rows.tolist() == ref_rows.tolist()
        np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
        np.testing.assert_allclose(view.all_scores(q), sub @ q, atol=1e-6)


def test_rows_tied_with_the_kth_come_in_snapshot_order() -> None:
    """Duplicate vectors tie exactly; the view answers the lower snapshot row whatever order
    the index stored them in."""
    base = _embeddings(40, seed=21)
    mat = np.concatenate([base, base[:10], base[:10]])  # rows 0-9 three times
    index = ExactIndex(64)
    ids = [f"r{i}" for i in range(len(mat))]
    index.add(ids[::-1], mat[::-1])  # stored in reverse
    view = RowView.of(index, ids)
    for q in _queries(6, seed=22):
        for k in (1, 2, 4, 11):
            rows, _ = view.top(q, k)
            assert rows.tolist() == top_rows_reference(mat, q, k)[0].tolist()


def _graph_delta(n_passages: int, n_facts: int, n_entities: int, seed: int) -> GraphDelta:
    rng = np.random.default_rng(seed)
    d = GraphDelta()
    words = ["alpha", "beta", "gamma", "delta", "harbour", "porto", "walsh", "glory", "miso", "sintra"]
    for e in range(n_entities):
        d.entities[f"e{e}"] = f"{words[e % 10]} {e}"
    ent_vecs = _embeddings(n_entities, seed=seed + 1)
    d.entity_vecs = {f"e{e}": ent_vecs[e] for e in range(n_entities)}
    fact_vecs = _embeddings(n_facts, seed=seed + 2)
    pas_vecs = _embeddings(n_passages, seed=seed + 3)
    d.passages = {f"p{p}": pas_vecs[p] for p in range(n_passages)}
    for f in range(n_facts):
        a, b = (int(x) for x in rng.choice(n_entities, size=2, replace=False))
        d.facts[f"f{f}"] = (d.entities[f"e{a}"], "met", d.entities[f"e{b}"], f"e{a}", f"e{b}")
        d.fact_vecs[f"f{f}"] = fact_vecs[f]
        p = f"p{int(rng.integers(n_passages))}"
        d.sources.add((f"f{f}", p))
        d.mentions |= {(f"e{a}", p), (f"e{b}", p)}
    return d


def test_the_graph_answers_through_its_passage_sketch_as_the_full_product_does() -> None:
    """A graph past the sketch's minimum size: the bridge list and the personalization agree
    with the product over every passage, and the fact lexicon with one built afresh, before
    and after a delete and an add."""
    g = GraphIndex(64)
    g.apply(_graph_delta(12_000, 15_000, 3_000, seed=30))
    for step in range(2):
        snap = g.snapshot()
        assert snap.passage_rows.sketch is not None
        passages = snap.passage_rows.matrix()
        for q in _queries(3, seed=31 + step):
            rows, scores = snap.passage_rows.top(q, 50)
            ref_rows, ref_scores = top_rows_reference(passages, q, 50)
            assert rows.tolist() == ref_rows.tolist()
            np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
            facts = seed_facts(snap, q, query_text="alpha 12", lexical_weight=0.25)
            reset = personalization(snap, q, facts)
            np.testing.assert_allclose(reset[snap.n_entities:],
                                       0.05 * (min_max(passages @ q, constant=1.0)), atol=1e-6)
        # the lexicon the writes updated in place scores as one built afresh on the snapshot's facts
        fresh = BM25Index(compact=False)
        fresh.add(list(snap.fact_ids), [" ".join(t) for t in snap.fact_triples])
        for text in ("alpha 12", "glory walsh porto", "met", "nothing"):
            np.testing.assert_allclose(snap.fact_lexicon.scores(text), fresh.scores(text), rtol=1e-12, atol=0)
        g.apply(plan_delete(g, [f"p{i}" for i in range(0, 12_000, 7)]))
        more = _graph_delta(500, 600, 3_000, seed=40)
        more.passages = {f"q{k[1:]}": v for k, v in more.passages.items()}
        more.sources = {(f"g{f[1:]}", f"q{p[1:]}") for f, p in more.sources}
        more.mentions = {(e, f"q{p[1:]}") for e, p in more.mentions}
        more.facts = {f"g{k[1:]}": v for k, v in more.facts.items()}
        more.fact_vecs = {f"g{k[1:]}": v for k, v in more.fact_vecs.items()}
        g.apply(more)


def _adjacency_reference(g: GraphIndex) -> sp.csr_matrix:
    """The snapshot's adjacency, edge by edge: fact edges (weight = stating passages), context
    edges (1), synonym edges (cosine), topic edges (shared by the passages of one topic), both
    directions each, self-loops and weights <= 0 left out, duplicates summed."""
    ent_ids, pas_ids = sorted(g.entities), sorted(g.passages)
    row = {e: i for i, e in enumerate(ent_ids)} | {p: len(ent_ids) + i for i, p in enumerate(pas_ids)}
    coo: list[tuple[int, int, float]] = []

    def edge(u: int, v: int, w: float) -> None:
        if u != v and w > 0:
            coo.extend([(u, v, w), (v, u, w)])

    for f in sorted(g.facts):
        _, _, _, sid, oid = g.facts[f]
        if sid in row and oid in row:
            edge(row[sid], row[oid], float(len(g.sources.get(f, ()))))
    for e, ps in g.mentions.items():
        for p in ps:
            if p in row and e in row:
                edge(row[e], row[p], 1.0)
    for (a, b), w in g.synonyms.items():
        if a in row and b in row:
            edge(row[a], row[b], w)
    sharing = Counter(g.topics.values())
    for p, e in g.topics.items():
        if p in row and e in row:
            edge(row[e], row[p], g.topic_weight / sharing[e])
    u, v, w = (list(x) for x in zip(*coo, strict=True)) if coo else ([], [], [])
    adj = sp.csr_matrix((w, (u, v)), shape=(len(row), len(row)), dtype=np.float64)
    adj.sum_duplicates()
    return adj


def test_the_snapshot_adjacency_is_the_edge_by_edge_one() -> None:
    """Built from arrays, the CSR is the reference's to the bit: fact edges (a self-loop fact
    among them), context, synonym and topic edges, after a delete."""
    g = GraphIndex(64, topic_weight=0.5)
    d = _graph_delta(400, 900, 120, seed=50)
    d.facts["loop"] = ("alpha 0", "is", "alpha 0", "e0", "e0")
    d.fact_vecs["loop"] = _embeddings(1, seed=51)[0]
    d.sources.add(("loop", "p3"))
    rng = np.random.default_rng(52)
    d.synonyms = {(f"e{a}", f"e{b}"): float(rng.uniform(0.8, 1.0)) for a, b in rng.integers(0, 120, size=(60, 2)) if a < b}
    d.topics = {f"p{p}": f"e{p % 7}" for p in range(0, 400, 3)}
    g.apply(d)
    for _ in range(2):
        snap = g.snapshot()
        ref = _adjacency_reference(g)
        got = snap.adjacency
        assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
        assert np.array_equal(got.data, ref.data)
        assert snap.fact_triples == tuple(g.facts[f][:3] for f in snap.fact_ids)
        g.apply(plan_delete(g, [f"p{i}" for i in range(0, 400, 5)]))
    assert "loop" in snap.fact_ids and any(s == o for s, o in snap.fact_ends.tolist())
