"""Turn-level recall: dense (two views) + BM25 fused by score, with temporal contiguity.

Signals inside the component: ``dense`` (cosine, max over the turn alone and its in-context
view, :mod:`agentmem.mechanisms.turns.context`), ``bm25``, and the query's time window
(``time``). The component emits one
ranked ``turns`` list (hybrid score, :mod:`agentmem.mechanisms.turns.hybrid`) that joins the facade's
fusion, plus the ``time`` list; each candidate records its dense and BM25 ranks for provenance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from agentmem.mechanisms.base import TURN_KIND, Candidate, Query, Services, TurnFilter
from agentmem.mechanisms.turns.context import context_text, context_vectors, linked, predecessors
from agentmem.mechanisms.turns.hybrid import contiguity, named_speaker, score_fusion, speaker_boost
from agentmem.mechanisms.turns.passages import PASSAGE_KIND, PassageIndex, long_turns, passage_ids
from agentmem.store.bm25 import BM25Index
from agentmem.store.cache import VersionedCache
from agentmem.store.dense import ExactIndex
from agentmem.types import Scope, Turn

__all__ = ["CONTEXT_KIND", "KIND", "TurnComponent", "TurnIndex"]

KIND = TURN_KIND  # Chroma kind of the plain view (written by the facade)
CONTEXT_KIND = "turns_ctx"  # the ``"text"`` in-context view (written by this component)


def _passage_text(turn: Turn, part: str) -> str:
    """The embedded text of one passage of a long turn: the turn's rendering with the passage."""
    return f"[{turn.timestamp:%Y-%m-%d}] {turn.speaker}: {part}"


