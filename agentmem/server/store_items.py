"""JSON documents by ``(namespace, key)``: the core under the LangGraph-store surface.

The sidecar's ``/store/*`` routes and the LangGraph ``BaseStore`` adapter share this module.
Every call names a ``tenant``; a namespace is a tuple of labels (no ``"."`` inside a label,
as in LangGraph) and its first label is the owning ``user_id``, so
:meth:`agentmem.Memory.delete_user` removes a user's items with the rest of their data.

>>> store = ItemStore(memory.maintenance.database, embed=memory.maintenance.embed)  # doctest: +SKIP
>>> store.put("acme", ("ada", "prefs"), "food", {"likes": "ramen"})               # doctest: +SKIP
>>> store.search("acme", ("ada",), query="what does she eat?")[0].key             # doctest: +SKIP
'food'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from agentmem._time import from_db, to_db, utcnow
from agentmem.errors import ValidationError
from agentmem.recall.filter_dialect import compile_filter, matches
from agentmem.store.schema import store_items as T
from agentmem.store.sql import SqlStore, insert_ignore
from agentmem.types import Scope

__all__ = ["Item", "ItemStore", "check_namespace"]

_MAX_LABEL = 255
_MAX_SCAN = 10_000  # rows a filtered search looks at
_MAX_EMBED = 1_000  # candidates a natural-language search embeds


@dataclass(frozen=True, slots=True)
class Item:
    """A stored document; ``score`` is set by a search with a query."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    score: float | None = None


def check_namespace(namespace: Sequence[str], *, allow_empty: bool = False) -> tuple[str, ...]:
    """Validate a namespace (labels: non-empty strings without ``"."`` or NUL)."""
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise ValidationError("namespace must be a list of strings")
    labels = tuple(namespace)
    if not labels and not allow_empty:
        raise ValidationError("namespace must have at least one label")
    for label in labels:
        if not isinstance(label, str) or not label or len(label) > _MAX_LABEL:
            raise ValidationError(f"namespace labels must be non-empty strings of at most {_MAX_LABEL} characters")
        if "." in label or "\x00" in label:
            raise ValidationError(f"namespace label {label!r} may not contain '.' or NUL")
    if len(".".join(labels)) > 1024:
        raise ValidationError("namespace is longer than 1024 characters")
    return labels


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > _MAX_LABEL or "\x00" in key:
        raise ValidationError(f"key must be a non-empty string of at most {_MAX_LABEL} characters")
    return key


def _item(row: Any) -> Item:
    return Item(
        namespace=tuple(row.namespace.split(".")), key=row.key, value=dict(row.value),
        created_at=from_db(row.created_at),  # type: ignore[arg-type]
        updated_at=from_db(row.updated_at),  # type: ignore[arg-type]
    )


