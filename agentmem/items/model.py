"""Items, their validation, and how an item is kept in a memory's metadata.

An item is one turn of its owner (role ``document``, speaker :data:`SPEAKER`) in a session of
its own derived from ``(namespace, key)``; the turn's text is the item's index text and its
metadata under :data:`META` holds the exact value, both timestamps and the TTL.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from agentmem.errors import ValidationError
from agentmem.types import Turn

__all__ = [
    "META",
    "SPEAKER",
    "Item",
    "ItemPut",
    "check_key",
    "check_namespace",
    "matches_namespace",
]

SPEAKER = "langgraph-store"
META = "langgraph_store"
MAX_LABEL = 255
_MAX_NAMESPACE = 1024
_MAX_TTL = 1e8  # minutes


@dataclass(frozen=True, slots=True)
class Item:
    """A stored JSON document; ``score`` is set by a search with a query for ranked items."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    score: float | None = None


@dataclass(frozen=True, slots=True)
class ItemPut:
    """One write: store ``value`` at ``(namespace, key)``, or delete the item when it is ``None``.

    ``index``: ``None`` indexes the whole value (``["$"]``), ``False`` nothing, else the JSON
    paths to index. ``ttl``: minutes until the item expires (``None``: never). ``user_id``:
    the owner (default: the namespace's first label).
    """

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    index: Literal[False] | Sequence[str] | None = None
    ttl: float | None = None
    user_id: str | None = None


def check_namespace(namespace: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A namespace as a tuple of labels: non-empty strings without ``"."`` or NUL.

    Raises
    ------
    ValidationError
        On anything else (or an empty namespace unless ``allow_empty``).
    """
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise ValidationError("namespace must be a list of strings")
    labels = tuple(namespace)
    if not labels and not allow_empty:
        raise ValidationError("namespace must have at least one label")
    for label in labels:
        if not isinstance(label, str) or not label or len(label) > MAX_LABEL:
            raise ValidationError(f"namespace labels must be non-empty strings of at most {MAX_LABEL} characters")
        if "." in label or "\x00" in label:
            raise ValidationError(f"namespace label {label!r} may not contain '.' or NUL")
    if len(".".join(labels)) > _MAX_NAMESPACE:
        raise ValidationError(f"namespace is longer than {_MAX_NAMESPACE} characters")
    return labels


def check_key(key: Any) -> str:
    """An item key: a non-empty string of at most 255 characters without NUL."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_LABEL or "\x00" in key:
        raise ValidationError(f"key must be a non-empty string of at most {MAX_LABEL} characters")
    return key


def check_value(value: Any) -> dict[str, Any]:
    """A JSON object, copied through JSON: exactly what a read will return."""
    if not isinstance(value, Mapping):
        raise ValidationError("a store value must be a JSON object (a mapping), or None to delete")
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"value is not JSON: {exc}") from exc


def check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (0 < ttl < _MAX_TTL) or math.isnan(ttl):
        raise ValidationError("ttl must be a positive number of minutes")
    return float(ttl)


def check_index(index: Any) -> list[str] | None:
    """``None`` → ``["$"]``; ``False`` → ``None`` (not indexed); else a list of JSON paths."""
    if index is None:
        return ["$"]
    if index is False:
        return None
    if isinstance(index, str) or not isinstance(index, Sequence) or not index:
        raise ValidationError("index must be False or a non-empty list of JSON paths")
    if not all(isinstance(p, str) and p.strip() and "\x00" not in p for p in index):
        raise ValidationError("index paths must be non-empty strings")
    return list(index)


def check_page(limit: Any, offset: Any) -> None:
    for name, v in (("limit", limit), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValidationError(f"{name} must be an integer >= 0")


def session_of(namespace: tuple[str, ...], key: str) -> str:
    """The session holding one item: a digest, so any namespace/key fits the id limits."""
    digest = hashlib.sha256(json.dumps([list(namespace), key]).encode("utf-8")).hexdigest()
    return f"lgstore:{digest[:40]}"


def matches_namespace(
    namespace: tuple[str, ...], path: Sequence[str], match_type: Literal["prefix", "suffix"]
) -> bool:
    """Whether ``path`` (``"*"`` matches any one label) is a prefix / suffix of ``namespace``.

    >>> matches_namespace(("a", "b", "f"), ("a", "*", "f"), "prefix")
    True
    """
    if len(namespace) < len(path):
        return False
    if match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValidationError(f"unsupported namespace match type {match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


@dataclass(frozen=True, slots=True)
class Record:
    """One item as read back from its turn."""

    turn: Turn
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    indexed: bool
    ttl: float | None
    expires_at: datetime | None

    @property
    def owner(self) -> str:
        return self.turn.scope.user_id

    def item(self, score: float | None = None) -> Item:
        return Item(self.namespace, self.key, self.value, self.created_at, self.updated_at, score)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def meta(self) -> dict[str, Any]:
        return item_meta(self.namespace, self.key, self.value, indexed=self.indexed, ttl=self.ttl,
                         expires_at=self.expires_at, created_at=self.created_at, updated_at=self.updated_at)


def item_meta(
    namespace: tuple[str, ...], key: str, value: dict[str, Any], *, indexed: bool, ttl: float | None,
    expires_at: datetime | None, created_at: datetime, updated_at: datetime,
) -> dict[str, Any]:
    """The metadata entry (under :data:`META`) that makes a turn an item."""
    return {
        "namespace": list(namespace), "key": key, "value": value, "indexed": indexed, "ttl": ttl,
        "expires_at": _iso(expires_at), "created_at": _iso(created_at), "updated_at": _iso(updated_at),
    }


def expiry(ttl: float | None, now: datetime) -> datetime | None:
    """When an item with this TTL (minutes) written or read at ``now`` expires."""
    if ttl is None:
        return None
    try:
        return now + timedelta(minutes=ttl)
    except OverflowError as exc:
        raise ValidationError(f"a ttl of {ttl} minutes from {now.isoformat()} is past year 9999") from exc


def record(turn: Turn) -> Record | None:
    """The item a turn holds, or ``None`` for turns that are not items."""
    meta = turn.metadata.get(META)
    if not isinstance(meta, Mapping):
        return None
    expires = meta.get("expires_at")
    return Record(
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
