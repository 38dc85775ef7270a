"""The HTTP client's wire format, with no I/O: requests as values, :class:`agentmem.Memory`'s
arguments as JSON, JSON back into its dataclasses, and status codes into :mod:`agentmem.errors`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from agentmem.errors import (
    AgentMemError,
    AuthError,
    ConfigError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agentmem.types import (
    Citation,
    ContextPack,
    Episode,
    Fact,
    HistoryEvent,
    Hit,
    Message,
    Scope,
    Thought,
    Turn,
)

__all__ = [
    "DEFAULT_URL", "PAGE", "TENANT_HEADER", "Decode", "Ops", "Request", "iso_dates", "message_json",
    "messages_json", "parse_dt", "query_payload", "raise_for", "seg", "unknown_user",
]

T = TypeVar("T")
TENANT_HEADER = "X-Agentmem-Tenant"
DEFAULT_URL = "http://127.0.0.1:8750"
PAGE = 1000


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of a client operation (``tenant``: the tenant header to assert)."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None


Ops = Generator[Request, httpx.Response, T]


def seg(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def iso_dates(value: Any) -> Any:
    """Datetimes as ISO strings, also inside filter mappings and lists."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Mapping):
        return {k: iso_dates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [iso_dates(v) for v in value]
    return value


def parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def message_json(m: Any) -> dict[str, Any]:
    """A message in any form :meth:`Memory.add` accepts → the REST ``MessageIn`` shape."""
    if isinstance(m, str):
        return {"role": "user", "content": m}
    if isinstance(m, Message):
        out: dict[str, Any] = {"content": m.content, "speaker": m.speaker, "role": m.role,
                               "metadata": dict(m.metadata)}
        if m.session_id is not None:
            out["session_id"] = m.session_id
        if m.timestamp is not None:
            out["timestamp"] = iso_dates(m.timestamp)
        return out
    if isinstance(m, Mapping):
        out = {k: m[k] for k in ("role", "speaker", "id", "metadata", "session_id") if m.get(k) is not None}
        content = m.get("content", m.get("text"))
        if content is not None:
            out["content"] = content
        if m.get("timestamp") is not None:
            out["timestamp"] = iso_dates(m["timestamp"])
        return out
    if hasattr(m, "content") and hasattr(m, "type"):  # a LangChain message
        roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
        out = {"role": roles.get(str(m.type), "user"), "content": m.content}
        if getattr(m, "name", None):
            out["speaker"] = m.name
        if getattr(m, "id", None):
            out["id"] = m.id
        return out
    raise ValidationError(f"unsupported message type {type(m).__name__}")


def messages_json(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str | Mapping | Message) or hasattr(messages, "content"):
        messages = [messages]
    if not isinstance(messages, Iterable):
        raise ValidationError("messages must be a string, a message, or a list of messages")
    return [message_json(m) for m in messages]


class Decode:
    """JSON → the engine's dataclasses."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def turn(self, d: Mapping[str, Any]) -> Turn:
        return Turn(
            id=d["id"], scope=Scope(self.tenant, d["user_id"], d.get("agent_id"), d.get("session_id")),
            content=d["content"], speaker=d["speaker"], role=d["role"],
            timestamp=parse_dt(d["timestamp"]),  # type: ignore[arg-type]
            seq=int(d["seq"]), content_hash="", metadata=dict(d.get("metadata") or {}),
            created_at=parse_dt(d.get("created_at")), updated_at=parse_dt(d.get("updated_at")),
        )

    def hit(self, d: Mapping[str, Any], user_id: str) -> Hit:
        return Hit(
            id=d["id"], kind=d["kind"], text=d["text"], score=float(d["score"]), scope=Scope(self.tenant, user_id),
            timestamp=parse_dt(d.get("timestamp")), signals=dict(d.get("signals") or {}),
            signal_scores=dict(d.get("signal_scores") or {}), speaker=d.get("speaker"),
            metadata=dict(d.get("metadata") or {}), superseded_by=d.get("superseded_by"),
            contradicts=tuple(d.get("contradicts") or ()),
        )

    def fact(self, d: Mapping[str, Any], user_id: str) -> Fact:
        return Fact(
            id=d["id"], scope=Scope(self.tenant, user_id), subject=d["subject"], relation=d["relation"],
            object=d["object"], negated=bool(d.get("negated")), valid_from=parse_dt(d.get("valid_from")),
            valid_to=parse_dt(d.get("valid_to")), source_ids=tuple(d.get("source_ids") or ()),
            superseded_by=d.get("superseded_by"), contradicts=tuple(d.get("contradicts") or ()), text=d.get("text") or "",
        )

    def pack(self, d: Mapping[str, Any], user_id: str) -> ContextPack:
        return ContextPack(
            text=d["text"], hits=tuple(self.hit(h, user_id) for h in d["hits"]),
            citations=tuple(Citation(c["marker"], c["id"], c["kind"], parse_dt(c.get("timestamp")),
                                     tuple(c["signals"])) for c in d["citations"]),
            tokens=int(d["tokens"]), token_budget=int(d["token_budget"]), dropped=int(d.get("dropped", 0)),
        )

    def event(self, d: Mapping[str, Any], user_id: str) -> HistoryEvent:
        return HistoryEvent(
            id=int(d["id"]), scope=Scope(self.tenant, user_id), record_id=d["record_id"],
            record_kind=d["record_kind"], event=d["event"], before=d.get("before"), after=d.get("after"),
            at=parse_dt(d["at"]), metadata=dict(d.get("metadata") or {}),  # type: ignore[arg-type]
        )

    def thought(self, d: Mapping[str, Any], user_id: str) -> Thought:
        return Thought(
            id=d["id"], scope=Scope(self.tenant, user_id), text=d["text"], subject=d.get("subject"),
            relation=d.get("relation"), object=d.get("object"), source_ids=tuple(d.get("source_ids") or ()),
            merged_from=tuple(d.get("merged_from") or ()), created_at=parse_dt(d.get("created_at")),
            updated_at=parse_dt(d.get("updated_at")), last_recalled_at=parse_dt(d.get("last_recalled_at")),
            recall_count=int(d.get("recall_count") or 0), valid_from=parse_dt(d.get("valid_from")),
            valid_to=parse_dt(d.get("valid_to")),
        )

    def episode(self, d: Mapping[str, Any], user_id: str) -> Episode:
        return Episode(
            id=d["id"], scope=Scope(self.tenant, user_id), turn_ids=tuple(d["turn_ids"]),
            start=parse_dt(d["start"]), end=parse_dt(d["end"]),  # type: ignore[arg-type]
            text=d["text"], seq=int(d["seq"]), surprise_mean=float(d.get("surprise_mean", 0.0)),
            surprise_max=float(d.get("surprise_max", 0.0)), boundary_method=d.get("boundary_method", "surprise"),
        )


def raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
        message = str(body.get("message") or body)
    except ValueError:
        message = resp.text[:200] or resp.reason_phrase
    code = resp.status_code
    if code in (413, 422, 400):
        raise ValidationError(message)
    if code == 404:
        raise NotFoundError(message)
    if code in (401, 403):
        raise AuthError(message)
    if code == 501:
        raise ConfigError(message)
    if code == 503:
        raise StorageError(message)
    raise AgentMemError(f"server error {code}: {message}")



def query_payload(query: str, filters: Mapping[str, Any] | None, now: datetime | None, **extra: Any) -> dict[str, Any]:
    """The JSON body of search and recall: the query, its options, and dates as ISO strings."""
    payload: dict[str, Any] = {"query": query, **extra}
    if filters is not None:
        payload["filters"] = iso_dates(filters)
    if now is not None:
        payload["now"] = iso_dates(now)
    return payload

def unknown_user(resp: httpx.Response) -> bool:
    if resp.status_code != 404:
        return False
    try:
        return bool(resp.json().get("error") == "user_not_found")
    except ValueError:
        return False