class ItemStore:
    """Put / get / delete / search JSON items and list namespaces, scoped by tenant.

    Parameters
    ----------
    sql
        The SQL store (``memory.maintenance.database``); items live in its ``store_items`` table.
    embed
        ``texts -> vectors`` (e.g. ``memory.maintenance.embed``); enables ``query`` in
        :meth:`search` (cosine over the JSON text of the candidates). Without it a query
        raises :class:`ValidationError`.
    """

    def __init__(self, sql: SqlStore, embed: Callable[[list[str]], Any] | None = None) -> None:
        self.sql = sql
        self.embed = embed

    def _live(self, tenant: str) -> sa.ColumnElement[bool]:
        now = to_db(utcnow())
        return sa.and_(T.c.tenant == tenant, sa.or_(T.c.expires_at.is_(None), T.c.expires_at > now))

    def put(
        self, tenant: str, namespace: Sequence[str], key: str, value: Mapping[str, Any], *, ttl: float | None = None
    ) -> Item:
        """Store or replace an item; ``ttl`` in minutes (``None``: never expires)."""
        ns = check_namespace(namespace)
        _check_key(key)
        if not isinstance(value, Mapping):
            raise ValidationError("value must be a JSON object")
        if ttl is not None and not (isinstance(ttl, int | float) and 0 < ttl < 10**8):
            raise ValidationError("ttl must be a positive number of minutes")
        try:
            doc = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"value is not JSON: {exc}") from exc
        now = utcnow()
        expires = None if ttl is None else to_db(now + timedelta(minutes=float(ttl)))
        where = sa.and_(T.c.tenant == tenant, T.c.namespace == ".".join(ns), T.c.key == key)
        with self.sql.begin() as conn:
            self.sql.ensure_user(conn, Scope(tenant, ns[0]))
            old = conn.execute(sa.select(T.c.created_at, T.c.expires_at).where(where)).first()
            values = {"value": doc, "updated_at": to_db(now), "expires_at": expires, "ttl_minutes": ttl}
            if old is None:
                # Two replicas may insert the same new key at once: the primary key decides and
                # the loser updates instead.
                inserted = insert_ignore(conn, T, [{
                    "tenant": tenant, "user_id": ns[0], "namespace": ".".join(ns), "key": key,
                    "created_at": to_db(now), **values,
                }])
                if not inserted:
                    conn.execute(sa.update(T).where(where).values(**values))
            else:
                if old.expires_at is not None and old.expires_at <= to_db(now):  # expired: a new item
                    values["created_at"] = to_db(now)
                conn.execute(sa.update(T).where(where).values(**values))
            row = conn.execute(sa.select(T).where(where)).one()
        return _item(row)

    def get(self, tenant: str, namespace: Sequence[str], key: str, *, refresh_ttl: bool = True) -> Item | None:
        """The item, or ``None`` when absent or expired."""
        ns = check_namespace(namespace)
        _check_key(key)
        where = sa.and_(self._live(tenant), T.c.namespace == ".".join(ns), T.c.key == key)
        with self.sql.begin() as conn:
            row = conn.execute(sa.select(T).where(where)).first()
            if row is not None and refresh_ttl and row.ttl_minutes is not None:
                self._refresh(conn, tenant, [row])
        return None if row is None else _item(row)

    def delete(self, tenant: str, namespace: Sequence[str], key: str) -> bool:
        """Remove an item; whether one was there."""
        ns = check_namespace(namespace)
        _check_key(key)
        with self.sql.begin() as conn:
            n = conn.execute(sa.delete(T).where(
                T.c.tenant == tenant, T.c.namespace == ".".join(ns), T.c.key == key
            )).rowcount
        return bool(n)

    def search(
        self,
        tenant: str,
        namespace_prefix: Sequence[str] = (),
        *,
        filter: Mapping[str, Any] | None = None,  # noqa: A002 - LangGraph's name
        query: str | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool = True,
    ) -> list[Item]:
        """Items under a namespace prefix, newest first, or by similarity to ``query``.

        ``filter``: the filter dialect of :mod:`agentmem.recall.filter_dialect` over the
        item's value (``$eq $ne $gt $gte $lt $lte $in $nin $contains``, ``$and $or $not``,
        nested keys).
        """
        prefix = check_namespace(namespace_prefix, allow_empty=True)
        if filter is not None and not isinstance(filter, Mapping):
            raise ValidationError("filter must be an object")
        expr = compile_filter(filter) if filter else None
        if not (isinstance(limit, int) and 1 <= limit <= 1000) or not (isinstance(offset, int) and offset >= 0):
            raise ValidationError("limit must be in [1, 1000] and offset >= 0")
        if query is not None and (not isinstance(query, str) or not query.strip()):
            query = None
        if query is not None and self.embed is None:
            raise ValidationError("this store has no embedder: search without a query")
        q = sa.select(T).where(self._live(tenant))
        if prefix:
            joined = ".".join(prefix)
            q = q.where(sa.or_(T.c.namespace == joined, T.c.namespace.startswith(joined + ".", autoescape=True)))
        q = q.order_by(T.c.updated_at.desc(), T.c.namespace, T.c.key)
        # Filters and queries are applied here, after the scan: page only once they are done.
        q = q.offset(offset).limit(limit) if not filter and query is None else q.limit(_MAX_SCAN)
        with self.sql.begin() as conn:
            rows = [r for r in conn.execute(q).all() if expr is None or matches(expr, r.value or {})]
            items = [_item(r) for r in rows]
            if query is not None:
                items = self._rank(query, items[:_MAX_EMBED])
            page_rows = {(i.namespace, i.key) for i in items[offset:offset + limit]} if (filter or query) else None
            items = items[offset:offset + limit] if (filter or query) else items
            if refresh_ttl:
                chosen = [r for r in rows if page_rows is None or (tuple(r.namespace.split(".")), r.key) in page_rows]
                self._refresh(conn, tenant, [r for r in chosen if r.ttl_minutes is not None])
        return items

    def _rank(self, query: str, items: list[Item]) -> list[Item]:
        if not items:
            return []
        assert self.embed is not None
        texts = [query] + [json.dumps(i.value, ensure_ascii=False, sort_keys=True) for i in items]
        vecs = np.asarray(self.embed(texts), dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        scores = vecs[1:] @ vecs[0]
        order = np.argsort(-scores, kind="stable")
        return [replace(items[i], score=float(scores[i])) for i in order]

    def _refresh(self, conn: sa.Connection, tenant: str, rows: Sequence[Any]) -> None:
        now = utcnow()
        for r in rows:
            conn.execute(sa.update(T).where(T.c.tenant == tenant, T.c.namespace == r.namespace, T.c.key == r.key)
                         .values(expires_at=to_db(now + timedelta(minutes=float(r.ttl_minutes)))))

    def list_namespaces(
        self,
        tenant: str,
        *,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Distinct namespaces (truncated to ``max_depth`` labels), sorted."""
        pre = check_namespace(prefix or (), allow_empty=True)
        suf = check_namespace(suffix or (), allow_empty=True)
        if max_depth is not None and not (isinstance(max_depth, int) and max_depth >= 1):
            raise ValidationError("max_depth must be a positive integer")
        if not (isinstance(limit, int) and 1 <= limit <= 1000) or not (isinstance(offset, int) and offset >= 0):
            raise ValidationError("limit must be in [1, 1000] and offset >= 0")
        q = sa.select(T.c.namespace).where(self._live(tenant)).distinct()
        if pre:
            joined = ".".join(pre)
            q = q.where(sa.or_(T.c.namespace == joined, T.c.namespace.startswith(joined + ".", autoescape=True)))
        with self.sql.begin() as conn:
            found = {tuple(ns.split(".")) for ns in conn.execute(q).scalars()}
        out = set()
        for ns in found:
            if suf and ns[-len(suf):] != suf:
                continue
            out.add(ns[:max_depth] if max_depth else ns)
        return sorted(out)[offset:offset + limit]
