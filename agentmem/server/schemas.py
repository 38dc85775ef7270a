"""Pydantic models at the HTTP boundary (they are also what ``/openapi.json`` documents).

Inbound models reject unknown fields and NUL characters anywhere (Postgres cannot store
them), so malformed input is a 422 before it reaches the engine. Outbound models are built
from the engine's frozen dataclasses by the ``*_out`` functions at the bottom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from agentmem.storable import check_value
from agentmem.types import Citation, ContextPack, Episode, Fact, HistoryEvent, Hit, Thought, Turn


def _no_nul(value: Any) -> Any:
    """Reject what the store cannot keep (NUL, lone surrogates, NaN/Infinity, huge integers,
    deep nesting): see :mod:`agentmem.storable` (its ValidationError is a ValueError)."""
    return check_value(value, "value")


Str = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[str, Field(min_length=1, max_length=255, pattern=r"\S"), AfterValidator(_no_nul)]
Text = Annotated[str, Field(min_length=1, max_length=32_000, pattern=r"\S"), AfterValidator(_no_nul)]
# stored content: a message may be a whole pasted file (the request's size is what is limited:
# the body limit, and the memory's max_request_chars)
LongText = Annotated[str, Field(min_length=1, max_length=4_000_000, pattern=r"\S"), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_no_nul)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- inbound -----------------------------------------------------------------------------
class MessageIn(_In):
    """One conversation message."""

    content: LongText
    role: Literal["user", "assistant", "system", "tool", "document"] | None = None
    speaker: Id | None = None
    timestamp: datetime | None = None
    id: Id | None = Field(default=None, description="caller's message id (makes re-adding idempotent)")
    metadata: JsonObject | None = None
    session_id: Id | None = Field(default=None, description="this message's session (default: the request's)")


class AddRequest(_In):
    messages: list[MessageIn] = Field(min_length=1, max_length=10_000)
    session_id: Id | None = None
    run_id: Id | None = Field(default=None, description="mem0's name for session_id (give one of them)")
    agent_id: Id | None = None
    timestamp: datetime | None = Field(default=None, description="default for messages without one")
    metadata: JsonObject | None = None


class DocumentIn(_In):
    id: Id
    text: LongText
    title: Id | None = None
    timestamp: datetime | None = None
    metadata: JsonObject | None = None


class AddDocumentsRequest(_In):
    documents: list[DocumentIn] = Field(min_length=1, max_length=10_000)


Filters = Annotated[
    dict[str, JsonValue],
    AfterValidator(_no_nul),
    Field(
        description=(
            "agentmem's filter dialect: fields session_id (alias run_id), agent_id, speaker, role, "
            "content, timestamp, metadata (or metadata keys at the top level), after / before (dates); "
            "operators $eq $ne $gt $gte $lt $lte $in $nin $contains, logic $and $or $not; "
            "an unknown operator is a 422"
        ),
        examples=[{"agent_id": "support-bot", "metadata": {"topic": {"$in": ["billing", "refunds"]}}}],
    ),
]


class SearchRequest(_In):
    query: Text
    k: int = Field(default=10, ge=1, le=1000)
    filters: Filters | None = None
    now: datetime | None = Field(default=None, description="reference time for 'last May' in queries")


class RecallRequest(_In):
    query: Text
    token_budget: int = Field(default=1000, ge=1, le=1_000_000)
    k: int = Field(default=20, ge=1, le=1000)
    filters: Filters | None = None
    now: datetime | None = None


class UpdateRequest(_In):
    content: LongText
    metadata: JsonObject | None = None


class DeleteManyRequest(_In):
    ids: list[Id] = Field(min_length=1, max_length=1000)


class ThinkRequest(_In):
    query: Text
    response: Text
    source_ids: list[Id] = Field(default_factory=list, max_length=1000)
    now: datetime | None = None


class KeyCreateRequest(_In):
    tenant: Id
    name: Id = "default"


# -- outbound ----------------------------------------------------------------------------
class ErrorOut(BaseModel):
    error: str = Field(description="validation | not_found | unauthorized | forbidden | ...")
    message: str
    detail: list[dict[str, Any]] | None = None


class MemoryOut(BaseModel):
    id: str
    user_id: str
    session_id: str | None
    agent_id: str | None
    speaker: str
    role: str
    content: str
    timestamp: datetime
    seq: int
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class AddResponse(BaseModel):
    added: int
    memories: list[MemoryOut]


class MemoryPage(BaseModel):
    items: list[MemoryOut]
    next_cursor: int | None = Field(description="pass as ?cursor= for the next page; null at the end")


class HitOut(BaseModel):
    id: str
    kind: str
    text: str
    score: float
    timestamp: datetime | None
    signals: dict[str, int]
    signal_scores: dict[str, float]
    speaker: str | None
    metadata: dict[str, Any]
    superseded_by: str | None = Field(default=None, description="a fact's: the fact that replaced it")
    contradicts: list[str] = Field(default_factory=list, description="a fact's: the facts it contradicts")


class SearchResponse(BaseModel):
    hits: list[HitOut]


class CitationOut(BaseModel):
    marker: int
    id: str
    kind: str
    timestamp: datetime | None
    signals: list[str]


class ContextPackOut(BaseModel):
    text: str
    hits: list[HitOut]
    citations: list[CitationOut]
    tokens: int
    token_budget: int
    dropped: int


class HistoryEventOut(BaseModel):
    id: int
    record_id: str
    record_kind: str
    event: str
    before: str | None
    after: str | None
    at: datetime
    metadata: dict[str, Any]


class HistoryResponse(BaseModel):
    events: list[HistoryEventOut]


class CountOut(BaseModel):
    deleted: int


class ThoughtOut(BaseModel):
    id: str
    text: str
    subject: str | None
    relation: str | None
    object: str | None
    source_ids: list[str]
    merged_from: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    last_recalled_at: datetime | None
    recall_count: int
    valid_from: datetime | None
    valid_to: datetime | None


class ThoughtsResponse(BaseModel):
    thoughts: list[ThoughtOut]


class FactOut(BaseModel):
    id: str
    subject: str
    relation: str
    object: str
    negated: bool
    text: str
    valid_from: datetime | None
    valid_to: datetime | None
    source_ids: list[str]
    superseded_by: str | None
    contradicts: list[str]


class FactsResponse(BaseModel):
    facts: list[FactOut]


class EpisodeOut(BaseModel):
    id: str
    turn_ids: list[str]
    start: datetime
    end: datetime
    text: str
    seq: int
    surprise_mean: float
    surprise_max: float
    boundary_method: str


class EpisodesResponse(BaseModel):
    episodes: list[EpisodeOut]


class ImportRequest(_In):
    records: list[JsonObject] = Field(max_length=10_000, description="lines of an export")


class ImportResponse(BaseModel):
    imported: int


class KeyOut(BaseModel):
    id: str
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = Field(default=None, description="the secret; shown once, at creation")


class KeysResponse(BaseModel):
    keys: list[KeyOut]


class Status(BaseModel):
    status: str
    detail: str | None = None


# -- dataclass → model ---------------------------------------------------------------------
def memory_out(t: Turn) -> MemoryOut:
    return MemoryOut(
        id=t.id, user_id=t.scope.user_id, session_id=t.scope.session_id, agent_id=t.scope.agent_id,
        speaker=t.speaker, role=t.role, content=t.content, timestamp=t.timestamp, seq=t.seq,
        metadata=dict(t.metadata), created_at=t.created_at, updated_at=t.updated_at,
    )


def hit_out(h: Hit) -> HitOut:
    return HitOut(
        id=h.id, kind=h.kind, text=h.text, score=h.score, timestamp=h.timestamp, signals=dict(h.signals),
        signal_scores=dict(h.signal_scores), speaker=h.speaker, metadata=dict(h.metadata),
        superseded_by=h.superseded_by, contradicts=list(h.contradicts),
    )


def citation_out(c: Citation) -> CitationOut:
    return CitationOut(marker=c.marker, id=c.id, kind=c.kind, timestamp=c.timestamp, signals=list(c.signals))


def pack_out(p: ContextPack) -> ContextPackOut:
    return ContextPackOut(
        text=p.text, hits=[hit_out(h) for h in p.hits], citations=[citation_out(c) for c in p.citations],
        tokens=p.tokens, token_budget=p.token_budget, dropped=p.dropped,
    )


def history_out(e: HistoryEvent) -> HistoryEventOut:
    return HistoryEventOut(
        id=e.id, record_id=e.record_id, record_kind=e.record_kind, event=e.event, before=e.before,
        after=e.after, at=e.at, metadata=dict(e.metadata),
    )


def thought_out(t: Thought) -> ThoughtOut:
    return ThoughtOut(
        id=t.id, text=t.text, subject=t.subject, relation=t.relation, object=t.object,
        source_ids=list(t.source_ids), merged_from=list(t.merged_from), created_at=t.created_at,
        updated_at=t.updated_at, last_recalled_at=t.last_recalled_at, recall_count=t.recall_count,
        valid_from=t.valid_from, valid_to=t.valid_to,
    )


def fact_out(f: Fact) -> FactOut:
    return FactOut(
        id=f.id, subject=f.subject, relation=f.relation, object=f.object, negated=f.negated, text=f.text,
        valid_from=f.valid_from, valid_to=f.valid_to, source_ids=list(f.source_ids), superseded_by=f.superseded_by,
        contradicts=list(f.contradicts),
    )


def episode_out(e: Episode) -> EpisodeOut:
    return EpisodeOut(
        id=e.id, turn_ids=list(e.turn_ids), start=e.start, end=e.end, text=e.text, seq=e.seq,
        surprise_mean=e.surprise_mean, surprise_max=e.surprise_max, boundary_method=e.boundary_method,
    )
