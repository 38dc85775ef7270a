"""The backend every adapter talks to.

An adapter accepts either an in-process :class:`agentmem.Memory` or an
``agentmem.client.MemoryClient`` talking to a sidecar. Both expose the same methods, so the
adapters type them by that shape (:class:`MemoryBackend`) instead of by class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict, runtime_checkable

from agentmem import ContextPack, Hit, Thought, Turn, ValidationError

__all__ = ["MemoryBackend", "check_backend", "hit_metadata", "tenant_kwargs"]


@runtime_checkable
class MemoryBackend(Protocol):
    """The methods of :class:`agentmem.Memory` the adapters use (``MemoryClient`` has them too)."""

    def add(
        self,
        messages: Any,
        *,
        user_id: str,
        session_id: str | None = ...,
        agent_id: str | None = ...,
        timestamp: datetime | str | float | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        tenant: str = ...,
    ) -> list[Turn]: ...

    def update(
        self,
        memory_id: str,
        content: str,
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = ...,
        tenant: str = ...,
    ) -> Turn: ...

    def delete_many(
        self, memory_ids: Sequence[str], *, user_id: str, tenant: str = ..., missing_ok: bool = ...
    ) -> int: ...

    def memories(
        self,
        *,
        user_id: str,
        session_id: str | None = ...,
        after: int | None = ...,
        limit: int | None = ...,
        tenant: str = ...,
    ) -> list[Turn]: ...

    def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int = ...,
        filters: Mapping[str, Any] | None = ...,
        now: datetime | None = ...,
        tenant: str = ...,
    ) -> list[Hit]: ...

    def recall(
        self,
        query: str,
        *,
        user_id: str,
        token_budget: int = ...,
        k: int = ...,
        filters: Mapping[str, Any] | None = ...,
        now: datetime | None = ...,
        tenant: str = ...,
    ) -> ContextPack: ...

    def think(
        self,
        query: str,
        response: str,
        *,
        user_id: str,
        source_ids: Sequence[str] = ...,
        now: datetime | None = ...,
        tenant: str = ...,
    ) -> list[Thought]: ...


_METHODS = ("add", "update", "delete_many", "memories", "search", "recall", "think")


def check_backend(memory: Any) -> MemoryBackend:
    """Return ``memory`` if it has the methods of :class:`MemoryBackend`, else raise.

    Raises
    ------
    ValidationError
        ``memory`` is neither a ``Memory`` nor a ``MemoryClient`` look-alike.
    """
    missing = [m for m in _METHODS if not callable(getattr(memory, m, None))]
    if missing:
        raise ValidationError(
            f"expected an agentmem Memory or MemoryClient, got {type(memory).__name__} "
            f"(missing {', '.join(missing)})"
        )
    return memory  # type: ignore[no-any-return]



def hit_metadata(hit: Hit) -> dict[str, Any]:
    """A hit's provenance and scores, flat, for a framework document's metadata.

    The memory's own metadata comes first; agentmem's provenance keys (``id``, ``kind``,
    ``score``, ``signals``, ``signal_scores``, ``timestamp``, ``speaker``, ``user_id``,
    ``tenant``, ``source``) override same-named keys in it. A fact hit also carries its
    provenance: ``superseded_by`` (the fact that replaced it) and ``contradicts`` (fact ids).
    """
    extra = {k: v for k, v in hit.metadata.items() if k not in ("triples", "entities")}
    if hit.kind == "fact":
        extra.update(superseded_by=hit.superseded_by, contradicts=list(hit.contradicts))
    return {
        **extra,
        "id": hit.id,
        "kind": hit.kind,
        "score": float(hit.score),
        "signals": dict(hit.signals),
        "signal_scores": {k: float(v) for k, v in hit.signal_scores.items()},
        "timestamp": hit.timestamp.isoformat() if hit.timestamp else None,
        "speaker": hit.speaker,
        "user_id": hit.scope.user_id,
        "tenant": hit.scope.tenant,
        "source": "agentmem",
    }


class TenantArg(TypedDict, total=False):
    tenant: str


def tenant_kwargs(tenant: str | None) -> TenantArg:
    """``{"tenant": tenant}``, or nothing for ``None``: the backend's own default then
    (``Memory``: ``"default"``; ``MemoryClient``: the tenant of its API key)."""
    return TenantArg() if tenant is None else TenantArg(tenant=tenant)


_PAGE = 500


def session_turns(memory: MemoryBackend, *, user_id: str, session_id: str, tenant: str | None) -> list[Turn]:
    """Every turn of one session, in order, read page by page through ``memories``."""
    out: list[Turn] = []
    after: int | None = None
    while True:
        page = memory.memories(
            user_id=user_id, session_id=session_id, after=after, limit=_PAGE, **tenant_kwargs(tenant)
        )
        out.extend(page)
        if len(page) < _PAGE:
            return out
        after = page[-1].seq
