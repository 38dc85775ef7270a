"""``agentmem mcp``: memory tools for MCP clients (official ``mcp`` SDK, stdio or streamable HTTP).

Tools: ``add_memory``, ``search_memory``, ``recall_memory``, ``delete_memory``,
``list_episodes``. Every call acts in one tenant (``--tenant``). With ``--user`` every call
acts for that user and a tool call naming another ``user_id`` is refused (the model cannot
reach other users of the tenant); without it the MCP client names the ``user_id``. Engine
errors reach the client as tool errors with their message; anything unexpected as a generic
one (the SDK withholds its text).

The HTTP transport needs a bearer token: clients send ``Authorization: Bearer <token>`` with
the token the server was started with (``AGENTMEM_MCP_TOKEN``, kept out of the command line);
``--no-auth`` runs it without one (loopback use only).
"""

from __future__ import annotations

import argparse
import hmac
import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from agentmem.errors import AgentMemError, BackendUnavailableError, ConfigError

__all__ = ["build_mcp", "run_mcp"]

F = TypeVar("F", bound=Callable[..., Any])


def build_mcp(memory: Any, *, tenant: str = "default", user: str | None = None) -> Any:
    """An ``MCPServer`` exposing ``memory``'s tools in ``tenant`` (for ``user`` only, when given)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError as exc:
        raise BackendUnavailableError("the MCP SDK (mcp)", "server") from exc

    def engine_errors(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AgentMemError as exc:
                raise ToolError(str(exc)) from exc

        return wrapper  # type: ignore[return-value]

    def who(user_id: str | None) -> str:
        if user is None:
            if not user_id:
                raise ToolError("user_id is required")
            return user_id
        if user_id and user_id != user:
            raise ToolError("this memory server acts for one user only; leave user_id out")
        return user

    server = MCPServer(
        "agentmem",
        instructions="Long-term memory: add what the user says, search or recall it later, delete on request.",
    )

    @server.tool()
    @engine_errors
    def add_memory(content: str, role: str = "user", session_id: str | None = None,
                   user_id: str | None = None) -> dict[str, Any]:
        """Store one message in the user's long-term memory; returns the new memory ids."""
        turns = memory.add([{"role": role, "content": content}], user_id=who(user_id), session_id=session_id,
                           tenant=tenant)
        return {"added": len(turns), "ids": [t.id for t in turns]}

    @server.tool()
    @engine_errors
    def search_memory(query: str, k: int = 5, user_id: str | None = None) -> dict[str, Any]:
        """The k memories of the user most relevant to the query, best first."""
        hits = memory.search(query, user_id=who(user_id), k=k, tenant=tenant)
        return {"hits": [{"id": h.id, "text": h.text, "score": h.score, "speaker": h.speaker,
                          "timestamp": h.timestamp.isoformat() if h.timestamp else None,
                          "signals": dict(h.signals), "kind": h.kind, "superseded_by": h.superseded_by,
                          "contradicts": list(h.contradicts)} for h in hits]}

    @server.tool()
    @engine_errors
    def recall_memory(query: str, token_budget: int = 500, user_id: str | None = None) -> dict[str, Any]:
        """Relevant memories packed chronologically into a token budget, with [n] citations."""
        pack = memory.recall(query, user_id=who(user_id), token_budget=token_budget, tenant=tenant)
        return {"text": pack.text, "tokens": pack.tokens,
                "citations": [{"marker": c.marker, "id": c.id} for c in pack.citations]}

    @server.tool()
    @engine_errors
    def delete_memory(memory_id: str, user_id: str | None = None) -> dict[str, Any]:
        """Delete one memory of the user by id."""
        memory.delete(memory_id, user_id=who(user_id), tenant=tenant)
        return {"deleted": memory_id}

    @server.tool()
    @engine_errors
    def list_facts(include_past: bool = False, user_id: str | None = None) -> dict[str, Any]:
        """What the user's memories say holds now (lives in, works at, ...): each fact as a sentence with
        since when and what it replaced; with include_past also the superseded ones."""
        if not memory.enabled("fact"):
            raise ToolError("facts are not available: fact memory is not enabled on this server")
        facts = memory.facts(user_id=who(user_id), include_past=include_past, tenant=tenant)
        return {"facts": [{"id": f.id, "text": f.text, "current": f.current, "superseded_by": f.superseded_by,
                           "contradicts": list(f.contradicts), "source_ids": list(f.source_ids)} for f in facts]}

    @server.tool()
    @engine_errors
    def list_episodes(session_id: str | None = None, user_id: str | None = None) -> dict[str, Any]:
        """The user's conversation episodes (segments cut where the topic changed), in order."""
        episodes = getattr(memory, "episodes", None)
        if episodes is None or not memory.enabled("episode"):
            raise ToolError("episodes are not available: episodic memory is not enabled on this server")
        kwargs: dict[str, Any] = {"user_id": who(user_id), "tenant": tenant}
        if session_id is not None:
            kwargs["session_id"] = session_id
        return {"episodes": [{"id": e.id, "text": e.text, "start": e.start.isoformat(), "end": e.end.isoformat(),
                              "turn_ids": list(e.turn_ids)} for e in episodes(**kwargs)]}

    return server


def run_mcp(args: argparse.Namespace) -> None:
    """Build the Memory from CLI arguments and serve it over stdio or streamable HTTP."""
    from agentmem.cli.args import memory_config
    from agentmem.memory import Memory

    token = os.environ.get("AGENTMEM_MCP_TOKEN") or None
    if args.transport == "http" and token is None and not args.no_auth:
        raise ConfigError("the MCP HTTP transport needs a token: set AGENTMEM_MCP_TOKEN (clients send "
                          "'Authorization: Bearer <token>'), or pass --no-auth for loopback use")
    if token is not None and len(token) < 16:
        raise ConfigError("AGENTMEM_MCP_TOKEN must be at least 16 characters")
    memory = Memory(memory_config(args))
    server = build_mcp(memory, tenant=args.tenant, user=args.user)
    try:
        if args.transport == "stdio":
            server.run("stdio")
        else:
            import uvicorn

            app: Any = server.streamable_http_app(host=args.host)
            if token:
                app = BearerTokenMiddleware(app, token)
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5)
    finally:
        memory.close()


class BearerTokenMiddleware:
    """401 for HTTP requests without ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
                return
        await self.app(scope, receive, send)
