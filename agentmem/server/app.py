"""The sidecar's ASGI app: one :class:`~agentmem.Memory` per process, owned by the lifespan.

``agentmem serve`` runs :func:`create_app_from_env` under uvicorn (a factory, so that
``--workers N`` gives each worker its own ``Memory``); every replica is stateless over the
shared SQL database and Chroma server.

Errors are mapped to HTTP in one place, :func:`error_response`::

    ValidationError, request schema errors  → 422     NotFoundError, unknown route → 404
    AuthError → 401 (ForbiddenError → 403)           payload over the limit        → 413
    StorageError → 503                               anything else → 500, generic message

A body that is not parseable JSON (invalid UTF-8, nesting past the parser's depth, an integer
too long to convert) is a 422 like any other malformed input. Logged errors carry exception
types and code locations, never exception messages: those can quote stored text or SQL
parameters.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem import __version__
from agentmem.config import FUSIONS, SEGMENTERS
from agentmem.errors import AgentMemError, AuthError, NotFoundError, StorageError, ValidationError
from agentmem.server.auth import ForbiddenError, UnknownUserError
from agentmem.server.keys import KeyStore
from agentmem.server.limits import (
    LOOPBACK_HOSTS,
    BodyTimeoutMiddleware,
    HostCheckMiddleware,
    RateLimitMiddleware,
    TokenBuckets,
)
from agentmem.server.metrics import Metrics, MetricsMiddleware
from agentmem.server.safety import SafeJSONResponse, log_trace
from agentmem.server.schemas import ErrorOut, Status
from agentmem.server.store_items import ItemStore

__all__ = ["ServerSettings", "create_app", "create_app_from_env", "error_response"]

log = logging.getLogger("agentmem.server")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the sidecar runs; :meth:`from_env` reads the ``AGENTMEM_*`` variables.

    ``auth=False`` (``AGENTMEM_AUTH=disabled``) turns API keys off: every request acts as
    ``default_tenant``. Meant for local use only; there is no implicit way to get it.
    ``threads`` (``AGENTMEM_THREADS``) sets torch's intra-op threads for the process (adds and
    batch work; a search runs its tensor work on one thread either way, see
    :mod:`agentmem.kernels.threads`); ``None`` keeps torch's default (one per core). A sidecar
    that shares its cores with the assistant wants 1: a descheduled second thread stalls every
    small op.

    The memory mechanisms beyond turns and thoughts are off unless asked for, as in the library:
    ``graph`` (``AGENTMEM_GRAPH=on``: the knowledge graph, built by the offline extractor since
    the sidecar has no chat model), ``episodes`` (``AGENTMEM_EPISODES``: ``off``, ``drift``,
    ``surprise`` or ``auto``, :class:`agentmem.config.EpisodeConfig`) and ``fusion``
    (``AGENTMEM_FUSION``: ``default`` or ``multi-hop``, :meth:`agentmem.config.RecallConfig.multi_hop`).
    Replicas of one store should agree on them: a mechanism switched on later covers only what
    is added from then on. ``ui`` (``AGENTMEM_UI``: ``on`` or ``off``) serves the memory
    inspector page at ``/ui`` (:mod:`agentmem.server.ui`).

    Limits (docs/deployment.md): ``rate_limit`` / ``rate_burst`` (``AGENTMEM_RATE_LIMIT``,
    ``AGENTMEM_RATE_BURST``: requests a second per API key, per process; 0 = off),
    ``body_timeout`` (``AGENTMEM_BODY_TIMEOUT`` seconds for a request body to arrive),
    ``max_request_messages`` / ``max_request_chars`` (``AGENTMEM_MAX_REQUEST_MESSAGES``,
    ``AGENTMEM_MAX_REQUEST_CHARS``: the cost cap of one add, documents or import request),
    ``tenant_quota`` (``AGENTMEM_TENANT_QUOTA``: memories a tenant may hold; 0 = no quota),
    ``public_metrics`` (``AGENTMEM_METRICS=public``: ``/metrics`` without the admin key) and
    ``allowed_hosts`` (``AGENTMEM_ALLOWED_HOSTS``, comma-separated: ``Host`` names served besides
    loopback when auth is off).
    """

    db_url: str | None = None
    chroma: str | None = None
    home: Path | None = None
    device: str | None = None  # None: agentmem.toml's, else auto
    auth: bool = True
    admin_key: str | None = None
    default_tenant: str = "default"
    max_body_bytes: int = 4 * 1024 * 1024
    threads: int | None = None
    graph: bool | None = None  # None: as the store was built (agentmem.profile), else off
    episodes: str | None = None
    fusion: str | None = None
    ui: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    rate_limit: float = 0.0
    rate_burst: float = 0.0
    body_timeout: float = 60.0
    max_request_messages: int = 1000
    max_request_chars: int = 2_000_000
    tenant_quota: int = 0
    public_metrics: bool = False

    @classmethod
    def from_env(cls) -> ServerSettings:
        env = os.environ
        auth = env.get("AGENTMEM_AUTH", "enabled").strip().lower()
        if auth not in ("enabled", "disabled"):
            raise ValueError("AGENTMEM_AUTH must be 'enabled' or 'disabled'")
        graph = _choice(env, "AGENTMEM_GRAPH", ("off", "on"))
        return cls(
            db_url=env.get("AGENTMEM_DB") or None,
            chroma=env.get("AGENTMEM_CHROMA") or None,
            home=Path(env["AGENTMEM_HOME"]) if env.get("AGENTMEM_HOME") else None,
            device=env.get("AGENTMEM_DEVICE") or None,
            auth=auth == "enabled",
            admin_key=env.get("AGENTMEM_ADMIN_KEY") or None,
            default_tenant=env.get("AGENTMEM_TENANT", "default"),
            max_body_bytes=int(env.get("AGENTMEM_MAX_BODY", str(4 * 1024 * 1024))),
            threads=_threads(env.get("AGENTMEM_THREADS")),
            graph=None if graph is None else graph == "on",
            episodes=_choice(env, "AGENTMEM_EPISODES", SEGMENTERS),
            fusion=_choice(env, "AGENTMEM_FUSION", FUSIONS),
            ui=_choice(env, "AGENTMEM_UI", ("on", "off")) != "off",  # unset: on
            allowed_hosts=frozenset(h.strip().lower() for h in env.get("AGENTMEM_ALLOWED_HOSTS", "").split(",")
                                    if h.strip()),
            rate_limit=_number(env, "AGENTMEM_RATE_LIMIT", 0.0),
            rate_burst=_number(env, "AGENTMEM_RATE_BURST", 0.0),
            body_timeout=_number(env, "AGENTMEM_BODY_TIMEOUT", 60.0),
            max_request_messages=int(_number(env, "AGENTMEM_MAX_REQUEST_MESSAGES", 1000)),
            max_request_chars=int(_number(env, "AGENTMEM_MAX_REQUEST_CHARS", 2_000_000)),
            tenant_quota=int(_number(env, "AGENTMEM_TENANT_QUOTA", 0)),
            public_metrics=_choice(env, "AGENTMEM_METRICS", ("admin", "public")) == "public",
        )


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    """``env[name]`` (lower-cased; unset or blank: ``None``, as the store was built), one of ``choices``."""
    value = (env.get(name) or "").strip().lower()
    if not value:
        return None
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {env.get(name)!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        n = float(value)
    except ValueError:
        n = -1.0
    if not n >= 0 or n == float("inf"):
        raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    return n


def _threads(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"AGENTMEM_THREADS must be a positive integer, not {value!r}")
    return n


def _error(status: int, error: str, message: str, detail: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorOut(error=error, message=message, detail=detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large",
               421: "misdirected", 422: "validation", 429: "rate_limited",
               501: "not_implemented", 503: "unavailable"}


def _reply(status: int, error: str, message: str, headers: dict[str, str] | None) -> ASGIApp:
    return _error(status, error, message, headers=headers)


_BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for an unparseable body


async def error_response(request: Request, exc: Exception) -> Response:
    """The one mapping from exceptions to HTTP responses (no stack trace ever leaves)."""
    if isinstance(exc, HTTPException) and exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        return _error(422, "validation", "the request body is not parseable JSON (invalid UTF-8, "
                      "nesting too deep, or a number too long)")
    if isinstance(exc, RequestValidationError):
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return _error(422, "validation", f"{where}: {first['msg']}" if where else str(first["msg"]), detail)
    if isinstance(exc, HTTPException):
        return _error(exc.status_code, _HTTP_NAMES.get(exc.status_code, "error"), str(exc.detail),
                      headers=dict(exc.headers or {}))
    if isinstance(exc, ForbiddenError):
        return _error(403, "forbidden", str(exc))
    if isinstance(exc, AuthError):
        return _error(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, ValidationError):
        return _error(422, "validation", str(exc))
    if isinstance(exc, NotFoundError):
        return _error(404, "user_not_found" if isinstance(exc, UnknownUserError) else "not_found", str(exc))
    if isinstance(exc, StorageError):
        log.error("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _error(503, "unavailable", "the store is unavailable; retry later")
    kind = "agentmem" if isinstance(exc, AgentMemError) else "unexpected"
    log.error("%s error on %s %s: %s", kind, request.method, request.url.path, log_trace(exc))
    return _error(500, "internal", "internal error")


class CatchAllMiddleware:
    """Answers an unexpected exception with :func:`error_response`'s 500 and does not re-raise
    it (Starlette's outer error middleware would, and uvicorn would then log the exception's
    message and drop the connection's keep-alive)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            response = await error_response(Request(scope), exc)
            if not started:
                await response(scope, receive, send)


class BodyLimitMiddleware:
    """413 for request bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over the {self.limit}-byte limit"
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _error(413, "payload_too_large", too_large)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


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
        app.state.items = ItemStore(mem.maintenance.database, embed=mem.maintenance.embed)
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
        app.add_middleware(RateLimitMiddleware, buckets=buckets, reply=_reply)
    if not settings.auth:
        app.add_middleware(HostCheckMiddleware, allowed=LOOPBACK_HOSTS | settings.allowed_hosts, reply=_reply)

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

