"""Turn-level hybrid scoring: pure functions over a candidate pool.

Dense and BM25 scores are fused by min-max score fusion, and each turn also gets a share of
its neighbours' scores (temporal contiguity, EM-LLM's second retrieval stage applied to turns):
the evidence for a question is often the reply next to the turn that matches it. How these
were chosen over reciprocal rank fusion: docs/benchmarks.md (LoCoMo dev ablation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from agentmem.mechanisms.base import min_max

__all__ = ["contiguity", "named_speaker", "score_fusion"]


def score_fusion(dense: np.ndarray, lexical: np.ndarray, *, lexical_weight: float) -> np.ndarray:
    """Convex combination of min-max normalised scores: ``(1-w)·mm(dense) + w·mm(lexical)``.

    Both arrays score the same pool of candidates (row-aligned).
    """
    if not 0.0 <= lexical_weight <= 1.0:
        raise ValueError("lexical_weight must be in [0, 1]")
    return (1.0 - lexical_weight) * _unit(dense) + lexical_weight * _unit(lexical)


def contiguity(scores: np.ndarray, prev: np.ndarray, nxt: np.ndarray, *, beta: float) -> np.ndarray:
    """``s_i + β · max(s_prev(i), s_next(i))``; ``prev``/``nxt`` index into ``scores``, ``-1`` = none.

    A missing neighbour contributes 0 (scores are non-negative after :func:`score_fusion`).

    >>> contiguity(np.array([1.0, 0.0, 0.5]), np.array([-1, 0, 1]), np.array([1, 2, -1]), beta=0.5).tolist()
    [1.0, 0.5, 0.5]
    """
    s = np.asarray(scores, dtype=np.float64)
    padded = np.append(s, 0.0)  # index -1 reads the trailing 0
    return s + beta * np.maximum(padded[prev], padded[nxt])


def named_speaker(query: str, speakers: Iterable[str]) -> str | None:
    """The one speaker the query names (whole word, case-sensitive), else ``None``.

    >>> named_speaker("What did Melanie paint?", ["Caroline", "Melanie"])
    'Melanie'
    """
    # substring test first: a store of documents has one "speaker" (title) per passage
    named = [s for s in set(speakers) if s and s in query and re.search(rf"(?<!\w){re.escape(s)}(?!\w)", query)]
    return named[0] if len(named) == 1 else None


def speaker_boost(speakers: Sequence[str], named: str | None, boost: float) -> np.ndarray:
    """``boost`` for turns by the named speaker, 0 elsewhere."""
    if named is None or boost == 0:
        return np.zeros(len(speakers))
    return boost * np.fromiter((s == named for s in speakers), dtype=np.float64, count=len(speakers))


def _unit(x: np.ndarray) -> np.ndarray:
    """Min-max to ``[0, 1]`` in float64; all equal → all 0 (a signal that ranks nothing adds nothing)."""
    return min_max(np.asarray(x, dtype=np.float64), constant=0.0)
