"""ThoughtComponent driven directly: think / insert / merge / forget / recall, history, replicas."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem.config import MemoryConfig, ThoughtConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.errors import ExtractionError, NotFoundError, ValidationError
from agentmem.mechanisms.base import Query, Services, TimeWindow, TurnFilter
from agentmem.mechanisms.thoughts.center import CALIBRATION, embedding_center
from agentmem.mechanisms.thoughts.component import ThoughtComponent
from agentmem.mechanisms.thoughts.lsh import LSHIndex
from agentmem.recall.tokens import TiktokenCounter
from agentmem.store.schema import thoughts
from agentmem.store.sql import SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.types import Scope, Turn

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture()
def services(tmp_path, embedder) -> Services:
    return Services(
        config=MemoryConfig(home=tmp_path),
        sql=SqlStore(create_engine(f"sqlite:///{tmp_path}/t.db")),
        vectors=ChromaVectors(open_chroma("memory", tmp_path), prefix=f"t{uuid.uuid4().hex[:12]}"),
        embedder=embedder,
        tokens=TiktokenCounter(),
    )


@pytest.fixture()
def comp(services) -> ThoughtComponent:
    return ThoughtComponent(services)


ALICE = Scope("acme", "alice")


def ask(comp: ThoughtComponent, text: str, scope: Scope = ALICE, k: int = 5, **kw) -> list:
    s = comp.services
    q = Query(text, s.embedder.embed([text])[0], scope, k, s.sql.versions(scope), **kw)
    return comp.search(q)


def events(comp: ThoughtComponent, scope: Scope = ALICE) -> list[tuple[str, str]]:
    return [(e.record_id, e.event) for e in comp.services.sql.history(scope) if e.record_kind == "thought"]


def test_insert_recall_and_history(comp):
    a = comp.insert(ALICE, "The user is allergic to peanuts.", now=T0)
    b = comp.insert(ALICE, "The user's sister lives in Chicago.", now=T0)
    hits = ask(comp, "what food allergy does the user have?")
    assert hits[0].id == a.id and hits[0].kind == "thought" and hits[0].signal == "thought"
    assert hits[0].text == a.text and hits[0].timestamp == T0
    assert ask(comp, "where does the user's sister live?")[0].id == b.id
    assert events(comp) == [(a.id, "ADD"), (b.id, "ADD")]
    # the top hits were recalled
    assert comp.get(ALICE, a.id).recall_count == 1 and comp.get(ALICE, a.id).last_recalled_at is not None


def test_near_duplicate_merges_keeping_provenance(comp):
    a = comp.insert(ALICE, "The user is allergic to peanuts.", source_ids=["t1"], now=T0)
    b = comp.insert(ALICE, "The user is allergic to peanuts!", source_ids=["t2"], now=T0 + timedelta(1))
    assert b.id == a.id  # merged into the existing thought
    live = comp.thoughts(ALICE)
    assert len(live) == 1
    assert live[0].source_ids == ("t1", "t2") and len(live[0].merged_from) == 1
    assert live[0].text == "The user is allergic to peanuts."
    assert [e for _, e in events(comp)] == ["ADD", "MERGE"]


def test_contradiction_forgets_old_thought(comp):
    old = comp.insert(ALICE, "The user lives in Paris.", subject="the user", relation="lives in", object="Paris", now=T0)
    new = comp.insert(ALICE, "The user lives in Berlin.", subject="The User", relation="lives  in", object="Berlin", now=T0 + timedelta(3))
    assert [t.id for t in comp.thoughts(ALICE)] == [new.id]
    gone = comp.get(ALICE, old.id)
    assert gone.valid_to == T0 + timedelta(3) and not gone.live
    assert old.id in {t.id for t in comp.thoughts(ALICE, include_forgotten=True)}
    assert all(h.id != old.id for h in ask(comp, "where does the user live? Paris", k=10))
    forget = [e for e in comp.services.sql.history(ALICE, old.id) if e.event == "FORGET"]
    assert forget and forget[0].metadata == {"reason": "contradicted", "by": new.id}


def test_same_triple_merges_even_when_texts_differ(comp):
    a = comp.insert(ALICE, "Bob works at Google.", subject="Bob", relation="works at", object="Google", now=T0)
    b = comp.insert(ALICE, "According to the user, Bob has a job at Google these days.", subject="bob", relation="works at", object="google", now=T0)
    assert b.id == a.id and len(comp.thoughts(ALICE)) == 1


def test_capacity_forgets_least_recalled_oldest(services):
    comp = ThoughtComponent(services, config=ThoughtConfig(capacity=2, recall_top=1))
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    b = comp.insert(ALICE, "The user's favourite city is Lisbon.", now=T0 + timedelta(1))
    assert ask(comp, "which instrument does the user play?")[0].id == a.id  # a recalled once
    c = comp.insert(ALICE, "The user drives an electric car.", now=T0 + timedelta(2))
    assert {t.id for t in comp.thoughts(ALICE)} == {a.id, c.id}  # b: never recalled
    assert comp.get(ALICE, b.id).valid_to is not None
    meta = [e.metadata for e in services.sql.history(ALICE, b.id) if e.event == "FORGET"]
    assert meta == [{"reason": "capacity"}]


def test_decay_forgets_idle_thoughts(services):
    comp = ThoughtComponent(services, config=ThoughtConfig(ttl_days=30))
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    b = comp.insert(ALICE, "The user drives an electric car.", now=T0 + timedelta(days=40))
    assert [t.id for t in comp.thoughts(ALICE)] == [b.id]
    assert comp.get(ALICE, a.id).valid_to == T0 + timedelta(days=40)


def test_explicit_forget_and_not_found(comp):
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    assert ask(comp, "cello")[0].id == a.id
    f = comp.forget(ALICE, a.id, now=T0 + timedelta(1))
    assert not f.live and ask(comp, "cello") == []
    assert comp.forget(ALICE, a.id) .valid_to == f.valid_to  # idempotent
    assert [e for _, e in events(comp)] == ["ADD", "FORGET"]
    with pytest.raises(NotFoundError):
        comp.forget(ALICE, "nope")
    with pytest.raises(NotFoundError):  # another tenant's id is not found either
        comp.get(Scope("other", "alice"), a.id)


def test_validation(comp):
    with pytest.raises(ValidationError):
        comp.insert(ALICE, "   ")
    with pytest.raises(ValidationError):
        comp.insert(ALICE, "x is y", subject="x", relation="is")


def test_think_offline_derives_thoughts_from_facts(comp):
    got = comp.think(ALICE, "I moved to Berlin last week.", "Alice lives in Paris, near the Louvre.", now=T0, source_ids=["turn-9"])
    texts = {t.text for t in got}
    # well-formed sentences with their time (not fragments such as "the user live Berlin.")
    assert texts == {"Alice lives in Paris (as of 2024-05-01).", "The user lives in Berlin (since 2024-05-01)."}
    assert all(t.source_ids == ("turn-9",) for t in got)
    assert any(t.subject == "the user" for t in got)
    assert comp.think(ALICE, "hello", "hi there", now=T0) == []


class FakeChat:
    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.seen: list = []

    def generate(self, messages):
        self.seen.append(list(messages))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_think_with_chat_model(comp):
    chat = FakeChat('```json\n[{"thought": "The user is vegetarian.", "subject": "the user", "relation": "is", "object": "vegetarian"}, "The user dislikes spicy food."]\n```')
    got = comp.think(ALICE, "Any dinner ideas? I don't eat meat.", "Try a mild lentil curry.", chat_model=chat, now=T0)
    assert [t.text for t in got] == ["The user is vegetarian.", "The user dislikes spicy food."]
    assert got[0].object == "vegetarian" and got[1].subject is None
    assert "2024-05-01" in chat.seen[0][0][1]  # today's date reaches the prompt
    assert comp.think(ALICE, "q", "r", chat_model=FakeChat("[]"), now=T0) == []
    with pytest.raises(ExtractionError):
        comp.think(ALICE, "q", "r", chat_model=FakeChat(RuntimeError("rate limited")), now=T0)
    with pytest.raises(ExtractionError):
        comp.think(ALICE, "q", "r", chat_model=FakeChat("I cannot do that"), now=T0)
    assert len(comp.thoughts(ALICE)) == 2  # failures stored nothing


def test_delete_turn_drops_provenance_and_delete_user(comp):
    a = comp.insert(ALICE, "The user plays the cello.", source_ids=["t1", "t2"], now=T0)
    turn = Turn("t1", ALICE, "x", "user", "user", T0, 1, "h")
    comp.on_delete(ALICE, [turn], 2)
    assert comp.get(ALICE, a.id).source_ids == ("t2",)
    assert [e for _, e in events(comp)] == ["ADD", "UPDATE"]
    assert [h.id for h in ask(comp, "cello")] == [a.id]
    comp.on_delete(ALICE, [replace(turn, id="t2")], 3)  # its last source: derived only from deleted turns
    assert comp.thoughts(ALICE, include_forgotten=True) == [] and ask(comp, "cello") == []
    assert [e for _, e in events(comp)] == ["ADD", "UPDATE", "DELETE"]
    kept = comp.insert(ALICE, "The user plays the cello.", now=T0)  # no sources: belongs to no memory
    comp.on_delete(ALICE, [turn], 4)
    assert [th.id for th in comp.thoughts(ALICE)] == [kept.id]
    comp.on_delete_user(ALICE)
    assert comp.thoughts(ALICE, include_forgotten=True) == [] and ask(comp, "cello") == []


def test_tenants_are_isolated(comp):
    comp.insert(ALICE, "The user plays the cello.", now=T0)
    assert ask(comp, "cello", scope=Scope("other", "alice")) == []
    assert ask(comp, "cello", scope=Scope("acme", "bob")) == []


def test_filters(comp):
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    assert ask(comp, "cello", filter=TurnFilter(session_id="s1")) == []
    inside = TurnFilter(window=TimeWindow(T0 - timedelta(1), T0 + timedelta(1)))
    outside = TurnFilter(window=TimeWindow(T0 + timedelta(1), None))
    assert [h.id for h in ask(comp, "cello", filter=inside)] == [a.id]
    assert ask(comp, "cello", filter=outside) == []


def test_second_replica_sees_writes_and_rebuilds_from_stored_codes(services, tmp_path):
    one = ThoughtComponent(services)
    other = ThoughtComponent(services)  # another process on the same stores
    a = one.insert(ALICE, "The user plays the cello.", now=T0)
    assert ask(other, "cello")[0].id == a.id
    b = one.insert(ALICE, "The user drives an electric car.", now=T0)
    assert ask(other, "what car does the user drive")[0].id == b.id
    one.forget(ALICE, b.id)
    assert all(h.id != b.id for h in ask(other, "what car does the user drive"))
    # codes are persisted with the thought, under the signature of the hash functions
    with services.sql.begin() as conn:
        row = conn.execute(sa.select(thoughts.c.lsh_codes).where(thoughts.c.id == a.id)).one()
    probe = LSHIndex(services.embedder.dim, n_planes=16, hashes_per_table=2, n_tables=16, probes=128,
                     center=embedding_center(services.embedder))
    assert row.lsh_codes["sig"] == probe.signature
    assert row.lsh_codes["codes"] == probe.hash(services.embedder.embed([a.text]))[0].tolist()


def test_lost_vector_is_healed_on_rebuild(services):
    comp = ThoughtComponent(services)
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    services.vectors.delete("thoughts", ALICE, [a.id])
    fresh = ThoughtComponent(services)
    assert ask(fresh, "cello")[0].id == a.id
    ids, _ = services.vectors.fetch("thoughts", ALICE)
    assert ids == [a.id]


def test_query_vector_matches_embedding(comp, embedder):
    a = comp.insert(ALICE, "The user plays the cello.", now=T0)
    hit = ask(comp, "The user plays the cello.")[0]
    assert hit.id == a.id and np.isclose(hit.score, 1.0, atol=1e-4)


def test_codes_are_centered_on_the_embedder_calibration_mean(services, embedder):
    center = embedding_center(embedder)
    assert embedding_center(embedder) is center  # computed once per embedder
    mean = np.asarray(embedder.embed(list(CALIBRATION))).mean(axis=0)
    assert np.allclose(center, mean, atol=5e-4) and np.array_equal(center, np.round(center, 3))
    assert 0.2 < float(np.linalg.norm(center)) < 0.8  # MiniLM's common direction is real
    assert np.array_equal(ThoughtComponent(services)._new_index().center, center)


def test_uncentered_config_and_signature_change_rehash(tmp_path, services):
    a = ThoughtComponent(services).insert(ALICE, "The user plays the cello.", now=T0)
    plain = ThoughtConfig(lsh_center=False)
    cfg = MemoryConfig(home=tmp_path, thoughts=plain)
    other = ThoughtComponent(Services(cfg, services.sql, services.vectors, services.embedder, services.tokens))
    assert other._new_index().center is None
    assert other._new_index().signature != ThoughtComponent(services)._new_index().signature
    assert ask(other, "cello")[0].id == a.id  # stored codes do not match: rebuilt by rehashing
