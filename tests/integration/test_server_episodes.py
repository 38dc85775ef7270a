"""Episodes through REST and MCP, with and without an engine that has ``Memory.episodes``.

In-process (FastAPI's TestClient and the MCP SDK's in-process client) over a real Memory
on SQLite; the engine's episodes are stood in for by a wrapper that adds the method.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agentmem.server.app import ServerSettings, create_app
from agentmem.types import Episode, Scope


class WithEpisodes:
    """A Memory plus ``episodes(user_id=, tenant=, session_id=)`` (what the lead will wire)."""

    def __init__(self, memory: Any) -> None:
        self._memory = memory
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)

    def enabled(self, name: str) -> bool:
        return name == "episode" or bool(self._memory.enabled(name))

    def episodes(self, **kwargs: Any) -> list[Episode]:
        self.calls.append(kwargs)
        turns = self._memory.memories(user_id=kwargs["user_id"], tenant=kwargs["tenant"])
        when = datetime(2024, 2, 19, tzinfo=UTC)
        return [Episode("e1", Scope(kwargs["tenant"], kwargs["user_id"]), tuple(t.id for t in turns), when, when,
                        " ".join(t.content for t in turns), 0)]


class WithoutEpisodes(WithEpisodes):
    episodes = None  # type: ignore[assignment]


@pytest.mark.parametrize("engine", [WithEpisodes, WithoutEpisodes])
def test_rest_episodes(make_memory: Any, engine: type[WithEpisodes]) -> None:
    mem = engine(make_memory())
    app = create_app(ServerSettings(auth=False, default_tenant="acme"), memory=mem)
    with TestClient(app) as c:
        c.post("/v1/users/ada/memories", json={"messages": [{"role": "user", "content": "hello"}]})
        r = c.get("/v1/users/ada/episodes", params={"session_id": "s1"})
        if engine is WithoutEpisodes:
            assert r.status_code == 501 and "not available" in r.json()["message"]
            return
        assert r.status_code == 200
        assert r.json()["episodes"][0]["text"] == "hello"
        assert mem.calls == [{"user_id": "ada", "tenant": "acme", "session_id": "s1"}]
        assert c.get("/v1/users/bob/episodes").status_code == 404


@pytest.mark.parametrize("engine", [WithEpisodes, WithoutEpisodes])
def test_mcp_episodes(make_memory: Any, engine: type[WithEpisodes]) -> None:
    from mcp import Client

    from agentmem.server.mcp_server import build_mcp

    mem = engine(make_memory())
    mem.add("hello there", user_id="ada", tenant="acme")
    server = build_mcp(mem, tenant="acme")

    async def run() -> Any:
        async with Client(server) as client:
            return await client.call_tool("list_episodes", {"user_id": "ada"})

    result = asyncio.run(run())
    if engine is WithoutEpisodes:
        assert result.is_error and "not available" in result.content[0].text
    else:
        assert result.structured_content["episodes"][0]["text"] == "hello there"
