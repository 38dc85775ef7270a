"""Tool calls kept through a chat history, framework-neutral.

An assistant message that calls tools and the tool messages answering it are stored as
ordinary turns; what a framework needs to replay them (the calls with their ids and
arguments, the id a tool result answers) goes into the turn's metadata under the keys below,
which are neither embedded nor indexed for search. A call-only assistant message has no
text; its turn's content is then a short line naming the tools (a turn needs text), marked
by ``content_empty`` so the read side gives back the empty content the framework sent.

Stored form (metadata):

- ``tool_calls``: ``[{"id": str | None, "name": str, "args": dict | str}, ...]``
- ``tool_call_id``: the call a tool message answers
- ``tool_status``: LangChain's ``ToolMessage.status`` when it is not ``"success"``
- ``content_empty``: ``True`` when the message's own content was empty
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agentmem import ValidationError

__all__ = [
    "CONTENT_EMPTY",
    "TOOL_CALLS",
    "TOOL_CALL_ID",
    "TOOL_STATUS",
    "from_openai",
    "stored_content",
    "to_openai",
    "tool_calls_of",
]

TOOL_CALLS = "tool_calls"
TOOL_CALL_ID = "tool_call_id"
TOOL_STATUS = "tool_status"
CONTENT_EMPTY = "content_empty"
_KEYS = (TOOL_CALLS, TOOL_CALL_ID, TOOL_STATUS, CONTENT_EMPTY)


def _call(name: Any, args: Any, call_id: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise ValidationError("a tool call needs a non-empty 'name'")
    if not isinstance(args, dict | str):
        raise ValidationError(f"tool call {name!r}: arguments must be an object or a JSON string")
    return {"id": None if call_id is None else str(call_id), "name": name, "args": args}


def from_openai(calls: Iterable[Any]) -> list[dict[str, Any]]:
    """OpenAI-format tool calls (dicts or objects with ``model_dump``) in the stored form.

    Accepts ``{"id", "type": "function", "function": {"name", "arguments"}}`` and the flat
    ``{"id", "name", "args"}`` form LangChain uses.

    Raises
    ------
    ValidationError
        A call without a name, or arguments that are neither an object nor a string.
    """
    out = []
    for raw in calls:
        call = raw.model_dump() if hasattr(raw, "model_dump") else raw
        if not isinstance(call, Mapping):
            raise ValidationError(f"a tool call must be an object, not {type(call).__name__}")
        fn = call.get("function")
        if isinstance(fn, Mapping):
            out.append(_call(fn.get("name"), fn.get("arguments", "{}"), call.get("id")))
        else:
            out.append(_call(call.get("name"), call.get("args", {}), call.get("id")))
    return out


def to_openai(calls: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored tool calls in OpenAI's chat-completions format (arguments as a JSON string)."""
    return [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": c["args"] if isinstance(c["args"], str) else json.dumps(c["args"]),
            },
        }
        for c in calls
    ]


def stored_content(text: str, calls: list[dict[str, Any]], role: str) -> tuple[str, bool]:
    """The content a turn stores for a message, and whether the message's own was empty."""
    if text.strip():
        return text, False
    if calls:
        return "called " + ", ".join(c["name"] for c in calls), True
    return ("(empty tool result)", True) if role == "tool" else ("", True)


def tool_calls_of(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored tool calls of a turn (``[]`` when it made none)."""
    calls = metadata.get(TOOL_CALLS)
    return [dict(c) for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A turn's metadata without the tool-call keys (what a framework sees as extra kwargs)."""
    return {k: v for k, v in metadata.items() if k not in _KEYS}
