"""What a chunk asks of the store before anything is embedded: the messages not stored yet
and every text storing them embeds (:meth:`agentmem.maintenance.Maintenance.plan`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentmem.batch.readers import Conversation
from agentmem.config import default_user

__all__ = ["plan_chunk", "user_of"]


def user_of(conv: Conversation, user: str | None) -> str:
    """``user`` if given, else the user the record names, else :func:`default_user`."""
    return user or conv.user or default_user()


def plan_chunk(mem: Any, convs: Sequence[Conversation], *, user: str | None, tenant: str
               ) -> tuple[list[list[Mapping[str, Any]]], list[str]]:
    """Per conversation the messages not stored yet, and the texts storing them embeds (each once).

    The texts come from the write path itself (each turn's rendering, the turn component's
    in-context views and passages), so the vectors computed for them are the ones ``Memory.add``
    asks for.
    """
    fresh: list[list[Mapping[str, Any]]] = []
    texts: list[str] = []
    for conv in convs:
        plan = mem.maintenance.plan(conv.messages, user_id=user_of(conv, user), session_id=conv.session_id,
                                    tenant=tenant)
        fresh.append([conv.messages[i] for i in plan.fresh])
        texts += plan.texts
    return fresh, list(dict.fromkeys(texts))
