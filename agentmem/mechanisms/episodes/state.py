"""Pure parts of the episode mechanism: a stream's saved state, forgetting deleted turns, the
searchable index of a user's episodes and how a write advances it, two-stage recall.

The state (see :class:`~agentmem.mechanisms.episodes.component.EpisodeComponent`) is a dict:
``rev``, ``consumed``, ``scorer`` (the unit scorer's state), ``segmenter`` (the
:class:`~agentmem.mechanisms.episodes.segment.stream.StreamSegmenter`'s state, whose
``vectors`` and ``tokens`` are row-aligned with ``units``) and ``units``
(``[turn_id, text, iso timestamp]`` of the open tail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from agentmem.kernels.order import stable_top
from agentmem.mechanisms.base import TurnFilter
from agentmem.types import Episode

__all__ = ["EpisodeIndex", "Unit", "forget_turns", "normed_mean", "two_stage"]


@dataclass
class EpisodeIndex:
    """One user's episodes in the repository's order (start time, then ``seq``), with a
    unit-norm embedding matrix (rows aligned)."""

    episodes: list[Episode]
    vectors: np.ndarray
    position: dict[str, int]  # episode id -> row

    @classmethod
    def of(cls, episodes: list[Episode], vectors: np.ndarray) -> EpisodeIndex:
        return cls(episodes, vectors, {e.id: r for r, e in enumerate(episodes)})

    def advance(self, removed: set[str], added: Sequence[Episode], vectors: np.ndarray) -> None:
        """Apply one write: drop the ``removed`` ids, add ``added`` (rows of ``vectors``), and
        order as the repository lists them. Every field is replaced, none mutated, so a reader
        holding the old ones keeps a consistent set."""
        keep = [i for i, e in enumerate(self.episodes) if e.id not in removed]
        eps = [self.episodes[i] for i in keep] + list(added)
        mat = np.concatenate([self.vectors[keep], np.asarray(vectors, dtype=np.float32).reshape(len(added), -1)])
        order = sorted(range(len(eps)), key=lambda i: (eps[i].start, eps[i].seq))
        self.episodes = [eps[i] for i in order]
        self.vectors = mat[order]
        self.position = {e.id: r for r, e in enumerate(self.episodes)}


@dataclass
class Unit:
    """A segmentation unit: a turn, or a sentence group of a long one."""

    turn_id: str | None  # None once the turn was deleted
    text: str
    ts: datetime


def normed_mean(v: np.ndarray) -> np.ndarray:
    """The unit-norm mean of the rows of ``v`` (the mean itself when it is zero)."""
    m = np.asarray(v, dtype=np.float64).mean(axis=0)
    n = np.linalg.norm(m)
    return (m / n if n > 0 else m).astype(np.float32)


def forget_turns(state: dict[str, Any], gone: set[str]) -> dict[str, Any] | None:
    """``state`` with the units of the ``gone`` turns blanked, or None when it holds none of them.

    Positions are kept so later boundaries stay consistent: a blanked unit keeps its row with
    no turn, empty text, a zero vector and zero tokens. The LM scorer's context may hold the
    deleted text's tokens, so it is cleared (its offset moves past them). The revision is
    bumped, so a writer that read the stream before sees it changed.
    """
    state = dict(state)
    units = state.get("units", [])
    if not any(u[0] in gone for u in units):
        return None
    seg_state = dict(state.get("segmenter", {}))
    vecs = seg_state.get("vectors", [])
    n_tok = seg_state.get("tokens", [])
    for j, u in enumerate(units):
        if u[0] in gone:
            u[0], u[1] = None, ""
            if j < len(vecs):
                vecs[j] = [0.0] * len(vecs[j])
            if j < len(n_tok):
                n_tok[j] = 0
    scorer_state = dict(state.get("scorer") or {})
    if "ids" in scorer_state:
        scorer_state = {"offset": int(scorer_state["offset"]) + len(scorer_state["ids"]), "ids": []}
    state.update(units=units, segmenter={**seg_state, "vectors": vecs, "tokens": n_tok}, scorer=scorer_state,
                 rev=int(state.get("rev", 0)) + 1)
    return state


def two_stage(episodes: Sequence[Episode], vectors: np.ndarray, query_vector: np.ndarray, k_similar: int,
              k_contiguous: int, f: TurnFilter | None = None) -> list[tuple[Episode, float]]:
    """EM-LLM's two-stage recall over one user's episodes (in stream order, ``vectors`` their
    unit-norm rows): the ``k_similar`` most similar allowed by ``f``, each followed by its
    ``k_contiguous`` neighbours before and after in the same stream; with their similarity."""
    if not episodes:
        return []
    sims = vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
    allowed = np.ones(len(episodes), dtype=bool)
    if f is not None:
        for r, e in enumerate(episodes):
            if f.session_id is not None and e.scope.session_id != f.session_id:
                allowed[r] = False
            if f.window is not None and (
                (f.window.end is not None and e.start >= f.window.end)
                or (f.window.start is not None and e.end < f.window.start)
            ):
                allowed[r] = False
            if f.allowed is not None and not f.allowed.issuperset(e.turn_ids):
                allowed[r] = False  # an episode is recalled whole: every turn must pass
    rows = np.flatnonzero(allowed)
    order = [int(r) for r in rows[stable_top(sims[rows], k_similar)]]
    out: list[tuple[Episode, float]] = []
    seen: set[int] = set()
    for r in order:
        for d in [0] + [x for j in range(1, k_contiguous + 1) for x in (-j, j)]:
            n = r + d
            if n in seen or not 0 <= n < len(episodes) or not allowed[n]:
                continue
            if episodes[n].scope.session_id != episodes[r].scope.session_id:
                continue  # contiguity holds within a stream
            seen.add(n)
            out.append((episodes[n], float(sims[n])))
    return out