@dataclass
class TurnIndex:
    """One user's turns: two dense views and BM25 (dense rows are shared by both views)."""

    plain: ExactIndex
    ctx: ExactIndex
    passages: PassageIndex  # the passages of long turns
    bm25: BM25Index = field(default_factory=lambda: BM25Index(compact=False))  # rows = dense rows
    ts: list[float] = field(default_factory=list)
    speaker: list[str] = field(default_factory=list)
    session: list[str | None] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    prev: list[int] = field(default_factory=list)  # previous live row of the same session, -1
    next: list[int] = field(default_factory=list)
    speakers: Counter[str] = field(default_factory=Counter)  # live turns per speaker
    _last: dict[str | None, int] = field(default_factory=dict)
    _link_arrays: tuple[np.ndarray, np.ndarray] | None = None  # prev / next as arrays, rebuilt after a change

    def links(self) -> tuple[np.ndarray, np.ndarray]:
        """``prev`` and ``next`` as int64 arrays (cached until the next add or remove)."""
        if self._link_arrays is None:
            self._link_arrays = (np.asarray(self.prev, dtype=np.int64), np.asarray(self.next, dtype=np.int64))
        return self._link_arrays

    def add(self, turns: Sequence[Turn], plain: np.ndarray, ctx: np.ndarray,
            passages: dict[int, np.ndarray] | None = None) -> None:
        """Index turns; ``passages`` maps a position in ``turns`` to its passage vectors."""
        self.remove([t.id for t in turns if self.plain.row_of(t.id) is not None])
        rows = self.plain.add([t.id for t in turns], plain)
        self.ctx.add([t.id for t in turns], ctx)
        for k, vecs in (passages or {}).items():
            self.passages.add(turns[k].id, rows[k], vecs)
        for t, r in zip(turns, rows, strict=True):
            sid = t.scope.session_id
            self.ts.append(t.timestamp.timestamp())
            self.speaker.append(t.speaker)
            self.session.append(sid)
            self.role.append(t.role)
            before = self._last.get(sid, -1) if linked(t) else -1
            self.prev.append(before)
            self.next.append(-1)
            if before >= 0:
                self.next[before] = r
            if linked(t):
                self._last[sid] = r
            self.speakers[t.speaker] += 1
        self._link_arrays = None
        bm_rows = self.bm25.add([t.id for t in turns], [t.render() for t in turns])
        if bm_rows != rows:  # both indexes append in lockstep and never renumber
            raise AssertionError("dense and BM25 rows diverged")

    def remove(self, ids: Sequence[str]) -> None:
        for i in ids:
            r = self.plain.row_of(i)
            if r is None:
                continue
            self.passages.remove(i, r)
            p, n = self.prev[r], self.next[r]
            if p >= 0:
                self.next[p] = n
            if n >= 0:
                self.prev[n] = p
            if self._last.get(self.session[r]) == r:
                self._last[self.session[r]] = p
            self.speakers[self.speaker[r]] -= 1
            if self.speakers[self.speaker[r]] <= 0:
                del self.speakers[self.speaker[r]]
        self._link_arrays = None
        self.plain.remove(ids)
        self.ctx.remove(ids)
        self.bm25.remove(ids)

    def mask(self, f: TurnFilter) -> torch.Tensor | None:
        """Row mask for the structured part of a filter (``None`` when it restricts nothing)."""
        n = self.plain.n_rows
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
        if f.allowed is not None:
            ok = np.zeros(n, dtype=bool)
            rows = [r for r in (self.plain.row_of(i) for i in f.allowed) if r is not None and r < n]
            ok[rows] = True
            m &= ok
            restricted = True
        return torch.from_numpy(m) if restricted else None

    def search(self, query: Query, n: int, *, lexical_weight: float, beta: float, boost: float) -> list[Candidate]:
        """Hybrid-scored candidates (see module docstring), best first."""
        mask = self.mask(query.filter)
        allowed = None if mask is None else mask.numpy()
        live = self.plain.alive_mask().numpy()
        if allowed is not None:
            live &= allowed
        p_rows, p_scores = self.plain.search_rows(query.vector, n, valid=mask)
        c_rows, c_scores = self.ctx.search_rows(query.vector, n, valid=mask)
        s_rows, s_scores = self.passages.search(query.vector, n, allowed)
        bm_by_row = self.bm25.scores(query.text)  # same rows as the dense views
        if allowed is not None:
            bm_by_row[~allowed[: len(bm_by_row)]] = 0.0
        positive = np.flatnonzero(bm_by_row > 0)
        if positive.size > n:
            positive = positive[np.argpartition(-bm_by_row[positive], n - 1)[:n]]
        bm_top = positive[np.lexsort((positive, -bm_by_row[positive]))]
        seeds = first_occurrences(np.concatenate([p_rows, c_rows, s_rows, bm_top]))
        if not seeds.size:
            return []
        prev, nxt = self.links()
        around = np.stack([prev[seeds], nxt[seeds]], axis=1).ravel()
        around = around[around >= 0]
        pool = first_occurrences(np.concatenate([seeds, around[live[around]]]))
        q = np.asarray(query.vector, dtype=np.float32)
        dense = np.maximum(self.plain.rows_vectors(pool) @ q, self.ctx.rows_vectors(pool) @ q)
        best, which = self.passages.best(pool, q)
        dense = np.maximum(dense, best)
        base = score_fusion(dense, bm_by_row[pool], lexical_weight=lexical_weight)
        named = named_speaker(query.text, self.speakers)
        by_named = speaker_boost([self.speaker[r] for r in pool], named, 1.0)
        base += boost * by_named
        p_at, n_at = positions(pool, prev[pool]), positions(pool, nxt[pool])
        final = contiguity(base, p_at, n_at, beta=beta)[: len(seeds)]
        padded = np.append(base, 0.0)
        neighbour = np.maximum(padded[p_at], padded[n_at])
        bm_max = float(bm_by_row.max()) if bm_by_row.size else 0.0
        store = float(np.log1p(self.speakers.total()))
        d_rows, d_scores = np.concatenate([p_rows, c_rows, s_rows]), np.concatenate([p_scores, c_scores, s_scores])
        by_dense = first_occurrences(d_rows[np.argsort(-d_scores, kind="stable")])  # a row's best view
        dense_rank = {int(r): k for k, r in enumerate(by_dense, 1)}
        bm_rank = {int(r): k for k, r in enumerate(bm_top, 1)}
        out = []
        for i in np.argsort(-final, kind="stable")[:n]:
            row = int(pool[i])
            ranks = {}
            if row in dense_rank:
                ranks["dense"] = dense_rank[row]
            if row in bm_rank:
                ranks["bm25"] = bm_rank[row]
            passage = int(which[i]) if which[i] >= 0 else None
            features = {
                "dense": float(dense[i]), "bm25": float(bm_by_row[row] / bm_max) if bm_max > 0 else 0.0,
                "base": float(base[i]), "neighbour": float(neighbour[i]), "speaker": float(by_named[i]),
                "named": float(named is not None), "document": float(self.role[row] == "document"),
                "store": store,
            }
            out.append(Candidate(self.plain.id_at(row), "turn", float(final[i]), "turns", ranks=ranks,
                                 passage=passage, features=features))
        return out


