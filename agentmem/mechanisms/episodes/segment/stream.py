"""Incremental episode segmentation of one stream, equal to the batch path.

Units (turns, or sentence groups of long turns) arrive in order. Each is scored by a
:class:`~agentmem.mechanisms.episodes.segment.scorers.UnitScorer`; a :class:`~agentmem.mechanisms.episodes.segment.surprise.SurpriseDetector`
decides causally whether it opens a new episode (EM-LLM threshold, size caps). With refinement
on, the boundary before the newest one is moved to the best modularity/conductance split of
the units between its neighbours as soon as the newest fires — so an episode becomes *final*
one boundary late, and the units after the last final boundary form the *open tail*.

:func:`segment_batch` is the same computation over a whole stream at once
(:func:`~agentmem.mechanisms.episodes.segment.surprise.surprise_boundaries` then
:func:`~agentmem.mechanisms.episodes.segment.refine.refine_boundaries`); a test checks that feeding a stream unit
by unit and flushing gives exactly its boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agentmem.errors import ValidationError
from agentmem.mechanisms.episodes.segment.refine import refine_boundaries
from agentmem.mechanisms.episodes.segment.scorers import UnitScorer
from agentmem.mechanisms.episodes.segment.surprise import (
    SurpriseDetector,
    split_oversized,
    surprise_boundaries,
)

__all__ = ["Segment", "SegmentParams", "StreamSegmenter", "segment_batch", "split_sentences"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|\n{2,}")


def split_sentences(text: str, max_chars: int) -> list[str]:
    """``text`` as-is when it fits ``max_chars``, else sentence groups of at most ``max_chars``.

    A sentence longer than ``max_chars`` is cut at whitespace; nothing is dropped
    (``"".join`` of the parts with single spaces restores the words).
    """
    if len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    cur = ""
    for sent in (s.strip() for s in _SENTENCE.split(text)):
        if not sent:
            continue
        while len(sent) > max_chars:
            cut = sent.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if cur:
                parts.append(cur)
                cur = ""
            parts.append(sent[:cut].strip())
            sent = sent[cut:].strip()
        if cur and len(cur) + 1 + len(sent) > max_chars:
            parts.append(cur)
            cur = ""
        cur = f"{cur} {sent}" if cur else sent
    if cur:
        parts.append(cur)
    return parts


@dataclass(frozen=True, slots=True)
class SegmentParams:
    """Boundary parameters (see :func:`~agentmem.mechanisms.episodes.segment.surprise.surprise_boundaries`)."""

    window: int = 16
    gamma: float = 1.0
    min_size: int = 3
    max_size: int = 24
    refine: Literal["modularity", "conductance", "off"] = "modularity"
    max_tokens: int | None = None  # final segments longer than this are cut (split_oversized)


@dataclass(frozen=True, slots=True)
class Segment:
    """Units ``[start, end)`` of the stream (absolute positions) with their scores."""

    start: int
    end: int
    scores: tuple[float, ...]

    @property
    def surprise_mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else 0.0

    @property
    def surprise_max(self) -> float:
        return float(np.max(self.scores)) if self.scores else 0.0


def _cosine(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    u = v / np.where(norms > 0, norms, 1.0)
    return u @ u.T


def segment_batch(
    scores: np.ndarray, vectors: np.ndarray | None, params: SegmentParams,
    tokens: Sequence[int] | np.ndarray | None = None,
) -> list[int]:
    """Boundaries of a whole stream: surprise threshold, then refinement on cosine similarity,
    then the token cap (``params.max_tokens``; ``tokens`` per unit) on each segment."""
    bounds = surprise_boundaries(
        scores, window=params.window, gamma=params.gamma,
        min_size=params.min_size, max_size=params.max_size,
    )
    if params.refine != "off" and bounds and vectors is not None:
        bounds = refine_boundaries(_cosine(vectors), bounds, params.refine, min_size=params.min_size)
    if params.max_tokens is None:
        return bounds
    cost = _tokens_for(params, tokens, len(scores))
    cuts = [0, *bounds, len(scores)]
    out: list[int] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if a > 0:
            out.append(a)
        out += [a + j for j in _cap_cuts(params, scores[a:b], cost[a:b])]
    return out


def _cap_cuts(params: SegmentParams, scores: Sequence[float] | np.ndarray, tokens: Sequence[int]) -> list[int]:
    """Where the token cap cuts one final segment (positions relative to its start)."""
    if params.max_tokens is None:
        return []
    return split_oversized(scores, tokens, max_tokens=params.max_tokens, min_size=params.min_size)


def _tokens_for(params: SegmentParams, tokens: Sequence[int] | np.ndarray | None, n: int) -> list[int]:
    if tokens is None:
        raise ValidationError(f"max_tokens={params.max_tokens} needs the token count of every unit")
    if len(tokens) != n:
        raise ValidationError(f"{n} units but {len(tokens)} token counts")
    return [int(x) for x in tokens]


@dataclass
class _Pending:
    """Units from the last final boundary on (absolute start ``base``)."""

    base: int = 0
    scores: list[float] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)  # detected, not yet refined (at most one)
    tokens: list[int] = field(default_factory=list)  # per unit, when the token cap is on


class StreamSegmenter:
    """Feeds units of one stream to a scorer and a detector; returns finished segments.

    Parameters
    ----------
    scorer
        Surprise per unit (LM or embedding drift).
    params
        Boundary parameters.
    state
        From :meth:`state` of an earlier segmenter of the same stream (another process).
    """

    def __init__(
        self, scorer: UnitScorer, params: SegmentParams, *, state: dict[str, Any] | None = None
    ) -> None:
        self.scorer, self.params = scorer, params
        st = state or {}
        self.detector = SurpriseDetector(
            window=params.window, gamma=params.gamma, min_size=params.min_size,
            max_size=params.max_size, position=int(st.get("position", 0)),
            last=int(st.get("last", 0)), history=st.get("history", ()),
        )
        self._p = _Pending(
            base=int(st.get("base", 0)),
            scores=[float(x) for x in st.get("scores", [])],
            vectors=[np.asarray(v, dtype=np.float64) for v in st.get("vectors", [])],
            raw=[int(x) for x in st.get("raw", [])],
            tokens=[int(x) for x in st.get("tokens", [])],
        )
        # a state saved before the token cap existed: its pending units count as 0 tokens
        self._p.tokens[:0] = [0] * (len(self._p.scores) - len(self._p.tokens))

    @property
    def method(self) -> str:
        return self.scorer.method

    @property
    def position(self) -> int:
        """Units seen so far."""
        return self.detector.position

    def open_tail(self) -> Segment | None:
        """The units after the last final boundary (provisional episode), if any."""
        p = self._p
        if not p.scores:
            return None
        return Segment(p.base, p.base + len(p.scores), tuple(p.scores))

    def open_segments(self) -> list[Segment]:
        """The open tail cut at its detected-but-unrefined boundary (provisional episodes)."""
        p = self._p
        cuts = [p.base, *p.raw, p.base + len(p.scores)]
        return [
            Segment(a, b, tuple(p.scores[a - p.base : b - p.base]))
            for a, b in zip(cuts, cuts[1:], strict=False)
            if b > a
        ]

    def _close(self, end: int) -> list[Segment]:
        """Close the units up to ``end`` as final segments (cut by the token cap)."""
        p = self._p
        n = end - p.base
        cuts = [0, *_cap_cuts(self.params, p.scores[:n], p.tokens[:n]), n]
        segs = [Segment(p.base + a, p.base + b, tuple(p.scores[a:b])) for a, b in zip(cuts, cuts[1:], strict=False)]
        p.base, p.scores, p.vectors, p.tokens = end, p.scores[n:], p.vectors[n:], p.tokens[n:]
        return segs

    def _settle(self, right: int) -> list[Segment]:
        """Refine the pending raw boundary against ``right`` and close the segment before it."""
        p = self._p
        b = p.raw.pop(0)
        if self.params.refine != "off":
            span = right - p.base
            sim = _cosine(np.stack(p.vectors[:span]))
            b = p.base + refine_boundaries(
                sim, [b - p.base], self.params.refine, min_size=self.params.min_size
            )[0]
        return self._close(b)

    def feed(
        self, texts: Sequence[str], vectors: np.ndarray, tokens: Sequence[int] | np.ndarray | None = None
    ) -> list[Segment]:
        """Add units (texts and unit-norm embeddings, row-aligned; ``tokens`` per unit when the
        token cap is on); return segments now final."""
        cost = _tokens_for(self.params, tokens, len(texts)) if self.params.max_tokens is not None else [0] * len(texts)
        scores = self.scorer.score(texts, vectors)
        done: list[Segment] = []
        for score, vec, n_tok in zip(scores, np.asarray(vectors), cost, strict=True):
            t = self.detector.position
            if self.detector.push(float(score)):
                if self.params.refine == "off":
                    done += self._close(t)
                else:
                    if self._p.raw:
                        done += self._settle(t)
                    self._p.raw.append(t)
            self._p.tokens.append(n_tok)
            self._p.scores.append(float(score))
            self._p.vectors.append(np.asarray(vec, dtype=np.float64))
        return done

    def flush(self) -> list[Segment]:
        """End of stream: settle the pending boundary, close the tail."""
        done = []
        end = self._p.base + len(self._p.scores)
        if self._p.raw:
            done += self._settle(end)
        if self._p.scores:
            done += self._close(end)
        return done

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state (the scorer's is kept separately by the caller)."""
        p = self._p
        return {
            "position": self.detector.position,
            "last": self.detector.last,
            "history": self.detector.history,
            "base": p.base,
            "scores": list(p.scores),
            "vectors": [v.tolist() for v in p.vectors],
            "raw": list(p.raw),
            "tokens": list(p.tokens),
        }
