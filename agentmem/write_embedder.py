"""The embedder a :class:`~agentmem.Memory`'s write path and components share.

:class:`WriteEmbedder` wraps the configured :class:`~agentmem.protocols.Embedder`. A write
may be given vectors computed ahead of time (``Memory.add(..., vectors=...)``; batch indexing
embeds many sessions in one batch, on worker threads or a GPU): while that write runs,
:meth:`WriteEmbedder.embed` answers the texts it was given from them and embeds only the rest.
The given vectors live in a context variable, so they apply to the one call on its own thread
and never leak into concurrent writes or searches. Time spent in the model and the number of
texts it embeds are reported to the :class:`~agentmem.protocols.WriteObserver`, if any.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from agentmem._windows import window_keys
from agentmem.protocols import Embedder, WriteObserver

__all__ = ["WriteEmbedder"]

_GIVEN: ContextVar[Mapping[str, Any] | None] = ContextVar("agentmem_given_vectors", default=None)


class WriteEmbedder:
    """``inner`` answering first from the vectors given to the current write (see the module docstring).

    Every other attribute (``name``, ``embed_query``, a model's own settings) is ``inner``'s.
    """

    def __init__(self, inner: Embedder, observer: WriteObserver | None = None) -> None:
        self.inner = inner
        self.observer = observer

    @property
    def dim(self) -> int:
        return self.inner.dim

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "observer"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @contextmanager
    def given(self, vectors: Mapping[str, Any] | None) -> Iterator[None]:
        """Within this context (this thread), answer the texts of ``vectors`` from it."""
        token = _GIVEN.set(vectors)
        try:
            yield
        finally:
            _GIVEN.reset(token)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        given = _GIVEN.get()
        rows: list[Any] = [None] * len(texts) if given is None else [given.get(t) for t in texts]
        missing = [i for i, r in enumerate(rows) if r is None]
        if len(missing) == len(texts):
            return self._model([*texts])
        if missing:
            for i, v in zip(missing, self._model([texts[i] for i in missing]), strict=True):
                rows[i] = v
        return np.stack([np.asarray(r, dtype=np.float32) for r in rows])

    def embed_windows(self, windows: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        """``inner.embed_windows(windows)`` (:class:`~agentmem.protocols.ContextEmbedder`),
        timed and counted like :meth:`embed`, answering the windows the current write was given
        (keyed by :func:`~agentmem._windows.window_keys`) from the given vectors."""
        given = _GIVEN.get() or {}
        keys = [window_keys(w) for w in windows]
        missing = [k for k, ks in enumerate(keys) if not all(x in given for x in ks)]
        fresh = iter(self._windows([windows[k] for k in missing])) if missing else iter(())
        todo = set(missing)
        rows: list[Any] = []
        for k, ks in enumerate(keys):
            if k in todo:
                rows.extend(next(fresh) for _ in ks)
            else:
                rows.extend(given[x] for x in ks)
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([np.asarray(r, dtype=np.float32) for r in rows])

    def _windows(self, windows: list[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        if self.observer is None:
            return self.inner.embed_windows(windows)  # type: ignore[attr-defined, no-any-return]
        with self.observer.stage("embed"):
            out = self.inner.embed_windows(windows)  # type: ignore[attr-defined]
        self.observer.count("embed", len(out))
        return out  # type: ignore[no-any-return]

    def _model(self, texts: list[str]) -> np.ndarray:
        if self.observer is None:
            return self.inner.embed(texts)
        with self.observer.stage("embed"):
            out = self.inner.embed(texts)
        self.observer.count("embed", len(texts))
        return out
