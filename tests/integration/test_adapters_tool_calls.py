"""Chat histories keep tool calls: an assistant message that calls tools and the tool results
answering it come back with their ids, so replaying the history to an OpenAI-style API sends
no orphaned tool message — through LangChain and LlamaIndex, in-process and over a sidecar."""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

from typing import Any

import pytest
from test_adapters_backends import (  # noqa: F401 - fixtures
    backend,
    local_memory,
    sidecar_memory,
    sidecar_url,
    user,
)

CALLS = [
    {"id": "call_w1", "name": "get_weather", "args": {"city": "Lisbon"}},
    {"id": "call_t2", "name": "get_time", "args": {"tz": "Europe/Lisbon"}},
]


def check_openai_replay(messages: list[dict[str, Any]]) -> None:
    """Every tool message answers a call of the assistant message before it, and every call
    is answered (what OpenAI's chat-completions API requires)."""
    open_calls: set[str] = set()
    for m in messages:
        if m["role"] == "assistant":
            assert not open_calls, f"unanswered tool calls {open_calls}"
            open_calls = {c["id"] for c in m.get("tool_calls") or []}
        elif m["role"] == "tool":
            assert m.get("tool_call_id") in open_calls, f"orphaned tool message {m}"
            open_calls.discard(m["tool_call_id"])
    assert not open_calls, f"unanswered tool calls {open_calls}"


def test_replay_check_catches_an_orphan() -> None:
    with pytest.raises(AssertionError, match="orphaned"):
        check_openai_replay([{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}])
    with pytest.raises(AssertionError, match="unanswered"):
        check_openai_replay([{"role": "assistant", "content": "", "tool_calls": [{"id": "a"}]}])


def test_langchain_history_round_trips_tool_calls(backend: Any, user: str) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.messages import (
        AIMessage,
        HumanMessage,
        ToolMessage,
        convert_to_openai_messages,
    )

    from agentmem.adapters import AgentMemChatMessageHistory

    history = AgentMemChatMessageHistory(backend, user_id=user, session_id="tools")
    sent = [
        HumanMessage("What's the weather and time in Lisbon?"),
        AIMessage("", tool_calls=CALLS),
        ToolMessage("22 C and sunny", tool_call_id="call_w1", name="get_weather"),
        ToolMessage("timezone unknown", tool_call_id="call_t2", name="get_time", status="error"),
        AIMessage("It is 22 C and sunny in Lisbon."),
    ]
    history.add_messages(sent)
    got = history.messages
    assert [type(m).__name__ for m in got] == ["HumanMessage", "AIMessage", "ToolMessage", "ToolMessage", "AIMessage"]
    call = got[1]
    assert isinstance(call, AIMessage) and call.content == ""
    assert [(c["id"], c["name"], c["args"]) for c in call.tool_calls] == [
        (c["id"], c["name"], c["args"]) for c in CALLS
    ]
    assert isinstance(got[2], ToolMessage) and got[2].tool_call_id == "call_w1" and got[2].name == "get_weather"
    assert isinstance(got[3], ToolMessage) and got[3].status == "error"
    assert got[4].tool_calls == [] and got[4].content == sent[4].content
    replay = convert_to_openai_messages(got)
    check_openai_replay(replay)
    assert replay[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Lisbon"}'}

    # the arguments live in the metadata, not in the indexed text: the tool names are the
    # call turn's only text
    turns = backend.memories(user_id=user, session_id="tools")
    assert turns[1].content == "called get_weather, get_time"
    assert "Europe" not in turns[1].content


def test_llamaindex_memory_round_trips_tool_calls(backend: Any, user: str) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock

    from agentmem.adapters import AgentMemLlamaMemory

    openai_calls = [
        {"id": c["id"], "type": "function",
         "function": {"name": c["name"], "arguments": '{"city": "Lisbon"}' if i == 0 else '{"tz": "Europe/Lisbon"}'}}
        for i, c in enumerate(CALLS)
    ]
    memory = AgentMemLlamaMemory(memory=backend, user_id=user, session_id="li-tools")
    memory.put_messages([
        ChatMessage(role=MessageRole.USER, content="Weather and time in Lisbon?"),
        ChatMessage(role=MessageRole.ASSISTANT, content=None, additional_kwargs={"tool_calls": openai_calls}),
        ChatMessage(role=MessageRole.TOOL, content="22 C", additional_kwargs={"tool_call_id": "call_w1", "name": "get_weather"}),
        ChatMessage(role=MessageRole.TOOL, content="14:05", additional_kwargs={"tool_call_id": "call_t2", "name": "get_time"}),
        ChatMessage(role=MessageRole.ASSISTANT, content="22 C at 14:05."),
        # the block form newer LlamaIndex agents use
        ChatMessage(role=MessageRole.ASSISTANT,
                    blocks=[ToolCallBlock(tool_call_id="call_b3", tool_name="get_weather", tool_kwargs={"city": "Porto"})]),
        ChatMessage(role=MessageRole.TOOL, content="18 C", additional_kwargs={"tool_call_id": "call_b3"}),
    ])
    got = memory.get_all()
    assert [m.role for m in got] == [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL, MessageRole.TOOL,
                                     MessageRole.ASSISTANT, MessageRole.ASSISTANT, MessageRole.TOOL]
    assert got[1].additional_kwargs["tool_calls"] == openai_calls and not got[1].content
    assert got[2].additional_kwargs["tool_call_id"] == "call_w1" and got[2].additional_kwargs["name"] == "get_weather"
    blocks = [b for b in got[5].blocks if isinstance(b, ToolCallBlock)]
    assert [(b.tool_call_id, b.tool_name, b.tool_kwargs) for b in blocks] == [("call_b3", "get_weather", {"city": "Porto"})]

    def to_openai(m: ChatMessage) -> dict[str, Any]:
        out: dict[str, Any] = {"role": m.role.value, "content": m.content or ""}
        calls = m.additional_kwargs.get("tool_calls") or [
            {"id": b.tool_call_id, "type": "function", "function": {"name": b.tool_name}}
            for b in m.blocks if isinstance(b, ToolCallBlock)
        ]
        if calls:
            out["tool_calls"] = calls
        if "tool_call_id" in m.additional_kwargs:
            out["tool_call_id"] = m.additional_kwargs["tool_call_id"]
        return out

    check_openai_replay([to_openai(m) for m in got])
