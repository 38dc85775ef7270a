"""A LangGraph agent that remembers a user across threads, with agentmem as its store.

``create_agent(..., store=AgentMemStore(...))``: the agent's tools read and write long-term
memory through ``runtime.store``; the checkpointer keeps each thread's short-term state.
What the user says in thread 1 is found again in thread 2.

Runs offline with a scripted fake chat model (swap in any LangChain chat model, e.g.
``init_chat_model("openai:gpt-4o-mini")``)::

    python examples/langgraph_agent_memory.py
    AGENTMEM_URL=http://127.0.0.1:8750 python examples/langgraph_agent_memory.py   # via a sidecar
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from agentmem.adapters import AgentMemStore


def open_memory() -> Any:
    """A sidecar client when ``AGENTMEM_URL`` is set, else an in-process Memory."""
    if url := os.environ.get("AGENTMEM_URL"):
        from agentmem.client import MemoryClient

        return MemoryClient(url, os.environ.get("AGENTMEM_API_KEY"))
    from agentmem import EpisodeConfig, Memory, MemoryConfig

    home = Path(os.environ.get("AGENTMEM_HOME") or tempfile.mkdtemp(prefix="agentmem-example-"))
    # drift segmentation: no local LM to load for this short demo
    return Memory(MemoryConfig(home=home, episodes=EpisodeConfig(segmenter="drift")))


@dataclass
class UserContext:
    """Per-run context: whose memory the tools read and write."""

    user_id: str


@tool
def save_memory(text: str, runtime: ToolRuntime[UserContext]) -> str:
    """Save a fact about the user for later conversations."""
    assert runtime.store is not None
    runtime.store.put(("memories", runtime.context.user_id), uuid.uuid4().hex, {"text": text})
    return f"saved: {text}"


@tool
def search_memories(query: str, runtime: ToolRuntime[UserContext]) -> str:
    """Search what you remember about the user."""
    assert runtime.store is not None
    items = runtime.store.search(("memories", runtime.context.user_id), query=query, limit=3)
    return "\n".join(item.value["text"] for item in items) or "nothing remembered"


class ScriptedModel(GenericFakeChatModel):
    """A fake chat model that accepts tools (its script already holds the tool calls)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self


def main() -> None:
    model = ScriptedModel(messages=iter([
        AIMessage("", tool_calls=[{"name": "save_memory", "args": {"text": "Ada is vegetarian"}, "id": "c1"}]),
        AIMessage("Got it, I'll remember that you're vegetarian."),
        AIMessage("", tool_calls=[{"name": "search_memories", "args": {"query": "diet food"}, "id": "c2"}]),
        AIMessage("Since you're vegetarian: a mushroom risotto?"),
    ]))
    memory = open_memory()
    store = AgentMemStore(memory, user_position=1)  # ("memories", user_id): label 1 is the user
    agent = create_agent(
        model, tools=[save_memory, search_memories], store=store, checkpointer=InMemorySaver(),
        system_prompt="You are a cooking assistant with long-term memory.", context_schema=UserContext,
    )
    user = f"ada-{uuid.uuid4().hex[:6]}"

    first = agent.invoke(
        {"messages": [HumanMessage("I'm vegetarian, keep that in mind.")]},
        config={"configurable": {"thread_id": "thread-1"}}, context=UserContext(user_id=user),
    )
    print("thread-1:", first["messages"][-1].text)

    second = agent.invoke(
        {"messages": [HumanMessage("What should I cook tonight?")]},
        config={"configurable": {"thread_id": "thread-2"}}, context=UserContext(user_id=user),
    )
    recalled = [m.text for m in second["messages"] if isinstance(m, ToolMessage)]
    print("thread-2 recalled:", recalled)
    print("thread-2:", second["messages"][-1].text)
    assert any("vegetarian" in r for r in recalled), "the second thread did not find the memory"
    print("stored items:", [(i.namespace, i.value) for i in store.search(("memories", user))])


if __name__ == "__main__":
    main()
