"""Batched embedding for indexing: embed a whole chunk of sessions at once, ahead of storing.

``Memory.add`` embeds what it stores, one call at a time. For an archive that means small
batches (a session is often a dozen turns) and embedding on the storing thread. The indexer
instead predicts the texts ``add`` will embed — each turn's rendering and its in-context view
(:mod:`agentmem.mechanisms.turns.component`) — embeds them for many sessions in one batch (on worker
threads, Ray actors or a GPU), and hands ``Memory`` a :class:`PrecomputedEmbedder` that
answers from those vectors. A text it was not given (a prediction miss) is embedded by the
real model, so a wrong prediction costs time, never correctness.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from agentmem.normalize import normalize_messages
from agentmem.protocols import Embedder

__all__ = ["PrecomputedEmbedder", "predicted_texts"]


def predicted_texts(messages: Sequence[Mapping[str, Any]], *, context_view: bool = True,
                    max_chars: int = 32_000) -> list[str]:
    """The texts ``Memory.add(messages)`` into an empty session will embed, in order.

    Per message its rendering ``[date] speaker: content`` and, from the second message on
    (when ``context_view``), the previous message then this one. Messages that do not
    validate are left out (``add`` rejects them anyway).
    """
    out: list[str] = []
    prev: tuple[str, str] | None = None
    for m in messages:
        try:
            ((msg, _),) = normalize_messages([m], max_chars=max_chars, max_messages=1)
        except Exception:  # noqa: BLE001 - a message add will reject: nothing to predict
            prev = None
            continue
        if msg.timestamp is None:
            continue
        plain = f"[{msg.timestamp:%Y-%m-%d}] {msg.speaker}: {msg.content}"
        out.append(plain)
        if context_view and prev is not None and msg.role != "document":
            out.append(f"{prev[0]}: {prev[1]}\n{plain}")
        prev = (msg.speaker, msg.content)
    return out


class PrecomputedEmbedder:
    """An :class:`~agentmem.protocols.Embedder` that answers from vectors given in advance.

    :meth:`provide` adds ``text → vector`` pairs; :meth:`embed` returns the given vector for a
    known text and embeds unknown ones with ``inner`` (counted in :attr:`misses`).
    :meth:`release` forgets vectors no longer needed.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "precomputed")
        self._known: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def provide(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            for t, v in zip(texts, np.asarray(vectors, dtype=np.float32), strict=True):
                self._known[t] = v

    def release(self, texts: Iterable[str]) -> None:
        with self._lock:
            for t in texts:
                self._known.pop(t, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = [self._known.get(t) for t in texts]
        missing = [i for i, r in enumerate(rows) if r is None]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = self.inner.embed([texts[i] for i in missing])
            for i, v in zip(missing, fresh, strict=True):
                rows[i] = v
        return np.stack([np.asarray(r, dtype=np.float32) for r in rows])
