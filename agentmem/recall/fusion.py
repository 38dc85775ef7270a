"""Fusion of the candidate lists of every signal.

Weighted reciprocal rank fusion by default. With a *primary* signal (the knowledge graph, whose
personalized PageRank already seeds passages with their dense scores), RRF's consensus would
re-rank the primary list by agreement with a signal it subsumes; :func:`head_fusion` keeps
RRF's top ``head`` records (where agreement is a good sign) and the primary order below them.
With *lead* signals the head is filled by :func:`interleave` instead: each lead signal's best
record in turn, so a signal that is sharp at its very top (the turn scorer's best match, the
bridge query's second hop) is not averaged away by the others.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from agentmem.mechanisms.base import Candidate

__all__ = ["Fused", "fuse_candidates", "head_fusion", "interleave", "reciprocal_rank_fusion"]

T = TypeVar("T", bound=Hashable)


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


def head_fusion(consensus: Sequence[T], primary: Sequence[T], *, head: int = 2) -> list[T]:
    """The first ``head`` of ``consensus``, then ``primary``'s order, then the rest of ``consensus``.

    ``consensus`` is the RRF order of every signal, whose top is sharp where the signals
    agree; below it, RRF would re-rank the primary list by agreement, so the primary order
    is kept there. ``head=0`` is the primary list alone; ``head >= len(consensus)`` is RRF.

    Examples
    --------
    >>> head_fusion(["x", "b", "a", "y"], ["a", "b", "c", "d"], head=2)
    ['x', 'b', 'a', 'c', 'd', 'y']
    """
    if head < 0:
        raise ValueError("head must be >= 0")
    out = dict.fromkeys(consensus[:head])
    out.update(dict.fromkeys(d for d in primary if d not in out))
    out.update(dict.fromkeys(d for d in consensus if d not in out))
    return list(out)


def interleave(lists: Sequence[Sequence[T]]) -> list[T]:
    """Round-robin merge: each list in turn gives its best record not taken yet.

    Examples
    --------
    >>> interleave([["a", "b", "c"], ["a", "d"], []])
    ['a', 'd', 'b', 'c']
    """
    out: dict[T, None] = {}
    pos = [0] * len(lists)
    while any(p < len(lst) for p, lst in zip(pos, lists, strict=True)):
        for i, lst in enumerate(lists):
            while pos[i] < len(lst) and lst[pos[i]] in out:
                pos[i] += 1
            if pos[i] < len(lst):
                out[lst[pos[i]]] = None
                pos[i] += 1
    return list(out)


def fuse_candidates(
    lists: Sequence[Sequence[Candidate]],
    *,
    weights: Mapping[str, float],
    k: int = 60,
    primary: str | None = None,
    head: int = 2,
    lead: Sequence[str] = (),
) -> list[Fused]:
    """Fuse component candidate lists (each list is ranked within each of its signals).

    A candidate that covers turns (an episode) credits each covered turn with its rank; a
    thought is fused as itself. A record found twice by one signal keeps its best rank.

    Scores are weighted RRF, ``Σ_s w_s / (k + rank_s)``. When ``primary`` names a signal
    that has candidates (and a non-zero weight), the order is :func:`head_fusion` of the RRF
    order and that signal's list, and the score of the record at fused position ``i``
    (1-based) is ``1 / (k + i)``. With ``lead`` signals as well, the head is their lists
    :func:`interleave`-d (a lead signal takes part even at weight 0, which keeps it out of the
    RRF scores), topped up from RRF's order when they hold fewer than ``head`` records.
    Ranks and raw scores per signal are kept either way.
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
    if primary not in by_signal or weights.get(primary, 1.0) == 0:
        primary = None
    leads = [s for s in lead if s in by_signal] if primary is not None else []
    fused: dict[tuple[str, str], Fused] = {}
    for signal, items in by_signal.items():
        w = weights.get(signal, 1.0)
        if w == 0 and signal not in leads:
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
    rrf = sorted(fused.values(), key=lambda f: (-f.score, order[f.key]))
    if primary is None:
        return rrf
    ranked = {s: list(dict.fromkeys((kind, rid) for kind, rid, _ in by_signal[s])) for s in {primary, *leads}}
    consensus = [f.key for f in rrf]
    if leads:
        consensus = list(dict.fromkeys(interleave([ranked[s] for s in leads])[:head] + consensus))
    out = [fused[key] for key in head_fusion(consensus, ranked[primary], head=head)]
    for i, f in enumerate(out, start=1):
        f.score = 1.0 / (k + i)
    return out
