"""The Memory facade on SQLite and Postgres: CRUD, recall, idempotency, history, export."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from agentmem import NotFoundError, ValidationError

CONVO = [
    {"speaker": "Ada", "content": "I adopted a grey cat named Miso from the shelter.", "timestamp": "2024-02-19T19:40:00Z", "id": "m1"},
    {"speaker": "assistant", "role": "assistant", "content": "Congratulations! How is Miso settling in?", "timestamp": "2024-02-19T19:41:00Z", "id": "m2"},
    {"speaker": "Ada", "content": "My manager Rui wants the Dagster migration done before the audit in June.", "timestamp": "2024-02-19T19:42:00Z", "id": "m3"},
    {"speaker": "Ada", "content": "I am allergic to peanuts.", "timestamp": "2024-03-02T10:00:00Z", "id": "m4"},
]


@pytest.fixture
def mem(make_memory, db_url):  # type: ignore[no-untyped-def]
    return make_memory(db_url)


def test_add_search_recall(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"ada-{unique}"
    turns = mem.add(CONVO, user_id=user, session_id="s1")
    assert len(turns) == 4
    hits = mem.search("what is the name of my cat?", user_id=user, k=2)
    assert hits[0].id == turns[0].id
    assert hits[0].kind == "turn" and hits[0].speaker == "Ada"
    assert set(hits[0].signals) >= {"dense"}
    assert hits[0].metadata["message_id"] == "m1" and hits[0].metadata["session_id"] == "s1"
    pack = mem.recall("peanut allergy", user_id=user, token_budget=60)
    assert "peanuts" in pack.text and pack.tokens <= 60
    assert pack.citations[0].marker == 1
    stamps = [h.timestamp for h in pack.hits]
    assert stamps == sorted(stamps)  # chronological


def test_ingest_is_idempotent(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    assert len(mem.add(CONVO, user_id=user, session_id="s1")) == 4
    assert mem.add(CONVO, user_id=user, session_id="s1") == []
    assert mem.add(CONVO[:2] + CONVO[:2], user_id=user, session_id="s1") == []
    assert len(mem.memories(user_id=user)) == 4
    # without ids or timestamps: the same text in the same session is the same turn
    assert len(mem.add("hello there", user_id=user, session_id="s2")) == 1
    assert mem.add("hello there", user_id=user, session_id="s2") == []
    assert len(mem.add("hello there", user_id=user, session_id="s3")) == 1


def test_get_update_delete_history(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    t = mem.add(CONVO, user_id=user, session_id="s1")[0]
    assert mem.get(t.id, user_id=user).content == CONVO[0]["content"]
    mem.update(t.id, "I adopted a black dog named Tofu.", user_id=user)
    assert mem.get(t.id, user_id=user).content.startswith("I adopted a black dog")
    assert mem.search("dog named Tofu", user_id=user, k=1)[0].id == t.id
    mem.delete(t.id, user_id=user)
    with pytest.raises(NotFoundError):
        mem.get(t.id, user_id=user)
    assert all(h.id != t.id for h in mem.search("dog named Tofu", user_id=user, k=10))
    assert [e.event for e in mem.history(t.id, user_id=user)] == ["ADD", "UPDATE", "DELETE"]
    with pytest.raises(NotFoundError):
        mem.delete(t.id, user_id=user)


def test_other_users_and_tenants_see_nothing(mem, unique) -> None:  # type: ignore[no-untyped-def]
    t = mem.add(CONVO, user_id=f"a-{unique}", session_id="s1")[0]
    assert mem.search("cat", user_id=f"b-{unique}") == []
    assert mem.search("cat", user_id=f"a-{unique}", tenant=f"other-{unique}") == []
    for call in (
        lambda: mem.get(t.id, user_id=f"b-{unique}"),
        lambda: mem.update(t.id, "x", user_id=f"b-{unique}"),
        lambda: mem.delete(t.id, user_id=f"a-{unique}", tenant=f"other-{unique}"),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert mem.get(t.id, user_id=f"a-{unique}").content == CONVO[0]["content"]


def test_delete_user_removes_everything(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user, keep = f"gone-{unique}", f"keep-{unique}"
    mem.add(CONVO, user_id=user, session_id="s1")
    mem.add(CONVO, user_id=keep, session_id="s1")
    assert mem.delete_user(user) == 4
    assert mem.memories(user_id=user) == [] and mem.search("cat", user_id=user) == []
    assert mem.history(user_id=user) == []
    ids, _ = mem.services.vectors.fetch("turns", mem._scope("default", user))
    assert ids == []
    assert len(mem.search("cat", user_id=keep, k=10)) == 4


def test_filters(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    mem.add(CONVO[:3], user_id=user, session_id="s1")
    mem.add(CONVO[3:], user_id=user, session_id="s2", metadata={"topic": "health"})
    assert {h.metadata["session_id"] for h in mem.search("anything", user_id=user, filters={"session_id": "s2"})} == {"s2"}
    assert {h.speaker for h in mem.search("Miso", user_id=user, filters={"speaker": "assistant"})} == {"assistant"}
    after = mem.search("cat", user_id=user, filters={"after": "2024-03-01"})
    assert [h.metadata["message_id"] for h in after] == ["m4"]
    assert [h.metadata["message_id"] for h in mem.search("cat", user_id=user, filters={"metadata": {"topic": "health"}})] == ["m4"]


def test_time_in_query_adds_time_signal(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    mem.add(CONVO, user_id=user, session_id="s1")
    now = datetime(2024, 6, 1, tzinfo=UTC)
    hits = mem.search("what did I say in March 2024?", user_id=user, k=4, now=now)
    timed = [h for h in hits if "time" in h.signals]
    assert [h.metadata["message_id"] for h in timed] == ["m4"]
    assert hits[0].metadata["message_id"] == "m4"


def test_export_import_roundtrip(mem, make_memory, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    mem.add(CONVO, user_id=user, session_id="s1")
    buf = io.StringIO()
    assert mem.export(buf, user_id=user) == 4
    other = make_memory()
    assert other.import_(io.StringIO(buf.getvalue()), user_id=user) == 4
    assert other.import_(io.StringIO(buf.getvalue()), user_id=user) == 0  # idempotent
    a = [(t.speaker, t.content, t.timestamp) for t in mem.memories(user_id=user)]
    b = [(t.speaker, t.content, t.timestamp) for t in other.memories(user_id=user)]
    assert a == b


def test_langchain_messages_are_accepted(mem, unique) -> None:  # type: ignore[no-untyped-def]
    lc = pytest.importorskip("langchain_core.messages")
    user = f"u-{unique}"
    turns = mem.add([lc.HumanMessage("I love climbing"), lc.AIMessage("Where do you climb?")], user_id=user)
    assert [(t.role, t.content) for t in turns] == [("user", "I love climbing"), ("assistant", "Where do you climb?")]


def test_documents(mem, unique) -> None:  # type: ignore[no-untyped-def]
    user = f"u-{unique}"
    docs = [{"id": "p1", "title": "Lisbon", "text": "Lisbon is the capital of Portugal."},
            {"id": "p2", "title": "Azores", "text": "The Azores are islands in the Atlantic."}]
    assert len(mem.add_documents(docs, user_id=user)) == 2
    assert mem.add_documents(docs, user_id=user) == []
    hit = mem.search("capital of Portugal", user_id=user, k=1)[0]
    assert hit.metadata["doc_id"] == "p1" and hit.speaker == "Lisbon"


def test_filter_dialect_and_agent_scopes(mem, unique) -> None:  # type: ignore[no-untyped-def]
    """Operators beyond equality, agent_id / run_id scopes, and the same answer from memories()."""
    user = f"u-{unique}"
    mem.add(CONVO[:2], user_id=user, agent_id="tutor", run_id="r1", metadata={"topic": "pets", "n": 1})
    mem.add(CONVO[2:3], user_id=user, agent_id="coach", session_id="r2", metadata={"topic": "work", "n": 2})
    mem.add(CONVO[3:], user_id=user, session_id="r3", metadata={"topic": "health", "n": 3})

    def ids(flt: dict) -> set[str]:  # type: ignore[type-arg]
        found = {h.metadata["message_id"] for h in mem.search("cat work peanuts", user_id=user, k=10, filters=flt)}
        listed = {t.metadata["message_id"] for t in mem.memories(user_id=user, filters=flt)}
        assert found == listed  # search and memories() apply one filter
        return found

    assert ids({"agent_id": "tutor"}) == {"m1", "m2"}
    assert ids({"run_id": "r2"}) == ids({"session_id": "r2"}) == {"m3"}
    assert ids({"agent_id": {"$ne": "tutor"}}) == {"m3", "m4"}  # no agent is not "tutor"
    assert ids({"agent_id": None}) == {"m4"}
    assert ids({"metadata": {"topic": {"$ne": "pets"}}}) == {"m3", "m4"}
    assert ids({"topic": {"$in": ["work", "health"]}}) == {"m3", "m4"}  # mem0: top-level = metadata
    assert ids({"metadata.n": {"$gte": 2}, "speaker": "Ada"}) == {"m3", "m4"}
    assert ids({"$or": [{"agent_id": "coach"}, {"n": 3}]}) == {"m3", "m4"}
    assert ids({"$not": {"agent_id": {"$in": ["tutor", "coach"]}}}) == {"m4"}
    assert ids({"content": {"$contains": "peanuts"}}) == {"m4"}
    assert ids({"timestamp": {"$lt": "2024-03-01"}, "role": "assistant"}) == {"m2"}
    assert mem.memories(user_id=user, filters={"topic": {"$nin": ["pets"]}}, limit=1)[0].metadata["message_id"] == "m3"
    # mem0's keyword scopes, ANDed with filters (after / before stay top-level)
    assert {h.metadata["message_id"] for h in mem.search("cat", user_id=user, k=10, agent_id="tutor")} == {"m1", "m2"}
    both = mem.search("cat", user_id=user, k=10, agent_id="tutor", filters={"role": "assistant", "after": "2024-01-01"})
    assert [h.metadata["message_id"] for h in both] == ["m2"]
    assert [t.metadata["message_id"] for t in mem.memories(user_id=user, run_id="r3")] == ["m4"]
    assert mem.recall("audit", user_id=user, agent_id="coach").hits[0].metadata["message_id"] == "m3"
    assert ids({"$and": [{}], "agent_id": "coach"}) == {"m3"}  # an empty filter matches everything
    with pytest.raises(ValidationError):
        mem.search("x", user_id=user, filters={"topic": {"$regex": "p.*"}})
    with pytest.raises(ValidationError):
        mem.add("hi", user_id=user, session_id="a", run_id="b")
