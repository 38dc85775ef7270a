"""The item store over HTTP: :class:`ItemStore`'s methods as calls to the sidecar's ``/store``.

``MemoryClient(...).items`` returns one; the server runs each call on its own
:class:`~agentmem.items.ItemStore`, so items written here and in-process on the server's
database are the same items with the same scores. ``tenant=None`` means the client's tenant.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentmem.errors import NotFoundError
from agentmem.items.model import Item, ItemPut, check_value

if TYPE_CHECKING:
    import httpx

    from agentmem.client import MemoryClient

__all__ = ["HttpItemStore", "DELETED_HEADER"]

DELETED_HEADER = "X-Agentmem-Deleted"


def _iso(now: datetime | None) -> str | None:
    return None if now is None else now.isoformat()


def _item(d: Mapping[str, Any]) -> Item:
    return Item(
        namespace=tuple(d["namespace"]), key=str(d["key"]), value=dict(d["value"]),
        created_at=datetime.fromisoformat(d["created_at"]), updated_at=datetime.fromisoformat(d["updated_at"]),
        score=d.get("score"),
    )


def _put_json(p: ItemPut) -> dict[str, Any]:
    # values are checked here too: a value JSON cannot carry (NaN) must fail as on the server
    out: dict[str, Any] = {"namespace": list(p.namespace), "key": p.key,
                           "value": None if p.value is None else check_value(p.value)}
    if p.index is not None:
        out["index"] = False if p.index is False else list(p.index)
    if p.ttl is not None:
        out["ttl"] = p.ttl
    if p.user_id is not None:
        out["user_id"] = p.user_id
    return out


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class HttpItemStore:
    """:class:`~agentmem.items.ItemStore`'s methods, sent to the sidecar by a ``MemoryClient``."""

    def __init__(self, client: MemoryClient) -> None:
        self.client = client

    def _send(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
              tenant: str | None = None) -> tuple[Any, httpx.Response]:
        from agentmem._client_wire import Request, raise_for

        def ops() -> Generator[Request, httpx.Response, tuple[Any, httpx.Response]]:
            resp = yield Request(method, path, json=json, params=_drop_none(params or {}), tenant=tenant)
            raise_for(resp)
            return (resp.json() if resp.content else None), resp

        return self.client._run(ops())

    def put(self, namespace: Sequence[str], key: str, value: Mapping[str, Any], *, user_id: str | None = None,
            index: Any = None, ttl: float | None = None, tenant: str | None = None,
            now: datetime | None = None) -> None:
        self.put_many([ItemPut(tuple(namespace), key, value, index, ttl, user_id)], tenant=tenant, now=now)

    def put_many(self, puts: Iterable[ItemPut], *, tenant: str | None = None, now: datetime | None = None) -> None:
        body = [_put_json(p) for p in puts]
        if body:
            self._send("POST", "/store/items/batch", json=_drop_none({"puts": body, "now": _iso(now)}), tenant=tenant)

    def delete(self, namespace: Sequence[str], key: str, *, user_id: str | None = None,
               tenant: str | None = None) -> bool:
        _, resp = self._send("DELETE", "/store/items", tenant=tenant,
                             json=_drop_none({"namespace": list(namespace), "key": key, "user_id": user_id}))
        return resp.headers.get(DELETED_HEADER) == "1"

    def sweep_expired(self, *, user_id: str | None = None, tenant: str | None = None,
                      now: datetime | None = None) -> int:
        body, _ = self._send("POST", "/store/items/sweep", tenant=tenant,
                             json=_drop_none({"user_id": user_id, "now": _iso(now)}))
        return int(body["deleted"])

    def get(self, namespace: Sequence[str], key: str, *, user_id: str | None = None, refresh_ttl: bool = True,
            tenant: str | None = None, now: datetime | None = None) -> Item | None:
        params = {"namespace": ".".join(namespace), "key": key, "refresh_ttl": str(refresh_ttl).lower(),
                  "user_id": user_id, "now": _iso(now)}
        try:
            body, _ = self._send("GET", "/store/items", params=params, tenant=tenant)
        except NotFoundError:
            return None
        return _item(body)

    def search(
        self,
        namespace_prefix: Sequence[str] = (),
        *,
        user_id: str | None = None,
        query: str | None = None,
        filter: Mapping[str, Any] | None = None,  # noqa: A002 - LangGraph's name
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool = True,
        tenant: str | None = None,
        now: datetime | None = None,
    ) -> list[Item]:
        body, _ = self._send("POST", "/store/items/search", tenant=tenant, json=_drop_none({
            "namespace_prefix": list(namespace_prefix), "user_id": user_id, "query": query,
            "filter": None if filter is None else dict(filter), "limit": limit, "offset": offset,
            "refresh_ttl": refresh_ttl, "now": _iso(now),
        }))
        return [_item(d) for d in body["items"]]

    def list_namespaces(
        self,
        *,
        user_id: str | None = None,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
        tenant: str | None = None,
        now: datetime | None = None,
    ) -> list[tuple[str, ...]]:
        body, _ = self._send("POST", "/store/namespaces", tenant=tenant, json=_drop_none({
            "user_id": user_id, "prefix": None if prefix is None else list(prefix),
            "suffix": None if suffix is None else list(suffix), "max_depth": max_depth, "limit": limit,
            "offset": offset, "now": _iso(now),
        }))
        return [tuple(ns) for ns in body["namespaces"]]
