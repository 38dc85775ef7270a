"""REST routes under ``/v1``: one user's memories, search, recall, thoughts, facts, episodes, keys.

Every data route takes the caller's tenant from its API key and a ``user_id`` from the path;
a user that does not exist in that tenant (including another tenant's user) is a 404, as is
a memory or thought id outside it. Sync engine calls run in FastAPI's threadpool (the route
functions are plain ``def``), so the event loop never blocks on them.
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException

from agentmem.errors import NotFoundError, ValidationError
from agentmem.server import schemas as s
from agentmem.server.auth import Principal, UnknownUserError, admin, tenant

__all__ = ["router", "store_counts"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorOut} for code in (401, 403, 404, 413, 422, 503)
}
router = APIRouter(prefix="/v1", responses=_ERRORS)

_ID = r"^[^\x00]*\S[^\x00]*$"
# Annotated aliases, not shared Path() defaults: FastAPI binds a Path() object to one name.
UserId = Annotated[str, Path(min_length=1, max_length=255, pattern=_ID, description="the user's id")]
MemoryId = Annotated[str, Path(min_length=1, max_length=255, pattern=_ID)]
ThoughtId = Annotated[str, Path(min_length=1, max_length=255, pattern=_ID)]
KeyId = Annotated[str, Path(min_length=1, max_length=255, pattern=_ID)]
Tenant = Depends(tenant)
Admin = Depends(admin)


def _memory(request: Request) -> Any:
    return request.app.state.memory


def require_user(memory: Any, tenant: str, user_id: str) -> None:
    """404 unless ``user_id`` exists in ``tenant`` (so another tenant's users are not found)."""
    if not memory.maintenance.has_user(tenant, user_id):
        raise UnknownUserError(f"no user {user_id!r}")


def store_counts(memory: Any) -> dict[str, int]:
    """Rows in the store across tenants (for ``/metrics``)."""
    counts: dict[str, int] = memory.maintenance.row_counts()
    counts["store_items"] = memory.items.count()  # items are turns (agentmem.items)
    return counts


def _admit(request: Request, tenant: str, texts: list[str]) -> None:
    """The cost cap of one write request and the tenant's quota (ServerSettings)."""
    settings = request.app.state.settings
    if len(texts) > settings.max_request_messages:
        raise HTTPException(413, f"{len(texts)} messages in one request (limit {settings.max_request_messages})")
    chars = sum(len(t) for t in texts)
    if chars > settings.max_request_chars:
        raise HTTPException(413, f"{chars} characters in one request (limit {settings.max_request_chars})")
    if settings.tenant_quota:
        held = _memory(request).maintenance.memory_count(tenant)
        if held + len(texts) > settings.tenant_quota:
            raise HTTPException(403, f"the tenant's quota of {settings.tenant_quota} memories is reached")


def _filters(f: dict[str, Any] | None) -> dict[str, Any] | None:
    return f


def _query_filters(raw: str | None) -> dict[str, Any] | None:
    """The ``filters`` query parameter: a JSON object of the filter dialect."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"filters is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValidationError("filters must be a JSON object")
    return value


# -- users --------------------------------------------------------------------------------
@router.get("/users", tags=["users"])
def list_users(request: Request, tenant: str = Tenant) -> dict[str, list[str]]:
    """The users of the caller's tenant."""
    return {"users": _memory(request).maintenance.users(tenant)}


@router.delete("/users/{user_id}", response_model=s.CountOut, tags=["users"])
def delete_user(request: Request, user_id: UserId, tenant: str = Tenant) -> s.CountOut:
    """Delete a user and everything derived from them (turns, episodes, graph, thoughts, facts, items)."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    return s.CountOut(deleted=mem.delete_user(user_id, tenant=tenant))


# -- memories -----------------------------------------------------------------------------
@router.post("/users/{user_id}/memories", response_model=s.AddResponse, status_code=201, tags=["memories"])
def add_messages(body: s.AddRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> s.AddResponse:
    """Store conversation messages; re-sent messages are stored once (idempotent)."""
    _admit(request, tenant, [m.content for m in body.messages])
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    turns = _memory(request).add(
        messages, user_id=user_id, session_id=body.session_id, run_id=body.run_id, agent_id=body.agent_id,
        timestamp=body.timestamp, metadata=body.metadata, tenant=tenant,
    )
    return s.AddResponse(added=len(turns), memories=[s.memory_out(t) for t in turns])


@router.post("/users/{user_id}/documents", response_model=s.AddResponse, status_code=201, tags=["memories"])
def add_documents(
    body: s.AddDocumentsRequest, request: Request, user_id: UserId, tenant: str = Tenant
) -> s.AddResponse:
    """Store documents (``{id, text, title?, timestamp?, metadata?}``) as memories."""
    _admit(request, tenant, [d.text for d in body.documents])
    docs = [d.model_dump(exclude_none=True) for d in body.documents]
    turns = _memory(request).add_documents(docs, user_id=user_id, tenant=tenant)
    return s.AddResponse(added=len(turns), memories=[s.memory_out(t) for t in turns])


@router.get("/users/{user_id}/memories", response_model=s.MemoryPage, tags=["memories"])
def list_memories(
    request: Request,
    user_id: UserId,
    session_id: str | None = Query(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    cursor: int | None = Query(default=None, ge=0, le=2**62, description="next_cursor of the previous page"),
    limit: int = Query(default=100, ge=1, le=1000),
    filters: str | None = Query(default=None, max_length=10_000,
                                description='a JSON filter object, as in search (e.g. {"agent_id": "bot"})'),
    tenant: str = Tenant,
) -> s.MemoryPage:
    """A user's memories in insertion order, one page at a time."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    turns = mem.memories(user_id=user_id, session_id=session_id, after=cursor, limit=limit + 1,
                         filters=_query_filters(filters), tenant=tenant)
    more = len(turns) > limit
    turns = turns[:limit]
    return s.MemoryPage(items=[s.memory_out(t) for t in turns], next_cursor=turns[-1].seq if more else None)


