"""GraphComponent driven directly (as the facade does): multi-hop recall, replicas, deletion,
tenant isolation, precomputed triples vs. offline extraction."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem.config import GraphConfig, MemoryConfig, RecallConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.mechanisms.base import Candidate, Query, Services, TurnFilter
from agentmem.mechanisms.graph.component import GraphComponent
from agentmem.mechanisms.graph.repository import graph_stats
from agentmem.protocols import Embedder
from agentmem.store.sql import NewTurn, SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.types import Scope, Turn

DOCS = [
    ("Acme Corp", "Acme Corp is a toy maker. It was founded by John Miller in 1990."),
    ("John Miller", "John Miller was an American businessman. He was born in Springfield."),
    ("Springfield", "Springfield is the capital of Illinois, with a population of 114,000."),
    ("Beta Labs", "Beta Labs is a chemistry company based in Boston, founded by Mary Jones."),
    ("Mary Jones", "Mary Jones was born in Dublin and studied chemistry at Trinity College."),
    ("Gamma Toys", "Gamma Toys makes wooden toys in Vermont."),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return cast(Embedder, SentenceTransformerEmbedder())


@pytest.fixture()
def services(tmp_path: Path, embedder: Embedder) -> Services:
    return make_services(tmp_path, embedder)


def make_services(tmp_path: Path, embedder: Embedder) -> Services:
    from agentmem.recall.tokens import TiktokenCounter

    return Services(
        # plain RRF: the component computes the bridge query only when fusion reads it
        config=MemoryConfig(home=tmp_path, graph=GraphConfig(enabled=True), recall=RecallConfig(reader=False)),
        sql=SqlStore(create_engine(f"sqlite:///{tmp_path}/t.db")),
        vectors=ChromaVectors(open_chroma("memory", tmp_path), prefix=f"g{uuid.uuid4().hex[:8]}"),
        embedder=embedder,
        tokens=TiktokenCounter(),
    )


def add_docs(services: Services, comp: GraphComponent, scope: Scope, docs: Sequence[tuple[str, str]],
             extra: Sequence[dict[str, Any]] | None = None) -> list[Turn]:
    sql = services.sql
    new = [
        NewTurn(
            speaker=title, role="document", content=text,
            content_hash=hashlib.sha256(f"{title}\n{text}".encode()).hexdigest(),
            timestamp=datetime(2024, 1, 1, tzinfo=UTC), session_id=None, agent_id=None,
            metadata={"doc_id": title, **((extra or [{}] * len(docs))[i])},
        )
        for i, (title, text) in enumerate(docs)
    ]
    with sql.begin() as conn:
        sql.ensure_user(conn, scope)
        turns = sql.insert_turns(conn, scope, new)
        version = sql.bump_version(conn, scope, "turns")
    vectors = services.embedder.embed([f"{t.speaker}\n{t.content}" for t in turns])
    comp.on_add(scope, turns, vectors, version)
    return turns


def search(services: Services, comp: GraphComponent, scope: Scope, text: str, k: int = 10,
           flt: TurnFilter | None = None) -> list[Candidate]:
    q = Query(text, services.embedder.embed([text])[0], scope, k, services.sql.versions(scope),
              filter=flt or TurnFilter())
    return comp.search(q)


def titles(turns: Sequence[Turn], cands: Sequence[Candidate]) -> list[str]:
    by_id = {t.id: t.speaker for t in turns}
    return [by_id[c.id] for c in cands]


SCOPE = Scope("acme", "alice")


def test_offline_graph_recall_is_multi_hop(services: Services) -> None:
    comp = GraphComponent(services)
    turns = add_docs(services, comp, SCOPE, DOCS)
    got = search(services, comp, SCOPE, "In which city was the founder of Acme Corp born?")
    assert all(c.kind == "turn" and c.signal == "graph" for c in got)
    assert set(titles(turns, got[:2])) == {"Acme Corp", "John Miller"}
    assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
    stats = graph_stats(services.sql, SCOPE)
    assert stats["passages"] == len(DOCS) and stats["facts"] > 0


def test_bridge_signal_finds_the_entity_the_question_does_not_name(tmp_path: Path, embedder: Embedder) -> None:
    base = make_services(tmp_path, embedder)
    services = Services(config=MemoryConfig(home=tmp_path, graph=GraphConfig(enabled=True),
                                            recall=RecallConfig.multi_hop()),
                        sql=base.sql, vectors=base.vectors, embedder=embedder, tokens=base.tokens)
    comp = GraphComponent(services)
    turns = add_docs(services, comp, SCOPE, DOCS)
    question = "Where did the founder of Beta Labs study?"
    got = search(services, comp, SCOPE, question)
    bridge = [c for c in got if c.signal == "bridge"]
    assert len(bridge) == len(DOCS) and len(got) == 2 * len(DOCS)
    # the best fact (beta labs, founded by, mary jones) names the second hop: Mary Jones's
    # passage comes second, where the question alone ranks John Miller's
    assert titles(turns, bridge[:2]) == ["Beta Labs", "Mary Jones"]
    dense = services.embedder.embed([f"{t.speaker}\n{t.content}" for t in turns]) @ services.embedder.embed([question])[0]
    assert turns[int(np.argsort(-dense)[1])].speaker == "John Miller"
    # filters apply to the bridge list as to PageRank's, with one SQL read for both lists
    reads = []
    get_turns = services.sql.get_turns
    services.sql.get_turns = lambda scope, ids: reads.append(ids) or get_turns(scope, ids)  # type: ignore[method-assign]
    only = search(services, comp, SCOPE, question, flt=TurnFilter(speaker="Springfield"))
    assert sorted((titles(turns, [c]), c.signal) for c in only) == [(["Springfield"], "bridge"), (["Springfield"], "graph")]
    assert len(reads) == 1 and len(reads[0]) == len(DOCS)


def test_memory_search_with_the_multi_hop_fusion(tmp_path: Path, embedder: Embedder) -> None:
    from agentmem import Memory

    config = MemoryConfig(home=tmp_path, chroma="memory", graph=GraphConfig(enabled=True),
                          recall=RecallConfig.multi_hop())
    mem = Memory(config, embedder=embedder)
    try:
        mem.add_documents([{"id": t, "title": t, "text": x} for t, x in DOCS], user_id="kb")
        hits = mem.search("Where did the founder of Beta Labs study?", user_id="kb", k=4)
        # the turn scorer's best, then the bridge query's best not taken yet (Mary Jones: the
        # question never names her), then the runners-up of each, in turn
        assert [h.speaker for h in hits[:2]] == ["Beta Labs", "Mary Jones"]
        assert hits[0].signals["turns"] == 1 and hits[1].signals["bridge"] == 2
        assert {"graph", "bridge", "turns"} <= set(hits[1].signals)
    finally:
        mem.close()


def test_bridge_query_is_left_out_when_fusion_does_not_read_it(services: Services) -> None:
    assert not services.config.recall.reads("bridge")  # plain RRF: weight 0, no lead
    comp = GraphComponent(services)
    add_docs(services, comp, SCOPE, DOCS)
    assert {c.signal for c in search(services, comp, SCOPE, "Where did the founder of Beta Labs study?")} == {"graph"}


def test_precomputed_triples_are_used_verbatim(services: Services) -> None:
    comp = GraphComponent(services)
    extra: list[dict[str, Any]] = [{"triples": [["Acme Corp", "founded by", "John Miller"]], "entities": ["Acme Corp"]},
             {"triples": [["John Miller", "born in", "Springfield"]]}, {"triples": []}]
    add_docs(services, comp, SCOPE, DOCS[:3], extra)
    # each passage is also linked to its title's entity: Springfield's passage, with no triple, too
    assert graph_stats(services.sql, SCOPE) == {
        "entities": 3, "facts": 2, "passages": 3, "mentions": 5, "fact_sources": 2, "synonyms": 0, "topics": 3,
    }


def test_second_replica_sees_writes_and_deletes(tmp_path: Path, embedder: Embedder) -> None:
    a_services = make_services(tmp_path, embedder)
    b_services = Services(  # another process on the same database
        config=a_services.config, sql=SqlStore(create_engine(f"sqlite:///{tmp_path}/t.db")),
        vectors=a_services.vectors, embedder=embedder, tokens=a_services.tokens,
    )
    a, b = GraphComponent(a_services), GraphComponent(b_services)
    turns = add_docs(a_services, a, SCOPE, DOCS[:2])
    assert len(search(b_services, b, SCOPE, "Acme Corp founder")) == 2
    turns += add_docs(a_services, a, SCOPE, DOCS[2:])
    assert len(search(b_services, b, SCOPE, "Acme Corp founder")) == len(DOCS)
    gone = [t for t in turns if t.speaker in ("John Miller", "Gamma Toys")]
    b.on_delete(SCOPE, gone, 0)
    left = search(a_services, a, SCOPE, "Where was John Miller born?")
    assert {c.id for c in left}.isdisjoint({t.id for t in gone}) and len(left) == len(DOCS) - 2


def test_delete_everything_and_user(services: Services) -> None:
    comp = GraphComponent(services)
    turns = add_docs(services, comp, SCOPE, DOCS)
    comp.on_delete(SCOPE, turns[:3], 0)
    assert graph_stats(services.sql, SCOPE)["passages"] == 3
    comp.on_delete_user(SCOPE)
    assert set(graph_stats(services.sql, SCOPE).values()) == {0}
    assert search(services, comp, SCOPE, "Acme") == []


def test_tenant_isolation_of_graph_queries(services: Services) -> None:
    comp = GraphComponent(services)
    other = Scope("globex", "alice")
    mine = add_docs(services, comp, SCOPE, DOCS[:3])
    theirs = add_docs(services, comp, other, DOCS[3:])
    got_mine = {c.id for c in search(services, comp, SCOPE, "Mary Jones Beta Labs Dublin")}
    got_theirs = {c.id for c in search(services, comp, other, "Acme Corp John Miller")}
    assert got_mine == {t.id for t in mine}
    assert got_theirs == {t.id for t in theirs}
    comp.on_delete_user(other)
    assert graph_stats(services.sql, SCOPE)["passages"] == 3


def test_filter_restricts_candidates(services: Services) -> None:
    comp = GraphComponent(services)
    turns = add_docs(services, comp, SCOPE, DOCS)
    got = search(services, comp, SCOPE, "Acme Corp founder", flt=TurnFilter(speaker="Springfield"))
    assert titles(turns, got) == ["Springfield"]
    assert np.isfinite([c.score for c in got]).all()


class FakeChat:
    """NER = capitalized words; triples link the first entity to the others; the fact filter
    keeps facts whose subject is named in the question."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.filter_calls = 0

    def generate(self, messages: Sequence[tuple[str, str]]) -> str:
        import json

        text = messages[-1][1]
        if self.fail:
            return "Sorry, I can't do that."
        if text.startswith("Question:"):
            self.filter_calls += 1
            question, facts = text.split("\n\nCandidate facts: ")
            kept = [f for f in json.loads(facts)["fact"] if f[0] in question.lower()]
            return json.dumps({"fact": kept})
        if "named_entities" in text:
            ents = json.loads(text[text.rindex("{"):])["named_entities"]
            return json.dumps({"triples": [[ents[0], "related to", e] for e in ents[1:]]})
        body = text.split("```")[1]
        return json.dumps({"named_entities": sorted({w.strip(".,") for w in body.split() if w[:1].isupper()})})


