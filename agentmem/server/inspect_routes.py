"""Data routes of the memory inspector (``/ui``): a user's turn timeline and graph explanations.

``GET /v1/users/{user_id}/timeline`` gives the user's turns in order with, when episodic
memory is on, each turn's surprise (the highest score of its units; embedding drift under the
``drift`` segmenter), the episode holding it and whether an episode starts there.
``POST /v1/users/{user_id}/explain`` gives, for one query and one memory, the subgraph of the
knowledge graph's PageRank walk that reached it (seed facts → entities → passage, with mass).
Both take the caller's tenant from the API key, as every ``/v1`` data route does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from agentmem.errors import NotFoundError
from agentmem.server import schemas as s
from agentmem.server.routes import Tenant, UserId, require_user
from agentmem.types import Scope

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["inspector"],
                   responses={code: {"model": s.ErrorOut} for code in (401, 403, 404, 422, 501, 503)})


class TimelineTurn(BaseModel):
    id: str
    seq: int
    session_id: str | None
    timestamp: datetime
    speaker: str
    role: str
    text: str
    surprise: float | None = Field(description="highest score of the turn's units; null without episodes")
    episode_id: str | None
    boundary: bool = Field(description="an episode starts at this turn (not the first of its session)")
    open: bool = Field(description="the turn is in a session's open tail (its episode is provisional)")


class TimelineOut(BaseModel):
    episodes: bool = Field(description="whether episodic memory is on")
    method: str | None = Field(description="'surprise' or 'drift' (what the scores are)")
    turns: list[TimelineTurn]
    truncated: bool = Field(description="more turns exist than the limit")


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: s.Text
    memory_id: s.Id


class ExplainNode(BaseModel):
    id: str
    kind: str
    label: str
    seed: float
    mass: float


class ExplainEdge(BaseModel):
    source: str
    target: str
    weight: float


class ExplainOut(BaseModel):
    memory_id: str
    rank: int = Field(description="the memory's rank by PageRank mass among the user's passages")
    mass: float
    nodes: list[ExplainNode]
    edges: list[ExplainEdge]


class InspectorOut(BaseModel):
    episodes: bool
    graph: bool
    thoughts: bool
    facts: bool = Field(description="whether this server has a /v1/users/{user_id}/facts route")


@router.get("/inspector", response_model=InspectorOut)
def inspector(request: Request, tenant: str = Tenant) -> InspectorOut:
    """Which memory mechanisms this server runs (what the inspector page can show)."""
    mem = request.app.state.memory
    paths = {getattr(r, "path", None) for r in request.app.routes}
    return InspectorOut(episodes=mem.enabled("episode"), graph=mem.enabled("graph"),
                        thoughts=mem.enabled("thought"), facts="/v1/users/{user_id}/facts" in paths)


@router.get("/users/{user_id}/timeline", response_model=TimelineOut)
def timeline(
    request: Request,
    user_id: UserId,
    session_id: str | None = Query(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    limit: int = Query(default=500, ge=1, le=5000),
    tenant: str = Tenant,
) -> TimelineOut:
    """A user's turns in order, with surprise and episode boundaries when episodes are on."""
    mem = request.app.state.memory
    require_user(mem, tenant, user_id)
    turns = mem.memories(user_id=user_id, session_id=session_id, limit=limit + 1, tenant=tenant)
    truncated = len(turns) > limit
    turns = turns[:limit]
    on = mem.enabled("episode")
    score: dict[str, float] = {}
    where: dict[str, tuple[str, bool]] = {}
    starts: set[str] = set()
    method = None
    if on:
        component: Any = mem.component("episode")
        method = component.segmenter
        first_of_stream: set[str] = set()
        for tr in component.traces(Scope(tenant, user_id), session_id=session_id):
            ids = [tid for tid, _ in tr.units if tid is not None]
            if not ids:
                continue
            if tr.stream in first_of_stream:
                starts.add(ids[0])
            first_of_stream.add(tr.stream)
            for tid, sc in tr.units:
                if tid is None:
                    continue
                where.setdefault(tid, (tr.episode_id, tr.is_open))
                if sc is not None:
                    score[tid] = max(score.get(tid, sc), sc)
    out = [
        TimelineTurn(
            id=x.id, seq=x.seq, session_id=x.scope.session_id, timestamp=x.timestamp, speaker=x.speaker,
            role=x.role, text=x.content, surprise=score.get(x.id), episode_id=where.get(x.id, (None, False))[0],
            boundary=x.id in starts, open=where.get(x.id, (None, False))[1],
        )
        for x in turns
    ]
    return TimelineOut(episodes=on, method=method, turns=out, truncated=truncated)


@router.post("/users/{user_id}/explain", response_model=ExplainOut)
def explain(body: ExplainRequest, request: Request, user_id: UserId, tenant: str = Tenant) -> ExplainOut:
    """How the knowledge graph reached one memory for a query: seed facts → entities → passage."""
    mem = request.app.state.memory
    if not mem.enabled("graph"):
        raise HTTPException(501, "the knowledge graph is not enabled on this server")
    require_user(mem, tenant, user_id)
    component: Any = mem.component("graph")
    vector = mem.maintenance.embed_query(body.query)
    got = component.explain(Scope(tenant, user_id), body.query, vector, body.memory_id)
    if got is None:
        raise NotFoundError(f"memory {body.memory_id!r} is not in the user's graph")
    return ExplainOut(
        memory_id=got.passage_id, rank=got.rank, mass=got.mass,
        nodes=[ExplainNode(id=n.id, kind=n.kind, label=n.label, seed=n.seed, mass=n.mass) for n in got.nodes],
        edges=[ExplainEdge(source=e.source, target=e.target, weight=e.weight) for e in got.edges],
    )
