"""The LangGraph-store surface, driven by the real ``langgraph_sdk`` clients (sync and async)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.postgres

langgraph_sdk = pytest.importorskip("langgraph_sdk")


def test_sync_sdk_store_roundtrip(server: str, new_key: Any, unique: str) -> None:
    key = new_key(f"lg-{unique}")
    client = langgraph_sdk.get_sync_client(url=server, api_key=key)
    store = client.store
    store.put_item(["ada", "prefs"], key="food", value={"likes": "ramen", "spicy": True})
    store.put_item(["ada", "prefs"], key="seat", value={"likes": "aisle seats on trains", "spicy": False})
    store.put_item(["ada", "trips", "2024"], key="porto", value={"city": "Porto", "days": 3})
    store.put_item(["bob", "prefs"], key="food", value={"likes": "salad"})

    item = store.get_item(["ada", "prefs"], key="food")
    assert item["namespace"] == ["ada", "prefs"] and item["value"] == {"likes": "ramen", "spicy": True}
    assert item["created_at"] and item["updated_at"]

    found = store.search_items(["ada"], limit=10)["items"]
    assert {(tuple(i["namespace"]), i["key"]) for i in found} == {
        (("ada", "prefs"), "food"), (("ada", "prefs"), "seat"), (("ada", "trips", "2024"), "porto")}
    assert [i["key"] for i in store.search_items(["ada"], filter={"spicy": True})["items"]] == ["food"]
    assert [i["key"] for i in store.search_items(["ada"], filter={"days": {"$gte": 3}})["items"]] == ["porto"]
    either = {"$or": [{"likes": {"$contains": "aisle"}}, {"city": {"$in": ["Porto"]}}]}
    assert sorted(i["key"] for i in store.search_items(["ada"], filter=either)["items"]) == ["porto", "seat"]
    ranked = store.search_items(["ada", "prefs"], query="where does she like to sit on the train?")["items"]
    assert ranked[0]["key"] == "seat" and ranked[0]["score"] >= ranked[1]["score"]
    assert len(store.search_items([], limit=2, offset=0)["items"]) == 2

    spaces = store.list_namespaces(prefix=["ada"])["namespaces"]
    assert spaces == [["ada", "prefs"], ["ada", "trips", "2024"]]
    assert store.list_namespaces(max_depth=1)["namespaces"] == [["ada"], ["bob"]]
    assert store.list_namespaces(suffix=["prefs"])["namespaces"] == [["ada", "prefs"], ["bob", "prefs"]]

    store.put_item(["ada", "prefs"], key="food", value={"likes": "pho"})
    assert store.get_item(["ada", "prefs"], key="food")["value"] == {"likes": "pho"}
    store.delete_item(["ada", "prefs"], key="food")
    with pytest.raises(httpx.HTTPStatusError) as err:
        store.get_item(["ada", "prefs"], key="food")
    assert err.value.response.status_code == 404

    # another tenant's SDK client sees nothing of this tenant's store
    other = langgraph_sdk.get_sync_client(url=server, api_key=new_key(f"lg2-{unique}")).store
    assert other.search_items(["ada"])["items"] == []
    assert other.list_namespaces()["namespaces"] == []
    with pytest.raises(httpx.HTTPStatusError):
        other.get_item(["ada", "prefs"], key="seat")

    # deleting the user deletes the items under their namespace
    assert httpx.delete(f"{server}/v1/users/ada", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert store.search_items(["ada"])["items"] == []
    assert [i["key"] for i in store.search_items(["bob"])["items"]] == ["food"]


def test_async_sdk_and_ttl(server: str, new_key: Any, unique: str) -> None:
    key = new_key(f"lga-{unique}")

    async def run() -> None:
        client = langgraph_sdk.get_client(url=server, api_key=key)
        await client.store.put_item(["ada", "session"], key="draft", value={"text": "hello"}, ttl=5)
        got = await client.store.get_item(["ada", "session"], key="draft")
        assert got["value"] == {"text": "hello"}
        items = (await client.store.search_items(["ada"], query="greeting"))["items"]
        assert items[0]["key"] == "draft"

    asyncio.run(run())
