"""Framework adapters: agentmem as a LangGraph store, LangChain retriever / chat history /
agent middleware / facts tool, and a LlamaIndex memory.

Importing this package imports no framework; each name below is loaded on first use from its
module, which raises :class:`agentmem.BackendUnavailableError` (naming the pip extra,
``langchain`` or ``llamaindex``) when its framework is not installed.

Every adapter takes an :class:`agentmem.Memory` or an ``agentmem.client.MemoryClient``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .langchain_facts import remembered_facts_tool
    from .langchain_history import AgentMemChatMessageHistory
    from .langchain_middleware import AgentMemMiddleware
    from .langchain_retriever import AgentMemRetriever
    from .langgraph_store import AgentMemStore
    from .llamaindex_memory import AgentMemLlamaMemory

__all__ = [
    "AgentMemChatMessageHistory",
    "AgentMemLlamaMemory",
    "AgentMemMiddleware",
    "AgentMemRetriever",
    "AgentMemStore",
    "remembered_facts_tool",
]

_MODULES = {
    "AgentMemStore": "langgraph_store",
    "AgentMemRetriever": "langchain_retriever",
    "AgentMemChatMessageHistory": "langchain_history",
    "AgentMemMiddleware": "langchain_middleware",
    "AgentMemLlamaMemory": "llamaindex_memory",
    "remembered_facts_tool": "langchain_facts",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
