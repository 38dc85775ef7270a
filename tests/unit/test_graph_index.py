"""The knowledge graph: incremental insert equals batch build, deletion leaves no orphans,
SQL and the in-memory graph agree, tenants never see each other's graph."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem.mechanisms.base import min_max
from agentmem.mechanisms.graph.component import fact_scores, rank_passages
from agentmem.mechanisms.graph.index import (
    GraphIndex,
    PassageInput,
    entity_id,
    normalize_name,
    plan_add,
    plan_delete,
    topic_name,
)
from agentmem.mechanisms.graph.repository import (
    delete_passages,
    graph_stats,
    load_graph,
    write_delta,
)
from agentmem.store import schema as t
from agentmem.store.sql import SqlStore, create_engine
from agentmem.types import Scope

DIM = 64


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


PASSAGES = {
    "p1": [("Acme Corp", "founded by", "John Miller"), ("Acme Corp", "founded in", "1990")],
    "p2": [("John Miller", "born in", "Springfield"), ("John Miller", "studied at", "MIT")],
    "p3": [("Springfield", "located in", "Illinois"), ("Illinois", "part of", "United States")],
    "p4": [("John Miller Jr", "son of", "John Miller"), ("Acme Corp", "founded by", "John Miller")],
    "p5": [("Beta Labs", "based in", "Boston")],
}


# Document titles: p3's names its topic with a disambiguation, p5's names no entity of its triples.
TITLES = {"p1": "Acme Corp", "p2": "John Miller", "p3": "Springfield (Illinois)", "p4": "John Miller Jr",
          "p5": "Boston Chemistry"}
TOPIC_W = 2.0


def passage(pid: str) -> PassageInput:
    return PassageInput(pid, trigram_embed([pid])[0], PASSAGES[pid], title=TITLES[pid])


SCOPE = Scope("t1", "alice")


def build(scope: Scope, pids: Sequence[str], *, one_by_one: bool, topic_weight: float = TOPIC_W) -> GraphIndex:
    g = GraphIndex(DIM, topic_weight=topic_weight)
    groups = [[p] for p in pids] if one_by_one else [list(pids)]
    for group in groups:
        g.apply(plan_add(g, scope, [passage(p) for p in group], trigram_embed, threshold=0.6))
    return g


def graph_signature(g: GraphIndex) -> tuple:
    snap = g.snapshot()
    return (
        snap.entity_ids, snap.passage_ids, snap.fact_ids, g.edge_set(),
        tuple(snap.entity_passages.tolist()), tuple(sorted(g.topics.items())),
    )


@pytest.fixture()
def sql(tmp_path: Path) -> SqlStore:
    return SqlStore(create_engine(f"sqlite:///{tmp_path}/g.db"))


def test_normalize_name() -> None:
    assert normalize_name("  The U.S.-based  Firm! ") == "the u s based firm"
    assert normalize_name("Zürich") == "zürich"


def test_incremental_insert_equals_batch_build() -> None:
    order = ["p1", "p2", "p3", "p4", "p5"]
    batch = build(SCOPE, order, one_by_one=False)
    incremental = build(SCOPE, order, one_by_one=True)
    shuffled = build(SCOPE, ["p5", "p3", "p1", "p4", "p2"], one_by_one=True)
    assert graph_signature(batch) == graph_signature(incremental) == graph_signature(shuffled)
    # fact edge weight counts the passages stating the triple; synonyms were found
    edges = batch.edge_set()
    acme, john = entity_id(SCOPE, "acme corp"), entity_id(SCOPE, "john miller")
    assert edges[(min(acme, john), max(acme, john))] == 2.0
    assert tuple(sorted((john, entity_id(SCOPE, "john miller jr")))) in batch.synonyms


def test_adding_a_passage_twice_changes_nothing() -> None:
    g = build(SCOPE, ["p1", "p2"], one_by_one=False)
    before = graph_signature(g)
    delta = plan_add(g, SCOPE, [passage("p2")], trigram_embed)
    assert delta.empty()
    g.apply(delta)
    assert graph_signature(g) == before


def test_only_new_entities_are_embedded() -> None:
    g = build(SCOPE, ["p1", "p2"], one_by_one=False)
    seen: list[str] = []

    def spy(texts: Sequence[str]) -> np.ndarray:
        seen.extend(texts)
        return trigram_embed(texts)

    g.apply(plan_add(g, SCOPE, [passage("p3")], spy))
    # springfield (also p3's topic) is known; illinois / united states and the two new facts are new
    assert sorted(seen) == sorted(
        ["illinois", "united states", "springfield located in illinois", "illinois part of united states"]
    )


def test_sql_roundtrip_equals_in_memory(sql: SqlStore) -> None:
    g = GraphIndex(DIM, topic_weight=TOPIC_W)
    for pid in ["p1", "p2", "p3", "p4"]:
        delta = plan_add(g, SCOPE, [passage(pid)], trigram_embed, threshold=0.6)
        with sql.begin() as conn:
            write_delta(conn, SCOPE, delta)
        g.apply(delta)
    loaded = load_graph(sql, SCOPE, DIM, topic_weight=TOPIC_W)
    assert graph_signature(loaded) == graph_signature(g)
    np.testing.assert_array_equal(loaded.snapshot().fact_rows.matrix(), g.snapshot().fact_rows.matrix())


def _orphans(sql: SqlStore, scope: Scope) -> dict[str, int]:
    def scoped(table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.tenant == scope.tenant, table.c.user_id == scope.user_id)

    with sql.begin() as conn:
        ents = set(conn.execute(sa.select(t.entities.c.id).where(scoped(t.entities))).scalars())
        mentioned = set(conn.execute(sa.select(t.graph_mentions.c.entity_id).where(scoped(t.graph_mentions))).scalars())
        facts = conn.execute(sa.select(t.facts).where(scoped(t.facts))).all()
        sourced = set(conn.execute(sa.select(t.graph_fact_sources.c.fact_id).where(scoped(t.graph_fact_sources))).scalars())
        passages = set(conn.execute(sa.select(t.graph_passages.c.passage_id).where(scoped(t.graph_passages))).scalars())
        linked = set(conn.execute(sa.select(t.graph_mentions.c.passage_id).where(scoped(t.graph_mentions))).scalars())
        syn = conn.execute(sa.select(t.graph_synonyms).where(scoped(t.graph_synonyms))).all()
        topics = conn.execute(sa.select(t.graph_topics).where(scoped(t.graph_topics))).all()
    return {
        "entities_unmentioned": len(ents - mentioned),
        "mentions_of_missing_entities": len(mentioned - ents),
        "facts_unsourced": len({f.id for f in facts} - sourced),
        "sources_of_missing_facts": len(sourced - {f.id for f in facts}),
        "facts_with_missing_ends": sum(f.subject_id not in ents or f.object_id not in ents for f in facts),
        "links_of_missing_passages": len(linked - passages),
        "synonyms_dangling": sum(s.a not in ents or s.b not in ents for s in syn),
        "topics_dangling": sum(x.passage_id not in passages or x.entity_id not in ents for x in topics),
    }


def test_deletion_leaves_no_orphans(sql: SqlStore) -> None:
    g = GraphIndex(DIM, topic_weight=TOPIC_W)
    delta = plan_add(g, SCOPE, [passage(p) for p in PASSAGES], trigram_embed, threshold=0.6)
    with sql.begin() as conn:
        write_delta(conn, SCOPE, delta)
    g.apply(delta)
    for gone in (["p4"], ["p2", "p5"]):
        d = plan_delete(g, gone)
        with sql.begin() as conn:
            delete_passages(conn, SCOPE, gone)
        g.apply(d)
        assert set(_orphans(sql, SCOPE).values()) == {0}
        # the in-memory graph equals a reload from SQL...
        assert graph_signature(load_graph(sql, SCOPE, DIM, topic_weight=TOPIC_W)) == graph_signature(g)
    # ...and equals a graph built from the remaining passages only
    assert graph_signature(g) == graph_signature(build(SCOPE, ["p1", "p3"], one_by_one=False))
    # facts shared with a surviving passage survive: p1 still says Acme was founded by John Miller
    assert entity_id(SCOPE, "john miller") in g.entities
    assert entity_id(SCOPE, "springfield") in g.entities  # p3 still mentions it
    assert entity_id(SCOPE, "mit") not in g.entities  # only p2 did
    assert entity_id(SCOPE, "boston chemistry") not in g.entities  # p5's topic went with p5
    assert set(g.topics) == {"p1", "p3"}
    with sql.begin() as conn:
        delete_passages(conn, SCOPE, ["p1", "p3"])
    assert set(graph_stats(sql, SCOPE).values()) == {0}


def test_tenants_are_isolated(sql: SqlStore) -> None:
    other = Scope("t2", "alice")  # same user id, another tenant
    for scope, pids in ((SCOPE, ["p1", "p2"]), (other, ["p3", "p5"])):
        delta = plan_add(GraphIndex(DIM), scope, [passage(p) for p in pids], trigram_embed)
        with sql.begin() as conn:
            write_delta(conn, scope, delta)
    a, b = load_graph(sql, SCOPE, DIM), load_graph(sql, other, DIM)
    assert set(a.passages) == {"p1", "p2"} and set(b.passages) == {"p3", "p5"}
    assert not set(a.entities) & set(b.entities)
    # a query in one tenant only ranks that tenant's passages
    q = trigram_embed(["springfield illinois"])[0]
    rows, _ = rank_passages(a.snapshot(), q)
    assert {a.snapshot().passage_ids[r] for r in rows} == {"p1", "p2"}
    # deleting in one tenant leaves the other untouched
    with sql.begin() as conn:
        delete_passages(conn, other, ["p1", "p2", "p3", "p5"])
    assert graph_stats(sql, other)["passages"] == 0
    assert graph_signature(load_graph(sql, SCOPE, DIM)) == graph_signature(a)


def test_topic_edges_link_a_document_to_the_entity_its_title_names() -> None:
    assert topic_name("Springfield (Illinois)") == "springfield"
    assert topic_name("Mr. Smith Goes to Washington") == "mr smith goes to washington"
    assert topic_name("(1990)") == "1990"  # a title that is only a parenthesis keeps it
    g = build(SCOPE, list(PASSAGES), one_by_one=False)
    boston_chem, springfield = entity_id(SCOPE, "boston chemistry"), entity_id(SCOPE, "springfield")
    assert g.topics == {p: entity_id(SCOPE, topic_name(x)) for p, x in TITLES.items()}
    assert g.entities[boston_chem] == "boston chemistry"  # in no triple: a new entity, mentioned by p5
    edges = g.edge_set()
    # context edge 1 plus the topic edge
    assert edges[tuple(sorted((springfield, "p3")))] == 1.0 + TOPIC_W  # type: ignore[index]
    assert edges[tuple(sorted((springfield, "p2")))] == 1.0  # type: ignore[index]  # p2 only mentions it
    # passages sharing a topic (chunks of one document) share its weight
    chunk = PassageInput("p6", trigram_embed(["p6"])[0], [("Springfield", "has", "a zoo")], title="Springfield")
    g.apply(plan_add(g, SCOPE, [chunk], trigram_embed))
    edges = g.edge_set()
    assert edges[tuple(sorted((springfield, "p3")))] == 1.0 + TOPIC_W / 2  # type: ignore[index]
    assert edges[tuple(sorted((springfield, "p6")))] == 1.0 + TOPIC_W / 2  # type: ignore[index]
    # with weight 0 the snapshot is HippoRAG's graph plus the titles' context edges
    hipporag = build(SCOPE, list(PASSAGES), one_by_one=False, topic_weight=0.0)
    assert hipporag.edge_set()[tuple(sorted((springfield, "p3")))] == 1.0  # type: ignore[index]
    # a conversation turn (no title) has no topic
    turn = PassageInput("t1", trigram_embed(["t1"])[0], PASSAGES["p1"])
    assert plan_add(GraphIndex(DIM), SCOPE, [turn], trigram_embed).topics == {}


def test_topic_edge_leads_pagerank_to_the_passage_about_the_bridge_entity() -> None:
    # the first hop names Kansas; three passages mention it, the one about it has nothing else
    # in common with the question, the other two share Dodge City with it
    docs = {
        "airport": ("Dodge City Regional Airport", [("Dodge City Regional Airport", "located in", "Dodge City"),
                                                    ("Dodge City Regional Airport", "located in", "Kansas")]),
        "city": ("Dodge City", [("Dodge City", "located in", "Kansas"), ("Dodge City", "known as", "Cowboy Capital")]),
        "legend": ("Dodge City Legend", [("Dodge City Legend", "based in", "Dodge City"),
                                         ("Dodge City Legend", "plays in", "Kansas")]),
        "kansas": ("Kansas", [("Kansas", "admitted to the union in", "1861")]),
    }

    def ranked(weight: float) -> list[str]:
        g = GraphIndex(DIM, topic_weight=weight)
        g.apply(plan_add(g, SCOPE, [PassageInput(p, trigram_embed([p])[0], tr, title=title)
                                    for p, (title, tr) in docs.items()], trigram_embed))
        snap = g.snapshot()
        q = trigram_embed(["dodge city regional airport located in kansas"])[0]
        rows, _ = rank_passages(snap, q, passage_weight=0.0, top_facts=1)
        return [snap.passage_ids[r] for r in rows]

    assert ranked(0.0) == ["airport", "legend", "city", "kansas"]  # HippoRAG's graph
    assert ranked(1.0)[:2] == ranked(8.0)[:2] == ["airport", "kansas"]


def test_multi_hop_ranking_follows_the_bridge_entity() -> None:
    g = build(SCOPE, list(PASSAGES), one_by_one=False)
    snap = g.snapshot()
    # the query names only Acme Corp; p2 (John Miller's birthplace) is one hop away
    q = trigram_embed(["acme corp founded by john miller"])[0]
    rows, scores = rank_passages(snap, q, passage_weight=0.0)
    ranked = [snap.passage_ids[r] for r in rows]
    assert set(ranked[:2]) == {"p1", "p4"}
    assert ranked.index("p2") < ranked.index("p5")
    assert np.all(np.diff(scores) <= 1e-15)


def test_fact_scores_hand_computed() -> None:
    dense = np.array([0.2, 0.6, 0.4, 0.5])
    bm25 = np.array([3.0, 0.0, 1.0, 0.0])
    # min_max(dense) = [0, 1, .5, .75], min_max(bm25) = [1, 0, 1/3, 0]
    # w = 0.5: [.5, 1, .5 + 1/6, .75] -> min-max over [.5, 1]
    want = (np.array([0.5, 1.0, 0.5 + 1 / 6, 0.75]) - 0.5) / 0.5
    np.testing.assert_allclose(fact_scores(dense, bm25, lexical_weight=0.5), want)
    # weight 0, no lexical scores, or a query matching nothing: HippoRAG 2's min_max(dense)
    np.testing.assert_allclose(fact_scores(dense, bm25, lexical_weight=0.0), min_max(dense, constant=1.0))
    np.testing.assert_allclose(fact_scores(dense, None, lexical_weight=0.5), min_max(dense, constant=1.0))
    np.testing.assert_allclose(fact_scores(dense, np.zeros(4), lexical_weight=0.5), min_max(dense, constant=1.0))


def test_fact_lexicon_rows_follow_fact_ids() -> None:
    snap = build(SCOPE, list(PASSAGES), one_by_one=False).snapshot()
    scores = snap.fact_lexicon.scores("where is beta labs based")
    assert snap.fact_triples[int(np.argmax(scores))] == ("beta labs", "based in", "boston")
    assert np.count_nonzero(scores) == 1


def test_lexical_fact_match_seeds_the_named_entities() -> None:
    snap = build(SCOPE, list(PASSAGES), one_by_one=False).snapshot()
    q = np.zeros(DIM, dtype=np.float32)  # dense says nothing: every fact ties
    ref_rows, ref_scores = rank_passages(snap, q, passage_weight=0.0)
    rows, _ = rank_passages(snap, q, query_text="beta labs boston", lexical_weight=0.0, passage_weight=0.0)
    np.testing.assert_array_equal(rows, ref_rows)  # weight 0 is the reference
    rows, _ = rank_passages(snap, q, query_text="beta labs boston", lexical_weight=0.25, passage_weight=0.0)
    assert snap.passage_ids[rows[0]] == "p5"
