"""Record types shared by every archive reader, and the helpers the parsers build them with.

A reader yields :class:`Conversation` or :class:`ReadError` records (together :data:`Record`);
parsers signal a malformed record internally with :class:`_Bad`, which becomes a ``ReadError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agentmem.errors import ValidationError
from agentmem.normalize import parse_timestamp

__all__ = ["FORMATS", "Conversation", "Format", "ReadError", "ReadProgress", "Record"]

Format = Literal["chatgpt", "claude", "longmemeval", "locomo", "jsonl"]
FORMATS: tuple[Format, ...] = ("chatgpt", "claude", "longmemeval", "locomo", "jsonl")


@dataclass(frozen=True, slots=True)
class Conversation:
    """One session of one user, as :meth:`Memory.add` takes it.

    ``messages`` are dicts ``{id, role, speaker, content, timestamp, metadata}`` with stable
    ``id`` and timezone-aware ``timestamp``. ``user`` is ``None`` when the format names no user
    (the caller's ``--user`` applies). ``position`` says where the record starts in ``file``.
    """

    source: Format
    user: str | None
    session_id: str
    messages: tuple[dict[str, Any], ...]
    file: str
    position: str
    title: str | None = None
    empty: int = 0  # messages without text (tool calls, blank system nodes), not errors


@dataclass(frozen=True, slots=True)
class ReadError:
    """A malformed record: where it is and why it was skipped."""

    file: str
    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.position}: {self.reason}"


Record = Conversation | ReadError


@dataclass(slots=True)
class ReadProgress:
    """How far reading got: bytes of finished files plus bytes of the current one (for ETAs)."""

    done_bytes: int = 0
    consumed: int = 0
    file: str = ""

    @property
    def bytes_read(self) -> int:
        return self.done_bytes + self.consumed


# -- helpers ----------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ts(value: Any, where: str) -> datetime:
    try:
        return parse_timestamp(value, where=where)
    except ValidationError as exc:
        raise _Bad(str(exc)) from exc


class _Bad(Exception):
    """A malformed record (internal: becomes a :class:`ReadError`)."""


def _message(
    mid: str, role: str, content: str, ts: datetime, *, speaker: str | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "id": mid,
        "role": role,
        "speaker": speaker or role,
        "content": content,
        "timestamp": ts,
        "metadata": {k: v for k, v in meta.items() if v is not None},
    }
