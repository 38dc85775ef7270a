"""Weighted reciprocal rank fusion of the candidate lists of every signal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentmem.components import Candidate

__all__ = ["Fused", "fuse_candidates", "reciprocal_rank_fusion"]


@dataclass(slots=True)
class Fused:
    """A fused result: its score and, per signal, its 1-based rank and raw score."""

    key: tuple[str, str]  # (kind, id)
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[str]], *, weights: Mapping[str, float], k: int = 60
) -> list[tuple[str, float]]:
    """Plain weighted RRF (Cormack, Clarke & Büttcher 2009): ``Σ_s w_s / (k + rank_s(d))``.

    Ties are broken by the order of first appearance, so the result is deterministic.

    Examples
    --------
    >>> reciprocal_rank_fusion({"a": ["x", "y"], "b": ["y"]}, weights={"a": 1, "b": 1}, k=1)
    [('y', 0.8333333333333333), ('x', 0.5)]
    """
    scores: dict[str, float] = {}
    for signal, ids in ranked.items():
        w = weights.get(signal, 1.0)
        for rank, doc in enumerate(ids, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    order = {d: i for i, d in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def fuse_candidates(
    lists: Sequence[Sequence[Candidate]], *, weights: Mapping[str, float], k: int = 60
) -> list[Fused]:
    """Fuse component candidate lists (each list is ranked within each of its signals).

    A candidate that covers turns (an episode) credits each covered turn with its rank; a
    thought is fused as itself. A record found twice by one signal keeps its best rank.
    """
    by_signal: dict[str, list[tuple[str, str, float]]] = {}
    sub_ranks: dict[tuple[str, tuple[str, str]], Mapping[str, int]] = {}
    for cands in lists:
        for c in cands:
            if c.ranks:
                sub_ranks[(c.signal, (c.kind, c.id))] = c.ranks
            keys = [("turn", t) for t in c.turn_ids] if c.turn_ids else [(c.kind, c.id)]
            for kind, rid in keys:
                by_signal.setdefault(c.signal, []).append((kind, rid, c.score))
    fused: dict[tuple[str, str], Fused] = {}
    for signal, items in by_signal.items():
        w = weights.get(signal, 1.0)
        if w == 0:
            continue
        rank = 0
        last_score: float | None = None
        seen: set[tuple[str, str]] = set()
        for kind, rid, score in items:
            key = (kind, rid)
            if key in seen:
                continue
            seen.add(key)
            # Turns covered by one episode share that episode's rank.
            if last_score is None or score != last_score or kind != "turn":
                rank = len(seen)
            last_score = score
            f = fused.setdefault(key, Fused(key))
            f.score += w / (k + rank)
            f.ranks[signal] = rank
            f.raw[signal] = score
            for sub, sub_rank in sub_ranks.get((signal, key), {}).items():
                f.ranks.setdefault(sub, sub_rank)
    order = {key: i for i, key in enumerate(fused)}
    return sorted(fused.values(), key=lambda f: (-f.score, order[f.key]))
