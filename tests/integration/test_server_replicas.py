"""Two server processes on one Postgres + one Chroma server: shared writes, no lost writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.postgres


def test_replicas_see_each_others_writes(replicas: list[Any], new_key: Any, unique: str) -> None:
    key = new_key(f"rep-{unique}")
    a, b = (httpx.Client(base_url=p.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) for p in replicas)
    r = a.post("/v1/users/ada/memories", json={"messages": [
        {"role": "user", "content": "My passport number ends in 4471.", "id": "p1"}]})
    mid = r.json()["memories"][0]["id"]
    hits = b.post("/v1/users/ada/search", json={"query": "passport number"}).json()["hits"]
    assert hits and hits[0]["id"] == mid  # B built its index from A's write
    assert b.patch(f"/v1/users/ada/memories/{mid}", json={"content": "My passport number ends in 9902."}
                   ).status_code == 200
    assert "9902" in a.get(f"/v1/users/ada/memories/{mid}").json()["content"]
    hits = a.post("/v1/users/ada/search", json={"query": "passport 9902"}).json()["hits"]
    assert hits[0]["text"].endswith("9902.")  # A's cached index noticed B's update
    assert b.delete(f"/v1/users/ada/memories/{mid}").status_code == 204
    assert a.post("/v1/users/ada/search", json={"query": "passport"}).json()["hits"] == []

    assert a.put("/store/items", json={"namespace": ["ada", "prefs"], "key": "seat",
                                       "value": {"seat": "aisle"}}).status_code == 204
    got = b.get("/store/items", params={"namespace": "ada.prefs", "key": "seat"}).json()
    assert got["value"] == {"seat": "aisle"}


def test_concurrent_writers_on_both_replicas_lose_nothing(replicas: list[Any], new_key: Any, unique: str) -> None:
    key = new_key(f"conc-{unique}")
    headers = {"Authorization": f"Bearer {key}"}
    writers, per_writer = 6, 5

    def write(w: int) -> list[int]:
        url = replicas[w % 2].url
        with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
            codes = []
            for i in range(per_writer):
                msgs = [{"role": "user", "content": f"writer {w} message {i}", "id": f"w{w}-{i}"},
                        # every writer also re-sends a shared message: it must be stored once
                        {"role": "user", "content": "the shared message", "id": "shared"}]
                codes.append(c.post("/v1/users/ada/memories", json={"messages": msgs}).status_code)
                codes.append(c.put("/store/items", json={"namespace": ["ada", "log"], "key": f"w{w}-{i}",
                                                         "value": {"w": w, "i": i}}).status_code)
            return codes

    with ThreadPoolExecutor(writers) as pool:
        codes = [c for cs in pool.map(write, range(writers)) for c in cs]
    assert set(codes) <= {201, 204}, codes

    for proc in replicas:
        with httpx.Client(base_url=proc.url, headers=headers, timeout=60) as c:
            # store items are ada's memories too (role "document"): compare the conversation
            items = c.get("/v1/users/ada/memories", params={"limit": 1000, "filters": '{"role": "user"}'}
                          ).json()["items"]
            contents = sorted(m["content"] for m in items)
            want = sorted([f"writer {w} message {i}" for w in range(writers) for i in range(per_writer)]
                          + ["the shared message"])
            assert contents == want
            found = c.post("/store/items/search", json={"namespace_prefix": ["ada", "log"], "limit": 100}).json()
            assert len(found["items"]) == writers * per_writer
            hits = c.post("/v1/users/ada/search", json={"query": "writer 3 message 4", "k": 5}).json()["hits"]
            assert "writer 3 message 4" in [h["text"] for h in hits]