def test_llm_extraction_and_recognition_filter(tmp_path: Path, embedder: Embedder) -> None:
    from agentmem.errors import ExtractionError

    services = make_services(tmp_path, embedder)
    services.chat_model = FakeChat()
    comp = GraphComponent(services)
    assert comp.runner is not None
    turns = add_docs(services, comp, SCOPE, DOCS)
    assert graph_stats(services.sql, SCOPE)["facts"] > len(DOCS)
    got = search(services, comp, SCOPE, "Where was john miller born?")
    assert services.chat_model.filter_calls == 1
    assert titles(turns, got[:1]) == ["John Miller"]

    (tmp_path / "b").mkdir()
    failing = make_services(tmp_path / "b", embedder)
    failing.chat_model = FakeChat(fail=True)
    with pytest.raises(ExtractionError):
        add_docs(failing, GraphComponent(failing), SCOPE, DOCS[:1])
    assert graph_stats(failing.sql, SCOPE)["passages"] == 0  # nothing half-written


def test_catch_up_adds_the_topic_edges_a_graph_built_before_them_lacks(services: Services,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from agentmem.mechanisms.graph.repository import load_graph

    comp = GraphComponent(services)
    passages = GraphComponent._passages
    monkeypatch.setattr(GraphComponent, "_passages",  # as before topic edges: no title reaches the graph
                        lambda self, turns, vectors: [dataclasses.replace(p, title=None)
                                                      for p in passages(self, turns, vectors)])
    add_docs(services, comp, SCOPE, DOCS)
    assert graph_stats(services.sql, SCOPE)["topics"] == 0
    monkeypatch.undo()
    assert comp.catch_up(SCOPE) == 0  # no passage was missing...
    fresh = Scope("acme", "bob")
    add_docs(services, comp, fresh, DOCS)
    # ...but every document now has its topic edge: the graph equals one built with them
    assert graph_stats(services.sql, SCOPE) == graph_stats(services.sql, fresh)
    assert graph_stats(services.sql, SCOPE)["topics"] == len(DOCS)
    version = services.sql.versions(SCOPE)["graph"]
    assert comp.catch_up(SCOPE) == 0 and services.sql.versions(SCOPE)["graph"] == version  # nothing to do
    reloaded = load_graph(services.sql, SCOPE, services.embedder.dim, topic_weight=comp.config.topic_weight)
    assert reloaded.edge_set() == comp.index(SCOPE).edge_set()  # the cache advanced with the write
