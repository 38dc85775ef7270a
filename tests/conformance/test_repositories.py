"""One behavioural suite for the repositories of every memory mechanism (turns, episodes,
thoughts, graph, facts), run on each SQL backend (the ``db_url`` fixture: SQLite and Postgres).

Each test writes through the repository's own methods and reads back through them; none
looks at tables directly. Every test runs in a scope of its own (``owner``) and checks that a
second user of the same tenant sees nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agentmem.mechanisms.episodes.repository import EpisodeRepository, episode_row
from agentmem.mechanisms.facts.algorithms import Mention
from agentmem.mechanisms.facts.repository import FactRepository
from agentmem.mechanisms.graph.index import GraphIndex, PassageInput, plan_add, plan_delete
from agentmem.mechanisms.graph.repository import (
    delete_graph_user,
    delete_passages,
    graph_stats,
    load_graph,
    write_delta,
)
from agentmem.mechanisms.thoughts.repository import ThoughtRepository
from agentmem.statements import Statement
from agentmem.store.sql import NewTurn, SqlStore
from agentmem.types import Fact, Scope, Thought

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def other(owner: Scope) -> Scope:
    return Scope(owner.tenant, "someone-else")


# -- turns ------------------------------------------------------------------------------------
def add_turns(sql: SqlStore, scope: Scope, *contents: str, session: str | None = "s1") -> list[str]:
    rows = [NewTurn(speaker="ada", role="user", content=c, content_hash=f"{session}-{c}",
                    timestamp=T0 + timedelta(minutes=i), session_id=session, agent_id=None, metadata={})
            for i, c in enumerate(contents)]
    with sql.begin() as conn:
        sql.ensure_user(conn, scope)
        got = sql.insert_turns(conn, scope, rows)
    return [t.id for t in got]


def test_turns_by_session_neighbour_and_hash(sql: SqlStore, owner: Scope) -> None:
    a = add_turns(sql, owner, "one", "two", "three")
    b = add_turns(sql, owner, "loose", session=None)
    assert [t.id for t in sql.session_turns(owner, "s1")] == a
    assert [t.id for t in sql.session_turns(owner, None)] == b
    first = sql.get_turn(owner, a[0])
    assert [t.id for t in sql.session_turns(owner, "s1", after_seq=first.seq)] == a[1:]
    third = sql.get_turn(owner, a[2])
    prev = sql.previous_turn(owner, "s1", third.seq)
    assert prev is not None and prev.id == a[1]
    assert sql.previous_turn(owner, "s1", first.seq) is None
    assert sql.existing_hashes(owner, ["s1-one", "s1-nope"]) == {"s1-one"}
    assert sql.existing_hashes(other(owner), ["s1-one"]) == set()
    assert sql.session_turns(other(owner), "s1") == []


def test_history_text_is_forgotten_but_events_stay(sql: SqlStore, owner: Scope) -> None:
    (tid,) = add_turns(sql, owner, "secret")
    with sql.begin() as conn:
        sql.log(conn, owner, [(tid, "turn", "ADD", None, "secret")])
        sql.log(conn, other(owner), [(tid, "turn", "ADD", None, "kept")])
        sql.forget_history(conn, owner, [tid])
    assert [(e.event, e.before, e.after) for e in sql.history(owner, tid)] == [("ADD", None, None)]
    assert [e.after for e in sql.history(other(owner), tid)] == ["kept"]


# -- episodes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    turn_id: str | None
    text: str
    ts: datetime


def units(*ids: str, start: int = 0) -> list[Unit]:
    return [Unit(i, f"text of {i}", T0 + timedelta(minutes=start + n)) for n, i in enumerate(ids)]


def store_episode(repo: EpisodeRepository, scope: Scope, stream: str, us: Sequence[Unit], *,
                  is_open: bool = False) -> str:
    with repo.begin() as conn:
        row = episode_row(scope, stream, us, seq=repo.next_seq(conn, scope), surprise_mean=0.5,
                          surprise_max=1.0, method="drift", is_open=is_open, scores=[0.25] * len(us))
        repo.insert(conn, [row])
    return str(row["id"])


def test_episode_streams_round_trip_and_replace(sql: SqlStore, owner: Scope) -> None:
    repo = EpisodeRepository(sql)
    with repo.begin() as conn:
        assert repo.load_stream(conn, owner, "s1") is None
        repo.save_stream(conn, owner, "s1", "drift", {"n": 1})
        repo.save_stream(conn, owner, "s1", "surprise", {"n": 2})  # replaces, never duplicates
        repo.save_stream(conn, owner, "s2", "drift", {"n": 3})
        repo.update_stream_state(conn, owner, "s2", {"n": 4})
    with repo.begin() as conn:
        got = repo.load_stream(conn, owner, "s1")
        assert got is not None and (got.method, got.state) == ("surprise", {"n": 2})
        assert sorted((s.stream, s.state["n"]) for s in repo.streams(conn, owner)) == [("s1", 2), ("s2", 4)]
        assert repo.load_stream(conn, other(owner), "s1") is None
        assert repo.streams(conn, other(owner)) == []


def test_episodes_are_stored_ordered_and_scoped(sql: SqlStore, owner: Scope) -> None:
    repo = EpisodeRepository(sql)
    late = store_episode(repo, owner, "s1", units("t3", "t4", start=10))
    early = store_episode(repo, owner, "s1", units("t1", "t2"))
    tail = store_episode(repo, owner, "s1", units("t5", start=20), is_open=True)
    side = store_episode(repo, owner, "s2", units("u1", start=5))
    assert [e.id for e in repo.episodes(owner)] == [early, side, late, tail]
    assert [e.id for e in repo.episodes(owner, session_id="s1", include_open=False)] == [early, late]
    assert repo.held(owner, "s1", {"t2", "t5", "u1", "zz"}) == {"t2", "t5"}
    with repo.begin() as conn:
        assert repo.open_ids(conn, owner, "s1") == [tail]
        assert repo.next_seq(conn, owner) == 4
        assert repo.next_seq(conn, other(owner)) == 0
    assert repo.units(owner, [early, "missing"]) == {early: [["t1", "text of t1", 0.25], ["t2", "text of t2", 0.25]]}
    traces = {tr.episode_id: tr for tr in repo.traces(owner, session_id="s1")}
    assert traces[tail].is_open and traces[early].units == (("t1", 0.25), ("t2", 0.25))
    assert repo.episodes(other(owner)) == [] and repo.units(other(owner), [early]) == {}


def test_episode_units_change_and_deletes(sql: SqlStore, owner: Scope) -> None:
    repo = EpisodeRepository(sql)
    ep = store_episode(repo, owner, "s1", units("t1", "t2", "t3"))
    gone = store_episode(repo, owner, "s1", units("t9", start=9))
    with repo.begin() as conn:
        repo.set_units(conn, other(owner), ep, [["t1", "not mine"]])  # another user's write misses
        repo.set_units(conn, owner, ep, [["t1", "first"], ["t3", "third"]])
        repo.delete(conn, owner, [gone])
        repo.save_stream(conn, owner, "s1", "drift", {})
    (stored,) = repo.episodes(owner)
    assert stored.id == ep
    assert list(stored.turn_ids) == ["t1", "t3"]
    assert "first" in stored.text and "third" in stored.text and "not mine" not in stored.text
    keep = store_episode(repo, other(owner), "s1", units("x1"))
    repo.delete_user(owner)
    assert repo.episodes(owner) == []
    with repo.begin() as conn:
        assert repo.streams(conn, owner) == []
    assert [e.id for e in repo.episodes(other(owner))] == [keep]


# -- thoughts ---------------------------------------------------------------------------------
def key(scope: Scope, name: str) -> str:
    """A row id of this test's own: thought and fact ids are unique across every tenant."""
    return f"{scope.tenant}-{name}"


