"""What the server and the batch indexer need of a :class:`~agentmem.Memory` beyond its user API.

``Memory.maintenance`` is a :class:`Maintenance`: readiness, tenants' users and row counts for
the server; write plans for the batch indexer (which messages are new, which texts storing
them embeds, see :meth:`agentmem.engine.Engine.plan`); the SQL store for modules that keep
their own tables in it (API keys, index jobs, LangGraph items). Nothing outside ``memory.py``,
``engine.py`` and ``store/`` reaches into ``Memory.services``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from agentmem.config import DEFAULT_TENANT
from agentmem.embedding import embed_query
from agentmem.engine import Engine, WritePlan
from agentmem.errors import StorageError
from agentmem.mechanisms.base import Services
from agentmem.store import schema as tables
from agentmem.store.sql import SqlStore
from agentmem.types import Scope

__all__ = ["Maintenance"]

ScopeOf = Callable[..., Scope]  # (tenant, user_id, session_id=None) -> a validated Scope

_COUNTED = (("memories", tables.turns), ("users", tables.users), ("thoughts", tables.thoughts),
            ("episodes", tables.episodes), ("store_items", tables.store_items))


class Maintenance:
    """Operations on one ``Memory``'s stores that its users do not call (see the module docstring).

    Parameters
    ----------
    services, engine
        The ``Memory``'s stores and models, and its write path.
    scope_of
        ``Memory``'s validation of ids: ``(tenant, user_id, session_id=None) -> Scope``.
    """

    def __init__(self, services: Services, engine: Engine, scope_of: ScopeOf) -> None:
        self._s = services
        self._engine = engine
        self._scope_of = scope_of

    # -- the server --------------------------------------------------------------------------
    def check_ready(self) -> None:
        """Raise :class:`StorageError` unless the SQL store and the vector store answer."""
        try:
            with self._s.sql.begin() as conn:
                conn.exec_driver_sql("SELECT 1")
            self._s.vectors.heartbeat()
        except Exception as exc:
            raise StorageError(f"not ready: {exc.__class__.__name__}") from exc

    def users(self, tenant: str = DEFAULT_TENANT) -> list[str]:
        """The users of ``tenant``, sorted."""
        return self._s.sql.users(tenant)

    def has_user(self, tenant: str, user_id: str) -> bool:
        """Whether ``user_id`` exists in ``tenant`` (another tenant's user does not)."""
        users = tables.users
        with self._s.sql.begin() as conn:
            found = conn.execute(
                sa.select(users.c.user_id).where(users.c.tenant == tenant, users.c.user_id == user_id)
            ).first()
        return found is not None

    def memory_count(self, tenant: str) -> int:
        """How many memories (turns) ``tenant`` holds, over all its users."""
        with self._s.sql.begin() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(tables.turns)
                             .where(tables.turns.c.tenant == tenant)).scalar()
        return int(n or 0)

    def row_counts(self) -> dict[str, int]:
        """Rows in the store across tenants: memories, users, thoughts, episodes, store items."""
        with self._s.sql.begin() as conn:
            return {name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
                    for name, table in _COUNTED}

    def embed_query(self, text: str) -> np.ndarray:
        """``text``'s query vector, as a search computes it."""
        return embed_query(self._s.embedder, text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's vectors of ``texts`` (unit-norm rows)."""
        return self._s.embedder.embed(texts)

    @property
    def database(self) -> SqlStore:
        """The SQL store, for modules that keep their own tables in it (keys, index jobs, items)."""
        return self._s.sql

    @property
    def device(self) -> str:
        """The torch device of in-memory indexes and local models (``"cpu"``, ``"cuda:0"``, ...)."""
        return self._s.device

    @property
    def dimension(self) -> int:
        """The embedder's vector dimension."""
        return int(self._s.embedder.dim)

    # -- the batch indexer ---------------------------------------------------------------------
    def plan(self, messages: Sequence[Mapping[str, Any]], *, user_id: str, session_id: str | None = None,
             tenant: str = DEFAULT_TENANT) -> WritePlan:
        """Which ``messages`` ``Memory.add`` would store, and the texts it would embed storing
        them (pass their vectors as ``Memory.add(..., vectors=...)``); see
        :meth:`agentmem.engine.Engine.plan`."""
        return self._engine.plan(self._scope_of(tenant, user_id, session_id), messages)
