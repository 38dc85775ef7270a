"""Turn whatever the caller hands in (dicts, LangChain messages, :class:`Message`) into messages.

Validation happens here, before anything is written: a malformed batch raises
:class:`~agentmem.errors.ValidationError` and stores nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agentmem._time import as_utc
from agentmem.errors import ValidationError
from agentmem.storable import check_text, check_value
from agentmem.types import Message

__all__ = ["call_groups", "content_hash", "document_messages", "normalize_messages", "parse_timestamp"]

# LangChain message ``type`` → conventional role.
_LC_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
_ROLES = {"user", "assistant", "system", "tool", "document"}


def parse_timestamp(value: Any, *, where: str = "timestamp") -> datetime:
    """A datetime from a datetime, an ISO-8601 string or epoch seconds (UTC when naive)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, bool):
        raise ValidationError(f"{where}: expected a datetime, ISO string or epoch seconds")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValidationError(f"{where}: epoch {value!r} out of range") from exc
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            return as_utc(datetime.fromisoformat(text))
        except ValueError as exc:
            raise ValidationError(f"{where}: {value!r} is not an ISO-8601 date/time") from exc
    raise ValidationError(f"{where}: expected a datetime, ISO string or epoch seconds, got {type(value).__name__}")


def _from_mapping(m: Mapping[str, Any], i: int) -> tuple[Message, str | None]:
    content = m.get("content", m.get("text"))
    if not isinstance(content, str):
        raise ValidationError(f"message {i}: 'content' (or 'text') must be a string")
    role = m.get("role")
    speaker = m.get("speaker", m.get("name"))
    if role is None and speaker is None:
        raise ValidationError(f"message {i}: needs 'role' or 'speaker'")
    if role is not None and (not isinstance(role, str) or role not in _ROLES):
        raise ValidationError(f"message {i}: role must be one of {sorted(_ROLES)}, not {role!r}")
    if speaker is not None and (not isinstance(speaker, str) or not speaker.strip()):
        raise ValidationError(f"message {i}: 'speaker' must be a non-empty string")
    ts = m.get("timestamp", m.get("created_at"))
    meta = m.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ValidationError(f"message {i}: 'metadata' must be an object")
    check_value(meta, f"message {i} metadata")
    mid = m.get("id")
    if mid is not None and (not isinstance(mid, str | int) or isinstance(mid, bool)):
        raise ValidationError(f"message {i}: 'id' must be a string or integer")
    check_value(mid, f"message {i} id")
    session = m.get("session_id")
    if session is not None and (
        not isinstance(session, str) or not session.strip() or len(session) > 255 or "\x00" in session
    ):
        raise ValidationError(f"message {i}: 'session_id' must be a non-empty string of at most 255 characters")
    if session is not None:
        check_text(session, f"message {i} session_id")
    return (
        Message(
            content=content,
            speaker=(speaker or role or "user").strip(),
            role=role or "user",
            timestamp=None if ts is None else parse_timestamp(ts, where=f"message {i} timestamp"),
            metadata=dict(meta),
            session_id=session,
        ),
        None if mid is None else str(mid),
    )


def _from_langchain(obj: Any, i: int) -> tuple[Message, str | None]:
    content = obj.content
    if isinstance(content, list):  # multi-part content: keep the text parts
        content = " ".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)
    if not isinstance(content, str):
        raise ValidationError(f"message {i}: unsupported LangChain content {type(content).__name__}")
    role = _LC_ROLES.get(getattr(obj, "type", ""), "user")
    name = getattr(obj, "name", None)
    meta = dict(getattr(obj, "additional_kwargs", {}) or {})
    ts = meta.pop("timestamp", None)
    return (
        Message(
            content=content,
            speaker=name or role,
            role=role,
            timestamp=None if ts is None else parse_timestamp(ts, where=f"message {i} timestamp"),
            metadata=meta,
        ),
        getattr(obj, "id", None),
    )