@router.post("/users/{user_id}/memories/delete", response_model=s.CountOut, tags=["memories"])
def delete_memories(
    body: s.DeleteManyRequest, request: Request, user_id: UserId, tenant: str = Tenant
) -> s.CountOut:
    """Delete several memories at once; ids not found are skipped."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    return s.CountOut(deleted=mem.delete_many(body.ids, user_id=user_id, tenant=tenant))


@router.get("/users/{user_id}/memories/{memory_id}", response_model=s.MemoryOut, tags=["memories"])
def get_memory(request: Request, user_id: UserId, memory_id: MemoryId, tenant: str = Tenant) -> s.MemoryOut:
    """One memory."""
    return s.memory_out(_memory(request).get(memory_id, user_id=user_id, tenant=tenant))


@router.patch("/users/{user_id}/memories/{memory_id}", response_model=s.MemoryOut, tags=["memories"])
def update_memory(
    body: s.UpdateRequest, request: Request, user_id: UserId, memory_id: MemoryId, tenant: str = Tenant
) -> s.MemoryOut:
    """Replace a memory's text (and metadata); logged as UPDATE."""
    turn = _memory(request).update(memory_id, body.content, user_id=user_id, metadata=body.metadata, tenant=tenant)
    return s.memory_out(turn)


@router.delete("/users/{user_id}/memories/{memory_id}", status_code=204, tags=["memories"])
def delete_memory(request: Request, user_id: UserId, memory_id: MemoryId, tenant: str = Tenant) -> Response:
    """Delete one memory; logged as DELETE."""
    _memory(request).delete(memory_id, user_id=user_id, tenant=tenant)
    return Response(status_code=204)


@router.get("/users/{user_id}/memories/{memory_id}/history", response_model=s.HistoryResponse, tags=["memories"])
def memory_history(
    request: Request, user_id: UserId, memory_id: MemoryId, tenant: str = Tenant
) -> s.HistoryResponse:
    """The audit log (ADD / UPDATE / DELETE) of one memory."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    events = mem.history(memory_id, user_id=user_id, tenant=tenant)
    if not events:
        raise NotFoundError(f"no memory {memory_id!r}")
    return s.HistoryResponse(events=[s.history_out(e) for e in events])


@router.get("/users/{user_id}/history", response_model=s.HistoryResponse, tags=["memories"])
def user_history(request: Request, user_id: UserId, tenant: str = Tenant) -> s.HistoryResponse:
    """The audit log of every memory of a user."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    return s.HistoryResponse(events=[s.history_out(e) for e in mem.history(user_id=user_id, tenant=tenant)])


# -- retrieval ----------------------------------------------------------------------------
@router.post("/users/{user_id}/search", response_model=s.SearchResponse, tags=["retrieval"])
def search(body: s.SearchRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> s.SearchResponse:
    """The ``k`` memories most relevant to ``query``, fused over every signal."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    hits = mem.search(body.query, user_id=user_id, k=body.k, filters=_filters(body.filters), now=body.now,
                      tenant=tenant)
    return s.SearchResponse(hits=[s.hit_out(h) for h in hits])


@router.post("/users/{user_id}/recall", response_model=s.ContextPackOut, tags=["retrieval"])
def recall(body: s.RecallRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> s.ContextPackOut:
    """Search, then pack the hits chronologically into ``token_budget`` tokens with citations."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    pack = mem.recall(body.query, user_id=user_id, token_budget=body.token_budget, k=body.k,
                      filters=_filters(body.filters), now=body.now, tenant=tenant)
    return s.pack_out(pack)


@router.get("/users/{user_id}/episodes", response_model=s.EpisodesResponse, tags=["retrieval"],
            responses={501: {"model": s.ErrorOut}})
