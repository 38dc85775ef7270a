"""Episodic memory (EM-LLM): turns cut into episodes by surprise, recalled by similarity + contiguity.

Each session of a user is one *stream* (turns without a session form the stream ``""``). As
turns arrive, :meth:`EpisodeComponent.on_add` feeds them — split into sentence groups when
longer than ``max_unit_chars`` — to a :class:`~agentmem.mechanisms.episodes.segment.stream.StreamSegmenter`, whose
state lives in the ``episode_streams`` table so any replica can continue the stream. Episodes
that became final are stored in ``episodes`` (and their embedding, the normalised mean of their
units' embeddings, in the Chroma kind ``episodes``). The *open tail* — units after the last
final boundary — is stored too, as provisional episodes (``is_open``; cut at the boundary
already detected but not yet refined) replaced at every add, so the newest turns are
searchable before the next boundary makes them final. The state also holds ``consumed``, the
``seq`` of the last turn the stream took in, written with the episodes: turns stored after it
(committed by a process that died before its ``on_add``) are fed first, in order, by the next
``on_add`` of the stream or by :meth:`EpisodeComponent.catch_up` (which ``Memory.add`` calls
when it meets stored messages).

Recall is EM-LLM's two stages: the ``k_similar`` episodes most similar to the query, then the
``k_contiguous`` episodes before and after each in the same stream (temporal contiguity).
:meth:`EpisodeComponent.recall` returns them as :class:`~agentmem.types.Episode` in
chronological order; :meth:`EpisodeComponent.search` gives the same set ranked for fusion
(each neighbour right after its seed), one :class:`~agentmem.mechanisms.base.Candidate` per
episode naming the turns it covers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from agentmem.errors import BackendUnavailableError, StorageError
from agentmem.mechanisms.base import Candidate, Query, Services, stored_vectors
from agentmem.mechanisms.episodes.repository import (
    EpisodeRepository,
    EpisodeTrace,
    episode_of_row,
    episode_row,
)
from agentmem.mechanisms.episodes.segment.scorers import DriftScorer, LMSurpriseScorer, UnitScorer
from agentmem.mechanisms.episodes.segment.stream import (
    Segment,
    SegmentParams,
    StreamSegmenter,
    split_sentences,
)
from agentmem.mechanisms.episodes.state import EpisodeIndex, forget_turns, normed_mean, two_stage
from agentmem.mechanisms.episodes.state import Unit as _Unit
from agentmem.store.cache import VersionedCache
from agentmem.types import Episode, Scope, Turn

__all__ = ["EpisodeComponent", "EpisodeIndex"]

KIND = "episodes"



class EpisodeComponent:
    """The ``episode`` signal: EM-LLM surprise episodes over each session's turns.

    Parameters
    ----------
    services
        Shared stores and models. ``services.logits_model`` (any
        :class:`~agentmem.protocols.LogitsModel`) is used for surprise when given; otherwise,
        with ``"surprise"``, or ``"auto"`` on a CUDA device, the configured local LM is loaded on
        the first add (``"auto"`` segments by embedding drift on a CPU, or when the ``lm`` extra
        is missing).
    """

    name = "episode"

    def __init__(self, services: Services) -> None:
        self.s = services
        self.repo = EpisodeRepository(services.sql)
        self.cfg = services.config.episodes
        self.params = SegmentParams(
            window=self.cfg.window, gamma=self.cfg.gamma, min_size=self.cfg.min_turns,
            max_size=self.cfg.max_turns, refine=self.cfg.refine, max_tokens=self.cfg.max_tokens,
        )
        self.segmenter = self._choose()
        """The segmenter in use: ``"surprise"`` or ``"drift"``."""
        self._lm: Any = None
        self._lock = threading.RLock()
        self._cache: VersionedCache[EpisodeIndex] = VersionedCache(self._build)

    def _choose(self) -> str:
        want = self.cfg.segmenter
        if want in ("surprise", "drift"):
            if want == "surprise" and self.s.logits_model is None:
                from agentmem.mechanisms.episodes.segment.lm import lm_available

                if not lm_available():
                    raise BackendUnavailableError("the surprise LM (transformers, gguf, bundled GGUF)", "lm")
            return want
        if self.s.logits_model is not None:
            return "surprise"
        if not self.s.device.startswith("cuda"):
            return "drift"
        from agentmem.mechanisms.episodes.segment.lm import lm_available

        return "surprise" if lm_available() else "drift"

    # -- segmentation ------------------------------------------------------------------------
    def _surprisal_lm(self) -> Any:
        if self._lm is None:
            from agentmem.mechanisms.episodes.segment.lm import as_surprisal_lm, load_logits_model

            model = self.s.logits_model or load_logits_model(
                self.cfg.lm, home=self.s.config.home, device=self.s.device, dtype=self.cfg.lm_dtype
            )
            self._lm = as_surprisal_lm(model)
        return self._lm

    def surprisal_lm(self) -> Any:
        """The surprise LM the scorer uses (loaded on first use); surprise segmenter only."""
        return self._surprisal_lm()

    def use_surprisal_lm(self, lm: Any) -> None:
        """Score with ``lm`` from now on (the indexer's precomputed, batched surprisal)."""
        self._lm = lm

    def _scorer(self, state: dict[str, Any] | None) -> UnitScorer:
        if self.segmenter == "surprise":
            return LMSurpriseScorer(
                self._surprisal_lm(), context=self.cfg.lm_context, page=self.cfg.lm_page, state=state
            )
        return DriftScorer(window=self.cfg.drift_window, state=state)

    def _units(self, turns: Sequence[Turn], vectors: Sequence[np.ndarray | None]) -> tuple[list[_Unit], np.ndarray]:
        """The units of ``turns``: a turn that is one unit keeps its turn vector (when given)."""
        units: list[_Unit] = []
        rows: list[np.ndarray | None] = []
        for turn, vector in zip(turns, vectors, strict=True):
            parts = split_sentences(turn.content, self.cfg.max_unit_chars)
            for p in parts:
                units.append(_Unit(turn.id, f"{turn.speaker}: {p}", turn.timestamp))
                rows.append(vector if len(parts) == 1 else None)
        missing = [j for j, r in enumerate(rows) if r is None]
        if missing:
            new = self.s.embedder.embed([units[j].text for j in missing])
            for j, v in zip(missing, new, strict=True):
                rows[j] = v
        return units, np.stack([np.asarray(r, dtype=np.float32) for r in rows])

    def _load_stream(
        self, conn: Connection, scope: Scope, stream: str, *, scorer: bool = True
    ) -> tuple[StreamSegmenter, list[_Unit], dict[str, Any]]:
        row = self.repo.load_stream(conn, scope, stream)
        if row is None:
            state: dict[str, Any] = {"consumed": -1}  # a new stream: no turn consumed yet
        else:  # another segmenter's stream starts over from the next turn, its past left as is
            state = row.state if row.method == self.segmenter else {}
        sc = self._scorer(state.get("scorer")) if scorer else DriftScorer()  # scorer=False: peek only
        seg = StreamSegmenter(sc, self.params, state=state.get("segmenter"))
        units = [_Unit(u[0], u[1], datetime.fromisoformat(u[2])) for u in state.get("units", [])]
        return seg, units, state

    def _save_stream(
        self, conn: Connection, scope: Scope, stream: str, seg: StreamSegmenter, units: list[_Unit], rev: int,
        consumed: int,
    ) -> None:
        state = {
            "rev": rev,
            "consumed": consumed,
            "scorer": seg.scorer.state(),
            "segmenter": seg.state(),
            "units": [[u.turn_id, u.text, u.ts.isoformat()] for u in units],
        }
        self.repo.save_stream(conn, scope, stream, self.segmenter, state)

    def _rows(self, scope: Scope, stream: str, seg: Segment, units: list[_Unit], base: int,
              vectors: list[np.ndarray], is_open: bool, seq: int) -> tuple[dict[str, Any], np.ndarray] | None:
        us = units[seg.start - base : seg.end - base]
        vs = vectors[seg.start - base : seg.end - base]
        keep = [i for i, u in enumerate(us) if u.turn_id is not None]
        if not keep:
            return None
        row = episode_row(scope, stream, [us[i] for i in keep], seq=seq, surprise_mean=seg.surprise_mean,
                          surprise_max=seg.surprise_max, method=self.segmenter, is_open=is_open,
                          scores=[seg.scores[i] for i in keep])
        return row, normed_mean(np.stack([vs[i] for i in keep]))

    # -- MemoryComponent ---------------------------------------------------------------------
    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        by_stream: dict[str, list[int]] = {}
        for i, turn in enumerate(turns):
            by_stream.setdefault(turn.scope.session_id or "", []).append(i)
        vectors = np.asarray(vectors)
        ok = vectors.ndim == 2 and vectors.shape == (len(turns), self.s.embedder.dim)
        for stream, idx in by_stream.items():
            self._add_stream(scope, stream, [turns[i] for i in idx], [vectors[i] if ok else None for i in idx])

    def catch_up(self, scope: Scope) -> int:
        """Feed the stream of ``scope.session_id`` the stored turns it has not consumed yet.

        Turns committed by a process that died before (or while) their ``on_add`` ran; they
        are fed in stream order, from their stored vectors, so the episodes are those of a run
        without the crash. Returns how many turns were fed.
        """
        return self._add_stream(scope, scope.session_id or "", [], [])

    def _to_feed(self, scope: Scope, stream: str, turns: list[Turn], vectors: list[np.ndarray | None],
                 state: dict[str, Any], units: list[_Unit]) -> tuple[list[Turn], list[np.ndarray | None]]:
        """What the stream consumes now: its stored turns after ``consumed`` (those a crash
        kept from it) and the given turns it does not hold already, in turn order.

        A given turn at or below ``consumed`` is an updated turn (its old text was removed by
        ``on_delete``) or one that another writer's catch-up fed meanwhile (then it is held).
        A stream saved before ``consumed`` was kept takes the given turns as they come.
        """
        consumed = state.get("consumed")
        if consumed is None:
            return turns, vectors
        old = {x.id for x in turns if x.seq <= consumed}
        held = self._held(scope, stream, old, units) if old else set()
        given = {x.id for x in turns}
        pending = [x for x in self.s.sql.session_turns(scope, stream or None, after_seq=consumed)
                   if x.id not in given]
        pairs = [(x, v) for x, v in zip(turns, vectors, strict=True) if x.id not in held]
        if pending:
            pairs += zip(pending, stored_vectors(self.s, scope, pending), strict=True)
            pairs.sort(key=lambda p: p[0].seq)
        return [x for x, _ in pairs], [v for _, v in pairs]

    def _held(self, scope: Scope, stream: str, ids: set[str], units: list[_Unit]) -> set[str]:
        """Those of ``ids`` that the stream holds: in its open tail or in one of its episodes."""
        return {u.turn_id for u in units if u.turn_id in ids} | self.repo.held(scope, stream, ids)

    def _add_stream(self, scope: Scope, stream: str, turns: list[Turn], vectors: list[np.ndarray | None]) -> int:
        """Score and segment outside any transaction, then write if nobody else moved the stream.

        The LM pass can take seconds; holding a write transaction that long would block other
        writers. Another replica that advanced the same stream meanwhile makes this one start
        over from the new state (optimistic concurrency on the stream position). The stream's
        ``consumed`` (the last turn ``seq`` it took in) is saved with its episodes, so turns a
        crash kept from it are found and fed first. Returns how many turns were fed.
        """
        repo = self.repo
        with self._lock:
            for _attempt in range(5):
                with repo.begin() as conn:
                    seg, units, state = self._load_stream(conn, scope, stream)
                todo, todo_vecs = self._to_feed(scope, stream, turns, vectors, state, units)
                if not todo:
                    return 0
                new_units, new_vecs = self._units(todo, todo_vecs)
                rev = int(state.get("rev", 0))
                consumed = max([int(state.get("consumed", -1))] + [x.seq for x in todo])
                tail = seg.open_tail()
                base = tail.start if tail is not None else seg.position
                all_vecs = [np.asarray(v, dtype=np.float32) for v in seg.state()["vectors"]] + list(new_vecs)
                done = seg.feed([u.text for u in new_units], new_vecs, [self.s.tokens.count(u.text) for u in new_units])
                units = units + new_units
                with repo.writing(scope) as conn:  # other replicas' writes to these streams wait
                    _, _, now = self._load_stream(conn, scope, stream, scorer=False)
                    if int(now.get("rev", 0)) != rev:
                        continue  # another replica (or a delete) changed this stream meanwhile
                    old_open = repo.open_ids(conn, scope, stream)
                    repo.delete(conn, scope, old_open)
                    seq = repo.next_seq(conn, scope)
                    rows, vecs = [], []
                    segments = [(x, False) for x in done] + [(x, True) for x in seg.open_segments()]
                    for x, is_open in segments:
                        got = self._rows(scope, stream, x, units, base, all_vecs, is_open, seq)
                        if got is not None:
                            rows.append(got[0])
                            vecs.append(got[1])
                            seq += 1
                    repo.insert(conn, rows)
                    new_tail = seg.open_tail()
                    keep_from = (new_tail.start if new_tail is not None else seg.position) - base
                    self._save_stream(conn, scope, stream, seg, units[keep_from:], rev + 1, consumed)
                    version = repo.bump_version(conn, scope, self.name)
                break
            else:
                raise StorageError(f"episode stream {stream!r} kept changing under concurrent writers")
        self.s.vectors.delete(KIND, scope, old_open)
        if rows:
            self.s.vectors.upsert(KIND, scope, [r["id"] for r in rows], np.stack(vecs),
                                  [{"stream": stream} for _ in rows])
        added = [episode_of_row(r) for r in rows]
        matrix = np.stack(vecs) if vecs else np.zeros((0, self.s.embedder.dim), dtype=np.float32)
        self._cache.advance(scope, version, lambda idx: idx.advance(set(old_open), added, matrix))
        return len(todo)

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        """Remove the deleted turns from their episodes (re-formed, or dropped when empty).

        The streaming state forgets them as well: their units in the open tail are blanked
        (positions are kept so later boundaries stay consistent) and the LM context is cleared.
        """
        gone = {x.id for x in turns}
        if not gone:
            return
        repo = self.repo
        dropped: list[str] = []
        updated: list[tuple[str, str, list[list[Any]]]] = []
        with self._lock, repo.writing(scope) as conn:
            for r in repo.all_rows(conn, scope):
                if not gone.intersection(r.turn_ids):
                    continue
                units = [u for u in r.units if u[0] not in gone]
                if not units:
                    repo.delete(conn, scope, [r.id])
                    dropped.append(r.id)
                    continue
                repo.set_units(conn, scope, r.id, units)
                updated.append((r.id, r.stream, units))
            for st in repo.streams(conn, scope):
                state = forget_turns(st.state, gone)
                if state is not None:
                    repo.update_stream_state(conn, scope, st.stream, state)
            if dropped or updated:
                repo.bump_version(conn, scope, self.name)
        self.s.vectors.delete(KIND, scope, dropped)
        if updated:
            vecs = self.s.embedder.embed([u[1] for _, _, us in updated for u in us])
            at, out = 0, []
            for _, _, us in updated:
                out.append(normed_mean(vecs[at : at + len(us)]))
                at += len(us)
            self.s.vectors.upsert(KIND, scope, [e for e, _, _ in updated], np.stack(out),
                                  [{"stream": s} for _, s, _ in updated])
        self._cache.drop(scope)

    def on_delete_user(self, scope: Scope) -> None:
        with self._lock:
            self.repo.delete_user(scope)
        self.s.vectors.delete_user(KIND, scope)
        self._cache.drop(scope)

    # -- reading -------------------------------------------------------------------------------
    def episodes(self, scope: Scope, *, session_id: str | None = None, include_open: bool = True) -> list[Episode]:
        """The user's episodes in order (by stream, then time); the open tails last in each."""
        return self.repo.episodes(scope, session_id=session_id, include_open=include_open)

    def traces(self, scope: Scope, *, session_id: str | None = None) -> list[EpisodeTrace]:
        """Each episode's units with their surprise (or drift) scores, in :meth:`episodes` order."""
        return self.repo.traces(scope, session_id=session_id)

    def _build(self, scope: Scope) -> EpisodeIndex:
        eps = self.episodes(scope)
        if not eps:
            return EpisodeIndex.of([], np.zeros((0, self.s.embedder.dim), dtype=np.float32))
        ids, vecs = self.s.vectors.fetch(KIND, scope)
        have = {i: r for r, i in enumerate(ids)}
        missing = [e for e in eps if e.id not in have]
        if missing:  # a crash between the SQL commit and the vector write: heal
            new = self._episode_vectors(scope, missing)
            self.s.vectors.upsert(KIND, scope, [e.id for e in missing], new)
            vecs = new if not ids else np.vstack([vecs, new])
            have.update({e.id: len(ids) + j for j, e in enumerate(missing)})
        matrix = np.asarray(vecs, dtype=np.float32)[[have[e.id] for e in eps]]
        return EpisodeIndex.of(eps, matrix)

    def _episode_vectors(self, scope: Scope, eps: list[Episode]) -> np.ndarray:
        """Episode embeddings computed again as :meth:`_add_stream` did: the normalised mean of
        their units' vectors, a turn that is one unit taking its stored turn vector."""
        units = self.repo.units(scope, [e.id for e in eps])
        turns = self.s.sql.get_turns(scope, list(dict.fromkeys(u[0] for us in units.values() for u in us if u[0])))
        whole = [x for x in turns if len(split_sentences(x.content, self.cfg.max_unit_chars)) == 1]
        turn_vecs = dict(zip([x.id for x in whole], stored_vectors(self.s, scope, whole), strict=True))
        out = []
        for e in eps:
            us = units.get(e.id) or [[None, e.text]]  # deleted meanwhile: any vector will do
            split = iter(self.s.embedder.embed([u[1] for u in us if u[0] not in turn_vecs]))
            out.append(normed_mean(np.stack([turn_vecs[u[0]] if u[0] in turn_vecs else next(split) for u in us])))
        return np.stack(out)

    def _two_stage(self, scope: Scope, vector: np.ndarray, version: int, k_similar: int,
                   k_contiguous: int, query: Query | None = None) -> list[tuple[Episode, float]]:
        with self._cache.reading(scope, version) as idx:  # no write advances it meanwhile
            episodes, vectors = idx.episodes, idx.vectors
        if not episodes:
            return []
        return two_stage(episodes, vectors, vector, k_similar, k_contiguous, None if query is None else query.filter)

    def recall(self, scope: Scope, vector: np.ndarray, *, k_similar: int | None = None,
               k_contiguous: int | None = None) -> list[Episode]:
        """EM-LLM recall: similar episodes plus their temporal neighbours, chronologically."""
        version = self.s.sql.versions(scope).get(self.name, 0)
        got = self._two_stage(scope, vector, version, k_similar or self.cfg.k_similar,
                              self.cfg.k_contiguous if k_contiguous is None else k_contiguous)
        return sorted((e for e, _ in got), key=lambda e: (e.start, e.seq))

    def search(self, query: Query) -> list[Candidate]:
        got = self._two_stage(query.scope, query.vector, query.versions.get(self.name, 0),
                              max(self.cfg.k_similar, 1), self.cfg.k_contiguous, query)
        return [
            Candidate(e.id, "episode", score, "episode", text=e.text, timestamp=e.start, turn_ids=e.turn_ids)
            for e, score in got
        ]
