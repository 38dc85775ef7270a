"""Which messages of a chunk are not stored yet (checked before anything is embedded)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentmem.batch.readers import Conversation
from agentmem.config import default_user
from agentmem.errors import ValidationError
from agentmem.normalize import content_hash, normalize_messages
from agentmem.types import Scope

__all__ = ["fresh_messages", "user_of"]


def user_of(conv: Conversation, user: str | None) -> str:
    """``user`` if given, else the user the record names, else :func:`default_user`."""
    return user or conv.user or default_user()


def fresh_messages(mem: Any, convs: Sequence[Conversation], *, user: str | None, tenant: str
                   ) -> list[list[Mapping[str, Any]]]:
    """Per conversation, the messages not stored yet (one SQL query per user)."""
    cfg = mem.config
    keyed: list[list[tuple[str, Mapping[str, Any]]]] = []
    by_user: dict[str, list[str]] = {}
    for conv in convs:
        uid = user_of(conv, user)
        rows: list[tuple[str, Mapping[str, Any]]] = []
        for m in conv.messages:
            try:
                ((msg, cid),) = normalize_messages([m], max_chars=cfg.message_chars, max_messages=1)
            except ValidationError:
                continue
            h = content_hash(msg, session_id=conv.session_id, caller_id=cid)
            rows.append((h, m))
            by_user.setdefault(uid, []).append(h)
        keyed.append(rows)
    known: set[str] = set()
    for uid, hashes in by_user.items():
        known |= mem.services.sql.existing_hashes(Scope(tenant, uid), hashes)
    return [[m for h, m in rows if h not in known] for rows in keyed]