def list_episodes(
    request: Request,
    user_id: UserId,
    session_id: str | None = Query(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    tenant: str = Tenant,
) -> s.EpisodesResponse:
    """A user's episodes (conversation cut where the local LM was surprised), in order."""
    mem = _memory(request)
    episodes = getattr(mem, "episodes", None)
    if episodes is None or not mem.enabled("episode"):
        raise HTTPException(501, "episodes are not available: episodic memory is not enabled on this server")
    require_user(mem, tenant, user_id)
    kwargs: dict[str, Any] = {"user_id": user_id, "tenant": tenant}
    if session_id is not None:
        kwargs["session_id"] = session_id
    return s.EpisodesResponse(episodes=[s.episode_out(e) for e in episodes(**kwargs)])


# -- thoughts -----------------------------------------------------------------------------
@router.post("/users/{user_id}/thoughts", response_model=s.ThoughtsResponse, status_code=201, tags=["thoughts"])
def think(body: s.ThinkRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> s.ThoughtsResponse:
    """Post-thinking: store the conclusions of one exchange (query, response) as thoughts."""
    thoughts = _memory(request).think(body.query, body.response, user_id=user_id, source_ids=body.source_ids,
                                      now=body.now, tenant=tenant)
    return s.ThoughtsResponse(thoughts=[s.thought_out(t) for t in thoughts])


@router.get("/users/{user_id}/thoughts", response_model=s.ThoughtsResponse, tags=["thoughts"])
def list_thoughts(
    request: Request, user_id: UserId, include_forgotten: bool = False, tenant: str = Tenant
) -> s.ThoughtsResponse:
    """A user's live thoughts (or all of them with ``include_forgotten``)."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    thoughts = mem.thoughts(user_id=user_id, include_forgotten=include_forgotten, tenant=tenant)
    return s.ThoughtsResponse(thoughts=[s.thought_out(t) for t in thoughts])


@router.delete("/users/{user_id}/thoughts/{thought_id}", response_model=s.ThoughtOut, tags=["thoughts"])
def forget_thought(
    request: Request, user_id: UserId, thought_id: ThoughtId, tenant: str = Tenant
) -> s.ThoughtOut:
    """End a thought's validity (kept in history, no longer recalled)."""
    return s.thought_out(_memory(request).forget_thought(thought_id, user_id=user_id, tenant=tenant))


# -- facts --------------------------------------------------------------------------------
@router.get("/users/{user_id}/facts", response_model=s.FactsResponse, tags=["facts"])
def list_facts(
    request: Request, user_id: UserId, include_past: bool = False,
    subject: Annotated[str | None, Query(min_length=1, max_length=255, pattern=_ID)] = None, tenant: str = Tenant,
) -> s.FactsResponse:
    """A user's facts derived from their memories: current ones, or every one with ``include_past``
    (superseded and ended facts carry ``valid_to`` and ``superseded_by``)."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    facts = mem.facts(user_id=user_id, subject=subject, include_past=include_past, tenant=tenant)
    return s.FactsResponse(facts=[s.fact_out(f) for f in facts])


# -- export / import ----------------------------------------------------------------------
@router.get("/users/{user_id}/export", response_class=PlainTextResponse, tags=["memories"],
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export(request: Request, user_id: UserId, tenant: str = Tenant) -> PlainTextResponse:
    """A user's memories as JSONL (one memory a line), re-importable with ``/import``."""
    mem = _memory(request)
    require_user(mem, tenant, user_id)
    buf = io.StringIO()
    mem.export(buf, user_id=user_id, tenant=tenant)
    return PlainTextResponse(buf.getvalue(), media_type="application/x-ndjson")


@router.post("/users/{user_id}/import", response_model=s.ImportResponse, tags=["memories"])
def import_(body: s.ImportRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> s.ImportResponse:
    """Load records written by ``/export`` (idempotent)."""
    _admit(request, tenant, [str(r.get("content", r.get("text", ""))) for r in body.records])
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in body.records)
    return s.ImportResponse(imported=_memory(request).import_(io.StringIO(text), user_id=user_id, tenant=tenant))


# -- API keys (admin) ---------------------------------------------------------------------
def _key_out(k: Any) -> s.KeyOut:
    return s.KeyOut(id=k.id, tenant=k.tenant, name=k.name, created_at=k.created_at, revoked_at=k.revoked_at, key=k.key)


@router.post("/keys", response_model=s.KeyOut, status_code=201, tags=["keys"])
def create_key(body: s.KeyCreateRequest, request: Request, _: Principal = Admin) -> s.KeyOut:
    """A new API key for a tenant (admin key only); the secret is in the answer, once."""
    return _key_out(request.app.state.keys.create(body.tenant, body.name))


@router.get("/keys", response_model=s.KeysResponse, tags=["keys"])
def list_keys(
    request: Request,
    tenant: str | None = Query(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    _: Principal = Admin,
) -> s.KeysResponse:
    """API keys (without secrets), of one tenant when given."""
    return s.KeysResponse(keys=[_key_out(k) for k in request.app.state.keys.list(tenant)])


@router.delete("/keys/{key_id}", response_model=s.KeyOut, tags=["keys"])
def revoke_key(request: Request, key_id: KeyId, _: Principal = Admin) -> s.KeyOut:
    """Revoke an API key (admin key only); idempotent."""
    return _key_out(request.app.state.keys.revoke(key_id))
