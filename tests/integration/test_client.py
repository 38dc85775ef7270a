"""``MemoryClient`` / ``AsyncMemoryClient`` against a real server: Memory's methods and types."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from agentmem import AuthError, ContextPack, Hit, NotFoundError, Turn, ValidationError
from agentmem.client import AsyncMemoryClient, MemoryClient

pytestmark = pytest.mark.postgres


def test_sync_client_has_memorys_methods(server: str, new_key: Any, unique: str) -> None:
    key = new_key(f"cl-{unique}")
    with MemoryClient(server, api_key=key) as mem:
        turns = mem.add([{"role": "user", "content": "I adopted a grey cat named Miso.", "id": "a"},
                         {"role": "assistant", "content": "Miso is a lovely name.", "id": "b"}],
                        user_id="ada", session_id="s1")
        assert [type(t) for t in turns] == [Turn, Turn] and turns[0].scope.tenant == f"cl-{unique}"
        assert mem.add("I am allergic to peanuts", user_id="ada") and mem.add(
            [{"role": "user", "content": "I adopted a grey cat named Miso.", "id": "a"}],
            user_id="ada", session_id="s1") == []
        hits = mem.search("cat name", user_id="ada", k=2)
        assert isinstance(hits[0], Hit) and hits[0].signals
        pack = mem.recall("allergies", user_id="ada", token_budget=100)
        assert isinstance(pack, ContextPack) and "peanuts" in pack.text
        assert mem.get(turns[0].id, user_id="ada").content == turns[0].content
        assert mem.update(turns[1].id, "Miso is a great name.", user_id="ada").content == "Miso is a great name."
        assert [e.event for e in mem.history(turns[1].id, user_id="ada")] == ["ADD", "UPDATE"]
        assert [t.id for t in mem.memories(user_id="ada", limit=2)] == [turns[0].id, turns[1].id]
        assert len(mem.memories(user_id="ada", after=turns[0].seq)) == 2
        docs = mem.add_documents([{"id": 1, "text": "The office is in Porto.", "title": "office"}], user_id="ada")
        assert docs[0].metadata["doc_id"] == "1"
        buf = io.StringIO()
        assert mem.export(buf, user_id="ada") == 4
        assert mem.import_(io.StringIO(buf.getvalue()), user_id="bob") == 4
        mem.think("Where is the office?", "The office is in Porto.", user_id="ada")
        assert isinstance(mem.thoughts(user_id="ada"), list)
        mem.delete(turns[0].id, user_id="ada")
        with pytest.raises(NotFoundError):
            mem.get(turns[0].id, user_id="ada")
        with pytest.raises(NotFoundError):
            mem.delete(turns[0].id, user_id="ada")
        assert mem.delete_many(["nope"], user_id="ada") == 0
        with pytest.raises(ValidationError):
            mem.search("", user_id="ada")
        # an unknown user reads as empty, as with Memory
        assert mem.search("anything", user_id="nobody") == []
        assert mem.memories(user_id="nobody") == [] and mem.history(user_id="nobody") == []
        assert mem.recall("anything", user_id="nobody").hits == ()
        assert mem.delete_user("nobody") == 0
        assert mem.delete_user("bob") == 4
    with pytest.raises(AuthError), MemoryClient(server, api_key="amk_bad_key") as bad:
        bad.search("x", user_id="ada")
    with pytest.raises(AuthError), MemoryClient(server, api_key=key, tenant="someone-else") as wrong:
        wrong.search("x", user_id="ada")


def test_async_client(server: str, new_key: Any, unique: str) -> None:
    key = new_key(f"acl-{unique}")

    async def run() -> None:
        async with AsyncMemoryClient(server, api_key=key) as mem:
            added = await mem.add("My sister lives in Porto.", user_id="ada")
            hits = await mem.search("where does my sister live", user_id="ada")
            assert hits[0].id == added[0].id
            results = await asyncio.gather(*(mem.add(f"note {i}", user_id="ada") for i in range(5)))
            assert sum(len(r) for r in results) == 5
            assert len(await mem.memories(user_id="ada")) == 6
            assert await mem.delete_user("ada") == 6

    asyncio.run(run())


def test_filters_over_rest_match_memory(server: str, new_key: Any, unique: str) -> None:
    """The one filter dialect through REST: operators, agent_id / run_id, memories(filters=)."""
    with MemoryClient(server, api_key=new_key(f"flt-{unique}")) as mem:
        mem.add([{"role": "user", "content": "I adopted a grey cat named Miso.", "id": "a"}], user_id="ada",
                agent_id="tutor", run_id="r1", metadata={"topic": "pets"})
        mem.add([{"role": "user", "content": "The audit is in June.", "id": "b"}], user_id="ada",
                agent_id="coach", session_id="r2", metadata={"topic": "work"})

        def ids(flt: dict[str, Any]) -> set[str]:
            found = {h.metadata["message_id"] for h in mem.search("cat audit", user_id="ada", filters=flt)}
            assert found == {t.metadata["message_id"] for t in mem.memories(user_id="ada", filters=flt)}
            return found

        assert ids({"agent_id": "tutor"}) == {"a"}
        assert ids({"run_id": "r2"}) == {"b"}
        assert ids({"metadata": {"topic": {"$ne": "pets"}}}) == {"b"}
        assert ids({"topic": {"$in": ["pets", "x"]}}) == {"a"}
        assert ids({"$or": [{"agent_id": "coach"}, {"timestamp": {"$lt": "2000-01-01"}}]}) == {"b"}
        assert [h.metadata["message_id"] for h in mem.search("cat audit", user_id="ada", agent_id="coach")] == ["b"]
        assert [t.metadata["message_id"] for t in mem.memories(user_id="ada", run_id="r1")] == ["a"]
        with pytest.raises(ValidationError, match="unknown filter operator"):
            mem.search("cat", user_id="ada", filters={"topic": {"$regex": "p"}})
        with pytest.raises(ValidationError):
            mem.memories(user_id="ada", filters={"topic": {"$in": "pets"}})
