"""A LangGraph long-term memory store (``langgraph.store.base.BaseStore``) backed by agentmem.

>>> store = AgentMemStore(Memory(), user_id="ada")                      # doctest: +SKIP
>>> agent = create_agent(model, tools, store=store)                    # doctest: +SKIP
>>> graph = builder.compile(store=store)                               # doctest: +SKIP

This class only translates LangGraph's ops into calls on agentmem's one item store,
:mod:`agentmem.items`: ``Memory.items`` in-process, ``MemoryClient.items`` against the
sidecar (whose ``/store`` routes run the same calls on the server's ``Memory.items``). So an
item written either way is the same item, ranked the same way.

How LangGraph items map onto agentmem
-------------------------------------
* **tenant** — fixed per store (``tenant=``; by default the backend's own).
* **user** — either one configured ``user_id`` (every namespace lives in that user's memory)
  or, with ``user_position=i``, the namespace label at position ``i`` (``("memories", "ada")``
  with ``user_position=1`` is user ``ada``). Reads never cross users: a search or listing
  whose prefix does not name the user is refused.
* **item** — one memory of that user whose text is the ``index`` fields of the value
  (store default ``fields=["$"]``, the whole value) as readable ``key: value`` lines; the
  exact value, both timestamps and the TTL are in its metadata. ``index=False`` items are
  listed and filtered but never ranked by a query.

Because items are ordinary memories, :meth:`agentmem.Memory.recall` finds them next to the
conversation, which is what makes the store useful as long-term memory.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from agentmem import BackendUnavailableError, ValidationError
from agentmem.items import HttpItemStore, Item, ItemPut, ItemStore, render_value

from ._backend import tenant_kwargs

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        IndexConfig,
        InvalidNamespaceError,
        ListNamespacesOp,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
    )
    from langgraph.store.base import Item as LangGraphItem
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langgraph (langgraph-checkpoint)", "langchain") from exc

__all__ = ["AgentMemStore", "render_value"]

_ITEM_METHODS = ("put_many", "get", "delete", "search", "list_namespaces", "sweep_expired")


def _validate_labels(namespace: tuple[str, ...], *, for_write: bool) -> None:
    """LangGraph's namespace rules (also for ops handed to ``batch`` directly)."""
    if for_write and not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels must be strings"
            )
        if not label:
            raise InvalidNamespaceError(f"Namespace labels cannot be empty strings: {namespace}")
        if "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: no periods or NUL bytes"
            )
    if for_write and namespace[0] == "langgraph":
        raise InvalidNamespaceError(f'Root label for namespace cannot be "langgraph": {namespace}')


def index_fields(index: IndexConfig | None, fields: Iterable[str] | None) -> list[str]:
    """The store's default index fields from LangGraph's ``index`` config and/or ``fields``."""
    if index is None:
        return list(fields) if fields is not None else ["$"]
    if not isinstance(index, Mapping):
        raise ValidationError("index must be a LangGraph IndexConfig mapping ({'dims', 'embed', 'fields'})")
    unknown = set(index) - {"dims", "embed", "fields", "distance_type", "ann_index_config"}
    if unknown:
        raise ValidationError(f"unknown index config keys {sorted(unknown)}")
    if index.get("embed") is not None:
        warnings.warn(
            "AgentMemStore embeds with the agentmem memory's own embedder (so store items and "
            "memories are searched together); index['embed'] and index['dims'] are not used",
            stacklevel=3,
        )
    from_index = index.get("fields")
    if fields is not None and from_index is not None and list(fields) != list(from_index):
        raise ValidationError("fields and index['fields'] disagree; give one of them")
    chosen = fields if fields is not None else from_index
    return list(chosen) if chosen is not None else ["$"]


def _item(i: Item) -> LangGraphItem:
    return LangGraphItem(value=i.value, key=i.key, namespace=i.namespace,
                         created_at=i.created_at, updated_at=i.updated_at)


def _search_item(i: Item) -> SearchItem:
    return SearchItem(i.namespace, i.key, i.value, i.created_at, i.updated_at, score=i.score)


