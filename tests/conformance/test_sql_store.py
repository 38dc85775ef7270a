"""One conformance suite for the SQL store, run against SQLite and a real Postgres."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from agentmem.errors import NotFoundError
from agentmem.store.sql import NewTurn, SqlStore, create_engine
from agentmem.types import Scope


def new(content: str, h: str | None = None, session: str | None = "s1") -> NewTurn:
    return NewTurn(
        speaker="ada", role="user", content=content, content_hash=h or f"h-{content}",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC), session_id=session, agent_id=None, metadata={"k": content},
    )


@pytest.fixture
def store(db_url: str) -> SqlStore:
    return SqlStore(create_engine(db_url))


def insert(store: SqlStore, scope: Scope, *turns: NewTurn):  # type: ignore[no-untyped-def]
    with store.begin() as conn:
        store.ensure_user(conn, scope)
        got = store.insert_turns(conn, scope, list(turns))
        store.bump_version(conn, scope, "turns")
    return got


def test_insert_get_list_roundtrip(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    got = insert(store, scope, new("a"), new("b"))
    assert [t.content for t in got] == ["a", "b"]
    assert got[0].seq < got[1].seq
    assert store.get_turn(scope, got[0].id).metadata == {"k": "a"}
    assert store.get_turn(scope, got[0].id).timestamp == datetime(2024, 1, 1, tzinfo=UTC)
    assert [t.id for t in store.list_turns(scope)] == [t.id for t in got]
    assert [t.id for t in store.list_turns(scope, after_seq=got[0].seq)] == [got[1].id]
    assert store.count_turns(scope) == 2


def test_same_hash_is_stored_once(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    assert len(insert(store, scope, new("a"), new("a"))) == 1
    assert insert(store, scope, new("a")) == []
    assert store.count_turns(scope) == 1
    # the same hash in another scope is another turn
    assert len(insert(store, Scope(f"t{unique}", "u2"), new("a"))) == 1


def test_scopes_are_isolated(store: SqlStore, unique: str) -> None:
    a, b = Scope(f"ta{unique}", "u"), Scope(f"tb{unique}", "u")
    (ta,) = insert(store, a, new("secret"))
    insert(store, b, new("other"))
    with pytest.raises(NotFoundError):
        store.get_turn(b, ta.id)
    assert store.get_turns(b, [ta.id]) == []
    with store.begin() as conn:
        assert store.delete_turns(conn, b, [ta.id]) == []
    assert store.count_turns(a) == 1


def test_update_delete_and_history(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    (t,) = insert(store, scope, new("old"))
    with store.begin() as conn:
        before, after = store.update_turn(conn, scope, t.id, content="new", metadata=None)
        store.log(conn, scope, [(t.id, "turn", "UPDATE", before.content, after.content)])
    assert store.get_turn(scope, t.id).content == "new"
    with store.begin() as conn:
        gone = store.delete_turns(conn, scope, [t.id])
        store.log(conn, scope, [(t.id, "turn", "DELETE", "new", None)])
    assert [g.id for g in gone] == [t.id]
    events = store.history(scope, t.id)
    assert [(e.event, e.before, e.after) for e in events] == [("UPDATE", "old", "new"), ("DELETE", "new", None)]
    with pytest.raises(NotFoundError), store.begin() as conn:
        store.update_turn(conn, scope, t.id, content="x", metadata=None)


def test_versions_count_writes(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    assert store.versions(scope) == {}
    insert(store, scope, new("a"))
    insert(store, scope, new("b"))
    assert store.versions(scope) == {"turns": 2}


def test_failed_transaction_leaves_nothing(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    insert(store, scope, new("keep"))
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.insert_turns(conn, scope, [new("lost")])
        raise RuntimeError("boom")
    assert [t.content for t in store.list_turns(scope)] == ["keep"]


def test_delete_user_removes_every_row(store: SqlStore, unique: str) -> None:
    scope, other = Scope(f"t{unique}", "gone"), Scope(f"t{unique}", "stays")
    insert(store, scope, new("a"), new("b"))
    insert(store, other, new("a"))
    with store.begin() as conn:
        store.log(conn, scope, [("x", "turn", "ADD", None, "a")])
        assert store.delete_user(conn, scope) == 2
    assert store.list_turns(scope) == [] and store.history(scope) == []
    assert store.count_turns(other) == 1
    assert "gone" not in store.users(f"t{unique}")


def test_concurrent_writers_lose_nothing(store: SqlStore, unique: str) -> None:
    scope = Scope(f"t{unique}", "u1")
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(10):
                insert(store, scope, new(f"w{w}-{i}"), new("shared"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count_turns(scope) == 41  # 40 distinct + the shared one once
    assert store.versions(scope)["turns"] == 40


def test_versions_never_repeat_across_delete_user(store: SqlStore, unique: str) -> None:
    """A replica's cache keyed by version must never match a re-created user's data."""
    scope = Scope(f"t{unique}", "u1")
    insert(store, scope, new("a"))
    insert(store, scope, new("b"))
    before = store.versions(scope)["turns"]
    with store.begin() as conn:
        store.delete_user(conn, scope)
    insert(store, scope, new("c"))
    assert store.versions(scope)["turns"] > before + 1
