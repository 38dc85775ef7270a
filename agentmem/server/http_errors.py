"""Exceptions to HTTP responses, in one place (:func:`error_response`), and the two ASGI
middlewares that answer before a route runs: an unexpected exception (:class:`CatchAllMiddleware`)
and a body over the size limit (:class:`BodyLimitMiddleware`)::

    ValidationError, request schema errors  → 422     NotFoundError, unknown route → 404
    AuthError → 401 (ForbiddenError → 403)           payload over the limit        → 413
    StorageError → 503                               anything else → 500, generic message

A body that is not parseable JSON (invalid UTF-8, nesting past the parser's depth, an integer
too long to convert) is a 422 like any other malformed input.
Logged errors carry exception types and code locations, never exception messages: those can
quote stored text or SQL parameters.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem.errors import AgentMemError, AuthError, NotFoundError, StorageError, ValidationError
from agentmem.server.auth import ForbiddenError, UnknownUserError
from agentmem.server.safety import log_trace
from agentmem.server.schemas import ErrorOut

__all__ = ["BodyLimitMiddleware", "CatchAllMiddleware", "error_json", "error_response", "reply"]

log = logging.getLogger("agentmem.server")


def error_json(status: int, error: str, message: str, detail: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorOut(error=error, message=message, detail=detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large",
               421: "misdirected", 422: "validation", 429: "rate_limited",
               501: "not_implemented", 503: "unavailable"}


def reply(status: int, error: str, message: str, headers: dict[str, str] | None) -> ASGIApp:
    return error_json(status, error, message, headers=headers)


_BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for an unparseable body


async def error_response(request: Request, exc: Exception) -> Response:
    """The one mapping from exceptions to HTTP responses (no stack trace ever leaves)."""
    if isinstance(exc, HTTPException) and exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        return error_json(422, "validation", "the request body is not parseable JSON (invalid UTF-8, "
                      "nesting too deep, or a number too long)")
    if isinstance(exc, RequestValidationError):
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return error_json(422, "validation", f"{where}: {first['msg']}" if where else str(first["msg"]), detail)
    if isinstance(exc, HTTPException):
        return error_json(exc.status_code, _HTTP_NAMES.get(exc.status_code, "error"), str(exc.detail),
                      headers=dict(exc.headers or {}))
    if isinstance(exc, ForbiddenError):
        return error_json(403, "forbidden", str(exc))
    if isinstance(exc, AuthError):
        return error_json(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, ValidationError):
        return error_json(422, "validation", str(exc))
    if isinstance(exc, NotFoundError):
        return error_json(404, "user_not_found" if isinstance(exc, UnknownUserError) else "not_found", str(exc))
    if isinstance(exc, StorageError):
        log.error("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_json(503, "unavailable", "the store is unavailable; retry later")
    kind = "agentmem" if isinstance(exc, AgentMemError) else "unexpected"
    log.error("%s error on %s %s: %s", kind, request.method, request.url.path, log_trace(exc))
    return error_json(500, "internal", "internal error")


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
            await error_json(413, "payload_too_large", too_large)(scope, receive, send)
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
