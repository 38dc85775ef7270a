"""Fact memory through :class:`Memory` with its defaults: the Lisbon/Porto case, answering about
the past, forgetting that follows deletion (facts and thoughts), scopes."""

from __future__ import annotations

import pytest

from agentmem.config import EpisodeConfig, FactConfig, GraphConfig, RecallConfig

T_2023 = "2023-05-01T10:00:00+00:00"
T_2024 = "2024-03-02T10:00:00+00:00"


@pytest.fixture
def mem(make_memory):  # type: ignore[no-untyped-def]
    return make_memory()


def lisbon_then_porto(mem, user: str = "ada", tenant: str = "default"):  # type: ignore[no-untyped-def]
    old = mem.add("I live in Lisbon.", user_id=user, timestamp=T_2023, tenant=tenant)[0]
    new = mem.add("I moved from Lisbon to Porto last week.", user_id=user, timestamp=T_2024, tenant=tenant)[0]
    return old, new


def test_where_do_i_live_now_answers_porto_first_with_lisbon_before(mem) -> None:  # type: ignore[no-untyped-def]
    old, new = lisbon_then_porto(mem)
    hits = mem.search("where do I live now?", user_id="ada", k=5)
    # In a store of these two turns alone the reader ranks "I live in Lisbon." first by its
    # words; the move is second and the current fact is a hit (docs/benchmarks.md, the reader
    # and fact memory).
    assert new.id in [h.id for h in hits[:2]]
    fact = next(h for h in hits if h.kind == "fact")
    assert fact.text == "The user lives in Porto (since 2024-03-02; before: Lisbon)."
    assert fact.superseded_by is None and fact.metadata["source_ids"] == [new.id]
    pack = mem.recall("where do I live now?", user_id="ada")
    first_line = pack.text.splitlines()[1]
    assert "Porto (since 2024-03-02; before: Lisbon)" in first_line  # the current fact is packed first


def test_recall_states_the_current_fact_even_below_k(mem) -> None:  # type: ignore[no-untyped-def]
    lisbon_then_porto(mem)
    mem.add([{"role": "user", "content": t} for t in ("I baked bread.", "The train was late.", "Any podcast tips?")],
            user_id="ada", timestamp=T_2024)
    assert all(h.kind != "fact" for h in mem.search("where do I live now?", user_id="ada", k=1))
    pack = mem.recall("where do I live now?", user_id="ada", k=1)
    lines = pack.text.splitlines()
    assert lines[0].startswith("Facts") and "Porto (since 2024-03-02; before: Lisbon)" in lines[1]
    assert pack.hits[0].kind == "fact" and pack.citations[0].kind == "fact"


def test_a_heavier_fact_weight_ranks_the_current_fact_above_the_old_turn(make_memory) -> None:  # type: ignore[no-untyped-def]
    # With plain RRF over turns, time and facts (no reader, graph or episodes) the fact weight
    # is the knob: a store of personal facts can weigh fact hits up.
    weights = {**RecallConfig().weights, "fact": 2.0}
    mem = make_memory(recall=RecallConfig(weights=weights, reader=False), graph=GraphConfig(enabled=False),
                      episodes=EpisodeConfig(segmenter="off"))
    old, new = lisbon_then_porto(mem)
    hits = mem.search("where do I live now?", user_id="ada", k=5)
    assert hits[0].id == new.id
    fact = next(h for h in hits if h.kind == "fact")
    assert [h.id for h in hits].index(fact.id) < [h.id for h in hits].index(old.id)


def test_superseded_facts_leave_default_recall_but_stay_answerable(mem) -> None:  # type: ignore[no-untyped-def]
    lisbon_then_porto(mem)
    now = mem.search("where do I live now?", user_id="ada", k=5)
    assert all(h.superseded_by is None for h in now if h.kind == "fact")
    before = [h for h in mem.search("where did I live before?", user_id="ada", k=5) if h.kind == "fact"]
    assert before[0].text == "The user lived in Lisbon (until 2024-03-02; then: Porto)."
    assert before[0].superseded_by == before[1].id
    changed = [h.text for h in mem.search("when did that change?", user_id="ada", k=5) if h.kind == "fact"]
    assert changed == ["The user lives in Porto (since 2024-03-02; before: Lisbon)."]
    assert [f.object for f in mem.facts(user_id="ada")] == ["Porto"]
    assert [(f.object, f.current) for f in mem.facts(user_id="ada", include_past=True)] == [
        ("Lisbon", False), ("Porto", True)]


