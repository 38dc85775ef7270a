"""The LangGraph-store surface: what ``langgraph_sdk``'s ``client.store`` calls, and more.

``PUT/GET/DELETE /store/items``, ``POST /store/items/search`` and ``POST /store/namespaces``
with LangGraph's payloads, plus ``POST /store/items/batch`` and ``POST /store/items/sweep``
(used by ``MemoryClient.items``), all run on the memory's item store
(:class:`agentmem.items.ItemStore`, ``Memory.items``) scoped by the caller's tenant. Every
body takes an optional ``user_id`` (the items' owner; default the namespace's first label).
``langgraph_sdk`` sends its key as ``X-Api-Key``, which is accepted as well as
``Authorization: Bearer``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from agentmem.errors import NotFoundError
from agentmem.items import Item, ItemPut, ItemStore
from agentmem.items.http import DELETED_HEADER
from agentmem.server import schemas as s
from agentmem.server import store_schemas as ss
from agentmem.server.routes import Tenant, _admit

__all__ = ["router"]

router = APIRouter(
    prefix="/store", tags=["store"],
    responses={code: {"model": s.ErrorOut} for code in (401, 403, 404, 413, 422, 503)},
)


def _items(request: Request) -> ItemStore:
    store: ItemStore = request.app.state.memory.items
    return store


def _out(i: Item) -> dict[str, Any]:
    out = ss.SearchItemOut(namespace=list(i.namespace), key=i.key, value=i.value, created_at=i.created_at,
                          updated_at=i.updated_at, score=i.score)
    return out.model_dump(mode="json", exclude_none=True)


def _put(p: ss.PutItemRequest | ss.BatchPut) -> ItemPut:
    return ItemPut(tuple(p.namespace), p.key, p.value, p.index, p.ttl, p.user_id)


def _admit_puts(request: Request, tenant: str, puts: list[ItemPut]) -> None:
    """The write cost cap and quota of :func:`agentmem.server.routes._admit`, per stored value."""
    _admit(request, tenant, [json.dumps(p.value) for p in puts if p.value is not None])


@router.put("/items", status_code=204)
def put_item(body: ss.PutItemRequest, request: Request, tenant: str = Tenant) -> Response:
    """Store or replace an item (``ttl`` in minutes; ``index``: the JSON paths a query ranks by)."""
    puts = [_put(body)]
    _admit_puts(request, tenant, puts)
    _items(request).put_many(puts, tenant=tenant, now=body.now)
    return Response(status_code=204)


@router.post("/items/batch", status_code=204)
def put_items(body: ss.BatchPutRequest, request: Request, tenant: str = Tenant) -> Response:
    """Puts and deletes (``value: null``) in order; new items are embedded together."""
    puts = [_put(p) for p in body.puts]
    _admit_puts(request, tenant, puts)
    _items(request).put_many(puts, tenant=tenant, now=body.now)
    return Response(status_code=204)


@router.get("/items", response_model=ss.ItemOut)
def get_item(
    request: Request,
    key: str = Query(min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    namespace: str = Query(default="", max_length=1024, pattern=r"^[^\x00]*$",
                           description="labels joined by '.'"),
    refresh_ttl: bool = True,
    user_id: str | None = Query(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    now: datetime | None = None,
    tenant: str = Tenant,
) -> dict[str, Any]:
    """One item (404 when absent or expired)."""
    labels = namespace.split(".") if namespace else []
    item = _items(request).get(labels, key, user_id=user_id, refresh_ttl=refresh_ttl, tenant=tenant, now=now)
    if item is None:
        raise NotFoundError(f"no item {key!r} in namespace {namespace!r}")
    return _out(item)


@router.delete("/items", status_code=204)
def delete_item(body: ss.DeleteItemRequest, request: Request, tenant: str = Tenant) -> Response:
    """Remove an item (absent items are fine; the response header says whether one was there)."""
    found = _items(request).delete(body.namespace, body.key, user_id=body.user_id, tenant=tenant)
    return Response(status_code=204, headers={DELETED_HEADER: "1" if found else "0"})


@router.post("/items/sweep", response_model=s.CountOut)
def sweep_items(body: ss.SweepItemsRequest, request: Request, tenant: str = Tenant) -> s.CountOut:
    """Delete expired items (of one user, or of the whole tenant)."""
    return s.CountOut(deleted=_items(request).sweep_expired(user_id=body.user_id, tenant=tenant, now=body.now))


@router.post("/items/search", response_model=ss.SearchItemsResponse)
def search_items(body: ss.SearchItemsRequest, request: Request, tenant: str = Tenant) -> dict[str, Any]:
    """Items under a namespace prefix: filtered, paged, and ranked by ``query`` when given."""
    found = _items(request).search(
        body.namespace_prefix, user_id=body.user_id, filter=body.filter, query=body.query, limit=body.limit,
        offset=body.offset, refresh_ttl=body.refresh_ttl is not False, tenant=tenant, now=body.now,
    )
    return {"items": [_out(i) for i in found]}


@router.post("/namespaces", response_model=ss.NamespacesResponse)
def list_namespaces(body: ss.ListNamespacesRequest, request: Request, tenant: str = Tenant) -> ss.NamespacesResponse:
    """Distinct namespaces, filtered by prefix / suffix (``*``: any label), truncated to ``max_depth``."""
    found = _items(request).list_namespaces(
        user_id=body.user_id, prefix=body.prefix, suffix=body.suffix, max_depth=body.max_depth,
        limit=body.limit, offset=body.offset, tenant=tenant, now=body.now,
    )
    return ss.NamespacesResponse(namespaces=[list(ns) for ns in found])
