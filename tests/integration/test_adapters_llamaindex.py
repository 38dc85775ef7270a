"""LlamaIndex ``BaseMemory`` adapter against an in-process ``Memory`` and a sidecar."""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_adapters_backends import (  # noqa: F401 - fixtures
    backend,
    local_memory,
    sidecar_memory,
    sidecar_url,
    user,
)

pytest.importorskip("llama_index.core")

from llama_index.core.base.llms.types import ChatMessage, MessageRole  # noqa: E402
from llama_index.core.memory import BaseMemory  # noqa: E402

from agentmem.adapters import AgentMemLlamaMemory  # noqa: E402


def test_llamaindex_memory_contract(backend: Any, user: str) -> None:
    memory = AgentMemLlamaMemory.from_defaults(memory=backend, user_id=user, session_id="li-1", history_limit=3)
    assert isinstance(memory, BaseMemory)
    assert memory.get_all() == [] and memory.get() == []
    memory.put(ChatMessage(role=MessageRole.USER, content="My cat is called Miso."))
    memory.put_messages([
        ChatMessage(role=MessageRole.ASSISTANT, content="Lovely name!"),
        ChatMessage(role=MessageRole.USER, content="ok"),
        ChatMessage(role=MessageRole.USER, content="ok"),
    ])
    everything = memory.get_all()
    assert [(m.role, m.content) for m in everything] == [
        (MessageRole.USER, "My cat is called Miso."), (MessageRole.ASSISTANT, "Lovely name!"),
        (MessageRole.USER, "ok"), (MessageRole.USER, "ok"),
    ]
    assert [m.content for m in memory.get()] == ["Lovely name!", "ok", "ok"]  # history_limit

    # another session of the same user: its history is empty, recall reaches the first one
    later = AgentMemLlamaMemory(memory=backend, user_id=user, session_id="li-2")
    got = later.get(input="what is my cat called?")
    assert len(got) == 1 and got[0].role == MessageRole.SYSTEM and "Miso" in (got[0].content or "")

    later.set([ChatMessage(role=MessageRole.USER, content="new start")])
    assert [m.content for m in later.get_all()] == ["new start"]
    asyncio.run(later.aput(ChatMessage(role=MessageRole.ASSISTANT, content="welcome")))
    assert [m.content for m in asyncio.run(later.aget_all())] == ["new start", "welcome"]
    later.reset()
    assert later.get_all() == [] and len(memory.get_all()) == 4  # only that session went
