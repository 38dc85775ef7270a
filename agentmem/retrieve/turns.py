"""Turn-level recall: dense cosine, BM25 and the query's time window, over one per-user cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from agentmem.components import Candidate, Query, Services, TurnFilter
from agentmem.index.bm25 import BM25Index
from agentmem.index.cache import VersionedCache
from agentmem.index.dense import ExactIndex
from agentmem.types import Scope, Turn

__all__ = ["TurnComponent", "TurnIndex", "embedding_text"]

KIND = "turns"


def embedding_text(turn: Turn, previous: Turn | None, window: int) -> str:
    """What is embedded for a turn: the rendered turn, after the previous one for context.

    A reply ("Yes, last Tuesday!") means little alone; the turn it answers makes it findable.
    """
    text = turn.render()
    if window > 0 and previous is not None and previous.scope.session_id == turn.scope.session_id:
        return f"{previous.speaker}: {previous.content}\n{text}"
    return text


@dataclass
class TurnIndex:
    """Everything needed to search one user's turns (dense rows and BM25 share ids)."""

    dense: ExactIndex
    bm25: BM25Index = field(default_factory=BM25Index)
    ts: list[float] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    session: list[str | None] = field(default_factory=list)
    role: list[str] = field(default_factory=list)

    def add(self, turns: Sequence[Turn], vectors: np.ndarray) -> None:
        rows = self.dense.add([t.id for t in turns], vectors)
        for t, r in zip(turns, rows, strict=True):
            while len(self.ts) <= r:
                self.ts.append(0.0)
                self.speaker.append("")
                self.session.append(None)
                self.role.append("")
            self.ts[r] = t.timestamp.timestamp()
            self.speaker[r] = t.speaker
            self.session[r] = t.scope.session_id
            self.role[r] = t.role
        self.bm25.add([t.id for t in turns], [t.render() for t in turns])

    def remove(self, ids: Sequence[str]) -> None:
        self.dense.remove(ids)
        self.bm25.remove(ids)

    def mask(self, f: TurnFilter) -> torch.Tensor | None:
        """Row mask for the structured part of a filter (``None`` when it restricts nothing)."""
        n = self.dense.n_rows
        m = np.ones(n, dtype=bool)
        restricted = False
        if f.window is not None:
            ts = np.asarray(self.ts[:n])
            if f.window.start is not None:
                m &= ts >= f.window.start.timestamp()
            if f.window.end is not None:
                m &= ts < f.window.end.timestamp()
            restricted = True
        for attr, want in (("speaker", f.speaker), ("session", f.session_id), ("role", f.role)):
            if want is not None:
                m &= np.fromiter((v == want for v in getattr(self, attr)[:n]), dtype=bool, count=n)
                restricted = True
        return torch.from_numpy(m) if restricted else None

    def bm25_allowed(self, mask: torch.Tensor | None) -> np.ndarray | None:
        """Translate a dense-row mask into a BM25-row mask (the two number rows separately)."""
        if mask is None:
            return None
        allowed_ids = {self.dense.id_at(r) for r in np.flatnonzero(mask.numpy())}
        return np.fromiter((i in allowed_ids for i in self.bm25.rows()), dtype=bool)


class TurnComponent:
    """Dense + BM25 + time-window signals over a user's raw turns (Chroma kind ``turns``)."""

    name = "turns"

    def __init__(self, services: Services) -> None:
        self.s = services
        self._cache: VersionedCache[TurnIndex] = VersionedCache(self._build)

    def _new_index(self) -> TurnIndex:
        return TurnIndex(ExactIndex(self.s.embedder.dim, device=self.s.device))

    def _build(self, scope: Scope) -> TurnIndex:
        turns = self.s.sql.list_turns(scope)
        index = self._new_index()
        if not turns:
            return index
        ids, vecs = self.s.vectors.fetch(KIND, scope)
        have = dict(zip(ids, range(len(ids)), strict=True))
        missing = [t for t in turns if t.id not in have]
        if missing:
            # A crash between the SQL commit and the vector write leaves turns without
            # vectors: embed them now and store them, so the index heals itself.
            prev = {t.id: (turns[i - 1] if i else None) for i, t in enumerate(turns)}
            texts = [embedding_text(t, prev[t.id], self.s.config.recall.context_window) for t in missing]
            new = self.s.embedder.embed(texts)
            self.s.vectors.upsert(KIND, scope, [t.id for t in missing], new)
            ids = ids + [t.id for t in missing]
            vecs = new if len(have) == 0 else np.vstack([vecs, new])
            have = dict(zip(ids, range(len(ids)), strict=True))
        index.add(turns, vecs[[have[t.id] for t in turns]])
        return index

    def index(self, scope: Scope, version: int) -> TurnIndex:
        return self._cache.get(scope, version)

    # -- MemoryComponent -------------------------------------------------------------------
    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        self._cache.advance(scope, version, lambda idx: idx.add(turns, vectors))

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        ids = [t.id for t in turns]
        self._cache.advance(scope, version, lambda idx: idx.remove(ids))

    def on_delete_user(self, scope: Scope) -> None:
        self._cache.drop(scope)

    def search(self, query: Query) -> list[Candidate]:
        idx = self._cache.get(query.scope, query.versions.get(self.name, 0))
        if len(idx.dense) == 0:
            return []
        n = self.s.config.recall.candidates
        mask = idx.mask(query.filter)
        out = [
            Candidate(i, "turn", s, "dense")
            for i, s in idx.dense.search(query.vector, n, valid=mask)[0]
        ]
        out += [
            Candidate(i, "turn", s, "bm25")
            for i, s in idx.bm25.search(query.text, n, allowed=idx.bm25_allowed(mask))
        ]
        if query.time_hint is not None and query.filter.window is None:
            tmask = idx.mask(TurnFilter(window=query.time_hint))
            if mask is not None and tmask is not None:
                tmask &= mask
            out += [
                Candidate(i, "turn", s, "time")
                for i, s in idx.dense.search(query.vector, n, valid=tmask)[0]
            ]
        return out
