"""The inspector's data routes and page, in-process: timeline, explain, features, auth.

A real Memory on SQLite with the graph and drift episodes on (and one with every mechanism
off, as ``agentmem demo`` builds it), driven through FastAPI's TestClient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agentmem.config import EpisodeConfig, GraphConfig
from agentmem.server.app import ServerSettings, create_app

CAT = ["I adopted a grey cat named Miso last weekend.", "Miso sleeps on the radiator all day.",
       "The vet says Miso needs her second vaccine in July.", "Miso hides under the sofa when guests come."]
WORK = ["My manager Priya wants the quarterly report by Friday.", "The report covers the database migration.",
        "Priya also asked me to present it to the board.", "The board meeting is on the 14th at noon."]
TRIP = ["In May I am hiking in the Azores with my sister Clara.", "Clara booked the flights to Ponta Delgada.",
        "We will walk the crater trail at Sete Cidades.", "I need new hiking boots before the trip."]
QUERY = "Who is my manager and what deadline did we have?"


def _messages(lines: list[str]) -> list[dict[str, str]]:
    return [{"speaker": "Ada", "content": text, "timestamp": f"2024-05-0{1 + i // 4}T10:{10 + i:02d}:00Z"}
            for i, text in enumerate(lines)]


@pytest.fixture
def client(make_memory: Any) -> Iterator[TestClient]:
    mem = make_memory(graph=GraphConfig(enabled=True), episodes=EpisodeConfig(segmenter="drift", min_turns=2))
    app = create_app(ServerSettings(auth=False, default_tenant="acme"), memory=mem)
    with TestClient(app) as c:
        r = c.post("/v1/users/ada/memories", json={"messages": _messages(CAT + WORK + TRIP), "session_id": "s1"})
        assert r.status_code == 201, r.text
        yield c


def test_timeline_has_every_turn_with_surprise_and_boundaries(client: TestClient) -> None:
    body = client.get("/v1/users/ada/timeline").json()
    assert body["episodes"] is True and body["method"] == "drift" and body["truncated"] is False
    turns = body["turns"]
    assert [t["text"] for t in turns] == CAT + WORK + TRIP
    assert all(t["surprise"] is not None and t["episode_id"] for t in turns)
    starts = [i for i, t in enumerate(turns) if t["boundary"]]
    assert starts and 0 not in starts
    # a boundary turn starts another episode than its predecessor's, and only those do
    changes = [i for i in range(1, len(turns)) if turns[i]["episode_id"] != turns[i - 1]["episode_id"]]
    assert starts == changes
    page = client.get("/v1/users/ada/timeline", params={"limit": 5}).json()
    assert len(page["turns"]) == 5 and page["truncated"] is True
    assert client.get("/v1/users/bob/timeline").status_code == 404


def test_explain_a_graph_hit(client: TestClient) -> None:
    hits = client.post("/v1/users/ada/search", json={"query": QUERY, "k": 5}).json()["hits"]
    graph_hits = [h for h in hits if "graph" in h["signals"]]
    assert graph_hits
    hit = graph_hits[0]
    r = client.post("/v1/users/ada/explain", json={"query": QUERY, "memory_id": hit["id"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["memory_id"] == hit["id"] and body["rank"] == hit["signals"]["graph"]
    assert body["mass"] == pytest.approx(hit["signal_scores"]["graph"])
    kinds = {n["kind"] for n in body["nodes"]}
    assert kinds == {"fact", "entity", "passage"}
    ids = {n["id"] for n in body["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in body["edges"])
    assert any(e["target"] == f"passage:{hit['id']}" for e in body["edges"])
    missing = client.post("/v1/users/ada/explain", json={"query": QUERY, "memory_id": "nope"})
    assert missing.status_code == 404
    assert client.post("/v1/users/bob/explain", json={"query": QUERY, "memory_id": hit["id"]}).status_code == 404


def test_store_with_mechanisms_off(make_memory: Any) -> None:
    app = create_app(ServerSettings(auth=False), memory=make_memory(
        graph=GraphConfig(enabled=False), episodes=EpisodeConfig(segmenter="off")))
    with TestClient(app) as c:
        c.post("/v1/users/ada/memories", json={"messages": _messages(CAT)})
        assert c.get("/v1/inspector").json() == {"episodes": False, "graph": False, "thoughts": True, "facts": False}
        body = c.get("/v1/users/ada/timeline").json()
        assert body["episodes"] is False and body["method"] is None
        assert [(t["surprise"], t["episode_id"], t["boundary"]) for t in body["turns"]] == [(None, None, False)] * 4
        r = c.post("/v1/users/ada/explain", json={"query": "cat", "memory_id": body["turns"][0]["id"]})
        assert r.status_code == 501
        assert c.get("/v1/users/ada/episodes").json() == {
            "error": "not_implemented",
            "message": "episodes are not available: episodic memory is not enabled on this server",
        }


def test_page_is_a_static_shell_and_data_needs_a_key(make_memory: Any) -> None:
    app = create_app(ServerSettings(admin_key="admin-secret-0123456789"), memory=make_memory())
    with TestClient(app) as c:
        page = c.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert 'src="/ui/ui.js"' in page.text and "http" not in page.text.split("<body>")[1]
        assert c.get("/ui/ui.js").status_code == 200 and c.get("/ui/ui.css").status_code == 200
        for method, path in [("GET", "/v1/inspector"), ("GET", "/v1/users"), ("GET", "/v1/users/ada/timeline"),
                             ("POST", "/v1/users/ada/explain"), ("POST", "/v1/users/ada/search")]:
            assert c.request(method, path, json={}).status_code == 401, path
        key = c.post("/v1/keys", json={"tenant": "acme", "name": "ui"},
                     headers={"Authorization": "Bearer admin-secret-0123456789"}).json()["key"]
        r = c.get("/v1/inspector", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["graph"] is True  # Memory()'s default
    off = create_app(ServerSettings(auth=False, ui=False), memory=make_memory())
    with TestClient(off) as c:
        assert c.get("/ui").status_code == 404
