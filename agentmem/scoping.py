"""Input checks of the :class:`~agentmem.Memory` facade: ids, scopes, queries and ``k``.

Each check raises :class:`~agentmem.errors.ValidationError` with a message naming the
argument, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentmem.config import MemoryConfig
from agentmem.errors import ValidationError
from agentmem.storable import check_text, check_value
from agentmem.types import Scope

__all__ = ["MAX_ID", "MAX_K", "check_content", "check_exchange", "check_id", "check_k", "check_query", "make_scope"]

MAX_ID = 255
MAX_K = 1000


def check_id(value: Any, what: str) -> str:
    """``value`` as an id: a non-empty string of at most :data:`MAX_ID` characters without NUL."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string")
    if len(value) > MAX_ID or "\x00" in value:
        raise ValidationError(f"{what} must be at most {MAX_ID} characters without NUL")
    return check_text(value, what)


def make_scope(tenant: str, user_id: str, session_id: str | None = None, agent_id: str | None = None) -> Scope:
    """The :class:`~agentmem.types.Scope` of checked ids (``session_id`` / ``agent_id`` optional)."""
    return Scope(
        check_id(tenant, "tenant"),
        check_id(user_id, "user_id"),
        None if agent_id is None else check_id(agent_id, "agent_id"),
        None if session_id is None else check_id(session_id, "session_id"),
    )


def check_query(query: Any, config: MemoryConfig) -> str:
    """A search query: a non-empty string within the configured query and message limits."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError("query must be a non-empty string")
    if len(query) > min(config.max_query_chars, config.message_chars):
        raise ValidationError("query is too long")
    return check_text(query, "query")


def check_k(k: Any) -> int:
    """A result count: an integer in ``[1, MAX_K]`` (``bool`` is not one)."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer in [1, {MAX_K}]")
    return k


def check_content(content: Any, metadata: Any, config: MemoryConfig) -> None:
    """A memory's replacement text (non-empty, within ``message_chars``) and optional metadata mapping."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationError("content must be a non-empty string")
    if len(content) > config.message_chars:
        raise ValidationError(f"content has {len(content)} characters (limit {config.message_chars})")
    check_text(content, "content")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValidationError("metadata must be a mapping")
    check_value(metadata, "metadata")


def check_exchange(query: Any, response: Any, source_ids: Sequence[Any]) -> None:
    """One exchange to think about: non-empty ``query`` and ``response`` texts, ids as sources."""
    for what, text in (("query", query), ("response", response)):
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"{what} must be a non-empty string")
        check_text(text, what)
    for sid in source_ids:
        check_id(sid, "source id")
