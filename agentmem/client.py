"""HTTP clients for the agentmem sidecar, with the methods (and return types) of :class:`Memory`.

>>> from agentmem.client import MemoryClient
>>> mem = MemoryClient("http://127.0.0.1:8750", api_key="amk_...")        # doctest: +SKIP
>>> mem.add("I adopted a cat named Miso", user_id="ada")                  # doctest: +SKIP
>>> mem.search("what is my cat called?", user_id="ada")[0].text           # doctest: +SKIP
'I adopted a cat named Miso'

:class:`AsyncMemoryClient` has the same methods, each returning an awaitable. Both drive the
same request logic: every method is written once, as a generator that yields HTTP requests
and receives their responses (:class:`_Api`); the two classes differ only in how they send.
Errors are those of :mod:`agentmem.errors` (422 → ``ValidationError``, 404 →
``NotFoundError``, 401/403 → ``AuthError``, 503 or an unreachable server → ``StorageError``).
A user the server does not know reads as an empty memory, exactly as with :class:`Memory`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, unquote

import httpx

from agentmem.errors import (
    AgentMemError,
    AuthError,
    ConfigError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agentmem.recall.filters import with_scopes
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

__all__ = ["AsyncMemoryClient", "MemoryClient"]

T = TypeVar("T")
TENANT_HEADER = "X-Agentmem-Tenant"
DEFAULT_URL = "http://127.0.0.1:8750"
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None


_Ops = Generator[_Request, httpx.Response, T]


def _seg(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def _dt(value: Any) -> Any:
    """Datetimes as ISO strings, also inside filter mappings and lists."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Mapping):
        return {k: _dt(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dt(v) for v in value]
    return value


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _message(m: Any) -> dict[str, Any]:
    """A message in any form :meth:`Memory.add` accepts → the REST ``MessageIn`` shape."""
    if isinstance(m, str):
        return {"role": "user", "content": m}
    if isinstance(m, Message):
        out: dict[str, Any] = {"content": m.content, "speaker": m.speaker, "role": m.role,
                               "metadata": dict(m.metadata)}
        if m.session_id is not None:
            out["session_id"] = m.session_id
        if m.timestamp is not None:
            out["timestamp"] = _dt(m.timestamp)
        return out
    if isinstance(m, Mapping):
        out = {k: m[k] for k in ("role", "speaker", "id", "metadata", "session_id") if m.get(k) is not None}
        content = m.get("content", m.get("text"))
        if content is not None:
            out["content"] = content
        if m.get("timestamp") is not None:
            out["timestamp"] = _dt(m["timestamp"])
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


def _messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str | Mapping | Message) or hasattr(messages, "content"):
        messages = [messages]
    if not isinstance(messages, Iterable):
        raise ValidationError("messages must be a string, a message, or a list of messages")
    return [_message(m) for m in messages]


