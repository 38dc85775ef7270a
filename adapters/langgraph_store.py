"""A LangGraph long-term memory store (``langgraph.store.base.BaseStore``) backed by agentmem.

>>> store = AgentMemStore(Memory(), user_id="ada")                      # doctest: +SKIP
>>> agent = create_agent(model, tools, store=store)                    # doctest: +SKIP
>>> graph = builder.compile(store=store)                               # doctest: +SKIP

How LangGraph items map onto agentmem
-------------------------------------
* **tenant** — fixed per store (``tenant=``; by default the backend's own).
* **user** — either one configured ``user_id`` (every namespace lives in that user's memory)
  or, with ``user_position=i``, the namespace label at position ``i`` (``("memories", "ada")``
  with ``user_position=1`` is user ``ada``). Reads never cross users: a search or listing
  whose prefix does not name the user is refused.
* **collection** — the full namespace tuple, kept in the memory's metadata.

Each item is one memory (a turn with role ``document`` and speaker ``langgraph-store``) in a
session of its own derived from ``(namespace, key)``, so a get is one indexed lookup and a
put on an existing key updates that memory in place (its ``created_at`` is kept). The
memory's text is what gets searched and what recall shows: the ``index`` fields of the value
(store default ``fields=["$"]``, the whole value) rendered as readable ``key: value`` lines
(:func:`render_value`); ``index=False`` items are listed and filtered but never ranked by a
query. The exact value, both timestamps and the TTL live in the
memory's metadata under ``"langgraph_store"``.

Because items are ordinary memories, :meth:`agentmem.Memory.recall` finds them next to the
conversation, which is what makes the store useful as long-term memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agentmem import BackendUnavailableError, Turn, ValidationError, compile_filter, matches_filter

from ._backend import MemoryBackend, check_backend, tenant_kwargs
from ._store_text import field_lines, index_fields, render_value

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        IndexConfig,
        InvalidNamespaceError,
        Item,
        ListNamespacesOp,
        MatchCondition,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
        tokenize_path,
    )
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langgraph (langgraph-checkpoint)", "langchain") from exc

__all__ = ["AgentMemStore", "render_value"]

SPEAKER = "langgraph-store"
_META = "langgraph_store"
_PAGE = 500
_MAX_K = 1000


@dataclass(frozen=True, slots=True)
class _Record:
    """One store item as read back from its memory."""

    turn: Turn
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    indexed: bool
    ttl: float | None
    expires_at: datetime | None

    def item(self) -> Item:
        return Item(
            value=self.value, key=self.key, namespace=self.namespace,
            created_at=self.created_at, updated_at=self.updated_at,
        )

    def search_item(self, score: float | None) -> SearchItem:
        return SearchItem(
            self.namespace, self.key, self.value, self.created_at, self.updated_at, score=score
        )

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _record(turn: Turn) -> _Record | None:
    """The store item a memory holds, or ``None`` for memories that are not store items."""
    meta = turn.metadata.get(_META)
    if not isinstance(meta, Mapping):
        return None
    expires = meta.get("expires_at")
    return _Record(
        turn=turn,
        namespace=tuple(meta["namespace"]),
        key=str(meta["key"]),
        value=dict(meta["value"]),
        created_at=datetime.fromisoformat(meta["created_at"]),
        updated_at=datetime.fromisoformat(meta["updated_at"]),
        indexed=bool(meta.get("indexed", True)),
        ttl=meta.get("ttl"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def _session(namespace: tuple[str, ...], key: str) -> str:
    """The session holding one item: a digest, so any namespace/key fits the id limits."""
    digest = hashlib.sha256(json.dumps([list(namespace), key]).encode("utf-8")).hexdigest()
    return f"lgstore:{digest[:40]}"


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


def _matches_condition(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValidationError(f"unsupported namespace match type {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


class AgentMemStore(BaseStore):
    """LangGraph ``BaseStore`` over an agentmem ``Memory`` or ``MemoryClient``.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` (in-process) or ``agentmem.client.MemoryClient`` (sidecar).
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
        Returns the current UTC time (tests pass a fake one to exercise TTLs).

    Ops in one ``batch`` run in order, so a get after a put in the same batch sees the put.
    Searches without a query return items newest-updated first; with a query, ranked by
    agentmem's fused score (``SearchItem.score``), then the items the query did not rank
    (``index=False`` ones among them) with ``score=None``.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: MemoryBackend | Any,
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
        self.memory = check_backend(memory)
        self.user_id = user_id
        self.user_position = user_position
        self.tenant = tenant
        self.fields = index_fields(index, fields)
        if not self.fields or not all(isinstance(f, str) and f for f in self.fields):
            raise ValidationError("fields must be a non-empty list of JSON paths")
        for f in self.fields:
            if f != "$":
                tokenize_path(f)
        self.ttl_config = ttl
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- BaseStore ---------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the ops in order; one result per op (``None`` for puts).

        Consecutive puts are written together: their new items are embedded and stored in
        one ``Memory.add`` per user (a put of a key already pending starts a new group, so
        later ops always see earlier puts)."""
        results: list[Result] = []
        pending: list[PutOp] = []
        for op in list(ops):
            if isinstance(op, PutOp):
                if any(p.namespace == op.namespace and str(p.key) == str(op.key) for p in pending):
                    self._put_many(pending)
                    pending = []
                pending.append(op)
                results.append(None)
                continue
            self._put_many(pending)
            pending = []
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise ValidationError(f"unknown store operation {type(op).__name__}")
        self._put_many(pending)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` on a worker thread (the backends are synchronous)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- maintenance ---------------------------------------------------------------------------
    def sweep_expired(self, user_id: str | None = None) -> int:
        """Delete expired items of a user (default: the configured one); returns how many."""
        user = user_id or self.user_id
        if user is None:
            raise ValidationError("sweep_expired needs user_id when the store has user_position")
        now = self._clock()
        stale = [r for r in self._scan(user) if r.expired(now)]
        return self._delete(user, stale)

    # -- ops ---------------------------------------------------------------------------------
    def _user_for(self, namespace: tuple[str, ...], what: str) -> str:
        if self.user_position is None:
            assert self.user_id is not None
            return self.user_id
        if len(namespace) <= self.user_position:
            raise InvalidNamespaceError(
                f"{what} namespace {namespace} has no label at user_position {self.user_position}"
            )
        return namespace[self.user_position]

    def _lookup(self, user: str, namespace: tuple[str, ...], key: str) -> list[_Record]:
        turns = self.memory.memories(user_id=user, session_id=_session(namespace, key), **tenant_kwargs(self.tenant))
        return [r for r in map(_record, turns) if r is not None and r.namespace == namespace and r.key == key]

    def _get(self, op: GetOp) -> Item | None:
        _validate_labels(op.namespace, for_write=False)
        if not op.namespace:
            return None
        user = self._user_for(op.namespace, "get")
        found = self._lookup(user, op.namespace, str(op.key))
        if not found:
            return None
        now = self._clock()
        rec = found[-1]
        if rec.expired(now):
            self._delete(user, found)
            return None
        if op.refresh_ttl:
            rec = self._refresh(user, rec, now)
        return rec.item()

    def _put_many(self, ops: list[PutOp]) -> None:
        """Write puts of distinct keys: deletes and updates one by one, new items together."""
        for op in ops:
            _validate_labels(op.namespace, for_write=True)
            if op.value is not None and not isinstance(op.value, Mapping):
                raise ValidationError("a store value must be a mapping (or None to delete)")
        now = self._clock()
        new: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for op in ops:
            key = str(op.key)
            user = self._user_for(op.namespace, "put")
            existing = self._lookup(user, op.namespace, key)
            if op.value is None:
                self._delete(user, existing)
                continue
            value = json.loads(json.dumps(dict(op.value)))  # exactly what a read will return
            text, indexed = self._text(value, op.index)
            meta: dict[str, Any] = {
                "namespace": list(op.namespace),
                "key": key,
                "value": value,
                "indexed": indexed,
                "ttl": op.ttl,
                "expires_at": _iso(now + timedelta(minutes=op.ttl)) if op.ttl is not None else None,
                "created_at": _iso(existing[-1].created_at if existing else now),
                "updated_at": _iso(now),
            }
            if existing:
                self._write(user, existing[-1].turn, text, meta)
                self._delete(user, existing[:-1])
            else:
                new.setdefault(user, []).append((_session(op.namespace, key), text, meta))
        for user, items in new.items():
            added = self.memory.add(
                [{"role": "document", "speaker": SPEAKER, "content": text, "id": session,
                  "session_id": session, "timestamp": now, "metadata": {_META: meta}}
                 for session, text, meta in items],
                user_id=user, **tenant_kwargs(self.tenant),
            )
            stored = {t.scope.session_id for t in added}
            for session, text, meta in items:
                if session in stored:
                    continue
                # a concurrent put created it first: last writer wins
                ns, key = tuple(meta["namespace"]), meta["key"]
                raced = self._lookup(user, ns, key)
                if raced:
                    self._write(user, raced[-1].turn, text, {**meta, "created_at": _iso(raced[-1].created_at)})

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        _validate_labels(prefix, for_write=False)
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("search limit and offset must be >= 0")
        user = self._read_user(prefix, "search")
        now = self._clock()
        expr = compile_filter(op.filter) if op.filter else None  # agentmem's one filter dialect
        live = self._live(user, now)
        records = [
            r for r in live
            if r.namespace[: len(prefix)] == prefix and (expr is None or matches_filter(expr, r.value))
        ]
        records.sort(key=lambda r: (r.updated_at, r.turn.seq), reverse=True)
        scored: list[tuple[_Record, float | None]]
        if op.query and records:
            scored = self._rank(user, op.query, records, k=len(live))
        else:
            scored = [(r, None) for r in records]
        page = scored[op.offset : op.offset + op.limit]
        if op.refresh_ttl:
            page = [(self._refresh(user, r, now), s) for r, s in page]
        return [r.search_item(s) for r, s in page]

    def _rank(
        self, user: str, query: str, records: list[_Record], *, k: int
    ) -> list[tuple[_Record, float | None]]:
        by_id = {r.turn.id: r for r in records}
        hits = self.memory.search(
            query, user_id=user, k=max(1, min(_MAX_K, k)), **tenant_kwargs(self.tenant),
            filters={"role": "document", "speaker": SPEAKER},
        )
        ranked: list[tuple[_Record, float | None]] = []
        for h in hits:
            rec = by_id.pop(h.id, None) if h.kind == "turn" else None
            if rec is not None and rec.indexed:
                ranked.append((rec, float(h.score)))
            elif rec is not None:
                by_id[h.id] = rec  # not indexed: listed with the unranked ones
        ranked.extend((r, None) for r in records if r.turn.id in by_id)
        return ranked

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        for c in conditions:
            _validate_labels(tuple(c.path), for_write=False)
        if op.max_depth is not None and op.max_depth < 1:
            raise ValidationError("max_depth must be >= 1")
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("list_namespaces limit and offset must be >= 0")
        user = self._read_user(self._fixed_prefix(conditions), "list_namespaces")
        now = self._clock()
        found = {r.namespace for r in self._live(user, now)}
        found = {ns for ns in found if all(_matches_condition(c, ns) for c in conditions)}
        if op.max_depth is not None:
            found = {ns[: op.max_depth] for ns in found}
        return sorted(found)[op.offset : op.offset + op.limit]

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _fixed_prefix(conditions: tuple[MatchCondition, ...]) -> tuple[str, ...]:
        """The literal leading labels every listed namespace must have (from prefix conditions)."""
        best: tuple[str, ...] = ()
        for c in conditions:
            if c.match_type != "prefix":
                continue
            fixed = []
            for label in c.path:
                if label == "*":
                    break
                fixed.append(label)
            if len(fixed) > len(best):
                best = tuple(fixed)
        return best

    def _read_user(self, prefix: tuple[str, ...], what: str) -> str:
        if self.user_position is not None and len(prefix) <= self.user_position:
            raise ValidationError(
                f"{what} must name the user: with user_position={self.user_position} the prefix "
                f"needs at least {self.user_position + 1} labels (got {prefix}); reads never cross users"
            )
        return self._user_for(prefix, what)

    def _scan(self, user: str) -> Iterator[_Record]:
        after: int | None = None
        while True:
            page = self.memory.memories(user_id=user, after=after, limit=_PAGE, **tenant_kwargs(self.tenant))
            for turn in page:
                rec = _record(turn)
                if rec is not None:
                    yield rec
            if len(page) < _PAGE:
                return
            after = page[-1].seq

    def _live(self, user: str, now: datetime) -> list[_Record]:
        """The user's unexpired items (one per namespace/key); expired ones are deleted."""
        latest: dict[tuple[tuple[str, ...], str], _Record] = {}
        stale: list[_Record] = []
        for rec in self._scan(user):
            if rec.expired(now):
                stale.append(rec)
                continue
            prev = latest.get((rec.namespace, rec.key))
            if prev is not None:
                stale.append(prev)
            latest[(rec.namespace, rec.key)] = rec
        self._delete(user, stale)
        return list(latest.values())

    def _text(self, value: dict[str, Any], index: Any) -> tuple[str, bool]:
        """The text a memory holds for an item, and whether queries may rank it."""
        if index is False:
            return "\n".join(render_value(value)) or "{}", False
        paths = self.fields if index is None else list(index)
        texts = [line for p in paths for line in field_lines(value, p)]
        if not texts:  # nothing at those paths: keep the value, but unranked
            return "\n".join(render_value(value)) or "{}", False
        return "\n".join(texts), True

    def _write(self, user: str, turn: Turn, text: str, meta: dict[str, Any]) -> None:
        self.memory.update(turn.id, text, user_id=user, metadata={_META: meta}, **tenant_kwargs(self.tenant))

    def _refresh(self, user: str, rec: _Record, now: datetime) -> _Record:
        """Restart an item's TTL on read (items without a TTL are untouched)."""
        if rec.ttl is None:
            return rec
        expires = now + timedelta(minutes=rec.ttl)
        meta = dict(rec.turn.metadata[_META])
        meta["expires_at"] = _iso(expires)
        self._write(user, rec.turn, rec.turn.content, meta)
        return _Record(
            rec.turn, rec.namespace, rec.key, rec.value, rec.created_at, rec.updated_at,
            rec.indexed, rec.ttl, expires,
        )

    def _delete(self, user: str, records: Iterable[_Record]) -> int:
        ids = [r.turn.id for r in records]
        if not ids:
            return 0
        return self.memory.delete_many(ids, user_id=user, **tenant_kwargs(self.tenant), missing_ok=True)
