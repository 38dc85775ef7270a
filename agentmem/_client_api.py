"""Every :class:`agentmem.Memory` method of the HTTP clients, written once as request logic.

Each operation is a generator that yields :class:`~agentmem._client_wire.Request` values and
receives their ``httpx.Response``; :class:`Api` runs it through ``_run``, which the blocking
and the asyncio client (:mod:`agentmem.client`) implement.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, unquote

import httpx

from agentmem._client_wire import (
    DEFAULT_URL,
    PAGE,
    TENANT_HEADER,
    Decode,
    Ops,
    Request,
    iso_dates,
    messages_json,
    query_payload,
    raise_for,
    seg,
    unknown_user,
)
from agentmem.errors import (
    NotFoundError,
    ValidationError,
)
from agentmem.recall.filters import with_scopes
from agentmem.types import (
    ContextPack,
    Episode,
    Fact,
    HistoryEvent,
    Hit,
    Thought,
    Turn,
)

__all__ = ["Api"]

T = TypeVar("T")


class Api:
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

    def _run(self, ops: Ops[T]) -> Any:  # sync: T; async: Awaitable[T]
        raise NotImplementedError

    @staticmethod
    def _decoder(resp: httpx.Response, tenant: str | None) -> Decode:
        echoed = resp.headers.get(TENANT_HEADER)
        return Decode(unquote(echoed) if echoed else (tenant or "default"))

    def _call(self, req: Request) -> Generator[Request, httpx.Response, tuple[Any, Decode]]:
        resp = yield req
        raise_for(resp)
        body = resp.json() if resp.content and resp.headers.get("content-type", "").startswith("application/json") \
            else resp.text
        return body, self._decoder(resp, req.tenant)

    @staticmethod
    def _u(user_id: str) -> str:
        return f"/v1/users/{seg(user_id, 'user_id')}"

    # -- write ---------------------------------------------------------------------------
    def _add(self, messages: Any, user_id: str, session_id: str | None, agent_id: str | None,
             timestamp: Any, metadata: Mapping[str, Any] | None, tenant: str | None,
             run_id: str | None = None) -> Ops[list[Turn]]:
        payload: dict[str, Any] = {"messages": messages_json(messages)}
        for k, v in (("session_id", session_id), ("run_id", run_id), ("agent_id", agent_id),
                     ("timestamp", iso_dates(timestamp)),
                     ("metadata", dict(metadata) if metadata is not None else None)):
            if v is not None:
                payload[k] = v
        body, dec = yield from self._call(Request("POST", f"{self._u(user_id)}/memories", payload, tenant=tenant))
        return [dec.turn(t) for t in body["memories"]]

    def add(self, messages: Any, *, user_id: str, session_id: str | None = None, agent_id: str | None = None,
            run_id: str | None = None, timestamp: datetime | str | float | None = None,
            metadata: Mapping[str, Any] | None = None, tenant: str | None = None) -> list[Turn]:
        """Store messages; returns the turns newly stored (see :meth:`Memory.add`)."""
        return self._run(self._add(messages, user_id, session_id, agent_id, timestamp, metadata, tenant, run_id))  # type: ignore[no-any-return]

    def _add_documents(self, docs: Iterable[Mapping[str, Any]], user_id: str, tenant: str | None) -> Ops[list[Turn]]:
        documents = []
        for d in docs:
            doc = {k: iso_dates(v) for k, v in d.items() if k in ("id", "text", "title", "timestamp", "metadata")}
            extra = {k: v for k, v in d.items() if k not in doc}
            if extra:
                doc["metadata"] = {**dict(doc.get("metadata") or {}), **extra}
            if "id" in doc:
                doc["id"] = str(doc["id"])
            documents.append(doc)
        if not documents:
            return []
        body, dec = yield from self._call(
            Request("POST", f"{self._u(user_id)}/documents", {"documents": documents}, tenant=tenant))
        return [dec.turn(t) for t in body["memories"]]

    def add_documents(self, docs: Iterable[Mapping[str, Any]], *, user_id: str,
                      tenant: str | None = None) -> list[Turn]:
        """Store documents ``{id, text, title?, timestamp?, metadata?}`` as memories."""
        return self._run(self._add_documents(docs, user_id, tenant))  # type: ignore[no-any-return]

    def _update(self, memory_id: str, content: str, user_id: str, metadata: Mapping[str, Any] | None,
                tenant: str | None) -> Ops[Turn]:
        payload: dict[str, Any] = {"content": content}
        if metadata is not None:
            payload["metadata"] = dict(metadata)
        path = f"{self._u(user_id)}/memories/{seg(memory_id, 'memory_id')}"
        body, dec = yield from self._call(Request("PATCH", path, payload, tenant=tenant))
        return dec.turn(body)

    def update(self, memory_id: str, content: str, *, user_id: str, metadata: Mapping[str, Any] | None = None,
               tenant: str | None = None) -> Turn:
        """Replace a memory's text (and optionally metadata)."""
        return self._run(self._update(memory_id, content, user_id, metadata, tenant))  # type: ignore[no-any-return]

    def _delete(self, memory_id: str, user_id: str, tenant: str | None) -> Ops[None]:
        path = f"{self._u(user_id)}/memories/{seg(memory_id, 'memory_id')}"
        yield from self._call(Request("DELETE", path, tenant=tenant))
        return None

    def delete(self, memory_id: str, *, user_id: str, tenant: str | None = None) -> None:
        """Delete one memory (:class:`NotFoundError` if it is not there)."""
        self._run(self._delete(memory_id, user_id, tenant))

    def _delete_many(self, ids: Sequence[str], user_id: str, tenant: str | None, missing_ok: bool) -> Ops[int]:
        ids = list(ids)
        n = 0
        for i in range(0, len(ids), PAGE):
            req = Request("POST", f"{self._u(user_id)}/memories/delete", {"ids": ids[i:i + PAGE]}, tenant=tenant)
            resp = yield req
            if unknown_user(resp):
                break
            raise_for(resp)
            n += int(resp.json()["deleted"])
        if n == 0 and not missing_ok and ids:
            raise NotFoundError(f"no memory {ids[0]!r} for user {user_id!r}")
        return n

    def delete_many(self, memory_ids: Sequence[str], *, user_id: str, tenant: str | None = None,
                    missing_ok: bool = True) -> int:
        """Delete several memories; returns how many were deleted."""
        return self._run(self._delete_many(memory_ids, user_id, tenant, missing_ok))  # type: ignore[no-any-return]

    def _delete_user(self, user_id: str, tenant: str | None) -> Ops[int]:
        resp = yield Request("DELETE", self._u(user_id), tenant=tenant)
        if unknown_user(resp):
            return 0
        raise_for(resp)
        return int(resp.json()["deleted"])

    def delete_user(self, user_id: str, *, tenant: str | None = None) -> int:
        """Remove a user and everything derived from them; returns memories removed."""
        return self._run(self._delete_user(user_id, tenant))  # type: ignore[no-any-return]

    # -- read ----------------------------------------------------------------------------
    def _get(self, memory_id: str, user_id: str, tenant: str | None) -> Ops[Turn]:
        path = f"{self._u(user_id)}/memories/{seg(memory_id, 'memory_id')}"
        body, dec = yield from self._call(Request("GET", path, tenant=tenant))
        return dec.turn(body)

    def get(self, memory_id: str, *, user_id: str, tenant: str | None = None) -> Turn:
        """One memory by id."""
        return self._run(self._get(memory_id, user_id, tenant))  # type: ignore[no-any-return]

    def _memories(self, user_id: str, session_id: str | None, after: int | None, limit: int | None,
                  tenant: str | None, filters: Mapping[str, Any] | None = None) -> Ops[list[Turn]]:
        out: list[Turn] = []
        cursor = after
        while limit is None or len(out) < limit:
            params: dict[str, Any] = {"limit": min(PAGE, limit - len(out)) if limit is not None else PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            if session_id is not None:
                params["session_id"] = session_id
            if filters is not None:
                params["filters"] = json.dumps(iso_dates(filters))
            resp = yield Request("GET", f"{self._u(user_id)}/memories", params=params, tenant=tenant)
            if unknown_user(resp):
                break
            raise_for(resp)
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

    def _history(self, memory_id: str | None, user_id: str, tenant: str | None) -> Ops[list[HistoryEvent]]:
        path = f"{self._u(user_id)}/history" if memory_id is None else \
            f"{self._u(user_id)}/memories/{seg(memory_id, 'memory_id')}/history"
        resp = yield Request("GET", path, tenant=tenant)
        if resp.status_code == 404:  # unknown user or memory: no events, as with Memory
            return []
        raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.event(e, user_id) for e in resp.json()["events"]]

    def history(self, memory_id: str | None = None, *, user_id: str,
                tenant: str | None = None) -> list[HistoryEvent]:
        """The audit log of a memory (or of the whole user)."""
        return self._run(self._history(memory_id, user_id, tenant))  # type: ignore[no-any-return]

    def _search(self, query: str, user_id: str, k: int, filters: Mapping[str, Any] | None,
                now: datetime | None, tenant: str | None) -> Ops[list[Hit]]:
        payload = query_payload(query, filters, now, k=k)
        resp = yield Request("POST", f"{self._u(user_id)}/search", payload, tenant=tenant)
        if unknown_user(resp):
            return []
        raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.hit(h, user_id) for h in resp.json()["hits"]]

    def search(self, query: str, *, user_id: str, k: int = 10, filters: Mapping[str, Any] | None = None,
               now: datetime | None = None, tenant: str | None = None, agent_id: str | None = None,
               run_id: str | None = None) -> list[Hit]:
        """The ``k`` memories most relevant to ``query``."""
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._run(self._search(query, user_id, k, filters, now, tenant))  # type: ignore[no-any-return]

    def _recall(self, query: str, user_id: str, token_budget: int, k: int, filters: Mapping[str, Any] | None,
                now: datetime | None, tenant: str | None) -> Ops[ContextPack]:
        payload = query_payload(query, filters, now, token_budget=token_budget, k=k)
        resp = yield Request("POST", f"{self._u(user_id)}/recall", payload, tenant=tenant)
        if unknown_user(resp):
            return ContextPack("", (), (), 0, token_budget)
        raise_for(resp)
        return self._decoder(resp, tenant).pack(resp.json(), user_id)

    def recall(self, query: str, *, user_id: str, token_budget: int = 1000, k: int = 20,
               filters: Mapping[str, Any] | None = None, now: datetime | None = None,
               tenant: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> ContextPack:
        """Search, then pack the hits into ``token_budget`` tokens with citations."""
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._run(self._recall(query, user_id, token_budget, k, filters, now, tenant))  # type: ignore[no-any-return]

    def _episodes(self, user_id: str, session_id: str | None, tenant: str | None) -> Ops[list[Episode]]:
        params = {} if session_id is None else {"session_id": session_id}
        resp = yield Request("GET", f"{self._u(user_id)}/episodes", params=params, tenant=tenant)
        if unknown_user(resp):
            return []
        raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.episode(e, user_id) for e in resp.json()["episodes"]]

    def episodes(self, *, user_id: str, session_id: str | None = None, tenant: str | None = None) -> list[Episode]:
        """A user's episodes (:class:`ConfigError` when the server has no episodic memory)."""
        return self._run(self._episodes(user_id, session_id, tenant))  # type: ignore[no-any-return]

    # -- thoughts ------------------------------------------------------------------------
    def _think(self, query: str, response: str, user_id: str, source_ids: Sequence[str], now: datetime | None,
               tenant: str | None) -> Ops[list[Thought]]:
        payload: dict[str, Any] = {"query": query, "response": response, "source_ids": list(source_ids)}
        if now is not None:
            payload["now"] = iso_dates(now)
        body, dec = yield from self._call(Request("POST", f"{self._u(user_id)}/thoughts", payload, tenant=tenant))
        return [dec.thought(t, user_id) for t in body["thoughts"]]

    def think(self, query: str, response: str, *, user_id: str, source_ids: Sequence[str] = (),
              chat_model: Any = None, now: datetime | None = None, tenant: str | None = None) -> list[Thought]:
        """Post-thinking on the server (with its configured chat model; ``chat_model`` must be None)."""
        if chat_model is not None:
            raise ValidationError("a remote memory uses the server's chat model: pass chat_model=None")
        return self._run(self._think(query, response, user_id, source_ids, now, tenant))  # type: ignore[no-any-return]

    def _thoughts(self, user_id: str, include_forgotten: bool, tenant: str | None) -> Ops[list[Thought]]:
        params = {"include_forgotten": str(include_forgotten).lower()}
        resp = yield Request("GET", f"{self._u(user_id)}/thoughts", params=params, tenant=tenant)
        if unknown_user(resp):
            return []
        raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.thought(t, user_id) for t in resp.json()["thoughts"]]

    def thoughts(self, *, user_id: str, include_forgotten: bool = False, tenant: str | None = None) -> list[Thought]:
        """A user's thoughts."""
        return self._run(self._thoughts(user_id, include_forgotten, tenant))  # type: ignore[no-any-return]

    def _forget(self, thought_id: str, user_id: str, tenant: str | None) -> Ops[Thought]:
        path = f"{self._u(user_id)}/thoughts/{seg(thought_id, 'thought_id')}"
        body, dec = yield from self._call(Request("DELETE", path, tenant=tenant))
        return dec.thought(body, user_id)

    def forget_thought(self, thought_id: str, *, user_id: str, tenant: str | None = None) -> Thought:
        """End a thought's validity."""
        return self._run(self._forget(thought_id, user_id, tenant))  # type: ignore[no-any-return]

    # -- facts ---------------------------------------------------------------------------
    def _facts(self, user_id: str, subject: str | None, include_past: bool, tenant: str | None) -> Ops[list[Fact]]:
        params = {"include_past": str(include_past).lower()} | ({"subject": subject} if subject is not None else {})
        resp = yield Request("GET", f"{self._u(user_id)}/facts", params=params, tenant=tenant)
        if unknown_user(resp):
            return []
        raise_for(resp)
        dec = self._decoder(resp, tenant)
        return [dec.fact(f, user_id) for f in resp.json()["facts"]]

    def facts(self, *, user_id: str, subject: str | None = None, include_past: bool = False,
              tenant: str | None = None) -> list[Fact]:
        """A user's facts (current ones; every one with ``include_past``)."""
        return self._run(self._facts(user_id, subject, include_past, tenant))  # type: ignore[no-any-return]

    # -- export / import -----------------------------------------------------------------
    def _export(self, dest: str | Path | IO[str], user_id: str, tenant: str | None) -> Ops[int]:
        resp = yield Request("GET", f"{self._u(user_id)}/export", tenant=tenant)
        text = ""
        if not unknown_user(resp):
            raise_for(resp)
            text = resp.text
        if isinstance(dest, str | Path):
            Path(dest).write_text(text, encoding="utf-8")
        else:
            dest.write(text)
        return sum(1 for line in text.splitlines() if line.strip())

    def export(self, dest: str | Path | IO[str], *, user_id: str, tenant: str | None = None) -> int:
        """Write a user's memories as JSONL; returns the count."""
        return self._run(self._export(dest, user_id, tenant))  # type: ignore[no-any-return]

    def _import(self, src: str | Path | IO[str], user_id: str, tenant: str | None) -> Ops[int]:
        text = Path(src).read_text(encoding="utf-8") if isinstance(src, str | Path) else src.read()
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"line {n}: not JSON ({exc.msg})") from exc
        added = 0
        for i in range(0, len(records), PAGE):
            body, _ = yield from self._call(
                Request("POST", f"{self._u(user_id)}/import", {"records": records[i:i + PAGE]}, tenant=tenant))
            added += int(body["imported"])
        return added

    def import_(self, src: str | Path | IO[str], *, user_id: str, tenant: str | None = None) -> int:
        """Load JSONL written by :meth:`export`; idempotent."""
        return self._run(self._import(src, user_id, tenant))  # type: ignore[no-any-return]

