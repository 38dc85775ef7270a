"""The LangGraph-store surface: what ``langgraph_sdk``'s ``client.store`` calls.

``PUT/GET/DELETE /store/items``, ``POST /store/items/search`` and ``POST /store/namespaces``
with LangGraph's payloads, over :class:`~agentmem.server.store_items.ItemStore`, scoped by
the caller's tenant. ``langgraph_sdk`` sends its key as ``X-Api-Key``, which is accepted as
well as ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from agentmem.errors import NotFoundError
from agentmem.server import schemas as s
from agentmem.server.routes import Tenant
from agentmem.server.store_items import Item, ItemStore

__all__ = ["router"]

router = APIRouter(
    prefix="/store", tags=["store"],
    responses={code: {"model": s.ErrorOut} for code in (401, 403, 404, 413, 422, 503)},
)


def _items(request: Request) -> ItemStore:
    store: ItemStore = request.app.state.items
    return store


def _out(i: Item) -> dict[str, Any]:
    out = s.SearchItemOut(namespace=list(i.namespace), key=i.key, value=i.value, created_at=i.created_at,
                          updated_at=i.updated_at, score=i.score)
    return out.model_dump(mode="json", exclude_none=True)


@router.put("/items", status_code=204)
def put_item(body: s.PutItemRequest, request: Request, tenant: str = Tenant) -> Response:
    """Store or replace an item (``ttl`` in minutes)."""
    _items(request).put(tenant, body.namespace, body.key, body.value, ttl=body.ttl)
    return Response(status_code=204)


@router.get("/items", response_model=s.ItemOut)
def get_item(
    request: Request,
    key: str = Query(min_length=1, max_length=255, pattern=r"^[^\x00]+$"),
    namespace: str = Query(default="", max_length=1024, pattern=r"^[^\x00]*$",
                           description="labels joined by '.'"),
    refresh_ttl: bool = True,
    tenant: str = Tenant,
) -> dict[str, Any]:
    """One item (404 when absent or expired)."""
    labels = namespace.split(".") if namespace else []
    item = _items(request).get(tenant, labels, key, refresh_ttl=refresh_ttl)
    if item is None:
        raise NotFoundError(f"no item {key!r} in namespace {namespace!r}")
    return _out(item)


@router.delete("/items", status_code=204)
def delete_item(body: s.DeleteItemRequest, request: Request, tenant: str = Tenant) -> Response:
    """Remove an item (absent items are fine)."""
    _items(request).delete(tenant, body.namespace, body.key)
    return Response(status_code=204)


@router.post("/items/search", response_model=s.SearchItemsResponse)
def search_items(body: s.SearchItemsRequest, request: Request, tenant: str = Tenant) -> dict[str, Any]:
    """Items under a namespace prefix: filtered, paged, and ranked by ``query`` when given."""
    found = _items(request).search(
        tenant, body.namespace_prefix, filter=body.filter, query=body.query, limit=body.limit,
        offset=body.offset, refresh_ttl=body.refresh_ttl is not False,
    )
    return {"items": [_out(i) for i in found]}


@router.post("/namespaces", response_model=s.NamespacesResponse)
def list_namespaces(body: s.ListNamespacesRequest, request: Request, tenant: str = Tenant) -> s.NamespacesResponse:
    """Distinct namespaces, filtered by prefix / suffix and truncated to ``max_depth``."""
    found = _items(request).list_namespaces(
        tenant, prefix=body.prefix, suffix=body.suffix, max_depth=body.max_depth, limit=body.limit,
        offset=body.offset,
    )
    return s.NamespacesResponse(namespaces=[list(ns) for ns in found])
