"""agentmem: memory middleware for LLM applications.

>>> from agentmem import Memory
>>> mem = Memory()                                   # doctest: +SKIP
>>> mem.add([{"role": "user", "content": "I adopted a cat named Miso"}], user_id="ada")  # doctest: +SKIP
>>> mem.recall("what is my cat called?", user_id="ada", token_budget=200).text            # doctest: +SKIP
"""

# first: registers agentmem.kernels (see agentmem._layout) before anything below imports it
from agentmem import _layout  # noqa: F401
from agentmem.async_memory import AsyncMemory
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
from agentmem.memory import Memory
from agentmem.protocols import ChatModel, Embedder, LogitsModel, TokenCounter, VectorIndex
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

__version__ = "0.1.0"

__all__ = [
    "AgentMemError",
    "AsyncMemory",
    "AuthError",
    "BackendUnavailableError",
    "ChatModel",
    "Citation",
    "ConfigError",
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
    "VectorIndex",
    "__version__",
]
