"""The agentmem sidecar: REST + LangGraph-store surface + MCP over one :class:`~agentmem.Memory`.

Needs the ``server`` extra (``pip install 'agentmem[server]'``). Run it with
``agentmem serve``; see ``docs/rest.md`` and ``docs/deployment.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentmem.server.app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that importing a submodule does not need FastAPI.
    if name in __all__:
        try:
            from agentmem.server import app
        except ImportError as exc:
            from agentmem.errors import BackendUnavailableError

            raise BackendUnavailableError("the agentmem server (fastapi, uvicorn)", "server") from exc
        return getattr(app, name)
    raise AttributeError(name)