def short(scope: Scope, ids: Sequence[str]) -> list[str]:
    return [i.removeprefix(f"{scope.tenant}-") for i in ids]


def thought(scope: Scope, tid: str, text: str, *, subject: str | None = None, relation: str | None = None,
            obj: str | None = None, sources: tuple[str, ...] = (), at: datetime = T0) -> Thought:
    return Thought(id=key(scope, tid), scope=scope, text=text, subject=subject, relation=relation, object=obj,
                   source_ids=sources, created_at=at, updated_at=at, valid_from=at)


def insert_thought(repo: ThoughtRepository, th: Thought) -> int:
    with repo.begin() as conn:
        repo.ensure_user(conn, th.scope)
        repo.insert(conn, th.scope, th, {"sig": "s", "codes": [1, 2]}, th.created_at or T0)
        return repo.bump_version(conn, th.scope)


def test_thoughts_insert_read_and_version(sql: SqlStore, owner: Scope) -> None:
    repo = ThoughtRepository(sql)
    assert repo.version(owner) == 0
    v1 = insert_thought(repo, thought(owner, "a", "Ada likes tea", subject="Ada", relation="likes", obj="tea",
                                      sources=("t1",)))
    v2 = insert_thought(repo, thought(owner, "b", "Ada owns a cat", at=T0 + timedelta(hours=1)))
    assert (v1, v2, repo.version(owner)) == (1, 2, 2)
    got = repo.get(owner, key(owner, "a"))
    assert got is not None and (got.text, got.subject, got.source_ids, got.valid_from) == (
        "Ada likes tea", "Ada", ("t1",), T0)
    assert short(owner, [th.id for th in repo.thoughts(owner)]) == ["a", "b"]
    rows = repo.live_rows(owner)
    assert [(r.id, r.lsh_codes) for r in rows] == [(key(owner, "a"), {"sig": "s", "codes": [1, 2]}),
                                                   (key(owner, "b"), {"sig": "s", "codes": [1, 2]})]
    with repo.begin() as conn:
        assert short(owner, [th.id for th in repo.live_with(conn, owner, "ADA", "Likes")]) == ["a"]  # case-insensitive
        assert repo.count_live(conn, owner) == 2
    assert [e.event for e in sql.history(owner, key(owner, "a"))] == ["ADD"]
    assert repo.get(other(owner), key(owner, "a")) is None and repo.thoughts(other(owner)) == []


