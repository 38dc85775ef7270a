"""Rows of the legacy ``store_items`` table as item writes (pure: no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agentmem.items.model import item_meta
from agentmem.items.text import index_text
from agentmem.store.item_rows import LegacyItem

__all__ = ["Entry", "legacy_entries"]

# (namespace, key, text, metadata entry, turn timestamp): one new item turn
Entry = tuple[tuple[str, ...], str, str, dict[str, Any], datetime]


def legacy_entries(rows: Iterable[LegacyItem], now: datetime) -> dict[tuple[str, str], list[Entry]]:
    """The unexpired rows as item entries, grouped by ``(tenant, user_id)``.

    A row keeps its timestamps and TTL; its whole value is indexed (the table had no index
    fields).
    """
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for r in rows:
        if r.expires_at is not None and r.expires_at <= now:
            continue
        text, indexed = index_text(r.value, ["$"])
        meta = item_meta(r.namespace, r.key, r.value, indexed=indexed, ttl=r.ttl, expires_at=r.expires_at,
                         created_at=r.created_at, updated_at=r.updated_at)
        groups[(r.tenant, r.user_id)].append((r.namespace, r.key, text, meta, r.updated_at))
    return dict(groups)
