"""Durable vector storage in Chroma, one collection per record kind, scoped by metadata.

Chroma is the durable copy (and the approximate path for very large CPU-only stores); exact
search runs over in-memory matrices built from it (:mod:`agentmem.store.dense`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from agentmem.errors import ConfigError, StorageError
from agentmem.protocols import WriteObserver
from agentmem.types import Scope

__all__ = ["ChromaVectors", "open_chroma"]

_BATCH = 4096
log = logging.getLogger("agentmem.store")


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
        raise StorageError(f"cannot open Chroma: {type(exc).__name__}") from exc


def _log_path(client: Any) -> Path | None:
    try:
        settings = client.get_settings()
    except Exception:  # not a local client
        return None
    if not getattr(settings, "is_persistent", False) or not settings.persist_directory:
        return None
    path = Path(settings.persist_directory) / "chroma.sqlite3"
    return path if path.exists() else None


_CANCELLED = """
SELECT seq_id, length(vector) FROM embeddings_queue
WHERE id = ? AND operation != 3 AND (vector IS NOT NULL OR metadata != '{}') AND EXISTS (
    SELECT 1 FROM embeddings_queue AS d
    WHERE d.topic = embeddings_queue.topic AND d.id = embeddings_queue.id
      AND d.operation = 3 AND d.seq_id > embeddings_queue.seq_id)
"""


def _placeholder(n_bytes: int) -> bytes:
    """A vector that says nothing (the first axis), of the same byte size (float32)."""
    v = np.zeros(max(n_bytes // 4, 1), dtype=np.float32)
    v[0] = 1.0  # not all zeros: a cosine index would divide by its norm if the log were replayed
    return v.tobytes()[:n_bytes] if n_bytes else b""


def _scrub(path: Path, ids: list[str]) -> None:
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("PRAGMA secure_delete=ON")  # the overwritten bytes are zeroed, not left in free space
        db.execute("BEGIN IMMEDIATE")
        rows = [r for i in ids for r in db.execute(_CANCELLED, (i,)).fetchall()]
        db.executemany("UPDATE embeddings_queue SET vector = ?, metadata = '{}' WHERE seq_id = ?",
                       [(None if n is None else _placeholder(int(n)), seq) for seq, n in rows])
        db.execute("COMMIT")
    finally:
        db.close()


def _where(scope: Scope) -> dict[str, Any]:
    return {"$and": [{"tenant": scope.tenant}, {"user_id": scope.user_id}]}


class ChromaVectors:
    """Vectors of every kind (``turns``, ``episodes``, ``thoughts``, ...) for every scope."""

    def __init__(self, client: Any, prefix: str = "agentmem", *, observer: WriteObserver | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self._observer = observer  # its "store_chroma" stage spans every upsert
        self._collections: dict[str, Any] = {}
        self._log = _log_path(client)
        # An embedded Chroma's file is also written by _scrub_log: Chroma's own calls must not
        # overlap that write (its connection does not wait for a lock), so they take turns.
        self._turns: AbstractContextManager[Any] = threading.RLock() if self._log is not None else nullcontext()

    def _col(self, kind: str) -> Any:
        col = self._collections.get(kind)
        if col is None:
            with self._turns:
                try:
                    col = self.client.get_or_create_collection(
                        f"{self.prefix}_{kind}", configuration={"hnsw": {"space": "cosine"}}
                    )
                except Exception as exc:
                    raise StorageError(f"Chroma collection {kind!r} unavailable: {type(exc).__name__}") from exc
            self._collections[kind] = col
        return col

    def kinds(self) -> list[str]:
        """Every record kind that has a collection (created by this or another process)."""
        with self._turns:
            try:
                names = [getattr(c, "name", c) for c in self.client.list_collections()]
            except Exception as exc:
                raise StorageError(f"Chroma unavailable: {type(exc).__name__}") from exc
        prefix = f"{self.prefix}_"
        return sorted({n[len(prefix):] for n in names if n.startswith(prefix)} | set(self._collections))

    def heartbeat(self) -> None:
        """Raise unless the vector store answers."""
        self.client.heartbeat()

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
        timed = self._observer.stage("store_chroma") if self._observer is not None else nullcontext()
        with timed, self._turns:
            try:
                for s in range(0, len(ids), _BATCH):
                    col.upsert(
                        ids=list(ids[s : s + _BATCH]),
                        embeddings=np.asarray(vectors[s : s + _BATCH], dtype=np.float32),
                        metadatas=metas[s : s + _BATCH],
                    )
            except Exception as exc:
                raise StorageError(f"Chroma write failed: {type(exc).__name__}") from exc

    def delete(self, kind: str, scope: Scope, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._turns:
            try:
                # ids alone could name another scope's record: the where clause pins the scope.
                self._col(kind).delete(ids=list(ids), where=_where(scope))
            except Exception as exc:
                raise StorageError(f"Chroma delete failed: {type(exc).__name__}") from exc
        self._scrub_log(ids)

    def delete_user(self, kind: str, scope: Scope) -> None:
        with self._turns:
            try:
                col = self._col(kind)
                ids = list(col.get(where=_where(scope), include=[])["ids"])
                col.delete(where=_where(scope))
            except Exception as exc:
                raise StorageError(f"Chroma delete failed: {type(exc).__name__}") from exc
        self._scrub_log(ids)

    def _scrub_log(self, ids: Sequence[str]) -> None:
        """Blank the vectors and metadata of deleted records in an embedded Chroma's write log.

        Chroma keeps every write in its ``embeddings_queue`` table and does not trim it (seen
        on 1.5: chroma-core/chroma#7659), so a deleted record's vector and tenant/user metadata
        would stay on disk. Each ``ADD``/``UPSERT`` row of ``ids`` that a later ``DELETE`` row
        cancels gets a zero vector of the same size and empty metadata; the log keeps its rows
        and order, so replaying it still ends with the record deleted. Only for a
        ``PersistentClient`` (a Chroma server keeps its log out of reach).
        """
        path = self._log
        if path is None or not ids:
            return
        try:
            with self._turns:
                _scrub(path, list(ids))
        except sqlite3.Error as exc:
            log.warning("could not scrub Chroma's write log of deleted vectors: %s", type(exc).__name__)

    def fetch(self, kind: str, scope: Scope, ids: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """All ids and vectors of ``kind`` in ``scope`` (only those of ``ids`` that exist, when given)."""
        if ids is not None and not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        with self._turns:
            try:
                got = self._col(kind).get(ids=None if ids is None else list(ids), where=_where(scope),
                                          include=["embeddings"])
            except Exception as exc:
                raise StorageError(f"Chroma read failed: {type(exc).__name__}") from exc
        ids = list(got["ids"])
        emb = got["embeddings"]
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.asarray(emb, dtype=np.float32)
