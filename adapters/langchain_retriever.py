"""A LangChain retriever (``langchain_core.retrievers.BaseRetriever``) over agentmem search.

>>> retriever = AgentMemRetriever(memory=Memory(), user_id="ada", k=4)   # doctest: +SKIP
>>> chain = {"context": retriever, "question": RunnablePassthrough()} | prompt | model  # doctest: +SKIP
>>> retriever.invoke("what is my cat called?", k=2)                      # doctest: +SKIP

Each ``Document`` is one hit: ``page_content`` is the memory's text, ``id`` its agentmem id,
and ``metadata`` carries provenance and scores — ``id``, ``kind`` (turn / episode /
thought), ``score`` (the fused score results are ordered by), ``signals`` (signal → rank:
which of dense / bm25 / time / episode / graph / thought found it), ``signal_scores``,
``timestamp``, ``speaker``, ``user_id``, ``tenant`` and the memory's own metadata
(``session_id``, ``seq``, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from agentmem import BackendUnavailableError, ValidationError

from ._backend import MemoryBackend, check_backend, hit_metadata, tenant_kwargs

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import field_validator
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langchain-core", "langchain") from exc

__all__ = ["AgentMemRetriever"]


class AgentMemRetriever(BaseRetriever):
    """Retrieve a user's memories as LangChain ``Document`` objects.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` or ``agentmem.client.MemoryClient``.
    user_id, tenant
        Whose memories are searched (``tenant=None``: the backend's default).
    k
        How many documents to return (``invoke(query, k=...)`` overrides it per call).
    filters
        agentmem search filters, the one dialect of ``Memory.search`` (e.g.
        ``{"agent_id": "bot", "topic": {"$in": ["a", "b"]}}``); ``invoke(query, filters=...)``
        overrides them per call.
    """

    memory: Any
    user_id: str
    tenant: str | None = None
    k: int = 4
    filters: dict[str, Any] | None = None

    @field_validator("memory")
    @classmethod
    def _check_memory(cls, value: Any) -> MemoryBackend:
        return check_backend(value)

    def _search(self, query: str, k: int | None, filters: Mapping[str, Any] | None) -> list[Document]:
        n = self.k if k is None else k
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValidationError("k must be a positive integer")
        hits = self.memory.search(
            query, user_id=self.user_id, k=n, **tenant_kwargs(self.tenant),
            filters=self.filters if filters is None else filters,
        )
        return [
            Document(id=h.id, page_content=h.text, metadata=hit_metadata(h))
            for h in hits
        ]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        return self._search(query, k, filters)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query, k, filters)
