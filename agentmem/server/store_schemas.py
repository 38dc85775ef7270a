"""Pydantic models of the LangGraph-store surface (``/store``, :mod:`agentmem.server.store_routes`).

Like :mod:`agentmem.server.schemas`: inbound models reject unknown fields and NUL characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from agentmem.server.schemas import Id, JsonObject, Str, _In, _no_nul

Label = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^.]+$"), AfterValidator(_no_nul)]
Namespace = Annotated[list[Label], Field(max_length=32)]


_OWNER = "the items' user (default: the namespace's first label)"
_NOW = "the time of the operation, for timestamps and TTLs (default: the server's clock)"
ItemIndex = Literal[False] | Annotated[list[Str], Field(min_length=1, max_length=64)] | None


class PutItemRequest(_In):
    namespace: Annotated[list[Label], Field(min_length=1, max_length=32)]
    key: Id
    value: JsonObject
    index: ItemIndex = Field(default=None, description="JSON paths to index (default: the whole value); false: none")
    ttl: float | None = Field(default=None, gt=0, lt=1e8, description="minutes")
    user_id: Id | None = Field(default=None, description=_OWNER)
    now: datetime | None = Field(default=None, description=_NOW)


class BatchPut(_In):
    namespace: Annotated[list[Label], Field(min_length=1, max_length=32)]
    key: Id
    value: JsonObject | None = Field(description="null deletes the item")
    index: ItemIndex = None
    ttl: float | None = Field(default=None, gt=0, lt=1e8, description="minutes")
    user_id: Id | None = Field(default=None, description=_OWNER)


class BatchPutRequest(_In):
    puts: Annotated[list[BatchPut], Field(min_length=1, max_length=1000)]
    now: datetime | None = Field(default=None, description=_NOW)


class DeleteItemRequest(_In):
    namespace: Annotated[list[Label], Field(min_length=1, max_length=32)]
    key: Id
    user_id: Id | None = Field(default=None, description=_OWNER)


class SearchItemsRequest(_In):
    namespace_prefix: Namespace = Field(default_factory=list)
    filter: JsonObject | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    query: Annotated[str, Field(max_length=32_000), AfterValidator(_no_nul)] | None = None
    refresh_ttl: bool | None = None
    user_id: Id | None = Field(default=None, description="whose items (default: the prefix's first label; "
                                                         "none: the tenant's)")
    now: datetime | None = Field(default=None, description=_NOW)


class ListNamespacesRequest(_In):
    prefix: Namespace | None = None
    suffix: Namespace | None = None
    max_depth: int | None = Field(default=None, ge=1, le=32)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    user_id: Id | None = Field(default=None, description="whose items (default: the prefix's first label; "
                                                         "none: the tenant's)")
    now: datetime | None = Field(default=None, description=_NOW)


class SweepItemsRequest(_In):
    user_id: Id | None = Field(default=None, description="whose items (none: the tenant's)")
    now: datetime | None = Field(default=None, description=_NOW)


class ItemOut(BaseModel):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SearchItemOut(ItemOut):
    score: float | None = None


class SearchItemsResponse(BaseModel):
    items: list[SearchItemOut]


class NamespacesResponse(BaseModel):
    namespaces: list[list[str]]
