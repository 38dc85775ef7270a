"""The sidecar's ASGI app: one :class:`~agentmem.Memory` per process, owned by the lifespan.

``agentmem serve`` runs :func:`create_app_from_env` under uvicorn (a factory, so that
``--workers N`` gives each worker its own ``Memory``); every replica is stateless over the
shared SQL database and Chroma server.

Settings come from :mod:`agentmem.server.settings`; errors are mapped to HTTP in one place,
:func:`agentmem.server.http_errors.error_response`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from agentmem import __version__
from agentmem.errors import AgentMemError, StorageError
from agentmem.server.http_errors import (
    BodyLimitMiddleware,
    CatchAllMiddleware,
    error_response,
    reply,
)
from agentmem.server.keys import KeyStore
from agentmem.server.limits import (
    LOOPBACK_HOSTS,
    BodyTimeoutMiddleware,
    HostCheckMiddleware,
    RateLimitMiddleware,
    TokenBuckets,
)
from agentmem.server.metrics import Metrics, MetricsMiddleware
from agentmem.server.safety import SafeJSONResponse
from agentmem.server.schemas import ErrorOut, Status
from agentmem.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "create_app_from_env", "error_response"]

log = logging.getLogger("agentmem.server")



def _memory_from(settings: ServerSettings) -> Any:
    from agentmem.config_file import load_settings
    from agentmem.memory import Memory
    from agentmem.resolve import settle_config

    if settings.threads is not None:
        import torch

        torch.set_num_threads(settings.threads)  # process-wide: this process serves one memory
    # agentmem.toml < AGENTMEM_* (read into settings) < serve's flags (passed on as AGENTMEM_*)
    src = load_settings(home=settings.home, db_url=settings.db_url, chroma=settings.chroma, device=settings.device,
                        graph=settings.graph, episodes=settings.episodes, fusion=settings.fusion)
    config = settle_config(src.config, graph=src.graph, episodes=src.episodes, fusion=src.fusion)
    # Replicas started together on a fresh database race to create the schema (Postgres
    # CREATE TABLE is not idempotent under concurrency); the loser retries and finds it made.
    for attempt in range(5):
        try:
            return Memory(config)
        except StorageError:
            if attempt == 4:
                raise
            log.warning("store not ready (attempt %d), retrying", attempt + 1)
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids are the route functions' names (``add_messages``, ``search``)."""
    return route.name


def create_app(settings: ServerSettings | None = None, *, memory: Any = None) -> FastAPI:
    """The sidecar app. ``memory``: use this :class:`Memory` (tests) instead of building one."""
    settings = settings or ServerSettings()
    if settings.max_body_bytes < 1024:
        raise ValueError("max_body_bytes must be at least 1024")
    if settings.admin_key is not None and len(settings.admin_key) < 16:
        raise ValueError("AGENTMEM_ADMIN_KEY must be at least 16 characters")
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = memory is None
        mem = await run_in_threadpool(_memory_from, settings) if owned else memory
        app.state.memory = mem
        app.state.keys = KeyStore(mem.maintenance.database.engine)
        if settings.auth and not settings.admin_key:
            log.warning("AGENTMEM_ADMIN_KEY is not set: keys can be managed only with `agentmem keys`")
        try:
            yield
        finally:
            if owned:
                mem.close()

    app = FastAPI(
        title="agentmem",
        version=__version__,
        description="Long-term memory for LLM applications: REST API of the agentmem sidecar.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    for exc_type in (RequestValidationError, HTTPException, AgentMemError, Exception):
        app.add_exception_handler(exc_type, error_response)
    app.add_middleware(CatchAllMiddleware)  # innermost: the others see its 500 as a response
    if settings.body_timeout > 0:
        app.add_middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.rate_limit > 0:
        buckets = TokenBuckets(settings.rate_limit, max(settings.rate_burst, settings.rate_limit, 1.0))
        app.add_middleware(RateLimitMiddleware, buckets=buckets, reply=reply)
    if not settings.auth:
        app.add_middleware(HostCheckMiddleware, allowed=LOOPBACK_HOSTS | settings.allowed_hosts, reply=reply)

    from agentmem.server.inspect_routes import router as inspect_router
    from agentmem.server.routes import router
    from agentmem.server.store_routes import router as store_router

    app.include_router(router)
    app.include_router(store_router)
    app.include_router(inspect_router)
    if settings.ui:
        from agentmem.server.ui import router as ui_router

        app.include_router(ui_router)

    @app.get("/healthz", response_model=Status, tags=["ops"])
    def healthz() -> Status:
        """The process is up."""
        return Status(status="ok")

    @app.get("/readyz", response_model=Status, tags=["ops"], responses={503: {"model": ErrorOut}})
    def readyz(request: Request) -> Status:
        """The SQL store and the vector store answer."""
        request.app.state.memory.maintenance.check_ready()
        return Status(status="ready")

    @app.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
    def prometheus(request: Request) -> PlainTextResponse:
        """Prometheus text: request counts and latencies, memory counts (across tenants: the
        admin key only, unless the server runs with ``AGENTMEM_METRICS=public``)."""
        from agentmem.server.auth import admin as require_admin
        from agentmem.server.routes import store_counts

        if not settings.public_metrics:
            require_admin(request)

        gauges = {}
        try:
            counts = store_counts(request.app.state.memory)
            gauges = {f"agentmem_{name}": (f"{name.replace('_', ' ')} in the store", float(n))
                      for name, n in counts.items()}
        except AgentMemError:
            gauges = {"agentmem_store_up": ("whether the store answered the count", 0.0)}
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4")

    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn (``agentmem serve``): settings from ``AGENTMEM_*`` variables."""
    return create_app(ServerSettings.from_env())