def test_still_there_is_answered_by_the_ending(mem) -> None:  # type: ignore[no-untyped-def]
    mem.add("I work at Acme.", user_id="ada", timestamp=T_2023)
    mem.add("The weather was lovely this weekend.", user_id="ada", timestamp=T_2023)
    lost = mem.add("I lost my job at Acme last week.", user_id="ada", timestamp=T_2024)[0]
    hits = mem.search("Do I still work at Acme?", user_id="ada", k=5)
    assert hits[0].id == lost.id  # the turn that ended it, above the turn that started it
    (fact,) = [h for h in hits if h.kind == "fact"]
    assert fact.text == "The user worked at Acme (until 2024-03-02)." and fact.metadata["current"] is False
    assert all(h.kind != "fact" for h in mem.search("Where do I work now?", user_id="ada", k=5))


def test_contradiction_is_flagged_on_both_hits(mem) -> None:  # type: ignore[no-untyped-def]
    mem.add("I have never used Flask.", user_id="ada", timestamp=T_2023)
    mem.add("I wrote the Flask route yesterday.", user_id="ada", timestamp=T_2024)
    a, b = mem.facts(user_id="ada")
    assert a.contradicts == (b.id,) and b.contradicts == (a.id,)
    hits = [h for h in mem.search("have I used Flask?", user_id="ada", k=5) if h.kind == "fact"]
    assert {h.id for h in hits} == {a.id, b.id} and all(h.contradicts for h in hits)


def test_deleting_the_sources_leaves_no_fact_or_thought(mem) -> None:  # type: ignore[no-untyped-def]
    old, new = lisbon_then_porto(mem)
    th = mem.think("where do I live?", "Noted: you live in Porto.", user_id="ada", source_ids=[new.id])
    assert th and mem.thoughts(user_id="ada")
    mem.delete(new.id, user_id="ada")
    # re-derived from what is left: Lisbon is current again, the thought derived from Porto is gone
    assert [(f.object, f.current, f.source_ids) for f in mem.facts(user_id="ada", include_past=True)] == [
        ("Lisbon", True, (old.id,))]
    assert mem.thoughts(user_id="ada", include_forgotten=True) == []
    for q in ("where do I live now?", "Porto"):
        assert all(h.kind != "thought" and "Porto" not in h.text for h in mem.search(q, user_id="ada", k=10))
    mem.delete(old.id, user_id="ada")
    assert mem.facts(user_id="ada", include_past=True) == []
    assert all(h.kind != "fact" for h in mem.search("where do I live now?", user_id="ada", k=10))


def test_update_rederives_and_delete_user_drops_facts(mem) -> None:  # type: ignore[no-untyped-def]
    _, new = lisbon_then_porto(mem)
    mem.update(new.id, "I moved from Lisbon to Braga last week.", user_id="ada")
    assert [f.object for f in mem.facts(user_id="ada")] == ["Braga"]
    mem.delete_user("ada")
    assert mem.facts(user_id="ada", include_past=True) == []


def test_scopes_are_enforced(mem) -> None:  # type: ignore[no-untyped-def]
    lisbon_then_porto(mem, user="ada", tenant="acme")
    assert mem.facts(user_id="ada") == []  # default tenant
    assert mem.facts(user_id="bob", tenant="acme") == []
    assert all(h.kind != "fact" for h in mem.search("where do I live now?", user_id="bob", tenant="acme"))
    assert [f.object for f in mem.facts(user_id="ada", tenant="acme")] == ["Porto"]


def test_assistant_turns_state_no_facts_and_facts_can_be_off(make_memory) -> None:  # type: ignore[no-untyped-def]
    mem = make_memory()
    mem.add({"role": "assistant", "content": "I live in Lisbon."}, user_id="ada")
    assert mem.facts(user_id="ada") == []
    off = make_memory(facts=FactConfig(enabled=False))
    assert not off.enabled("fact")
    off.add("I live in Lisbon.", user_id="ada")
    assert all(h.kind != "fact" for h in off.search("where do I live now?", user_id="ada"))


def test_fact_candidates_carry_reader_features(mem) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from agentmem.mechanisms.base import Query
    from agentmem.types import Scope

    mem.add("I work at Acme.", user_id="ada", timestamp=T_2023)
    lost = mem.add("I lost my job at Acme last week.", user_id="ada", timestamp=T_2024)[0]
    scope = Scope("default", "ada")
    query = Query("Do I still work at Acme?", np.zeros(384, dtype=np.float32), scope, 5,
                  mem.services.sql.versions(scope))
    fact, turn = mem.component("fact").search(query)
    assert (fact.kind, turn.kind, turn.id) == ("fact", "turn", lost.id)  # the ending's turn only
    assert fact.features == turn.features
    assert {k: v for k, v in fact.features.items() if k != "fact_score"} == {
        "fact_current": 0.0, "fact_ending": 1.0, "fact_contradicted": 0.0,
        "fact_intent_now": 1.0, "fact_intent_before": 0.0, "fact_intent_change": 0.0}
    assert fact.features["fact_score"] == fact.score > 0

