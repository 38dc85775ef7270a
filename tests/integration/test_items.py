"""The item store (:mod:`agentmem.items`) through both of its entry points.

``entry`` is parametrized: ``memory`` — ``Memory.items`` in-process; ``http`` —
``MemoryClient.items`` against ``agentmem serve`` over loopback, whose ``/store`` routes run
the same calls on the server's ``Memory.items``. Then the checks that there is one store: the
LangGraph SDK, ``MemoryClient.items`` and the adapter see the same items on one sidecar, and
in-process and sidecar rank the same items with the same scores.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from test_adapters_backends import local_memory, sidecar_memory, sidecar_url  # noqa: F401 - fixtures

from agentmem import ValidationError
from agentmem.items import Item, ItemPut

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "http"])
def entry(request: pytest.FixtureRequest) -> Any:
    """The item store: ``Memory.items`` or ``MemoryClient.items``."""
    backend = request.getfixturevalue("local_memory" if request.param == "memory" else "sidecar_memory")
    return backend.items


@pytest.fixture
def tenant() -> str:
    """A fresh tenant, so tenant-wide reads see this test's items only."""
    return f"t{uuid.uuid4().hex[:10]}"


def test_owner_is_the_first_label_unless_named(entry: Any, tenant: str) -> None:
    entry.put(("ada", "prefs"), "food", {"likes": "ramen"}, tenant=tenant, now=NOW)
    entry.put(("notes",), "cat", {"text": "Miso"}, user_id="ada", tenant=tenant, now=NOW)
    entry.put(("bob", "prefs"), "food", {"likes": "salad"}, tenant=tenant, now=NOW)

    got = entry.get(("ada", "prefs"), "food", tenant=tenant)
    assert isinstance(got, Item) and got.value == {"likes": "ramen"} and got.created_at == NOW
    assert entry.get(("notes",), "cat", tenant=tenant) is None  # owner "notes": nothing there
    assert entry.get(("notes",), "cat", user_id="ada", tenant=tenant).value == {"text": "Miso"}
    # reads: the named user, else the prefix's first label, else the whole tenant
    assert [i.key for i in entry.search(("ada",), tenant=tenant)] == ["food"]
    assert {i.key for i in entry.search((), user_id="ada", tenant=tenant)} == {"food", "cat"}
    assert sorted((i.namespace, i.key) for i in entry.search((), tenant=tenant)) == [
        (("ada", "prefs"), "food"), (("bob", "prefs"), "food"), (("notes",), "cat")]
    assert entry.list_namespaces(tenant=tenant, max_depth=1) == [("ada",), ("bob",), ("notes",)]
    assert entry.list_namespaces(suffix=("prefs",), tenant=tenant) == [("ada", "prefs"), ("bob", "prefs")]
    assert entry.list_namespaces(user_id="ada", tenant=tenant) == [("ada", "prefs"), ("notes",)]
    assert entry.search((), tenant=f"{tenant}-other") == []

    assert entry.delete(("ada", "prefs"), "food", tenant=tenant) is True
    assert entry.delete(("ada", "prefs"), "food", tenant=tenant) is False
    assert entry.get(("ada", "prefs"), "food", tenant=tenant) is None