class _Decode:
    """JSON → the engine's dataclasses."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def turn(self, d: Mapping[str, Any]) -> Turn:
        return Turn(
            id=d["id"], scope=Scope(self.tenant, d["user_id"], d.get("agent_id"), d.get("session_id")),
            content=d["content"], speaker=d["speaker"], role=d["role"],
            timestamp=_parse_dt(d["timestamp"]),  # type: ignore[arg-type]
            seq=int(d["seq"]), content_hash="", metadata=dict(d.get("metadata") or {}),
            created_at=_parse_dt(d.get("created_at")), updated_at=_parse_dt(d.get("updated_at")),
        )

    def hit(self, d: Mapping[str, Any], user_id: str) -> Hit:
        return Hit(
            id=d["id"], kind=d["kind"], text=d["text"], score=float(d["score"]), scope=Scope(self.tenant, user_id),
            timestamp=_parse_dt(d.get("timestamp")), signals=dict(d.get("signals") or {}),
            signal_scores=dict(d.get("signal_scores") or {}), speaker=d.get("speaker"),
            metadata=dict(d.get("metadata") or {}), superseded_by=d.get("superseded_by"),
            contradicts=tuple(d.get("contradicts") or ()),
        )

    def fact(self, d: Mapping[str, Any], user_id: str) -> Fact:
        return Fact(
            id=d["id"], scope=Scope(self.tenant, user_id), subject=d["subject"], relation=d["relation"],
            object=d["object"], negated=bool(d.get("negated")), valid_from=_parse_dt(d.get("valid_from")),
            valid_to=_parse_dt(d.get("valid_to")), source_ids=tuple(d.get("source_ids") or ()),
            superseded_by=d.get("superseded_by"), contradicts=tuple(d.get("contradicts") or ()), text=d.get("text") or "",
        )

    def pack(self, d: Mapping[str, Any], user_id: str) -> ContextPack:
        return ContextPack(
            text=d["text"], hits=tuple(self.hit(h, user_id) for h in d["hits"]),
            citations=tuple(Citation(c["marker"], c["id"], c["kind"], _parse_dt(c.get("timestamp")),
                                     tuple(c["signals"])) for c in d["citations"]),
            tokens=int(d["tokens"]), token_budget=int(d["token_budget"]), dropped=int(d.get("dropped", 0)),
        )

    def event(self, d: Mapping[str, Any], user_id: str) -> HistoryEvent:
        return HistoryEvent(
            id=int(d["id"]), scope=Scope(self.tenant, user_id), record_id=d["record_id"],
            record_kind=d["record_kind"], event=d["event"], before=d.get("before"), after=d.get("after"),
            at=_parse_dt(d["at"]), metadata=dict(d.get("metadata") or {}),  # type: ignore[arg-type]
        )

    def thought(self, d: Mapping[str, Any], user_id: str) -> Thought:
        return Thought(
            id=d["id"], scope=Scope(self.tenant, user_id), text=d["text"], subject=d.get("subject"),
            relation=d.get("relation"), object=d.get("object"), source_ids=tuple(d.get("source_ids") or ()),
            merged_from=tuple(d.get("merged_from") or ()), created_at=_parse_dt(d.get("created_at")),
            updated_at=_parse_dt(d.get("updated_at")), last_recalled_at=_parse_dt(d.get("last_recalled_at")),
            recall_count=int(d.get("recall_count") or 0), valid_from=_parse_dt(d.get("valid_from")),
            valid_to=_parse_dt(d.get("valid_to")),
        )

    def episode(self, d: Mapping[str, Any], user_id: str) -> Episode:
        return Episode(
            id=d["id"], scope=Scope(self.tenant, user_id), turn_ids=tuple(d["turn_ids"]),
            start=_parse_dt(d["start"]), end=_parse_dt(d["end"]),  # type: ignore[arg-type]
            text=d["text"], seq=int(d["seq"]), surprise_mean=float(d.get("surprise_mean", 0.0)),
            surprise_max=float(d.get("surprise_max", 0.0)), boundary_method=d.get("boundary_method", "surprise"),
        )


def _raise_for(resp: httpx.Response) -> None:
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



def _query_payload(query: str, filters: Mapping[str, Any] | None, now: datetime | None, **extra: Any) -> dict[str, Any]:
    """The JSON body of search and recall: the query, its options, and dates as ISO strings."""
    payload: dict[str, Any] = {"query": query, **extra}
    if filters is not None:
        payload["filters"] = _dt(filters)
    if now is not None:
        payload["now"] = _dt(now)
    return payload

def _unknown_user(resp: httpx.Response) -> bool:
    if resp.status_code != 404:
        return False
    try:
        return bool(resp.json().get("error") == "user_not_found")
    except ValueError:
        return False


class _Api:
    """Every :class:`Memory` method, once, as request logic (no I/O here)."""

    def __init__(self, base_url: str | None, api_key: str | None, tenant: str | None) -> None:
        # the documented variables: AGENTMEM_URL and AGENTMEM_API_KEY (arguments win)
        self.base_url = (base_url or os.environ.get("AGENTMEM_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else (os.environ.get("AGENTMEM_API_KEY") or None)
        self.tenant = tenant

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _tenant_headers(self, tenant: str | None) -> dict[str, str]:
        tenant = tenant if tenant is not None else self.tenant
        return {} if tenant is None else {TENANT_HEADER: quote(tenant, safe="")}

    def _run(self, ops: _Ops[T]) -> Any:  # sync: T; async: Awaitable[T]
        raise NotImplementedError

    @staticmethod
    def _decoder(resp: httpx.Response, tenant: str | None) -> _Decode:
        echoed = resp.headers.get(TENANT_HEADER)
        return _Decode(unquote(echoed) if echoed else (tenant or "default"))

    def _call(self, req: _Request) -> Generator[_Request, httpx.Response, tuple[Any, _Decode]]:
        resp = yield req
        _raise_for(resp)
        body = resp.json() if resp.content and resp.headers.get("content-type", "").startswith("application/json") \
            else resp.text
        return body, self._decoder(resp, req.tenant)

    @staticmethod
    def _u(user_id: str) -> str:
        return f"/v1/users/{_seg(user_id, 'user_id')}"

    # -- write ---------------------------------------------------------------------------
    def _add(self, messages: Any, user_id: str, session_id: str | None, agent_id: str | None,
             timestamp: Any, metadata: Mapping[str, Any] | None, tenant: str | None,
             run_id: str | None = None) -> _Ops[list[Turn]]:
        payload: dict[str, Any] = {"messages": _messages(messages)}
        for k, v in (("session_id", session_id), ("run_id", run_id), ("agent_id", agent_id),
                     ("timestamp", _dt(timestamp)),
                     ("metadata", dict(metadata) if metadata is not None else None)):
            if v is not None:
                payload[k] = v
        body, dec = yield from self._call(_Request("POST", f"{self._u(user_id)}/memories", payload, tenant=tenant))
        return [dec.turn(t) for t in body["memories"]]

    def add(self, messages: Any, *, user_id: str, session_id: str | None = None, agent_id: str | None = None,
            run_id: str | None = None, timestamp: datetime | str | float | None = None,
            metadata: Mapping[str, Any] | None = None, tenant: str | None = None) -> list[Turn]:
        """Store messages; returns the turns newly stored (see :meth:`Memory.add`)."""
        return self._run(self._add(messages, user_id, session_id, agent_id, timestamp, metadata, tenant, run_id))  # type: ignore[no-any-return]

    def _add_documents(self, docs: Iterable[Mapping[str, Any]], user_id: str, tenant: str | None) -> _Ops[list[Turn]]:
        documents = []
        for d in docs:
            doc = {k: _dt(v) for k, v in d.items() if k in ("id", "text", "title", "timestamp", "metadata")}
            extra = {k: v for k, v in d.items() if k not in doc}
            if extra:
                doc["metadata"] = {**dict(doc.get("metadata") or {}), **extra}
            if "id" in doc:
                doc["id"] = str(doc["id"])
            documents.append(doc)
        if not documents:
            return []
        body, dec = yield from self._call(
            _Request("POST", f"{self._u(user_id)}/documents", {"documents": documents}, tenant=tenant))
        return [dec.turn(t) for t in body["memories"]]

    def add_documents(self, docs: Iterable[Mapping[str, Any]], *, user_id: str,
                      tenant: str | None = None) -> list[Turn]:
        """Store documents ``{id, text, title?, timestamp?, metadata?}`` as memories."""
        return self._run(self._add_documents(docs, user_id, tenant))  # type: ignore[no-any-return]

    def _update(self, memory_id: str, content: str, user_id: str, metadata: Mapping[str, Any] | None,
                tenant: str | None) -> _Ops[Turn]:
        payload: dict[str, Any] = {"content": content}
        if metadata is not None:
            payload["metadata"] = dict(metadata)
        path = f"{self._u(user_id)}/memories/{_seg(memory_id, 'memory_id')}"
        body, dec = yield from self._call(_Request("PATCH", path, payload, tenant=tenant))
        return dec.turn(body)

    def update(self, memory_id: str, content: str, *, user_id: str, metadata: Mapping[str, Any] | None = None,
               tenant: str | None = None) -> Turn:
        """Replace a memory's text (and optionally metadata)."""
        return self._run(self._update(memory_id, content, user_id, metadata, tenant))  # type: ignore[no-any-return]

    def _delete(self, memory_id: str, user_id: str, tenant: str | None) -> _Ops[None]:
        path = f"{self._u(user_id)}/memories/{_seg(memory_id, 'memory_id')}"
        yield from self._call(_Request("DELETE", path, tenant=tenant))
        return None

    def delete(self, memory_id: str, *, user_id: str, tenant: str | None = None) -> None:
        """Delete one memory (:class:`NotFoundError` if it is not there)."""
        self._run(self._delete(memory_id, user_id, tenant))

    def _delete_many(self, ids: Sequence[str], user_id: str, tenant: str | None, missing_ok: bool) -> _Ops[int]:
        ids = list(ids)
        n = 0
        for i in range(0, len(ids), _PAGE):
            req = _Request("POST", f"{self._u(user_id)}/memories/delete", {"ids": ids[i:i + _PAGE]}, tenant=tenant)
            resp = yield req
            if _unknown_user(resp):
                break
            _raise_for(resp)
            n += int(resp.json()["deleted"])
        if n == 0 and not missing_ok and ids:
            raise NotFoundError(f"no memory {ids[0]!r} for user {user_id!r}")
        return n

    def delete_many(self, memory_ids: Sequence[str], *, user_id: str, tenant: str | None = None,
                    missing_ok: bool = True) -> int:
        """Delete several memories; returns how many were deleted."""
        return self._run(self._delete_many(memory_ids, user_id, tenant, missing_ok))  # type: ignore[no-any-return]

    def _delete_user(self, user_id: str, tenant: str | None) -> _Ops[int]:
        resp = yield _Request("DELETE", self._u(user_id), tenant=tenant)
        if _unknown_user(resp):
            return 0
        _raise_for(resp)
        return int(resp.json()["deleted"])

    def delete_user(self, user_id: str, *, tenant: str | None = None) -> int:
        """Remove a user and everything derived from them; returns memories removed."""
        return self._run(self._delete_user(user_id, tenant))  # type: ignore[no-any-return]

    # -- read ----------------------------------------------------------------------------
    def _get(self, memory_id: str, user_id: str, tenant: str | None) -> _Ops[Turn]:
        path = f"{self._u(user_id)}/memories/{_seg(memory_id, 'memory_id')}"
        body, dec = yield from self._call(_Request("GET", path, tenant=tenant))
        return dec.turn(body)

    def get(self, memory_id: str, *, user_id: str, tenant: str | None = None) -> Turn:
        """One memory by id."""
        return self._run(self._get(memory_id, user_id, tenant))  # type: ignore[no-any-return]

    def _memories(self, user_id: str, session_id: str | None, after: int | None, limit: int | None,
                  tenant: str | None, filters: Mapping[str, Any] | None = None) -> _Ops[list[Turn]]:
        out: list[Turn] = []
        cursor = after
        while limit is None or len(out) < limit:
            params: dict[str, Any] = {"limit": min(_PAGE, limit - len(out)) if limit is not None else _PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            if session_id is not None:
                params["session_id"] = session_id
            if filters is not None:
                params["filters"] = json.dumps(_dt(filters))
            resp = yield _Request("GET", f"{self._u(user_id)}/memories", params=params, tenant=tenant)
            if _unknown_user(resp):
                break
            _raise_for(resp)
            body = resp.json()
            dec = self._decoder(resp, tenant)
            out += [dec.turn(t) for t in body["items"]]
            cursor = body.get("next_cursor")
            if cursor is None:
                break
        return out

    def memories(self, *, user_id: str, session_id: str | None = None, after: int | None = None,
                 limit: int | None = None, filters: Mapping[str, Any] | None = None,
                 tenant: str | None = None, agent_id: str | None = None,
                 run_id: str | None = None) -> list[Turn]:
        """A user's memories in order; ``after`` is a cursor (the last ``seq`` seen)."""
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._run(self._memories(user_id, session_id, after, limit, tenant, filters))  # type: ignore[no-any-return]

    def _history(self, memory_id: str | None, user_id: str, tenant: str | None) -> _Ops[list[HistoryEvent]]:
        path = f"{self._u(user_id)}/history" if memory_id is None else \
            f"{self._u(user_id)}/memories/{_seg(memory_id, 'memory_id')}/history"
        resp = yield _Request("GET", path, tenant=tenant)
        if resp.status_code == 404:  # unknown user or memory: no events, as with Memory
            return []
        _raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.event(e, user_id) for e in resp.json()["events"]]

    def history(self, memory_id: str | None = None, *, user_id: str,
                tenant: str | None = None) -> list[HistoryEvent]:
        """The audit log of a memory (or of the whole user)."""
        return self._run(self._history(memory_id, user_id, tenant))  # type: ignore[no-any-return]

    def _search(self, query: str, user_id: str, k: int, filters: Mapping[str, Any] | None,
                now: datetime | None, tenant: str | None) -> _Ops[list[Hit]]:
        payload = _query_payload(query, filters, now, k=k)
        resp = yield _Request("POST", f"{self._u(user_id)}/search", payload, tenant=tenant)
        if _unknown_user(resp):
            return []
        _raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.hit(h, user_id) for h in resp.json()["hits"]]

    def search(self, query: str, *, user_id: str, k: int = 10, filters: Mapping[str, Any] | None = None,
               now: datetime | None = None, tenant: str | None = None, agent_id: str | None = None,
               run_id: str | None = None) -> list[Hit]:
        """The ``k`` memories most relevant to ``query``."""
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._run(self._search(query, user_id, k, filters, now, tenant))  # type: ignore[no-any-return]

    def _recall(self, query: str, user_id: str, token_budget: int, k: int, filters: Mapping[str, Any] | None,
                now: datetime | None, tenant: str | None) -> _Ops[ContextPack]:
        payload = _query_payload(query, filters, now, token_budget=token_budget, k=k)
        resp = yield _Request("POST", f"{self._u(user_id)}/recall", payload, tenant=tenant)
        if _unknown_user(resp):
            return ContextPack("", (), (), 0, token_budget)
        _raise_for(resp)
        return self._decoder(resp, tenant).pack(resp.json(), user_id)

    def recall(self, query: str, *, user_id: str, token_budget: int = 1000, k: int = 20,
               filters: Mapping[str, Any] | None = None, now: datetime | None = None,
               tenant: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> ContextPack:
        """Search, then pack the hits into ``token_budget`` tokens with citations."""
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._run(self._recall(query, user_id, token_budget, k, filters, now, tenant))  # type: ignore[no-any-return]

    def _episodes(self, user_id: str, session_id: str | None, tenant: str | None) -> _Ops[list[Episode]]:
        params = {} if session_id is None else {"session_id": session_id}
        resp = yield _Request("GET", f"{self._u(user_id)}/episodes", params=params, tenant=tenant)
        if _unknown_user(resp):
            return []
        _raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.episode(e, user_id) for e in resp.json()["episodes"]]

    def episodes(self, *, user_id: str, session_id: str | None = None, tenant: str | None = None) -> list[Episode]:
        """A user's episodes (:class:`ConfigError` when the server has no episodic memory)."""
        return self._run(self._episodes(user_id, session_id, tenant))  # type: ignore[no-any-return]

    # -- thoughts ------------------------------------------------------------------------
    def _think(self, query: str, response: str, user_id: str, source_ids: Sequence[str], now: datetime | None,
               tenant: str | None) -> _Ops[list[Thought]]:
        payload: dict[str, Any] = {"query": query, "response": response, "source_ids": list(source_ids)}
        if now is not None:
            payload["now"] = _dt(now)
        body, dec = yield from self._call(_Request("POST", f"{self._u(user_id)}/thoughts", payload, tenant=tenant))
        return [dec.thought(t, user_id) for t in body["thoughts"]]

    def think(self, query: str, response: str, *, user_id: str, source_ids: Sequence[str] = (),
              chat_model: Any = None, now: datetime | None = None, tenant: str | None = None) -> list[Thought]:
        """Post-thinking on the server (with its configured chat model; ``chat_model`` must be None)."""
        if chat_model is not None:
            raise ValidationError("a remote memory uses the server's chat model: pass chat_model=None")
        return self._run(self._think(query, response, user_id, source_ids, now, tenant))  # type: ignore[no-any-return]

    def _thoughts(self, user_id: str, include_forgotten: bool, tenant: str | None) -> _Ops[list[Thought]]:
        params = {"include_forgotten": str(include_forgotten).lower()}
        resp = yield _Request("GET", f"{self._u(user_id)}/thoughts", params=params, tenant=tenant)
        if _unknown_user(resp):
            return []
        _raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.thought(t, user_id) for t in resp.json()["thoughts"]]

    def thoughts(self, *, user_id: str, include_forgotten: bool = False, tenant: str | None = None) -> list[Thought]:
        """A user's thoughts."""
        return self._run(self._thoughts(user_id, include_forgotten, tenant))  # type: ignore[no-any-return]

    def _forget(self, thought_id: str, user_id: str, tenant: str | None) -> _Ops[Thought]:
        path = f"{self._u(user_id)}/thoughts/{_seg(thought_id, 'thought_id')}"
        body, dec = yield from self._call(_Request("DELETE", path, tenant=tenant))
        return dec.thought(body, user_id)

    def forget_thought(self, thought_id: str, *, user_id: str, tenant: str | None = None) -> Thought:
        """End a thought's validity."""
        return self._run(self._forget(thought_id, user_id, tenant))  # type: ignore[no-any-return]

    # -- facts ---------------------------------------------------------------------------
    def _facts(self, user_id: str, subject: str | None, include_past: bool, tenant: str | None) -> _Ops[list[Fact]]:
        params = {"include_past": str(include_past).lower()} | ({"subject": subject} if subject is not None else {})
        resp = yield _Request("GET", f"{self._u(user_id)}/facts", params=params, tenant=tenant)
        if _unknown_user(resp):
            return []
        _raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.fact(f, user_id) for f in resp.json()["facts"]]

    def facts(self, *, user_id: str, subject: str | None = None, include_past: bool = False,
              tenant: str | None = None) -> list[Fact]:
        """A user's facts (current ones; every one with ``include_past``)."""
        return self._run(self._facts(user_id, subject, include_past, tenant))  # type: ignore[no-any-return]

    # -- export / import -----------------------------------------------------------------
    def _export(self, dest: str | Path | IO[str], user_id: str, tenant: str | None) -> _Ops[int]:
        resp = yield _Request("GET", f"{self._u(user_id)}/export", tenant=tenant)
        text = ""
        if not _unknown_user(resp):
            _raise_for(resp)
            text = resp.text
        if isinstance(dest, str | Path):
            Path(dest).write_text(text, encoding="utf-8")
        else:
            dest.write(text)
        return sum(1 for line in text.splitlines() if line.strip())

    def export(self, dest: str | Path | IO[str], *, user_id: str, tenant: str | None = None) -> int:
        """Write a user's memories as JSONL; returns the count."""
        return self._run(self._export(dest, user_id, tenant))  # type: ignore[no-any-return]

    def _import(self, src: str | Path | IO[str], user_id: str, tenant: str | None) -> _Ops[int]:
        text = Path(src).read_text(encoding="utf-8") if isinstance(src, str | Path) else src.read()
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"line {n}: not JSON ({exc.msg})") from exc
        added = 0
        for i in range(0, len(records), _PAGE):
            body, _ = yield from self._call(
                _Request("POST", f"{self._u(user_id)}/import", {"records": records[i:i + _PAGE]}, tenant=tenant))
            added += int(body["imported"])
        return added

    def import_(self, src: str | Path | IO[str], *, user_id: str, tenant: str | None = None) -> int:
        """Load JSONL written by :meth:`export`; idempotent."""
        return self._run(self._import(src, user_id, tenant))  # type: ignore[no-any-return]


