"""Fact memory through the adapters: the ``remembered_facts`` tool (alone and offered by the
middleware to an agent), and fact provenance in retriever documents — against an in-process
``Memory`` and a sidecar over loopback."""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from test_adapters_backends import (  # noqa: F401 - fixtures
    backend,
    local_memory,
    sidecar_memory,
    sidecar_url,
    user,
)

pytest.importorskip("langchain.agents")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402

from agentmem import ValidationError  # noqa: E402
from agentmem.adapters import AgentMemMiddleware, AgentMemRetriever, remembered_facts_tool  # noqa: E402

T_2023 = "2023-05-01T10:00:00+00:00"
T_2024 = "2024-03-02T10:00:00+00:00"
NOW = "The user lives in Porto (since 2024-03-02; before: Lisbon)."
BEFORE = "The user lived in Lisbon (until 2024-03-02; then: Porto)."


class ToolCallingFake(GenericFakeChatModel):
    """A scripted chat model that accepts tools (it answers from its script regardless)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self


def _move(mem: Any, user_id: str) -> None:
    mem.add("I live in Lisbon.", user_id=user_id, timestamp=T_2023)
    mem.add("I moved from Lisbon to Porto last week.", user_id=user_id, timestamp=T_2024)


def test_the_tool_lists_current_facts_then_past_ones(backend: Any, user: str) -> None:
    _move(backend, user)
    tool = remembered_facts_tool(backend, user_id=user)
    assert tool.name == "remembered_facts" and "include_past" in tool.args
    call = {"type": "tool_call", "id": "c1", "name": "remembered_facts"}
    assert tool.invoke({**call, "args": {}}).content == f"- {NOW}"
    assert tool.invoke({**call, "args": {"include_past": True}}).content == f"- {NOW}\n- {BEFORE}"
    assert tool.invoke({**call, "args": {"subject": "Clara"}}).content == "No facts are known about this user."


def test_the_middleware_offers_the_tool_and_the_user_comes_from_the_run(local_memory: Any, user: str) -> None:
    _move(local_memory, user)
    model = ToolCallingFake(messages=iter([
        AIMessage("", tool_calls=[{"name": "remembered_facts", "args": {"include_past": True}, "id": "c1"}]),
        AIMessage("You live in Porto; before that, Lisbon."),
    ]))
    middleware = AgentMemMiddleware(local_memory, facts_tool=True, remember=False)
    assert [t.name for t in middleware.tools] == ["remembered_facts"]
    agent = create_agent(model, tools=[], middleware=[middleware])
    out = agent.invoke({"messages": [HumanMessage("Where did I live before?")]}, context={"user_id": user})
    (answer,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert answer.content == f"- {NOW}\n- {BEFORE}"
    assert out["messages"][-1].text == "You live in Porto; before that, Lisbon."
    assert AgentMemMiddleware(local_memory).tools == []  # opt-in: models without tool calling keep working


def test_the_tool_needs_a_user_and_a_backend_that_lists_facts(local_memory: Any) -> None:
    model = ToolCallingFake(messages=iter([
        AIMessage("", tool_calls=[{"name": "remembered_facts", "args": {}, "id": "c1"}]), AIMessage("?"),
    ]))
    agent = create_agent(model, tools=[remembered_facts_tool(local_memory)])
    with pytest.raises(ValidationError, match="needs a user"):
        agent.invoke({"messages": [HumanMessage("Where do I live?")]})

    class NoFacts:
        def __getattr__(self, name: str) -> Any:
            if name == "facts":
                raise AttributeError(name)
            return getattr(local_memory, name)

    with pytest.raises(ValidationError, match="lists no facts"):
        remembered_facts_tool(NoFacts(), user_id="ada")


def test_retriever_documents_of_facts_carry_their_provenance(backend: Any, user: str) -> None:
    _move(backend, user)
    docs = AgentMemRetriever(memory=backend, user_id=user, k=5).invoke("where did I live before?")
    facts = [d for d in docs if d.metadata["kind"] == "fact"]
    assert [d.page_content for d in facts] == [BEFORE, NOW]
    assert facts[0].metadata["superseded_by"] == facts[1].metadata["id"]
    assert facts[1].metadata["superseded_by"] is None and facts[1].metadata["contradicts"] == []
    assert facts[1].metadata["current"] is True and facts[1].metadata["valid_from"].startswith("2024-03-02")
