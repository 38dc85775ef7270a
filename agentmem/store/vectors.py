"""Durable vector storage in Chroma, one collection per record kind, scoped by metadata.

Chroma is the durable copy (and the approximate path for very large CPU-only stores); exact
search runs over in-memory matrices built from it (:mod:`agentmem.store.dense`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from agentmem.errors import ConfigError, StorageError
from agentmem.types import Scope

__all__ = ["ChromaVectors", "open_chroma"]

_BATCH = 4096


def open_chroma(spec: str | None, home: Path) -> Any:
    """A Chroma client for ``spec``: None/path → persistent, ``memory`` → ephemeral, URL → server."""
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as exc:  # chromadb is a core dependency; keep the message clear anyway
        raise ConfigError("chromadb is not installed: pip install agentmem") from exc
    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    try:
        if spec == "memory":
            return chromadb.EphemeralClient(settings=settings)
        if spec and spec.startswith(("http://", "https://")):
            url = urlparse(spec)
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=settings,
            )
        path = Path(spec) if spec else Path(home) / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:  # chroma raises assorted types (ValueError, connection errors)
        raise StorageError(f"cannot open Chroma at {spec or home}: {exc}") from exc


def _where(scope: Scope) -> dict[str, Any]:
    return {"$and": [{"tenant": scope.tenant}, {"user_id": scope.user_id}]}


class ChromaVectors:
    """Vectors of every kind (``turns``, ``episodes``, ``thoughts``, ...) for every scope."""

    def __init__(self, client: Any, prefix: str = "agentmem") -> None:
        self.client = client
        self.prefix = prefix
        self._collections: dict[str, Any] = {}

    def _col(self, kind: str) -> Any:
        col = self._collections.get(kind)
        if col is None:
            try:
                col = self.client.get_or_create_collection(
                    f"{self.prefix}_{kind}", configuration={"hnsw": {"space": "cosine"}}
                )
            except Exception as exc:
                raise StorageError(f"Chroma collection {kind!r} unavailable: {exc}") from exc
            self._collections[kind] = col
        return col

    def kinds(self) -> list[str]:
        """Every record kind that has a collection (created by this or another process)."""
        try:
            names = [getattr(c, "name", c) for c in self.client.list_collections()]
        except Exception as exc:
            raise StorageError(f"Chroma unavailable: {exc}") from exc
        prefix = f"{self.prefix}_"
        return sorted({n[len(prefix):] for n in names if n.startswith(prefix)} | set(self._collections))

    def upsert(
        self,
        kind: str,
        scope: Scope,
        ids: Sequence[str],
        vectors: np.ndarray,
        extra: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not ids:
            return
        metas = [
            {"tenant": scope.tenant, "user_id": scope.user_id, **(extra[i] if extra else {})}
            for i in range(len(ids))
        ]
        col = self._col(kind)
        try:
            for s in range(0, len(ids), _BATCH):
                col.upsert(
                    ids=list(ids[s : s + _BATCH]),
                    embeddings=np.asarray(vectors[s : s + _BATCH], dtype=np.float32),
                    metadatas=metas[s : s + _BATCH],
                )
        except Exception as exc:
            raise StorageError(f"Chroma write failed: {exc}") from exc

    def delete(self, kind: str, scope: Scope, ids: Sequence[str]) -> None:
        if not ids:
            return
        try:
            # ids alone could name another scope's record: the where clause pins the scope.
            self._col(kind).delete(ids=list(ids), where=_where(scope))
        except Exception as exc:
            raise StorageError(f"Chroma delete failed: {exc}") from exc

    def delete_user(self, kind: str, scope: Scope) -> None:
        try:
            self._col(kind).delete(where=_where(scope))
        except Exception as exc:
            raise StorageError(f"Chroma delete failed: {exc}") from exc

    def fetch(self, kind: str, scope: Scope, ids: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """All ids and vectors of ``kind`` in ``scope`` (only those of ``ids`` that exist, when given)."""
        if ids is not None and not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        try:
            got = self._col(kind).get(ids=None if ids is None else list(ids), where=_where(scope),
                                      include=["embeddings"])
        except Exception as exc:
            raise StorageError(f"Chroma read failed: {exc}") from exc
        ids = list(got["ids"])
        emb = got["embeddings"]
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.asarray(emb, dtype=np.float32)
