"""Protocols for what users plug in. Accept objects; strings are resolved in ``agentmem.resolve``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ChatMessage", "ChatModel", "ContextEmbedder", "Embedder", "LogitsModel", "TokenCounter", "WriteObserver"]

ChatMessage = tuple[str, str]
"""``(role, content)`` with role in ``system | user | assistant``."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of a fixed dimension."""

    name: str

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``[len(texts), dim]`` float32 array with unit-norm rows."""
        ...


@runtime_checkable
class ContextEmbedder(Protocol):
    """An :class:`Embedder` that can also read several texts as one sequence and give each text
    a vector read in that context (late chunking). A :class:`~agentmem.Memory` with one embeds
    the turns of a session together (``MemoryConfig.turn_window``); without one, each turn alone.
    """

    @property
    def reads_windows(self) -> bool:
        """Whether :meth:`embed_windows` works for this model."""
        ...

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens of the model's window each text takes (special tokens left out)."""
        ...

    def embed_windows(self, windows: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        """For windows ``(context, texts)``: one ``[n, dim]`` float32 array of unit vectors, a
        row per text of every window's ``texts`` in order, each text read after ``context``
        and among its window's other texts."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: any LangChain chat model (wrapped), an OpenAI-compatible endpoint, ..."""

    def generate(self, messages: Sequence[ChatMessage]) -> str:
        """Return the assistant's reply text for the conversation ``messages``."""
        ...


@runtime_checkable
class LogitsModel(Protocol):
    """A local causal language model whose next-token logits measure surprise (EM-LLM)."""

    name: str
    max_context: int

    def tokenize(self, text: str) -> list[int]:
        """Token ids for ``text`` (no special tokens)."""
        ...

    def logits(self, ids: Sequence[int]) -> torch.Tensor:
        """``[len(ids), vocab]`` logits; row ``t`` predicts token ``t + 1``."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts prompt tokens (default: tiktoken ``cl100k_base``)."""

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...


@runtime_checkable
class WriteObserver(Protocol):
    """Watches where a :class:`~agentmem.Memory`'s writes spend their time (``Memory(observer=...)``).

    The write path reports named stages: ``embed`` (the embedder computing vectors a write was
    not given), ``store_chroma`` (vector store writes) and ``component_<name>`` (a memory
    mechanism consuming new turns, ``on_add`` or ``catch_up``). Stages nest: a vector write
    inside a component's ``on_add`` runs inside both contexts. ``count`` reports how many
    texts went through a stage (``embed``: texts embedded on the write path).
    """

    def stage(self, name: str) -> AbstractContextManager[object]:
        """A context that spans one run of the stage ``name``."""
        ...

    def count(self, name: str, n: int) -> None:
        """``n`` more items went through the stage ``name``."""
        ...
