"""Surprise per text unit, computed incrementally: the local LM (EM-LLM) or embedding drift.

A stream is a sequence of *units* (a conversation turn, or a sentence group of a long turn or
document). A scorer turns each new unit into one number, keeping only a bounded state, and
gives the same numbers whether the units arrive one at a time or all at once.

**LM surprise** (:class:`LMSurpriseScorer`). The unit's score is the mean token surprisal
``-log p(x_t | x_<t)`` of its tokens. The context of token ``t`` is fixed by its position
alone: tokens are grouped into pages of ``page`` tokens and token ``t`` sees the stream from
``context`` tokens before the start of its page (after a BOS token). So a batch pass costs one
forward of at most ``context + page`` tokens per page through the transformer body (1.25× the
stream at the defaults) and the output layer only for the page's own tokens, a streaming pass
recomputes at most the open page, and both give the same surprisal — bounded context, never
the whole session again.

**Embedding drift** (:class:`DriftScorer`), the fallback without an LM: ``1 - cos(v_t, c_t)``
where ``c_t`` is the mean embedding of the ``window`` preceding units (0 for the first unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from agentmem.errors import ValidationError

__all__ = ["DriftScorer", "LMSurpriseScorer", "UnitScorer", "drift_scores"]


class UnitScorer(Protocol):
    """Scores units of one stream, in order, keeping a bounded state."""

    method: str

    def score(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Scores of the next units (``vectors`` are their unit-norm embeddings)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state, enough to continue the stream elsewhere."""
        ...


class _SurprisalLM(Protocol):
    name: str

    def tokenize(self, text: str) -> list[int]: ...

    def surprisal(self, ids: Sequence[int], *, start: int = 0) -> np.ndarray: ...


class LMSurpriseScorer:
    """Mean token surprisal per unit under a local causal LM, with page-anchored context.

    Parameters
    ----------
    lm
        A :class:`~agentmem.mechanisms.episodes.segment.lm.CausalLM` (anything with ``tokenize`` and
        ``surprisal(ids, start=s) -> [len(ids) - s]``, the surprisal of ``ids[s:]``, the first
        token of ``ids`` conditioned on BOS only).
    context, page
        Token ``t`` is conditioned on the stream from ``floor(t / page) * page - context``.
    """

    method = "surprise"

    def __init__(
        self,
        lm: _SurprisalLM,
        *,
        context: int = 128,
        page: int = 512,
        state: dict[str, Any] | None = None,
    ) -> None:
        if context < 0 or page < 1:
            raise ValidationError("context must be >= 0 and page >= 1")
        self.lm, self.context, self.page = lm, context, page
        state = state or {}
        self._offset = int(state.get("offset", 0))  # absolute position of self._ids[0]
        self._ids: list[int] = list(state.get("ids", []))

    @property
    def total(self) -> int:
        return self._offset + len(self._ids)

    def _anchor(self, t: int) -> int:
        return max(0, (t // self.page) * self.page - self.context)

    def token_surprisal(self, new_ids: Sequence[int]) -> np.ndarray:
        """Surprisal of the next tokens of the stream (appends them)."""
        start = self.total
        self._ids.extend(new_ids)
        end = self.total
        out = np.zeros(end - start, dtype=np.float32)
        spans: list[tuple[int, int]] = []
        windows: list[tuple[list[int], int]] = []
        t = start
        while t < end:
            page_end = min(end, (t // self.page + 1) * self.page)
            a = max(self._anchor(t), self._offset)  # context may have been cleared
            windows.append((self._ids[a - self._offset : page_end - self._offset], t - a))
            spans.append((t - start, page_end - start))
            t = page_end
        batched = getattr(self.lm, "surprisal_batch", None)
        if callable(batched) and len(windows) > 1:  # every page of the call in few forward passes
            results = batched(windows)
        else:
            results = [self.lm.surprisal(w, start=s) for w, s in windows]
        for (lo, hi), res in zip(spans, results, strict=True):
            out[lo:hi] = res
        keep = max(self._anchor(end), self._offset)  # what the next token's context can still reach
        del self._ids[: keep - self._offset]
        self._offset = keep
        return out

    def score(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        toks = [self.lm.tokenize(x) for x in texts]
        flat = self.token_surprisal([i for ids in toks for i in ids])
        out = np.zeros(len(texts), dtype=np.float64)
        pos = 0
        for j, ids in enumerate(toks):
            part = flat[pos : pos + len(ids)]
            part = part[~np.isnan(part)]  # a logits-only LM cannot score a window's first token
            out[j] = float(part.mean()) if len(part) else 0.0
            pos += len(ids)
        return out

    def forget_context(self) -> None:
        """Drop the context tokens (after a deletion): later tokens see less, nothing stale."""
        self._offset, self._ids = self.total, []

    def state(self) -> dict[str, Any]:
        return {"offset": self._offset, "ids": list(self._ids)}


def drift_scores(vectors: np.ndarray, *, window: int = 4) -> np.ndarray:
    """``1 - cos(v_t, mean(v_{t-window:t}))`` per row; 0 for the first row (reference form)."""
    v = np.asarray(vectors, dtype=np.float64)
    out = np.zeros(len(v))
    for t in range(1, len(v)):
        c = v[max(0, t - window) : t].mean(axis=0)
        norm = np.linalg.norm(c) * np.linalg.norm(v[t])
        out[t] = 1.0 - float(v[t] @ c) / norm if norm > 0 else 0.0
    return out


class DriftScorer:
    """Embedding drift of each unit from the running window (no LM needed)."""

    method = "drift"

    def __init__(self, *, window: int = 4, state: dict[str, Any] | None = None) -> None:
        if window < 1:
            raise ValidationError("drift window must be >= 1")
        self.window = window
        past = (state or {}).get("past", [])
        self._past = [np.asarray(p, dtype=np.float64) for p in past]

    def score(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float64)
        k = len(self._past)
        history = np.stack(self._past + list(v)) if k + len(v) else np.zeros((0, 0))
        scores = drift_scores(history, window=self.window)[k:] if len(v) else np.zeros(0)
        if k == 0 and len(v):
            scores[0] = 0.0
        self._past = list(history[-self.window :]) if len(history) else []
        return scores

    def state(self) -> dict[str, Any]:
        return {"past": [p.tolist() for p in self._past]}
