"""``agentmem mcp`` over stdio and streamable HTTP, driven by the official MCP SDK client."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _servers import BIN, free_port

mcp = pytest.importorskip("mcp")
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client  # noqa: E402

TOKEN = "mcp-test-token-0123456789abcdef"

TOOLS = {"add_memory", "search_memory", "recall_memory", "delete_memory", "list_episodes", "list_facts"}
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
       "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


async def _exercise(client: Any) -> None:
    tools = {t.name for t in (await client.list_tools()).tools}
    assert tools >= TOOLS
    added = await client.call_tool("add_memory", {"user_id": "ada", "content": "I adopted a grey cat named Miso."})
    assert not added.is_error and added.structured_content["added"] == 1
    mid = added.structured_content["ids"][0]
    await client.call_tool("add_memory", {"user_id": "ada", "content": "I am allergic to peanuts."})
    found = await client.call_tool("search_memory", {"user_id": "ada", "query": "grey cat", "k": 2})
    assert found.structured_content["hits"][0]["id"] == mid
    packed = await client.call_tool("recall_memory", {"user_id": "ada", "query": "allergies", "token_budget": 100})
    assert "peanuts" in packed.structured_content["text"]
    episodes = await client.call_tool("list_episodes", {"user_id": "ada"})
    if episodes.is_error:  # the engine has no episodic memory yet: a clear tool error
        assert "episodes are not available" in episodes.content[0].text
    else:
        assert isinstance(episodes.structured_content["episodes"], list)
    await client.call_tool("add_memory", {"user_id": "ada", "content": "I live in Lisbon."})
    await client.call_tool("add_memory", {"user_id": "ada", "content": "I moved from Lisbon to Porto."})
    facts = await client.call_tool("list_facts", {"user_id": "ada", "include_past": True})
    homes = [(f["current"], f["text"].split(" (")[0]) for f in facts.structured_content["facts"] if " in " in f["text"]]
    assert homes == [(False, "The user lived in Lisbon"), (True, "The user lives in Porto")]
    now = await client.call_tool("recall_memory", {"user_id": "ada", "query": "where do I live now?"})
    lines = now.structured_content["text"].splitlines()  # the current fact first, with what changed and when
    assert lines[0].startswith("Facts") and "lives in Porto (since" in lines[1] and "before: Lisbon)" in lines[1]
    gone = await client.call_tool("delete_memory", {"user_id": "ada", "memory_id": mid})
    assert gone.structured_content == {"deleted": mid}
    again = await client.call_tool("delete_memory", {"user_id": "ada", "memory_id": mid})
    assert again.is_error and "no memory" in again.content[0].text
    bad = await client.call_tool("search_memory", {"user_id": "ada", "query": ""})
    assert bad.is_error and "Traceback" not in bad.content[0].text


def test_stdio(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=str(BIN / "agentmem"), args=["mcp", "--home", str(tmp_path), "--device", "cpu"],
        env={**ENV, "PATH": os.environ.get("PATH", "")},
    )

    async def run() -> None:
        async with Client(params) as client:
            await _exercise(client)

    asyncio.run(asyncio.wait_for(run(), 180))


def test_streamable_http(tmp_path: Path) -> None:
    """Over HTTP the server needs its token, and ``--user`` binds every call to one user."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    log = open(tmp_path / "mcp.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "agentmem"), "mcp", "--transport", "http", "--port", str(port), "--home", str(tmp_path),
         "--device", "cpu", "--user", "ada"], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **ENV, "AGENTMEM_MCP_TOKEN": TOKEN},
    )

    def client() -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return Client(streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)))

    try:
        async def run() -> None:
            for _ in range(240):  # wait for the model load and the port
                try:
                    async with client() as c:
                        await _exercise(c)
                        other = await c.call_tool("search_memory", {"user_id": "bob", "query": "cat"})
                        assert other.is_error and "one user" in other.content[0].text
                        bound = await c.call_tool("search_memory", {"query": "peanuts"})
                        assert "peanuts" in bound.structured_content["hits"][0]["text"]
                        return
                except (OSError, ExceptionGroup) as exc:
                    if proc.poll() is not None:
                        raise RuntimeError((tmp_path / "mcp.log").read_text()) from exc
                    if "Connect" not in repr(exc):
                        raise
                    await asyncio.sleep(0.5)
            raise TimeoutError("MCP HTTP server did not come up")

        asyncio.run(run())
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            r = httpx.post(url, headers={**headers, "Accept": "application/json, text/event-stream"},
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)
            assert r.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_http_transport_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGENTMEM_MCP_TOKEN"}
    done = subprocess.run([str(BIN / "agentmem"), "mcp", "--transport", "http", "--port", str(free_port()),
                           "--home", str(tmp_path), "--device", "cpu"], capture_output=True, text=True,
                          env={**env, **ENV}, timeout=120)
    assert done.returncode != 0 and "AGENTMEM_MCP_TOKEN" in done.stderr + done.stdout