def normalize_messages(
    messages: Any, *, max_chars: int, max_messages: int, max_total_chars: int | None = None
) -> list[tuple[Message, str | None]]:
    """Validate and normalize; returns ``(message, caller_id)`` pairs.

    Accepts a single string (one user message), one message, or an iterable of dicts
    ``{role|speaker, content|text, timestamp?, id?, metadata?, session_id?}``, LangChain ``BaseMessage``
    objects or :class:`Message` instances.

    Raises
    ------
    ValidationError
        Empty or whitespace-only content, content over ``max_chars`` characters, more than
        ``max_total_chars`` characters in all, more than ``max_messages`` messages, unknown roles, malformed timestamps or wrong types.
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif isinstance(messages, Mapping | Message) or hasattr(messages, "content"):
        messages = [messages]
    if not isinstance(messages, Iterable):
        raise ValidationError("messages must be a string, a message, or a list of messages")
    out: list[tuple[Message, str | None]] = []
    total = 0
    for i, m in enumerate(messages):
        if i >= max_messages:
            raise ValidationError(f"too many messages in one call (limit {max_messages})")
        if isinstance(m, Message):
            pair: tuple[Message, str | None] = (m, None)
        elif isinstance(m, Mapping):
            pair = _from_mapping(m, i)
        elif hasattr(m, "content") and hasattr(m, "type"):
            pair = _from_langchain(m, i)
        else:
            raise ValidationError(f"message {i}: unsupported type {type(m).__name__}")
        text = pair[0].content
        if not text.strip():
            raise ValidationError(f"message {i}: content is empty")
        if len(text) > max_chars:
            raise ValidationError(f"message {i}: content has {len(text)} characters (limit {max_chars})")
        check_text(text, f"message {i} content")
        check_text(pair[0].speaker, f"message {i} speaker")
        check_value(pair[0].metadata, f"message {i} metadata")
        total += len(text)
        if max_total_chars is not None and total > max_total_chars:
            raise ValidationError(f"the messages have more than {max_total_chars} characters in all (limit per call)")
        out.append(pair)
    if not out:
        raise ValidationError("no messages given")
    return out


def content_hash(
    message: Message, *, session_id: str | None, caller_id: str | None
) -> str:
    """The idempotency key of a turn within a user's scope.

    A caller-supplied message id identifies the turn on its own (re-sending it is a no-op);
    otherwise the turn is identified by session, speaker, text and the timestamp the caller
    gave (a generated timestamp does not count, so re-sending a message without one is a
    no-op too).
    """
    if caller_id is not None:
        key = f"id\x1f{session_id or ''}\x1f{caller_id}"
    else:
        ts = message.timestamp.isoformat() if message.timestamp else ""
        key = f"t\x1f{session_id or ''}\x1f{message.speaker}\x1f{message.content}\x1f{ts}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def call_groups(messages: Sequence[Mapping[str, Any]], *, most: int, chars: int) -> list[list[Mapping[str, Any]]]:
    """``messages`` in consecutive groups that each fit one ``Memory.add`` call: at most
    ``most`` messages and ``chars`` characters of content (a message alone over ``chars``
    is a group of its own, for ``add`` to refuse).

    >>> [len(g) for g in call_groups([{"content": "ab"}] * 5, most=2, chars=100)]
    [2, 2, 1]
    >>> [len(g) for g in call_groups([{"content": "abc"}] * 3, most=10, chars=7)]
    [2, 1]
    """
    out: list[list[Mapping[str, Any]]] = [[]]
    size = 0
    for m in messages:
        content = m.get("content", m.get("text"))
        n = len(content) if isinstance(content, str) else 0
        if out[-1] and (len(out[-1]) >= most or size + n > chars):
            out.append([])
            size = 0
        out[-1].append(m)
        size += n
    return [g for g in out if g]


def document_messages(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Documents (``{id, text, title?, timestamp?, metadata?, ...}``) as messages of role
    ``document``: the id goes to ``metadata["doc_id"]`` (the message id is ``doc:<id>``), other
    keys join the metadata.

    Raises
    ------
    ValidationError
        When a document is not a mapping with ``id`` and ``text``.
    """
    messages = []
    for i, d in enumerate(docs):
        if not isinstance(d, Mapping) or "id" not in d or "text" not in d:
            raise ValidationError(f"document {i}: needs 'id' and 'text'")
        extra = {k: v for k, v in d.items() if k not in ("id", "text", "title", "timestamp", "metadata")}
        messages.append(
            {
                "role": "document",
                "speaker": str(d.get("title") or "document"),
                "content": d["text"],
                "id": f"doc:{d['id']}",
                "timestamp": d.get("timestamp"),
                "metadata": {**dict(d.get("metadata") or {}), **extra, "doc_id": str(d["id"])},
            }
        )
    return messages