def test_batch_applies_in_order_and_validates_first(entry: Any, tenant: str) -> None:
    ns = ("ada", "log")
    entry.put_many([ItemPut(ns, "a", {"v": 1}), ItemPut(ns, "a", {"v": 2}), ItemPut(ns, "b", {"v": 3}),
                    ItemPut(ns, "b", None)], tenant=tenant, now=NOW)
    assert [(i.key, i.value) for i in entry.search(ns, tenant=tenant)] == [("a", {"v": 2})]
    # a key repeated within a batch: only its last put is applied (in place) ...
    entry.put_many([ItemPut(ns, "a", {"v": i}) for i in range(500)], tenant=tenant, now=NOW + timedelta(minutes=1))
    got = entry.get(ns, "a", tenant=tenant)
    assert got.value == {"v": 499} and got.created_at == NOW and got.updated_at == NOW + timedelta(minutes=1)
    # ... unless a delete came before it: then it is a new item
    entry.put_many([ItemPut(ns, "a", None), ItemPut(ns, "a", {"v": 0})], tenant=tenant, now=NOW + timedelta(minutes=2))
    assert entry.get(ns, "a", tenant=tenant).created_at == NOW + timedelta(minutes=2)
    bad = [ItemPut(ns, "c", {"v": 4}), ItemPut(ns, "d", {"v": float("nan")})]
    with pytest.raises(ValidationError):
        entry.put_many(bad, tenant=tenant, now=NOW)
    with pytest.raises(ValidationError):
        entry.put_many([ItemPut(ns, "c", {"v": 4}), ItemPut(("a.b",), "k", {"v": 5})], tenant=tenant)
    assert entry.get(ns, "c", tenant=tenant) is None  # nothing of a rejected batch is written


def test_query_ranks_indexed_items_and_filters_use_operators(entry: Any, tenant: str) -> None:
    ns = ("ada", "facts")
    entry.put_many([
        ItemPut(ns, "cat", {"text": "Ada has a grey cat named Miso", "n": 1}),
        ItemPut(ns, "job", {"text": "Ada builds bridges as a structural engineer", "n": 2}),
        ItemPut(ns, "code", {"text": "the cat's vet code is 4411", "n": 3}, index=False),
        ItemPut(ns, "title", {"title": "trip to Patagonia", "body": "hiking in March", "n": 4}, index=["title"]),
    ], tenant=tenant, now=NOW)
    found = entry.search(ns, query="what is the cat called?", tenant=tenant)
    assert found[0].key == "cat" and found[-1].key == "code" and found[-1].score is None
    scores = [i.score for i in found if i.score is not None]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert [i.key for i in entry.search(ns, filter={"n": {"$gte": 2, "$lt": 4}}, tenant=tenant)] == ["code", "job"]
    assert [i.key for i in entry.search(ns, filter={"text": {"$contains": "bridges"}}, tenant=tenant)] == ["job"]
    assert [i.key for i in entry.search(ns, filter={"n": {"$in": [1, 4]}}, query="cat", tenant=tenant)] == [
        "cat", "title"]
    with pytest.raises(ValidationError):
        entry.search(ns, filter={"n": {"$regex": "x"}}, tenant=tenant)


def test_ttl_by_the_callers_clock(entry: Any, tenant: str) -> None:
    ns = ("ada", "session")
    entry.put(ns, "draft", {"text": "hello"}, ttl=10, tenant=tenant, now=NOW)
    entry.put(ns, "keep", {"text": "forever"}, tenant=tenant, now=NOW)
    assert entry.get(ns, "draft", tenant=tenant, now=NOW + timedelta(minutes=8)) is not None  # refreshed to 18
    assert entry.get(ns, "draft", refresh_ttl=False, tenant=tenant, now=NOW + timedelta(minutes=16)) is not None
    assert entry.sweep_expired(user_id="ada", tenant=tenant, now=NOW + timedelta(minutes=17)) == 0
    assert entry.sweep_expired(tenant=tenant, now=NOW + timedelta(minutes=19)) == 1
    assert [i.key for i in entry.search(ns, tenant=tenant, now=NOW + timedelta(minutes=19))] == ["keep"]
    # an expired key written again is a new item
    entry.put(ns, "draft", {"text": "again"}, ttl=1, tenant=tenant, now=NOW + timedelta(minutes=30))
    assert entry.get(ns, "draft", tenant=tenant, now=NOW + timedelta(minutes=30)).created_at == NOW + timedelta(
        minutes=30)


# -- one store --------------------------------------------------------------------------------

