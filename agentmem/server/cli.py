"""``agentmem serve``, ``agentmem keys create|revoke|list`` and ``agentmem mcp``.

Registered by :func:`add_commands` from :mod:`agentmem.cli.main`; the server's dependencies
are imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from agentmem.cli.args import add_mechanism_arguments

__all__ = ["add_commands"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _db_url(args: argparse.Namespace) -> str:
    from agentmem.config_file import load_settings

    return load_settings(home=args.home, db_url=args.db).config.resolved_db_url


def serve_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``AGENTMEM_*`` variables ``serve`` passes to its workers: every option given, even
    a bad one (``--threads 0``), so that the workers' settings reject it with a clear error."""
    env = {
        "AGENTMEM_DB": args.db, "AGENTMEM_CHROMA": args.chroma, "AGENTMEM_HOME": args.home,
        "AGENTMEM_DEVICE": args.device, "AGENTMEM_TENANT": args.tenant,
        "AGENTMEM_MAX_BODY": args.max_body, "AGENTMEM_THREADS": args.threads,
        "AGENTMEM_AUTH": "disabled" if args.no_auth else None,
        "AGENTMEM_GRAPH": None if args.graph is None else "on" if args.graph else "off",
        "AGENTMEM_EPISODES": args.episodes, "AGENTMEM_FUSION": args.fusion,
    }
    return {name: str(value) for name, value in env.items() if value is not None}


def _redacted(url: str) -> str:
    """A database URL without its password."""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can parse: show only its scheme
        return url.split(":", 1)[0] + ":***"


def startup_line(args: argparse.Namespace, env: dict[str, str]) -> str:
    """The line ``serve`` prints when it starts: where it listens and on what stores, never a
    secret (database passwords are masked; keys are not shown)."""
    db = env.get("AGENTMEM_DB") or _db_url(args)
    chroma = env.get("AGENTMEM_CHROMA") or "embedded (under the home directory)"
    auth = "off" if env.get("AGENTMEM_AUTH", "").lower() == "disabled" else "on"
    return (
        f"agentmem: listening on http://{args.host}:{args.port} "
        f"(workers {args.workers}, db {_redacted(db)}, chroma {chroma}, auth {auth}, "
        f"access log {'on' if args.access_log else 'off'})"
    )


def log_config(level: str, access_log: bool) -> dict[str, Any]:
    """uvicorn's logging config with the server's messages at ``level`` and, when
    ``access_log``, one INFO line per request whatever ``level`` is."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn.error"]["level"] = level.upper()
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        from agentmem.errors import BackendUnavailableError

        raise BackendUnavailableError("the agentmem server (fastapi, uvicorn)", "server") from exc
    for name, value in serve_env(args).items():  # workers are separate processes: settings travel by env
        os.environ[name] = value
    if args.no_auth and args.host not in _LOOPBACK:
        print(f"agentmem: warning: auth is disabled on {args.host}: anyone who can reach it "
              "reads every memory of tenant " + repr(args.tenant), file=sys.stderr)
    print(startup_line(args, dict(os.environ)), file=sys.stderr, flush=True)
    uvicorn.run(
        "agentmem.server.app:create_app_from_env", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_config=log_config(args.log_level, args.access_log), log_level=None,
        access_log=args.access_log,
        # an idle keep-alive connection is closed after 5 s; headers are capped at 16 KiB (h11's
        # incomplete-event limit); bodies have AGENTMEM_BODY_TIMEOUT (agentmem.server.limits)
        timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024, limit_concurrency=1024,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from agentmem.server.keys import KeyStore
    from agentmem.store.sql import create_engine

    engine = create_engine(_db_url(args))
    try:
        keys = KeyStore(engine)
        if args.keys_command == "create":
            k = keys.create(args.tenant, args.name)
            print(json.dumps({"id": k.id, "tenant": k.tenant, "name": k.name, "key": k.key}))
        elif args.keys_command == "revoke":
            k = keys.revoke(args.key_id)
            print(json.dumps({"id": k.id, "tenant": k.tenant, "revoked_at": str(k.revoked_at)}))
        else:
            for k in keys.list(args.tenant):
                print(json.dumps({"id": k.id, "tenant": k.tenant, "name": k.name,
                                  "created_at": k.created_at.isoformat(),
                                  "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}))
    finally:
        engine.dispose()
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from agentmem.server.mcp_server import run_mcp

    run_mcp(args)
    return 0


def _store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", default=None, help="data directory (default $AGENTMEM_HOME or ./.agentmem)")
    p.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite under --home)")


def add_commands(sub: Any) -> None:
    """Add ``serve``, ``keys`` and ``mcp`` to the CLI's subparsers."""
    p = sub.add_parser("serve", help="run the HTTP sidecar (REST + LangGraph store + metrics)")
    _store(p)
    p.add_argument("--chroma", default=None, help="Chroma path or http://host:port (shared by replicas)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="(default: auto)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8750)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-auth", action="store_true",
                   help="no API keys: every request acts as --tenant (local use only)")
    p.add_argument("--tenant", default="default", help="the tenant of every request with --no-auth")
    p.add_argument("--max-body", type=int, default=None, help="request body limit in bytes (default 4 MiB)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads per worker (default: one per core; 1 beside a busy assistant)")
    add_mechanism_arguments(p, "(default $AGENTMEM_GRAPH, $AGENTMEM_EPISODES, $AGENTMEM_FUSION, as the store was built, or on)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("AGENTMEM_ACCESS_LOG", "").lower() in ("1", "on", "true"),
                   help="log one line per request (method, path, status; default $AGENTMEM_ACCESS_LOG or off)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="create, revoke and list API keys (directly in the database)")
    keys = p.add_subparsers(dest="keys_command", required=True)
    kp = keys.add_parser("create", help="a new key for a tenant (printed once)")
    _store(kp)
    kp.add_argument("--tenant", required=True)
    kp.add_argument("--name", default="default")
    kp.set_defaults(func=cmd_keys)
    kp = keys.add_parser("revoke", help="revoke a key by id")
    _store(kp)
    kp.add_argument("key_id")
    kp.set_defaults(func=cmd_keys)
    kp = keys.add_parser("list", help="keys (without secrets)")
    _store(kp)
    kp.add_argument("--tenant", default=None)
    kp.set_defaults(func=cmd_keys)

    p = sub.add_parser("mcp", help="run the MCP server (stdio or streamable HTTP)")
    _store(p)
    p.add_argument("--chroma", default=None)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="(default: auto)")
    p.add_argument("--tenant", default="default", help="the tenant every tool call acts in")
    p.add_argument("--user", default=None,
                   help="the user every tool call acts for (default: the client names user_id per call)")
    p.add_argument("--transport", default="stdio", choices=["stdio", "http"])
    p.add_argument("--no-auth", action="store_true",
                   help="HTTP transport without AGENTMEM_MCP_TOKEN (loopback use only)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8751)
    add_mechanism_arguments(p, "(default: as the store was built, or on)")
    p.set_defaults(func=cmd_mcp)
