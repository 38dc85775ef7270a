"""``AgentMemMiddleware`` in ``create_agent``: recall before the model, remember after.

Thread 1 tells the agent something; thread 2 (a new conversation) asks about it. The
middleware recalled the first exchange and added it to the system message of the model
call — a callback shows what the model received. After each run the exchange is stored
and post-thought (Think-in-Memory).

Runs offline with a scripted fake chat model (swap in any LangChain chat model)::

    python examples/agent_middleware.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from agentmem.adapters import AgentMemMiddleware


def open_memory() -> Any:
    """A sidecar client when ``AGENTMEM_URL`` is set, else an in-process Memory."""
    if url := os.environ.get("AGENTMEM_URL"):
        from agentmem.client import MemoryClient

        return MemoryClient(url, os.environ.get("AGENTMEM_API_KEY"))
    from agentmem import EpisodeConfig, Memory, MemoryConfig

    home = Path(os.environ.get("AGENTMEM_HOME") or tempfile.mkdtemp(prefix="agentmem-example-"))
    return Memory(MemoryConfig(home=home, episodes=EpisodeConfig(segmenter="drift")))


class ShowPrompt(BaseCallbackHandler):
    """Prints the system message each model call receives."""

    def __init__(self) -> None:
        self.system: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        for call in messages:
            if call and call[0].type == "system":
                self.system.append(call[0].text)


def main() -> None:
    memory = open_memory()
    model = GenericFakeChatModel(messages=iter([
        AIMessage("Noted — Miso the grey cat, got it."),
        AIMessage("Your cat is called Miso."),
    ]))
    agent = create_agent(
        model, tools=[], system_prompt="You are a friendly assistant.",
        middleware=[AgentMemMiddleware(memory, token_budget=300)], checkpointer=InMemorySaver(),
    )
    shown = ShowPrompt()
    for thread, text in [("thread-1", "I adopted a grey cat named Miso."), ("thread-2", "What's my cat called?")]:
        out = agent.invoke(
            {"messages": [HumanMessage(text)]},
            config={"configurable": {"thread_id": thread}, "callbacks": [shown]},
            context={"user_id": "ada"},
        )
        print(f"{thread}: {text!r} -> {out['messages'][-1].text!r}")
    print("\nsystem message of the last model call:\n" + shown.system[-1])
    print("\nthoughts:", [t.text for t in memory.thoughts(user_id="ada")])
    assert "Miso" in shown.system[-1], "the middleware did not recall the first thread"


if __name__ == "__main__":
    main()
