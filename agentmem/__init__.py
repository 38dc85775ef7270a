"""agentmem: memory middleware for LLM applications.

>>> from agentmem import Memory
>>> mem = Memory()                                   # doctest: +SKIP
>>> mem.add([{"role": "user", "content": "I adopted a cat named Miso"}], user_id="ada")  # doctest: +SKIP
>>> mem.recall("what is my cat called?", user_id="ada", token_budget=200).text            # doctest: +SKIP
"""

# first: registers agentmem.kernels (see agentmem._layout) before anything below imports it
from agentmem import _layout  # noqa: F401, I001

import typing

from agentmem.config import (
    EpisodeConfig,
    FactConfig,
    GraphConfig,
    MemoryConfig,
    RecallConfig,
    ThoughtConfig,
)
from agentmem.errors import (
    AgentMemError,
    AuthError,
    BackendUnavailableError,
    ConfigError,
    ConvergenceError,
    DeviceUnavailableError,
    ExtractionError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agentmem.protocols import ChatModel, ContextEmbedder, Embedder, LogitsModel, TokenCounter
from agentmem.recall.filter_dialect import compile_filter
from agentmem.recall.filter_dialect import matches as matches_filter
from agentmem.types import (
    Citation,
    ContextPack,
    Entity,
    Episode,
    Fact,
    HistoryEvent,
    Hit,
    Message,
    Scope,
    Thought,
    Turn,
)

if typing.TYPE_CHECKING:
    from agentmem.async_memory import AsyncMemory
    from agentmem.memory import Memory

__version__ = "0.1.0"

# Memory and AsyncMemory pull in the storage stack (SQLAlchemy, Chroma); importing them lazily
# keeps the leaf modules (kernels, segmentation, ``agentmem bench gpu``) usable without it.
_LAZY = {"Memory": "agentmem.memory", "AsyncMemory": "agentmem.async_memory"}


def __getattr__(name: str) -> typing.Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentmem' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "AgentMemError",
    "AsyncMemory",
    "AuthError",
    "BackendUnavailableError",
    "ChatModel",
    "Citation",
    "ConfigError",
    "ContextEmbedder",
    "ContextPack",
    "ConvergenceError",
    "DeviceUnavailableError",
    "Embedder",
    "Entity",
    "Episode",
    "EpisodeConfig",
    "ExtractionError",
    "Fact",
    "FactConfig",
    "GraphConfig",
    "HistoryEvent",
    "Hit",
    "LogitsModel",
    "Memory",
    "MemoryConfig",
    "Message",
    "NotFoundError",
    "RecallConfig",
    "Scope",
    "StorageError",
    "Thought",
    "ThoughtConfig",
    "TokenCounter",
    "Turn",
    "ValidationError",
    "compile_filter",
    "matches_filter",
    "__version__",
]
