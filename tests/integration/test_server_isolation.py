"""Tenant isolation on every route of the served OpenAPI (a new route fails until it is listed).

Tenant A stores memories, a thought and a store item; tenant B then calls every operation
with A's user ids, memory ids and namespaces. Reads and deletes must answer 404 (or show
nothing of A's); writes may only create B's own data. Afterwards A's data is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.postgres

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


@dataclass
class Op:
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    expect: tuple[int, ...] = (404,)
    check: Callable[[httpx.Response], None] | None = None
    writes: bool = False  # run after the reads: it creates B's own user of the same name


def _no_items(r: httpx.Response) -> None:
    assert r.json() == {"items": []}


def _no_namespaces(r: httpx.Response) -> None:
    assert r.json() == {"namespaces": []}


def _no_users(r: httpx.Response) -> None:
    assert r.json() == {"users": []}


def _operations(user: str, mid: str, tid: str) -> dict[tuple[str, str], Op]:
    u = f"/v1/users/{user}"
    ns = {"namespace": [user, "prefs"], "key": "food"}
    return {
        ("GET", "/metrics"): Op("/metrics", expect=(403,)),  # cross-tenant counts: admin key only
        ("GET", "/v1/inspector"): Op("/v1/inspector", expect=(200,)),  # the server's mechanisms, no data
        ("GET", "/v1/users/{user_id}/timeline"): Op(f"{u}/timeline"),
        ("POST", "/v1/users/{user_id}/explain"): Op(f"{u}/explain", {"query": "the cat", "memory_id": mid},
                                                    expect=(404, 501)),
        ("GET", "/v1/users"): Op("/v1/users", expect=(200,), check=_no_users),
        ("DELETE", "/v1/users/{user_id}"): Op(u),
        ("GET", "/v1/users/{user_id}/memories"): Op(f"{u}/memories"),
        ("POST", "/v1/users/{user_id}/memories/delete"): Op(f"{u}/memories/delete", {"ids": [mid]}),
        ("GET", "/v1/users/{user_id}/memories/{memory_id}"): Op(f"{u}/memories/{mid}"),
        ("PATCH", "/v1/users/{user_id}/memories/{memory_id}"): Op(f"{u}/memories/{mid}", {"content": "pwned"}),
        ("DELETE", "/v1/users/{user_id}/memories/{memory_id}"): Op(f"{u}/memories/{mid}"),
        ("GET", "/v1/users/{user_id}/memories/{memory_id}/history"): Op(f"{u}/memories/{mid}/history"),
        ("GET", "/v1/users/{user_id}/history"): Op(f"{u}/history"),
        ("POST", "/v1/users/{user_id}/search"): Op(f"{u}/search", {"query": "cat"}),
        ("POST", "/v1/users/{user_id}/recall"): Op(f"{u}/recall", {"query": "cat"}),
        ("GET", "/v1/users/{user_id}/episodes"): Op(f"{u}/episodes", expect=(404, 501)),
        ("GET", "/v1/users/{user_id}/thoughts"): Op(f"{u}/thoughts"),
        ("GET", "/v1/users/{user_id}/facts"): Op(f"{u}/facts", params={"include_past": "true"}),
        ("DELETE", "/v1/users/{user_id}/thoughts/{thought_id}"): Op(f"{u}/thoughts/{tid}"),
        ("GET", "/v1/users/{user_id}/export"): Op(f"{u}/export"),
        ("POST", "/v1/keys"): Op("/v1/keys", {"tenant": "x"}, expect=(403,)),
        ("GET", "/v1/keys"): Op("/v1/keys", expect=(403,)),
        ("DELETE", "/v1/keys/{key_id}"): Op("/v1/keys/any", expect=(403,)),
        ("GET", "/store/items"): Op("/store/items", params={"namespace": f"{user}.prefs", "key": "food"}),
        ("DELETE", "/store/items"): Op("/store/items", ns, expect=(204,)),
        ("POST", "/store/items/search"): Op("/store/items/search", {"namespace_prefix": [user]}, expect=(200,),
                                            check=_no_items),
        ("POST", "/store/namespaces"): Op("/store/namespaces", {}, expect=(200,), check=_no_namespaces),
        ("POST", "/store/items/sweep"): Op("/store/items/sweep", {}, expect=(200,)),
        # writes: B gets its own user / item of the same name, never A's
        ("POST", "/v1/users/{user_id}/memories"): Op(
            f"{u}/memories", {"messages": [{"role": "user", "content": "B's own memory", "id": "m0"}]},
            expect=(201,), writes=True),
        ("POST", "/v1/users/{user_id}/documents"): Op(
            f"{u}/documents", {"documents": [{"id": "d1", "text": "B's document"}]}, expect=(201,), writes=True),
        ("POST", "/v1/users/{user_id}/thoughts"): Op(
            f"{u}/thoughts", {"query": "q?", "response": "B's answer."}, expect=(201,), writes=True),
        ("POST", "/v1/users/{user_id}/import"): Op(
            f"{u}/import", {"records": [{"role": "user", "content": "B's import"}]}, expect=(200,), writes=True),
        ("PUT", "/store/items"): Op("/store/items", {**ns, "value": {"likes": "B's value"}}, expect=(204,),
                                    writes=True),
        ("POST", "/store/items/batch"): Op("/store/items/batch", {"puts": [{**ns, "value": {"likes": "B's batch"}}]},
                                          expect=(204,), writes=True),
    }


def _snapshot(c: httpx.Client, user: str) -> dict[str, Any]:
    return {
        "memories": c.get(f"/v1/users/{user}/memories").json(),
        "history": c.get(f"/v1/users/{user}/history").json(),
        "thoughts": [(t["id"], t["text"], t["valid_to"]) for t in  # recall counts change on search
                     c.get(f"/v1/users/{user}/thoughts", params={"include_forgotten": "true"}).json()["thoughts"]],
        "facts": c.get(f"/v1/users/{user}/facts", params={"include_past": "true"}).json(),
        "item": c.get("/store/items", params={"namespace": f"{user}.prefs", "key": "food"}).json(),
        "hits": [h["id"] for h in c.post(f"/v1/users/{user}/search", json={"query": "grey cat"}).json()["hits"]],
    }


def test_another_tenant_reaches_nothing_on_any_route(
    replicas: list[Any], tenant_pair: tuple[tuple[str, str], tuple[str, str]]
) -> None:
    (_, key_a), (_, key_b) = tenant_pair
    server = replicas[0].url
    a = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {key_a}"}, timeout=60)
    b = httpx.Client(base_url=replicas[1].url, headers={"Authorization": f"Bearer {key_b}"}, timeout=60)
    user = "ada"
    added = a.post(f"/v1/users/{user}/memories", json={"messages": [
        {"role": "user", "content": "I adopted a grey cat named Miso.", "id": "m0"},
        {"role": "assistant", "content": "Miso is a lovely name for a cat.", "id": "m1"}]}).json()
    mid = added["memories"][0]["id"]
    a.post(f"/v1/users/{user}/thoughts", json={"query": "What is the cat called?",
                                                "response": "The user's cat is called Miso."})
    thoughts = a.get(f"/v1/users/{user}/thoughts").json()["thoughts"]
    tid = thoughts[0]["id"] if thoughts else "no-thought"
    assert a.put("/store/items", json={"namespace": [user, "prefs"], "key": "food",
                                       "value": {"likes": "ramen"}}).status_code == 204
    before = _snapshot(a, user)

    spec = httpx.get(f"{server}/openapi.json").json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    ops = _operations(user, mid, tid)
    missing = served - PUBLIC - set(ops)
    assert not missing, f"routes without an isolation case (add them to _operations): {sorted(missing)}"
    assert not set(ops) - served, f"cases for routes no longer served: {sorted(set(ops) - served)}"

    for (method, template), op in sorted(ops.items(), key=lambda kv: kv[1].writes):
        r = b.request(method, op.path, json=op.json, params=op.params)
        assert r.status_code in op.expect, f"{method} {template}: {r.status_code} {r.text}"
        assert "ramen" not in r.text and "Miso" not in r.text, f"{method} {template} leaked A's data"
        if op.check is not None:
            op.check(r)

    after = _snapshot(a, user)
    assert after == before
    assert after["item"]["value"] == {"likes": "ramen"}
    assert a.get(f"/v1/users/{user}/memories/{mid}").json()["content"] == "I adopted a grey cat named Miso."
    # B's writes exist, in B only
    b_mem = [m["content"] for m in b.get(f"/v1/users/{user}/memories").json()["items"]]
    assert "B's own memory" in b_mem and "I adopted a grey cat named Miso." not in b_mem
