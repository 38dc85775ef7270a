"""The one exception tree of agentmem.

::

    AgentMemError
    ├── ConfigError                  bad or contradictory configuration
    │   └── BackendUnavailableError  an optional piece is not installed (names the pip extra)
    │       └── DeviceUnavailableError   device="cuda" asked for, no CUDA device present
    ├── ValidationError              bad input from the caller (empty text, malformed message, too large)
    ├── NotFoundError                an id that does not exist in the caller's scope
    ├── AuthError                    missing, unknown or revoked API key
    ├── StorageError                 the durable store failed (SQL or vector store)
    ├── ExtractionError              an extractor (LLM) failed — distinct from "extracted nothing"
    └── ConvergenceError             an iterative algorithm did not converge

Foreign exceptions (SQLAlchemy, Chroma, httpx, ...) are translated at one boundary with
``raise ... from exc`` so callers only ever catch these.
"""

from __future__ import annotations

__all__ = [
    "AgentMemError",
    "AuthError",
    "BackendUnavailableError",
    "ConfigError",
    "ConvergenceError",
    "DeviceUnavailableError",
    "ExtractionError",
    "NotFoundError",
    "StorageError",
    "ValidationError",
]


class AgentMemError(Exception):
    """Base of every error agentmem raises on purpose."""


class ConfigError(AgentMemError):
    """The configuration is invalid or contradictory."""


class BackendUnavailableError(ConfigError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, what: str, extra: str) -> None:
        self.what = what
        self.extra = extra
        super().__init__(f"{what} is not installed: pip install 'agentmem[{extra}]'")


class DeviceUnavailableError(ConfigError):
    """``device="cuda"`` was requested but no CUDA device is available (never a silent fallback)."""


class ValidationError(AgentMemError, ValueError):
    """Input from the caller is malformed; nothing was stored."""


class NotFoundError(AgentMemError, KeyError):
    """The id does not exist in the caller's scope (another tenant's ids are not found either)."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the plain message
        return str(self.args[0]) if self.args else "not found"


class AuthError(AgentMemError):
    """Missing, unknown or revoked credentials."""


class StorageError(AgentMemError):
    """The durable store (SQL database or vector store) failed."""


class ExtractionError(AgentMemError):
    """An extractor failed (e.g. the chat model errored or returned unparseable output).

    "Extracted nothing" is not an error: it returns an empty result.
    """


class ConvergenceError(AgentMemError):
    """An iterative algorithm did not reach its tolerance within ``max_iter`` iterations."""

    def __init__(self, algorithm: str, max_iter: int, residual: float) -> None:
        self.algorithm = algorithm
        self.max_iter = max_iter
        self.residual = residual
        super().__init__(
            f"{algorithm} did not converge in {max_iter} iterations (residual {residual:.3g})"
        )