def test_sdk_client_and_adapter_share_the_sidecars_items(sidecar_url: str, sidecar_memory: Any,
                                                         tenant: str) -> None:
    langgraph_sdk = pytest.importorskip("langgraph_sdk")
    pytest.importorskip("langgraph.store.base")
    from agentmem._client_wire import TENANT_HEADER
    from agentmem.adapters import AgentMemStore

    sdk = langgraph_sdk.get_sync_client(url=sidecar_url, api_key=None, headers={TENANT_HEADER: tenant}).store
    adapter = AgentMemStore(sidecar_memory, user_position=0, tenant=tenant)
    sdk.put_item(["ada", "prefs"], key="seat", value={"likes": "aisle seats on trains"})
    adapter.put(("ada", "prefs"), "food", {"likes": "spicy ramen"})
    sidecar_memory.items.put(("ada", "trips"), "porto", {"city": "Porto"}, tenant=tenant)

    query = "where does she like to sit on the train?"
    via_sdk = [(i["key"], i.get("score")) for i in sdk.search_items(["ada"], query=query)["items"]]
    via_adapter = [(i.key, i.score) for i in adapter.search(("ada",), query=query)]
    via_client = [(i.key, i.score) for i in sidecar_memory.items.search(("ada",), query=query, tenant=tenant)]
    assert via_sdk == via_adapter == via_client and via_sdk[0][0] == "seat" and len(via_sdk) == 3
    assert sdk.get_item(["ada", "prefs"], key="food")["value"] == {"likes": "spicy ramen"}
    assert sdk.list_namespaces(prefix=["ada"])["namespaces"] == [["ada", "prefs"], ["ada", "trips"]]
    # the items are ada's memories on the sidecar: recalled with the conversation
    assert "aisle seats" in sidecar_memory.recall("train seat", user_id="ada", tenant=tenant).text


def test_in_process_and_sidecar_rank_alike(local_memory: Any, sidecar_memory: Any, tenant: str) -> None:
    puts = [ItemPut(("ada", "facts"), k, {"text": t}) for k, t in [
        ("cat", "Ada has a grey cat named Miso who loves tuna"),
        ("job", "Ada works as a structural engineer building bridges"),
        ("trip", "Ada is planning a hiking trip to Patagonia in March"),
    ]]
    ranked = []
    for items in (local_memory.items, sidecar_memory.items):
        items.put_many(puts, tenant=tenant, now=NOW)
        ranked.append([(i.key, i.score) for i in items.search(("ada",), query="which pet does Ada have?",
                                                               tenant=tenant)])
    (local, remote) = ranked
    assert [k for k, _ in local] == [k for k, _ in remote] and local[0][0] == "cat"
    assert [s for _, s in local] == pytest.approx([s for _, s in remote], rel=1e-5)


def test_legacy_store_items_rows_move_into_items(make_memory: Any) -> None:
    from agentmem.store import schema

    mem = make_memory()
    with mem.maintenance.database.begin() as conn:
        conn.execute(sa.insert(schema.store_items), [
            {"tenant": "acme", "user_id": "ada", "namespace": "ada.prefs", "key": "food",
             "value": {"likes": "ramen"}, "created_at": NOW.replace(tzinfo=None),
             "updated_at": NOW.replace(tzinfo=None), "expires_at": None, "ttl_minutes": None},
            {"tenant": "acme", "user_id": "ada", "namespace": "ada.s", "key": "old", "value": {"v": 1},
             "created_at": NOW.replace(tzinfo=None), "updated_at": NOW.replace(tzinfo=None),
             "expires_at": NOW.replace(tzinfo=None), "ttl_minutes": 1.0},
        ])
    got = mem.items.get(("ada", "prefs"), "food", tenant="acme")
    assert got is not None and got.value == {"likes": "ramen"} and got.created_at == NOW
    assert mem.items.list_namespaces(tenant="acme") == [("ada", "prefs")]  # the expired row is dropped
    assert [t.metadata["langgraph_store"]["key"] for t in mem.memories(user_id="ada", tenant="acme")] == ["food"]
    with mem.maintenance.database.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.store_items)).scalar() == 0
    assert mem.items.search(("ada",), query="ramen", tenant="acme")[0].score is not None
