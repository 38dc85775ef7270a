"""A sidecar started with the graph, episodes and the multi-hop fusion, over real HTTP.

``agentmem serve --graph --episodes drift --fusion multi-hop`` on SQLite and embedded Chroma:
documents become graph passages (offline extractor) and a multi-hop question finds the passage
the question never names; a conversation becomes episodes; users stay apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _servers import Proc, start_servers

DOCS = [
    {"id": "acme", "title": "Acme Corp", "text": "Acme Corp is a toy maker. It was founded by John Miller in 1990."},
    {"id": "miller", "title": "John Miller", "text": "John Miller was an American businessman. He was born in Springfield."},
    {"id": "beta", "title": "Beta Labs", "text": "Beta Labs is a chemistry company based in Boston, founded by Mary Jones."},
    {"id": "jones", "title": "Mary Jones", "text": "Mary Jones was born in Dublin and studied chemistry at Trinity College."},
]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("mechanisms")
    logs = tmp_path_factory.mktemp("mechanisms-logs")
    args = ["--no-auth", "--home", str(home), "--chroma", str(Path(home) / "chroma"),
            "--graph", "--episodes", "drift", "--fusion", "multi-hop"]
    procs: list[Proc] = start_servers(args, log_dir=logs)
    yield procs[0].url
    procs[0].stop()


def test_multi_hop_search_over_documents(sidecar: str) -> None:
    r = httpx.post(f"{sidecar}/v1/users/kb/documents", json={"documents": DOCS}, timeout=60)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{sidecar}/v1/users/kb/search", json={"query": "Where did the founder of Beta Labs study?", "k": 4},
                   timeout=60)
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    # the turn scorer's best, then the bridge query's: Mary Jones, whom the question never names
    assert [h["speaker"] for h in hits[:2]] == ["Beta Labs", "Mary Jones"]
    assert {"graph", "bridge"} <= set(hits[1]["signals"])
    # another user's graph holds none of these passages
    r = httpx.post(f"{sidecar}/v1/users/kb2/documents", json={"documents": DOCS[:1]}, timeout=60)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{sidecar}/v1/users/kb2/search", json={"query": "Where did Mary Jones study?"}, timeout=60)
    assert [h["metadata"]["doc_id"] for h in r.json()["hits"]] == ["acme"]


def test_conversation_becomes_episodes(sidecar: str) -> None:
    lines = ["I adopted a grey cat named Miso.", "She sleeps on the radiator all day.", "The vet says she is healthy.",
             "Next week I fly to Lisbon for work.", "The conference is about databases.", "I will give a talk there."]
    messages = [{"speaker": "Ada", "content": text, "timestamp": f"2024-02-19T19:{40 + i}:00Z"}
                for i, text in enumerate(lines)]
    r = httpx.post(f"{sidecar}/v1/users/ada/memories", json={"messages": messages, "session_id": "s1"}, timeout=60)
    assert r.status_code == 201, r.text
    r = httpx.get(f"{sidecar}/v1/users/ada/episodes", timeout=60)
    assert r.status_code == 200, r.text
    episodes = r.json()["episodes"]
    covered = [t for e in episodes for t in e["turn_ids"]]
    assert episodes and len(covered) == len(set(covered)) == len(lines)


def test_keyless_server_answers_loopback_hosts_only(sidecar: str) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example
    r = httpx.get(f"{sidecar}/v1/users", headers={"Host": "evil.example"}, timeout=30)
    assert r.status_code == 421 and r.json()["error"] == "misdirected"
    port = sidecar.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert httpx.get(f"{sidecar}/v1/users", headers={"Host": host}, timeout=30).status_code == 200
