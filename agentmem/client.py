"""HTTP clients for the agentmem sidecar, with the methods (and return types) of :class:`Memory`.

>>> from agentmem.client import MemoryClient
>>> mem = MemoryClient("http://127.0.0.1:8750", api_key="amk_...")        # doctest: +SKIP
>>> mem.add("I adopted a cat named Miso", user_id="ada")                  # doctest: +SKIP
>>> mem.search("what is my cat called?", user_id="ada")[0].text           # doctest: +SKIP
'I adopted a cat named Miso'

:class:`AsyncMemoryClient` has the same methods, each returning an awaitable. Both drive the
same request logic: every method is written once, as a generator that yields HTTP requests
and receives their responses (:mod:`agentmem._client_api`, over the wire format of
:mod:`agentmem._client_wire`); the two classes differ only in how they send.
Errors are those of :mod:`agentmem.errors` (422 → ``ValidationError``, 404 →
``NotFoundError``, 401/403 → ``AuthError``, 503 or an unreachable server → ``StorageError``).
A user the server does not know reads as an empty memory, exactly as with :class:`Memory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from agentmem._client_api import Api
from agentmem._client_wire import Ops
from agentmem.errors import StorageError

if TYPE_CHECKING:
    from agentmem.items.http import HttpItemStore

__all__ = ["AsyncMemoryClient", "MemoryClient"]

T = TypeVar("T")


class MemoryClient(Api):
    """Blocking client: ``MemoryClient(base_url, api_key)`` has :class:`Memory`'s methods.

    ``base_url`` defaults to ``$AGENTMEM_URL`` or ``http://127.0.0.1:8750``; ``api_key`` to
    ``$AGENTMEM_API_KEY`` (none: for a sidecar started with ``--no-auth``).

    ``tenant``: optional; when set, every request asserts that the key belongs to it (with
    auth disabled on the server it selects the tenant). ``transport``: an ``httpx`` transport
    (e.g. ``httpx.MockTransport`` in tests).
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 tenant: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, tenant)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=timeout,
                                  transport=transport)

    def _run(self, ops: Ops[T]) -> T:
        try:
            req = next(ops)
            while True:
                try:
                    resp = self._http.request(req.method, req.path, json=req.json, params=req.params or None,
                                              headers=self._tenant_headers(req.tenant))
                except httpx.TransportError as exc:
                    raise StorageError(f"cannot reach agentmem at {self.base_url}: {exc}") from exc
                req = ops.send(resp)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    @property
    def items(self) -> HttpItemStore:
        """The sidecar's item store (LangGraph-style JSON items): see :mod:`agentmem.items`."""
        from agentmem.items.http import HttpItemStore

        return HttpItemStore(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMemoryClient(Api):
    """Asyncio client: the same methods as :class:`MemoryClient`, each to be awaited."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 tenant: str | None = None, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, tenant)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=timeout,
                                       transport=transport)

    async def _drive(self, ops: Ops[T]) -> T:
        try:
            req = next(ops)
            while True:
                try:
                    resp = await self._http.request(req.method, req.path, json=req.json, params=req.params or None,
                                                    headers=self._tenant_headers(req.tenant))
                except httpx.TransportError as exc:
                    raise StorageError(f"cannot reach agentmem at {self.base_url}: {exc}") from exc
                req = ops.send(resp)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _run(self, ops: Ops[T]) -> Any:
        return self._drive(ops)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