def first_occurrences(rows: np.ndarray) -> np.ndarray:
    """``rows`` without repeats, each at its first position.

    >>> first_occurrences(np.array([3, 1, 3, 2, 1])).tolist()
    [3, 1, 2]
    """
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


def positions(pool: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Where each of ``rows`` sits in ``pool`` (distinct rows), ``-1`` when absent.

    >>> positions(np.array([7, 2, 9]), np.array([9, -1, 2, 5])).tolist()
    [2, -1, 1, -1]
    """
    order = np.argsort(pool, kind="stable")
    at = np.minimum(np.searchsorted(pool[order], rows), len(pool) - 1)
    return np.where(pool[order][at] == rows, order[at], -1)


class TurnComponent:
    """Hybrid recall over a user's raw turns (Chroma kinds ``turns`` and, for the ``"text"``
    in-context view, ``turns_ctx``)."""

    name = "turns"

    def __init__(self, services: Services) -> None:
        self.s = services
        self._cache: VersionedCache[TurnIndex] = VersionedCache(self._build)

    def _new_index(self) -> TurnIndex:
        dim, dev = self.s.embedder.dim, self.s.device
        dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(self.s.config.vector_dtype)  # auto: None
        return TurnIndex(ExactIndex(dim, device=dev, dtype=dtype), ExactIndex(dim, device=dev, dtype=dtype),
                         PassageIndex(dim, device=dev, dtype=dtype))

    def _passage_vectors(self, scope: Scope, turns: Sequence[Turn], *, stored: bool) -> dict[int, np.ndarray]:
        """Passage vectors of the long ``turns`` (by position): the stored ones when
        ``stored``, embedding (and storing) the missing ones, all together."""
        parts = self._parts(turns)
        if not parts:
            return {}
        ids = {k: passage_ids(turns[k].id, len(p)) for k, p in parts.items()}
        have: dict[str, np.ndarray] = {}
        if stored:
            got_ids, got = self.s.vectors.fetch(PASSAGE_KIND, scope.owner(), [i for v in ids.values() for i in v])
            have = dict(zip(got_ids, got, strict=True))
        todo = [(k, j) for k, p in parts.items() for j in range(len(p)) if ids[k][j] not in have]
        if todo:
            texts = [_passage_text(turns[k], parts[k][j]) for k, j in todo]
            new = self.s.embedder.embed(texts)
            new_ids = [ids[k][j] for k, j in todo]
            self.s.vectors.upsert(PASSAGE_KIND, scope.owner(), new_ids, new)
            have.update(zip(new_ids, new, strict=True))
        return {k: np.stack([np.asarray(have[i], dtype=np.float32) for i in v]) for k, v in ids.items()}

    def _vectors(self, kind: str, scope: Scope, turns: Sequence[Turn], texts: Sequence[str]) -> np.ndarray:
        """Stored vectors of ``kind`` for ``turns``, embedding (and storing) any missing ones.

        A crash between the SQL commit and the vector write leaves turns without vectors;
        building the index heals that.
        """
        ids, vecs = self.s.vectors.fetch(kind, scope)
        have = {i: k for k, i in enumerate(ids)}
        missing = [k for k, t in enumerate(turns) if t.id not in have]
        out = np.zeros((len(turns), self.s.embedder.dim), dtype=np.float32)
        if missing:
            new = self.s.embedder.embed([texts[k] for k in missing])
            self.s.vectors.upsert(kind, scope, [turns[k].id for k in missing], new)
            out[missing] = new
        present = [k for k, t in enumerate(turns) if t.id in have]
        if present:
            out[present] = vecs[[have[turns[k].id] for k in present]]
        return out

    def _build(self, scope: Scope) -> TurnIndex:
        turns = self.s.sql.list_turns(scope)
        index = self._new_index()
        if turns:
            plain = self._vectors(KIND, scope, turns, [t.render() for t in turns])
            ctx = self._context_vectors(scope, turns, plain, building=True)
            index.add(turns, plain, ctx, self._passage_vectors(scope, turns, stored=True))
        return index

    def _parts(self, turns: Sequence[Turn]) -> dict[int, list[str]]:
        """The passages of the long ``turns``, by position."""
        cfg = self.s.config
        return long_turns([t.content for t in turns], longer_than=cfg.long_turn_chars, size=cfg.passage_chars,
                          overlap=cfg.passage_overlap)

    def _context_vectors(self, scope: Scope, turns: Sequence[Turn], plain: np.ndarray, *,
                         building: bool = False) -> np.ndarray:
        """The in-context views of ``turns`` (``plain``: their vectors; see
        :mod:`~agentmem.mechanisms.turns.context`). New turns (``building=False``) follow the
        session's last stored turn; when ``building`` the index, ``turns`` are all the user's
        and stored ``"text"`` views are read back (embedding only missing ones)."""
        cfg = self.s.config.recall
        if not cfg.context_view:
            return plain
        previous, stored = predecessors(turns, None if building else self._stored_before(scope))
        if cfg.context_source == "vectors":
            before = None
            if stored:
                before = np.zeros_like(plain, dtype=np.float32)
                before[list(stored)] = self._vectors(KIND, scope, list(stored.values()),
                                                     [t.render() for t in stored.values()])
            return context_vectors(plain, previous, weight=cfg.context_weight, before=before)
        texts = self._context_texts(turns, previous, stored)
        if building:
            full = [x or t.render() for x, t in zip(texts, turns, strict=True)]
            return self._vectors(CONTEXT_KIND, scope, turns, full)
        todo = [(k, x) for k, x in enumerate(texts) if x is not None]
        ctx = plain.copy()
        if todo:
            ctx[[k for k, _ in todo]] = self.s.embedder.embed([x for _, x in todo])
        self.s.vectors.upsert(CONTEXT_KIND, scope, [t.id for t in turns], ctx)
        return ctx

    def _stored_before(self, scope: Scope) -> Callable[[str, int], Turn | None]:
        return lambda sid, seq: self.s.sql.previous_turn(scope, sid, seq)

    @staticmethod
    def _context_texts(turns: Sequence[Turn], previous: np.ndarray, stored: dict[int, Turn]) -> list[str | None]:
        """Per turn, its ``"text"`` in-context view, ``None`` where it has no predecessor."""
        return [context_text(t, turns[p] if p >= 0 else stored[k]) if p != -1 else None
                for k, (t, p) in enumerate(zip(turns, previous, strict=True))]

    def planned_texts(self, scope: Scope, turns: Sequence[Turn]) -> list[str]:
        """Besides each turn's rendering, the texts :meth:`on_add` of ``turns`` embeds: their
        ``"text"`` in-context views and the passages of long turns (see
        :class:`~agentmem.mechanisms.base.PlansEmbeddings`)."""
        cfg = self.s.config.recall
        texts: list[str] = []
        if cfg.context_view and cfg.context_source == "text":
            texts = [x for x in self._context_texts(turns, *predecessors(turns, self._stored_before(scope))) if x]
        return texts + [_passage_text(turns[k], part) for k, parts in self._parts(turns).items() for part in parts]

    # -- MemoryComponent -------------------------------------------------------------------
    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        ctx = self._context_vectors(scope, turns, vectors)
        passages = self._passage_vectors(scope, turns, stored=False)
        self._cache.advance(scope, version, lambda idx: idx.add(turns, vectors, ctx, passages))

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        ids = [t.id for t in turns]
        self.s.vectors.delete(CONTEXT_KIND, scope, ids)
        parts = self._parts(turns)
        gone = [i for k, p in parts.items() for i in passage_ids(turns[k].id, len(p))]
        if gone:
            self.s.vectors.delete(PASSAGE_KIND, scope.owner(), gone)
        self._cache.advance(scope, version, lambda idx: idx.remove(ids))

    def on_delete_user(self, scope: Scope) -> None:
        self._cache.drop(scope)

    def search(self, query: Query) -> list[Candidate]:
        with self._cache.reading(query.scope, query.versions.get(self.name, 0)) as idx:
            if len(idx.plain) == 0:
                return []
            cfg = self.s.config.recall
            n = cfg.candidates
            out = idx.search(query, n, lexical_weight=cfg.lexical_weight, beta=cfg.contiguity,
                             boost=cfg.speaker_boost)
            if query.time_hint is not None and query.filter.window is None:
                tmask = idx.mask(TurnFilter(window=query.time_hint))
                other = idx.mask(query.filter)
                if tmask is not None and other is not None:
                    tmask &= other
                out += [Candidate(i, "turn", s, "time") for i, s in idx.plain.search(query.vector, n, valid=tmask)[0]]
            return out