def test_thoughts_merge_end_sources_delete(sql: SqlStore, owner: Scope) -> None:
    repo = ThoughtRepository(sql)
    a = thought(owner, "a", "Ada likes tea", subject="Ada", relation="likes", obj="tea", sources=("t1",))
    b = thought(owner, "b", "Ada lives in Oslo", sources=("t2", "t3"))
    c = thought(owner, "c", "Ada is tired")
    for th in (a, b, c):
        insert_thought(repo, th)
    later = T0 + timedelta(days=1)
    with repo.begin() as conn:
        merged = replace(a, source_ids=("t1", "t9"), merged_from=("n",))
        repo.merge(conn, owner, a, merged, "n", later)
        repo.end(conn, owner, b, later, {"reason": "contradicted"})
        repo.set_sources(conn, owner, c, ["t7"], "source turns deleted")
    got = repo.get(owner, key(owner, "a"))
    assert got is not None and got.source_ids == ("t1", "t9") and got.merged_from == ("n",)
    ended = repo.get(owner, key(owner, "b"))
    assert ended is not None and ended.valid_to == later and not ended.live
    assert short(owner, [th.id for th in repo.thoughts(owner)]) == ["a", "c"]
    assert short(owner, [th.id for th in repo.thoughts(owner, include_forgotten=True)]) == ["a", "b", "c"]
    with repo.begin() as conn:
        assert repo.count_live(conn, owner) == 2
        assert sorted(short(owner, [th.id for th in repo.all_thoughts(conn, owner)])) == ["a", "b", "c"]
        assert sorted(short(owner, [th.id for th in repo.live(conn, owner)])) == ["a", "c"]
        assert repo.live_with(conn, owner, "ada", "lives") == []
        repo.delete(conn, owner, c, "every source turn deleted")
    assert repo.get(owner, key(owner, "c")) is None
    assert [e.event for e in sql.history(owner)] == ["ADD", "ADD", "ADD", "MERGE", "FORGET", "UPDATE", "DELETE"]
    insert_thought(repo, thought(other(owner), "z", "someone else's"))
    repo.delete_user(owner)
    assert repo.thoughts(owner, include_forgotten=True) == []
    assert [th.id for th in repo.thoughts(other(owner))] == [key(other(owner), "z")]


