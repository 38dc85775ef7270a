"""Reader for the JSONL turn format (one message a line; see :mod:`agentmem.batch.readers`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

from agentmem.batch.readers.records import Conversation, ReadError, ReadProgress, Record, _Bad, _ts

__all__ = ["read_jsonl"]


# -- JSONL ------------------------------------------------------------------------------------
def read_jsonl(fh: IO[str], *, file: str, progress: ReadProgress | None = None) -> Iterator[Record]:
    """The documented JSONL turn format (module docstring); consecutive lines of a session
    form one :class:`Conversation`."""
    current: tuple[str | None, str] | None = None
    messages: list[dict[str, Any]] = []
    first_line = 0
    counters: dict[tuple[str | None, str], int] = {}
    consumed = 0

    def flush() -> Iterator[Record]:
        if current is not None and messages:
            yield Conversation("jsonl", current[0], current[1], tuple(messages), file, f"line {first_line}")

    for n, line in enumerate(fh, start=1):
        consumed += len(line.encode("utf-8"))
        if progress is not None:
            progress.consumed = consumed
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, Mapping):
                raise _Bad("not a JSON object")
            sid = obj.get("session_id", obj.get("conversation"))
            content = obj.get("content", obj.get("text"))
            role = obj.get("role")
            speaker = obj.get("speaker")
            user = obj.get("user")
            if not isinstance(sid, str | int) or isinstance(sid, bool) or str(sid) == "":
                raise _Bad("needs 'session_id' (or 'conversation')")
            if not isinstance(content, str) or not content.strip():
                raise _Bad("needs a non-empty 'content' (or 'text') string")
            if role is None and speaker is None:
                raise _Bad("needs 'role' or 'speaker'")
            if role is not None and role not in ("user", "assistant", "system", "tool"):
                raise _Bad(f"unknown role {role!r}")
            if speaker is not None and not isinstance(speaker, str):
                raise _Bad("'speaker' must be a string")
            if user is not None and not isinstance(user, str):
                raise _Bad("'user' must be a string")
            if "timestamp" not in obj:
                raise _Bad("needs a 'timestamp' (ISO-8601 or epoch seconds)")
            ts = _ts(obj["timestamp"], "timestamp")
            meta = obj.get("metadata") or {}
            if not isinstance(meta, Mapping):
                raise _Bad("'metadata' must be an object")
        except json.JSONDecodeError as exc:
            yield ReadError(file, f"line {n}", f"not JSON ({exc.msg})")
            continue
        except _Bad as exc:
            yield ReadError(file, f"line {n}", str(exc))
            continue
        key = (user, str(sid))
        if key != current:
            yield from flush()
            current, messages, first_line = key, [], n
        k = counters.get(key, 0)
        counters[key] = k + 1
        mid = obj.get("id")
        messages.append({
            "id": str(mid) if mid is not None else f"jsonl:{sid}:{k}",
            "role": role or "user",
            "speaker": speaker or role,
            "content": content,
            "timestamp": ts,
            "metadata": dict(meta),
        })
    yield from flush()