class AgentMemStore(BaseStore):
    """LangGraph ``BaseStore`` over an agentmem ``Memory`` or ``MemoryClient``.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` (in-process) or ``agentmem.client.MemoryClient`` (sidecar);
        the store works on its ``items``.
    user_id
        The agentmem user every item belongs to. Give this or ``user_position``.
    user_position
        Take the user from this namespace label instead (e.g. ``1`` for
        ``("memories", user_id)``). Reads must then name the user in their prefix.
    tenant
        agentmem tenant of every item; ``None``: the backend's default (``Memory``:
        ``"default"``, ``MemoryClient``: its API key's tenant).
    index
        LangGraph's ``IndexConfig`` (``{"dims", "embed", "fields"}``), as ``InMemoryStore``
        and ``PostgresStore`` take it: its ``fields`` are the default index fields. Items are
        embedded by the memory's own embedder, so that store items and memories rank
        together; an ``embed`` given here is not used (a warning says so).
    fields
        Default JSON paths whose text is indexed for ``search(query=...)`` (same as
        ``index["fields"]``; ``["$"]``, the default, is the whole value). A put's ``index``
        argument overrides it per item.
    ttl
        LangGraph ``TTLConfig``: ``default_ttl`` (minutes) for puts without their own,
        ``refresh_on_read`` (default ``True``). Expired items are never returned and are
        deleted when a read meets them or by :meth:`sweep_expired`.
    clock
        Returns the current UTC time, sent as the time of every operation (tests pass a fake
        one to exercise TTLs); ``None``: the item store's own clock.

    Ops in one ``batch`` run in order, so a get after a put in the same batch sees the put;
    consecutive puts are sent together (new items are embedded in one call). Searches without
    a query return items newest-updated first; with a query, ranked by agentmem's fused score
    (``SearchItem.score``), then the items the query did not rank with ``score=None``.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: Any,
        *,
        user_id: str | None = None,
        user_position: int | None = None,
        tenant: str | None = None,
        index: IndexConfig | None = None,
        fields: Iterable[str] | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if (user_id is None) == (user_position is None):
            raise ValidationError("give exactly one of user_id and user_position")
        if user_position is not None and (
            not isinstance(user_position, int) or isinstance(user_position, bool) or user_position < 0
        ):
            raise ValidationError("user_position must be a non-negative integer")
        items: ItemStore | HttpItemStore = getattr(memory, "items", None)  # type: ignore[assignment]
        if not all(callable(getattr(items, m, None)) for m in _ITEM_METHODS):
            raise ValidationError(
                f"expected an agentmem Memory or MemoryClient, got {type(memory).__name__} (no item store)"
            )
        self.memory = memory
        self.items = items
        self.user_id = user_id
        self.user_position = user_position
        self.tenant = tenant
        self.fields = index_fields(index, fields)
        if not self.fields or not all(isinstance(f, str) and f for f in self.fields):
            raise ValidationError("fields must be a non-empty list of JSON paths")
        self.ttl_config = ttl
        self._clock = clock

    # -- BaseStore ---------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the ops in order; one result per op (``None`` for puts)."""
        results: list[Result] = []
        pending: list[PutOp] = []
        for op in list(ops):
            if isinstance(op, PutOp):
                pending.append(op)
                results.append(None)
                continue
            self._put(pending)
            pending = []
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise ValidationError(f"unknown store operation {type(op).__name__}")
        self._put(pending)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` on a worker thread (the backends are synchronous)."""
        return await asyncio.to_thread(self.batch, list(ops))

    def sweep_expired(self, user_id: str | None = None) -> int:
        """Delete expired items of a user (default: the configured one); returns how many."""
        user = user_id or self.user_id
        if user is None:
            raise ValidationError("sweep_expired needs user_id when the store has user_position")
        return int(self.items.sweep_expired(user_id=user, now=self._now(), **tenant_kwargs(self.tenant)))

    # -- ops ---------------------------------------------------------------------------------
    def _now(self) -> datetime | None:
        return None if self._clock is None else self._clock()

    def _user_for(self, namespace: tuple[str, ...], what: str) -> str:
        if self.user_position is None:
            assert self.user_id is not None
            return self.user_id
        if len(namespace) <= self.user_position:
            raise InvalidNamespaceError(
                f"{what} namespace {namespace} has no label at user_position {self.user_position}"
            )
        return namespace[self.user_position]

    def _read_user(self, prefix: tuple[str, ...], what: str) -> str:
        if self.user_position is not None and (
            len(prefix) <= self.user_position or prefix[self.user_position] == "*"
        ):
            raise ValidationError(
                f"{what} must name the user: with user_position={self.user_position} the prefix "
                f"needs at least {self.user_position + 1} labels (got {prefix}); reads never cross users"
            )
        return self._user_for(prefix, what)

    def _put(self, ops: list[PutOp]) -> None:
        if not ops:
            return
        puts = []
        for op in ops:
            _validate_labels(op.namespace, for_write=True)
            index = op.index if op.index is not None else self.fields
            puts.append(ItemPut(op.namespace, str(op.key), op.value, index, op.ttl,
                                self._user_for(op.namespace, "put")))
        self.items.put_many(puts, now=self._now(), **tenant_kwargs(self.tenant))

    def _get(self, op: GetOp) -> LangGraphItem | None:
        _validate_labels(op.namespace, for_write=False)
        if not op.namespace:
            return None
        found = self.items.get(op.namespace, str(op.key), user_id=self._user_for(op.namespace, "get"),
                               refresh_ttl=op.refresh_ttl, now=self._now(), **tenant_kwargs(self.tenant))
        return None if found is None else _item(found)

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        _validate_labels(prefix, for_write=False)
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("search limit and offset must be >= 0")
        found = self.items.search(
            prefix, user_id=self._read_user(prefix, "search"), query=op.query, filter=op.filter,
            limit=op.limit, offset=op.offset, refresh_ttl=op.refresh_ttl, now=self._now(),
            **tenant_kwargs(self.tenant),
        )
        return [_search_item(i) for i in found]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions: dict[str, tuple[str, ...]] = {}
        for c in op.match_conditions or ():
            _validate_labels(tuple(c.path), for_write=False)
            if c.match_type not in ("prefix", "suffix") or c.match_type in conditions:
                raise ValidationError("list_namespaces takes at most one prefix and one suffix condition")
            conditions[c.match_type] = tuple(c.path)
        if op.max_depth is not None and op.max_depth < 1:
            raise ValidationError("max_depth must be >= 1")
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("list_namespaces limit and offset must be >= 0")
        prefix = conditions.get("prefix", ())
        return list(self.items.list_namespaces(
            user_id=self._read_user(prefix, "list_namespaces"), prefix=prefix, suffix=conditions.get("suffix"),
            max_depth=op.max_depth, limit=op.limit, offset=op.offset, now=self._now(),
            **tenant_kwargs(self.tenant),
        ))
