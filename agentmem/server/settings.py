"""How the sidecar runs: :class:`ServerSettings`, read from the ``AGENTMEM_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentmem.config import FUSIONS, SEGMENTERS

__all__ = ["ServerSettings"]


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
    graph: bool | None = None  # None: as the store was built (agentmem.profile), else on
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