# -- graph ------------------------------------------------------------------------------------
DIM = 32
PASSAGES = {
    "p1": [("Acme Corp", "founded by", "John Miller")],
    "p2": [("John Miller", "born in", "Springfield")],
    "p3": [("Springfield", "located in", "Illinois")],
}


def embed(texts: Sequence[str]) -> np.ndarray:
    """Hashed character trigrams, unit norm: deterministic and dependency-free."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        padded = f"  {text.lower()}  "
        for j in range(len(padded) - 2):
            h = int.from_bytes(hashlib.blake2b(padded[j : j + 3].encode(), digest_size=4).digest(), "little")
            out[i, h % DIM] += 1.0
        out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
    return out


def signature(g: GraphIndex) -> tuple[object, ...]:
    snap = g.snapshot()
    return snap.entity_ids, snap.passage_ids, snap.fact_ids, g.edge_set(), tuple(snap.entity_passages.tolist())


def test_graph_round_trips_through_the_repository(sql: SqlStore, owner: Scope) -> None:
    live = GraphIndex(DIM)
    delta = plan_add(live, owner, [PassageInput(p, embed([p])[0], PASSAGES[p]) for p in PASSAGES], embed,
                     threshold=0.6)
    live.apply(delta)
    with sql.begin() as conn:
        write_delta(conn, owner, delta)
    assert signature(load_graph(sql, owner, DIM)) == signature(live)
    stats = graph_stats(sql, owner)
    assert stats["passages"] == 3 and stats["facts"] == 3 and stats["entities"] == 4
    assert graph_stats(sql, other(owner))["passages"] == 0
    assert load_graph(sql, other(owner), DIM).snapshot().passage_ids == ()


def test_graph_deletes_leave_what_the_index_leaves(sql: SqlStore, owner: Scope) -> None:
    live = GraphIndex(DIM)
    delta = plan_add(live, owner, [PassageInput(p, embed([p])[0], PASSAGES[p]) for p in PASSAGES], embed)
    live.apply(delta)
    with sql.begin() as conn:
        write_delta(conn, owner, delta)
        write_delta(conn, other(owner), plan_add(GraphIndex(DIM), other(owner),
                                                 [PassageInput("p1", embed(["p1"])[0], PASSAGES["p1"])], embed))
    live.apply(plan_delete(live, ["p2"]))
    with sql.begin() as conn:
        delete_passages(conn, owner, ["p2"])
    assert signature(load_graph(sql, owner, DIM)) == signature(live)
    with sql.begin() as conn:
        delete_graph_user(conn, owner)
    assert all(n == 0 for n in graph_stats(sql, owner).values())
    assert graph_stats(sql, other(owner))["passages"] == 1


# -- facts ------------------------------------------------------------------------------------
def mention(turn: str, seq: int, subject: str, relation: str, obj: str, **kw: bool) -> Mention:
    return Mention(turn, T0 + timedelta(minutes=seq), seq, Statement(subject, relation, obj, **kw))


def fact(scope: Scope, fid: str, subject: str, obj: str, *, sources: tuple[str, ...], ended: bool = False) -> Fact:
    return Fact(id=key(scope, fid), scope=scope, subject=subject, relation="lives in", object=obj, valid_from=T0,
                valid_to=T0 + timedelta(days=1) if ended else None, source_ids=sources,
                superseded_by=key(scope, "f2") if ended else None, text=f"{subject} lives in {obj}")


def test_fact_mentions_by_subject_and_dropped_turns(sql: SqlStore, owner: Scope) -> None:
    repo = FactRepository(sql.engine)
    with sql.begin() as conn:
        repo.add_mentions(conn, owner, [mention("t1", 1, "I", "lives in", "Oslo", first_person=True),
                                        mention("t1", 1, "Bob", "owns", "a cat"),
                                        mention("t2", 2, "the user", "lives in", "Bergen", changed=True)],
                          [True, False, True])
        repo.add_mentions(conn, other(owner), [mention("t1", 1, "Bob", "owns", "a dog")], [False])
    with sql.begin() as conn:
        got, firsts = repo.mentions(conn, owner, ["i", "the user", "bob"])
        assert [(m.turn_id, m.statement.object) for m in got] == [("t1", "Oslo"), ("t1", "a cat"), ("t2", "Bergen")]
        assert got[2].statement.changed and firsts == {"i", "the user"}
        assert repo.drop_turns(conn, owner, ["t1"]) == {"i", "bob"}
        assert repo.drop_turns(conn, owner, ["t1"]) == set()
    with sql.begin() as conn:
        left, _ = repo.mentions(conn, owner, ["i", "the user", "bob"])
        assert [m.turn_id for m in left] == ["t2"]
        theirs, _ = repo.mentions(conn, other(owner), ["bob"])
        assert [m.statement.object for m in theirs] == ["a dog"]


def test_facts_replace_by_subject_and_delete_user(sql: SqlStore, owner: Scope) -> None:
    repo = FactRepository(sql.engine)
    old = fact(owner, "f1", "Ada", "Oslo", sources=("t1",), ended=True)
    new = fact(owner, "f2", "Ada", "Bergen", sources=("t2",))
    bob = fact(owner, "f3", "Bob", "Paris", sources=("t3",))
    with sql.begin() as conn:
        repo.replace_facts(conn, owner, ["ada"], [old, new], first_person={"ada"})
        repo.replace_facts(conn, owner, ["bob"], [bob], first_person=set())
        repo.replace_facts(conn, other(owner), ["ada"], [fact(other(owner), "g1", "Ada", "Rome", sources=())],
                           first_person=set())
    with sql.begin() as conn:
        every = repo.facts(conn, owner)
        assert [(f.id, mine) for f, mine in every] == [(key(owner, "f1"), True), (key(owner, "f2"), True), (key(owner, "f3"), False)]
        f1 = every[0][0]
        assert (f1.valid_to, f1.superseded_by, f1.source_ids) == (T0 + timedelta(days=1), key(owner, "f2"), ("t1",))
        assert short(owner, [f.id for f, _ in repo.facts(conn, owner, subject="  ADA ")]) == ["f1", "f2"]
        repo.replace_facts(conn, owner, ["ada"], [new], first_person=set())  # the subject's facts, replaced
    with sql.begin() as conn:
        assert [(f.id, mine) for f, mine in repo.facts(conn, owner)] == [(key(owner, "f2"), False), (key(owner, "f3"), False)]
        repo.delete_user(conn, owner)
    with sql.begin() as conn:
        assert repo.facts(conn, owner) == []
        assert [f.id for f, _ in repo.facts(conn, other(owner))] == [key(other(owner), "g1")]


@pytest.mark.parametrize("make", [EpisodeRepository, ThoughtRepository])
def test_repositories_share_the_stores_transactions(sql: SqlStore, owner: Scope, make: type) -> None:
    """A repository's writes commit or roll back with the transaction it is handed."""
    repo = make(sql)
    with pytest.raises(RuntimeError), repo.begin() as conn:
        repo.bump_version(conn, owner, *(["episode"] if make is EpisodeRepository else []))
        raise RuntimeError("boom")
    assert sql.versions(owner) == {}