class MemoryClient(_Api):
    """Blocking client: ``MemoryClient(base_url, api_key)`` has :class:`Memory`'s methods.

    ``base_url`` defaults to ``$AGENTMEM_URL`` or ``http://127.0.0.1:8750``; ``api_key`` to
    ``$AGENTMEM_API_KEY`` (none: for a sidecar started with ``--no-auth``).

    ``tenant``: optional; when set, every request asserts that the key belongs to it (with
    auth disabled on the server it selects the tenant). ``transport``: an ``httpx`` transport
    (e.g. ``httpx.MockTransport`` in tests).
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 tenant: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, tenant)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=timeout,
                                  transport=transport)

    def _run(self, ops: _Ops[T]) -> T:
        try:
            req = next(ops)
            while True:
                try:
                    resp = self._http.request(req.method, req.path, json=req.json, params=req.params or None,
                                              headers=self._tenant_headers(req.tenant))
                except httpx.TransportError as exc:
                    raise StorageError(f"cannot reach agentmem at {self.base_url}: {exc}") from exc
                req = ops.send(resp)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMemoryClient(_Api):
    """Asyncio client: the same methods as :class:`MemoryClient`, each to be awaited."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 tenant: str | None = None, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, tenant)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=timeout,
                                       transport=transport)

    async def _drive(self, ops: _Ops[T]) -> T:
        try:
            req = next(ops)
            while True:
                try:
                    resp = await self._http.request(req.method, req.path, json=req.json, params=req.params or None,
                                                    headers=self._tenant_headers(req.tenant))
                except httpx.TransportError as exc:
                    raise StorageError(f"cannot reach agentmem at {self.base_url}: {exc}") from exc
                req = ops.send(resp)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _run(self, ops: _Ops[T]) -> Any:
        return self._drive(ops)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
