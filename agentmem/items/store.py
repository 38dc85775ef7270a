"""The item store: LangGraph's store semantics over a :class:`~agentmem.Memory`'s turns.

Writes go through the memory's write path (so items are embedded once, versioned, logged and
deleted with their user); reads are queries on the item turns (:mod:`agentmem.store.item_rows`);
a search with a query is ranked by the memory's own fused search. The in-process adapter
(``agentmem.adapters.AgentMemStore``) and the sidecar's ``/store`` routes both call this class.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from agentmem._time import as_utc, utcnow
from agentmem.config import DEFAULT_TENANT
from agentmem.errors import ValidationError
from agentmem.items.legacy import Entry, legacy_entries
from agentmem.items.model import (
    META,
    SPEAKER,
    Item,
    ItemPut,
    Record,
    check_index,
    check_key,
    check_namespace,
    check_page,
    check_ttl,
    check_value,
    expiry,
    item_meta,
    matches_namespace,
    record,
    session_of,
)
from agentmem.items.text import index_text
from agentmem.recall.filter_dialect import compile_filter, matches
from agentmem.store.item_rows import ItemRows
from agentmem.types import Hit, Turn

__all__ = ["ItemStore", "MemoryWrites"]

ROLE = "document"
_MAX_K = 1000  # hits one ranked search asks the memory for, per user
_LEGACY_BATCH = 200


class MemoryWrites(Protocol):
    """The :class:`~agentmem.Memory` methods the item store writes and ranks through."""

    def add(self, messages: Any, *, user_id: str, tenant: str = ...) -> list[Turn]: ...

    def update(self, memory_id: str, content: str, *, user_id: str, metadata: Mapping[str, Any] | None = ...,
               tenant: str = ...) -> Turn: ...

    def delete_many(self, memory_ids: Sequence[str], *, user_id: str, tenant: str = ...,
                    missing_ok: bool = ...) -> int: ...

    def search(self, query: str, *, user_id: str, k: int = ..., filters: Mapping[str, Any] | None = ...,
               tenant: str = ...) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class _Put:
    owner: str
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    fields: list[str] | None
    ttl: float | None
    fresh: bool = False  # replaces the item instead of updating it (a delete came first)


def _owner(user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 255 or "\x00" in user_id:
        raise ValidationError("user_id must be a non-empty string of at most 255 characters")
    return user_id


class ItemStore:
    """Put / get / delete / search JSON items by namespace and key; list namespaces.

    Every method is scoped by ``tenant``. An item belongs to a user: ``user_id`` when given,
    else the namespace's first label (LangGraph's ``(user_id, ...)`` convention, which is what
    ``langgraph_sdk`` clients send). Searches and listings read one user's items — ``user_id``,
    else the prefix's first label — or, with neither, every item of the tenant.

    ``now`` (every method): the time of the operation, for timestamps and TTLs; default the
    store's clock.

    Parameters
    ----------
    memory
        The :class:`~agentmem.Memory` whose turns hold the items.
    rows
        The item store's SQL (:class:`~agentmem.store.item_rows.ItemRows`).
    clock
        Returns the current UTC time.
    """

    def __init__(self, memory: MemoryWrites, rows: ItemRows, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.memory = memory
        self.rows = rows
        self._clock = clock
        self._lock = threading.RLock()
        self._adopted = False
        self._adopting = False

    # -- writes ------------------------------------------------------------------------------
    def put(
        self, namespace: Sequence[str], key: str, value: Mapping[str, Any], *, user_id: str | None = None,
        index: Any = None, ttl: float | None = None, tenant: str = DEFAULT_TENANT, now: datetime | None = None,
    ) -> None:
        """Store or replace one item (see :class:`ItemPut` for ``index`` and ``ttl``)."""
        if value is None:
            raise ValidationError("value must be a JSON object (use delete to remove an item)")
        self.put_many([ItemPut(tuple(namespace), key, value, index, ttl, user_id)], tenant=tenant, now=now)

    def put_many(self, puts: Iterable[ItemPut], *, tenant: str = DEFAULT_TENANT, now: datetime | None = None) -> None:
        """Apply puts (and deletes: ``value=None``) in order; new items are embedded together.

        Every put is validated before anything is written. Only the last put of a key is
        applied (what the sequence leaves behind); a delete before it makes it a new item.
        """
        last: dict[tuple[str, tuple[str, ...], str], _Put] = {}
        for p in map(self._check_put, puts):
            prev = last.pop((p.owner, p.namespace, p.key), None)
            if prev is not None and (prev.value is None or prev.fresh):
                p = replace(p, fresh=True)
            last[(p.owner, p.namespace, p.key)] = p
        self._write(tenant, list(last.values()), self._at(now))

    def delete(self, namespace: Sequence[str], key: str, *, user_id: str | None = None,
               tenant: str = DEFAULT_TENANT) -> bool:
        """Remove an item; whether one was there."""
        ns, k = check_namespace(namespace), check_key(key)
        return self._delete(tenant, self._lookup(tenant, self._writer(ns, user_id), ns, k)) > 0

    def sweep_expired(self, *, user_id: str | None = None, tenant: str = DEFAULT_TENANT,
                      now: datetime | None = None) -> int:
        """Delete the expired items of a user (every user of the tenant when ``None``); how many."""
        owner = None if user_id is None else _owner(user_id)
        at = self._at(now)
        return self._delete(tenant, [r for r in self._records(tenant, owner) if r.expired(at)])

    # -- reads -------------------------------------------------------------------------------
    def get(self, namespace: Sequence[str], key: str, *, user_id: str | None = None, refresh_ttl: bool = True,
            tenant: str = DEFAULT_TENANT, now: datetime | None = None) -> Item | None:
        """The item, or ``None`` when absent or expired (an expired item is deleted)."""
        ns, k = check_namespace(namespace), check_key(key)
        found = self._lookup(tenant, self._writer(ns, user_id), ns, k)
        if not found:
            return None
        at = self._at(now)
        rec = found[-1]
        if rec.expired(at):
            self._delete(tenant, found)
            return None
        return (self._refresh(tenant, rec, at) if refresh_ttl else rec).item()

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
        tenant: str = DEFAULT_TENANT,
        now: datetime | None = None,
    ) -> list[Item]:
        """Items under a namespace prefix (whole labels), newest-updated first.

        ``filter``: agentmem's filter dialect over the value (:func:`agentmem.compile_filter`:
        ``$eq $ne $gt $gte $lt $lte $in $nin $contains``, ``$and $or $not``, dotted keys).
        ``query``: ranked by the memory's fused search first (``Item.score``), then the items
        the query did not rank (``index=False`` ones among them) with ``score=None``.
        """
        prefix = check_namespace(namespace_prefix, allow_empty=True)
        check_page(limit, offset)
        if filter is not None and not isinstance(filter, Mapping):
            raise ValidationError("filter must be a mapping")
        if query is not None and not isinstance(query, str):
            raise ValidationError("query must be a string")
        expr = compile_filter(filter) if filter else None
        at = self._at(now)
        live = self._live(tenant, self._reader(prefix[:1], user_id), at)
        records = [r for r in live
                   if r.namespace[: len(prefix)] == prefix and (expr is None or matches(expr, r.value))]
        records.sort(key=lambda r: (r.updated_at, r.turn.seq), reverse=True)
        if query and query.strip() and records:
            scored = self._rank(tenant, query, records, Counter(r.owner for r in live))
        else:
            scored = [(r, None) for r in records]
        page = scored[offset : offset + limit]
        if refresh_ttl:
            page = [(self._refresh(tenant, r, at), s) for r, s in page]
        return [r.item(s) for r, s in page]

    def list_namespaces(
        self,
        *,
        user_id: str | None = None,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
        tenant: str = DEFAULT_TENANT,
        now: datetime | None = None,
    ) -> list[tuple[str, ...]]:
        """Distinct namespaces of live items, sorted; ``"*"`` in ``prefix`` / ``suffix``
        matches any one label; ``max_depth`` truncates (and merges) deeper namespaces."""
        pre = check_namespace(prefix or (), allow_empty=True)
        suf = check_namespace(suffix or (), allow_empty=True)
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1):
            raise ValidationError("max_depth must be an integer >= 1")
        check_page(limit, offset)
        first = pre[:1] if pre[:1] != ("*",) else ()
        found = {r.namespace for r in self._live(tenant, self._reader(first, user_id), self._at(now))}
        found = {ns for ns in found if matches_namespace(ns, pre, "prefix") and matches_namespace(ns, suf, "suffix")}
        if max_depth is not None:
            found = {ns[:max_depth] for ns in found}
        return sorted(found)[offset : offset + limit]

    def count(self) -> int:
        """Stored items across tenants, expired ones not yet deleted included (for metrics)."""
        self._adopt_legacy()
        return self.rows.count(role=ROLE, speaker=SPEAKER)

    # -- legacy rows -------------------------------------------------------------------------
    def import_legacy(self, *, batch: int = _LEGACY_BATCH) -> int:
        """Move the rows of the ``store_items`` table into items; returns rows consumed.

        Each row keeps its timestamps and TTL; expired rows are dropped; a row whose key was
        written since (a newer item) is dropped too. Runs once per store, on first use.
        """
        consumed = 0
        while rows := self.rows.legacy(batch):
            for (tenant, owner), entries in legacy_entries(rows, self._clock()).items():
                new = []
                for entry in entries:
                    existing = self._lookup(tenant, owner, entry[0], entry[1])
                    if not existing:
                        new.append(entry)
                    elif existing[-1].updated_at < entry[4]:
                        self._update(tenant, existing[-1], entry[2], entry[3])
                self._add(tenant, owner, new)
            self.rows.drop_legacy(rows)
            consumed += len(rows)
        return consumed

    def _adopt_legacy(self) -> None:
        if self._adopted:
            return
        with self._lock:  # other threads wait until the rows have moved; this one re-enters
            if self._adopted or self._adopting:
                return
            self._adopting = True
            try:
                self.import_legacy()
                self._adopted = True
            finally:
                self._adopting = False

    # -- internals ---------------------------------------------------------------------------
    def _at(self, now: datetime | None) -> datetime:
        return self._clock() if now is None else as_utc(now)

    @staticmethod
    def _writer(namespace: tuple[str, ...], user_id: str | None) -> str:
        return _owner(namespace[0] if user_id is None else user_id)

    @staticmethod
    def _reader(first: tuple[str, ...], user_id: str | None) -> str | None:
        if user_id is not None:
            return _owner(user_id)
        return first[0] if first else None

    def _check_put(self, p: ItemPut) -> _Put:
        if not isinstance(p, ItemPut):
            raise ValidationError(f"expected an ItemPut, got {type(p).__name__}")
        ns, key = check_namespace(p.namespace), check_key(p.key)
        value = None if p.value is None else check_value(p.value)
        return _Put(self._writer(ns, p.user_id), ns, key, value, check_index(p.index), check_ttl(p.ttl))

    def _records(self, tenant: str, owner: str | None, session: str | None = None) -> list[Record]:
        self._adopt_legacy()
        turns = self.rows.turns(tenant, owner, role=ROLE, speaker=SPEAKER, session_id=session)
        return [r for r in map(record, turns) if r is not None]

    def _lookup(self, tenant: str, owner: str, ns: tuple[str, ...], key: str) -> list[Record]:
        return [r for r in self._records(tenant, owner, session_of(ns, key)) if r.namespace == ns and r.key == key]

    def _live(self, tenant: str, owner: str | None, at: datetime) -> list[Record]:
        """Unexpired items (one per owner/namespace/key); expired ones and duplicates are deleted."""
        latest: dict[tuple[str, tuple[str, ...], str], Record] = {}
        stale: list[Record] = []
        for rec in self._records(tenant, owner):
            if rec.expired(at):
                stale.append(rec)
                continue
            prev = latest.get((rec.owner, rec.namespace, rec.key))
            if prev is not None:
                stale.append(prev)
            latest[(rec.owner, rec.namespace, rec.key)] = rec
        self._delete(tenant, stale)
        return list(latest.values())

    def _write(self, tenant: str, group: list[_Put], at: datetime) -> None:
        """Puts of distinct keys: deletes and updates one by one, new items added per owner."""
        new: dict[str, list[Entry]] = defaultdict(list)
        for p in group:
            existing = self._lookup(tenant, p.owner, p.namespace, p.key)
            if p.value is None or p.fresh:
                self._delete(tenant, existing)
                if p.value is None:
                    continue
                existing = []
            text, indexed = index_text(p.value, p.fields)
            current = existing[-1] if existing else None
            created = current.created_at if current is not None and not current.expired(at) else at
            meta = item_meta(p.namespace, p.key, p.value, indexed=indexed, ttl=p.ttl, expires_at=expiry(p.ttl, at),
                             created_at=created, updated_at=at)
            if current is None:
                new[p.owner].append((p.namespace, p.key, text, meta, at))
            else:
                self._update(tenant, current, text, meta)
                self._delete(tenant, existing[:-1])
        for owner, entries in new.items():
            self._add(tenant, owner, entries)

    def _add(self, tenant: str, owner: str, entries: list[Entry]) -> None:
        if not entries:
            return
        added = self.memory.add(
            [{"role": ROLE, "speaker": SPEAKER, "content": text, "id": session_of(ns, key),
              "session_id": session_of(ns, key), "timestamp": at, "metadata": {META: meta}}
             for ns, key, text, meta, at in entries],
            user_id=owner, tenant=tenant,
        )
        stored = {t.scope.session_id for t in added}
        for ns, key, text, meta, _ in entries:
            if session_of(ns, key) in stored:
                continue
            # another writer created the key between our lookup and our add: last writer wins
            raced = self._lookup(tenant, owner, ns, key)
            if raced:
                self._update(tenant, raced[-1], text, {**meta, "created_at": raced[-1].meta()["created_at"]})

    def _update(self, tenant: str, rec: Record, text: str, meta: dict[str, Any]) -> None:
        self.memory.update(rec.turn.id, text, user_id=rec.owner, metadata={META: meta}, tenant=tenant)

    def _refresh(self, tenant: str, rec: Record, at: datetime) -> Record:
        """Restart an item's TTL on read (items without a TTL are untouched)."""
        if rec.ttl is None:
            return rec
        fresh = replace(rec, expires_at=expiry(rec.ttl, at))
        self._update(tenant, rec, rec.turn.content, fresh.meta())
        return fresh

    def _delete(self, tenant: str, records: Iterable[Record]) -> int:
        by_owner: dict[str, list[str]] = defaultdict(list)
        for r in records:
            by_owner[r.owner].append(r.turn.id)
        return sum(self.memory.delete_many(ids, user_id=owner, tenant=tenant, missing_ok=True)
                   for owner, ids in by_owner.items())

    def _rank(self, tenant: str, query: str, records: list[Record],
              live_per_owner: Counter[str]) -> list[tuple[Record, float | None]]:
        """Ranked records by score (each owner's items ranked by that owner's memory), then the rest."""
        rest = {r.turn.id: r for r in records}
        ranked: list[tuple[Record, float | None]] = []
        for owner in sorted({r.owner for r in records}):
            hits = self.memory.search(
                query, user_id=owner, k=max(1, min(_MAX_K, live_per_owner[owner])),
                filters={"role": ROLE, "speaker": SPEAKER}, tenant=tenant,
            )
            for h in hits:
                rec = rest.get(h.id) if h.kind == "turn" else None
                if rec is not None and rec.indexed:
                    ranked.append((rec, float(h.score)))
                    del rest[h.id]
        ranked.sort(key=lambda pair: -(pair[1] or 0.0))
        return ranked + [(r, None) for r in records if r.turn.id in rest]

